"""Shannon capacity and the "ideal code" link (the bound every separation result is compared to).

* AWGN: ``C = log2(1 + snr)`` bits per complex channel use (``snr`` = Es/N0, linear).
* Block Rayleigh fading: a capacity-achieving code over one block of ``n`` uses with power gain
  ``g = |h|^2`` delivers ``n R`` bits iff ``R <= log2(1 + g snr)``, otherwise nothing (outage);
  ``P_out(R) = 1 - exp(-(2^R - 1) / snr)`` for ``h ~ CN(0, 1)``. The ergodic capacity is
  ``E[log2(1 + g snr)] = log2(e) exp(1/snr) E1(1/snr)``.

:class:`CapacityLink` is the ideal-code fidelity mode (``make_link("capacity", ...)``) with the same
``transmit`` interface and :class:`~semcom.link.result.LinkResult` as the other links. What it charges:

* The payload is one code block (one "TB"), or blocks of ``block_bits`` bits when given.
* AWGN: the transmitter knows the SNR and codes at capacity: a block of ``k_b`` bits spends
  ``ceil(k_b / log2(1 + snr))`` channel uses at the nominal SNR and is always delivered.
* Rayleigh (block fading; ``fading`` per_cb/per_tb both mean one ``h`` per block here): the
  transmitter does not know ``h``; it codes at the fixed rate ``rate`` (bits/channel use; default
  the MCS spectral efficiency ``Qm * R``), spends ``ceil(k_b / rate)`` uses, and the block is
  delivered iff ``k_b / n_b <= log2(1 + SNR_eff)`` with ``SNR_eff = |h|^2 snr`` (perfect CSI),
  ``|h_hat|^2 / (no + csi_error_var)`` (estimated CSI), and always lost with ``csi="none"``.
* ``max_payload_bits(n, snr_db)`` is ``floor(n log2(1 + snr))`` for AWGN (needs ``snr_db``) and
  ``floor(n * rate)`` for Rayleigh.
* Failed blocks deliver random bits, as the other abstractions do.

Example::

    >>> round(capacity_bits(1000, 0.0), 1)     # 0 dB: 1 bit per use
    1000.0
    >>> import torch
    >>> link = CapacityLink()
    >>> res = link.transmit(torch.ones(1, 3000), snr_db=10.0)
    >>> res.channel_uses, bool(res.cb_ok.all())   # ceil(3000 / log2(11))
    (868, True)
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from semcom.errors import InputError, LinkError
from semcom.link.base import CHANNELS, CSI_MODELS, FADINGS, check_payload, check_snr_db, complex_normal, noise_variance, generator_or_seed
from semcom.link.layout import check_bg1_repetition
from semcom.link.mcs import MCS, as_mcs
from semcom.link.result import LinkResult
from semcom.utils import make_generator

__all__ = [
    "capacity_bits",
    "awgn_capacity",
    "block_capacity_bits",
    "outage_probability",
    "ergodic_capacity",
    "CapacityLink",
    "CapacityPlan",
]


def awgn_capacity(snr_db: float) -> float:
    """AWGN capacity ``log2(1 + snr)`` in bits per complex channel use."""
    return math.log2(1.0 + 10.0 ** (check_snr_db(snr_db) / 10.0))


def ergodic_capacity(snr_db: float) -> float:
    """Ergodic Rayleigh capacity ``E[log2(1 + |h|^2 snr)]``, ``h ~ CN(0,1)``, bits per channel use."""
    from scipy.special import exp1

    snr = 10.0 ** (check_snr_db(snr_db) / 10.0)
    return float(math.log2(math.e) * math.exp(1.0 / snr) * exp1(1.0 / snr)) if snr < 700 else math.log2(snr) - 0.8327


def capacity_bits(channel_uses: float, snr_db: float, channel: str = "awgn") -> float:
    """Bits a capacity-achieving code carries over ``channel_uses`` complex uses at ``snr_db``.

    ``channel="awgn"``: ``n log2(1 + snr)``; ``channel="rayleigh"``: the ergodic capacity
    ``n E[log2(1 + |h|^2 snr)]`` (for a single fading block use :func:`block_capacity_bits`).
    """
    if not (isinstance(channel_uses, (int, float, np.integer, np.floating)) and channel_uses >= 0):
        raise InputError(f"channel_uses must be a non-negative number, got {channel_uses!r}")
    if channel == "awgn":
        return float(channel_uses) * awgn_capacity(snr_db)
    if channel in ("rayleigh", "rayleigh_fast"):
        return float(channel_uses) * ergodic_capacity(snr_db)
    raise LinkError(f"channel must be 'awgn' or 'rayleigh', got {channel!r}")


def block_capacity_bits(channel_uses: float, snr_db: float, gain: float | torch.Tensor) -> float | torch.Tensor:
    """``n log2(1 + gain * snr)``: the bits one fading block with power gain ``|h|^2 = gain`` supports."""
    snr = 10.0 ** (check_snr_db(snr_db) / 10.0)
    if isinstance(gain, torch.Tensor):
        return channel_uses * torch.log2(1.0 + gain * snr)
    return channel_uses * math.log2(1.0 + float(gain) * snr)


def outage_probability(rate: float, snr_db: float) -> float:
    """``P(log2(1 + |h|^2 snr) < rate) = 1 - exp(-(2^rate - 1) / snr)`` for ``h ~ CN(0, 1)``."""
    snr = 10.0 ** (check_snr_db(snr_db) / 10.0)
    return 1.0 - math.exp(-(2.0 ** float(rate) - 1.0) / snr)


@dataclasses.dataclass(frozen=True)
class CapacityPlan:
    """Layout of a payload on the capacity link (blocks play the role of code blocks and TBs)."""

    k: int
    rate: float | None
    block_payload: tuple[int, ...]
    block_channel_uses: tuple[int, ...] | None
    cb_ranges: tuple[tuple[int, int], ...]

    @property
    def num_cb(self) -> int:
        return len(self.block_payload)

    @property
    def num_tb(self) -> int:
        return len(self.block_payload)

    @property
    def cb_tb(self) -> tuple[int, ...]:
        return tuple(range(self.num_cb))

    @property
    def channel_uses(self) -> int | None:
        """Channel uses per payload item (``None`` for AWGN when no SNR was given)."""
        return None if self.block_channel_uses is None else sum(self.block_channel_uses)


class CapacityLink:
    """Ideal capacity-achieving code behind the link interface (see the module docstring).

    Args:
        mcs: optional; its spectral efficiency is the default Rayleigh coding rate.
        rate: coding rate (bits/channel use) for fading channels; overrides the MCS.
        block_bits: payload bits per code block (default: the whole payload is one block).
        channel: ``"awgn"`` or ``"rayleigh"`` (block fading, one ``h`` per block).
        fading, csi, csi_error_var: as the other links (see module docstring).
        mcs_table, max_tb_bits, bg1_repetition: accepted for interface compatibility (``max_tb_bits``
            is used as ``block_bits`` when ``block_bits`` is not given; an ideal code has no base graph).
    """

    fidelity = "capacity"

    def __init__(self, mcs: MCS | int | tuple | None = None, *, rate: float | None = None,
                 block_bits: int | None = None, mcs_table: int = 1, max_tb_bits: int | None = None,
                 channel: str = "awgn", fading: str = "per_cb", csi: str = "perfect",
                 csi_error_var: float = 0.1, bg1_repetition: bool = False) -> None:
        self.mcs = None if mcs is None else as_mcs(mcs, mcs_table)
        check_bg1_repetition(bg1_repetition)  # accepted for interface compatibility: no base graph here
        if channel not in ("awgn", "rayleigh"):
            raise LinkError(f"CapacityLink supports channel 'awgn' or 'rayleigh', got {channel!r}"
                            + (" (fast fading: use capacity_bits(..., 'rayleigh'))" if channel in CHANNELS else ""))
        if fading not in FADINGS:
            raise LinkError(f"fading must be one of {FADINGS}, got {fading!r}")
        if csi not in CSI_MODELS:
            raise LinkError(f"csi must be one of {CSI_MODELS}, got {csi!r}")
        csi_error_var = float(csi_error_var)
        if not math.isfinite(csi_error_var) or csi_error_var < 0:
            raise LinkError(f"csi_error_var must be finite and >= 0, got {csi_error_var}")
        if rate is not None:
            rate = float(rate)
            if not (math.isfinite(rate) and rate > 0):
                raise LinkError(f"rate must be a positive number of bits per channel use, got {rate}")
        if channel == "rayleigh" and rate is None:
            if self.mcs is None:
                raise LinkError("CapacityLink over Rayleigh fading needs a coding rate: give rate= or mcs=")
            rate = self.mcs.spectral_efficiency
        if block_bits is None:
            block_bits = max_tb_bits
        if block_bits is not None and (isinstance(block_bits, bool) or not isinstance(block_bits, int) or block_bits < 1):
            raise LinkError(f"block_bits must be a positive int or None, got {block_bits!r}")
        self.rate = rate
        self.block_bits = block_bits
        self.channel = channel
        self.fading = fading
        self.csi = csi
        self.csi_error_var = csi_error_var

    def _rate(self, snr_db: float | None) -> float | None:
        if self.channel == "awgn":
            return None if snr_db is None else awgn_capacity(snr_db)
        return self.rate

    def plan(self, k: int, snr_db: float | None = None) -> CapacityPlan:
        """Blocks of a ``k``-bit payload and their channel uses (AWGN needs ``snr_db`` for the uses)."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise InputError(f"payload size k must be a positive int, got {k!r}")
        k = int(k)
        bb = self.block_bits or k
        sizes = tuple([bb] * (k // bb) + ([k % bb] if k % bb else []))
        rate = self._rate(None if snr_db is None else check_snr_db(snr_db))
        uses = None if rate is None else tuple(int(math.ceil(s / rate - 1e-9)) for s in sizes)
        ranges, s0 = [], 0
        for s in sizes:
            ranges.append((s0, s0 + s))
            s0 += s
        return CapacityPlan(k, rate, sizes, uses, tuple(ranges))

    def max_payload_bits(self, channel_uses: int, snr_db: float | None = None) -> int:
        """Largest ``k`` that fits ``channel_uses``: ``floor(n log2(1 + snr))`` (AWGN), ``floor(n rate)``."""
        if isinstance(channel_uses, bool) or not isinstance(channel_uses, (int, np.integer)) or channel_uses < 0:
            raise InputError(f"channel_uses must be a non-negative int, got {channel_uses!r}")
        if self.channel == "awgn" and snr_db is None:
            raise LinkError("CapacityLink.max_payload_bits needs snr_db over AWGN (the capacity depends on it)")
        rate = self._rate(None if snr_db is None else check_snr_db(snr_db))
        k = int(math.floor(int(channel_uses) * rate + 1e-9))
        while k > 0 and self.plan(k, snr_db).channel_uses > channel_uses:  # per-block rounding
            k -= 1
        return k

    def transmit(self, bits: torch.Tensor, snr_db: float, *, generator: int | torch.Generator | None = None,
                 seed: int | torch.Generator | None = None) -> LinkResult:
        """Send payload ``bits`` ``[..., k]`` at ``snr_db`` with an ideal code (see module docstring)."""
        generator = generator_or_seed(generator, seed)
        x, batch_shape = check_payload(bits)
        snr_db = check_snr_db(snr_db)
        gen = make_generator(generator)
        plan = self.plan(int(x.shape[-1]), snr_db)
        b, nb = x.shape[0], plan.num_cb
        gain = None
        if self.channel == "awgn":
            ok = torch.ones(b, nb, dtype=torch.bool)
        else:
            h = complex_normal((b, nb), gen)
            gain = h.abs() ** 2
            if self.csi == "perfect":
                snr_eff = gain * 10.0 ** (snr_db / 10.0)
            elif self.csi == "estimated":
                h_hat = h + complex_normal((b, nb), gen, self.csi_error_var)
                snr_eff = h_hat.abs() ** 2 / (noise_variance(snr_db) + self.csi_error_var)
            else:
                snr_eff = torch.zeros(b, nb)
            r_blk = torch.tensor([s / u for s, u in zip(plan.block_payload, plan.block_channel_uses)])
            ok = r_blk <= torch.log2(1.0 + snr_eff)
            if self.csi == "none":
                ok = torch.zeros(b, nb, dtype=torch.bool)
        rand_bits = torch.randint(0, 2, x.shape, generator=gen).to(torch.float32)
        mask = torch.repeat_interleave(ok, torch.tensor(plan.block_payload, dtype=torch.long), dim=-1)
        out = torch.where(mask, x, rand_bits)
        return LinkResult(
            bits=out.reshape(*batch_shape, plan.k),
            cb_ok=ok.reshape(*batch_shape, nb),
            tb_ok=ok.clone().reshape(*batch_shape, nb),
            cb_ranges=list(plan.cb_ranges),
            cb_tb=list(plan.cb_tb),
            channel_uses=int(plan.channel_uses),
            num_coded_bits=0,
            snr_db=snr_db,
            channel_gain=None if gain is None else gain.reshape(*batch_shape, nb),
        )

    def describe(self) -> dict:
        return {"fidelity": self.fidelity, "rate": self.rate, "block_bits": self.block_bits, "channel": self.channel,
                "fading": self.fading, "csi": self.csi, "csi_error_var": self.csi_error_var,
                "mcs": None if self.mcs is None else {"modulation_order": self.mcs.modulation_order,
                                                      "code_rate": self.mcs.code_rate}}

    def __repr__(self) -> str:
        return f"CapacityLink(channel={self.channel!r}, rate={self.rate}, block_bits={self.block_bits})"
