"""Rate and error accounting: bpp, CBR, SPP, BER, BLER.

Definitions (semcom-wide):

* ``bpp = bits / (H * W)``: every bit sent counts, side information included.
* ``cbr = complex channel uses / real source values`` with ``real source values = H * W * C``
  (the channel bandwidth ratio of the DeepJSCC literature, e.g. Bourtsoulatze et al. 2019).
* ``spp = complex channel uses / pixels`` (``H * W``), so ``spp = cbr * C``.
* ``ber`` = fraction of differing bits; ``bler`` = fraction of blocks whose check failed.

Example:
    >>> from semcom.metrics import bpp, cbr, spp
    >>> bpp(24576, 256, 256), cbr(8192, 256 * 256 * 3), spp(8192, 256 * 256)
    (0.375, 0.041666666666666664, 0.125)
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import torch

from semcom.errors import InputError
from semcom.utils import check_finite

__all__ = ["bpp", "cbr", "spp", "ber", "bler"]


def _count(v: object, name: str, positive: bool = False) -> float:
    if isinstance(v, (torch.Tensor, np.ndarray)):
        n = v.size if isinstance(v, np.ndarray) else v.numel()
        if n != 1 or v.dtype == bool or v.dtype == torch.bool:
            raise InputError(f"{name} must be a numeric scalar, got shape {tuple(v.shape)} ({v.dtype})")
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, Real):
        raise InputError(f"{name} must be a number, got {type(v).__name__}")
    v = float(v)
    if not math.isfinite(v):
        raise InputError(f"{name} must be finite, got {v}")
    if v < 0 or (positive and v == 0):
        raise InputError(f"{name} must be {'> 0' if positive else '>= 0'}, got {v}")
    return v


def bpp(num_bits: float, height: int, width: int) -> float:
    """Bits per pixel: ``num_bits / (height * width)``; count every bit sent (headers, side info).

    Example:
        >>> bpp(8 * 1000, 100, 80)
        1.0
    """
    return _count(num_bits, "num_bits") / (_count(height, "height", True) * _count(width, "width", True))


def cbr(channel_uses: float, num_real_values: float) -> float:
    """Channel bandwidth ratio: complex channel uses per real source value (``H * W * C`` for an image).

    Example:
        >>> cbr(3072, 32 * 32 * 3)  # one complex symbol per real value
        1.0
    """
    return _count(channel_uses, "channel_uses") / _count(num_real_values, "num_real_values", True)


def spp(channel_uses: float, num_pixels: float) -> float:
    """Complex symbols (channel uses) per pixel: ``channel_uses / (H * W)``.

    Example:
        >>> spp(512, 32 * 32)
        0.5
    """
    return _count(channel_uses, "channel_uses") / _count(num_pixels, "num_pixels", True)


def _binary(t: object, name: str) -> torch.Tensor:
    if isinstance(t, np.ndarray):
        t = torch.from_numpy(t)
    if not isinstance(t, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor or numpy array, got {type(t).__name__}")
    if t.is_complex():
        raise InputError(f"{name} must be real 0/1 values, got {t.dtype}")
    check_finite(t, name)
    if t.numel() == 0:
        raise InputError(f"{name} is empty")
    if t.dtype != torch.bool and not bool(((t == 0) | (t == 1)).all()):
        raise InputError(f"{name} must hold only 0/1 values")
    return t.to(torch.bool)


def ber(sent_bits: torch.Tensor, received_bits: torch.Tensor) -> float:
    """Bit error rate: fraction of positions where ``received_bits`` differs from ``sent_bits``.

    Args:
        sent_bits, received_bits: same shape ``[..., k]``, 0/1 values (float, int or bool).

    Raises:
        InputError: shapes differ, empty, NaN/Inf, or values other than 0/1.

    Example:
        >>> import torch
        >>> ber(torch.tensor([0., 1, 1, 0]), torch.tensor([0., 1, 0, 0]))
        0.25
    """
    a = _binary(sent_bits, "sent_bits")
    b = _binary(received_bits, "received_bits")
    if a.shape != b.shape:
        raise InputError(f"sent_bits and received_bits shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    return float((a != b).double().mean())


def bler(block_ok_flags: torch.Tensor) -> float:
    """Block error rate: fraction of blocks whose CRC (or other check) failed.

    Args:
        block_ok_flags: any shape, ``True``/1 = block received correctly, ``False``/0 = block error.

    Example:
        >>> import torch
        >>> bler(torch.tensor([True, True, False, True]))
        0.25
    """
    ok = _binary(block_ok_flags, "block_ok_flags")
    return float((~ok).double().mean())
