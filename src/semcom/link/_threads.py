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
    """Call ``kernel(*make_args(a, b))`` for every ``(a, b)`` of ``bounds`` on ``threads`` threads.

    The calling thread works too: it and ``threads - 1`` helpers from the pool take the parts one
    at a time from a shared queue until none is left, then the caller waits only for the helpers
    that have started (a helper still queued is cancelled). So a helper that wakes late (on a VM
    an idle core can take a millisecond and more) costs nothing: the caller has done its parts
    meanwhile, and the call is never slower than on one thread by more than the hand-over. The
    kernels write disjoint rows, so which thread runs a part does not change the result.

    Runs inline with one part, one thread, or when called from a pool worker (a nested call
    waiting on the pool it occupies could deadlock).
    """
    if len(bounds) <= 1 or threads <= 1 or threading.current_thread().name.startswith(_PREFIX):
        for a, b in bounds:
            kernel(*make_args(a, b))
        return
    todo = iter(bounds)  # next() on a list iterator is atomic under the GIL: each part is taken once

    def work() -> None:
        for a, b in todo:
            kernel(*make_args(a, b))

    pool = _pool(threads - 1)
    helpers = [pool.submit(work) for _ in range(min(threads, len(bounds)) - 1)]
    try:
        work()
    finally:
        for _ in todo:  # on an error: the helpers stop after their current part
            pass
        errors = [e for e in (None if fut.cancel() else fut.exception() for fut in helpers) if e is not None]
    if errors:
        raise errors[0]
