"""Generalised divisive normalisation (GDN) and its inverse (IGDN).

Ballé, Laparra, Simoncelli, "Density modeling of images using a generalized normalization
transformation", ICLR 2016. For channel ``i`` at each spatial position:

    GDN:   y_i = x_i / sqrt(beta_i + sum_j gamma_ij * x_j^2)
    IGDN:  y_i = x_i * sqrt(beta_i + sum_j gamma_ij * x_j^2)

``beta`` and ``gamma`` are kept non-negative by a reparameterisation (squared, lower-bounded),
the way learned image codecs usually do it.

Example:
    >>> import torch
    >>> from semcom.layers import GDN, IGDN
    >>> x = torch.randn(2, 8, 4, 4)
    >>> GDN(8)(x).shape
    torch.Size([2, 8, 4, 4])
    >>> # freshly built: beta = 1, gamma = 0.1 I, so GDN is x / sqrt(1 + 0.1 x^2) per channel
    >>> torch.allclose(GDN(8)(x), x / torch.sqrt(1 + 0.1 * x**2), atol=1e-5)
    True
    >>> torch.allclose(IGDN(8)(x), x * torch.sqrt(1 + 0.1 * x**2), atol=1e-5)
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semcom.errors import InputError

_PEDESTAL = 2.0**-18


class _NonNegative(nn.Module):
    """Reparameterise a non-negative parameter as ``p = max(v, bound)^2 - pedestal``."""

    def __init__(self, minimum: float = 0.0) -> None:
        super().__init__()
        self.pedestal = _PEDESTAL**2
        self.bound = (minimum + self.pedestal) ** 0.5

    def init(self, value: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(torch.clamp(value + self.pedestal, min=self.pedestal))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        # clamp with a straight gradient so a parameter stuck at the bound can move back up
        clamped = v + (torch.clamp(v, min=self.bound) - v).detach()
        return clamped**2 - self.pedestal


class GDN(nn.Module):
    """GDN over the channel dimension of ``[B, C, H, W]`` tensors (``inverse=True`` gives IGDN).

    Args:
        channels: C.
        inverse: IGDN instead of GDN.
        beta_min: lower bound of ``beta`` (keeps the denominator away from zero).
        gamma_init: initial diagonal of ``gamma``.
    """

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1) -> None:
        super().__init__()
        if channels < 1:
            raise InputError(f"channels must be >= 1, got {channels}")
        self.channels = int(channels)
        self.inverse = bool(inverse)
        self._beta_np = _NonNegative(beta_min)
        self._gamma_np = _NonNegative(0.0)
        self.beta = nn.Parameter(self._beta_np.init(torch.ones(channels)))
        self.gamma = nn.Parameter(self._gamma_np.init(gamma_init * torch.eye(channels)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise InputError(f"GDN expects [B, {self.channels}, H, W], got {tuple(x.shape)}")
        beta = self._beta_np(self.beta)
        gamma = self._gamma_np(self.gamma).reshape(self.channels, self.channels, 1, 1)
        norm = F.conv2d(x * x, gamma, beta)
        return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)


class IGDN(GDN):
    """Inverse GDN: ``y_i = x_i * sqrt(beta_i + sum_j gamma_ij x_j^2)`` (see :class:`GDN`)."""

    def __init__(self, channels: int, beta_min: float = 1e-6, gamma_init: float = 0.1) -> None:
        super().__init__(channels, inverse=True, beta_min=beta_min, gamma_init=gamma_init)
