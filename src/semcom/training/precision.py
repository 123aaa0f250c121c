"""Numeric precision of a training run: float32, or mixed precision with ``torch.autocast``.

``fp32``: everything in float32 (the committed checkpoints). ``bf16``: the network's convolutions
and matrix products run in bfloat16 under ``torch.autocast``, the weights, optimiser state, loss
and channel stay in float32 (bfloat16 has float32's exponent range, so no loss scaling is needed).
``fp16``: the same in float16, with a ``torch.amp.GradScaler`` that scales the loss so that small
gradients survive float16's narrow range and skips steps whose gradients overflowed.

The channel part of every model (complex symbols, power normalisation, noise) always runs in
float32: complex bfloat16 does not exist in torch and complex float16 lacks most operators, and
the SNR convention needs the exact unit power.

Devices: on CUDA, ``bf16`` needs a GPU that supports it (Ampere or newer:
``torch.cuda.is_bf16_supported()``), otherwise a ConfigError. On CPU, ``bf16`` autocast runs on
every CPU torch supports (fast only on CPUs with AVX512-BF16/AMX). ``fp16`` on CPU runs in this
torch (2.4 and newer have CPU float16 autocast and a CPU GradScaler) but its float16
convolutions take a slow path: measured 40 to 115 times slower than ``fp32`` on a Xeon with
AVX512-FP16 (``benchmarks/results/train_throughput.json``), so it warns
(:class:`SlowPrecisionWarning`); a torch without CPU float16 autocast gives a ConfigError naming
the precision and device, never a silent fall back to fp32.

Example:
    >>> import torch
    >>> p = Precision.resolve("bf16", torch.device("cpu"))
    >>> with p.autocast():
    ...     y = torch.nn.Linear(4, 4)(torch.ones(1, 4))
    >>> y.dtype
    torch.bfloat16
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings

import torch

from semcom.errors import ConfigError

PRECISIONS = ("fp32", "bf16", "fp16")


class SlowPrecisionWarning(UserWarning):
    """The asked precision runs on this device, but far slower than float32."""

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclasses.dataclass
class Precision:
    """A resolved precision on a device: ``autocast()`` context and ``step(loss, optimizer)``."""

    name: str
    device: torch.device
    scaler: torch.amp.GradScaler | None = None

    @classmethod
    def resolve(cls, name: str, device: torch.device) -> "Precision":
        """Check that ``name`` (one of :data:`PRECISIONS`) runs on ``device``; a ConfigError says why not."""
        if name not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {name!r}")
        if name == "fp32":
            return cls(name, device)
        dtype = _DTYPES[name]
        if device.type == "cuda" and name == "bf16" and not torch.cuda.is_bf16_supported():
            raise ConfigError("precision bf16 needs a GPU with bfloat16 support (Ampere or newer); use fp16 or fp32")
        try:
            with torch.autocast(device.type, dtype=dtype):
                torch.ones(2, 2, device=device) @ torch.ones(2, 2, device=device)
        except (RuntimeError, ValueError, AssertionError) as exc:
            raise ConfigError(f"precision {name} (torch.autocast with {dtype}) is not supported on "
                              f"{device.type} by this torch {torch.__version__}: {exc}") from None
        scaler = None
        if name == "fp16" and device.type == "cpu":
            warnings.warn("precision fp16 on CPU runs but is more than ten times slower than fp32 here "
                          "(benchmarks/results/train_throughput.json); bf16 is the CPU's mixed precision",
                          SlowPrecisionWarning, stacklevel=2)
        if name == "fp16":
            try:
                scaler = torch.amp.GradScaler(device.type)
            except (RuntimeError, ValueError, AssertionError) as exc:
                raise ConfigError(f"precision fp16 needs a gradient scaler on {device.type}, which this torch "
                                  f"{torch.__version__} lacks: {exc}") from None
        return cls(name, device, scaler)

    @property
    def dtype(self) -> torch.dtype:
        return _DTYPES.get(self.name, torch.float32)

    def autocast(self):
        """The forward pass's context: ``torch.autocast`` for bf16/fp16, nothing for fp32."""
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> bool:
        """Backward pass and optimiser step (through the grad scaler for fp16).

        Returns False when the fp16 scaler skipped the step (inf/NaN gradients; the scale is then
        lowered), True otherwise.
        """
        if self.scaler is None:
            loss.backward()
            optimizer.step()
            return True
        before = self.scaler.get_scale()
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()
        return self.scaler.get_scale() >= before

    def state_dict(self) -> dict | None:
        """The grad scaler's state (None without a scaler), saved in the resume state."""
        return None if self.scaler is None else self.scaler.state_dict()

    def load_state_dict(self, state: dict | None) -> None:
        if self.scaler is not None and isinstance(state, dict):
            self.scaler.load_state_dict(state)
