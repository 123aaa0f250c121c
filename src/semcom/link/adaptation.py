"""Link adaptation: the MCS from the error probability over the fading distribution, and outer-loop
link adaptation (OLLA) driven by ACK/NACK.

**What the transmitter knows.** The mean SNR ``snr_db`` (Es/N0 per complex symbol), the channel model
(``awgn`` or block Rayleigh fading per code block / per transport block), the receiver's CSI model and
the grant (complex channel uses). It does not know the fading coefficient ``h`` of a block: over
block Rayleigh fading the receiver has perfect (or estimated) CSI per block, the transmitter only the
mean SNR ("slow" link adaptation, no CSI feedback per block).

**Error model.** A code block of ``K'`` bits at SNR ``s`` fails with the AWGN probability
``BLER_awgn(MCS, K', s)`` of the table link (:func:`semcom.link.abstract.bler_table_lookup`, the curves
behind :class:`~semcom.link.abstract.BLERTableLink`). Over block Rayleigh fading with perfect receiver
CSI its SNR is ``|h|^2 s`` with ``|h|^2 ~ Exp(1)``, so its expected error probability is

    E_h[BLER_awgn(s + 10 log10 |h|^2)] = integral of BLER_awgn(s + x) dF(x),   F(x) = 1 - exp(-10^(x/10)),

computed on a fixed grid of the fading gain in dB (:data:`GAIN_GRID_STEP_DB` steps from
:data:`GAIN_GRID_LO_DB` to :data:`GAIN_GRID_HI_DB`; each cell weighs its exact probability mass
``F(x_i+1) - F(x_i)``, the mass below the grid goes to its first cell, where the BLER is at its
largest). The curves change on a scale of tenths of a dB, so the midpoint rule on 0.05 dB cells is
accurate to about 1e-4 (a test compares it to a Monte Carlo estimate). With estimated CSI the
receiver's SNR is ``|h_hat|^2 / (no + csi_error_var)``, ``h_hat ~ CN(0, 1 + csi_error_var)``: the same
integral at the mean SNR ``(1 + csi_error_var) / (no + csi_error_var)``. With ``csi="none"`` every
faded block fails. Fast fading (one ``h`` per symbol) has no model here (it needs an effective-SNR
mapping): it is treated as AWGN at the mean SNR, the rule used before fading-aware adaptation.

**Criterion** (:func:`select_mcs`). The unit the application loses is its payload: the separation
baseline sends one image per grant, and an image with a lost code block is damaged. So the
transmitter picks, among the 38.214 table MCSs whose payload in the grant is at least
``min_payload_bits``, the one with the highest spectral efficiency whose **payload error probability**
(the probability that at least one code block of the payload is lost, :func:`payload_error`) is at
most ``target_bler``; when none qualifies, the one with the lowest payload error probability (ties:
the lowest spectral efficiency). The payload error is ``1 - prod_j (1 - p_j)`` over the code blocks
for AWGN and for fading per code block (independent draws, ``p_j`` the expected BLER above), and
``1 - prod_TB E_h[prod_{j in TB} (1 - BLER_j(|h|^2 s))]`` for fading per transport block (the code
blocks of a TB fade together). Over AWGN this is the per-code-block target BLER rule of the table
link made exact for several code blocks (it differs from it only where one MCS's waterfall lies
within a fraction of a dB of the SNR; ``docs/link.md``).

**Outer loop** (:class:`OuterLoopLinkAdaptation`). For runs with many transmissions, an SNR offset
corrects the inner loop's model from ACK/NACK: ``offset -= delta_up`` on a NACK,
``offset += delta_up * t / (1 - t)`` on an ACK (``t`` = target error rate), the rule of 5G systems; in
steady state the NACK rate is ``t``. With ``anti_windup=True`` a NACK of a grant already sent on the
most robust MCS does not lower the offset (conditional integration: long outages do not wind it down
to its floor). :func:`simulate_olla` runs it over a link. :class:`BayesianOuterLoop` replaces the
offset and its NACK target by a posterior over the report's bias and scatter, updated per ACK/NACK
with the same BLER model; the inner loop chooses under its predictive distribution of the true SNR
(``snr_spread``), so the rule, not a target, sets the operating point (over AWGN a 10 % NACK target
loses images that a fixed MCS below the waterfall delivers; ``docs/link.md``).

**An uncertain report** (``report_std_db``, AWGN and fast fading only). A per-grant CSI report is
not the grant's SNR: it is late and noisy. With ``report_std_db = sigma > 0`` the inner loop takes the
true SNR to be ``Normal(s, sigma^2)`` in dB around ``s`` = report + offset (the offset corrects the
mean error, ``sigma`` is the scatter left) and predicts each MCS's payload error as the AWGN payload
error averaged over it, ``1 - E_x[prod_j (1 - BLER_j(s + x))]``: all code blocks of the grant see
the same SNR. The average uses the exact Normal cell masses on a grid of :data:`REPORT_GRID_STEP_DB`
(finer, ``sigma / 4``, for ``sigma`` below 0.4 dB) over ``+- REPORT_GRID_SPAN_STD sigma`` (the mass
outside goes to the end cells), as the fading integral does. Not Gauss-Hermite quadrature: the
curves fall from 1 to 0 within about 1 dB, and a handful of Hermite nodes several dB apart turns
the average into a staircase in the SNR, with a step wherever a node crosses the waterfall.
``sigma = 0`` is the plain rule, unchanged. :class:`ReportScatter` estimates ``sigma`` online from
the reports (``report_std_db="auto"`` in the separation baseline).
Over block Rayleigh fading the model already averages an unknown gain around a known mean, so a
scatter on top of it is refused.

Example::

    >>> fading = select_mcs(12.0, 16384, channel="rayleigh")      # mean SNR 12 dB, 16384 channel uses
    >>> awgn = select_mcs(12.0, 16384, channel="awgn")
    >>> awgn.mcs.spectral_efficiency > fading.mcs.spectral_efficiency, awgn.meets_target
    (True, True)
    >>> from semcom.link import plan_payload
    >>> payload_error(plan_payload(awgn.payload_bits, awgn.mcs), 12.0, channel="rayleigh") > 0.5
    True
"""

from __future__ import annotations

import collections
import dataclasses
import math
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np
import torch

from semcom.errors import LinkError
from semcom.link.base import CHANNEL_ALIASES, CHANNELS, CSI_MODELS, FADINGS, check_snr_db
from semcom.link.layout import LinkPlan, max_payload_for_channel_uses, plan_payload
from semcom.link.mcs import MCS, MCS_TABLES, SIONNA_MIN_CODE_RATE

__all__ = [
    "BayesianOuterLoop",
    "Curves",
    "GAIN_GRID_STEP_DB",
    "MCSChoice",
    "OuterLoopLinkAdaptation",
    "QualityChoice",
    "REPORT_GRID_STEP_DB",
    "check_report_std_db",
    "ReportScatter",
    "grant_options",
    "most_robust",
    "select_mcs_for_quality",
    "awgn_bler",
    "expected_bler",
    "fading_mean_snr_db",
    "payload_error",
    "select_mcs",
    "simulate_olla",
    "table_mcs_candidates",
]

#: Step, low and high edge (dB) of the grid of the fading power gain ``10 log10 |h|^2``.
GAIN_GRID_STEP_DB = 0.05
GAIN_GRID_LO_DB = -60.0
GAIN_GRID_HI_DB = 25.0
#: Step (dB) and half-width (standard deviations) of the grid of the report's error (module docstring).
REPORT_GRID_STEP_DB = 0.1
REPORT_GRID_SPAN_STD = 5.0
#: Largest report scatter (dB) accepted.
MAX_REPORT_STD_DB = 30.0


@lru_cache(maxsize=1)
def _gain_grid() -> tuple[np.ndarray, np.ndarray]:
    """Cell midpoints (dB) and probability masses of ``10 log10 |h|^2``, ``|h|^2 ~ Exp(1)``; masses sum to 1."""
    edges = np.arange(GAIN_GRID_LO_DB, GAIN_GRID_HI_DB + GAIN_GRID_STEP_DB / 2, GAIN_GRID_STEP_DB)
    cdf = -np.expm1(-(10.0 ** (edges / 10.0)))
    mass = np.diff(cdf)
    mass[0] += cdf[0]  # deep fades below the grid: counted at the first cell (the largest BLER)
    mass[-1] += 1.0 - cdf[-1]
    return (edges[1:] + edges[:-1]) / 2, mass


@lru_cache(maxsize=64)
def _report_grid(std_db: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell midpoints (dB) and ``Normal(0, std_db^2)`` masses of the true SNR minus ``report + offset``;
    the masses sum to 1 (the tails go to the end cells)."""
    from scipy.special import ndtr

    step = min(REPORT_GRID_STEP_DB, std_db / 4.0)
    half = int(math.ceil(REPORT_GRID_SPAN_STD * std_db / step))
    edges = step * np.arange(-half, half + 1, dtype=np.float64)
    cdf = ndtr(edges / std_db)
    mass = np.diff(cdf)
    mass[0] += cdf[0]
    mass[-1] += 1.0 - cdf[-1]
    return (edges[1:] + edges[:-1]) / 2, mass


def check_report_std_db(value) -> float:
    """``value`` as a report scatter in dB: a finite number in ``[0, MAX_REPORT_STD_DB]`` (else :class:`LinkError`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= MAX_REPORT_STD_DB:
        raise LinkError(f"report_std_db must be a number in [0, {MAX_REPORT_STD_DB:g}] dB, got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class Curves:
    """Which AWGN BLER curves the transmitter predicts with: those of the table link
    (:func:`semcom.link.abstract.bler_table_lookup`; ``tables``, ``interpolation``, ``table_file`` as
    :class:`~semcom.link.abstract.BLERTableLink` takes them). ``Curves.of(link)`` copies a link's."""

    tables: str = "semcom"
    interpolation: str | None = None
    table_file: str | None = None

    @classmethod
    def of(cls, link) -> "Curves":
        """The curves of ``link`` (a table link's own; any other link: the default tables)."""
        return cls(getattr(link, "tables", "semcom"), getattr(link, "interpolation", None), getattr(link, "table_file", None))


def awgn_bler(mcs: MCS, cb_size: int, snr_db: np.ndarray, curves: Curves | None = None, *,
              base_graph: int | None = None, cw_length: int | None = None) -> np.ndarray:
    """AWGN code-block error probability of the table link at ``snr_db`` (array, dB), shaped like it.

    The one place this module reads the BLER curves: :func:`semcom.link.abstract.bler_table_lookup`
    with ``curves`` (default :class:`Curves`), the code block's LDPC ``base_graph`` and rate-matched
    length ``cw_length`` when known (from the plan), so the table link's curves are used here.
    Sionna's tables have no rows below rate 1/5 (38.214 table 1 MCS 0-2, table 2 MCS 0-1): with them
    such an MCS is predicted to fail (BLER 1), so the transmitter never picks it.
    """
    from semcom.link.abstract import bler_table_lookup

    c = curves or Curves()
    snr_db = np.asarray(snr_db, dtype=np.float64)
    if c.tables == "sionna" and mcs.code_rate <= SIONNA_MIN_CODE_RATE:
        return np.ones_like(snr_db)  # Sionna's tables have no row below 1/5: such an MCS is never picked
    snr = torch.from_numpy(10.0 ** (np.clip(snr_db, -100.0, 100.0) / 10.0))
    p = bler_table_lookup(mcs, int(cb_size), snr, c.interpolation, tables=c.tables, base_graph=base_graph,
                          cw_length=cw_length, table_file=c.table_file)
    return p.double().numpy().reshape(snr_db.shape)


def _channel(channel: str) -> str:
    channel = CHANNEL_ALIASES.get(channel, channel)
    if channel not in CHANNELS:
        raise LinkError(f"channel must be one of {CHANNELS}, got {channel!r}")
    return channel


def fading_mean_snr_db(snr_db: float, csi: str = "perfect", csi_error_var: float = 0.1) -> float:
    """Mean of the receiver's post-equalisation SNR over block Rayleigh fading, in dB.

    ``"perfect"``: ``snr_db``; ``"estimated"``: ``(1 + v) / (no + v)`` with ``v = csi_error_var``
    (the SNR is then ``|h_hat|^2 / (no + v)``, ``|h_hat|^2`` exponential with mean ``1 + v``);
    ``"none"``: ``-inf`` (every faded block fails).
    """
    snr_db = check_snr_db(snr_db)
    if csi not in CSI_MODELS:
        raise LinkError(f"csi must be one of {CSI_MODELS}, got {csi!r}")
    if csi == "perfect":
        return snr_db
    if csi == "none":
        return -math.inf
    v = float(csi_error_var)
    if not math.isfinite(v) or v < 0:
        raise LinkError(f"csi_error_var must be finite and >= 0, got {csi_error_var!r}")
    return 10.0 * math.log10((1.0 + v) / (10.0 ** (-snr_db / 10.0) + v))


def expected_bler(mcs: MCS, cb_size: int, snr_db: float, *, channel: str = "awgn", csi: str = "perfect",
                  csi_error_var: float = 0.1, curves: Curves | None = None) -> float:
    """Expected error probability of one code block of ``cb_size`` bits at mean SNR ``snr_db``.

    AWGN and fast fading: ``BLER_awgn(snr_db)``; block Rayleigh (``"rayleigh"``/``"rayleigh_block"``):
    ``E_h[BLER_awgn(s + 10 log10 |h|^2)]`` with ``s`` = :func:`fading_mean_snr_db` (module docstring).

    Example::

        >>> from semcom.link import MCS
        >>> m = MCS.from_table(9)
        >>> round(expected_bler(m, 8000, 20.0), 3), expected_bler(m, 8000, 20.0, channel="rayleigh") > 0.01
        (0.0, True)
    """
    snr_db = check_snr_db(snr_db)
    if _channel(channel) != "rayleigh":
        return float(awgn_bler(mcs, cb_size, np.array([snr_db]), curves)[0])
    return 1.0 - _fading_success(mcs, ((int(cb_size), None, None),), fading_mean_snr_db(snr_db, csi, csi_error_var), curves)


def _fading_success(mcs: MCS, blocks: tuple[tuple[int, int | None, int | None], ...], mean_snr_db: float,
                    curves: Curves | None) -> float:
    """``E_h[prod_j (1 - BLER_j(mean_snr_db + 10 log10 |h|^2))]``: all ``blocks`` (``(K', base graph, E)``)
    under one fading draw pass."""
    if mean_snr_db == -math.inf:
        return 0.0
    return _grid_success(mcs, [(b, 1) for b in blocks], mean_snr_db, _gain_grid(), curves)


def _grid_success(mcs: MCS, blocks: Sequence[tuple[tuple[int, int | None, int | None], int]], snr_db: float,
                  grid: tuple[np.ndarray, np.ndarray], curves: Curves | None) -> float:
    """``sum_i mass_i prod_(block, count) (1 - BLER_block(snr_db + x_i))^count`` over ``grid = (x, mass)``:
    every block at the same SNR offset ``x_i``."""
    x, mass = grid
    ok = np.ones_like(x)
    for (size, bg, e), count in blocks:
        ok = ok * (1.0 - awgn_bler(mcs, size, snr_db + x, curves, base_graph=bg, cw_length=e)) ** count
    return float(np.clip(np.dot(ok, mass), 0.0, 1.0))


def payload_error(plan: LinkPlan, snr_db: float, *, channel: str = "awgn", fading: str = "per_cb",
                  csi: str = "perfect", csi_error_var: float = 0.1, curves: Curves | None = None,
                  blocks: Sequence[int] | None = None, report_std_db: float = 0.0,
                  snr_spread: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """Probability that at least one code block of ``plan`` (a :class:`~semcom.link.layout.LinkPlan`) is
    lost at mean SNR ``snr_db``: the payload is not delivered intact (module docstring).

    ``blocks``: only these code-block indices count (e.g. those that carry a stream shorter than the
    payload); default all. ``report_std_db``: the scatter of the true SNR around ``snr_db`` (AWGN and
    fast fading; module docstring, "An uncertain report"); 0 is the curve at ``snr_db``. ``snr_spread``:
    ``(x, mass)``, the true SNR is ``snr_db + x_i`` with probability ``mass_i`` (AWGN and fast fading;
    :meth:`BayesianOuterLoop.predictive`); it replaces ``report_std_db``.

    Example::

        >>> from semcom.link import MCS, plan_payload
        >>> plan = plan_payload(20000, MCS.from_table(9))
        >>> payload_error(plan, 4.0) < 0.01 < payload_error(plan, 4.0, channel="rayleigh")
        True
    """
    snr_db = check_snr_db(snr_db)
    channel = _channel(channel)
    if fading not in FADINGS:
        raise LinkError(f"fading must be one of {FADINGS}, got {fading!r}")
    keep = range(plan.num_cb) if blocks is None else sorted(set(int(j) for j in blocks))
    if any(not 0 <= j < plan.num_cb for j in keep):
        raise LinkError(f"blocks must be code-block indices in [0, {plan.num_cb}), got {blocks!r}")
    desc = _block_descriptions(plan)
    std = check_report_std_db(report_std_db)
    if snr_spread is not None:
        if channel == "rayleigh":
            raise LinkError("snr_spread models a per-grant report; over block Rayleigh fading use snr_spread=None")
        return 1.0 - _grid_success(plan.mcs, list(_count([desc[j] for j in keep]).items()), snr_db, snr_spread, curves)
    if std > 0.0:
        if channel == "rayleigh":
            raise LinkError("report_std_db models a per-grant report; over block Rayleigh fading the transmitter's "
                            "model already averages the unknown gain: use report_std_db=0")
        return 1.0 - _grid_success(plan.mcs, list(_count([desc[j] for j in keep]).items()), snr_db,
                                   _report_grid(std), curves)
    if channel != "rayleigh":
        p = [awgn_bler(plan.mcs, desc[j][0], np.array([snr_db]), curves, base_graph=desc[j][1], cw_length=desc[j][2])[0]
             for j in keep]
        return float(1.0 - np.prod(1.0 - np.asarray(p, dtype=np.float64)))
    # code blocks that share one fading draw: each alone (per_cb) or those of one TB (per_tb)
    groups: dict[int, list[tuple]] = {}
    for j in keep:
        groups.setdefault(j if fading == "per_cb" else plan.cb_tb[j], []).append(desc[j])
    mean_db = fading_mean_snr_db(snr_db, csi, csi_error_var)
    ok = 1.0
    for group, count in _count([tuple(g) for g in groups.values()]).items():
        ok *= _fading_success(plan.mcs, group, mean_db, curves) ** count
    return float(1.0 - ok)


def _block_descriptions(plan: LinkPlan) -> list[tuple[int, int, int]]:
    """``(K', LDPC base graph, rate-matched length E)`` of every code block of ``plan``, in order."""
    out = []
    for lay in plan.tbs:
        out.extend((lay.cb_size, lay.base_graph, int(e)) for e in lay.cw_lengths)
    return out


def _count(items: Sequence[tuple[int, ...]]) -> dict[tuple[int, ...], int]:
    out: dict[tuple[int, ...], int] = {}
    for it in items:
        out[it] = out.get(it, 0) + 1
    return out


def table_mcs_candidates(table: int = 1) -> list[MCS]:
    """The MCSs of 38.214 table ``table``, in index order (every row: rates below 1/5 are sent by bit
    repetition, see :mod:`semcom.link.chain_fast`)."""
    if isinstance(table, bool) or table not in MCS_TABLES:
        raise LinkError(f"MCS table must be 1 or 2, got {table!r}")
    return [MCS.from_table(i, table) for i in range(len(MCS_TABLES[table]))]


@dataclasses.dataclass(frozen=True)
class MCSChoice:
    """The result of :func:`select_mcs`: the MCS, the payload it carries in the grant, its payload
    error probability at the SNR used for the choice, and whether that meets the target."""

    mcs: MCS
    payload_bits: int
    error_probability: float
    meets_target: bool


def grant_options(channel_uses: int, *, mcs_table: int = 1, max_tb_bits: int | None = None,
                  min_payload_bits: int = 1, candidates: Sequence[MCS] | None = None,
                  bg1_repetition: bool = False) -> list[tuple[MCS, LinkPlan]]:
    """Every candidate MCS (default: :func:`table_mcs_candidates` of ``mcs_table``) with the plan of the
    largest payload it fits into ``channel_uses``, skipping those below ``min_payload_bits`` (cached).
    ``max_tb_bits`` and ``bg1_repetition`` are the link's layout options (:class:`~semcom.link.base.Link`)."""
    cands = tuple(candidates) if candidates is not None else tuple(table_mcs_candidates(mcs_table))
    out = _grant_options(int(channel_uses), max_tb_bits, max(int(min_payload_bits), 1), cands, bg1_repetition)
    if not out:
        raise LinkError(f"no MCS carries {min_payload_bits} payload bits in {channel_uses} channel uses")
    return list(out)


@lru_cache(maxsize=256)
def _grant_options(channel_uses: int, max_tb_bits: int | None, min_payload_bits: int,
                   candidates: tuple[MCS, ...], bg1_repetition: bool) -> tuple[tuple[MCS, LinkPlan], ...]:
    out = []
    for mcs in candidates:
        k = max_payload_for_channel_uses(channel_uses, mcs, max_tb_bits, bg1_repetition)
        if k >= min_payload_bits:
            out.append((mcs, plan_payload(k, mcs, max_tb_bits, bg1_repetition)))
    return tuple(out)


def select_mcs(snr_db: float, channel_uses: int, *, target_bler: float = 0.1, mcs_table: int = 1,
               channel: str = "awgn", fading: str = "per_cb", csi: str = "perfect", csi_error_var: float = 0.1,
               max_tb_bits: int | None = None, min_payload_bits: int = 1, offset_db: float = 0.0,
               curves: Curves | None = None, candidates: Sequence[MCS] | None = None,
               report_std_db: float = 0.0, snr_spread: tuple[np.ndarray, np.ndarray] | None = None,
               bg1_repetition: bool = False) -> MCSChoice:
    """The MCS for a grant of ``channel_uses`` at mean SNR ``snr_db`` by the target rule (module docstring).

    ``offset_db`` (an OLLA offset) is added to ``snr_db`` first. ``candidates`` defaults to
    :func:`table_mcs_candidates` of ``mcs_table``; ``max_tb_bits`` and ``bg1_repetition`` are the
    link's layout options (:func:`grant_options`).
    ``report_std_db``: the payload errors are averaged over a true SNR ``Normal(snr_db + offset_db,
    report_std_db^2)`` in dB (module docstring, "An uncertain report"); ``snr_spread`` (``(x, mass)``,
    :func:`payload_error`) over ``snr_db + offset_db + x`` instead.

    Raises:
        LinkError: ``target_bler`` outside (0, 1), bad channel options, or no candidate fits the grant.
    """
    if not 0.0 < float(target_bler) < 1.0:
        raise LinkError(f"target_bler must lie in (0, 1), got {target_bler!r}")
    snr_db = check_snr_db(check_snr_db(snr_db) + float(offset_db))
    kw = dict(channel=channel, fading=fading, csi=csi, csi_error_var=csi_error_var, curves=curves,
              report_std_db=report_std_db, snr_spread=snr_spread)
    scored = [MCSChoice(mcs, plan.k, payload_error(plan, snr_db, **kw), False)
              for mcs, plan in grant_options(channel_uses, mcs_table=mcs_table, max_tb_bits=max_tb_bits,
                                             min_payload_bits=min_payload_bits, candidates=candidates,
                                             bg1_repetition=bg1_repetition)]
    ok = [c for c in scored if c.error_probability <= target_bler]
    if ok:
        best = max(ok, key=lambda c: (c.mcs.spectral_efficiency, c.payload_bits))
        return dataclasses.replace(best, meets_target=True)
    return min(scored, key=lambda c: (c.error_probability, c.mcs.spectral_efficiency))


@dataclasses.dataclass(frozen=True)
class QualityChoice:
    """The result of :func:`select_mcs_for_quality`: the MCS, its payload, the probability that a code
    block carrying the source is lost, the source's quality when none is, and the expected quality."""

    mcs: MCS
    payload_bits: int
    error_probability: float
    quality: float
    expected_quality: float
    #: which of the payload's alternatives won, when ``quality(k)`` gives a list of them (else 0)
    alternative: int = 0


def select_mcs_for_quality(options: Sequence[tuple[MCS, LinkPlan]], quality: Callable[[int], tuple[int, float] | None],
                           error: Callable[[LinkPlan, Sequence[int]], float], fail_quality: float) -> QualityChoice | None:
    """The MCS that maximises the expected quality of one source sent in one grant.

    ``options``: ``(mcs, plan)`` pairs (:func:`grant_options`). ``quality(k)``: ``(bits, q)`` -- the
    source coded into a ``k``-bit payload fills its first ``bits`` bits and decodes, intact, at quality
    ``q`` -- or ``None`` when it cannot be sent in ``k`` bits; or a list of such ``(bits, q)`` alternatives
    (e.g. the source at several resolutions), each scored with its own blocks, the winner's index in
    ``QualityChoice.alternative``. ``error(plan, blocks)``: the probability
    that one of those code blocks is lost (:func:`payload_error` with ``blocks``). A damaged source
    is scored ``fail_quality`` (the receiver's fallback; a damaged stream that still decodes in part
    only does better), so the expected quality is ``(1 - p) q + p fail_quality``; the highest wins,
    ties to the smaller payload. Larger payloads are tried first, and a candidate is skipped when
    even the quality of the previous (larger) payload could not beat the best so far -- which assumes
    that a codec's quality does not fall when its budget grows. ``None`` when nothing can be sent.
    """
    best: QualityChoice | None = None
    q_bound = math.inf  # the quality of the smallest payload tried so far: a bound for smaller ones
    for mcs, plan in sorted(options, key=lambda o: (-o[1].k, o[0].spectral_efficiency)):
        if best is not None and fail_quality <= q_bound < math.inf:
            p0 = error(plan, [0])
            if (1.0 - p0) * q_bound + p0 * fail_quality < best.expected_quality:
                continue  # (a tie is evaluated: ties go to the smaller payload, e.g. when every MCS is hopeless)
        got = quality(plan.k)
        alternatives = [got] if isinstance(got, tuple) else list(got or [])
        if not alternatives:
            continue
        q_bound = min(q_bound, max(q for _, q in alternatives))
        for i, (bits, q) in enumerate(alternatives):
            blocks = [j for j, (a, b) in enumerate(plan.cb_ranges) if a < bits and b > a]
            p = error(plan, blocks)
            expected = (1.0 - p) * q + p * fail_quality
            if best is None or expected >= best.expected_quality:
                best = QualityChoice(mcs, plan.k, p, q, expected, i)
    return best


def _bool_flags(value, what: str) -> np.ndarray:
    """``value`` (a bool, a sequence, an array or a tensor of them) as a flat boolean array (else :class:`LinkError`)."""
    flags = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value).reshape(-1)
    if flags.dtype != np.bool_:
        raise LinkError(f"{what} must be booleans, got dtype {flags.dtype}")
    return flags


def most_robust(options: Sequence[tuple[MCS, LinkPlan]]) -> MCS:
    """The most robust MCS of ``options`` (:func:`grant_options`): the lowest spectral efficiency (ties:
    the smaller payload) -- where an outer loop's offset saturates (:class:`OuterLoopLinkAdaptation`)."""
    if not options:
        raise LinkError("no MCS options")
    return min(options, key=lambda o: (o[0].spectral_efficiency, o[1].k))[0]


class OuterLoopLinkAdaptation:
    """Outer-loop link adaptation: an SNR offset (dB) driven by ACK/NACK toward ``target_bler``.

    On a NACK the offset falls by ``delta_up_db``; on an ACK it rises by
    ``delta_down_db = delta_up_db * target_bler / (1 - target_bler)``; it stays within
    ``[min_offset_db, max_offset_db]``. In steady state ``P(NACK) delta_up = P(ACK) delta_down``, i.e.
    the NACK rate equals ``target_bler`` whatever the inner loop's model error. The inner loop chooses
    the MCS at ``snr_db + offset_db`` (:meth:`adjusted_snr_db`, ``select_mcs(..., offset_db=...)``).

    **Anti-windup** (``anti_windup=True``; default ``False``: the plain rule above, unchanged).
    Conditional integration: a NACK of a grant that was **saturated** -- sent on the most robust MCS
    the inner loop could choose for it (the lowest spectral efficiency among the grant's candidates
    that can carry the payload; the caller says so with ``update(ack, saturated=True)``) -- does not
    lower the offset. A lower offset could not have chosen a more robust MCS for that grant, so the
    NACK says the channel was in an outage, not that the offset was too high; counting it lets long
    fades run the offset down to ``min_offset_db`` (0.5 dB per NACK against ``delta_down_db`` per ACK
    back), after which the inner loop stays on the most robust MCS long after the fade. The rule does
    not ask *why* the choice was the most robust one (the report alone or the offset): in either case
    the offset cannot act on that grant. ACKs always raise the offset, and every NACK counts in
    :attr:`nacks` / :attr:`nack_rate`; :attr:`frozen` counts the NACKs that were not applied.

    **Prediction-matched steps** (``prediction_matched=True``; default ``False``). The ACK step is
    ``delta_up_db * p / (1 - p)`` with ``p`` the inner loop's predicted error of the grant it chose
    (``update(ack, predicted=p)``), instead of the fixed target's. In steady state the NACK rate then
    equals the mean predicted error: the offset corrects the model's bias and leaves the operating
    point to the inner loop (the ``quality`` rule's trade of rate against loss). Choice: ``p`` is
    clipped to ``[min_prediction, 0.5]`` -- a prediction of 0 would never raise the offset again, and
    an ACK step larger than the NACK step would make one ACK undo a NACK; a feedback given without
    a prediction steps as with ``target_bler``.

    Example::

        >>> olla = OuterLoopLinkAdaptation(target_bler=0.1, delta_up_db=0.9)
        >>> olla.update(False), abs(round(olla.update([True] * 9), 6))   # one NACK, nine ACKs: back to 0
        (-0.9, 0.0)
        >>> aw = OuterLoopLinkAdaptation(anti_windup=True)
        >>> aw.update([False, False], saturated=[True, False]), aw.frozen   # only the unsaturated NACK counts
        (-0.5, 1)
    """

    def __init__(self, target_bler: float = 0.1, delta_up_db: float = 0.5, offset_db: float = 0.0,
                 min_offset_db: float = -30.0, max_offset_db: float = 30.0, anti_windup: bool = False,
                 prediction_matched: bool = False, min_prediction: float = 0.01) -> None:
        vals = [float(v) for v in (target_bler, delta_up_db, offset_db, min_offset_db, max_offset_db)]
        if not all(math.isfinite(v) for v in vals):
            raise LinkError("OLLA parameters must be finite numbers")
        if not isinstance(prediction_matched, bool):
            raise LinkError(f"prediction_matched must be True or False, got {prediction_matched!r}")
        if isinstance(min_prediction, bool) or not isinstance(min_prediction, (int, float)) \
                or not 0.0 < float(min_prediction) <= 0.5:
            raise LinkError(f"min_prediction must lie in (0, 0.5], got {min_prediction!r}")
        self.prediction_matched = prediction_matched
        self.min_prediction = float(min_prediction)
        if not 0.0 < vals[0] < 1.0:
            raise LinkError(f"target_bler must lie in (0, 1), got {target_bler!r}")
        if vals[1] <= 0:
            raise LinkError(f"delta_up_db must be positive, got {delta_up_db!r}")
        if not vals[3] <= vals[2] <= vals[4]:
            raise LinkError("need min_offset_db <= offset_db <= max_offset_db")
        if not isinstance(anti_windup, bool):
            raise LinkError(f"anti_windup must be True or False, got {anti_windup!r}")
        self.target_bler, self.delta_up_db, self.offset_db, self.min_offset_db, self.max_offset_db = vals
        self.anti_windup = anti_windup
        self.acks = 0
        self.nacks = 0
        self.frozen = 0

    @property
    def delta_down_db(self) -> float:
        """Step up on an ACK: ``delta_up_db * target_bler / (1 - target_bler)``."""
        return self.delta_up_db * self.target_bler / (1.0 - self.target_bler)

    def update(self, ack: bool | Sequence[bool] | torch.Tensor | np.ndarray,
               saturated: bool | Sequence[bool] | torch.Tensor | np.ndarray = False,
               predicted: float | Sequence[float] | np.ndarray | None = None) -> float:
        """Apply one ACK (True) / NACK (False), or a sequence of them in order; returns the new offset.

        ``saturated``: per feedback (or one flag for all), whether its grant was sent on the most robust
        MCS the inner loop could choose; only read with ``anti_windup`` (class docstring).
        ``predicted``: per feedback (or one for all), the inner loop's predicted error of the grant;
        only read with ``prediction_matched`` (class docstring)."""
        flags = _bool_flags(ack, "ACK/NACK flags")
        sat = _per_feedback(_bool_flags(saturated, "saturated flags"), flags.size, "saturated flag")
        ups = _per_feedback(self._ack_steps(predicted), flags.size, "prediction")
        for a, s, up in zip(flags.tolist(), sat.tolist(), ups.tolist()):
            frozen = self.anti_windup and s and not a
            step = 0.0 if frozen else up if a else -self.delta_up_db
            self.offset_db = min(max(self.offset_db + step, self.min_offset_db), self.max_offset_db)
            self.acks += int(a)
            self.nacks += int(not a)
            self.frozen += int(frozen)
        return self.offset_db

    def _ack_steps(self, predicted) -> np.ndarray:
        """The ACK step per feedback: the target's, or from the clipped predictions (class docstring)."""
        if not self.prediction_matched or predicted is None:
            return np.array([self.delta_down_db])
        p = np.atleast_1d(np.asarray(predicted, dtype=np.float64)).reshape(-1)
        if not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
            raise LinkError("predicted errors must be probabilities in [0, 1]")
        p = np.clip(p, self.min_prediction, 0.5)
        return self.delta_up_db * p / (1.0 - p)

    def adjusted_snr_db(self, snr_db: float) -> float:
        """The SNR the inner loop uses: ``snr_db + offset_db``."""
        return check_snr_db(snr_db) + self.offset_db

    @property
    def nack_rate(self) -> float:
        """NACKs / feedbacks so far (0 before any feedback)."""
        n = self.acks + self.nacks
        return self.nacks / n if n else 0.0


def _per_feedback(values: np.ndarray, n: int, what: str) -> np.ndarray:
    """``values`` with one entry per feedback: a single value repeated ``n`` times, else exactly ``n``."""
    if values.size == 1:
        return np.repeat(values, n)
    if values.size != n:
        raise LinkError(f"need one {what} per ACK/NACK (or one for all), got {values.size} for {n}")
    return values


class ReportScatter:
    """Online estimate of the scatter (dB) of a CSI report that is ``delay`` grants old, for the inner
    loop's ``report_std_db`` (module docstring, "An uncertain report").

    The transmitter sees only its reports ``r_t`` and knows their age ``delay``. With a report
    ``r_t = s_(t-delay) + b + n_t`` (``s`` the SNR in dB, a stationary process; ``b`` a bias; ``n_t``
    white noise of variance ``v_n``), the report's error ``r_t - s_t`` has variance ``V + v_n``,
    ``V = Var(s_t - s_(t-delay))``, and the difference of two reports ``delay`` apart,
    ``r_t - r_(t-delay) = s_(t-delay) - s_(t-2 delay) + n_t - n_(t-delay)``, has mean 0 (the bias
    cancels; OLLA corrects it) and variance ``V + 2 v_n``. **Estimator**: the root mean square of
    those differences over every grant so far (a stationary channel: no forgetting), which
    overestimates the error variance by ``v_n`` (conservative; with 1 dB of report noise and a
    scatter of 4.5 dB it reads 4.6 dB). With ``delay = 0`` the differences are 0 and the report's
    own noise cannot be seen from the reports: the estimate stays at the floor. **Floor and burn-in**:
    the estimate is at least ``floor_db`` (a report is never exact), and until ``burn_in``
    differences have been seen it is ``floor_db`` (the plain inner loop, up to the floor, rather
    than a root mean square of one or two differences).

    Example::

        >>> est = ReportScatter(delay=1, burn_in=2)
        >>> [round(est.observe(r), 3) for r in (10.0, 13.0, 10.0, 14.0)]   # differences 3, -3, 4
        [0.5, 0.5, 3.0, 3.367]
    """

    def __init__(self, delay: int, floor_db: float = 0.5, burn_in: int = 10) -> None:
        if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
            raise LinkError(f"delay must be an integer >= 0, got {delay!r}")
        if isinstance(burn_in, bool) or not isinstance(burn_in, int) or burn_in < 1:
            raise LinkError(f"burn_in must be an integer >= 1, got {burn_in!r}")
        self.floor_db = check_report_std_db(floor_db)
        self.delay, self.burn_in = delay, burn_in
        # the last ``delay + 1`` reports: the newest and the one ``delay`` grants before it
        self._reports: collections.deque[float] = collections.deque(maxlen=delay + 1)
        self._sum_sq, self.count = 0.0, 0

    def observe(self, report_db: float) -> float:
        """Record the report of the next grant; returns the estimate (:attr:`std_db`) after it."""
        r = check_snr_db(report_db)
        self._reports.append(r)  # drops the oldest once full
        if len(self._reports) > self.delay:
            self._sum_sq += (r - self._reports[0]) ** 2
            self.count += 1
        return self.std_db

    @property
    def std_db(self) -> float:
        """The current estimate (dB), within ``[floor_db, MAX_REPORT_STD_DB]``."""
        if self.count < self.burn_in:
            return self.floor_db
        return min(max(math.sqrt(self._sum_sq / self.count), self.floor_db), MAX_REPORT_STD_DB)


#: The Bayesian outer loop (:class:`BayesianOuterLoop`): step (dB) and half-width (dB) of the grid of
#: the report's bias, its scatter hypotheses (dB), the smoothing weights of its report references
#: (1: the report itself; the first ``1 / a`` reports are averaged plainly), the half-width of the scatter kernels (standard deviations).
BAYES_STEP_DB = 0.1
BAYES_BIAS_SPAN_DB = 20.0
BAYES_SCATTERS_DB = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
BAYES_SMOOTHING = (1.0, 0.05)
BAYES_KERNEL_SPAN_STD = 4.0
#: The predictive distribution's cells: its standard deviation over this, at most this many dB (:func:`_rebin`).
BAYES_REBIN_PER_STD = 15.0
BAYES_REBIN_MAX_DB = 0.5


def _normal_cells(std_db: float, step: float, span_std: float) -> np.ndarray:
    """Masses of ``Normal(0, std_db^2)`` on cells of ``step`` centred on ``k step``, ``|k step| <= span_std std``
    (the tails go to the end cells)."""
    from scipy.special import ndtr

    half = max(int(math.ceil(span_std * std_db / step)), 1)
    edges = step * (np.arange(-half, half + 2) - 0.5)
    cdf = ndtr(edges / std_db)
    mass = np.diff(cdf)
    mass[0] += cdf[0]
    mass[-1] += 1.0 - cdf[-1]
    return mass


class BayesianOuterLoop:
    """An outer loop that estimates how the CSI report errs, as a posterior, instead of steering the NACK
    rate to a fixed target (``SeparationConfig(olla_mode="bayes")``, ``semcom link olla --bayes``).

    **Why.** A NACK target fixes the operating point: over a constant channel (AWGN) the loop settles
    where 10 % of the grants fail, and for an image each loss costs 16-25 dB of PSNR while a fixed MCS
    just below the waterfall loses none (``docs/link.md``, "Over AWGN"); a low target learns slowly
    (an ACK raises the offset by ``step t / (1 - t)``). The operating point is the inner loop's job:
    the ``quality`` rule weighs what a faster MCS gains against its loss probability. The outer loop
    should only tell the inner loop what it does not know -- where the true SNR is, given the report --
    and let the rule choose.

    **Model.** The true SNR of grant ``t`` is ``s_t = ref_t - b - e_t``: ``ref_t`` a reference computed
    from the reports (the report itself, or an exponentially smoothed report: over a constant channel
    the smoothed report averages the report noise away, over fading the report itself is the better
    predictor -- which one holds is a hypothesis of the posterior), ``b`` an unknown bias and
    ``e_t ~ Normal(0, sigma^2)`` the scatter left, ``sigma`` unknown too. The posterior is a grid over
    (smoothing ``a`` in :data:`BAYES_SMOOTHING`, ``sigma`` in :data:`BAYES_SCATTERS_DB`, ``b`` in
    ``[-BAYES_BIAS_SPAN_DB, +BAYES_BIAS_SPAN_DB]`` by :data:`BAYES_STEP_DB`); prior: ``b ~
    Normal(0, prior_std_db^2)``, ``a`` and ``sigma`` uniform. The scatter is learned from the
    ACK/NACKs, not from the reports (:class:`ReportScatter` cannot tell the report's own noise from
    the channel's variation and overestimates it; over a constant channel the ACKs show that the
    smoothed report has almost no scatter).

    **Update** (:meth:`update`, per grant): the likelihood of an ACK of a payload ``plan`` under
    ``(a, sigma, b)`` is the payload's AWGN success probability averaged over the scatter,
    ``E_e[prod_j (1 - BLER_j(ref_t - b - e))]`` -- the BLER model the inner loop uses -- and of a NACK
    its complement, floored at ``floor`` (a NACK the model calls impossible is no evidence, not a
    contradiction). **Forgetting**: before each update the log posterior moves toward the log prior,
    ``log post <- (1 - forgetting) log post + forgetting log prior``, so the posterior weighs the last
    ``~1 / forgetting`` grants and can follow a bias or scatter that changes.

    **Decision** (:meth:`predictive`): the inner loop gets the posterior predictive distribution of the
    true SNR minus the report, ``(x, mass)`` (``payload_error(..., snr_spread=)``): the ``quality`` rule
    then maximises the expected quality under the posterior (expected quality is linear in the loss
    probability, so averaging the loss probability is exact); the ``target_bler`` rule compares the
    averaged payload error with its target. No anti-windup: a NACK on the most robust MCS is evidence
    like any other (about the scatter), and the grid bounds the posterior. Cost per grant: a few
    hundred curve evaluations per code-block size and reference, and a convolution per scatter.

    Example::

        >>> from semcom.link import MCS, plan_payload
        >>> loop = BayesianOuterLoop()
        >>> plan = plan_payload(20000, MCS.from_table(9))
        >>> for _ in range(20):   # reported 10 dB, MCS 9 fails: the true SNR is lower
        ...     _ = loop.update(False, plan, 10.0)
        >>> loop.offset_for(10.0) < -5.0
        True
    """

    anti_windup = False  # NACKs on the most robust MCS are evidence (class docstring)

    def __init__(self, prior_std_db: float = 6.0, forgetting: float = 0.005, floor: float = 1e-4,
                 scatters_db: Sequence[float] = BAYES_SCATTERS_DB, smoothing: Sequence[float] = BAYES_SMOOTHING) -> None:
        if not (_number(prior_std_db) and 0.0 < prior_std_db <= 100.0):
            raise LinkError(f"prior_std_db must lie in (0, 100] dB, got {prior_std_db!r}")
        if not (_number(forgetting) and 0.0 <= forgetting < 1.0):
            raise LinkError(f"forgetting must lie in [0, 1), got {forgetting!r}")
        if not (_number(floor) and 0.0 < floor < 0.5):
            raise LinkError(f"floor must lie in (0, 0.5), got {floor!r}")
        if not scatters_db or not all(_number(s) and 0.0 < s <= MAX_REPORT_STD_DB for s in scatters_db):
            raise LinkError(f"scatters_db must be numbers in (0, {MAX_REPORT_STD_DB:g}] dB, got {scatters_db!r}")
        if not smoothing or not all(_number(a) and 0.0 < a <= 1.0 for a in smoothing):
            raise LinkError(f"smoothing must be weights in (0, 1], got {smoothing!r}")
        self.forgetting, self.floor = float(forgetting), float(floor)
        self.scatters_db, self.smoothing = tuple(float(s) for s in scatters_db), tuple(float(a) for a in smoothing)
        self._nb = int(round(BAYES_BIAS_SPAN_DB / BAYES_STEP_DB))
        self.bias_db = BAYES_STEP_DB * np.arange(-self._nb, self._nb + 1)
        self._kernels = [_normal_cells(s, BAYES_STEP_DB, BAYES_KERNEL_SPAN_STD) for s in self.scatters_db]
        self._half = self._nb + max(len(k) // 2 for k in self._kernels)  # z = b + e on [-half, half] steps
        log_b = -0.5 * (self.bias_db / float(prior_std_db)) ** 2
        prior = np.broadcast_to(log_b, (len(self.smoothing), len(self.scatters_db), self.bias_db.size))
        self._log_prior = prior - _logsumexp(prior)
        self._log_post = self._log_prior.copy()
        self._refs: np.ndarray | None = None
        self.acks = self.nacks = self.frozen = self.version = 0
        self.offset_db = 0.0  # :meth:`offset_for` the last report fed back (for traces; the choice uses the predictive)

    def _references(self, report_db: float) -> np.ndarray:
        """The references after ``report_db`` (not stored: :meth:`update` stores them)."""
        r = check_snr_db(report_db)
        if self._refs is None:
            return np.full(len(self.smoothing), r)
        a = np.maximum(np.asarray(self.smoothing), 1.0 / (self.version + 1))  # the plain mean until 1 / a reports
        return (1.0 - a) * self._refs + a * r

    def posterior(self) -> np.ndarray:
        """The posterior masses, shaped (smoothing, scatter, bias)."""
        p = np.exp(self._log_post - self._log_post.max())
        return p / p.sum()

    def _z_masses(self, weights: np.ndarray) -> np.ndarray:
        """The distribution of ``z = b + e`` on ``[-half, half]`` steps from ``weights`` (scatter, bias)."""
        out = np.zeros(2 * self._half + 1)
        for w, k in zip(weights, self._kernels):
            c = np.convolve(w, k)
            lo = self._half - self._nb - len(k) // 2
            out[lo: lo + c.size] += c
        return out

    def predictive(self, report_db: float) -> tuple[np.ndarray, np.ndarray]:
        """The posterior predictive distribution of the true SNR minus ``report_db``: ``(x, mass)`` for
        ``payload_error(..., snr_spread=)`` (cells of mass below 1e-9 dropped)."""
        r = check_snr_db(report_db)
        post, refs = self.posterior(), self._references(r)
        z = BAYES_STEP_DB * np.arange(-self._half, self._half + 1)
        xs, ms = [], []
        for i, ref in enumerate(refs):
            m = self._z_masses(post[i])
            keep = m > 1e-9
            xs.append((ref - r) - z[keep])
            ms.append(m[keep])
        x, mass = np.concatenate(xs), np.concatenate(ms)
        return _rebin(x, mass / mass.sum())

    def offset_for(self, report_db: float) -> float:
        """The predictive mean of the true SNR minus ``report_db`` (dB): the loop's equivalent of an OLLA offset."""
        x, mass = self.predictive(report_db)
        return float(np.dot(x, mass))

    @property
    def scatter_db(self) -> float:
        """The posterior mean of the scatter ``sigma`` (dB)."""
        return float(np.dot(self.posterior().sum(axis=(0, 2)), self.scatters_db))

    @property
    def smoothed_weight(self) -> float:
        """The posterior mass of the smoothed references (every smoothing weight below 1)."""
        p = self.posterior().sum(axis=(1, 2))
        return float(sum(m for m, a in zip(p, self.smoothing) if a < 1.0))

    def _likelihood(self, ack: bool, plan: LinkPlan, ref: float, curves: Curves | None) -> np.ndarray:
        """``P(ack | sigma, b)`` for one reference, shaped (scatter, bias), floored (class docstring)."""
        z = BAYES_STEP_DB * np.arange(-self._half, self._half + 1)
        ok = np.ones_like(z)
        for (size, bg, e), count in _count(_block_descriptions(plan)).items():
            ok = ok * (1.0 - awgn_bler(plan.mcs, size, ref - z, curves, base_graph=bg, cw_length=e)) ** count
        rows = []
        for k in self._kernels:
            h = len(k) // 2
            seg = ok[self._half - self._nb - h: self._half + self._nb + h + 1]
            rows.append(np.convolve(seg, k[::-1], mode="valid"))
        p_ack = np.clip(np.asarray(rows), 0.0, 1.0)
        return np.maximum(p_ack if ack else 1.0 - p_ack, self.floor)

    def update(self, ack: bool, plan: LinkPlan, report_db: float, curves: Curves | None = None) -> float:
        """One grant's feedback: ``ack`` for payload ``plan`` chosen at ``report_db``; stores the
        references with this report; returns :meth:`offset_for` the report."""
        if not isinstance(ack, (bool, np.bool_)):
            raise LinkError(f"ack must be True or False, got {ack!r}")
        refs = self._references(report_db)
        lam = self.forgetting
        log_post = (1.0 - lam) * self._log_post + lam * self._log_prior
        for i, ref in enumerate(refs):
            log_post[i] += np.log(self._likelihood(bool(ack), plan, float(ref), curves))
        self._log_post = log_post - _logsumexp(log_post)
        self._refs = refs
        self.acks += int(ack)
        self.nacks += int(not ack)
        self.version += 1
        self.offset_db = self.offset_for(report_db)
        return self.offset_db

    @property
    def nack_rate(self) -> float:
        """NACKs / feedbacks so far (0 before any feedback)."""
        n = self.acks + self.nacks
        return self.nacks / n if n else 0.0


def _rebin(x: np.ndarray, mass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x, mass)`` merged into cells of ``std / BAYES_REBIN_PER_STD`` (within ``[BAYES_STEP_DB,
    BAYES_REBIN_MAX_DB]``), each at its mass-weighted mean: a wide predictive needs fewer curve
    evaluations, and averaging a curve that falls within about 1 dB over cells of a fifteenth of the
    spread changes the result by about 0.01 at most."""
    mean = float(np.dot(x, mass))
    std = math.sqrt(max(float(np.dot((x - mean) ** 2, mass)), 0.0))
    width = min(max(std / BAYES_REBIN_PER_STD, BAYES_STEP_DB), BAYES_REBIN_MAX_DB)
    cell = np.floor(x / width).astype(np.int64)
    _, idx = np.unique(cell, return_inverse=True)
    m = np.bincount(idx, weights=mass)
    xm = np.bincount(idx, weights=mass * x)
    keep = m > 0
    return xm[keep] / m[keep], m[keep]


def _number(v) -> bool:
    return isinstance(v, (int, float, np.floating)) and not isinstance(v, bool) and math.isfinite(float(v))


def _logsumexp(a: np.ndarray) -> float:
    m = float(np.max(a))
    return m + math.log(float(np.exp(a - m).sum()))


def simulate_olla(snr_db: float, channel_uses: int, num_transmissions: int, *, olla: OuterLoopLinkAdaptation,
                  channel: str = "rayleigh", fading: str = "per_tb", csi: str = "perfect", model: str = "awgn",
                  mcs_table: int = 1, max_tb_bits: int | None = None, seed: int = 0,
                  bg1_repetition: bool = False) -> dict:
    """Send ``num_transmissions`` payloads in sequence over the table link with OLLA; one ACK per payload.

    Each transmission: the inner loop picks the MCS with :func:`select_mcs` at ``snr_db + offset``,
    assuming channel ``model`` (``"awgn"``: the AWGN tables, as a 5G scheduler's inner loop does;
    or ``"fading"``: the fading-aware rule with this ``channel``); the payload (as many bits as fit
    ``channel_uses``) crosses :class:`~semcom.link.abstract.BLERTableLink` on ``channel``; the ACK is
    "every code block passed" (saturated when the MCS was the grant's most robust candidate,
    :func:`most_robust`; read by an ``anti_windup`` outer loop; the choice's predicted error is read by
    a ``prediction_matched`` one). ``max_tb_bits`` and ``bg1_repetition``: the link's layout. Returns
    per-transmission ``mcs_index``, ``ack``, ``offset_db``, ``predicted_error`` lists and the summary
    ``nack_rate``, ``goodput_bits_per_use`` (delivered payload bits per channel use).
    """
    from semcom.link.abstract import BLERTableLink

    if model not in ("awgn", "fading"):
        raise LinkError(f"model must be 'awgn' or 'fading', got {model!r}")
    gen = torch.Generator().manual_seed(int(seed))
    links: dict[MCS, BLERTableLink] = {}
    out: dict = {"mcs_index": [], "ack": [], "offset_db": [], "predicted_error": []}
    delivered = 0
    sel = dict(channel=channel, fading=fading, csi=csi) if model == "fading" else dict(channel="awgn")
    layout = dict(max_tb_bits=max_tb_bits, bg1_repetition=bg1_repetition)
    floor = most_robust(grant_options(channel_uses, mcs_table=mcs_table, **layout))
    for _ in range(int(num_transmissions)):
        choice = select_mcs(snr_db, channel_uses, target_bler=olla.target_bler, mcs_table=mcs_table,
                            offset_db=olla.offset_db, **layout, **sel)
        if choice.mcs not in links:
            links[choice.mcs] = BLERTableLink(choice.mcs, channel=channel, fading=fading, csi=csi, **layout)
        link = links[choice.mcs]
        res = link.transmit(torch.zeros(1, choice.payload_bits), snr_db, generator=gen)
        ack = bool(res.cb_ok.all())
        delivered += choice.payload_bits if ack else 0
        out["mcs_index"].append(choice.mcs.index)
        out["ack"].append(ack)
        out["predicted_error"].append(choice.error_probability)
        out["offset_db"].append(olla.update(ack, saturated=choice.mcs == floor, predicted=choice.error_probability))
    out["nack_rate"] = 1.0 - float(np.mean(out["ack"])) if out["ack"] else 0.0
    out["goodput_bits_per_use"] = delivered / max(int(num_transmissions) * int(channel_uses), 1)
    return out
