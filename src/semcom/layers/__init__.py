"""semcom.layers"""
