"""MAC: multiplexing logical channels into transport blocks (TS 38.321 Sec. 5.4.3, 6.1.2).

A MAC PDU (one transport block) is a sequence of MAC subPDUs. Each subPDU carrying a MAC SDU
(an RLC PDU of one logical channel) has the uplink subheader::

    | R (1) | F (1) | LCID (6) | L (8 bits if F = 0, 16 bits if F = 1) |   MAC SDU (L bytes)

so 2 bytes for SDUs up to 255 bytes and 3 bytes above. LCIDs 1..32 identify logical channels
(``LCID = 3 + DRB id`` here, the usual DRB numbering); LCID 63 is padding (Table 6.2.1-2) and ends
the PDU. The transport-block size itself is set by the PHY (the link pads a MAC PDU to the 38.214
TBS with bits known to both ends), so the multiplexer emits PDUs without trailing padding.

In the Seb uplink every importance class has its own MCS (paper Sec. III), so a transport block
only carries logical channels of one class: :class:`MacMultiplexer` packs the subPDUs of one class
into as few transport blocks of at most ``max_tb_bytes`` as the order allows (logical-channel
priority order, first fit), and :func:`demultiplex` parses a received MAC PDU back.

Example::

    >>> pdus = MacMultiplexer(max_tb_bytes=64).multiplex([(4, b"a" * 30), (4, b"b" * 31), (5, b"c")])
    >>> [len(p) for p in pdus]
    [32, 36]
    >>> [(lcid, len(sdu)) for lcid, sdu in demultiplex(pdus[1])]
    [(4, 31), (5, 1)]
"""

from __future__ import annotations

from typing import Iterable

from semcom.errors import ConfigError, InputError
from semcom.stack.errors import PduError

__all__ = ["MacMultiplexer", "demultiplex", "subheader_bytes", "PADDING_LCID", "MAX_L16"]

PADDING_LCID = 63
MAX_L16 = 2**16 - 1


def subheader_bytes(sdu_len: int) -> int:
    """Size of the MAC subheader for a MAC SDU of ``sdu_len`` bytes: 2 (8-bit L) or 3 (16-bit L)."""
    return 2 if sdu_len < 256 else 3


def _subpdu(lcid: int, sdu: bytes) -> bytes:
    n = len(sdu)
    if n < 256:
        return bytes([lcid & 0x3F, n]) + sdu
    return bytes([0x40 | (lcid & 0x3F), n >> 8, n & 0xFF]) + sdu


class MacMultiplexer:
    """Logical-channel multiplexing into transport blocks of at most ``max_tb_bytes``.

    Args:
        max_tb_bytes: largest MAC PDU (transport block payload) in bytes.
    """

    def __init__(self, max_tb_bytes: int):
        if isinstance(max_tb_bytes, bool) or not isinstance(max_tb_bytes, int) or max_tb_bytes < 8:
            raise ConfigError(f"max_tb_bytes must be an int >= 8, got {max_tb_bytes!r}")
        self.max_tb_bytes = max_tb_bytes

    def multiplex(self, sdus: Iterable[tuple[int, bytes]]) -> list[bytes]:
        """Pack ``(lcid, mac_sdu)`` pairs, in the given (priority) order, into MAC PDUs.

        A new transport block starts when the next subPDU does not fit the current one.

        Raises:
            InputError: an LCID outside 1..32, a non-bytes SDU, or a subPDU larger than one
                transport block (RLC segmentation is not configured).
        """
        pdus: list[bytes] = []
        current = bytearray()
        for item in sdus:
            if not isinstance(item, tuple) or len(item) != 2:
                raise InputError("multiplex expects (lcid, bytes) pairs")
            lcid, sdu = item
            if isinstance(lcid, bool) or not isinstance(lcid, int) or not 1 <= lcid <= 32:
                raise InputError(f"logical channel id must be an int in [1, 32], got {lcid!r}")
            if not isinstance(sdu, (bytes, bytearray)):
                raise InputError(f"MAC SDU must be bytes, got {type(sdu).__name__}")
            sub = _subpdu(lcid, bytes(sdu))
            if len(sub) > self.max_tb_bytes or len(sdu) > MAX_L16:
                raise InputError(
                    f"MAC subPDU of {len(sub)} bytes does not fit a transport block of {self.max_tb_bytes} bytes "
                    "(make semantic SDUs smaller: RLC segmentation is not configured)"
                )
            if len(current) + len(sub) > self.max_tb_bytes:
                pdus.append(bytes(current))
                current = bytearray()
            current += sub
        if current:
            pdus.append(bytes(current))
        return pdus


def demultiplex(pdu: bytes) -> list[tuple[int, bytes]]:
    """Parse a MAC PDU into ``(lcid, mac_sdu)`` pairs; stops at a padding subheader (LCID 63).

    Raises:
        PduError: a truncated subheader or a length field running past the end of the PDU, or a
            reserved LCID.
    """
    if not isinstance(pdu, (bytes, bytearray)):
        raise PduError(f"MAC PDU must be bytes, got {type(pdu).__name__}")
    out: list[tuple[int, bytes]] = []
    i, n = 0, len(pdu)
    while i < n:
        head = pdu[i]
        lcid = head & 0x3F
        if lcid == PADDING_LCID:
            break
        if not 1 <= lcid <= 32:
            raise PduError(f"MAC subheader at byte {i} has unsupported LCID {lcid}")
        long_l = bool(head & 0x40)
        hl = 3 if long_l else 2
        if i + hl > n:
            raise PduError(f"MAC PDU truncated inside the subheader at byte {i}")
        length = (pdu[i + 1] << 8 | pdu[i + 2]) if long_l else pdu[i + 1]
        if i + hl + length > n:
            raise PduError(f"MAC SDU at byte {i} claims {length} bytes but the PDU ends after {n - i - hl}")
        out.append((lcid, bytes(pdu[i + hl : i + hl + length])))
        i += hl + length
    return out
