"""Small shared helpers: random generators, input checks, strict configs."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, TypeVar

import numpy as np
import torch

from semcom.errors import ConfigError, InputError

T = TypeVar("T")


def make_generator(seed: int | torch.Generator | None = None, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` from an integer seed, an existing generator (returned as is), or ``None`` (seed 0).

    semcom never draws from the global RNG: the same seed gives the same result.
    """
    if isinstance(seed, torch.Generator):
        return seed
    if seed is None:
        seed = 0
    if not isinstance(seed, (int, np.integer)):
        raise InputError(f"seed must be an int or a torch.Generator, got {type(seed).__name__}")
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def numpy_rng(seed: int | np.random.Generator | torch.Generator | None = None) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a seed, a numpy generator, or a torch generator (derives a seed)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, torch.Generator):
        seed = int(torch.randint(0, 2**62, (1,), generator=seed).item())
    if seed is None:
        seed = 0
    return np.random.default_rng(int(seed))


def check_finite(x: torch.Tensor | np.ndarray, name: str = "input") -> None:
    """Raise :class:`InputError` when ``x`` holds NaN or Inf."""
    if isinstance(x, torch.Tensor):
        ok = bool(torch.isfinite(x).all()) if x.is_floating_point() or x.is_complex() else True
    else:
        x = np.asarray(x)
        ok = bool(np.isfinite(x).all()) if np.issubdtype(x.dtype, np.inexact) else True
    if not ok:
        raise InputError(f"{name} contains NaN or Inf")


def check_image(x: torch.Tensor, name: str = "image", batch: str = "B") -> torch.Tensor:
    """Check an image batch: float ``[B, 3, H, W]`` (or ``[3, H, W]``, promoted) in [0, 1], finite.

    ``batch`` names the leading dimension in messages (``"T"`` for video frames ``[T, 3, H, W]``).
    """
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[1] != 3 or x.shape[0] < 1:
        raise InputError(f"{name} must be shaped [{batch}, 3, H, W], got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputError(f"{name} must be a float tensor in [0, 1], got {x.dtype}")
    if x.numel():
        # one pass in numpy: torch spreads such small reductions over threads, which is slow on busy CPUs
        a = x.detach().cpu().numpy() if x.dtype in (torch.float32, torch.float64) else x.detach().float().cpu().numpy()
        lo, hi = float(np.min(a)), float(np.max(a))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise InputError(f"{name} contains NaN or Inf")
        if lo < 0 or hi > 1:
            raise InputError(f"{name} values must lie in [0, 1]")
    return x


def from_dict(cls: type[T], data: Mapping[str, Any] | None, *, where: str | None = None) -> T:
    """Build dataclass ``cls`` from a mapping, refusing unknown keys with :class:`ConfigError`.

    Nested dataclass fields are built recursively from nested mappings.
    """
    where = where or cls.__name__
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key(s) for {where}: {unknown}; known: {sorted(fields)}")
    kwargs = {}
    for key, value in data.items():
        ftype = fields[key].type
        target = _resolve_dataclass(cls, ftype)
        if target is not None and isinstance(value, Mapping):
            value = from_dict(target, value, where=f"{where}.{key}")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:  # missing required keys
        raise ConfigError(f"{where}: {exc}") from None


def _resolve_dataclass(owner: type, ftype: Any) -> type | None:
    if isinstance(ftype, str):
        import sys

        mod = sys.modules.get(owner.__module__)
        ftype = getattr(mod, ftype, None) if mod else None
    return ftype if dataclasses.is_dataclass(ftype) else None
