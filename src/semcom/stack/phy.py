"""PHY of the semantic uplink: one MCS per importance class over :mod:`semcom.link`.

Every transport block (one MAC PDU) of importance class ``c`` is sent through the link configured
with that class's MCS (paper Sec. III: "matching each packet with an appropriate MCS"). The link
does the 38.212 chain (CRC, LDPC, rate matching, QAM) and reports the transport block's CRC; a
block whose CRC fails is dropped by the receiving MAC (HARQ retransmissions are not modelled),
which loses exactly the MAC SDUs multiplexed into it.

Bytes are sent most significant bit first as float 0/1 bits ``[1, 8 * n_bytes]``.

Example::

    >>> bits = bytes_to_bits(b"\\x80\\x01")
    >>> bits.tolist()
    [[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]
    >>> bits_to_bytes(bits[0])
    b'\\x80\\x01'
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from semcom.errors import ConfigError, InputError

__all__ = ["Phy", "PhyResult", "bytes_to_bits", "bits_to_bytes"]


def bytes_to_bits(data: bytes) -> torch.Tensor:
    """Octets -> float bits ``[1, 8 * len(data)]``, MSB first."""
    if not isinstance(data, (bytes, bytearray)):
        raise InputError(f"expected bytes, got {type(data).__name__}")
    arr = np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8))
    return torch.from_numpy(arr.astype(np.float32)).unsqueeze(0)


def bits_to_bytes(bits: torch.Tensor) -> bytes:
    """Float or int bits ``[8 * n]`` (values rounded to 0/1), MSB first -> ``n`` octets."""
    b = torch.as_tensor(bits).reshape(-1)
    if b.numel() % 8:
        raise InputError(f"bit count {b.numel()} is not a multiple of 8")
    arr = (b.detach().cpu().float() > 0.5).numpy().astype(np.uint8)
    return np.packbits(arr).tobytes()


@dataclasses.dataclass
class PhyResult:
    """One transport block over the air.

    Attributes:
        payload: the received MAC PDU, or ``None`` when the transport block CRC failed.
        channel_uses: complex channel uses the block occupied (data resource elements).
        tb_ok: the transport block CRC passed.
    """

    payload: bytes | None
    channel_uses: int
    tb_ok: bool


class Phy:
    """Per-class links: ``links[c]`` carries the transport blocks of importance class ``c``.

    Args:
        links: a sequence (or mapping class -> link) of objects with
            ``transmit(bits [1, k], snr_db, generator=...) -> LinkResult`` (``.bits``, ``.tb_ok``,
            ``.channel_uses``), e.g. from :func:`semcom.link.make_link`.
    """

    def __init__(self, links: Sequence[Any] | Mapping[int, Any]):
        if isinstance(links, Mapping):
            self.links = dict(links)
        else:
            self.links = dict(enumerate(links))
        if not self.links:
            raise ConfigError("Phy needs at least one link")
        for c, link in self.links.items():
            if not callable(getattr(link, "transmit", None)):
                raise ConfigError(f"link of class {c} has no transmit() method")

    def transmit(self, cls: int, mac_pdu: bytes, snr_db: float, generator: torch.Generator) -> PhyResult:
        """Send one MAC PDU of class ``cls`` at ``snr_db`` (Es/N0 per complex symbol, dB)."""
        if cls not in self.links:
            raise InputError(f"no link for importance class {cls!r} (known: {sorted(self.links)})")
        if not mac_pdu:
            raise InputError("empty MAC PDU")
        res = self.links[cls].transmit(bytes_to_bits(mac_pdu), snr_db, generator=generator)
        ok = bool(torch.as_tensor(res.tb_ok).all())
        uses = int(torch.as_tensor(res.channel_uses).sum())
        payload = bits_to_bytes(res.bits[0]) if ok else None
        return PhyResult(payload=payload, channel_uses=uses, tb_ok=ok)
