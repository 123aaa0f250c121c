"""PDCP for data radio bearers: sequence numbers, ciphering, integrity, replay protection (TS 38.323).

Transmit side (Sec. 5.2.1): each SDU gets ``COUNT = TX_NEXT`` (32 bits, ``HFN || SN``), the PDU
header carries the SN; the MAC-I of 128-NIA2 is computed over header and SDU and appended; the SDU
and MAC-I are ciphered by 128-NEA2 (the header stays in clear, Sec. 5.8). PDU layout (Sec. 6.2.2.2,
6.2.2.3). A transmitter never uses a COUNT twice: COUNT only increases and the last one is
``2^32 - 1``; asking for more (or setting ``TX_NEXT`` back) is a :class:`KeyReuseError`, since the
same ``(key, COUNT, BEARER, DIRECTION)`` would repeat the 128-NEA2 key stream. Fresh keys come from
a new session (:func:`semcom.stack.security.derive_keys`)::

    12-bit SN:  | D/C=1 | R R R | SN[11:8] | SN[7:0] |  data ...  | MAC-I (4) |
    18-bit SN:  | D/C=1 | R R R R R | SN[17:16] | SN[15:8] | SN[7:0] | data ... | MAC-I (4) |

Receive side (Sec. 5.2.2.1, out-of-order delivery): the HFN of a received SN is inferred from
``RX_DELIV`` with a window of ``2^(SN bits - 1)``; the PDU is deciphered and its MAC-I verified
(failure: :class:`IntegrityError`, PDU discarded); a COUNT below ``RX_DELIV`` or already received
is discarded as a duplicate (:class:`ReplayError`); an SN that would map to a COUNT past
``2^32 - 1`` (near the wrap) is malformed (:class:`PduError`). SDUs are delivered as soon as they arrive (the
semantic application places them itself); ``RX_DELIV`` advances over consecutively received
COUNTs, and :meth:`PdcpReceiver.expire_reordering` models expiry of t-Reordering (``RX_DELIV``
jumps to ``RX_NEXT``, giving up on the missing COUNTs).

Overhead per PDU: 2 (12-bit SN) or 3 (18-bit SN) header bytes, plus 4 bytes MAC-I when integrity
protection is on.

Example::

    >>> from semcom.stack.security import derive_keys
    >>> keys = derive_keys(7)
    >>> tx, rx = PdcpTransmitter(1, keys), PdcpReceiver(1, keys)
    >>> count, pdu = tx.protect(b"seb indices")
    >>> len(pdu) - len(b"seb indices")
    6
    >>> rx.unprotect(pdu)
    (0, b'seb indices')
"""

from __future__ import annotations

import dataclasses

from semcom.errors import ConfigError, InputError
from semcom.stack.errors import IntegrityError, KeyReuseError, PduError, ReplayError
from semcom.stack.security import MAC_I_BYTES, UPLINK, nea2, nia2

__all__ = ["PdcpConfig", "PdcpTransmitter", "PdcpReceiver", "MAX_PDCP_SDU_BYTES"]

#: Maximum PDCP SDU size (TS 38.323 Sec. 4.3.1).
MAX_PDCP_SDU_BYTES = 9000


@dataclasses.dataclass(frozen=True)
class PdcpConfig:
    """PDCP configuration of one DRB.

    Attributes:
        sn_bits: PDCP SN length, 12 or 18 (``pdcp-SN-SizeUL``).
        integrity: integrity protection on (128-NIA2, 4-byte MAC-I per PDU).
        ciphering: ciphering on (128-NEA2).
        direction: 0 uplink, 1 downlink.
    """

    sn_bits: int = 12
    integrity: bool = True
    ciphering: bool = True
    direction: int = UPLINK

    def __post_init__(self) -> None:
        if self.sn_bits not in (12, 18) or isinstance(self.sn_bits, bool):
            raise ConfigError(f"PDCP sn_bits must be 12 or 18, got {self.sn_bits!r}")
        if self.direction not in (0, 1) or isinstance(self.direction, bool):
            raise ConfigError(f"PDCP direction must be 0 (uplink) or 1 (downlink), got {self.direction!r}")
        for name in ("integrity", "ciphering"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"PDCP {name} must be a bool")

    @property
    def header_bytes(self) -> int:
        """PDCP data PDU header size: 2 (12-bit SN) or 3 (18-bit SN) bytes."""
        return 2 if self.sn_bits == 12 else 3

    @property
    def overhead_bytes(self) -> int:
        """Bytes a PDU adds to its SDU: header plus MAC-I when integrity protection is on."""
        return self.header_bytes + (MAC_I_BYTES if self.integrity else 0)


class _PdcpEntity:
    def __init__(self, drb_id: int, keys: tuple[bytes, bytes], config: PdcpConfig | None = None):
        if isinstance(drb_id, bool) or not isinstance(drb_id, int) or not 1 <= drb_id <= 32:
            raise ConfigError(f"DRB id must be an int in [1, 32], got {drb_id!r}")
        if not isinstance(keys, tuple) or len(keys) != 2 or any(
            not isinstance(k, (bytes, bytearray)) or len(k) != 16 for k in keys
        ):
            raise ConfigError("keys must be a tuple (K_UPenc, K_UPint) of two 16-byte keys")
        self.config = config or PdcpConfig()
        self.drb_id = drb_id
        self.bearer = drb_id - 1  # TS 33.501 D.2.1: BEARER = radio bearer identity - 1
        self.k_enc, self.k_int = bytes(keys[0]), bytes(keys[1])

    @property
    def _sn_mod(self) -> int:
        return 1 << self.config.sn_bits

    def _header(self, sn: int) -> bytes:
        if self.config.sn_bits == 12:
            return bytes([0x80 | (sn >> 8), sn & 0xFF])
        return bytes([0x80 | (sn >> 16), (sn >> 8) & 0xFF, sn & 0xFF])


class PdcpTransmitter(_PdcpEntity):
    """Transmitting PDCP entity of one DRB.

    Args:
        drb_id: radio bearer id (1..32); BEARER = ``drb_id - 1`` enters the security algorithms.
        keys: ``(K_UPenc, K_UPint)``, 16 bytes each (see :func:`semcom.stack.security.derive_keys`).
        config: :class:`PdcpConfig`.
    """

    def __init__(self, drb_id: int, keys: tuple[bytes, bytes], config: PdcpConfig | None = None):
        super().__init__(drb_id, keys, config)
        self.tx_next = 0
        self._fresh = 0  # every COUNT below this one has been used under these keys

    def protect(self, sdu: bytes) -> tuple[int, bytes]:
        """Build the PDCP data PDU of ``sdu``; return ``(COUNT, pdu)``.

        Raises:
            InputError: ``sdu`` is not bytes or exceeds :data:`MAX_PDCP_SDU_BYTES`.
            KeyReuseError: ``TX_NEXT`` points at a COUNT already used by this entity (it was set
                back) or COUNT would wrap past ``2^32 - 1``: the PDU would repeat a key stream.
        """
        if not isinstance(sdu, (bytes, bytearray)):
            raise InputError(f"PDCP SDU must be bytes, got {type(sdu).__name__}")
        if len(sdu) > MAX_PDCP_SDU_BYTES:
            raise InputError(f"PDCP SDU of {len(sdu)} bytes exceeds the maximum {MAX_PDCP_SDU_BYTES}")
        count = self.tx_next
        if isinstance(count, bool) or not isinstance(count, int) or count < self._fresh:
            raise KeyReuseError(f"PDCP COUNT {count!r} on DRB {self.drb_id} was already used under these keys")
        if count >= 2**32:
            raise KeyReuseError("PDCP COUNT would wrap around: a new session (fresh keys) is required")
        self.tx_next = self._fresh = count + 1
        header = self._header(count % self._sn_mod)
        body = bytes(sdu)
        d = self.config.direction
        if self.config.integrity:
            body = body + nia2(self.k_int, count, self.bearer, d, header + body)
        if self.config.ciphering:
            body = nea2(self.k_enc, count, self.bearer, d, body)
        return count, header + body


class PdcpReceiver(_PdcpEntity):
    """Receiving PDCP entity of one DRB (out-of-order delivery, duplicate/replay discard).

    Counters ``integrity_failures`` and ``duplicates`` record discarded PDUs.
    """

    def __init__(self, drb_id: int, keys: tuple[bytes, bytes], config: PdcpConfig | None = None):
        super().__init__(drb_id, keys, config)
        self.rx_deliv = 0
        self.rx_next = 0
        self._received: set[int] = set()
        self.integrity_failures = 0
        self.duplicates = 0

    def unprotect(self, pdu: bytes) -> tuple[int, bytes]:
        """Verify and decipher a PDCP data PDU; return ``(COUNT, sdu)``.

        Raises:
            PduError: truncated PDU, a control PDU, or an SN that maps past COUNT ``2^32 - 1``.
            IntegrityError: MAC-I mismatch (tampered PDU, wrong key or COUNT).
            ReplayError: the COUNT was already received or lies below ``RX_DELIV``.
        """
        cfg = self.config
        hlen = cfg.header_bytes
        min_len = hlen + (MAC_I_BYTES if cfg.integrity else 0)
        if not isinstance(pdu, (bytes, bytearray)) or len(pdu) < min_len:
            raise PduError(f"PDCP PDU shorter than its header and MAC-I ({min_len} bytes)")
        pdu = bytes(pdu)
        if not pdu[0] & 0x80:
            raise PduError("PDCP control PDUs are not used on this bearer (D/C = 0)")
        sn = int.from_bytes(pdu[:hlen], "big") & (self._sn_mod - 1)
        window = self._sn_mod // 2
        hfn_deliv, sn_deliv = divmod(self.rx_deliv, self._sn_mod)
        if sn < sn_deliv - window:
            hfn = hfn_deliv + 1
        elif sn >= sn_deliv + window:
            hfn = hfn_deliv - 1
        else:
            hfn = hfn_deliv
        if hfn < 0:
            self.duplicates += 1
            raise ReplayError(f"PDCP SN {sn} lies before the first COUNT of this bearer")
        count = hfn * self._sn_mod + sn
        if count >= 2**32:  # past the last COUNT of these keys: no transmitter can have sent it
            raise PduError(f"PDCP SN {sn} maps to COUNT {count} >= 2^32 on DRB {self.drb_id}")
        header, body = pdu[:hlen], pdu[hlen:]
        if cfg.ciphering:
            body = nea2(self.k_enc, count, self.bearer, cfg.direction, body)
        if cfg.integrity:
            body, mac_i = body[:-MAC_I_BYTES], body[-MAC_I_BYTES:]
            expected = nia2(self.k_int, count, self.bearer, cfg.direction, header + body)
            if mac_i != expected:
                self.integrity_failures += 1
                raise IntegrityError(f"PDCP integrity check failed for COUNT {count} on DRB {self.drb_id}")
        if count < self.rx_deliv or count in self._received:
            self.duplicates += 1
            raise ReplayError(f"PDCP COUNT {count} on DRB {self.drb_id} already received (duplicate or replay)")
        self._received.add(count)
        if count >= self.rx_next:
            self.rx_next = count + 1
        if count == self.rx_deliv:
            while self.rx_deliv in self._received:
                self._received.discard(self.rx_deliv)
                self.rx_deliv += 1
        return count, body

    def expire_reordering(self) -> list[int]:
        """t-Reordering expiry: give up on missing COUNTs below ``RX_NEXT``; return those COUNTs."""
        missing = [c for c in range(self.rx_deliv, self.rx_next) if c not in self._received]
        self._received = {c for c in self._received if c >= self.rx_next}
        self.rx_deliv = self.rx_next
        return missing
