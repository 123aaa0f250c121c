"""The one outcome of sending one source through any system, and the accounting derived from it.

Every system of the bench (the separation baselines, the learned JSCC models, the seb codec, a
user's own) returns an :class:`Outcome`; CBR, SPP and bpp are computed here and nowhere else.

Conventions (see ``docs/systems.md``):

* ``channel_uses`` counts every complex channel use actually spent: analog symbols, coded QAM
  symbols, the side link of a learned model, protocol headers.
* ``bits_sent`` is the payload a digital system put on the link (the encoded stream, not the
  grant); ``side_info_bits`` the side information beside it (a length field, VL-SCC's rate map). An
  analog system has ``bits_sent = 0``; its side bits still count.
* CBR = channel uses / real source values (``C H W`` per image, times ``T`` for a clip).
  SPP = channel uses / pixels. bpp = (``bits_sent + side_info_bits``) / pixels. A vector source
  has no pixels: its SPP and bpp are ``None``.
* ``status``: ``"ok"`` (delivered intact), ``"recovered"`` (decoded from a damaged payload),
  ``"failed"`` (undecodable: the reconstruction is the system's documented fallback), ``"no_fit"``
  (nothing fitted the budget, nothing was sent).

Example:
    >>> import torch
    >>> out = Outcome(torch.zeros(1, 3, 32, 32), "ok", channel_uses=256, channel_uses_budget=256,
    ...               bits_sent=1000, side_info_bits=24)
    >>> r = out.rates((1, 3, 32, 32))
    >>> round(r.cbr, 4), r.spp, r.bpp
    (0.0833, 0.25, 1.0)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import torch

from semcom.errors import InputError

__all__ = ["Outcome", "Rates", "STATUSES", "source_size"]

STATUSES = ("ok", "recovered", "failed", "no_fit")


def source_size(source_shape: Sequence[int]) -> tuple[int, int | None]:
    """``(real values, pixels)`` of one source from its shape.

    ``[1, C, H, W]`` or ``[C, H, W]`` (an image), ``[T, C, H, W]`` (a clip of T frames) or
    ``[B, D]`` / ``[D]`` (vectors, no pixels). Values count real numbers (a colour pixel is 3).
    """
    shape = tuple(int(s) for s in source_shape)
    if any(s < 1 for s in shape) or not shape:
        raise InputError(f"source shape must be non-empty with positive sizes, got {shape}")
    values = math.prod(shape)
    if len(shape) >= 3:
        return values, values // shape[-3]
    return values, None


@dataclasses.dataclass(frozen=True)
class Rates:
    """Rates derived from an :class:`Outcome` and its source (see the module conventions)."""

    cbr: float
    spp: float | None
    bpp: float | None


@dataclasses.dataclass
class Outcome:
    """One source through one system: the reconstruction and the honest accounting.

    Attributes:
        reconstruction: what the receiver outputs, same shape as the source (the fallback when failed).
        status: one of :data:`STATUSES`.
        channel_uses: complex channel uses actually spent (0 when nothing was sent).
        channel_uses_budget: channel uses the system was granted (``None`` when it has no budget).
        bits_sent: payload bits of a digital system (0 for an analog one).
        side_info_bits: side-information bits (length fields, rate maps, ...).
        num_cb, num_cb_failed: code blocks sent and lost (digital systems, else 0).
        error: the decoder's message when something went wrong.
        extras: system-specific values (the MCS, the rate map, task outputs); JSON-able scalars are
            written to ``compare.json``.
    """

    reconstruction: torch.Tensor
    status: str
    channel_uses: int
    channel_uses_budget: int | None = None
    bits_sent: int = 0
    side_info_bits: int = 0
    num_cb: int = 0
    num_cb_failed: int = 0
    error: str | None = None
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise InputError(f"Outcome.status must be one of {STATUSES}, got {self.status!r}")
        for name in ("channel_uses", "bits_sent", "side_info_bits", "num_cb", "num_cb_failed"):
            v = getattr(self, name)
            if isinstance(v, torch.Tensor) and v.numel() == 1:
                v = v.item()
            if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v or v < 0:
                raise InputError(f"Outcome.{name} must be a non-negative integer, got {v!r}")
            setattr(self, name, int(v))
        if self.channel_uses_budget is not None:
            b = self.channel_uses_budget
            if isinstance(b, bool) or not isinstance(b, (int, float)) or int(b) != b or b < 0:
                raise InputError(f"Outcome.channel_uses_budget must be a non-negative integer or None, got {b!r}")
            self.channel_uses_budget = int(b)
        if not isinstance(self.reconstruction, torch.Tensor):
            raise InputError(f"Outcome.reconstruction must be a tensor, got {type(self.reconstruction).__name__}")
        if not isinstance(self.extras, dict):
            raise InputError(f"Outcome.extras must be a dict, got {type(self.extras).__name__}")
        if self.num_cb_failed > self.num_cb:
            raise InputError(f"Outcome.num_cb_failed ({self.num_cb_failed}) exceeds num_cb ({self.num_cb})")

    @property
    def failed(self) -> bool:
        """The source did not get through (``failed`` or ``no_fit``)."""
        return self.status in ("failed", "no_fit")

    @property
    def total_bits(self) -> int:
        """Every bit sent: payload and side information."""
        return self.bits_sent + self.side_info_bits

    def rates(self, source_shape: Sequence[int]) -> Rates:
        """CBR, SPP and bpp of this outcome for a source of ``source_shape`` (the one place they are computed)."""
        values, pixels = source_size(source_shape)
        spp = self.channel_uses / pixels if pixels else None
        bpp = self.total_bits / pixels if pixels else None
        return Rates(self.channel_uses / values, spp, bpp)
