"""The worker threads of the compiled link kernels (chain and LDPC decoder).

One persistent pool of plain Python threads per process: the Numba kernels release the GIL, so
the pool runs their parts on several cores without an OpenMP runtime (thread safe and fork
safe: a forked child builds its own pool). A pool made per call cost two thread starts and joins
per decoder call, about as much as decoding a few code blocks at high SNR.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

_PREFIX = "semcom-link"
_POOLS: dict[str, tuple[ThreadPoolExecutor, int, int]] = {}  # prefix -> (pool, size, pid)
_POOL_LOCK = threading.Lock()


def default_threads() -> int:
    """Cores this process may run on (the kernels' default number of worker threads)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def _pool(threads: int, prefix: str = _PREFIX) -> ThreadPoolExecutor:
    """The persistent pool named ``prefix``, at least ``threads`` wide (re-created in a forked
    child, whose copy has no live threads)."""
    with _POOL_LOCK:
        pool, size, pid = _POOLS.get(prefix, (None, 0, 0))
        if pool is None or size < threads or pid != os.getpid():
            if pool is not None and pid == os.getpid():
                pool.shutdown(wait=False)
            pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=prefix)
            _POOLS[prefix] = (pool, threads, os.getpid())
        return pool


def side_pool() -> ThreadPoolExecutor:
    """One thread beside the kernels' pool (the link draws the channel's noise on it while the
    kernels encode)."""
    return _pool(1, "semcom-side")


def run_parts(kernel, bounds: list[tuple[int, int]], threads: int, make_args) -> None:
    """Call ``kernel(*make_args(a, b))`` for every ``(a, b)`` of ``bounds`` on ``threads`` workers.

    Runs inline with one part, one thread, or when called from a pool worker (a nested call
    waiting on the pool it occupies could deadlock).
    """
    if len(bounds) <= 1 or threads <= 1 or threading.current_thread().name.startswith(_PREFIX):
        for a, b in bounds:
            kernel(*make_args(a, b))
        return
    pool = _pool(threads)
    for fut in [pool.submit(kernel, *make_args(a, b)) for a, b in bounds]:
        fut.result()
