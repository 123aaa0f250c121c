"""The uniform rate quantiser of VL-SCC with a straight-through gradient (paper Eq. 1-2).

Forward (Eq. 1): ``q = l`` when ``(l - 0.5)/(L - 1) <= r < (l + 0.5)/(L - 1)``, i.e.
``q = clamp(round(r * (L - 1)), 0, L - 1)`` for a rate index ``r`` in [0, 1] and L levels.
Backward (Eq. 2), in ``mode="ste"``: ``dq/dr = L - 1`` (straight-through). In ``mode="exact"``
the operation is plain rounding, whose gradient is zero (no proxy).

Example:
    >>> import torch
    >>> from semcom.layers import quantize_rate
    >>> r = torch.tensor([0.0, 0.49, 0.5, 1.0], requires_grad=True)
    >>> q = quantize_rate(r, levels=16)
    >>> q.tolist()
    [0.0, 7.0, 8.0, 15.0]
    >>> q.sum().backward(); r.grad.tolist()
    [15.0, 15.0, 15.0, 15.0]
"""

from __future__ import annotations

import torch

from semcom.errors import InputError

MODES = ("ste", "exact")


def _check(levels: int, mode: str) -> None:
    if not isinstance(levels, int) or levels < 2:
        raise InputError(f"levels must be an int >= 2, got {levels!r}")
    if mode not in MODES:
        raise InputError(f"mode must be one of {MODES}, got {mode!r}")


class _QuantizeSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, r: torch.Tensor, levels: int) -> torch.Tensor:  # type: ignore[override]
        ctx.levels = levels
        return torch.clamp(torch.round(r * (levels - 1)), 0, levels - 1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return grad * (ctx.levels - 1), None


def quantize_rate(r: torch.Tensor, levels: int = 16, mode: str = "ste") -> torch.Tensor:
    """Quantise rate indices ``r`` (any shape, values in [0, 1]) to levels ``0 .. L-1`` (float).

    Args:
        r: rate index or rate map, float, any shape, in [0, 1] (values outside are clamped).
        levels: L, the number of quantisation levels (the paper uses L = 16: 4 bits of side information).
        mode: ``"ste"`` (training: Eq. 2 straight-through gradient ``L - 1``) or ``"exact"`` (zero gradient).

    Returns:
        ``q`` with the shape of ``r``, float values in ``{0, ..., L-1}``.
    """
    _check(levels, mode)
    if not isinstance(r, torch.Tensor) or not r.is_floating_point():
        raise InputError("r must be a float tensor")
    if mode == "ste":
        return _QuantizeSTE.apply(r, levels)
    return torch.clamp(torch.round(r.detach() * (levels - 1)), 0, levels - 1)
