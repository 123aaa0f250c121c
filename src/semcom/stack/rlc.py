"""RLC unacknowledged mode for complete SDUs (TS 38.322 Sec. 6.2.2.3).

A UMD PDU that carries a complete RLC SDU has a one-octet header ``SI (2) = 00 | R (6)`` and no
sequence number. Semantic SDUs are sized by the application to fit a transport block, so RLC
segmentation is not used here: an SDU that would need it is refused by the MAC with a clear error.

Example::

    >>> pdu = RlcUm.encapsulate(b"abc")
    >>> len(pdu), RlcUm.decapsulate(pdu)
    (4, b'abc')
"""

from __future__ import annotations

from semcom.errors import InputError
from semcom.stack.errors import PduError

__all__ = ["RlcUm", "RLC_UM_HEADER_BYTES"]

RLC_UM_HEADER_BYTES = 1


class RlcUm:
    """Stateless RLC UM entity for complete SDUs (``SI = 00``)."""

    header_bytes = RLC_UM_HEADER_BYTES

    @staticmethod
    def encapsulate(sdu: bytes) -> bytes:
        if not isinstance(sdu, (bytes, bytearray)):
            raise InputError(f"RLC SDU must be bytes, got {type(sdu).__name__}")
        return b"\x00" + bytes(sdu)

    @staticmethod
    def decapsulate(pdu: bytes) -> bytes:
        if not isinstance(pdu, (bytes, bytearray)) or len(pdu) < 1:
            raise PduError("RLC UMD PDU is empty or not bytes")
        if pdu[0] >> 6 != 0:
            raise PduError(f"RLC UMD PDU is a segment (SI={pdu[0] >> 6:02b}); segmentation is not configured")
        return bytes(pdu[1:])
