"""What a link transmission returns: :class:`LinkResult`.

Shapes follow the payload: for a payload ``[..., k]`` the received bits are ``[..., k]``, the
per-code-block CRC flags ``[..., num_cb]`` and the per-transport-block flags ``[..., num_tb]``.
``cb_ranges[j] = (start, stop)`` is the payload-bit range code block ``j`` carries, so
``delivered_mask`` marks the bits whose code block passed its CRC.

Example::

    >>> import torch
    >>> from semcom.link import make_link
    >>> link = make_link("erasure", mcs=9, cbler=0.0)
    >>> res = link.transmit(torch.ones(2, 100), snr_db=5.0, generator=0)
    >>> res.bits.shape, res.cb_ok.shape, bool(res.delivered_mask.all())
    (torch.Size([2, 100]), torch.Size([2, 1]), True)
"""

from __future__ import annotations

import dataclasses

import torch

__all__ = ["LinkResult"]


@dataclasses.dataclass
class LinkResult:
    """Outcome of ``Link.transmit`` for a payload ``[..., k]``.

    Attributes:
        bits: ``[..., k]`` float 0/1, the received payload bits in payload order (bit-true: the
            LDPC hard decisions; abstractions: the sent bits for passed code blocks, random bits
            for failed ones).
        cb_ok: ``[..., num_cb]`` bool, CRC24B outcome per code block (for a TB with a single
            code block, which carries no CB CRC, the TB CRC outcome).
        tb_ok: ``[..., num_tb]`` bool, TB CRC (CRC24A / CRC16) outcome per transport block.
        cb_ranges: ``(start, stop)`` payload-bit range of each code block.
        cb_tb: index of the transport block each code block belongs to.
        channel_uses: complex symbols spent per payload item (all TBs included).
        num_coded_bits: coded bits per payload item (all TBs included).
        snr_db: the nominal Es/N0 in dB the transmission was made at.
        channel_gain: ``[..., num_cb]`` float ``|h|^2`` of each code block for block fading
            (mean over its symbols for fast fading), ``None`` for AWGN.
    """

    bits: torch.Tensor
    cb_ok: torch.Tensor
    tb_ok: torch.Tensor
    cb_ranges: list[tuple[int, int]]
    cb_tb: list[int]
    channel_uses: int
    num_coded_bits: int
    snr_db: float
    channel_gain: torch.Tensor | None = None

    @classmethod
    def from_plan(cls, plan, batch_shape, bits, cb_ok, tb_ok, snr_db, gain=None) -> "LinkResult":
        """Assemble a result for a :class:`~semcom.link.layout.LinkPlan` from flat ``[b, ...]`` tensors
        (``b`` = product of ``batch_shape``); every link builds its result here."""
        batch_shape = tuple(batch_shape)
        return cls(
            bits=bits.reshape(*batch_shape, plan.k),
            cb_ok=cb_ok.reshape(*batch_shape, plan.num_cb),
            tb_ok=tb_ok.reshape(*batch_shape, plan.num_tb),
            cb_ranges=list(plan.cb_ranges),
            cb_tb=list(plan.cb_tb),
            channel_uses=plan.channel_uses,
            num_coded_bits=plan.num_coded_bits,
            snr_db=snr_db,
            channel_gain=None if gain is None else gain.reshape(*batch_shape, plan.num_cb),
        )

    @property
    def k(self) -> int:
        """Payload bits per item."""
        return int(self.bits.shape[-1])

    @property
    def num_cb(self) -> int:
        return len(self.cb_ranges)

    @property
    def num_tb(self) -> int:
        return int(self.tb_ok.shape[-1])

    @property
    def delivered_mask(self) -> torch.Tensor:
        """``[..., k]`` bool: True where the bit's code block passed its CRC."""
        counts = torch.tensor([b - a for a, b in self.cb_ranges], dtype=torch.long, device=self.cb_ok.device)
        mask = torch.repeat_interleave(self.cb_ok, counts, dim=-1)
        return mask

    def cbler(self) -> float:
        """Fraction of code blocks whose CRC failed (over all items)."""
        return float((~self.cb_ok).float().mean()) if self.cb_ok.numel() else 0.0

    def tbler(self) -> float:
        """Fraction of transport blocks whose CRC failed (over all items)."""
        return float((~self.tb_ok).float().mean()) if self.tb_ok.numel() else 0.0

    def bit_errors(self, sent: torch.Tensor) -> int:
        """Number of received bits that differ from ``sent`` (``[..., k]``)."""
        return int((self.bits != sent.to(self.bits.dtype)).sum())

    def ber(self, sent: torch.Tensor) -> float:
        """Bit error rate of the received bits against ``sent``, all bits counted."""
        return self.bit_errors(sent) / max(1, self.bits.numel())

    def delivered_bits(self) -> int:
        """Payload bits delivered by passed code blocks (summed over items)."""
        return int(self.delivered_mask.sum())

    def goodput(self) -> float:
        """Delivered payload bits per channel use, averaged over items."""
        items = max(1, self.cb_ok[..., 0].numel()) if self.cb_ok.numel() else 1
        return self.delivered_bits() / (items * self.channel_uses)
