"""Codec registry: one name per codec, duplicates refused.

Example:
    >>> from semcom.codecs import available_codecs, get_codec
    >>> "jpeg2000" in available_codecs()
    True
    >>> get_codec("heif").name
    'heif'
"""

from __future__ import annotations

from typing import Callable

from semcom.errors import ConfigError, InputError

from .base import Codec

_REGISTRY: dict[str, Callable[..., Codec]] = {}
_AVAILABLE: dict[str, Callable[[], bool]] = {}


def register_codec(name: str, factory: Callable[..., Codec], available: Callable[[], bool] | None = None) -> None:
    """Register ``factory`` (a :class:`Codec` subclass or a callable returning one) under ``name``.

    ``available`` tells whether the codec's native library is usable on this machine (default:
    always). Raises :class:`ConfigError` when ``name`` is already registered (no silent overwrite).
    """
    if not isinstance(name, str) or not name or name != name.strip().lower():
        raise InputError(f"codec name must be a non-empty lower-case string, got {name!r}")
    if not callable(factory):
        raise InputError(f"factory for codec {name!r} is not callable")
    if name in _REGISTRY:
        raise ConfigError(f"codec {name!r} is already registered")
    _REGISTRY[name] = factory
    _AVAILABLE[name] = available or (lambda: True)


def get_codec(name: str, **kwargs) -> Codec:
    """A new instance of the codec registered as ``name``; ``kwargs`` go to its constructor
    (e.g. ``isolate=False``, ``timeout_s=5``, ``speed=8`` for AVIF).

    Raises :class:`ConfigError` for an unknown or unavailable codec or unknown arguments.
    """
    if name not in _REGISTRY:
        raise ConfigError(f"unknown codec {name!r}; registered: {sorted(_REGISTRY)}")
    if not _AVAILABLE[name]():
        raise ConfigError(f"codec {name!r} is registered but its library is not available here")
    try:
        return _REGISTRY[name](**kwargs)
    except TypeError as exc:
        raise ConfigError(f"codec {name!r}: {exc}") from None


def available_codecs() -> list[str]:
    """Names of the registered codecs usable on this machine, sorted."""
    out = []
    for name in sorted(_REGISTRY):
        try:
            ok = bool(_AVAILABLE[name]())
        except Exception:  # noqa: BLE001 - a broken probe means unavailable
            ok = False
        if ok:
            out.append(name)
    return out
