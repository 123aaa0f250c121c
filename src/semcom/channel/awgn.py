"""Complex AWGN channel for learned JSCC training and evaluation (differentiable).

``y = z + n``, ``n ~ CN(0, no)`` i.i.d. per complex symbol with ``no = 10 ** (-snr_db / 10)``:
real and imaginary parts each have variance ``no / 2``. ``snr_db`` is Es/N0 per complex symbol
for unit average transmit power, so normalise the symbols first (:func:`power_normalize`); the
channel itself does not rescale its input.

Example:
    >>> import torch
    >>> from semcom.channel import AWGNChannel, power_normalize
    >>> ch = AWGNChannel(seed=0)
    >>> z = power_normalize(torch.ones(2, 8, dtype=torch.complex64))
    >>> y = ch(z, snr_db=10.0)
    >>> y.shape, y.dtype
    (torch.Size([2, 8]), torch.complex64)
    >>> bool(torch.equal(AWGNChannel(seed=1)(z, 10.0), AWGNChannel(seed=1)(z, 10.0)))
    True
"""

from __future__ import annotations

import torch
from torch import nn

from semcom.channel.utils import check_symbols, snr_db_to_no, snr_tensor
from semcom.utils import make_generator

__all__ = ["AWGNChannel", "complex_normal"]


def complex_normal(
    shape: torch.Size | tuple[int, ...], generator: torch.Generator, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """Samples of ``CN(0, 1)`` (real and imaginary parts each N(0, 1/2)) of complex ``dtype``.

    Drawn on the generator's device, then moved to ``device``.
    """
    real = torch.empty((), dtype=dtype).real.dtype
    re = torch.randn(shape, generator=generator, dtype=real, device=generator.device)
    im = torch.randn(shape, generator=generator, dtype=real, device=generator.device)
    return (torch.complex(re, im) * (0.5**0.5)).to(device)


class _Seeded(nn.Module):
    """Holds the module's own generator; a per-call ``generator`` (or int seed) overrides it."""

    def __init__(self, seed: int | torch.Generator | None) -> None:
        super().__init__()
        self.generator = make_generator(seed)

    def _gen(self, generator: int | torch.Generator | None) -> torch.Generator:
        return self.generator if generator is None else make_generator(generator)


class AWGNChannel(_Seeded):
    """``y = z + n``, ``n ~ CN(0, no)``, ``no = 10 ** (-snr_db / 10)`` per complex symbol.

    Args:
        seed: int seed or ``torch.Generator`` for the module's own generator (default seed 0). Each
            call advances it, so successive calls draw fresh noise while a run stays reproducible.

    Forward args:
        z: complex symbols ``[..., n]`` (complex64 or complex128), unit average power expected.
        snr_db: Es/N0 in dB, a float or a real tensor broadcastable to ``z.shape[:-1]`` (one SNR
            per example).
        generator: optional int seed or ``torch.Generator`` for this call only.

    Returns:
        ``y`` with the shape and dtype of ``z``; differentiable with respect to ``z``.

    Raises:
        InputError: real-valued ``z``, NaN/Inf in ``z`` or ``snr_db``, ``snr_db`` shape not broadcastable.

    Example:
        >>> import torch
        >>> z = torch.zeros(100000, dtype=torch.complex64)
        >>> y = AWGNChannel()(z, snr_db=0.0, generator=7)
        >>> round(float(y.abs().pow(2).mean()), 1)  # noise power no = 1 at 0 dB
        1.0
    """

    def __init__(self, seed: int | torch.Generator | None = None) -> None:
        super().__init__(seed)

    def forward(
        self, z: torch.Tensor, snr_db: float | torch.Tensor, generator: int | torch.Generator | None = None
    ) -> torch.Tensor:
        check_symbols(z)
        no = snr_db_to_no(snr_tensor(snr_db, z))
        n = complex_normal(z.shape, self._gen(generator), z.dtype, z.device)
        return z + n * no.sqrt()
