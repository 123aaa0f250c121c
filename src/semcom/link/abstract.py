"""Abstracted links: the bit-true link's interface and layout, without encoding or decoding.

Both links here use exactly the TB/CB layout and channel uses of :class:`~semcom.link.nr.NRLink`
(:mod:`semcom.link.layout`) and return the same :class:`~semcom.link.result.LinkResult`; only the
per-code-block outcome is drawn from a model:

* :class:`ErasureLink`: every code block fails independently with probability ``cbler``
  (channel and SNR play no role).
* :class:`BLERTableLink`: code block ``j`` fails with probability ``BLER(MCS, K'_j, SNR_j)`` read
  from BLER tables of AWGN simulations of single 5G LDPC code blocks. ``SNR_j`` is the nominal
  SNR for AWGN and the instantaneous SNR ``|h_j|^2 * snr`` for block Rayleigh fading (``h`` drawn
  per code block or per TB exactly as the bit-true link does); with ``csi="estimated"`` it is
  ``|h_hat|^2 / (no + csi_error_var)``; with ``csi="none"`` a Rayleigh-faded block always fails
  (the receiver cannot undo the random phase). Fast fading is not modelled (it needs an
  effective-SNR mapping) and raises :class:`~semcom.errors.LinkError`.

  Tables (``tables=``): ``"semcom"`` (default) are the project's own, measured with the bit-true
  link for every MCS row of 38.214 tables 1 and 2 and code blocks up to 8448 bits
  (:mod:`semcom.link.tables`: a probit curve per MCS and size, interpolated in ``log K'``, in the
  code rate for an MCS that is not a table row, and clamped to the nearest grid size outside the
  grid; ``docs/link.md``, "BLER tables", gives the grid and the measured accuracy).
  ``"sionna"`` are the PDSCH tables that ship with Sionna (``sionna.sys.PHYAbstraction``).

  Sionna's tables sample the SNR every 1.79 dB (-5..20 dB) at code-block sizes 24, 100, 500,
  1000 and 2000 bits. For code blocks of >= 500 bits the whole waterfall falls between two
  samples (e.g. QPSK MCS 7, 1000 bits: BLER 1.0 at 0.36 dB, 0.0 at 2.14 dB), so the interpolation
  decides where the curve crosses. ``interpolation="linear"`` (their default) is linear in BLER
  between SNR samples and linear in ``log(CBS)`` between sizes; ``interpolation="sionna"`` is
  Sionna's own spline (``PHYAbstraction.get_bler``), about 1 dB optimistic at 1500 bits. Outside
  the tables the values are clamped: SNR below -5 dB / above 20 dB take the edge BLER, code
  blocks larger than 2000 bits the 2000-bit curve. An MCS that is not a table row
  (``MCS.from_rate``) uses the nearest table entry with the same modulation (by code rate).

  Sionna's tables have no rows below rate 1/5 (38.214 table 1 MCS 0-2, table 2 MCS 0-1): those MCSs
  raise :class:`~semcom.errors.LinkError` with ``tables="sionna"``.

An abstraction has no decoder output: the bits of a failed code block are delivered as random
bits (uniform, drawn from the generator), those of a passed code block exactly. A TB passes iff
all its code blocks pass.

Example::

    >>> import torch
    >>> from semcom.link import make_link
    >>> link = make_link("bler_table", mcs=9, max_tb_bits=1500)
    >>> res = link.transmit(torch.zeros(4, 3000), snr_db=10.0, generator=0)
    >>> res.cb_ok.shape, bool(res.cb_ok.all())
    (torch.Size([4, 2]), True)
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import torch

from semcom.errors import LinkError
from semcom.link.base import Link, check_snr_db, complex_normal, noise_variance, generator_or_seed
from semcom.link.layout import LinkPlan
from semcom.link.mcs import MCS
from semcom.link.result import LinkResult

__all__ = ["ErasureLink", "BLERTableLink", "bler_table_lookup", "table_curves", "INTERPOLATIONS", "TABLES"]

_PHY_ABS: dict[int, object] = {}
#: Interpolations of Sionna's tables (``tables="sionna"``).
INTERPOLATIONS = ("linear", "sionna")
#: BLER table sets: semcom's own (:mod:`semcom.link.tables`) and Sionna's PDSCH tables.
TABLES = ("semcom", "sionna")


def _phy_abstraction(table: int):
    """Sionna's PHYAbstraction loaded with the PDSCH BLER table ``table`` only (cached per process).

    Loading one table file instead of all six keeps the set-up below a second.
    """
    phy = _PHY_ABS.get(table)
    if phy is None:
        from sionna.sys import PHYAbstraction

        phy = PHYAbstraction(load_bler_tables_from=[_table_path(table)])
        _PHY_ABS[table] = phy
    return phy


def _table_path(table: int) -> str:
    import importlib.util
    import os

    spec = importlib.util.find_spec("sionna")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - sionna is a dependency
        raise LinkError("sionna is not installed; its BLER tables are needed")
    return os.path.join(list(spec.submodule_search_locations)[0], "sys", "bler_tables", f"PDSCH_table{table}.json")


@lru_cache(maxsize=64)
def table_curves(table: int, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw curves of Sionna's PDSCH BLER table: (SNR grid dB ``[S]``, code-block sizes ``[C]``, BLER ``[C, S]``)."""
    with open(_table_path(table)) as fh:
        data = json.load(fh)
    try:
        entry = data["category"]["1"]["index"][str(table)]["MCS"][str(index)]
    except KeyError:
        raise LinkError(f"Sionna's PDSCH BLER table {table} has no MCS {index}") from None
    snr = np.asarray(entry["SNR_db"], dtype=np.float64)
    sizes = sorted(entry["CBS"], key=int)
    cbs = np.asarray([int(c) for c in sizes], dtype=np.float64)
    bler = np.asarray([entry["CBS"][c]["BLER"] for c in sizes], dtype=np.float64)
    return snr, cbs, bler


def _interp_linear(table: int, index: int, cb_size: np.ndarray, snr_db: np.ndarray) -> np.ndarray:
    """BLER linear in SNR (dB) between table points, linear in log(CBS) between table sizes; clamped."""
    grid, cbs, bler = table_curves(table, index)
    x = np.clip(snr_db, grid[0], grid[-1])
    per_size = np.stack([np.interp(x, grid, b) for b in bler])  # [C, N]
    lc = np.log(cbs)
    z = np.log(np.clip(cb_size, cbs[0], cbs[-1]))
    i = np.clip(np.searchsorted(lc, z, side="right") - 1, 0, len(lc) - 2)
    t = (z - lc[i]) / (lc[i + 1] - lc[i])
    cols = np.arange(x.shape[0])
    return (1 - t) * per_size[i, cols] + t * per_size[i + 1, cols]


def _check_tables(tables: str, interpolation: str | None) -> str | None:
    """Validate ``tables`` / ``interpolation``; the interpolation to use (None for semcom's tables)."""
    if tables not in TABLES:
        raise LinkError(f"tables must be one of {TABLES}, got {tables!r}")
    if interpolation is not None and interpolation not in INTERPOLATIONS:
        raise LinkError(f"interpolation must be one of {INTERPOLATIONS} (Sionna's tables) or None, got {interpolation!r}")
    if tables == "semcom":
        if interpolation is not None:
            raise LinkError(f"interpolation={interpolation!r} applies to Sionna's tables: give tables='sionna' "
                            "(semcom's tables interpolate their fitted curves, see semcom.link.tables)")
        return None
    return interpolation or "linear"


def bler_table_lookup(mcs: MCS, cb_size: int | torch.Tensor, snr: torch.Tensor, interpolation: str | None = None, *,
                      tables: str = "semcom", base_graph: int | torch.Tensor | None = None,
                      cw_length: int | torch.Tensor | None = None, table_file: str | None = None) -> torch.Tensor:
    """Code-block error probability from the BLER tables.

    Args:
        mcs: the MCS (non-table MCS: see the module docstring).
        cb_size: LDPC information length ``K'`` of the code block(s) (CRC included), broadcast.
        snr: linear SNR (Es/N0) per code block, any shape.
        interpolation: Sionna's tables only: ``"linear"`` (default) or ``"sionna"`` (Sionna's
            ``PHYAbstraction.get_bler``, spline-interpolated).
        tables: ``"semcom"`` (default, :mod:`semcom.link.tables`) or ``"sionna"``.
        base_graph: LDPC base graph (1 or 2) of the code block(s), broadcast; semcom's tables then
            interpolate between curves of that base graph (``None``: inferred from ``K'`` and the rate).
        cw_length: rate-matched length ``E`` of the code block(s), broadcast; semcom's tables then
            interpolate between MCS rows by the code block's own rate ``K'/E`` (``None``: by the MCS's rate).
        table_file: semcom's tables from this file instead of the committed one.

    Returns:
        BLER in [0, 1], shaped like ``snr``.

    Example::

        >>> import torch
        >>> from semcom.link import MCS
        >>> p = bler_table_lookup(MCS.from_table(9), 1000, torch.tensor([0.1, 100.0]))
        >>> bool(p[0] > 0.99), bool(p[1] < 1e-3)
        (True, True)
        >>> q = bler_table_lookup(MCS.from_table(9), 1000, torch.tensor([0.1, 100.0]), tables="sionna")
        >>> bool(q[0] > 0.99), bool(q[1] < 1e-3)
        (True, True)
    """
    interpolation = _check_tables(tables, interpolation)
    snr = torch.as_tensor(snr, dtype=torch.float32).clamp_min(1e-10)
    cbs = torch.as_tensor(cb_size, dtype=torch.float32).expand(snr.shape)
    if tables == "semcom":
        from semcom.link.tables import load_tables

        snr_db = 10.0 * np.log10(snr.detach().cpu().double().numpy())
        bg = None if base_graph is None else torch.as_tensor(base_graph).expand(snr.shape).cpu().numpy()
        e = None if cw_length is None else torch.as_tensor(cw_length).expand(snr.shape).cpu().double().numpy()
        out = load_tables(table_file).bler(mcs, cbs.cpu().double().numpy(), snr_db, bg, e)
        return torch.from_numpy(np.ascontiguousarray(out)).reshape(snr.shape).clamp(0.0, 1.0).to(torch.float32)
    entry = mcs.nearest_table_entry()
    if interpolation == "sionna":
        bler = _phy_abstraction(entry.table).get_bler(entry.index, entry.table, 1, cbs.to(torch.int32), snr)
        if not bool(torch.isfinite(bler).all()):
            raise LinkError(f"Sionna's BLER tables have no entry for {entry}")
    else:
        snr_db = 10.0 * np.log10(snr.detach().cpu().double().numpy().reshape(-1))
        out = _interp_linear(entry.table, entry.index, cbs.cpu().double().numpy().reshape(-1), snr_db)
        bler = torch.from_numpy(out).reshape(snr.shape)
    return bler.clamp(0.0, 1.0).to(torch.float32)


class _AbstractLink(Link):
    """Shared transmit of the abstractions: draw per-CB failures, deliver random bits for failures."""

    def _fail_prob(self, plan: LinkPlan, b: int, snr_db: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError  # pragma: no cover

    def transmit(self, bits: torch.Tensor, snr_db: float, *, generator: int | torch.Generator | None = None,
                 seed: int | torch.Generator | None = None) -> LinkResult:
        """Send payload ``bits`` ``[..., k]`` at ``snr_db``; same generator seed -> same result."""
        generator = generator_or_seed(generator, seed)
        x, batch_shape, snr_db, gen, plan = self._prepare(bits, snr_db, generator)
        b = x.shape[0]
        p_fail, gain = self._fail_prob(plan, b, snr_db, gen)  # [B, num_cb]
        u = torch.rand(b, plan.num_cb, generator=gen)
        cb_ok = u >= p_fail
        rand_bits = torch.randint(0, 2, x.shape, generator=gen).to(torch.float32)
        counts = torch.tensor([e - s for s, e in plan.cb_ranges], dtype=torch.long)
        mask = torch.repeat_interleave(cb_ok, counts, dim=-1)
        out = torch.where(mask, x, rand_bits)
        tb_ok = torch.ones(b, plan.num_tb, dtype=torch.bool)
        cb_tb = torch.tensor(plan.cb_tb, dtype=torch.long)
        # A TB passes iff all of its code blocks pass.
        fails = torch.zeros(b, plan.num_tb).index_add_(1, cb_tb, (~cb_ok).to(torch.float32))
        tb_ok = fails == 0
        return LinkResult.from_plan(plan, batch_shape, out, cb_ok, tb_ok, snr_db, gain)


class ErasureLink(_AbstractLink):
    """Code-block erasure channel: each code block fails independently with probability ``cbler``.

    Args:
        cbler: code-block error probability in [0, 1].
        mcs, mcs_table, max_tb_bits, bg1_repetition: the layout (as :class:`~semcom.link.nr.NRLink`).
        channel, fading, csi, csi_error_var: accepted for interface compatibility, not used
            (the outcome does not depend on the channel or the SNR).
    """

    fidelity = "erasure"

    def __init__(self, mcs: MCS | int | tuple = None, *, cbler: float = None, mcs_table: int = 1,
                 max_tb_bits: int | None = None, channel: str = "awgn", fading: str = "per_cb",
                 csi: str = "perfect", csi_error_var: float = 0.1, bg1_repetition: bool = False) -> None:
        super().__init__(mcs, mcs_table=mcs_table, max_tb_bits=max_tb_bits, channel=channel, fading=fading,
                         csi=csi, csi_error_var=csi_error_var, bg1_repetition=bg1_repetition)
        try:
            cbler = float(cbler)
        except (TypeError, ValueError):
            raise LinkError(f"ErasureLink needs cbler, a probability in [0, 1]; got {cbler!r}") from None
        if not (0.0 <= cbler <= 1.0):
            raise LinkError(f"cbler must lie in [0, 1], got {cbler}")
        self.cbler_target = cbler

    def _fail_prob(self, plan, b, snr_db, gen):
        return torch.full((b, plan.num_cb), self.cbler_target), None

    def describe(self) -> dict:
        d = super().describe()
        d["cbler"] = self.cbler_target
        return d


class BLERTableLink(_AbstractLink):
    """Per-code-block errors from BLER tables (see the module docstring for the model).

    Args:
        mcs, mcs_table, max_tb_bits, channel, fading, csi, csi_error_var, bg1_repetition: as
            :class:`~semcom.link.nr.NRLink` (``channel="rayleigh_fast"`` is not supported).
        tables: ``"semcom"`` (default: the project's tables, :mod:`semcom.link.tables`) or
            ``"sionna"`` (Sionna's PDSCH tables).
        interpolation: Sionna's tables only: ``"linear"`` (default) or ``"sionna"``, see
            :func:`bler_table_lookup`.
        table_file: semcom's tables from this file instead of the committed one.
    """

    fidelity = "bler_table"

    def __init__(self, mcs: MCS | int | tuple = None, *, mcs_table: int = 1, max_tb_bits: int | None = None,
                 channel: str = "awgn", fading: str = "per_cb", csi: str = "perfect",
                 csi_error_var: float = 0.1, interpolation: str | None = None, tables: str = "semcom",
                 table_file: str | None = None, bg1_repetition: bool = False) -> None:
        super().__init__(mcs, mcs_table=mcs_table, max_tb_bits=max_tb_bits, channel=channel, fading=fading,
                         csi=csi, csi_error_var=csi_error_var, bg1_repetition=bg1_repetition)
        self.interpolation = _check_tables(tables, interpolation)
        self.tables = tables
        self.table_file = None if table_file is None else str(table_file)
        if channel == "rayleigh_fast":
            raise LinkError("BLERTableLink does not model fast fading (needs an effective-SNR mapping); "
                            "use channel='rayleigh' or the bit-true link")
        if tables == "semcom":
            from semcom.link.tables import load_tables

            load_tables(self.table_file).params(self.mcs, [1000])  # fail now if the modulation has no curves
        self.table_mcs = self.mcs.nearest_table_entry()

    def _lookup(self, cbs, snr, base_graph=None, cw_length=None) -> torch.Tensor:
        return bler_table_lookup(self.mcs, cbs, snr, self.interpolation, tables=self.tables,
                                 base_graph=base_graph, cw_length=cw_length, table_file=self.table_file)

    def _fail_prob(self, plan, b, snr_db, gen):
        snr = 10.0 ** (snr_db / 10.0)
        cbs = torch.tensor(plan.cb_sizes, dtype=torch.int32).expand(b, plan.num_cb)
        bg = torch.tensor([plan.tbs[t].base_graph for t in plan.cb_tb], dtype=torch.int32).expand(b, plan.num_cb)
        cw = torch.tensor([c for lay in plan.tbs for c in lay.cw_lengths], dtype=torch.int32).expand(b, plan.num_cb)
        h = self._block_gains(plan, b, gen)
        if h is None:
            return self._lookup(cbs, torch.full((b, plan.num_cb), snr), bg, cw), None
        gain = h.abs() ** 2
        if self.csi == "none":
            return torch.ones(b, plan.num_cb), gain
        if self.csi == "perfect":
            sinr = gain * snr
        else:
            e = complex_normal(tuple(h.shape), gen, self.csi_error_var) if self.fading == "per_cb" else \
                complex_normal((b, plan.num_tb), gen, self.csi_error_var)[:, torch.tensor(plan.cb_tb, dtype=torch.long)]
            sinr = (h + e).abs() ** 2 / (noise_variance(snr_db) + self.csi_error_var)
        return self._lookup(cbs, sinr, bg, cw), gain

    def cbler_at(self, snr_db: float, cb_size: int, *, base_graph: int | None = None,
                 cw_length: int | None = None) -> float:
        """Table BLER of one code block of ``cb_size`` bits at ``snr_db`` over AWGN. ``base_graph``
        and ``cw_length`` (its rate-matched length ``E``), when known (``plan.tbs[t]``), refine the
        lookup of semcom's tables; otherwise they follow from the size and the MCS's rate."""
        snr_db = check_snr_db(snr_db)
        return float(self._lookup(cb_size, torch.tensor([10.0 ** (snr_db / 10.0)]), base_graph, cw_length)[0])

    def describe(self) -> dict:
        d = super().describe()
        d["tables"] = self.tables
        if self.tables == "sionna":
            d["table_mcs"] = {"index": self.table_mcs.index, "table": self.table_mcs.table}
            d["interpolation"] = self.interpolation
        elif self.table_file is not None:
            d["table_file"] = self.table_file
        return d
