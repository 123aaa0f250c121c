"""semcom.codecs"""
