"""semcom.report"""
