"""semcom.models"""
