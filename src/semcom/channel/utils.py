"""Symbol helpers shared by the analog channels: SNR conversion, power normalisation, real <-> complex.

Conventions
-----------
* Symbols are complex tensors ``[..., n]`` (complex64 by default), the working dimension last.
* SNR is Es/N0 per complex symbol at unit average transmit power, in dB in names ending ``_db``;
  the noise variance per complex symbol is ``no = 10 ** (-snr_db / 10)`` (noise ``CN(0, no)``:
  real and imaginary parts each have variance ``no / 2``).
* A JSCC encoder outputs real numbers ``[..., 2n]``; :func:`real_to_complex` pairs them into ``n``
  complex channel uses. The default ``layout="halves"`` takes the first ``n`` values as real parts
  and the last ``n`` as imaginary parts; ``layout="interleaved"`` takes ``(re, im, re, im, ...)``.

Example:
    >>> import torch
    >>> from semcom.channel import real_to_complex, complex_to_real, power_normalize
    >>> x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    >>> real_to_complex(x)
    tensor([[1.+3.j, 2.+4.j]])
    >>> real_to_complex(x, layout="interleaved")
    tensor([[1.+2.j, 3.+4.j]])
    >>> bool(torch.equal(complex_to_real(real_to_complex(x)), x))
    True
    >>> z = power_normalize(real_to_complex(x))
    >>> round(float(z.abs().pow(2).mean()), 6)
    1.0
"""

from __future__ import annotations

import math

import torch

from semcom.errors import InputError
from semcom.utils import check_finite

__all__ = ["snr_db_to_no", "power_normalize", "real_to_complex", "complex_to_real"]

_LAYOUTS = ("halves", "interleaved")


def snr_db_to_no(snr_db: float | torch.Tensor) -> float | torch.Tensor:
    """Noise variance per complex symbol ``no = 10 ** (-snr_db / 10)`` (unit signal power).

    Example:
        >>> snr_db_to_no(10.0)
        0.1
    """
    if isinstance(snr_db, torch.Tensor):
        return torch.pow(10.0, -snr_db / 10)
    return 10 ** (-float(snr_db) / 10)


def check_symbols(z: torch.Tensor, name: str = "z") -> None:
    """Raise :class:`InputError` unless ``z`` is a finite complex tensor ``[..., n]`` with ``n >= 1``."""
    if not isinstance(z, torch.Tensor):
        raise InputError(f"{name} must be a complex torch.Tensor [..., n], got {type(z).__name__}")
    if not z.is_complex():
        raise InputError(
            f"{name} must be complex symbols [..., n] (got {z.dtype}); convert real encoder outputs "
            "[..., 2n] with semcom.channel.real_to_complex"
        )
    if z.dim() == 0 or z.shape[-1] == 0:
        raise InputError(f"{name} must have at least one symbol in its last dimension, got {tuple(z.shape)}")
    check_finite(z, name)


def power_normalize(z: torch.Tensor, dim: int | tuple[int, ...] = -1, eps: float = 1e-12) -> torch.Tensor:
    """Scale each example to average power 1 per complex symbol over ``dim``.

    ``z / sqrt(mean(|z|^2 over dim))``, computed per example (every index outside ``dim``), so
    ``mean(|out|^2, dim) == 1``: the transmit-power constraint under which semcom's SNR is defined.
    Differentiable (gradient flows to ``z``). An all-zero example stays zero (the power is floored
    at ``eps``).

    Args:
        z: complex symbols ``[..., n]``.
        dim: dimension(s) averaged over; default the working (last) dimension.
        eps: floor of the power, avoids division by zero.

    Returns:
        complex tensor of the same shape and dtype.

    Raises:
        InputError: real-valued input, NaN/Inf, empty working dimension.

    Example:
        >>> import torch
        >>> z = torch.tensor([[3 + 4j, 0j], [1j, 1j]], dtype=torch.complex64)
        >>> power_normalize(z).abs().pow(2).mean(-1).round(decimals=5)
        tensor([1., 1.])
    """
    check_symbols(z)
    p = z.real.pow(2).add(z.imag.pow(2)).mean(dim=dim, keepdim=True)
    return z / p.clamp_min(eps).sqrt()


def _check_layout(layout: str) -> None:
    if layout not in _LAYOUTS:
        raise InputError(f"layout must be one of {_LAYOUTS}, got {layout!r}")


def real_to_complex(x: torch.Tensor, layout: str = "halves") -> torch.Tensor:
    """Pair real values ``[..., 2n]`` into complex symbols ``[..., n]`` (float32 -> complex64).

    ``layout="halves"``: ``z[k] = x[k] + 1j * x[n + k]``; ``layout="interleaved"``:
    ``z[k] = x[2k] + 1j * x[2k + 1]``. Differentiable. :func:`complex_to_real` is the exact inverse.

    Raises:
        InputError: complex or non-float input, odd last dimension, NaN/Inf, unknown layout.

    Example:
        >>> import torch
        >>> real_to_complex(torch.arange(4.0).view(1, 4)).shape
        torch.Size([1, 2])
    """
    _check_layout(layout)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise InputError(f"x must be a real float tensor [..., 2n], got {getattr(x, 'dtype', type(x).__name__)}")
    if x.dim() == 0 or x.shape[-1] % 2 or x.shape[-1] == 0:
        raise InputError(f"the last dimension of x must be even and > 0 (2n real values), got {tuple(x.shape)}")
    check_finite(x, "x")
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    n = x.shape[-1] // 2
    if layout == "halves":
        re, im = x[..., :n], x[..., n:]
    else:
        re, im = x[..., 0::2], x[..., 1::2]
    return torch.complex(re, im)


def complex_to_real(z: torch.Tensor, layout: str = "halves") -> torch.Tensor:
    """Unpack complex symbols ``[..., n]`` into real values ``[..., 2n]``, the inverse of :func:`real_to_complex`.

    Example:
        >>> import torch
        >>> complex_to_real(torch.tensor([1 + 3j, 2 + 4j]))
        tensor([1., 2., 3., 4.])
    """
    _check_layout(layout)
    check_symbols(z)
    if layout == "halves":
        return torch.cat([z.real, z.imag], dim=-1)
    return torch.stack([z.real, z.imag], dim=-1).flatten(-2)


def snr_tensor(snr_db: float | torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``snr_db`` (float, or tensor broadcastable to ``z.shape[:-1]``) as a real tensor ``[..., 1]``."""
    real = z.real.dtype
    if isinstance(snr_db, torch.Tensor):
        if snr_db.is_complex() or snr_db.dtype == torch.bool:
            raise InputError(f"snr_db must be real, got {snr_db.dtype}")
        check_finite(snr_db, "snr_db")
        s = snr_db.to(dtype=real, device=z.device)
        batch = z.shape[:-1]
        try:
            ok = torch.broadcast_shapes(s.shape, batch) == batch
        except RuntimeError:
            ok = False
        if not ok:
            raise InputError(
                f"snr_db of shape {tuple(s.shape)} must broadcast to the batch shape {tuple(batch)} of z {tuple(z.shape)}"
            )
        return s.unsqueeze(-1)
    if isinstance(snr_db, bool) or not isinstance(snr_db, (int, float)) or not math.isfinite(snr_db):
        raise InputError(f"snr_db must be a finite number or tensor, got {snr_db!r}")
    return torch.full((1,), float(snr_db), dtype=real, device=z.device)
