"""semcom.metrics"""
