"""Rayleigh fading channels with an explicit receiver CSI model (differentiable).

``y = h * z + n`` with ``h ~ CN(0, 1)`` (so ``E|h|^2 = 1`` and the *average* received SNR equals
``snr_db``) and ``n ~ CN(0, no)``, ``no = 10 ** (-snr_db / 10)``.

* :class:`RayleighBlockChannel` -- block (slow) fading: **one coefficient per example** (one image
  = one block: all symbols in the last dimension ``[..., n]`` share ``h``); with
  ``blocks_per_example=K`` the ``n`` symbols are split into ``K`` contiguous near-equal blocks
  (symbol ``i`` belongs to block ``floor(i * K / n)``), each with an independent ``h``.
* :class:`RayleighFastChannel` -- fast fading: an independent ``h`` for every symbol.

Receiver CSI (never implicit):

* ``csi="perfect"``: the receiver knows ``h`` and equalises. ``equalizer="zf"`` (default) returns
  ``y / h = z + n / h`` (unbiased, post-equalisation SNR ``|h|^2 / no``); ``equalizer="mmse"``
  returns ``conj(h) y / (|h|^2 + no)`` (biased towards 0, bounded in deep fades).
* ``csi="estimated"``: the receiver equalises with ``h_hat = h + e``, ``e ~ CN(0, csi_error_var)``
  independent of everything else; the MMSE equaliser uses ``|h_hat|^2 + no + csi_error_var``.
* ``csi="none"``: the raw ``y`` is returned (a learned decoder must cope with the phase rotation).

``forward(..., return_state=True)`` also returns a :class:`FadingState` with the true ``h``, the
receiver's ``h_hat`` and the instantaneous received SNR per symbol ``|h|^2 / no`` in dB (for
analysis and for CSI-aware models; with ``csi="none"`` a receiver must not use it).

Example:
    >>> import torch
    >>> from semcom.channel import RayleighBlockChannel, power_normalize
    >>> z = power_normalize(torch.ones(4, 16, dtype=torch.complex64))
    >>> ch = RayleighBlockChannel(csi="perfect", seed=0)
    >>> y, st = ch(z, snr_db=60.0, return_state=True)
    >>> bool(torch.allclose(y, z, atol=0.05)), st.h.shape, bool((st.h == st.h[:, :1]).all())
    (True, torch.Size([4, 16]), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semcom.channel.awgn import _Seeded, complex_normal
from semcom.channel.utils import check_symbols, snr_db_to_no, snr_tensor
from semcom.errors import ConfigError, InputError

__all__ = ["FadingState", "RayleighBlockChannel", "RayleighFastChannel", "CSI_MODES", "EQUALIZERS"]

CSI_MODES = ("perfect", "estimated", "none")
EQUALIZERS = ("zf", "mmse")


@dataclass
class FadingState:
    """What the fading channel drew, per symbol.

    Attributes:
        h: true coefficients ``[..., n]`` (constant within a block).
        h_hat: the receiver's estimate ``[..., n]`` (``h`` for perfect CSI), ``None`` for ``csi="none"``.
        no: noise variance per complex symbol, real tensor broadcastable to ``[..., n]``.
        snr_inst_db: instantaneous received SNR per symbol ``10 log10(|h|^2 / no)``, ``[..., n]``;
            the post-equalisation SNR with perfect CSI and ZF.
    """

    h: torch.Tensor
    h_hat: torch.Tensor | None
    no: torch.Tensor
    snr_inst_db: torch.Tensor


class RayleighBlockChannel(_Seeded):
    """Block Rayleigh fading ``y = h z + n``, one ``h ~ CN(0, 1)`` per example (or per block).

    Args:
        csi: receiver CSI, "perfect" | "estimated" | "none" (see module docs).
        csi_error_var: variance of the CN(0, var) estimation error, only with ``csi="estimated"``.
        equalizer: "zf" (``y / h_hat``) or "mmse" (``conj(h_hat) y / (|h_hat|^2 + no [+ var])``).
        blocks_per_example: ``K >= 1`` independent coefficients over the ``n`` symbols of each example.
        seed: int seed or ``torch.Generator`` for the module's own generator (default seed 0).

    Forward args:
        z: complex symbols ``[..., n]``, unit average power expected.
        snr_db: average Es/N0 in dB, a float or real tensor broadcastable to ``z.shape[:-1]``.
        generator: optional int seed or ``torch.Generator`` for this call only.
        return_state: also return a :class:`FadingState`.

    Returns:
        equalised symbols (perfect/estimated CSI) or raw ``y`` (no CSI), shape and dtype of ``z``;
        differentiable with respect to ``z``.

    Raises:
        ConfigError: unknown ``csi``/``equalizer``, bad ``csi_error_var`` or ``blocks_per_example``.
        InputError: real-valued ``z``, NaN/Inf, bad ``snr_db`` shape, ``n < blocks_per_example``.

    Example:
        >>> import torch
        >>> z = torch.ones(2, 6, dtype=torch.complex64)
        >>> y = RayleighBlockChannel(csi="none", blocks_per_example=2, seed=3)(z, snr_db=80.0)
        >>> bool(torch.allclose(y[:, 0], y[:, 2], atol=1e-3)), bool(torch.allclose(y[:, 0], y[:, 3], atol=1e-3))
        (True, False)
    """

    def __init__(
        self,
        csi: str = "perfect",
        csi_error_var: float = 0.0,
        equalizer: str = "zf",
        blocks_per_example: int = 1,
        seed: int | torch.Generator | None = None,
    ) -> None:
        super().__init__(seed)
        if csi not in CSI_MODES:
            raise ConfigError(f"csi must be one of {CSI_MODES}, got {csi!r}")
        if equalizer not in EQUALIZERS:
            raise ConfigError(f"equalizer must be one of {EQUALIZERS}, got {equalizer!r}")
        if isinstance(csi_error_var, bool) or not isinstance(csi_error_var, (int, float)) or not (
            0 <= float(csi_error_var) < float("inf")
        ):
            raise ConfigError(f"csi_error_var must be a finite number >= 0, got {csi_error_var!r}")
        if csi != "estimated" and csi_error_var != 0:
            raise ConfigError(f"csi_error_var is only meaningful with csi='estimated' (csi={csi!r})")
        if isinstance(blocks_per_example, bool) or not isinstance(blocks_per_example, int) or blocks_per_example < 1:
            raise ConfigError(f"blocks_per_example must be an int >= 1, got {blocks_per_example!r}")
        self.csi = csi
        self.csi_error_var = float(csi_error_var)
        self.equalizer = equalizer
        self.blocks_per_example = blocks_per_example

    def extra_repr(self) -> str:
        return (
            f"csi={self.csi!r}, csi_error_var={self.csi_error_var}, equalizer={self.equalizer!r}, "
            f"blocks_per_example={self.blocks_per_example}"
        )

    def _draw_h(self, z: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n = z.shape[-1]
        k = self.blocks_per_example
        if n < k:
            raise InputError(f"{n} symbols cannot be split into blocks_per_example={k} blocks")
        hb = complex_normal((*z.shape[:-1], k), g, z.dtype, z.device)
        if k == 1:
            return hb.expand(z.shape)
        idx = torch.div(torch.arange(n, device=z.device) * k, n, rounding_mode="floor")
        return hb.index_select(-1, idx)

    def forward(
        self,
        z: torch.Tensor,
        snr_db: float | torch.Tensor,
        generator: int | torch.Generator | None = None,
        return_state: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, FadingState]:
        check_symbols(z)
        no = snr_db_to_no(snr_tensor(snr_db, z))
        g = self._gen(generator)
        h = self._draw_h(z, g)
        n = complex_normal(z.shape, g, z.dtype, z.device) * no.sqrt()
        y = h * z + n
        h_hat: torch.Tensor | None
        if self.csi == "none":
            h_hat = None
            out = y
        else:
            h_hat = h
            extra = 0.0
            if self.csi == "estimated":
                h_hat = h + complex_normal(h.shape, g, z.dtype, z.device) * (self.csi_error_var**0.5)
                extra = self.csi_error_var
            if self.equalizer == "zf":
                out = y / h_hat
            else:
                p = h_hat.real.pow(2) + h_hat.imag.pow(2)
                out = h_hat.conj() * y / (p + no + extra)
        if not return_state:
            return out
        gain = h.real.pow(2) + h.imag.pow(2)
        state = FadingState(h=h, h_hat=h_hat, no=no, snr_inst_db=10 * torch.log10(gain / no))
        return out, state


class RayleighFastChannel(RayleighBlockChannel):
    """Fast Rayleigh fading: an independent ``h ~ CN(0, 1)`` for every symbol; same CSI options.

    Args:
        csi, csi_error_var, equalizer, seed: as :class:`RayleighBlockChannel`.

    Example:
        >>> import torch
        >>> z = torch.ones(1, 1000, dtype=torch.complex64)
        >>> _, st = RayleighFastChannel(seed=0)(z, snr_db=20.0, return_state=True)
        >>> bool(st.h.real.unique().numel() == 1000), round(float(st.h.abs().pow(2).mean()), 1)
        (True, 1.0)
    """

    def __init__(
        self,
        csi: str = "perfect",
        csi_error_var: float = 0.0,
        equalizer: str = "zf",
        seed: int | torch.Generator | None = None,
    ) -> None:
        super().__init__(csi=csi, csi_error_var=csi_error_var, equalizer=equalizer, blocks_per_example=1, seed=seed)

    def extra_repr(self) -> str:
        return f"csi={self.csi!r}, csi_error_var={self.csi_error_var}, equalizer={self.equalizer!r}"

    def _draw_h(self, z: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        return complex_normal(z.shape, g, z.dtype, z.device)
