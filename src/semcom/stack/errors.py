"""Errors of the protocol stack. All derive from :class:`semcom.errors.SemcomError`."""

from __future__ import annotations

from semcom.errors import InputError, SemcomError

__all__ = ["StackError", "PduError", "IntegrityError", "ReplayError", "KeyReuseError"]


class StackError(SemcomError):
    """A protocol layer refused a PDU or was used inconsistently."""


class PduError(StackError, InputError):
    """A PDU is malformed: truncated, a length field past the end, an unknown field value."""


class IntegrityError(StackError):
    """PDCP integrity verification failed (MAC-I mismatch): the PDU was tampered with or
    deciphered with the wrong COUNT/key; it is discarded (TS 38.323 Sec. 5.9)."""


class ReplayError(StackError):
    """PDCP received a PDU whose COUNT was already received or lies below the reception window
    (TS 38.323 Sec. 5.2.2.1, duplicate discard): a replayed or duplicated PDU."""



class KeyReuseError(StackError):
    """A PDCP transmitter was asked to protect a PDU under a ``(key, COUNT, BEARER, DIRECTION)`` it
    has already used, or COUNT would wrap past ``2^32 - 1``: ciphering would repeat a 128-NEA2 key
    stream. A new session (fresh keys) is required (TS 33.501 6.9.4, TS 38.323 Sec. 5.2.1)."""
