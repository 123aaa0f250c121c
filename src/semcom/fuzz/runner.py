"""Run fuzz cases in worker processes so that a crash of native code or a hang is caught.

Each target runs in a forked worker (its own process group, one torch thread). The worker runs
``setup`` once, then its cases in order and reports every verdict through a pipe. The parent waits
at most ``timeout_s`` for each verdict: when the time runs out the case is a hang, the worker's
whole process group is killed (decoder subprocesses included) and a fresh worker continues with
the next case. A worker that dies (a segfault in a native decoder) makes its case a crash.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import tempfile
import time
import traceback
from typing import Any

from semcom.errors import SemcomError

from .core import LABELS, TARGETS, Target, Verdict, case_rng, set_scratch_dir

SETUP_TIMEOUT_S = 600.0
MAX_EXAMPLES = 5


def classify(target: Target, state: Any, seed: int, index: int) -> Verdict:
    """Run one case in this process and turn an escaping exception into a verdict."""
    rng = case_rng(seed, target.name, index)
    try:
        return target.case(state, rng)
    except SemcomError as exc:
        return Verdict("typed_error", f"{type(exc).__name__}: {str(exc)[:160]}")
    except Exception as exc:  # noqa: BLE001 - any other exception is what the table counts as a crash
        frames = traceback.extract_tb(exc.__traceback__)
        where = next((f for f in reversed(frames) if "semcom" in f.filename), frames[-1])
        return Verdict("crash", f"{type(exc).__name__}: {str(exc)[:160]} (at {os.path.basename(where.filename)}:{where.lineno})")


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when the parent dies (else it stops at its next report)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker(name: str, seed: int, start: int, stop: int, conn, scratch: str) -> None:  # pragma: no cover - a child
    os.setpgrp()  # its own process group: a hang kills the worker and every decoder it started
    _die_with_parent()
    set_scratch_dir(scratch)
    import torch

    torch.set_num_threads(1)
    target = TARGETS[name]
    try:
        state = target.setup()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which counts every case as a crash
        conn.send(("setup_error", None, f"{type(exc).__name__}: {str(exc)[:300]}"))
        os._exit(1)
    conn.send(("ready", None, None))
    for i in range(start, stop):
        if target.describe is not None:
            conn.send(("note", i, target.describe(state, case_rng(seed, name, i))))
        v = classify(target, state, seed, i)
        conn.send((i, v.label, v.note))
    conn.send(("done", None, None))
    conn.close()
    os._exit(0)  # skip atexit handlers and finalisers of state inherited from the parent


def _context() -> mp.context.BaseContext:
    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


def _kill(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.kill()
    proc.join(5)


class SetupError(RuntimeError):
    """A target could not build its valid input: the harness, not the decoder, needs fixing."""


class _Tally:
    """Counts and the first few examples of every non-benign verdict of one target."""

    def __init__(self) -> None:
        self.counts = {label: 0 for label in LABELS}
        self.examples: list[dict] = []

    def add(self, index: int, label: str, note: str) -> None:
        self.counts[label] += 1
        if label in ("crash", "hang", "silent_wrong") and sum(e["label"] == label for e in self.examples) < MAX_EXAMPLES:
            self.examples.append({"case": index, "label": label, "note": note})


def _start(ctx, name: str, seed: int, start: int, stop: int, scratch: str):
    parent, child = ctx.Pipe(duplex=False)
    # not a daemon: a CLI case may start a process pool; the parent kills the whole group anyway
    proc = ctx.Process(target=_worker, args=(name, seed, start, stop, child, scratch), daemon=False)
    proc.start()
    child.close()
    if not parent.poll(SETUP_TIMEOUT_S):
        _kill(proc)
        raise SetupError(f"setup did not finish in {SETUP_TIMEOUT_S:.0f} s")
    try:
        msg = parent.recv()
    except EOFError:
        proc.join(5)
        msg = ("setup_error", None, f"worker died in setup (exit code {proc.exitcode})")
    if msg[0] != "ready":
        _kill(proc)
        raise SetupError(msg[2])
    return proc, parent


def run_target(name: str, cases: int, seed: int, timeout_s: float | None = None) -> dict:
    """Run ``cases`` cases of target ``name``; return its row of the table (counts, seconds, examples)."""
    target = TARGETS[name]
    limit = target.timeout_s if timeout_s is None else float(timeout_s)
    tally, ctx, i, t0 = _Tally(), _context(), 0, time.perf_counter()
    if target.preload is not None:
        target.preload()
    with tempfile.TemporaryDirectory(prefix=f"semcom-fuzz-{name}-") as scratch:
        try:
            while i < cases:
                i = _run_worker(ctx, name, seed, i, cases, limit, scratch, tally)
        except SetupError as exc:  # every remaining case counts as a crash, with the reason
            tally.counts["crash"] += cases - i
            tally.examples.append({"case": i, "label": "crash", "note": f"setup failed: {exc}"})
    row = {"tried": cases, **tally.counts, "seconds": round(time.perf_counter() - t0, 1),
           "timeout_s": limit, "area": target.area, "examples": tally.examples}
    return row


def _run_worker(ctx, name: str, seed: int, i: int, cases: int, limit: float, scratch: str, tally: _Tally) -> int:
    """One worker from case ``i`` until it finishes, hangs or dies; return the next case to run."""
    proc, conn = _start(ctx, name, seed, i, cases, scratch)
    try:
        what = ""
        while i < cases:
            if not conn.poll(limit):
                tally.add(i, "hang", f"{what}: no verdict within {limit:g} s".lstrip(": "))
                return i + 1
            try:
                idx, label, note = conn.recv()
            except EOFError:  # the worker died inside the case: a crash of native code
                proc.join(5)
                tally.add(i, "crash", f"{what}: worker died (exit code {proc.exitcode})".lstrip(": "))
                return i + 1
            if idx == "note":  # the input of the case about to run
                what = note
                continue
            tally.add(idx, label, note)
            what, i = "", idx + 1
        return i
    finally:
        _kill(proc)
        conn.close()
