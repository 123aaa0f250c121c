"""semcom.data"""
