"""Data-parallel training with PyTorch's DistributedDataParallel, launched by ``torchrun`` or spawned.

Launch (see docs/training.md):

* ``torchrun --nproc-per-node N -m semcom train MODEL ...`` (one node, N GPUs or N CPU processes);
  multi-node: ``torchrun --nnodes M --nproc-per-node N --rdzv-backend c10d --rdzv-endpoint HOST:PORT``.
  Each process reads ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` / ``MASTER_PORT``
  from the environment torchrun sets.
* ``semcom train MODEL --nproc N``: the same on one node without torchrun (:func:`launch` spawns
  N processes on a free local port).

Backend: NCCL when the device is CUDA (each process takes ``cuda:LOCAL_RANK``), gloo on CPU.

The rule of the trainer (:func:`semcom.training.train`):

* ``batch_size`` in the config is the **global** batch; each of the ``world_size`` processes
  computes ``batch_size / world_size`` examples (it must divide) and DDP averages the gradients,
  so the optimiser sees the gradient of the same global batch whatever the world size. The
  learning rate therefore does not change with the world size. To train with a larger global
  batch, raise ``batch_size`` and scale ``lr`` with it yourself (linear scaling, Goyal et al.
  2017, with the cosine schedule's warm start) — the trainer never rescales silently.
* Data: example ``i`` of the crop stream is fixed by ``(seed, i)``; step ``s`` uses the global
  examples ``[p, p + batch_size)`` (``p`` the stream position) and rank ``r`` takes the ``r``-th
  slice. The position is global, so a run resumes with any world size.
* Seeds: every rank initialises the parameters from ``seed`` (and DDP broadcasts rank 0's);
  rank ``r`` draws its channel noise from a generator seeded by ``seed + 1 + r * 1_000_003`` (rank 0 is the
  single-process generator), so ranks never share noise. The noise of a world size differs from
  another's: runs with different world sizes are statistically, not bitwise, the same.
* Only rank 0 writes: ``last.pt``, ``log.jsonl``, the checkpoint and its metadata, the progress bar.
  Logged losses are averaged over ranks; the wall-time budget and the rate weight of the dual
  ascent use values averaged over ranks, so all ranks take the same decisions.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from typing import Any, Callable

import torch
import torch.distributed as dist

from semcom.errors import ConfigError

#: rank 0's noise seed is seed + 1 (the single-process one); rank r adds r times this prime
NOISE_SEED_STRIDE = 1_000_003


@dataclasses.dataclass
class DistContext:
    """This process's place in a data-parallel run (``world_size == 1``: a single process)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    initialized_here: bool = False
    comm_device: torch.device = dataclasses.field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def local_batch(self, global_batch: int) -> int:
        """Examples per rank; the global batch must split evenly (ConfigError otherwise)."""
        if global_batch % self.world_size:
            raise ConfigError(f"batch_size {global_batch} (the global batch) must be a multiple of the world size "
                              f"{self.world_size}")
        return global_batch // self.world_size

    def noise_seed(self, seed: int) -> int:
        return seed + 1 + self.rank * NOISE_SEED_STRIDE

    def mean(self, values: list[float]) -> list[float]:
        """Element-wise mean of ``values`` over ranks (identity for one process)."""
        if not self.active:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.comm_device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return (t / self.world_size).tolist()

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def close(self) -> None:
        """Destroy the process group if this context created it."""
        if self.initialized_here and dist.is_initialized():
            dist.destroy_process_group()
            self.initialized_here = False


def _env_int(name: str, default: int) -> int:
    v = os.environ.get(name)
    try:
        return default if v is None else int(v)
    except ValueError:
        raise ConfigError(f"environment variable {name}={v!r} is not an integer") from None


def setup(device: str) -> tuple[DistContext, str]:
    """Join the process group described by torchrun's environment; returns (context, this rank's device).

    Without ``WORLD_SIZE`` > 1 in the environment this is a single process: ``(DistContext(), device)``.
    With it, the process group is initialised (NCCL for CUDA, gloo for CPU), and a CUDA device
    without an index becomes ``cuda:LOCAL_RANK``.
    """
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return DistContext(), device
    rank, local = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed")
    cuda = device.startswith("cuda")
    if cuda:
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} is not usable here: no CUDA GPU")
        device = f"cuda:{local}" if device == "cuda" else device
        torch.cuda.set_device(torch.device(device))
    backend = "nccl" if cuda else "gloo"
    initialized = False
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world)
        except (RuntimeError, ValueError) as exc:
            raise ConfigError(f"cannot join the process group (rank {rank} of {world}, {backend}): {exc}") from None
        initialized = True
    comm = torch.device(device) if backend == "nccl" else torch.device("cpu")
    return DistContext(rank, world, local, backend, initialized, comm), device


def wrap(model: torch.nn.Module, ctx: DistContext, device: torch.device, find_unused: bool = False) -> torch.nn.Module:
    """``model`` in DistributedDataParallel when the run has several ranks (else unchanged).

    ``find_unused``: let DDP tolerate parameters without gradient in a step (VL-SCC's warm-up
    with random rate levels does not use the rate-allocation network).
    """
    if not ctx.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused)


def free_port() -> int:
    """A TCP port free on this host right now (for the spawned processes' rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawned(rank: int, nproc: int, port: int, target: Callable[..., Any], kwargs: dict) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(nproc), LOCAL_WORLD_SIZE=str(nproc),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if "OMP_NUM_THREADS" not in os.environ:  # as torchrun: one thread per process unless told otherwise
        torch.set_num_threads(1)
    target(**kwargs)


def launch(nproc: int, target: Callable[..., Any], kwargs: dict) -> None:
    """Run ``target(**kwargs)`` in ``nproc`` new processes forming one process group on this host.

    The processes get torchrun's environment (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR=127.0.0.1``, a free ``MASTER_PORT``), so ``target`` calls :func:`setup` as
    under torchrun. An error in any process is raised here as the same semcom error type (a
    ConfigError when it was not a semcom error), with that process's message.
    """
    import torch.multiprocessing as mp

    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ConfigError(f"nproc must be a positive int, got {nproc!r}")
    if _env_int("WORLD_SIZE", 1) > 1:
        raise ConfigError("--nproc cannot be used inside torchrun (torchrun already started the processes)")
    try:
        mp.spawn(_spawned, args=(nproc, free_port(), target, kwargs), nprocs=nproc, join=True)
    except mp.ProcessRaisedException as exc:
        raise _as_semcom_error(str(exc)) from None
    except mp.ProcessExitedException as exc:
        raise ConfigError(f"a training process died: {exc}") from None


def _as_semcom_error(text: str) -> Exception:
    """The semcom error named on the last line of a child's traceback (``module.Class: message``)."""
    import semcom.data._common as data_errors
    import semcom.errors as errors

    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else "unknown error"
    head, _, msg = last.partition(": ")
    short = head.rsplit(".", 1)[-1]
    cls = getattr(errors, short, None) or getattr(data_errors, short, None)
    if isinstance(cls, type) and issubclass(cls, errors.SemcomError):
        return cls(msg)
    return ConfigError(f"a training process failed: {last}")
