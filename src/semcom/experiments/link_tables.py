"""semcom's code-block BLER tables: generate them with the bit-true link, or check them (``semcom link tables``).

``semcom link tables`` measures one BLER curve per MCS row of 38.214 tables 1 and 2 (every row;
those below rate 1/5, sent by bit repetition, through the link simulator whatever ``--simulator``
says, as the direct simulator's Sionna encoder refuses them) and grid code-block size (:data:`semcom.link.tables.SIZE_TARGETS`) with
:func:`semcom.link.tables.measure_curve` on the process pool (``--workers``) or a Dask cluster
(``--cluster``), and writes ``<out>/bler_tables.json`` with provenance (command, commit, seeds,
code blocks per point). It writes the file after every group of curves, so an interrupted run
keeps what it measured, and ``--resume`` measures only the curves the file lacks (the grid points earlier runs listed as failed
or undecodable and this run does not try again stay listed).
``--out src/semcom/link/data`` regenerates the committed tables.

Grid points whose code blocks belief propagation can never decode (:mod:`semcom.link.decodability`)
are not simulated: they are listed in the provenance's ``undecodable`` list with the reason (the
lookup gives them BLER 1). ``semcom link tables --classify --tables FILE`` moves such points of an
existing file's ``failed`` list there (no simulation).

``semcom link tables --heldout`` measures the bit-true 10 % point for MCSs and code-block sizes
that are not on the grid and compares it with the table link's (``<out>/bler_tables_heldout.json``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from semcom import cliargs
from semcom.errors import ConfigError, InputError, LinkError
from semcom.experiments.executor import map_tasks
from semcom.experiments.results import provenance, to_jsonable
from semcom.utils import from_dict

TABLE_NAME = "bler_tables.json"
HELDOUT_NAME = "bler_tables_heldout.json"
DEFAULT_OUT = "results/link_tables"

#: (MCS spec, target code-block size): off-grid rates (``Qm:R``) and table rows at off-grid sizes.
#: How code blocks are simulated (``--simulator``): names -> classes of :mod:`semcom.link.tables`.
SIMULATORS = {"direct": "DirectCodeBlockSimulator", "link": "LinkCodeBlockSimulator"}

HELDOUT_CASES: tuple[tuple[str, int], ...] = (
    ("2:1/2", 1500), ("2:1/2", 8232), ("2:0.28", 700), ("2:0.4", 3000), ("4:0.6", 700), ("4:0.6", 5000),
    ("6:0.7", 7000), ("6:0.75", 2000), ("8:0.8", 1200), ("8:0.9", 6000),
    ("idx5", 150), ("idx13", 2000), ("idx14", 4500), ("idx24", 450), ("idx9", 8000), ("idx27", 3000),
    ("idx0", 500), ("idx1", 2000), ("2:0.13", 1200), ("2:0.17", 3000),  # below rate 1/5: bit repetition
    ("idx4", 5000), ("idx4", 7000),  # base graph 1 below rate 1/3: bit repetition (bg1_repetition=True)
)


@dataclasses.dataclass
class TablesConfig:
    """What ``semcom link tables`` measures. ``mcs``: table rows as ``"Qm:R1024"`` keys (``None``:
    all rows of 38.214 tables 1 and 2); ``sizes``: target code-block sizes; ``se_target``:
    standard error of each 10 % point (dB); ``min_errors``, ``max_cbs``, ``max_bits``: see
    :func:`semcom.link.tables.measure_curve`; ``num_iter``: decoder iterations; ``simulator``:
    ``"direct"`` (code blocks through the link's blocks, :class:`~semcom.link.tables.DirectCodeBlockSimulator`)
    or ``"link"`` (whole transport blocks through the bit-true link's default chain,
    :class:`~semcom.link.tables.LinkCodeBlockSimulator`; slower while its demapper is Sionna's)."""

    mcs: list[str] | None = None
    sizes: list[int] = dataclasses.field(default_factory=list)
    se_target: float = 0.025
    min_errors: int = 60
    max_cbs: int = 40_000
    max_bits: float = 30e6
    num_iter: int = 20
    simulator: str = "direct"
    seed: int = 0

    def __post_init__(self) -> None:
        from semcom.link.tables import SIZE_TARGETS

        if not self.sizes:
            self.sizes = list(SIZE_TARGETS)
        if any(isinstance(s, bool) or not isinstance(s, int) or not 40 <= s <= 8448 for s in self.sizes):
            raise ConfigError(f"sizes must be code-block sizes (ints) in [40, 8448], got {self.sizes!r}"[:300])
        if not (isinstance(self.se_target, (int, float)) and 0.001 <= self.se_target <= 1.0):
            raise ConfigError(f"se_target must lie in [0.001, 1] dB, got {self.se_target!r}")
        for name, lo, hi in (("min_errors", 1, 10**6), ("max_cbs", 10, 10**7), ("num_iter", 1, 100),
                             ("seed", 0, cliargs.MAX_SEED)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ConfigError(f"{name} must be an int in [{lo}, {hi}], got {v!r}")
        if isinstance(self.max_bits, bool) or not isinstance(self.max_bits, (int, float)) or not 1e3 <= self.max_bits <= 1e10:
            raise ConfigError(f"max_bits must be a number in [1e3, 1e10], got {self.max_bits!r}")
        if self.simulator not in SIMULATORS:
            raise ConfigError(f"simulator must be one of {sorted(SIMULATORS)}, got {self.simulator!r}")
        self.mcs = [row_key(m) for m in self.mcs] if self.mcs is not None else None


def row_key(spec) -> str:
    """A table row's key ``"Qm:R1024"`` from a key, ``"idxN"`` (table 1), ``"t2idxN"`` (table 2)
    or ``"Qm:R"``; a rate that is not a supported row of 38.214 tables 1 or 2 is an InputError."""
    from semcom.link.mcs import MCS
    from semcom.link.tables import curve_key, table_rows
    from semcom.errors import LinkError

    s = str(spec).strip()
    try:
        if s.lower().startswith("t2idx"):
            m = MCS.from_table(cliargs.parse_int(s[5:], what=f"MCS {s!r}: index"), 2)
        elif s.count(":") == 1 and _number(s.split(":")[1]) > 1:
            q, r = s.split(":")
            m = MCS.from_rate(int(q), float(r) / 1024)
        else:
            m = cliargs.parse_mcs(s)
    except (ValueError, LinkError) as exc:
        raise InputError(f"MCS {s!r}: {exc}") from None
    key = (m.modulation_order, round(m.code_rate * 2048) / 2)
    if key not in table_rows():
        raise InputError(f"MCS {s!r} is not a supported row of 38.214 tables 1 or 2 "
                         f"(give 'idxN', 't2idxN' or 'Qm:R1024', e.g. 2:679)")
    return curve_key(*key)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _task_seed(seed: int, key: str, target: int) -> int:
    qm, r = key.split(":")
    return (seed * 1_000_003 + int(qm) * 100_003 + int(float(r) * 2) * 1009 + target) % cliargs.MAX_SEED


def make_tasks(cfg: TablesConfig) -> list[dict]:
    """One task per (row, grid code block); sizes in the order given, rows inside, duplicates
    (two targets that reach the same ``K'``) dropped, as are 3800-bit targets on the same base
    graph as the 3900-bit one (they are only there to pin the base-graph change)."""
    from semcom.link.mcs import MCS
    from semcom.link.tables import curve_key, grid_tb, table_rows

    keys = cfg.mcs or [curve_key(*r) for r in table_rows()]
    tasks, seen = [], set()
    for target in cfg.sizes:
        for key in keys:
            qm, r = key.split(":")
            mcs = MCS.from_rate(int(qm), float(r) / 1024)
            k_tb, lay = grid_tb(mcs, target)
            if target == 3800 and grid_tb(mcs, 3900)[1].base_graph == lay.base_graph:
                continue
            if (key, lay.cb_size) in seen:
                continue
            seen.add((key, lay.cb_size))
            tasks.append(dict(key=key, target=target, k_tb=k_tb, cb_size=lay.cb_size,
                              seed=_task_seed(cfg.seed, key, target), se_target=cfg.se_target,
                              min_errors=cfg.min_errors, max_cbs=cfg.max_cbs, max_bits=cfg.max_bits,
                              num_iter=cfg.num_iter, simulator=simulator_for(cfg.simulator, mcs, lay)))
    return tasks


def simulator_for(name: str, mcs, lay=None) -> str:
    """The simulator of a grid point: ``name``, except that rows below rate 1/5 and TB layouts on base
    graph 1 below rate 1/3 (``lay``; both repeat bits, which Sionna's encoder in the direct simulator
    refuses) go through the link (``"link"``)."""
    from semcom.link.layout import repeats_on_bg1
    from semcom.link.mcs import SIONNA_MIN_CODE_RATE

    repeats = mcs.code_rate <= SIONNA_MIN_CODE_RATE or (lay is not None and repeats_on_bg1(lay))
    return "link" if name == "direct" and repeats else name


def make_simulator(name: str, num_iter: int):
    """The code-block simulator called ``name`` (:data:`SIMULATORS`)."""
    from semcom.link import tables

    return getattr(tables, SIMULATORS[name])(num_iter=num_iter)


def run_task(task: dict) -> dict:
    """Measure one curve (module-level, picklable: the executor's unit of work)."""
    import torch

    from semcom.link.mcs import MCS
    from semcom.link.tables import measure_curve

    torch.set_num_threads(1)
    qm, r = task["key"].split(":")
    mcs = MCS.from_rate(int(qm), float(r) / 1024)
    sim = make_simulator(task["simulator"], task["num_iter"])
    why = undecodable_reason(sim.layout(mcs, task["k_tb"]))
    if why:  # no waterfall to bracket: the lookup gives such code blocks BLER 1
        return {"undecodable": why, **{k: task[k] for k in ("key", "target", "k_tb", "seed")}}
    t0 = time.perf_counter()
    try:
        out = measure_curve(sim, mcs, task["k_tb"], seed=task["seed"],
                            se_target=task["se_target"], min_errors=task["min_errors"], max_cbs=task["max_cbs"],
                            max_bits=task["max_bits"])
    except LinkError as exc:  # one curve that cannot be measured does not stop the others
        return {"failed": str(exc), **{k: task[k] for k in ("key", "target", "k_tb", "seed")}}
    out["target"] = task["target"]
    out["simulator"] = task["simulator"]
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def undecodable_reason(lay) -> str | None:
    """Why belief propagation can never decode the code blocks of a TB layout (``None`` when it can):
    :func:`semcom.link.decodability.peel` of each rate-matched length."""
    from semcom.link.decodability import peel

    for e in sorted(set(lay.cw_lengths)):
        p = peel(int(lay.cb_size), int(e), int(lay.base_graph))
        if not p.decodable:
            return (f"belief propagation cannot decode K'={lay.cb_size}, E={e}, base graph {p.base_graph} at any SNR: "
                    f"erasure peeling leaves {p.unresolved} of the {2 * p.z} punctured information bits unresolved "
                    "(a stopping set; semcom.link.decodability)")
    return None


def classify(path: Path, argv: Sequence[str] | None = None) -> dict:
    """Move the ``failed`` grid points of the table file ``path`` whose layout is BP-undecodable to its
    provenance's ``undecodable`` list, with the reason (no simulation); returns the file's dict."""
    from semcom.experiments.results import git_commit
    from semcom.link.layout import plan_payload
    from semcom.link.mcs import MCS

    try:
        data = json.loads(Path(path).read_text())
        prov = data["provenance"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"--classify: cannot read the table file {path}: {exc}") from None
    still = []
    for f in prov.get("failed", []):
        qm, r = str(f["key"]).split(":")
        lay = plan_payload(int(f["k_tb"]), MCS.from_rate(int(qm), float(r) / 1024), int(f["k_tb"]), True).tbs[0]
        why = undecodable_reason(lay)
        if why:
            prov.setdefault("undecodable", []).append({"undecodable": why, "bracket_failure": f["failed"],
                                                       **{k: f[k] for k in ("key", "target", "k_tb", "seed")}})
        else:
            still.append(f)
    prov["failed"] = still
    prov["classified"] = {"command": "semcom link tables" + ("" if not argv else " " + " ".join(argv)),
                          "git_commit": git_commit(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    _write(Path(path), data)
    return data


def _header(cfg: TablesConfig, argv: Sequence[str] | None, started: str) -> dict:
    from semcom.link.tables import FORMAT

    prov = provenance(cfg, seed=cfg.seed)
    prov["command"] = "semcom link tables" + ("" if not argv else " " + " ".join(argv))
    prov["started"] = started
    return {
        "format": FORMAT,
        "convention": "code-block error rate versus Es/N0 (dB) over AWGN, one curve per (Qm, R x 1024) and "
                      "code-block size K' (CRC included); BLER(x) = Q((x - mu) / sigma); snr10 = mu + 1.2816 sigma; "
                      "points = [snr_db, code blocks, failed]",
        "simulator": make_simulator(cfg.simulator, cfg.num_iter).describe(),
        "provenance": prov,
        "curves": [],
    }


def _write(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(to_jsonable(data), separators=(",", ":")) + "\n")
    os.replace(tmp, path)


def run(cfg: TablesConfig, out: Path, *, workers: int = 1, cluster: str | None = None, progress: bool = True,
        resume: bool = False, argv: Sequence[str] | None = None) -> dict:
    """Measure every curve of ``cfg`` the table file ``out / bler_tables.json`` lacks (all of them
    unless ``resume``), writing the file after every group of curves; returns the file's dict."""
    path = Path(out) / TABLE_NAME
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    data = _header(cfg, argv, started)
    prev = None
    if resume and path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--resume: cannot read {path}: {exc}") from None
        data["curves"] = list(old.get("curves", []))
        for c in data["curves"]:  # curves of files that named the simulator once, in the header
            c.setdefault("simulator", "link" if "bittrue link" in str(old.get("simulator")) else None)
        prev = dict(old["provenance"], simulator=old.get("simulator")) if "provenance" in old else None
        data["runs"] = list(old.get("runs", [])) + ([prev] if prev else [])
    done = {(curve_key_of(c), c["k_tb"]) for c in data["curves"]}
    tasks = [t for t in make_tasks(cfg) if (t["key"], t["k_tb"]) not in done]
    if resume and prev:  # grid points listed by earlier runs and not tried again stay listed
        again = {(t["key"], t["k_tb"]) for t in tasks}
        for name in ("failed", "undecodable"):
            data["provenance"][name] = [f for f in prev.get(name, []) if (f["key"], f["k_tb"]) not in again]
    group = max(4, 4 * max(1, workers or os.cpu_count() or 1))
    t0 = time.perf_counter()
    for i in range(0, len(tasks), group):
        part = tasks[i:i + group]
        done_part = map_tasks(run_task, part, workers=workers, cluster=cluster,
                              desc=f"BLER curves {i + 1}-{i + len(part)} of {len(tasks)}", progress=progress)
        data["curves"].extend(c for c in done_part if "failed" not in c and "undecodable" not in c)
        data["provenance"].setdefault("failed", []).extend(c for c in done_part if "failed" in c)
        data["provenance"].setdefault("undecodable", []).extend(c for c in done_part if "undecodable" in c)
        data["provenance"]["seconds"] = round(time.perf_counter() - t0, 1)
        data["provenance"]["load_average"] = list(os.getloadavg())
        _write(path, data)
        if progress:
            print(f"{i + len(part)}/{len(tasks)} curves measured ({time.perf_counter() - t0:.0f} s), wrote {path}",
                  file=sys.stderr)
    data["curves"].sort(key=lambda c: (c["qm"], c["r1024"], c["cb_size"]))
    data["provenance"]["seconds"] = round(time.perf_counter() - t0, 1)
    _write(path, data)
    return data


def curve_key_of(c: dict) -> str:
    from semcom.link.tables import curve_key

    return curve_key(c["qm"], c["r1024"])


# ------------------------------------------------------------------------------ held-out check
def heldout_task(task: dict) -> dict:
    """Bit-true curve of one held-out case (module-level for the executor)."""
    import torch

    from semcom.link.tables import LinkCodeBlockSimulator, grid_tb, measure_curve

    torch.set_num_threads(1)
    mcs = cliargs.parse_mcs(task["mcs"])
    k_tb, _ = grid_tb(mcs, task["target"])
    out = measure_curve(LinkCodeBlockSimulator(num_iter=task["num_iter"]), mcs, k_tb, seed=task["seed"],
                        se_target=task["se_target"], min_errors=task["min_errors"], max_cbs=task["max_cbs"],
                        max_bits=task["max_bits"])
    out.update(mcs=task["mcs"], target=task["target"], code_rate=mcs.code_rate)
    return out


def table_link_snr10(mcs, k_tb: int, tables_path: str | None = None, tables: str = "semcom") -> float:
    """The table link's 10 % point for the code blocks of a ``k_tb``-bit TB in the standard's layout
    (as :func:`~semcom.link.tables.grid_tb`), by bisection on its CBLER."""
    from semcom.link import BLERTableLink

    link = BLERTableLink(mcs, max_tb_bits=k_tb, tables=tables, table_file=tables_path, bg1_repetition=True)
    plan = link.plan(k_tb)
    cb, bg, e = plan.cb_sizes[0], plan.tbs[0].base_graph, plan.tbs[0].cw_lengths[0]
    kw = {} if tables == "sionna" else {"base_graph": bg, "cw_length": e}
    lo, hi = -20.0, 60.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if link.cbler_at(mid, cb, **kw) > 0.1 else (lo, mid)
    return 0.5 * (lo + hi)


def run_heldout(cfg: TablesConfig, out: Path, *, workers: int = 1, cluster: str | None = None,
                progress: bool = True, resume: bool = False, tables_path: str | None = None,
                argv: Sequence[str] | None = None, cases_spec: Sequence[tuple[str, int]] = HELDOUT_CASES) -> dict:
    """Bit-true 10 % points of ``cases_spec`` (default :data:`HELDOUT_CASES`) against the table
    link's (ours and Sionna's); with ``resume`` the bit-true curves already in the output file are
    reused. The bit-true curves are written before the comparison."""
    path = Path(out) / HELDOUT_NAME
    old, runs = {}, []
    if resume and path.exists():
        try:
            prev = json.loads(path.read_text())
            old = {(c["mcs"], c["target"]): c for c in prev["cases"]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"--resume: cannot read {path}: {exc}") from None
        runs = list(prev.get("runs", [])) + ([prev["provenance"]] if "provenance" in prev else [])
    tasks = [dict(mcs=m, target=t, seed=_task_seed(cfg.seed + 17, "0:0", t) + i, se_target=cfg.se_target,
                  min_errors=cfg.min_errors, max_cbs=cfg.max_cbs, max_bits=cfg.max_bits, num_iter=cfg.num_iter)
             for i, (m, t) in enumerate(cases_spec) if (m, t) not in old]
    t0 = time.perf_counter()
    new = map_tasks(heldout_task, tasks, workers=workers, cluster=cluster, desc="held-out curves", progress=progress)
    cases = [old.get((m, t)) or next(c for c in new if (c["mcs"], c["target"]) == (m, t)) for m, t in cases_spec]
    path.write_text(json.dumps(to_jsonable({"cases": cases, "provenance": _heldout_provenance(cfg, argv, t0),
                                             "runs": runs}), indent=1) + "\n")
    from semcom.link.tables import load_tables

    tbl = load_tables(tables_path)
    for c in cases:
        mcs = cliargs.parse_mcs(c["mcs"])
        ours = table_link_snr10(mcs, c["k_tb"], tables_path)
        c["table_snr10"] = round(ours, 4)
        c["error_db"] = round(ours - c["snr10"], 4)
        try:
            c["sionna_table_snr10"] = round(table_link_snr10(mcs, c["k_tb"], tables="sionna"), 4)
            c["sionna_error_db"] = round(c["sionna_table_snr10"] - c["snr10"], 4)
        except Exception:  # noqa: BLE001 - Sionna's tables lack some rows; the comparison is optional
            c["sionna_table_snr10"] = c["sionna_error_db"] = None
    errs = [abs(c["error_db"]) for c in cases]
    prov = _heldout_provenance(cfg, argv, t0)
    data = {
        "what": "10 % code-block error point (Es/N0 dB, AWGN): bit-true link versus the table link, "
                "MCSs and code-block sizes off the table grid",
        "tables": {"file": "committed" if tables_path is None else str(tables_path),
                   "git_commit": tbl.data.get("provenance", {}).get("git_commit"), "curves": len(tbl.data["curves"])},
        "goal_db": 0.2,
        "max_abs_error_db": round(max(errs), 4) if errs else None,
        "mean_abs_error_db": round(sum(errs) / len(errs), 4) if errs else None,
        "within_goal": sum(e <= 0.2 for e in errs),
        "cases": cases,
        "provenance": prov,
        "runs": runs,
    }
    path.write_text(json.dumps(to_jsonable(data), indent=1) + "\n")
    return data


def _heldout_provenance(cfg: TablesConfig, argv, t0: float) -> dict:
    prov = provenance(cfg, seed=cfg.seed)
    prov["command"] = "semcom link tables" + ("" if not argv else " " + " ".join(argv))
    prov["seconds"] = round(time.perf_counter() - t0, 1)
    prov["load_average"] = list(os.getloadavg())
    prov["simulator"] = "link"
    return prov


# ------------------------------------------------------------------------------ command line
def _parser():
    from semcom.experiments.common import add_common_arguments

    p = cliargs.ArgumentParser(prog="semcom link tables", description=(__doc__ or "").split("\n\n")[0])
    add_common_arguments(p, default_out=DEFAULT_OUT)
    t = cliargs.typed
    p.add_argument("--mcs", type=t(_parse_rows), default=None,
                   help="table rows to measure: comma-separated 'idxN' (38.214 table 1), 't2idxN' (table 2) "
                        "or 'Qm:R1024' (default: every row of both tables)")
    p.add_argument("--sizes", type=t(_parse_sizes), default=None,
                   help="comma-separated target code-block sizes K' in 40..8448 (default: the grid of semcom.link.tables)")
    p.add_argument("--se-target", type=t(cliargs.parse_float, what="se target", lo=0.001, hi=1.0), default=None,
                   help="standard error of each 10 %% point in dB, 0.001..1 (default 0.025: 95 %% within +-0.05 dB)")
    p.add_argument("--max-cbs", type=t(cliargs.parse_int, what="code blocks", lo=10, hi=10_000_000), default=None,
                   help="most code blocks per curve (default 40000)")
    p.add_argument("--simulator", choices=sorted(SIMULATORS), default=None,
                   help="direct: code blocks through the link's blocks (default, fast); link: TBs through the "
                        "bit-true link's default chain")
    p.add_argument("--resume", action="store_true", help="keep the curves already in the output file, measure the rest")
    p.add_argument("--quick", action="store_true", help="three rows at three sizes, se 0.05 dB (a smoke test)")
    p.add_argument("--heldout", action="store_true",
                   help="instead: compare the table link with the bit-true link off the grid (bler_tables_heldout.json)")
    p.add_argument("--tables", type=t(cliargs.parse_existing_file, what="table file"), default=None,
                   help="with --heldout: the table file to check (default: the committed one); with --classify: "
                        "the table file to update")
    p.add_argument("--classify", action="store_true",
                   help="instead: move the failed grid points of a table file (--tables) that belief propagation "
                        "can never decode to its provenance's 'undecodable' list (seconds, no simulation)")
    return p


def _parse_rows(text: str) -> list[str]:
    items = [s.strip() for s in str(text).split(",")]
    if not str(text).strip() or any(not s for s in items) or len(items) > cliargs.MAX_POINTS:
        raise cliargs.UsageError(f"MCS list {text!r} must hold 1 to {cliargs.MAX_POINTS} comma-separated rows")
    keys = [row_key(s) for s in items]
    if len(set(keys)) != len(keys):
        raise cliargs.UsageError(f"MCS list {text!r} repeats a row")
    return keys


def _parse_sizes(text: str) -> list[int]:
    vals = [cliargs.parse_int(s.strip(), what="code-block size", lo=40, hi=8448) for s in str(text).split(",")]
    if len(set(vals)) != len(vals) or len(vals) > cliargs.MAX_POINTS:
        raise cliargs.UsageError(f"sizes {text!r} repeat a value or hold more than {cliargs.MAX_POINTS}")
    return vals


def config_from_args(args) -> TablesConfig:
    """The ``--config`` file with the given options written over it (``--quick`` fills what is unset)."""
    from semcom.experiments.common import load_config_file

    d = load_config_file(args.config)
    d.update(cliargs.given(args, ("mcs", "sizes", "se_target", "max_cbs", "seed", "simulator")))
    if args.quick:
        d = cliargs.fill_defaults(d, {"mcs": ["2:679", "4:490", "6:772"], "sizes": [100, 1000, 8448],
                                      "se_target": 0.05})
    try:
        return from_dict(TablesConfig, d)
    except InputError as exc:
        raise ConfigError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """``semcom link tables [--heldout] [options]`` (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.classify:
        cliargs.check_exclusive(("--classify", True), ("--heldout", args.heldout))
        if args.tables is None:
            raise cliargs.UsageError("--classify needs --tables FILE (the table file to update)")
        data = classify(Path(args.tables), argv=argv)
        und = data["provenance"].get("undecodable", [])
        print(f"{len(und)} grid points BP-undecodable, {len(data['provenance']['failed'])} failed; wrote {args.tables}")
        return 0
    cliargs.check_applies("--tables", args.tables is not None, args.heldout, "only --heldout and --classify read a table file")
    cliargs.check_applies("--simulator", args.simulator is not None, not args.heldout,
                          "--heldout always measures with the bit-true link")
    cfg = config_from_args(args)
    cliargs.check_common(args)
    out = Path(args.out)
    if args.heldout:
        data = run_heldout(cfg, out, workers=args.workers, cluster=args.cluster, progress=not args.no_progress,
                           resume=args.resume, tables_path=args.tables, argv=argv)
        print(f"{'MCS':8s} {'K':>5s} {'bit-true':>9s} {'ours':>7s} {'error':>7s} {'Sionna':>7s}")
        for c in data["cases"]:
            s = "n/a" if c["sionna_error_db"] is None else f"{c['sionna_error_db']:+.2f}"
            print(f"{c['mcs']:8s} {c['cb_size']:5d} {c['snr10']:9.2f} {c['table_snr10']:7.2f} {c['error_db']:+7.2f} {s:>7s}")
        print(f"max |error| {data['max_abs_error_db']:.2f} dB; {data['within_goal']}/{len(data['cases'])} within 0.2 dB; "
              f"wrote {out / HELDOUT_NAME}")
        return 0
    data = run(cfg, out, workers=args.workers, cluster=args.cluster, progress=not args.no_progress,
               resume=args.resume, argv=argv)
    conv = sum(bool(c["converged"]) for c in data["curves"])
    print(f"{len(data['curves'])} curves ({conv} with se10 <= {cfg.se_target} dB); wrote {out / TABLE_NAME}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(cliargs.guarded(main))
