"""Power normalisation of channel symbols (unit average power per complex symbol).

The operation itself lives in :func:`semcom.channel.power_normalize`; this module adds the masked
form used by variable-length coders, where only the symbols that are actually sent count:

    z = y * sqrt(k / sum_i m_i |y_i|^2),   k = sum_i m_i

so that ``mean over sent symbols of |z_i|^2 = 1`` per example (the SNR convention of semcom).

Example:
    >>> import torch
    >>> from semcom.layers import masked_power_normalize
    >>> y = torch.randn(2, 8, dtype=torch.complex64); m = torch.ones(2, 8); m[1, 4:] = 0
    >>> z = masked_power_normalize(y, m)
    >>> [round(float((z[b].abs()**2 * m[b]).sum() / m[b].sum()), 4) for b in range(2)]
    [1.0, 1.0]
"""

from __future__ import annotations

import torch

from semcom.errors import InputError

try:  # the shared implementation
    from semcom.channel import power_normalize as _shared_power_normalize
except ImportError:  # pragma: no cover - only while semcom.channel is being written
    _shared_power_normalize = None


def power_normalize(z: torch.Tensor, dim: int | tuple[int, ...] = -1) -> torch.Tensor:
    """Scale complex symbols ``[..., n]`` to unit average power over ``dim`` (see semcom.channel)."""
    if _shared_power_normalize is not None:
        return _shared_power_normalize(z)  if dim == -1 else _fallback(z, dim)
    return _fallback(z, dim)


def _fallback(z: torch.Tensor, dim: int | tuple[int, ...]) -> torch.Tensor:
    if not torch.is_complex(z):
        raise InputError("power_normalize expects complex symbols")
    p = (z.real**2 + z.imag**2).mean(dim=dim, keepdim=True)
    return z * torch.rsqrt(p.clamp_min(1e-12))


def masked_power_normalize(y: torch.Tensor, mask: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Normalise complex ``y [B, ...]`` to unit mean power over the entries where ``mask [B, ...]`` is 1.

    The normalisation is per example (all dimensions but the first). Masked-out entries are
    scaled too (they are discarded before transmission). Differentiable in ``y`` and ``mask``.
    """
    if not torch.is_complex(y):
        raise InputError("masked_power_normalize expects complex symbols")
    if mask.shape != y.shape:
        raise InputError(f"mask shape {tuple(mask.shape)} differs from symbol shape {tuple(y.shape)}")
    dims = tuple(range(1, y.dim()))
    p = (y.real**2 + y.imag**2) * mask
    k = mask.sum(dim=dims, keepdim=True)
    mean_p = p.sum(dim=dims, keepdim=True) / k.clamp_min(1.0)
    return y * torch.rsqrt(mean_p.clamp_min(eps))
