"""One executor for sweeps (SNR x method x seed): a local process pool, or a Dask cluster.

``map_tasks(fn, tasks, workers=..., cluster=...)`` returns ``[fn(t) for t in tasks]`` in order,
with a progress bar. ``fn`` must be a module-level function and each task picklable, so that the
serial run, the process pool and the Dask cluster give the same results (each task carries its
own seed).
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm


def _init_worker() -> None:  # keep each worker single-threaded: parallelism comes from the pool
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def map_tasks(
    fn: Callable[[Any], Any],
    tasks: Sequence[Any],
    *,
    workers: int | None = 1,
    cluster: str | None = None,
    desc: str = "sweep",
    progress: bool = True,
    start_method: str | None = None,
) -> list:
    """Run ``fn`` on every task; results in task order.

    Parameters
    ----------
    workers: 1 runs serially in this process; ``None`` or 0 uses one process per CPU core.
    cluster: address of a Dask scheduler (``tcp://host:8786``) or a ``distributed.Client``;
        when given, tasks are submitted there instead of a local pool. An address that cannot
        be reached within ``semcom.cliargs.CLUSTER_TIMEOUT_S`` seconds is an ``InputError``.
    start_method: the local pool's ``multiprocessing`` start method (None: the platform's default,
        ``fork`` on Linux). Sweeps whose parent process has started native threads that a forked
        child cannot inherit safely (MediaPipe's graph runners in the prt sweep) pass ``"spawn"``.
    """
    tasks = list(tasks)
    if cluster is not None:
        return _map_dask(fn, tasks, cluster, desc, progress)
    if workers is None or workers == 0:
        workers = os.cpu_count() or 1
    workers = max(1, min(int(workers), len(tasks) or 1))
    bar = tqdm(total=len(tasks), desc=desc, disable=not progress, leave=False)
    try:
        if workers == 1:
            out = []
            for t in tasks:
                out.append(fn(t))
                bar.update(1)
            return out
        results: list = [None] * len(tasks)
        import multiprocessing

        ctx = multiprocessing.get_context(start_method) if start_method else None
        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, mp_context=ctx) as pool:
            futs = {pool.submit(fn, t): i for i, t in enumerate(tasks)}
            from concurrent.futures import as_completed

            for fut in as_completed(futs):
                results[futs[fut]] = fut.result()
                bar.update(1)
        return results
    finally:
        bar.close()


def _map_dask(fn, tasks, cluster, desc, progress):
    from distributed import Client, as_completed

    own = not isinstance(cluster, Client)
    client = _connect(cluster) if own else cluster
    try:
        futs = client.map(fn, tasks, pure=False)
        index = {f.key: i for i, f in enumerate(futs)}
        results: list = [None] * len(tasks)
        bar = tqdm(total=len(tasks), desc=desc, disable=not progress, leave=False)
        for fut in as_completed(futs):
            results[index[fut.key]] = fut.result()
            bar.update(1)
        bar.close()
        return results
    finally:
        if own:
            client.close()


def _connect(address: str):
    """A client of the scheduler at ``address``, or an :class:`InputError` within
    ``CLUSTER_TIMEOUT_S`` seconds when it cannot be reached."""
    from distributed import Client

    from semcom.cliargs import CLUSTER_TIMEOUT_S
    from semcom.errors import InputError

    try:
        return Client(address, timeout=CLUSTER_TIMEOUT_S)
    except (OSError, ValueError) as exc:  # TimeoutError is an OSError; ValueError: a malformed address
        raise InputError(f"cannot connect to the Dask scheduler at {address!r} within {CLUSTER_TIMEOUT_S:g} s: "
                         f"{' '.join(str(exc).split()) or type(exc).__name__}") from None
