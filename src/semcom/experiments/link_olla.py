"""Outer-loop link adaptation in a sequence run: the separation baseline over a time-varying channel
with a delayed, biased CSI report (``semcom link olla``).

**The run.** A separation system (codec + bit-true 5G LDPC link, one image per grant of
``ceil(cbr H W 3)`` channel uses, :class:`~semcom.baselines.SeparationSystem`) sends ``num_grants``
images in sequence: the photos of ``images`` cycled in their order (grant ``t`` sends photo
``t mod n``). The order is part of the run: grant ``t`` is sent after the ACK of grant ``t - 1``.

**The channel.** Block Rayleigh fading with one coefficient per grant that follows a first-order
Gauss-Markov (AR(1)) process, ``h_t = rho h_{t-1} + sqrt(1 - rho^2) w_t`` with ``h_0, w_t ~ CN(0, 1)``
i.i.d.: stationary, ``|h_t|^2 ~ Exp(1)`` at every grant, ``E[h_t h*_{t-k}] = rho^k`` (``rho`` per grant;
Jakes' ``J0(2 pi f_D T)`` for a Doppler ``f_D`` and grant spacing ``T``). Grant ``t`` sees the SNR
``snr_db + 10 log10 |h_t|^2`` (floored at -60 dB of gain); the receiver has perfect CSI, so one
coefficient over the whole grant is the link over AWGN at that SNR, and the link runs that way.
``channel="awgn"`` (``--channel awgn``): every grant sees ``snr_db`` (gain 1; the report below keeps
its bias and noise, and the same draws as over fading).

**What the transmitter knows.** A CSI report (CQI) of grant ``t``: the SNR of grant ``t - delay``
plus ``bias_db`` plus Gaussian noise of ``report_noise_db`` dB standard deviation (the process starts
``delay`` grants before the run, so every grant has a report). The inner loop reads the report as
the SNR of the grant -- the AWGN curves at the reported SNR, as a CQI-to-MCS table does (the
fading-aware rule of :mod:`semcom.link.adaptation` models an unknown ``Exp(1)`` gain around a known
mean, which is not what a per-grant report is) -- with the separation baseline's rule ``rule``
(``"target_bler"`` or ``"quality"``, :func:`~semcom.link.adaptation.select_mcs` /
:func:`~semcom.link.adaptation.select_mcs_for_quality`).

**Systems, on the same channel realisations** (common random numbers: one channel and report
sequence per SNR, and grant ``t`` draws its link noise from the same seed in every system):

* ``inner_<rule>``: the inner loop alone, at the report;
* ``olla_<rule>``: the inner loop at report + OLLA offset, updated after every grant with its ACK
  (every code block passed; :class:`~semcom.link.adaptation.OuterLoopLinkAdaptation`, NACK target
  ``target_bler``, ``olla_step_db`` down per NACK), starting at offset 0;
* ``olla_scatter_<rule>``: as ``olla_<rule>``, with an inner loop that knows the report is uncertain:
  it averages each MCS's error probability over a true SNR ``Normal(report + offset, sigma^2)`` in dB,
  ``sigma = report_std_db`` (a number, or ``"auto"``: estimated online from the differences of
  reports ``delay_grants`` apart, :class:`~semcom.link.adaptation.ReportScatter`; ``"none"``: no
  such system);
* ``olla_aw_<rule>``, ``olla_scatter_aw_<rule>`` (only with ``anti_windup=True``, ``--anti-windup``;
  the latter only with a scatter-aware system): as ``olla_<rule>`` and ``olla_scatter_<rule>`` with the
  outer loop's anti-windup (``olla_anti_windup``): a NACK of a grant sent on the most robust MCS the
  inner loop could choose does not lower the offset;
* ``olla_bayes_<rule>`` (only with ``bayes=True``, ``--bayes``): the inner loop with the Bayesian outer
  loop (``olla_mode="bayes"``, :class:`~semcom.link.adaptation.BayesianOuterLoop`, forgetting
  ``forgetting`` per grant): a posterior over the report's bias and scatter (and whether a smoothed
  report predicts better), updated with every ACK/NACK; the rule chooses under its predictive
  distribution, with no NACK target (its traces record ``posterior_scatter_db`` and ``smoothed_weight``);
* ``olla_pred_<rule>``, ``olla_pred_scatter_<rule>``, ``olla_pred_aw_<rule>``,
  ``olla_pred_scatter_aw_<rule>`` (only with ``prediction=True``, ``--prediction``; the scatter-aware
  and anti-windup ones under the same conditions as above): as the four OLLA systems above with
  prediction-matched ACK steps (``olla_mode="prediction"``): an ACK raises the offset by
  ``olla_step_db p / (1 - p)``, ``p`` the inner loop's predicted error of the grant it chose, clipped
  to ``[min_prediction, 0.5]``, so that the NACK rate follows the predictions rather than a target
  (their traces record ``predicted_error``);
* ``genie_<rule>``: the inner loop at the true SNR of the grant (no report error, no OLLA);
* ``mcs<i>``: one fixed 38.214 table MCS for every grant.

**Metrics** per system and SNR: mean PSNR over the grants (a failed image scores the mid-grey
fallback), NACK rate (grants not acknowledged: a code block lost, or nothing sent; also over the
second half, after the outer loop settled), delivered bits per channel use (the codec stream bits of ACKed grants over the
channel uses granted), the per-grant traces (PSNR, ACK, MCS index, OLLA offset, the scatter the
inner loop used), and the difference
to the best fixed MCS in mean PSNR with its standard error by batch means over blocks of
:data:`BATCH_GRANTS` grants (the grants are correlated through the channel).

Example::

    >>> res = run({"snr_db": [12.0], "num_grants": 4, "rules": ["target_bler"], "fixed_mcs": [9],
    ...            "codec": "jpeg2000", "crop": 128, "fidelity": "bler_table"}, progress=False)
    >>> sorted(res.data["points"][0]["systems"])
    ['genie_target_bler', 'inner_target_bler', 'mcs9', 'olla_aw_target_bler', 'olla_scatter_aw_target_bler', 'olla_scatter_target_bler', 'olla_target_bler']
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from semcom import cliargs
from semcom.errors import ConfigError
from semcom.experiments.executor import map_tasks
from semcom.experiments.results import Results, machine_info, provenance
from semcom.utils import from_dict

NAME = "olla"
DEFAULT_OUT = "results/link/olla"
RULES = ("target_bler", "quality")
CHANNELS = ("rayleigh", "awgn")
FIDELITIES = ("bittrue", "bler_table")
#: grants per batch for the batch-means standard errors
BATCH_GRANTS = 10
#: lowest fading power gain (dB) of a grant
MIN_GAIN_DB = -60.0
#: the OLLA systems per rule, in run order: (label prefix, scatter-aware inner loop, outer-loop
#: anti-windup); a scatter-aware one only unless ``report_std_db="none"``, an anti-windup one only
#: with ``anti_windup=True``
OLLA_VARIANTS = (("olla", False, False), ("olla_scatter", True, False), ("olla_aw", False, True),
                 ("olla_scatter_aw", True, True))


@dataclasses.dataclass
class OllaConfig:
    """What ``semcom link olla`` runs (module docstring). ``rho``: AR(1) correlation of the fading
    coefficient per grant; ``delay_grants``, ``report_bias_db``, ``report_noise_db``: the CSI report;
    ``fixed_mcs``: 38.214 table ``mcs_table`` indices; ``crop``: centre crop of each photo (pixels);
    ``report_std_db``: the scatter-aware OLLA systems' report scatter (dB, ``"auto"``, or ``"none"``: no such systems);
    ``anti_windup``: add the anti-windup OLLA systems (default ``True``: the long runs of
    ``results/link/olla/long`` put them above the best fixed MCS over fading; ``False`` gives the run's
    systems without them, as before 7 December 2026);
    ``bayes``: add the Bayesian outer-loop systems (default ``False``: the committed runs do not have
    them); ``forgetting``: their forgetting per grant;
    ``prediction``: add the prediction-matched OLLA systems (default ``False``, likewise);
    ``min_prediction``: the lowest predicted error their ACK steps use;
    ``systems``: run only these labels of the systems ``rules`` and ``fixed_mcs`` make (default all);
    ``fidelity``: the link, ``"bittrue"`` (the 5G LDPC chain) or ``"bler_table"`` (its table abstraction,
    for fast checks); ``channel``: ``"rayleigh"`` (the AR(1) block fading) or ``"awgn"`` (gain 1)."""

    codec: str = "heif"
    images: str = "tiny"
    crop: int = 256
    cbr: float = 1 / 12
    snr_db: list[float] = dataclasses.field(default_factory=lambda: [5.0, 12.0, 20.0])
    num_grants: int = 150
    channel: str = "rayleigh"
    rho: float = 0.95
    delay_grants: int = 2
    report_bias_db: float = 2.0
    report_noise_db: float = 1.0
    rules: list[str] = dataclasses.field(default_factory=lambda: list(RULES))
    target_bler: float = 0.1
    olla_step_db: float = 0.5
    report_std_db: float | str = "auto"
    anti_windup: bool = True
    bayes: bool = False
    forgetting: float = 0.005
    prediction: bool = False
    min_prediction: float = 0.01
    fixed_mcs: list[int] = dataclasses.field(default_factory=lambda: [3, 6, 9, 12, 16, 20, 24])
    systems: list[str] | None = None
    mcs_table: int = 1
    decoder: str = "fast"
    fidelity: str = "bittrue"
    seed: int = 0

    def __post_init__(self) -> None:
        cliargs.check_snr_values(self.snr_db)
        _check(len(self.snr_db) > 0, "snr_db must hold at least one SNR")
        _check(isinstance(self.num_grants, int) and not isinstance(self.num_grants, bool)
               and 1 <= self.num_grants <= 100_000, f"num_grants must be an integer in [1, 100000], got {self.num_grants!r}")
        _check(self.channel in CHANNELS, f"channel must be one of {CHANNELS}, got {self.channel!r}")
        _check(_real(self.rho) and 0.0 <= self.rho < 1.0, f"rho must lie in [0, 1), got {self.rho!r}")
        _check(isinstance(self.delay_grants, int) and not isinstance(self.delay_grants, bool)
               and 0 <= self.delay_grants <= 1000, f"delay_grants must be an integer in [0, 1000], got {self.delay_grants!r}")
        _check(_real(self.report_bias_db) and abs(self.report_bias_db) <= 30, "report_bias_db must lie in [-30, 30] dB")
        _check(_real(self.report_noise_db) and 0 <= self.report_noise_db <= 30, "report_noise_db must lie in [0, 30] dB")
        _check(isinstance(self.rules, list) and len(set(self.rules)) == len(self.rules) and all(r in RULES for r in self.rules),
               f"rules must be a list of distinct names from {RULES}, got {self.rules!r}")
        _check(isinstance(self.fixed_mcs, list) and len(set(self.fixed_mcs)) == len(self.fixed_mcs)
               and all(isinstance(i, int) and not isinstance(i, bool) for i in self.fixed_mcs),
               f"fixed_mcs must be a list of distinct MCS indices, got {self.fixed_mcs!r}")
        _check(bool(self.rules or self.fixed_mcs), "nothing to run: give rules or fixed_mcs")
        _check(not isinstance(self.report_std_db, str) or self.report_std_db in ("auto", "none"),
               f"report_std_db must be a number of dB, 'auto' or 'none', got {self.report_std_db!r}")
        _check(isinstance(self.anti_windup, bool), f"anti_windup must be true or false, got {self.anti_windup!r}")
        _check(isinstance(self.bayes, bool), f"bayes must be true or false, got {self.bayes!r}")
        _check(_real(self.forgetting) and 0 <= self.forgetting < 1, f"forgetting must lie in [0, 1), got {self.forgetting!r}")
        _check(isinstance(self.prediction, bool), f"prediction must be true or false, got {self.prediction!r}")
        _check(_real(self.min_prediction) and 0 < self.min_prediction <= 0.5,
               f"min_prediction must lie in (0, 0.5], got {self.min_prediction!r}")
        _check(self.fidelity in FIDELITIES, f"fidelity must be one of {FIDELITIES}, got {self.fidelity!r}")
        _check(isinstance(self.crop, int) and not isinstance(self.crop, bool) and 16 <= self.crop <= 4096,
               f"crop must be an integer in [16, 4096], got {self.crop!r}")
        _check(isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed >= 0, "seed must be an integer >= 0")
        if self.systems is not None:
            known = list(self._all_systems())
            _check(isinstance(self.systems, list) and len(self.systems) > 0 and all(k in known for k in self.systems),
                   f"systems must be a non-empty list of labels from {known}, got {self.systems!r}")
        for label, cfg in self.system_configs().items():  # codec, MCS indices, target, step, cbr: the system checks them
            _check_system(label, cfg)

    def system_configs(self) -> dict[str, dict]:
        """``label -> SeparationConfig`` dict of every system of the run (module docstring), in run order."""
        every = self._all_systems()
        return every if self.systems is None else {k: v for k, v in every.items() if k in self.systems}

    def _all_systems(self) -> dict[str, dict]:
        base = dict(codec=self.codec, cbr=self.cbr, fidelity=self.fidelity, channel="awgn", decoder=self.decoder,
                    mcs_table=self.mcs_table, target_bler=self.target_bler, olla_step_db=self.olla_step_db)
        out: dict[str, dict] = {}
        for rule in self.rules:
            adapted = dict(base, link_adaptation=True, adaptation=rule)
            out[f"inner_{rule}"] = adapted
            out.update(self._offset_loops(dict(adapted, outer_loop=True), rule, "olla"))
            if self.bayes:
                out[f"olla_bayes_{rule}"] = dict(adapted, outer_loop=True, olla_mode="bayes", olla_forgetting=self.forgetting)
            if self.prediction:
                pred = dict(adapted, outer_loop=True, olla_mode="prediction", olla_min_prediction=self.min_prediction)
                out.update(self._offset_loops(pred, rule, "olla_pred"))
            out[f"genie_{rule}"] = adapted
        for i in self.fixed_mcs:
            out[f"mcs{i}"] = dict(base, mcs_index=i)
        return out

    def _offset_loops(self, olla: dict, rule: str, label: str) -> dict[str, dict]:
        """The variants of one offset loop (``olla``: its system config) in the order of
        :data:`OLLA_VARIANTS`, labelled ``<label>[_scatter][_aw]_<rule>``: the scatter-aware ones unless
        ``report_std_db == "none"``, the anti-windup ones with ``anti_windup``."""
        out = {}
        for prefix, scatter, anti_windup in OLLA_VARIANTS:
            if (scatter and self.report_std_db == "none") or (anti_windup and not self.anti_windup):
                continue
            cfg = dict(olla)
            if scatter:
                cfg.update(report_std_db=self.report_std_db, report_delay_grants=self.delay_grants)
            if anti_windup:
                cfg.update(olla_anti_windup=True)
            out[prefix.replace("olla", label, 1) + f"_{rule}"] = cfg
        return out


def _real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _check_system(label: str, cfg: dict) -> None:
    from semcom.baselines import SeparationConfig
    from semcom.errors import SemcomError

    try:
        sc = SeparationConfig.from_dict(cfg)
        sc.mcs()
        from semcom.codecs import available_codecs

        if sc.codec not in available_codecs():
            raise ConfigError(f"unknown codec {sc.codec!r}; available: {', '.join(available_codecs())}")
    except SemcomError as exc:
        raise ConfigError(f"{label}: {exc}") from None


# ------------------------------------------------------------------------------ channel
def gauss_markov_gains(num: int, rho: float, rng: np.random.Generator) -> np.ndarray:
    """Power gains ``|h_t|^2``, ``t < num``, of the AR(1) Rayleigh process of the module docstring."""
    w = (rng.standard_normal((num, 2)) @ np.array([1.0, 1j])) / math.sqrt(2.0)
    h = np.empty(num, dtype=np.complex128)
    h[0] = w[0]
    for t in range(1, num):
        h[t] = rho * h[t - 1] + math.sqrt(1.0 - rho * rho) * w[t]
    return np.abs(h) ** 2


def channel_sequence(cfg: OllaConfig, snr_db: float, point: int) -> dict:
    """The true SNR, the report and the link seed of every grant at mean SNR ``snr_db`` (the
    ``point``-th of the run), drawn from ``cfg.seed``: the same for every system (common random numbers)."""
    rng = np.random.default_rng([cfg.seed, point])
    n, d = cfg.num_grants, cfg.delay_grants
    gain_db = np.maximum(10.0 * np.log10(np.maximum(gauss_markov_gains(n + d, cfg.rho, rng), 1e-300)), MIN_GAIN_DB)
    if cfg.channel == "awgn":  # drawn all the same: the report noise and link seeds as over fading
        gain_db = np.zeros_like(gain_db)
    true = snr_db + gain_db
    report = true[:n] + cfg.report_bias_db + cfg.report_noise_db * rng.standard_normal(n)
    seeds = rng.integers(0, 2**31 - 1, size=n)
    return {"true_snr_db": true[d:].tolist(), "report_db": report.tolist(), "link_seeds": seeds.tolist()}


# ------------------------------------------------------------------------------ the sequence
def run_sequence(system, images: Sequence, channel: dict, *, genie: bool = False) -> dict:
    """Send ``images`` cycled over the grants of ``channel`` (:func:`channel_sequence`) through
    ``system`` in grant order; the transmitter adapts to the report (``genie``: to the true SNR).
    Returns the per-grant traces ``psnr``, ``ack`` (every code block passed; ``False`` when nothing
    was sent, ``status`` ``"no_fit"``, which gives the outer loop no feedback), ``status``,
    ``mcs_index``, ``stream_bits``, ``channel_uses`` (and ``offset_db``, the offset each grant used,
    when the system has an outer loop; ``saturated``, whether the grant was sent on the most robust MCS,
    with its anti-windup; ``report_std_db``, the scatter it used, when that is estimated;
    ``predicted_error``, the inner loop's predicted error of the grant, with prediction-matched steps)."""
    from semcom.metrics import psnr

    keys = ("psnr", "ack", "status", "mcs_index", "stream_bits", "channel_uses") + (("offset_db",) if system.olla is not None else ()) \
        + (("report_std_db",) if system.scatter is not None else ()) \
        + (("saturated",) if system.olla is not None and system.olla.anti_windup else ()) \
        + (("posterior_scatter_db", "smoothed_weight") if hasattr(system.olla, "scatter_db") else ()) \
        + (("predicted_error",) if getattr(system.olla, "prediction_matched", False) else ())
    out: dict[str, list] = {k: [] for k in keys}
    for t, (snr, report, seed) in enumerate(zip(channel["true_snr_db"], channel["report_db"], channel["link_seeds"])):
        image = images[t % len(images)]
        known = snr if genie else report
        budget = system.channel_uses_budget(int(image.shape[-2]), int(image.shape[-1]))
        mcs = getattr(system.link_for(system.adaptation_snr_db(snr, known), budget, image), "mcs", None)
        if system.scatter is not None:
            out["report_std_db"].append(round(system.report_std_db, 4))
        res = system.transmit(image, snr, seed=int(seed), csi_report_db=known)
        ack = res.status != "no_fit" and res.num_cb_failed == 0
        out["psnr"].append(round(float(psnr(image, res.reconstruction)[0]), 4))
        out["ack"].append(bool(ack))
        out["status"].append(res.status)
        out["mcs_index"].append(getattr(mcs, "index", None))
        out["stream_bits"].append(int(res.bits_sent))
        out["channel_uses"].append(int(res.channel_uses_budget))
        if system.olla is not None:
            out["offset_db"].append(round(float(res.extras.get("olla_offset_db", system.olla.offset_db)), 4))
        if "saturated" in out:
            out["saturated"].append(bool(res.extras.get("olla_saturated", False)))
        if "predicted_error" in out:  # None when nothing was sent (no feedback)
            p = res.extras.get("olla_predicted_error")
            out["predicted_error"].append(None if p is None else round(float(p), 6))
        if "posterior_scatter_db" in out:
            out["posterior_scatter_db"].append(round(float(res.extras.get("olla_scatter_db", system.olla.scatter_db)), 4))
            out["smoothed_weight"].append(round(float(res.extras.get("olla_smoothed_weight", system.olla.smoothed_weight)), 4))
    return out


def _images(cfg: OllaConfig) -> tuple[list, dict]:
    """The photos of ``cfg.images``, each centre-cropped to ``crop x crop``; their checksums by name."""
    from semcom.experiments.common import load_image_set

    loaded = load_image_set(cfg.images)
    out = []
    for name, im, _ in loaded:
        h, w = im.shape[-2:]
        if min(h, w) < cfg.crop:
            raise ConfigError(f"image {name!r} ({h} x {w}) is smaller than crop={cfg.crop}")
        top, left = (h - cfg.crop) // 2, (w - cfg.crop) // 2
        out.append(im[..., top: top + cfg.crop, left: left + cfg.crop].contiguous())
    return out, {name: sha for name, _, sha in loaded}


def run_task(task: dict) -> list[dict]:
    """One system over every SNR's grant sequence, in the order of ``snr_db``, with a fresh outer loop
    per sequence (:meth:`~semcom.baselines.SeparationSystem.reset_outer_loop`; the codec's streams are
    memoised across them). Module level and picklable, for :func:`map_tasks`."""
    from semcom.baselines import SeparationConfig, SeparationSystem

    cfg = from_dict(OllaConfig, task["config"])
    system = SeparationSystem(SeparationConfig.from_dict(cfg.system_configs()[task["label"]]))
    images, _ = _images(cfg)
    out = []
    for point, snr in enumerate(cfg.snr_db):
        system.reset_outer_loop()
        trace = run_sequence(system, images, channel_sequence(cfg, float(snr), point), genie=task["label"].startswith("genie_"))
        out.append({"snr_db": float(snr), "label": task["label"], "trace": trace})
    return out


# ------------------------------------------------------------------------------ summaries
def summarise(trace: dict) -> dict:
    """Mean PSNR (and its batch-means standard error), NACK rates, delivered bits per channel use."""
    psnr_v, ack = np.asarray(trace["psnr"], dtype=np.float64), np.asarray(trace["ack"], dtype=bool)
    half = len(ack) // 2
    out = {"mean_psnr_db": float(psnr_v.mean()), "psnr_se_db": batch_se(psnr_v),
           "nack_rate": float(1.0 - ack.mean()), "nack_rate_second_half": float(1.0 - ack[half:].mean()),
           "delivered_bits_per_use": float(np.dot(ack, trace["stream_bits"]) / max(sum(trace["channel_uses"]), 1))}
    if "offset_db" in trace:
        off = np.asarray(trace["offset_db"], dtype=np.float64)
        out["final_offset_db"] = float(off[-1])
        out["mean_offset_second_half_db"] = float(off[half:].mean())
    if "posterior_scatter_db" in trace:
        out["mean_posterior_scatter_second_half_db"] = float(np.mean(trace["posterior_scatter_db"][half:]))
        out["mean_smoothed_weight_second_half"] = float(np.mean(trace["smoothed_weight"][half:]))
    if "report_std_db" in trace:
        out["mean_report_std_second_half_db"] = float(np.mean(trace["report_std_db"][half:]))
    if "predicted_error" in trace:
        p = [v for v in trace["predicted_error"][half:] if v is not None]
        out["mean_predicted_error_second_half"] = float(np.mean(p)) if p else None
    return out


def batch_se(values: np.ndarray, batch: int = BATCH_GRANTS) -> float | None:
    """Standard error of the mean of a correlated sequence by batch means over ``batch`` grants
    (default :data:`BATCH_GRANTS`; ``None`` with fewer than two batches). The batches must be long
    against the sequence's correlation: with ``rho = 0.95`` the fading power's correlation
    ``rho^(2k)`` has an integrated time of about 20 grants, so on long runs ``batch=100`` is the safer
    reading (10 grants can understate the error)."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"batch must be an integer >= 1, got {batch!r}")
    nb = len(values) // batch
    if nb < 2:
        return None
    means = np.asarray(values[: nb * batch], dtype=np.float64).reshape(nb, batch).mean(axis=1)
    return float(means.std(ddof=1) / math.sqrt(nb))


def compare_to_fixed(systems: dict, batch: int = BATCH_GRANTS) -> dict:
    """The best fixed MCS by mean PSNR, and every adapted system's mean-PSNR difference to it with the
    standard error of the paired per-grant differences (same channel, common random numbers) by batch
    means over ``batch`` grants (:func:`batch_se`; the run records the default; on a committed JSON,
    ``compare_to_fixed(point["systems"], batch=100)``), and the mean difference over the second half
    of the sequence (after an outer loop's burn-in)."""
    fixed = {k: v for k, v in systems.items() if k.startswith("mcs")}
    if not fixed:
        return {}
    best = max(fixed, key=lambda k: fixed[k]["summary"]["mean_psnr_db"])
    ref = np.asarray(fixed[best]["trace"]["psnr"], dtype=np.float64)
    diffs = {}
    for k, v in systems.items():
        if not k.startswith("mcs"):
            d = np.asarray(v["trace"]["psnr"], dtype=np.float64) - ref
            diffs[k] = {"diff_db": float(d.mean()), "se_db": batch_se(d, batch),
                        "diff_second_half_db": float(d[len(d) // 2:].mean())}  # after the burn-in
    return {"best_fixed": best, "best_fixed_psnr_db": fixed[best]["summary"]["mean_psnr_db"], "adapted_minus_best_fixed": diffs}


# ------------------------------------------------------------------------------ the run
def run(config: OllaConfig | dict | None = None, *, workers: int = 1, cluster: str | None = None,
        progress: bool = True) -> Results:
    """Every system of ``config`` over every SNR's grant sequence; :class:`Results` ``olla`` with one
    point per SNR: ``channel`` (true SNR and report per grant), ``systems`` (``summary`` and ``trace``
    per label) and ``vs_fixed`` (:func:`compare_to_fixed`). ``workers``: the systems run in parallel;
    each runs its sequences in a fixed order from a fresh outer loop, so the result does not depend on
    ``workers`` or on the order the systems run in."""
    cfg = config if isinstance(config, OllaConfig) else from_dict(OllaConfig, dict(config or {}))
    labels = list(cfg.system_configs())
    cfg_dict = dataclasses.asdict(cfg)
    tasks = [dict(config=cfg_dict, label=lab) for lab in labels]
    t0 = time.perf_counter()
    load_before = machine_info()["loadavg"]
    done = [r for rs in map_tasks(run_task, tasks, workers=workers, cluster=cluster, desc="olla", progress=progress) for r in rs]
    points = []
    for i, s in enumerate(cfg.snr_db):
        ch = channel_sequence(cfg, float(s), i)
        systems = {r["label"]: {"summary": summarise(r["trace"]), "trace": r["trace"]} for r in done if r["snr_db"] == float(s)}
        points.append({"snr_db": float(s), "channel": {k: [round(v, 4) for v in ch[k]] for k in ("true_snr_db", "report_db")},
                       "systems": systems, "vs_fixed": compare_to_fixed(systems)})
    _, sums = _images(cfg)
    prov = provenance(cfg, seed=cfg.seed, data_checksums=sums)
    prov.update(seconds=round(time.perf_counter() - t0, 1), machine=machine_info(), load_average_before=load_before,
                workers=workers)
    grant = points and next(iter(points[0]["systems"].values()))["trace"]["channel_uses"][0]
    return Results(NAME, {"grant_channel_uses": grant, "image_names": list(sums), "points": points}, prov)


# ------------------------------------------------------------------------------ plot
def plot(results: Results | dict, out_dir: str | Path) -> Path:
    """``olla.png`` from the JSON: per SNR (columns), the PSNR per grant (moving mean over
    :data:`BATCH_GRANTS` grants) of the inner loop, the outer loop, the genie and the best fixed MCS
    (top), and the OLLA offset, the estimated report scatter and the report's error (report - true SNR)
    per grant (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semcom.report.plots import save_figure

    data = results.data if isinstance(results, Results) else results["data"]
    pts = data["points"]
    fig, axes = plt.subplots(2, len(pts), figsize=(4.2 * len(pts), 6.4), squeeze=False, sharex=True)
    kernel = np.ones(BATCH_GRANTS) / BATCH_GRANTS
    for col, pt in enumerate(pts):
        top, bottom = axes[0][col], axes[1][col]
        best = pt["vs_fixed"].get("best_fixed")
        for label, sysd in pt["systems"].items():
            if label.startswith("mcs") and label != best:
                continue
            y = np.convolve(sysd["trace"]["psnr"], kernel, mode="valid")
            mean = sysd["summary"]["mean_psnr_db"]
            top.plot(np.arange(len(y)) + BATCH_GRANTS - 1, y, lw=1.2, label=f"{label} ({mean:.1f} dB)")
            if "offset_db" in sysd["trace"]:
                bottom.plot(sysd["trace"]["offset_db"], lw=1.2, label=f"offset {label}")
            if "report_std_db" in sysd["trace"]:
                bottom.plot(sysd["trace"]["report_std_db"], lw=1.0, ls=":", label=f"scatter estimate {label}")
        err = np.asarray(pt["channel"]["report_db"]) - np.asarray(pt["channel"]["true_snr_db"])
        bottom.plot(err, color="0.7", lw=0.8, label="report - true SNR")
        top.set_title(f"mean SNR {pt['snr_db']:g} dB")
        top.set_ylabel(f"PSNR [dB], mean of {BATCH_GRANTS} grants")
        bottom.set_ylabel("dB")
        bottom.set_xlabel("grant")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6)
    return save_figure(fig, Path(out_dir) / "olla.png")


# ------------------------------------------------------------------------------ command line
QUICK = {"snr_db": [12.0], "num_grants": 20, "rules": ["target_bler"], "fixed_mcs": [6, 12], "codec": "jpeg2000"}


def _parser() -> argparse.ArgumentParser:
    t = cliargs.typed
    p = cliargs.ArgumentParser(prog="semcom link olla", description=(__doc__ or "").strip().split("\n\n")[0])
    p.add_argument("--snr", dest="snr_db", type=t(cliargs.parse_snr_list), default=None, help="mean SNRs in dB (default 5,12,20)")
    p.add_argument("--grants", dest="num_grants", type=t(cliargs.parse_int, what="--grants", lo=1, hi=100_000), default=None,
                   help="grants (images) per sequence (default 150)")
    p.add_argument("--channel", choices=CHANNELS, default=None,
                   help="rayleigh: AR(1) block fading (default); awgn: the mean SNR at every grant")
    p.add_argument("--rho", type=t(cliargs.parse_float, what="--rho", lo=0.0, hi=0.9999), default=None,
                   help="AR(1) correlation of the fading coefficient per grant (default 0.95)")
    p.add_argument("--delay", dest="delay_grants", type=t(cliargs.parse_int, what="--delay", lo=0, hi=1000), default=None,
                   help="CSI report delay in grants (default 2)")
    p.add_argument("--bias", dest="report_bias_db", type=t(cliargs.parse_float, what="--bias", lo=-30.0, hi=30.0), default=None,
                   help="CSI report bias in dB (default 2)")
    p.add_argument("--report-noise", dest="report_noise_db", type=t(cliargs.parse_float, what="--report-noise", lo=0.0, hi=30.0),
                   default=None, help="standard deviation of the report's error in dB (default 1)")
    p.add_argument("--rules", type=t(cliargs.parse_choice_list, choices=RULES, what="rule"), default=None,
                   help="inner-loop rules: target_bler,quality (default both)")
    p.add_argument("--fixed-mcs", dest="fixed_mcs", type=t(cliargs.parse_number_list, what="--fixed-mcs", lo=0, hi=31, integer=True),
                   default=None, help="fixed 38.214 MCS indices to compare (default 3,6,9,12,16,20,24)")
    p.add_argument("--target-bler", dest="target_bler", type=t(cliargs.parse_float, what="--target-bler", lo=1e-4, hi=0.9),
                   default=None, help="target error rate of the inner loop and NACK target of the outer loop (default 0.1)")
    p.add_argument("--olla-step", dest="olla_step_db", type=t(cliargs.parse_float, what="--olla-step", lo=0.01, hi=10.0),
                   default=None, help="OLLA step down per NACK in dB (default 0.5)")
    p.add_argument("--report-std", dest="report_std_db", type=t(parse_report_std), default=None,
                   help="report scatter (dB) of the scatter-aware OLLA systems: auto (default), a number, or none")
    p.add_argument("--anti-windup", dest="anti_windup", action=argparse.BooleanOptionalAction, default=None,
                   help="add the anti-windup OLLA systems olla_aw_<rule>, olla_scatter_aw_<rule> (default on; "
                        "--no-anti-windup leaves them out)")
    p.add_argument("--bayes", dest="bayes", action=argparse.BooleanOptionalAction, default=None,
                   help="add the Bayesian outer-loop systems olla_bayes_<rule> (default off)")
    p.add_argument("--forgetting", type=t(cliargs.parse_float, what="--forgetting", lo=0.0, hi=0.5), default=None,
                   help="forgetting per grant of the Bayesian outer loop (default 0.005)")
    p.add_argument("--prediction", dest="prediction", action=argparse.BooleanOptionalAction, default=None,
                   help="add the prediction-matched OLLA systems olla_pred_<rule>, olla_pred_scatter_<rule> (default off)")
    p.add_argument("--min-prediction", dest="min_prediction",
                   type=t(cliargs.parse_float, what="--min-prediction", lo=1e-6, hi=0.5), default=None,
                   help="lowest predicted error the prediction-matched ACK steps use (default 0.01)")
    p.add_argument("--systems", type=cliargs.split_names, default=None,
                   help="run only these system labels, e.g. olla_quality,mcs6 (default all)")
    p.add_argument("--codec", default=None, help="image codec (default heif)")
    p.add_argument("--images", type=t(cliargs.parse_image_set), default=None, help="tiny (default), all, all-N or a folder")
    p.add_argument("--crop", type=t(cliargs.parse_int, what="--crop", lo=16, hi=4096), default=None,
                   help="centre crop of each photo in pixels (default 256)")
    p.add_argument("--quick", action="store_true", help="one SNR, 20 grants, JPEG2000 (fills only options not given)")
    p.add_argument("--no-plots", action="store_true", help="write the JSON only")
    cliargs.add_common_arguments(p, default_out=DEFAULT_OUT)
    return p


KEYS = ("snr_db", "num_grants", "channel", "rho", "delay_grants", "report_bias_db", "report_noise_db", "rules", "fixed_mcs",
        "target_bler", "olla_step_db", "report_std_db", "anti_windup", "bayes", "forgetting", "prediction",
        "min_prediction", "systems", "codec", "images", "crop", "seed")


def parse_report_std(text: str) -> float | str:
    """``--report-std``: ``"auto"``, ``"none"`` (no scatter-aware system) or a scatter in dB."""
    s = str(text).strip().lower()
    if s in ("auto", "none"):
        return s
    return cliargs.parse_float(s, what="--report-std", lo=0.0, hi=30.0)


def config_from_args(args: argparse.Namespace) -> OllaConfig:
    """The run's config: ``--config`` file, then the options given, then ``--quick``'s defaults."""
    from semcom.experiments.common import load_config_file

    cfg = {**load_config_file(args.config), **cliargs.given(args, KEYS)}
    return from_dict(OllaConfig, cliargs.fill_defaults(cfg, QUICK) if args.quick else cfg)


def main(argv: Sequence[str] | None = None) -> int:
    """``semcom link olla [options]`` (module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    cfg = config_from_args(args)
    cliargs.check_common(args)
    res = run(cfg, workers=args.workers, cluster=args.cluster, progress=not args.no_progress)
    res.provenance["command"] = "semcom link olla" + ("" if not argv else " " + " ".join(argv))
    path = res.save(args.out)
    if not args.no_plots:
        plot(res, args.out)
    for pt in res.data["points"]:
        print(f"mean SNR {pt['snr_db']:g} dB")
        for label, sysd in pt["systems"].items():
            s = sysd["summary"]
            print(f"  {label:<20s} PSNR {s['mean_psnr_db']:6.2f} dB  NACK {s['nack_rate']:.3f}"
                  f"  bits/use {s['delivered_bits_per_use']:.3f}")
        if pt["vs_fixed"]:
            print(f"  best fixed: {pt['vs_fixed']['best_fixed']} ({pt['vs_fixed']['best_fixed_psnr_db']:.2f} dB)")
            for label, d in pt["vs_fixed"]["adapted_minus_best_fixed"].items():
                se = "" if d["se_db"] is None else f" +- {d['se_db']:.2f}"
                print(f"  {label} - best fixed: {d['diff_db']:+.2f}{se} dB (second half {d['diff_second_half_db']:+.2f} dB)")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(cliargs.guarded(main))
