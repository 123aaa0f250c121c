"""semcom.stack"""
