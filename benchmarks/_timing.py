"""Timing shared by the benchmark scripts of this folder (run as ``python benchmarks/<script>.py``,
which puts this folder on the import path)."""

from __future__ import annotations

import statistics
import time


def times(fn, repeat: int) -> dict:
    """Call ``fn`` once to warm up (compile or load cached kernels), then ``repeat`` times: the
    minimum and median wall time in milliseconds."""
    fn()
    elapsed = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        elapsed.append(time.perf_counter() - t0)
    return {"min_ms": 1e3 * min(elapsed), "median_ms": 1e3 * statistics.median(elapsed), "repeat": repeat}
