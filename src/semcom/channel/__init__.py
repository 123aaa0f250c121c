"""semcom.channel"""
