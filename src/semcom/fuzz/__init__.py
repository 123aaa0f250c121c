"""The fuzz table (``semcom fuzz``): every receive-side decoder, checkpoint loader, config parser
and CLI option fed corrupted or hostile input, with each case classified.

Checkpoints, configs, received bits and peers' messages are untrusted input (see
``docs/security.md``). For each target a valid input is built, mutated (bit flips, truncation,
extension, zeroed or random regions, header fields set to boundary values, structure-aware
changes such as a recomputed CRC or a wrong type) and handed to the decoder. Every case gets one
verdict:

* **typed error**: a :class:`semcom.errors.SemcomError` subclass was raised (the stack's
  :class:`~semcom.stack.errors.StackError` family and the KB's errors included). For the CLI: the
  command exited non-zero with a one-line ``error:`` message and no traceback.
* **fallback**: the decoder returned its documented fallback: concealment, a ``"failed"`` or
  ``"recovered"`` status, missing symbols/frames reported as such, a discarded PDU counted.
* **accepted**: the decoder reported success and either the output equals the original or the
  change cannot be detected by design (a bit flip inside a JPEG stream, a CRC miss, an analog
  symbol perturbation). For the CLI: the command returned 0 quickly.
* **crash**: any other exception (``TypeError``, ``IndexError``, ``RuntimeError``...), a worker
  killed by a native fault, or, for the CLI, a traceback or an exception escaping ``main``.
* **hang**: no verdict within the target's per-case time limit (the worker process and every
  process it started are killed; the next case runs in a fresh worker).
* **silent wrong**: the decoder reported success although the design can detect the corruption,
  or its output breaks the interface: an integrity-protected PDU delivered with other content, a
  CRC-protected message accepted with different content, a knowledge base or checkpoint accepted
  with changed content, an image with NaN or outside [0, 1], a depacketizer output that depends
  on the bits of failed code blocks, a config value of the wrong type accepted.

Cases are reproducible: case ``i`` of target ``t`` uses ``numpy.random.default_rng([seed,
crc32(t), i])``, so ``semcom fuzz --targets t --seed S`` re-runs exactly the same inputs.

Example (the CI tier)::

    semcom fuzz --quick --out /tmp/fuzz
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Sequence

from semcom.errors import ConfigError

from . import targets  # noqa: F401 - registers every target
from .core import LABELS, TARGETS, Target, Verdict, case_rng, mutate_bits, mutate_bytes, register

QUICK_CASES = 20
DEFAULT_CASES = 1000


@dataclasses.dataclass
class FuzzConfig:
    """What ``semcom fuzz`` runs.

    Attributes:
        cases: cases per target.
        targets: names of the targets (default: all registered).
        seed: base seed of every case.
        quick: CI tier (:data:`QUICK_CASES` cases per target unless ``cases`` is given).
        timeout_scale: multiplies every target's per-case time limit (slow machines).
        jobs: targets run in this many processes at once (each case is still one thread).
    """

    cases: int = DEFAULT_CASES
    targets: list[str] = dataclasses.field(default_factory=lambda: sorted(TARGETS))
    seed: int = 0
    quick: bool = False
    timeout_scale: float = 1.0
    jobs: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.cases, bool) or not isinstance(self.cases, int) or not 1 <= self.cases <= 10**7:
            raise ConfigError(f"cases must be an int in [1, 10^7], got {self.cases!r}")
        unknown = sorted(set(self.targets) - set(TARGETS))
        if unknown or not self.targets:
            raise ConfigError(f"unknown fuzz target(s) {unknown or '(none given)'}; known: {sorted(TARGETS)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative int, got {self.seed!r}")
        if not 0.1 <= float(self.timeout_scale) <= 100:
            raise ConfigError(f"timeout_scale must lie in [0.1, 100], got {self.timeout_scale!r}")
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or not 1 <= self.jobs <= 64:
            raise ConfigError(f"jobs must be an int in [1, 64], got {self.jobs!r}")


def totals(rows: dict) -> dict:
    """Column sums over the targets (``tried`` and every verdict)."""
    return {k: sum(r[k] for r in rows.values()) for k in ("tried", *LABELS)}


def _run_group(names: list[str], config: FuzzConfig, progress: bool) -> dict:
    from .runner import run_target

    rows = {}
    for name in names:
        rows[name] = r = run_target(name, config.cases, config.seed, TARGETS[name].timeout_s * config.timeout_scale)
        if progress:
            print(f"{name:>22}: " + " ".join(f"{k}={r[k]}" for k in ("tried", *LABELS)) + f" ({r['seconds']} s)",
                  file=sys.stderr, flush=True)
    return rows


def _job(names: list[str], config: FuzzConfig, progress: bool, conn) -> None:  # pragma: no cover - a child
    conn.send(_run_group(names, config, progress))
    conn.close()


def _run_jobs(config: FuzzConfig, progress: bool) -> dict:
    """Targets dealt round-robin to ``config.jobs`` processes (forked from this single thread)."""
    from .runner import _context

    ctx, jobs = _context(), []
    for j in range(config.jobs):
        names = config.targets[j::config.jobs]
        if names:
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_job, args=(names, config, progress, child))
            proc.start()
            child.close()
            jobs.append((proc, parent))
    rows = {}
    for proc, parent in jobs:
        try:
            rows.update(parent.recv())
        except EOFError:
            raise RuntimeError(f"a fuzz job failed (exit code {proc.exitcode}); run its targets with --jobs 1") from None
        finally:
            proc.join()
    return rows


def run(config: FuzzConfig | None = None, progress: bool = False):
    """Run the table; return :class:`~semcom.experiments.results.Results` named ``fuzz``."""
    from semcom.experiments.results import Results, provenance

    config = config or FuzzConfig()
    prov = provenance(config, seed=config.seed)  # the code as it was when the run started
    rows = _run_group(config.targets, config, progress) if config.jobs == 1 else _run_jobs(config, progress)
    rows = {name: rows[name] for name in config.targets}
    data = {"targets": rows, "totals": totals(rows), "columns": ["tried", *LABELS]}
    return Results("fuzz", data, prov)


def markdown(data: dict) -> str:
    """The table of a ``fuzz.json`` ``data`` block in Markdown (one row per target, then the totals)."""
    cols = ["tried", *LABELS]
    head = "| target | " + " | ".join(c.replace("_", " ") for c in cols) + " |"
    lines = [head, "|---|" + "---:|" * len(cols)]
    for name, row in data["targets"].items():
        lines.append(f"| `{name}` | " + " | ".join(str(row[c]) for c in cols) + " |")
    lines.append("| **total** | " + " | ".join(f"**{data['totals'][c]}**" for c in cols) + " |")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="semcom fuzz", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--cases", type=int, default=None, help=f"cases per target (default {DEFAULT_CASES}, --quick {QUICK_CASES})")
    p.add_argument("--targets", default=None, help="comma-separated targets (default: all): " + ",".join(sorted(TARGETS)))
    p.add_argument("--seed", type=int, default=0, help="base seed of every case")
    p.add_argument("--out", default="results/fuzz", help="folder for fuzz.json")
    p.add_argument("--quick", action="store_true", help=f"CI tier: {QUICK_CASES} cases per target")
    p.add_argument("--timeout-scale", type=float, default=1.0, help="multiply every per-case time limit")
    p.add_argument("--jobs", type=int, default=1, help="targets run in this many processes at once")
    p.add_argument("--no-progress", action="store_true", help="no per-target line on stderr")
    p.add_argument("--markdown", metavar="FUZZ_JSON", default=None,
                   help="print the table of an existing fuzz.json in Markdown and exit (runs nothing)")
    return p


def _check_writable(out: str) -> None:
    """Refuse an output folder that cannot be written before any case runs."""
    import tempfile
    from pathlib import Path

    from semcom.errors import InputError

    try:
        Path(out).mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out).close()
    except OSError as exc:
        raise InputError(f"cannot write to --out {out!r}: {exc.strerror or exc}") from None


def _print_markdown(path: str) -> int:
    from semcom.errors import InputError
    from semcom.experiments.results import Results

    try:
        print(markdown(Results.load(path).data))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a readable fuzz.json: {exc}") from None
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.markdown is not None:
        return _print_markdown(args.markdown)
    names = sorted(TARGETS) if args.targets is None else [t.strip() for t in args.targets.split(",") if t.strip()]
    cases = args.cases if args.cases is not None else (QUICK_CASES if args.quick else DEFAULT_CASES)
    config = FuzzConfig(cases=cases, targets=names, seed=args.seed, quick=args.quick, timeout_scale=args.timeout_scale,
                        jobs=args.jobs)
    _check_writable(args.out)
    res = run(config, progress=not args.no_progress)
    path = res.save(args.out)
    t = res.data["totals"]
    print(f"{path}: " + ", ".join(f"{k} {t[k]}" for k in ("tried", *LABELS)))
    return 0


__all__ = ["FuzzConfig", "run", "main", "totals", "markdown", "TARGETS", "LABELS", "Target", "Verdict", "register",
           "mutate_bits", "mutate_bytes", "case_rng"]
