"""Timing shared by the benchmark scripts of this folder (run as ``python benchmarks/<script>.py``,
which puts this folder on the import path)."""

from __future__ import annotations

import statistics

from semcom.utils import wall_times


def times(fn, repeat: int) -> dict:
    """Call ``fn`` once to warm up (compile or load cached kernels), then ``repeat`` times: the
    minimum and median wall time in milliseconds."""
    elapsed = wall_times(fn, repeat)
    return {"min_ms": 1e3 * min(elapsed), "median_ms": 1e3 * statistics.median(elapsed), "repeat": repeat}
