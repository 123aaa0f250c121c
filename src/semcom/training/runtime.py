"""How a training run executes (not what it learns): device, precision, compile, data loading,
memory format, and the throughput meter. None of these is part of the config a resume is
checked against; all are recorded in the checkpoint metadata (``runtime``, ``throughput``).

Example:
    >>> opts = RunOptions(precision="bf16", workers=2)
    >>> opts.channels_last_on(torch.device("cpu"))
    False
"""

from __future__ import annotations

import dataclasses
import time

import torch

from semcom.errors import ConfigError

CHANNELS_LAST = ("auto", "on", "off")


@dataclasses.dataclass
class RunOptions:
    """Execution options of :func:`semcom.training.train`.

    precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (:mod:`semcom.training.precision`).
    compile: None (eager) or a ``torch.compile`` backend name (``"inductor"``, the default of
        ``--compile``; it needs a C++ compiler on CPU and Triton on GPU; ``"eager"`` only traces).
    workers: DataLoader worker processes per rank for the image crops (0: load in the training
        process). Pinned memory is used when the device is CUDA.
    channels_last: ``"auto"`` (channels-last memory format on CUDA with bf16/fp16, where the
        tensor-core convolutions want it; on CPU it is not faster for these small networks),
        ``"on"`` or ``"off"``.
    cache_dir: decoded-image cache of ``--train-images`` (:class:`semcom.training.data.FolderCrops`).
    """

    precision: str = "fp32"
    compile: str | None = None
    workers: int = 0
    channels_last: str = "auto"
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ConfigError(f"workers must be an int >= 0, got {self.workers!r}")
        if self.channels_last not in CHANNELS_LAST:
            raise ConfigError(f"channels_last must be one of {CHANNELS_LAST}, got {self.channels_last!r}")
        if self.compile is not None and not isinstance(self.compile, str):
            raise ConfigError(f"compile must be None or a torch.compile backend name, got {self.compile!r}")

    def channels_last_on(self, device: torch.device) -> bool:
        if self.channels_last == "auto":
            return device.type == "cuda" and self.precision != "fp32"
        return self.channels_last == "on"


def resolve_device(device: str) -> torch.device:
    """``torch.device(device)`` after checking it can hold a tensor here (ConfigError otherwise)."""
    try:
        dev = torch.device(device)
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError, TypeError) as exc:
        raise ConfigError(f"device {device!r} is not usable here: {exc}") from None
    return dev


def compiled(module: torch.nn.Module, backend: str | None) -> torch.nn.Module:
    """``torch.compile(module, backend=...)``, or ``module`` when ``backend`` is None.

    Compilation happens at the first forward pass; a backend that cannot work here (no C++
    compiler for inductor on CPU, no Triton on GPU) fails there with torch's message.
    """
    if backend is None:
        return module
    try:
        return torch.compile(module, backend=backend)
    except (RuntimeError, ValueError) as exc:  # an unknown backend name
        raise ConfigError(f"torch.compile(backend={backend!r}) is not available: {exc}") from None


class Throughput:
    """Training images per second, timed around the training steps only (evaluation, checkpoint
    writing and the first ``skip`` steps (warm-up, compilation) excluded).

    ``tick(images)`` after each step; :attr:`images_per_s` over the counted steps;
    :meth:`interval` the rate since its previous call (for the log).
    """

    def __init__(self, skip: int = 1) -> None:
        self.skip, self.steps, self.images, self.seconds = skip, 0, 0, 0.0
        self._t = time.perf_counter()
        self._int_images, self._int_seconds = 0, 0.0

    def start(self) -> None:
        self._t = time.perf_counter()

    def tick(self, images: int) -> None:
        dt = time.perf_counter() - self._t
        self.steps += 1
        if self.steps > self.skip:
            self.images += images
            self.seconds += dt
        self._int_images += images
        self._int_seconds += dt
        self._t = time.perf_counter()

    def interval(self) -> float:
        rate = self._int_images / self._int_seconds if self._int_seconds > 0 else 0.0
        self._int_images, self._int_seconds = 0, 0.0
        return rate

    @property
    def images_per_s(self) -> float | None:
        return self.images / self.seconds if self.seconds > 0 else None
