"""semcom's own code-block BLER tables: generation with the bit-true link, storage and lookup.

The table link (:class:`~semcom.link.abstract.BLERTableLink`) decides each code block's fate from
``BLER(MCS, K', SNR)``. These tables are measured with the project's bit-true link over AWGN for
every MCS of 38.214 tables 1 and 2 (the rows below rate 1/5 through the link, bit repetition) on a grid of code-block sizes
``K'`` up to 8448 bits (:data:`SIZE_TARGETS`).

**What is simulated.** A grid point is the TB layout of the link (:func:`grid_tb`): a TB of
``k_tb`` payload bits gets the 38.214 TBS and resource elements exactly as in any transmission,
so its code blocks have ``K'`` bits (the achievable size nearest the target; one code block per
TB, two near 8448) rate-matched to the ``E`` bits 38.212 gives them (``E ~ (K' - CRC) / R``).
:class:`DirectCodeBlockSimulator` (the default of ``semcom link tables``) sends such code blocks
through the link's own blocks: Sionna's LDPC encoder with rate matching and bit interleaving,
QAM, AWGN, exact APP LLRs and the link's default decoder at 20 iterations.
:class:`LinkCodeBlockSimulator` sends whole TBs through :class:`~semcom.link.nr.NRLink`
(``make_link("bittrue")``, its default chain and decoder) and counts the code blocks whose CRC
fails; both are :class:`CodeBlockSimulator` s, so a faster link chain is used as soon as it is
the link's default.

**Model and uncertainty.** Each curve is summarised by a probit in dB,
``BLER(x) = Q((x - mu) / sigma)`` (``x`` = Es/N0 dB), fitted by binomial maximum likelihood to all
points of the curve. The 10 % point is ``x10 = mu + 1.2816 sigma``; its standard error ``se10``
comes from the Fisher information of the fit (delta method), i.e. the binomial uncertainty of
every point propagated through the curve's local slope. Simulation effort goes near the 10 %
point (:func:`measure_curve`): bracket it with small batches, bisect, then add batches at the
fitted 10 %, 30 % and 3 % points until ``se10 <= se_target`` (default 0.025 dB: a 95 % interval
of +-0.05 dB), a batch stopping early once it has collected enough errors. The raw points
``(snr_db, code blocks, errors)`` are stored with each curve.

**Lookup.** ``mu`` and ``sigma`` are interpolated linearly in ``log K'`` between the grid sizes of
each MCS row (among the curves with the code block's LDPC base graph when there are any; the
base graph changes at ``K' = 292`` and ``3824``) and clamped outside the grid (a code block
smaller or larger than the grid takes the nearest curve). Between the rows of the modulation
they are interpolated linearly in the code rate: the code block's own rate ``K'/E`` against the
rows' code-block rates at that size (``E`` from the caller, else from the link's layout of a TB
with such code blocks, :func:`layout_hint`), or the MCS's ``R`` against the rows' when neither
is known; clamped to the lowest / highest row. The probit gives every SNR a BLER (no clamping
in SNR). A few short high-rate layouts (``K'``, base graph, ``E``) are stopping sets of belief
propagation and never decode (:mod:`semcom.link.decodability`): they get BLER 1 at every SNR,
whether the caller gives ``E`` and the base graph or they come from :func:`layout_hint`.

Example::

    >>> from semcom.link import MCS
    >>> t = load_tables()
    >>> x10 = t.snr_at(MCS.from_table(9), 1500)      # QPSK R = 679/1024, K' = 1500 bits
    >>> 2.0 < x10 < 5.0, round(float(t.bler(MCS.from_table(9), 1500, x10)), 3)
    (True, 0.1)
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from semcom.errors import LinkError
from semcom.link.layout import bg1_below_mother_rate
from semcom.link.mcs import MCS, MCS_TABLES

__all__ = [
    "TABLE_FILE", "FORMAT", "SIZE_TARGETS", "Z10", "BLERTables", "load_tables", "table_rows",
    "grid_tb", "CodeBlockSimulator", "LinkCodeBlockSimulator", "DirectCodeBlockSimulator", "app_llr_qam",
    "curve_key", "layout_hint", "infer_base_graph", "fit_probit", "ProbitFit", "measure_curve",
]

#: The committed tables (JSON, written by ``semcom link tables``).
TABLE_FILE = Path(__file__).resolve().parent / "data" / "bler_tables.json"
FORMAT = "semcom-bler-tables/1"
#: ``Q^{-1}(0.1)``: the 10 % point lies ``Z10`` sigmas above ``mu``.
Z10 = 1.2815515655446004
#: Code-block sizes K' (bits, CRC included) the grid aims at: log-spaced from the smallest code
#: block of the link (TBS 24 + CRC16) to the largest (8448), with 3800 / 3900 on both sides of the
#: base-graph change at 3824 and 200 / 350 on both sides of the one at 292 (high rates).
SIZE_TARGETS = (40, 100, 200, 350, 600, 1000, 1600, 2500, 3800, 3900, 5600, 8448)
_SIGMA_BOUNDS = (0.01, 5.0)


def table_rows() -> list[tuple[int, float]]:
    """The distinct ``(Qm, R x 1024)`` rows of 38.214 tables 1 and 2 (every row, those below 1/5 included)."""
    rows = {(qm, r) for t in MCS_TABLES.values() for qm, r in t}
    return sorted(rows)


def curve_key(qm: int, r1024: float) -> str:
    """``"Qm:R1024"``, e.g. ``"2:679"``, ``"8:682.5"``: how a curve's MCS is named in the file."""
    return f"{int(qm)}:{float(r1024):g}"


# ------------------------------------------------------------------------------ grid layouts
def grid_tb(mcs: MCS, target: int) -> tuple[int, Any]:
    """The TB payload ``k_tb`` whose link layout has code blocks nearest ``target`` bits.

    Searches TBs of one code block and of two (needed above K' = 8216), exactly as
    :func:`~semcom.link.layout.plan_payload` lays them out (``max_tb_bits = k_tb``, one TB) in the
    standard's layout (``bg1_repetition=True``: at R = 308/1024 code blocks above 3824 bits are on
    base graph 1 with bit repetition, as 38.212 sends them; the link's default layout never sends
    them, so their curves serve only links built with ``bg1_repetition=True``); at rates up to 1/4,
    whose code blocks stop at 3840 bits (base graph 2), larger targets get the largest.
    Returns ``(k_tb, TBLayout)``; ties go to fewer code blocks.
    """
    from semcom.link.layout import plan_payload

    best = None
    cands = set(range(8, 17_000, 64))  # coarse: low rates cannot reach every size (base graph 2, TB cap)
    for c in (1, 2):
        k0 = c * (target - 24) - (24 if c > 1 else 16)
        cands.update(range(max(8, k0 - 400), k0 + 401, 8))
    for k in sorted(cands):
        plan = plan_payload(k, mcs, k, True)
        if plan.num_tb != 1 or plan.tbs[0].num_cb > 2:
            continue
        lay = plan.tbs[0]
        score = (abs(lay.cb_size - target), lay.num_cb, k)
        if best is None or score < best[0]:
            best = (score, k, lay)
    if best is None:
        raise LinkError(f"no transport block of {mcs} has code blocks near {target} bits")
    return best[1], best[2]


# ------------------------------------------------------------------------------ simulation
class CodeBlockSimulator(Protocol):
    """What :func:`measure_curve` needs: code-block outcomes of one TB layout at one SNR."""

    def layout(self, mcs: MCS, k_tb: int) -> Any:
        """The TB layout (``TBLayout``) of a ``k_tb``-bit TB."""

    def run(self, mcs: MCS, k_tb: int, snr_db: float, num_cb: int, generator: torch.Generator) -> tuple[int, int]:
        """Send at least ``num_cb`` code blocks at ``snr_db``; return ``(code blocks, failed)``."""

    def describe(self) -> dict:
        """What simulates (for provenance)."""


class LinkCodeBlockSimulator:
    """Code blocks through the bit-true link (:class:`~semcom.link.nr.NRLink`, AWGN) with its
    default chain and decoder, whatever those are; ``num_iter`` decoder iterations (20); the
    standard's layout (``bg1_repetition=True`` unless ``link_kw`` says otherwise, as :func:`grid_tb`).

    Each call transmits ``ceil(num_cb / C)`` random TBs of ``k_tb`` bits (``C`` code blocks each) in
    chunks of about 200 kbit and counts the code blocks whose CRC failed.
    """

    def __init__(self, num_iter: int = 20, **link_kw: Any) -> None:
        self.num_iter = num_iter
        self.link_kw = {"bg1_repetition": True, **link_kw}
        self._links: dict[tuple, Any] = {}

    def _link(self, mcs: MCS, k_tb: int):
        key = (mcs, k_tb)
        if key not in self._links:
            from semcom.link import make_link

            self._links = {key: make_link("bittrue", mcs=mcs, max_tb_bits=k_tb, num_iter=self.num_iter,
                                          progress=False, **self.link_kw)}
        return self._links[key]

    def layout(self, mcs: MCS, k_tb: int):
        plan = self._link(mcs, k_tb).plan(k_tb)
        if plan.num_tb != 1:
            raise LinkError(f"internal: a {k_tb}-bit payload is not one TB")  # pragma: no cover
        return plan.tbs[0]

    def run(self, mcs: MCS, k_tb: int, snr_db: float, num_cb: int, generator: torch.Generator) -> tuple[int, int]:
        link = self._link(mcs, k_tb)
        c = self.layout(mcs, k_tb).num_cb
        num_tb = max(1, math.ceil(num_cb / c))
        chunk = max(1, 200_000 // k_tb)
        n = err = 0
        while num_tb > 0:
            b = min(chunk, num_tb)
            bits = torch.randint(0, 2, (b, k_tb), generator=generator).to(torch.float32)
            ok = link.transmit(bits, snr_db, generator=generator).cb_ok
            n += int(ok.numel())
            err += int((~ok).sum())
            num_tb -= b
        return n, err

    def describe(self) -> dict:
        d = {"simulator": "bittrue link (make_link('bittrue'), AWGN)", "num_iter": self.num_iter, **self.link_kw}
        try:
            d.update({k: v for k, v in self._link(MCS.from_table(9), 1000).describe().items()
                      if k in ("decoder", "num_iter", "chain", "demapper")})
        except LinkError:  # pragma: no cover - MCS 9 is always supported
            pass
        return d


class DirectCodeBlockSimulator:
    """Code blocks through the link's own blocks without the transport block around them (fast).

    Per distinct rate-matched length ``E`` of the layout: Sionna's ``LDPC5GEncoder(K', E, Qm)``
    (38.212 LDPC, rate matching and bit interleaving, as inside the link's TB encoder), Sionna's
    Gray QAM ``Mapper``, AWGN with ``no = 10**(-snr_db/10)``, exact APP LLRs (:func:`app_llr_qam`,
    equal to Sionna's ``Demapper("app")`` that the link uses) and the link's default LDPC decoder
    (``make_ldpc_decoder`` with ``NRLink``'s default ``decoder``) at ``num_iter`` iterations. A code
    block fails when a decoded information bit is wrong (the link's CRC flags the same blocks up to
    the CRC's miss rate). Scrambling is left out: over AWGN it does not change any error statistic.
    """

    def __init__(self, num_iter: int = 20, decoder: str | None = None) -> None:
        import inspect

        from semcom.link.nr import NRLink

        self.num_iter = num_iter
        self.decoder = decoder or inspect.signature(NRLink.__init__).parameters["decoder"].default
        self._codes: dict[tuple, tuple] = {}

    def layout(self, mcs: MCS, k_tb: int):
        from semcom.link.layout import plan_payload

        return plan_payload(k_tb, mcs, k_tb, True).tbs[0]

    def _code(self, k: int, e: int, qm: int):
        key = (k, e, qm)
        if key not in self._codes:
            from sionna.phy.fec.ldpc import LDPC5GEncoder
            from sionna.phy.mapping import Mapper

            from semcom.link.ldpc import make_ldpc_decoder

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "effective rate > 948/1024", as in the link
                enc = LDPC5GEncoder(k, e, num_bits_per_symbol=qm)
            self._codes = {key: (enc, Mapper("qam", qm), make_ldpc_decoder(self.decoder, enc, self.num_iter))}
        return self._codes[key]

    def run(self, mcs: MCS, k_tb: int, snr_db: float, num_cb: int, generator: torch.Generator) -> tuple[int, int]:
        from semcom.link.base import complex_normal

        lay = self.layout(mcs, k_tb)
        qm, k = mcs.modulation_order, int(lay.cb_size)
        no = 10.0 ** (-snr_db / 10.0)
        lengths = sorted(set(int(c) for c in lay.cw_lengths))
        n = err = 0
        for j, e in enumerate(lengths):
            todo = num_cb // len(lengths) + (1 if j < num_cb % len(lengths) else 0)
            enc, mapper, dec = self._code(k, e, qm)
            chunk = max(1, 200_000 // e)
            while todo > 0:
                b = min(chunk, todo)
                u = torch.randint(0, 2, (b, k), generator=generator).to(torch.float32)
                x = mapper(enc(u))
                y = x + complex_normal(tuple(x.shape), generator, no)
                u_hat = dec(app_llr_qam(y, no, qm))
                err += int((u_hat != u).any(dim=-1).sum())
                n += b
                todo -= b
        return n, err

    def describe(self) -> dict:
        return {"simulator": "code blocks: LDPC5GEncoder(K', E, Qm) + QAM + AWGN + exact APP LLRs + the link's "
                             "default decoder", "decoder": self.decoder, "num_iter": self.num_iter}


def app_llr_qam(y: torch.Tensor, no: float, qm: int) -> torch.Tensor:
    """Exact APP LLRs of Gray square QAM, ``[..., n * qm]``: :func:`semcom.link.demap_fast.demap_qam_app`
    (equal to Sionna's ``Demapper("app", "qam", qm)``, which the link's APP mode uses)."""
    from semcom.link.demap_fast import demap_qam_app

    return demap_qam_app(y, no, qm)


# ------------------------------------------------------------------------------ fitting
@dataclass(frozen=True)
class ProbitFit:
    """``BLER(x) = Q((x - mu) / sigma)`` fitted to binomial points; ``x10`` and its standard error."""

    mu: float
    sigma: float
    x10: float
    se10: float

    def bler(self, snr_db: Any) -> np.ndarray:
        from scipy.special import ndtr

        return ndtr(-(np.asarray(snr_db, dtype=np.float64) - self.mu) / self.sigma)


def fit_probit(points: list[tuple[float, int, int]]) -> ProbitFit:
    """Binomial maximum-likelihood probit fit to ``[(snr_db, trials, errors), ...]``.

    ``se10`` is ``sqrt(g^T I^-1 g)`` with ``I`` the Fisher information of ``(mu, sigma)`` at the
    fit and ``g = (1, Z10)`` the gradient of ``x10 = mu + Z10 sigma``; it is ``inf`` when the points
    do not determine the curve (e.g. only 0 % and 100 % points).
    """
    from scipy.optimize import minimize
    from scipy.special import log_ndtr, ndtr

    x = np.array([p[0] for p in points], dtype=np.float64)
    n = np.array([p[1] for p in points], dtype=np.float64)
    e = np.array([p[2] for p in points], dtype=np.float64)
    if len(x) == 0 or n.sum() == 0:
        raise LinkError("fit_probit needs at least one point with trials")

    def nll(theta):
        t = (x - theta[0]) / math.exp(theta[1])
        return -float(np.sum(e * log_ndtr(-t) + (n - e) * log_ndtr(t)))

    # start: the 50 % point between the last point above and the first below 50 %
    rate = e / np.maximum(n, 1)
    hi = x[rate >= 0.5]
    lo = x[rate < 0.5]
    mu0 = 0.5 * ((hi.max() if hi.size else x.min()) + (lo.min() if lo.size else x.max()))
    best = None
    for s0 in (0.05, 0.3, 1.0):
        r = minimize(nll, np.array([mu0, math.log(s0)]), method="L-BFGS-B",
                     bounds=[(x.min() - 20, x.max() + 20), tuple(math.log(b) for b in _SIGMA_BOUNDS)])
        if best is None or r.fun < best.fun:
            best = r
    mu, sigma = float(best.x[0]), float(math.exp(best.x[1]))
    t = (x - mu) / sigma
    p = np.clip(ndtr(-t), 1e-12, 1 - 1e-12)
    phi = np.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)
    grad = np.stack([phi / sigma, phi * t / sigma])  # dp/dmu, dp/dsigma
    w = n / (p * (1 - p))
    info = (grad * w) @ grad.T
    g = np.array([1.0, Z10])
    try:
        var = float(g @ np.linalg.solve(info, g))
    except np.linalg.LinAlgError:
        var = math.inf
    se = math.sqrt(var) if math.isfinite(var) and var > 0 else math.inf
    return ProbitFit(mu, sigma, mu + Z10 * sigma, se)


def _shannon_guess(mcs: MCS, cb_size: int) -> tuple[float, float]:
    """A first guess of the 10 % point (capacity plus a length-dependent gap) and a step, dB."""
    x_cap = 10 * math.log10(2 ** mcs.spectral_efficiency - 1)
    return x_cap + 1.0 + 10.0 / math.sqrt(cb_size), 0.5 + 5.0 / math.sqrt(cb_size)


def measure_curve(sim: CodeBlockSimulator, mcs: MCS, k_tb: int, *, seed: int, se_target: float = 0.025,
                  min_errors: int = 60, max_cbs: int = 40_000, max_bits: float = 30e6, max_errors: int = 150,
                  start_db: float | None = None) -> dict:
    """Measure one BLER curve near its 10 % point (see the module docstring for the procedure).

    Args:
        sim: the code-block simulator.
        mcs, k_tb: the MCS and the TB payload (its layout fixes ``K'`` and ``E``).
        seed: seed of every random draw of this curve.
        se_target: stop once the 10 % point's standard error is at most this (dB) and the points
            in the waterfall (fitted BLER 1-60 %) hold at least ``min_errors`` failed code blocks
            (so that the binomial and Fisher approximations behind ``se10`` hold).
        max_cbs, max_bits: budget (code blocks, and code blocks x ``K'``): stop when either is spent.
        max_errors: a batch stops early after this many failed code blocks.
        start_db: first SNR tried (default: a capacity-based guess).

    Returns:
        a JSON-able dict: layout (``cb_size``, ``cw_lengths``, ``base_graph``, ``k_tb``, ``tbs``),
        ``points`` ``[[snr_db, code blocks, failed], ...]`` sorted by SNR, the fit (``mu``,
        ``sigma``, ``snr10``, ``se10``), ``num_cbs`` and ``converged`` (``se10 <= se_target``).
    """
    run = _CurveRun(sim, mcs, k_tb, seed, max_cbs, max_bits)
    x, step = run.guess
    run.bracket(x if start_db is None else float(start_db), step)
    run.bisect()
    fit = run.refine(se_target, min_errors, max_errors)
    pts, lay = run.pts, run.layout
    return {
        "qm": mcs.modulation_order, "r1024": round(mcs.code_rate * 1024 * 2) / 2, "k_tb": int(k_tb),
        "tbs": int(lay.tbs), "num_cb_per_tb": int(lay.num_cb), "cb_size": run.kp,
        "cw_lengths": sorted(set(int(c) for c in lay.cw_lengths)), "base_graph": int(lay.base_graph),
        "seed": int(seed), "points": [[s, n, e] for s, n, e in _points(pts)],
        "mu": round(fit.mu, 4), "sigma": round(fit.sigma, 4), "snr10": round(fit.x10, 4),
        "se10": round(fit.se10, 4) if math.isfinite(fit.se10) else None,
        "num_cbs": run.total(), "waterfall_errors": _waterfall_errors(pts, fit),
        "converged": bool(fit.se10 <= se_target and _waterfall_errors(pts, fit) >= min_errors),
    }


class _CurveRun:
    """:func:`measure_curve`'s state: the simulated points ``{snr: [code blocks, failed]}`` of one
    curve, one generator for all its draws, the batch size ``n0`` and the code-block budget."""

    def __init__(self, sim: CodeBlockSimulator, mcs: MCS, k_tb: int, seed: int, max_cbs: int, max_bits: float) -> None:
        self.sim, self.mcs, self.k_tb = sim, mcs, k_tb
        self.layout = sim.layout(mcs, k_tb)
        self.kp = kp = int(self.layout.cb_size)
        self.gen = torch.Generator().manual_seed(int(seed))
        self.guess = _shannon_guess(mcs, kp)
        self.n0 = int(min(400, max(24, math.ceil(30_000 / kp))))
        self.max_cbs = int(min(max_cbs, max(4 * self.n0, max_bits / kp)))
        self.pts: dict[float, list[int]] = {}

    def sim_at(self, snr: float, num: int) -> None:
        snr = round(float(snr), 2)
        n, e = self.sim.run(self.mcs, self.k_tb, snr, num, self.gen)
        acc = self.pts.setdefault(snr, [0, 0])
        acc[0] += n
        acc[1] += e

    def total(self) -> int:
        return sum(v[0] for v in self.pts.values())

    def bracket(self, x: float, step: float) -> None:
        """1. One point at or above 10 % BLER and one below it, stepping from ``x`` by a growing step."""
        pts = self.pts
        for _ in range(40):
            self.sim_at(x, self.n0)
            above = [s for s, (n, e) in pts.items() if e >= 0.1 * n]
            below = [s for s, (n, e) in pts.items() if e < 0.1 * n]
            if above and below and min(above) < max(below):  # some pair brackets it (noise may cross others)
                return
            rate = pts[round(x, 2)][1] / pts[round(x, 2)][0]
            x += step if rate >= 0.1 else -step
            step = min(3.0, step * 1.5)
            if not -30.0 <= x <= 60.0:
                raise LinkError(f"cannot bracket the 10 % BLER point of {self.mcs}, K' = {self.kp}")

    def bisect(self) -> None:
        """2. Bisect the bracket down to about the waterfall's width."""
        pts = self.pts
        width = 0.2 + 2.0 / math.sqrt(self.kp)
        for _ in range(12):
            top = max(s for s, (n, e) in pts.items() if e < 0.1 * n)
            a = max(s for s, (n, e) in pts.items() if e >= 0.1 * n and s < top)
            b = min((s for s, (n, e) in pts.items() if e < 0.1 * n and s > a), default=None)
            if b is None or b - a <= width:
                return
            self.sim_at(0.5 * (a + b), self.n0)

    def refine(self, se_target: float, min_errors: int, max_errors: int) -> ProbitFit:
        """3. Refine at the fitted 10 %, 30 % and 3 % points until the 10 % point is known well
        enough or the budget is spent; returns the last fit."""
        pts, n0 = self.pts, self.n0
        targets = (0.1, 0.3, 0.03)
        fit = fit_probit(_points(pts))
        for rnd in range(200):
            if (fit.se10 <= se_target and _waterfall_errors(pts, fit) >= min_errors) or self.total() >= self.max_cbs:
                break
            p = targets[rnd % 3]
            z = -_ndtri(p)
            sx = min(max(fit.mu + z * fit.sigma, min(pts) - 1.0), max(pts) + 1.0)
            n_done = self.total()
            need = n_done * ((fit.se10 / se_target) ** 2 - 1.0) if math.isfinite(fit.se10) else 4 * n0
            need = max(need, (min_errors - _waterfall_errors(pts, fit)) / p)
            num = int(min(max(n0, need / 2), 16 * n0, self.max_cbs - n_done, math.ceil(max_errors / p)))
            self.sim_at(sx, max(1, num))
            fit = fit_probit(_points(pts))
        return fit


def _waterfall_errors(pts: dict[float, list[int]], fit: ProbitFit) -> int:
    """Failed code blocks at the points whose fitted BLER lies in [1 %, 60 %]."""
    p = fit.bler(np.array(list(pts)))
    return int(sum(v[1] for v, q in zip(pts.values(), p) if 0.01 <= q <= 0.6))


def _points(pts: dict[float, list[int]]) -> list[tuple[float, int, int]]:
    return sorted((s, v[0], v[1]) for s, v in pts.items())


def _ndtri(p: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(p))


# ------------------------------------------------------------------------------ lookup
class BLERTables:
    """Probit curves per ``(Qm, R)`` and code-block size, with the lookup of the module docstring.

    Build with :func:`load_tables` (the committed file) or ``BLERTables(data)`` from a dict in the
    file's format (``{"format": FORMAT, "curves": [...], ...}``; a curve without ``cw_lengths``
    is taken at ``E = K' / R``).
    """

    def __init__(self, data: dict) -> None:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise LinkError(f"not a semcom BLER table file (format {FORMAT!r} expected)")
        by_mcs: dict[tuple[int, float], list[tuple[int, int, float, float, float]]] = {}
        for c in data.get("curves", []):
            try:
                key = (int(c["qm"]), float(c["r1024"]))
                k = int(c["cb_size"])
                e = float(np.mean(c["cw_lengths"])) if c.get("cw_lengths") else k * 1024 / key[1]
                row = (k, int(c["base_graph"]), float(c["mu"]), float(c["sigma"]), k / e)
            except (KeyError, TypeError, ValueError, ZeroDivisionError):
                raise LinkError(f"malformed BLER table curve: {str(c)[:200]}") from None
            if not (math.isfinite(row[2]) and row[3] > 0 and k > 0 and 0 < row[4] < 1):
                raise LinkError(f"BLER table curve {key} K'={k} has no valid fit")
            by_mcs.setdefault(key, []).append(row)
        if not by_mcs:
            raise LinkError("the BLER table file holds no curves")
        self._curves = {k: sorted(v) for k, v in by_mcs.items()}
        self._memo: dict[tuple, tuple[float, float]] = {}  # (mcs, K', base graph, E) -> (mu, sigma)
        self.data = data

    @property
    def rows(self) -> list[tuple[int, float]]:
        """The ``(Qm, R x 1024)`` rows that have curves."""
        return sorted(self._curves)

    def sizes(self, qm: int, r1024: float) -> list[int]:
        """Grid code-block sizes of one row."""
        return [c[0] for c in self._curves.get((qm, r1024), [])]

    def _row_params(self, key, cb_size: float, bg: int, repeats: bool) -> tuple[float, float, float]:
        """``(mu, sigma, code-block rate)`` of one row at one size: linear in ``log K'`` among the
        row's curves of base graph ``bg`` (all curves if it has none), clamped to the end sizes.
        Curves of code blocks on base graph 1 below rate 1/3 (bit repetition: R = 308/1024 in the
        standard's layout, :func:`grid_tb`) serve only code blocks that repeat so themselves
        (``repeats``); every other lookup reads the row as it did before they were measured."""
        row = self._curves[key] if repeats else [c for c in self._curves[key] if not _bg1_repeating(c)]
        curves = [c for c in row if c[1] == bg] or row
        lc = np.log([c[0] for c in curves])
        z = math.log(cb_size)
        return tuple(float(np.interp(z, lc, [c[i] for c in curves])) for i in (2, 3, 4))

    def params(self, mcs: MCS, cb_size: Any, base_graph: Any = None, cw_length: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """``(mu, sigma)`` in dB for code blocks of ``cb_size`` bits (arrays, broadcast).

        Between the rows of the MCS's modulation the parameters are interpolated linearly in the
        code rate: the MCS's ``R`` against the rows' ``R``, or, when ``cw_length`` (the code
        block's rate-matched length ``E``) is given, the code block's own rate ``K' / E`` against
        the rows' code-block rates at that size (which follows the TBS quantisation of short blocks).
        A code block whose layout (``K'``, base graph, ``E``: given, or from :func:`layout_hint`)
        belief propagation can never decode (:func:`semcom.link.decodability.bp_decodable`) gets
        ``mu = inf`` (``sigma = 1``): BLER 1 at every SNR.
        """
        qm = mcs.modulation_order
        cbs = np.asarray(cb_size, dtype=np.float64)
        if cbs.size and not (np.all(np.isfinite(cbs)) and cbs.min() >= 1):
            raise LinkError("code-block sizes must be positive")
        bg = np.full(cbs.shape, -1) if base_graph is None else np.broadcast_to(np.asarray(base_graph), cbs.shape)
        e = np.zeros(cbs.shape) if cw_length is None else np.broadcast_to(np.asarray(cw_length, dtype=np.float64), cbs.shape)
        keys = sorted(k for k in self._curves if k[0] == qm)
        if not keys:
            raise LinkError(f"semcom's BLER tables have no {mcs.modulation} curves (use tables='sionna')")
        mu = np.empty(cbs.shape)
        sigma = np.empty(cbs.shape)
        flat = np.stack([cbs.reshape(-1), np.asarray(bg).reshape(-1).astype(np.float64), e.reshape(-1)], axis=-1)
        uniq, inv = np.unique(flat, axis=0, return_inverse=True)
        res = np.array([self._params_memo(keys, mcs, float(k), int(g), float(ee)) for k, g, ee in uniq])
        mu.reshape(-1)[:] = res[inv.reshape(-1), 0]
        sigma.reshape(-1)[:] = res[inv.reshape(-1), 1]
        return mu, sigma

    def _params_memo(self, keys, mcs: MCS, cb_size: float, bg: int, e: float) -> tuple[float, float]:
        """:meth:`_params_one`, memoised (a pure function of the tables; link adaptation asks for the
        same code blocks at every SNR)."""
        key = (mcs, cb_size, bg, e)
        got = self._memo.get(key)
        if got is None:
            if len(self._memo) >= 65536:
                self._memo.clear()
            got = self._memo[key] = self._params_one(keys, mcs, cb_size, bg, e)
        return got

    def _params_one(self, keys, mcs: MCS, cb_size: float, bg: int, e: float) -> tuple[float, float]:
        if bg < 0 or e <= 0:  # not given: the link's own layout of a TB with such code blocks, if any
            hint = layout_hint(mcs, int(cb_size))
            if bg < 0:
                bg = hint[0] if hint else int(infer_base_graph(np.array([cb_size]), mcs)[0])
            if e <= 0 and hint:
                e = hint[1]
        if e > 0 and _bp_undecodable(cb_size, bg, e):
            return math.inf, 1.0
        repeats = e > 0 and bg1_below_mother_rate(bg, cb_size / e)
        rows = np.array([self._row_params(k, cb_size, bg, repeats) for k in keys])  # [rows, (mu, sigma, rate)]
        if e is None or e <= 0:
            xs, xq = np.array([k[1] for k in keys]), mcs.code_rate * 1024
        else:
            xs, xq = rows[:, 2], cb_size / e
        order = np.argsort(xs, kind="stable")
        xs, rows = xs[order], rows[order]
        return float(np.interp(xq, xs, rows[:, 0])), float(np.interp(xq, xs, rows[:, 1]))

    def bler(self, mcs: MCS, cb_size: Any, snr_db: Any, base_graph: Any = None, cw_length: Any = None) -> np.ndarray:
        """Code-block error probability at ``snr_db`` (Es/N0 dB), broadcast over sizes and SNRs."""
        from scipy.special import ndtr

        x = np.asarray(snr_db, dtype=np.float64)
        cbs = np.broadcast_to(np.asarray(cb_size, dtype=np.float64), np.broadcast_shapes(np.shape(cb_size), x.shape))
        bg = None if base_graph is None else np.broadcast_to(np.asarray(base_graph), cbs.shape)
        e = None if cw_length is None else np.broadcast_to(np.asarray(cw_length), cbs.shape)
        mu, sigma = self.params(mcs, cbs, bg, e)
        return ndtr(-(np.broadcast_to(x, cbs.shape) - mu) / sigma)

    def snr_at(self, mcs: MCS, cb_size: int, bler: float = 0.1, base_graph: int | None = None,
               cw_length: int | None = None) -> float:
        """The SNR (dB) at which a code block of ``cb_size`` bits reaches ``bler``."""
        if not 0.0 < bler < 1.0:
            raise LinkError(f"bler must lie in (0, 1), got {bler!r}")
        mu, sigma = self.params(mcs, np.array([cb_size]), None if base_graph is None else np.array([base_graph]),
                                None if cw_length is None else np.array([cw_length]))
        return float(mu[0] - _ndtri(bler) * sigma[0])


def _bg1_repeating(curve: tuple[int, int, float, float, float]) -> bool:
    """Whether a row curve ``(K', base graph, mu, sigma, K'/E)`` is of code blocks on base graph 1
    below its mother rate 1/3."""
    return bg1_below_mother_rate(curve[1], curve[4])


def _bp_undecodable(cb_size: float, bg: int, e: float) -> bool:
    """Whether belief propagation can never decode a code block of ``K' = cb_size`` bits on base graph
    ``bg`` rate-matched to ``E = e`` bits (:func:`semcom.link.decodability.bp_decodable`); ``False``
    when that is not a layout of the link (non-integer ``K'`` or ``E``, rate ``K'/E`` above the
    encoder's 0.95, where the curves are only extrapolated, or no 5G LDPC code of that size)."""
    from semcom.link.decodability import bp_decodable

    if bg not in (1, 2) or cb_size != int(cb_size) or e != int(e) or 20 * cb_size > 19 * e:
        return False
    try:
        return not bp_decodable(int(cb_size), int(e), int(bg))
    except LinkError:
        return False


@lru_cache(maxsize=4096)
def layout_hint(mcs: MCS, cb_size: int) -> tuple[int, int] | None:
    """``(base graph, E)`` of code blocks of ``cb_size`` bits in the link's layout of a TB of one or
    two such code blocks at ``mcs`` (``None`` when no such TB exists): what a lookup that is not
    told the code block's base graph and rate-matched length assumes."""
    from semcom.link.layout import tb_layout

    for k_tb in (cb_size - 16, cb_size - 24, 2 * (cb_size - 24) - 24):
        if k_tb < 1:
            continue
        try:
            lay = tb_layout(k_tb, mcs)
        except LinkError:
            continue
        if lay.cb_size == cb_size:
            return int(lay.base_graph), int(lay.cw_lengths[0])
    return None


def infer_base_graph(cb_size: np.ndarray, mcs: MCS) -> np.ndarray:
    """The LDPC base graph of code blocks of ``cb_size`` bits at ``mcs`` (the layout's rule, with the
    code-block rate estimated as ``K' / ((K' - CRC) / R)``), for lookups that do not give it."""
    r = mcs.code_rate
    crc = np.where(cb_size > 3840, 24.0, 16.0)
    r_cb = r * cb_size / np.maximum(cb_size - crc, 1.0)
    bg2 = (cb_size <= 292) | ((cb_size <= 3824) & (r_cb <= 0.67)) | (r_cb <= 0.25)
    return np.where(bg2, 2, 1)


@lru_cache(maxsize=4)
def _load(path: str) -> BLERTables:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise LinkError(f"cannot read the BLER table file {path}: {exc}") from None
    return BLERTables(data)


def load_tables(path: str | Path | None = None) -> BLERTables:
    """The BLER tables in ``path`` (default: the committed :data:`TABLE_FILE`), cached per path."""
    return _load(str(TABLE_FILE if path is None else path))
