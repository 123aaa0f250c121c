"""Shared plumbing of every link: configuration checks, input checks, the TB/CB plan, fading draws.

All links (:class:`~semcom.link.nr.NRLink`, :class:`~semcom.link.abstract.ErasureLink`,
:class:`~semcom.link.abstract.BLERTableLink`, :class:`~semcom.link.capacity.CapacityLink`) share
``transmit(bits, snr_db, *, generator=None) -> LinkResult``, ``plan(k)`` and
``max_payload_bits(channel_uses, snr_db=None)``.

Channel models (``channel``):

* ``"awgn"``: ``y = x + n``, ``n ~ CN(0, no)``, ``no = 10**(-snr_db/10)`` (unit-power symbols).
* ``"rayleigh"``: block fading ``y = h x + n`` with one ``h ~ CN(0, 1)`` per code block
  (``fading="per_cb"``) or per transport block (``fading="per_tb"``, all code blocks of a TB see
  the same ``h``); independent across payload items.
* ``"rayleigh_fast"``: one independent ``h ~ CN(0, 1)`` per complex symbol.

Receiver CSI (``csi``, for the fading channels):

* ``"perfect"``: equalise with the true ``h``; LLRs with effective noise ``no / |h|^2``.
* ``"estimated"``: ``h_hat = h + e``, ``e ~ CN(0, csi_error_var)`` drawn per fading block;
  equalise with ``h_hat``; LLRs with effective noise ``(no + csi_error_var) / |h_hat|^2``
  (the estimation error counted as extra noise of a unit-power symbol).
* ``"none"``: the receiver assumes ``h = 1`` (no equalisation). A failure model: the random
  phase of a Rayleigh coefficient destroys the QAM decisions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from semcom.errors import InputError, LinkError
from semcom.link.layout import LinkPlan, check_bg1_repetition, max_payload_for_channel_uses, plan_payload
from semcom.link.mcs import MCS, as_mcs
from semcom.utils import make_generator

__all__ = ["Link", "CHANNELS", "FADINGS", "CSI_MODELS", "check_payload", "check_snr_db", "noise_variance"]

CHANNELS = ("awgn", "rayleigh", "rayleigh_fast")
#: the canonical names of :mod:`semcom.channel` accepted too (``"rayleigh_block"`` is ``"rayleigh"`` here)
CHANNEL_ALIASES = {"rayleigh_block": "rayleigh"}
FADINGS = ("per_cb", "per_tb")
CSI_MODELS = ("perfect", "estimated", "none")


def noise_variance(snr_db: float) -> float:
    """Noise variance per complex symbol at unit transmit power: ``no = 10**(-snr_db/10)``."""
    return 10.0 ** (-float(snr_db) / 10.0)


def check_snr_db(snr_db: Any) -> float:
    """A finite scalar SNR in dB, else :class:`InputError`."""
    if isinstance(snr_db, torch.Tensor):
        if snr_db.numel() != 1:
            raise InputError(f"snr_db must be a scalar, got a tensor of shape {tuple(snr_db.shape)}")
        snr_db = snr_db.item()
    if isinstance(snr_db, bool) or not isinstance(snr_db, (int, float, np.integer, np.floating)):
        raise InputError(f"snr_db must be a real number, got {type(snr_db).__name__}")
    snr_db = float(snr_db)
    if not math.isfinite(snr_db):
        raise InputError(f"snr_db must be finite, got {snr_db}")
    return snr_db


def check_payload(bits: Any, check_values: bool = True) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Validate payload bits ``[..., k]`` (0/1, real or bool dtype) -> (float ``[B, k]``, batch shape).

    ``check_values=False`` leaves the 0/1 check of a float32 payload to the caller (the compiled
    chain's encoder checks the bits while it reads them); other dtypes are always checked here.
    """
    if isinstance(bits, np.ndarray):
        bits = torch.from_numpy(bits)
    if not isinstance(bits, torch.Tensor):
        raise InputError(f"payload bits must be a torch.Tensor [..., k], got {type(bits).__name__}")
    if bits.is_complex():
        raise InputError(f"payload bits must be real 0/1 values, got dtype {bits.dtype}")
    if bits.dim() == 0:
        raise InputError("payload bits must have a last (bit) dimension [..., k]")
    k = bits.shape[-1]
    if k == 0:
        raise InputError("payload has k = 0 bits")
    if bits.numel() == 0:
        raise InputError("payload batch is empty")
    if bits.dtype == torch.bool:
        bits = bits.float()
    if (check_values or bits.dtype != torch.float32) and not _is_binary(bits):  # 0/1 implies finite
        if bits.is_floating_point() and not bool(torch.isfinite(bits).all()):
            raise InputError("payload bits contain NaN or Inf")
        raise InputError("payload bits must be 0 or 1")
    batch_shape = tuple(bits.shape[:-1])
    return bits.reshape(-1, k).to(torch.float32), batch_shape


def _is_binary(bits: torch.Tensor) -> bool:
    """Every value is 0 or 1: one compiled pass for a float32 CPU tensor (the payloads the systems
    send), torch's comparison otherwise."""
    if bits.dtype == torch.float32 and bits.device.type == "cpu" and bits.numel() >= 4096:
        from semcom.link._chain_kernels import count_non_binary

        return count_non_binary(bits.detach().reshape(-1).numpy()) == 0
    return bool(((bits == 0) | (bits == 1)).all())


def complex_scale(var: float) -> float:
    """The scale of each real part of ``CN(0, var)``: ``sqrt(var / 2)``, what :func:`complex_normal`,
    :func:`semcom.link._gauss.complex_normal_fast` and the compiled chain's fused AWGN kernels
    multiply by (one place: the fused kernels' float-for-float match depends on it)."""
    return math.sqrt(var / 2.0)


def normal_pairs(shape: tuple[int, ...], generator: torch.Generator, out: torch.Tensor | None = None) -> torch.Tensor:
    """N(0, 1) float32 draws ``[*shape, 2]`` from ``generator``: what :func:`complex_normal` scales
    (the compiled chain's fused AWGN kernel takes them as they are and scales them itself).
    ``out``: a contiguous float32 tensor of that shape to draw into (the same values)."""
    return torch.randn((*shape, 2), generator=generator, dtype=torch.float32, out=out)


def complex_normal(shape: tuple[int, ...], generator: torch.Generator, var: float = 1.0) -> torch.Tensor:
    """``CN(0, var)`` samples, complex64: :func:`normal_pairs` times :func:`complex_scale` (in float32)."""
    z = normal_pairs(shape, generator).mul_(complex_scale(var))
    return torch.view_as_complex(z)  # the same values as torch.complex(z[..., 0], z[..., 1]), without a copy


class Link:
    """Base class: configuration shared by every link (see the module docstring for the models).

    Args:
        mcs: an :class:`~semcom.link.mcs.MCS`, a 38.214 index of table ``mcs_table``, or ``(Qm, R)``.
        mcs_table: the table an integer ``mcs`` refers to (1 or 2).
        max_tb_bits: payload bits per transport block (default: one reference slot, see
            :func:`~semcom.link.layout.default_max_tb_bits`).
        channel: ``"awgn"``, ``"rayleigh"`` (block; ``"rayleigh_block"`` is accepted, the name used by
            :mod:`semcom.channel` and :mod:`semcom.systems`) or ``"rayleigh_fast"``.
        fading: ``"per_cb"`` or ``"per_tb"`` (block fading granularity, ``"rayleigh"`` only).
        csi: ``"perfect"``, ``"estimated"`` or ``"none"``.
        csi_error_var: variance of the channel-estimation error for ``csi="estimated"``.
        bg1_repetition: lay out TBs that 38.212 puts on LDPC base graph 1 below its mother rate 1/3
            (38.214 table 1 MCS 4, table 2 MCS 2, TBs above 3824 bits) as the standard does, with bit
            repetition. Default ``False``: such TBs are capped at 3752 bits and stay on base graph 2,
            the layout every committed result was made with (:mod:`semcom.link.layout`).
    """

    fidelity: str = "base"

    def __init__(
        self,
        mcs: MCS | int | tuple = None,
        *,
        mcs_table: int = 1,
        max_tb_bits: int | None = None,
        channel: str = "awgn",
        fading: str = "per_cb",
        csi: str = "perfect",
        csi_error_var: float = 0.1,
        bg1_repetition: bool = False,
    ) -> None:
        self.mcs = as_mcs(mcs, mcs_table)
        self.bg1_repetition = check_bg1_repetition(bg1_repetition)
        channel = CHANNEL_ALIASES.get(channel, channel)
        if channel not in CHANNELS:
            raise LinkError(f"channel must be one of {CHANNELS}, got {channel!r}")
        if fading not in FADINGS:
            raise LinkError(f"fading must be one of {FADINGS}, got {fading!r}")
        if csi not in CSI_MODELS:
            raise LinkError(f"csi must be one of {CSI_MODELS}, got {csi!r}")
        try:
            csi_error_var = float(csi_error_var)
        except (TypeError, ValueError):
            raise LinkError(f"csi_error_var must be a number, got {csi_error_var!r}") from None
        if not math.isfinite(csi_error_var) or csi_error_var < 0:
            raise LinkError(f"csi_error_var must be finite and >= 0, got {csi_error_var}")
        if max_tb_bits is not None and (isinstance(max_tb_bits, bool) or not isinstance(max_tb_bits, int) or max_tb_bits < 1):
            raise LinkError(f"max_tb_bits must be a positive int or None, got {max_tb_bits!r}")
        self.max_tb_bits = max_tb_bits
        self.channel = channel
        self.fading = fading
        self.csi = csi
        self.csi_error_var = csi_error_var

    # ------------------------------------------------------------------ planning
    def plan(self, k: int) -> LinkPlan:
        """TB/CB layout and channel uses of a ``k``-bit payload, without encoding (fast, cached)."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise InputError(f"k must be an int, got {type(k).__name__}")
        return plan_payload(int(k), self.mcs, self.max_tb_bits, self.bg1_repetition)

    def max_payload_bits(self, channel_uses: int, snr_db: float | None = None) -> int:
        """Largest payload ``k`` whose transmission spends at most ``channel_uses`` symbols.

        ``snr_db`` is ignored by MCS-based links (their layout does not depend on it).
        """
        if isinstance(channel_uses, (np.integer,)):
            channel_uses = int(channel_uses)
        return max_payload_for_channel_uses(channel_uses, self.mcs, self.max_tb_bits, self.bg1_repetition)

    # ------------------------------------------------------------------ helpers
    def _block_gains(self, plan: LinkPlan, batch: int, gen: torch.Generator) -> torch.Tensor | None:
        """``h`` per code block ``[batch, num_cb]`` complex for block Rayleigh fading, else ``None``."""
        if self.channel != "rayleigh":
            return None
        if self.fading == "per_cb":
            return complex_normal((batch, plan.num_cb), gen)
        h_tb = complex_normal((batch, plan.num_tb), gen)
        return h_tb[:, torch.tensor(plan.cb_tb, dtype=torch.long)]

    def _prepare(self, bits: Any, snr_db: Any, generator: Any, check_values: bool = True):
        x, batch_shape = check_payload(bits, check_values)
        snr_db = check_snr_db(snr_db)
        gen = make_generator(generator)
        plan = self.plan(int(x.shape[-1]))
        return x, batch_shape, snr_db, gen, plan

    def transmit(self, bits: torch.Tensor, snr_db: float, *, generator: int | torch.Generator | None = None,
                 seed: int | torch.Generator | None = None):
        """Send ``bits``; the random draws come from ``generator`` or, the same thing under the name the
        systems use, ``seed`` (an int or a ``torch.Generator``; give one of them)."""
        raise NotImplementedError  # pragma: no cover

    def describe(self) -> dict:
        """The link's configuration as a plain dict (for results provenance)."""
        return {
            "fidelity": self.fidelity,
            "mcs": {"modulation_order": self.mcs.modulation_order, "code_rate": self.mcs.code_rate,
                    "index": self.mcs.index, "table": self.mcs.table},
            "max_tb_bits": self.max_tb_bits,
            "bg1_repetition": self.bg1_repetition,
            "channel": self.channel,
            "fading": self.fading,
            "csi": self.csi,
            "csi_error_var": self.csi_error_var,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.mcs}, channel={self.channel!r}, fading={self.fading!r}, csi={self.csi!r})"


def generator_or_seed(generator: int | torch.Generator | None, seed: int | torch.Generator | None) -> Any:
    """``generator`` or ``seed`` (one name for the same thing across links, channels and systems);
    giving both is an error."""
    if generator is not None and seed is not None:
        raise InputError("give generator= or seed=, not both")
    return generator if generator is not None else seed
