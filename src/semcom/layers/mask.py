"""Rate masks of VL-SCC with the paper's custom gradient (Eq. 3-5).

Forward (Eq. 3/4): for a quantised rate ``q`` in ``{0 .. L-1}`` and a code of N symbols,
``m_i = 1`` when ``i < N q / (L - 1)`` (equivalently ``q > (L - 1) i / N``), else 0, for
``i = 0 .. N-1``: all ones come before all zeros and ``ceil(N q / (L-1))`` symbols are kept.

Backward (Eq. 5), in ``mode="ste"``: ``dm_i/dq = 1/3`` when
``ceil((L-1) i / N) - 2 < q <= ceil((L-1) i / N) + 1`` and 0 elsewhere, a 3-unit interval around
the mask's boundary, so only the symbols near the current code length pass gradient to ``q``.
In ``mode="exact"`` the mask is the plain step function without gradient.

Example:
    >>> import torch
    >>> from semcom.layers import rate_mask
    >>> rate_mask(torch.tensor([0.0, 1.0, 15.0]), n=6, levels=16).int().tolist()
    [[0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]]
"""

from __future__ import annotations

import math

import torch

from semcom.errors import InputError
from semcom.layers.quantize import MODES


def kept_symbols(q: torch.Tensor | int, n: int, levels: int) -> torch.Tensor:
    """Number of ones of the Eq. 3 mask: ``ceil(N q / (L - 1))`` (integer tensor, shape of ``q``)."""
    q = torch.as_tensor(q)
    # exact in integers: i < N q / (L-1)  <=>  i (L-1) < N q
    qi = torch.round(q.detach().double()).long()
    return torch.clamp((n * qi + (levels - 2)) // (levels - 1), 0, n)


class _MaskSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q: torch.Tensor, n: int, levels: int) -> torch.Tensor:  # type: ignore[override]
        i = torch.arange(n, device=q.device)
        qi = torch.round(q.detach()).long().unsqueeze(-1)
        ctx.save_for_backward(q)
        ctx.n, ctx.levels = n, levels
        return (qi * n > (levels - 1) * i).to(q.dtype)  # Eq. 4 in integers: q > (L-1) i / N

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (q,) = ctx.saved_tensors
        n, levels = ctx.n, ctx.levels
        i = torch.arange(n, device=q.device, dtype=torch.float64)
        c = torch.div((levels - 1) * i.long() + n - 1, n, rounding_mode="floor").double()  # ceil((L-1) i / N)
        qd = q.detach().double().unsqueeze(-1)
        window = ((qd > c - 2) & (qd <= c + 1)).to(grad.dtype) / 3.0  # Eq. 5
        return (grad * window).sum(-1), None, None


def rate_mask(q: torch.Tensor, n: int, levels: int = 16, mode: str = "ste") -> torch.Tensor:
    """The 0-1 mask ``M`` of Eq. 3 for quantised rates ``q``.

    Args:
        q: quantised rate, float ``[...]`` with values in ``{0 .. L-1}`` (from :func:`quantize_rate`).
        n: N, the maximum code length (symbols per rate index / per spatial location).
        levels: L.
        mode: ``"ste"`` (Eq. 5 gradient, for training) or ``"exact"`` (no gradient).

    Returns:
        Mask ``[..., N]`` with the dtype of ``q``: ones first, then zeros.
    """
    if not isinstance(n, int) or n < 1:
        raise InputError(f"n must be an int >= 1, got {n!r}")
    if not isinstance(levels, int) or levels < 2:
        raise InputError(f"levels must be an int >= 2, got {levels!r}")
    if mode not in MODES:
        raise InputError(f"mode must be one of {MODES}, got {mode!r}")
    if not isinstance(q, torch.Tensor) or not q.is_floating_point():
        raise InputError("q must be a float tensor")
    if q.numel() and (not bool(torch.isfinite(q).all()) or q.min() < 0 or q.max() > levels - 1):
        raise InputError(f"q must hold finite values in [0, {levels - 1}]")
    if mode == "ste":
        return _MaskSTE.apply(q, n, levels)
    with torch.no_grad():
        k = kept_symbols(q, n, levels).unsqueeze(-1)
        return (torch.arange(n, device=q.device) < k).to(q.dtype)


def side_bits_per_index(levels: int) -> int:
    """Bits to send one quantised rate error-free: ``ceil(log2 L)`` (4 bits for L = 16)."""
    return int(math.ceil(math.log2(levels)))
