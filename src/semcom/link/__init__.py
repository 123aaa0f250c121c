"""semcom.link"""
