"""SDAP: QoS-flow mapping of semantic flows (TS 37.324).

In the Seb uplink (paper Sec. III, Algorithm 2 step 2) every importance level of the semantic
payload is its own QoS flow, identified by a QoS flow identifier (QFI, 6 bits), and each QoS flow is
mapped to one data radio bearer (DRB). An uplink SDAP data PDU carries a one-octet header
(TS 37.324 Sec. 6.2.2.3)::

    | D/C (1) | R (1) | QFI (6) |  SDAP SDU ...

with ``D/C = 1`` for a data PDU. The header is always configured here (``sdap-HeaderUL`` present)
and counted as overhead.

Example::

    >>> sdap = Sdap({1: 1, 2: 2})         # QFI -> DRB id
    >>> pdu, drb = sdap.encapsulate(b"idx", qfi=2)
    >>> drb, len(pdu)
    (2, 4)
    >>> sdap.decapsulate(pdu)
    (2, b'idx')
"""

from __future__ import annotations

from typing import Mapping

from semcom.errors import ConfigError, InputError
from semcom.stack.errors import PduError

__all__ = ["Sdap", "SDAP_HEADER_BYTES"]

SDAP_HEADER_BYTES = 1


class Sdap:
    """An SDAP entity with a QFI -> DRB mapping.

    Args:
        qfi_to_drb: mapping of each QoS flow identifier (0..63) to a DRB id (1..32).
    """

    header_bytes = SDAP_HEADER_BYTES

    def __init__(self, qfi_to_drb: Mapping[int, int]):
        if not isinstance(qfi_to_drb, Mapping) or not qfi_to_drb:
            raise ConfigError("qfi_to_drb must be a non-empty mapping QFI -> DRB id")
        for qfi, drb in qfi_to_drb.items():
            if isinstance(qfi, bool) or not isinstance(qfi, int) or not 0 <= qfi < 64:
                raise ConfigError(f"QFI must be an int in [0, 63], got {qfi!r}")
            if isinstance(drb, bool) or not isinstance(drb, int) or not 1 <= drb <= 32:
                raise ConfigError(f"DRB id must be an int in [1, 32], got {drb!r}")
        self.qfi_to_drb = dict(qfi_to_drb)

    def encapsulate(self, sdu: bytes, qfi: int) -> tuple[bytes, int]:
        """Prepend the UL data PDU header; return ``(pdu, drb_id)`` of the flow's bearer."""
        if not isinstance(sdu, (bytes, bytearray)):
            raise InputError(f"SDAP SDU must be bytes, got {type(sdu).__name__}")
        if qfi not in self.qfi_to_drb:
            raise InputError(f"QFI {qfi!r} is not mapped to a DRB (known: {sorted(self.qfi_to_drb)})")
        return bytes([0x80 | qfi]) + bytes(sdu), self.qfi_to_drb[qfi]

    def decapsulate(self, pdu: bytes) -> tuple[int, bytes]:
        """Parse a UL data PDU: ``(qfi, sdu)``; a control PDU or an unknown QFI is a :class:`PduError`."""
        if not isinstance(pdu, (bytes, bytearray)) or len(pdu) < 1:
            raise PduError("SDAP PDU is empty or not bytes")
        head = pdu[0]
        if not head & 0x80:
            raise PduError("SDAP control PDUs are not used on this uplink (D/C = 0)")
        qfi = head & 0x3F
        if qfi not in self.qfi_to_drb:
            raise PduError(f"SDAP PDU carries unknown QFI {qfi}")
        return qfi, bytes(pdu[1:])
