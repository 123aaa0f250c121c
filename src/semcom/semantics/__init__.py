"""semcom.semantics"""
