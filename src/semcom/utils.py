"""Small shared helpers: random generators, input checks, strict configs, wall-time loops."""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import math
import numbers
import time
import types
import typing
from typing import Any, Callable, Mapping, TypeVar

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
    """Build dataclass ``cls`` from a mapping (e.g. a ``--config`` JSON object), checking it strictly.

    Refused with :class:`ConfigError` naming the key: a ``data`` that is not a mapping (a JSON list),
    unknown keys, missing required keys, and values whose type does not match the field's annotation
    (see :func:`check_config_value` for the rules: ``bool`` is not an ``int``, an ``int`` is a valid
    ``float``, floats must be finite, ``list[int]``/``tuple``/``dict``/``Optional``/unions/``Literal``
    are checked element by element). Nested dataclass fields are built recursively from nested
    mappings. Values are kept as given (an ``int`` in a ``float`` field stays an ``int``), except that
    a list for a ``tuple`` field becomes a tuple.

    Example:
        >>> import dataclasses
        >>> @dataclasses.dataclass
        ... class C:
        ...     seeds: list[int] = dataclasses.field(default_factory=lambda: [0])
        >>> from_dict(C, {"seeds": [1, 2]})
        C(seeds=[1, 2])
        >>> from_dict(C, {"seeds": "two"})
        Traceback (most recent call last):
        ...
        semcom.errors.ConfigError: C.seeds must be list[int], got str 'two'
    """
    where = where or cls.__name__
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping of keys to values (a JSON object), got {_describe(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in data if k not in fields)
    if unknown:
        raise ConfigError(f"unknown key(s) for {where}: {unknown}; known: {sorted(fields)}")
    hints = _field_types(cls)
    kwargs = {key: check_config_value(value, hints.get(key, Any), f"{where}.{key}") for key, value in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:  # missing required keys
        raise ConfigError(f"{where}: {exc}") from None


def check_config_value(value: Any, annotation: Any, where: str) -> Any:
    """``value`` checked against a type annotation; returns it (nested dataclasses built, lists made
    tuples for ``tuple`` fields) or raises :class:`ConfigError` naming ``where``.

    Rules: ``Any``/unknown annotations accept anything; ``bool`` only ``True``/``False``; ``int`` an
    integer that is not a bool; ``float`` a finite int or float (not a bool, not NaN or Inf);
    ``str`` a string; ``X | None`` ``None`` or an ``X``; a union any member; ``Literal[...]`` one of
    its values; ``list[X]`` a list (or tuple) of ``X``; ``tuple[X, ...]``/``tuple[X, Y]`` a list or
    tuple of that length and types; ``dict[K, V]`` a mapping; a dataclass a mapping (built with
    :func:`from_dict`) or an instance; any other class an instance of it.
    """
    if annotation is Any or annotation is object:
        return value
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return check_config_value(value, a, where)
            except ConfigError:
                continue
        raise _type_error(where, annotation, value)
    if origin is typing.Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        raise ConfigError(f"{where} must be one of {list(args)}, got {_describe(value)}")
    if annotation is type(None):
        if value is None:
            return None
        raise _type_error(where, annotation, value)
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        if isinstance(value, annotation):
            return value
        if isinstance(value, Mapping):
            return from_dict(annotation, value, where=where)
        raise _type_error(where, annotation, value)
    check = _SCALARS.get(annotation)
    if check is not None:
        if not check(value):
            raise _type_error(where, annotation, value)
        if annotation is float and not _finite(value):
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        return value
    return _check_container(value, annotation, origin, args, where)


def _check_container(value: Any, annotation: Any, origin: Any, args: tuple, where: str) -> Any:
    base = origin or annotation
    if base in (list, collections.abc.Sequence):
        if not isinstance(value, (list, tuple)):
            raise _type_error(where, annotation, value)
        if not args:
            return value
        out = [check_config_value(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
        return out if isinstance(value, list) else tuple(out)
    if base is tuple:
        if not isinstance(value, (list, tuple)):
            raise _type_error(where, annotation, value)
        if not args:
            return tuple(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(check_config_value(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where} must hold {len(args)} items ({_type_name(annotation)}), got {len(value)}")
        return tuple(check_config_value(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if base in (dict, collections.abc.Mapping):
        if not isinstance(value, Mapping):
            raise _type_error(where, annotation, value)
        if not args:
            return value
        return {check_config_value(k, args[0], f"{where} key {k!r}"): check_config_value(v, args[1], f"{where}[{k!r}]")
                for k, v in value.items()}
    if isinstance(base, type) and not isinstance(value, base):
        raise _type_error(where, annotation, value)
    return value


_SCALARS = {
    bool: lambda v: isinstance(v, (bool, np.bool_)),
    int: lambda v: isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)),
    float: lambda v: isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)),
    str: lambda v: isinstance(v, str),
}


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an int too large for a float
        return False


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("NoneType", "None")


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _type_error(where: str, annotation: Any, value: Any) -> ConfigError:
    return ConfigError(f"{where} must be {_type_name(annotation)}, got {_describe(value)}")


@functools.lru_cache(maxsize=None)
def _field_types(cls: type) -> dict[str, Any]:
    """The resolved annotation of every field of dataclass ``cls`` (string annotations evaluated in
    the class's module); a field whose annotation cannot be resolved is left unchecked (``Any``)."""
    try:
        return typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - an annotation naming something not importable at run time
        import sys

        ns = dict(vars(sys.modules[cls.__module__])) if cls.__module__ in sys.modules else {}
        out: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            holder = types.SimpleNamespace(__annotations__={f.name: f.type})
            try:
                out[f.name] = typing.get_type_hints(holder, globalns=ns)[f.name]
            except Exception:  # noqa: BLE001
                out[f.name] = Any
        return out


def wall_times(fn: Callable[[], Any], repeat: int, *, warmup: int = 1,
               before: Callable[[], Any] | None = None) -> list[float]:
    """Call ``fn`` ``warmup`` times (compile, load caches), then ``repeat`` times: the wall time of
    each timed call in seconds (``time.perf_counter``). ``before`` runs before every call, untimed
    (e.g. re-applying a thread setting another library may have reset).

    Example:
        >>> len(wall_times(lambda: sum(range(100)), 3))
        3
    """
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise InputError(f"repeat must be an int >= 1, got {repeat!r}")
    out = []
    for i in range(warmup + repeat):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        if i >= warmup:
            out.append(time.perf_counter() - t0)
    return out
