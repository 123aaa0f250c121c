"""The ``System`` protocol, the system registry and system specs (``name:key=val,key=val``).

A system is anything that sends one source over a channel at an SNR and says what it cost::

    class System(Protocol):
        name: str
        def transmit(self, source, snr_db, *, seed) -> Outcome: ...
        def describe(self) -> dict: ...
        def budget(self, source_shape) -> int | None: ...

``budget`` returns the channel uses the system will spend on (or is granted for) a source of that
shape, ``None`` when it cannot tell before sending. A system that can be built at a given channel
bandwidth ratio takes ``cbr=`` in its factory.

A factory registered with :func:`register_system` is called as
``factory(channel=ChannelSpec, cbr=float | None, **options)``; ``options`` are the spec's
``key=val`` pairs (values parsed as int, float, bool, ``none`` or string). A factory that cannot
honour ``cbr`` (a fixed-rate model) raises :class:`~semcom.errors.ConfigError` when asked for one
it does not spend, or declares ``fixed_budget = True`` so the compare core leaves it at its own.

Specs:

* ``"separation:codec=heif,link=adaptive"`` -- registered name, then options.
* ``"mymodule:MySystem"`` or ``"mymodule:MySystem:opt=1"`` -- a factory by ``module:qualname``
  (imported; the module need not register it).
* ``label=...`` in the options names the system in results (default: the spec itself).

Example:
    >>> parse_spec("separation:codec=heif,link=adaptive,cbr=0.04")
    SystemSpec(name='separation', options={'codec': 'heif', 'link': 'adaptive', 'cbr': 0.04}, label='separation:codec=heif,link=adaptive,cbr=0.04')
    >>> parse_spec("deepjscc:ckpt=deepjscc_awgn5_spp0125,label=DeepJSCC").label
    'DeepJSCC'
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import torch

from semcom.errors import ConfigError
from semcom.systems.channels import ChannelSpec
from semcom.systems.outcome import Outcome

__all__ = ["System", "SystemSpec", "SYSTEMS", "register_system", "get_system", "parse_spec", "build_system",
           "available_systems", "parse_value"]


@runtime_checkable
class System(Protocol):
    """What the bench needs of a system (see the module docstring)."""

    name: str

    def transmit(self, source: torch.Tensor, snr_db: float, *, seed: int | torch.Generator | None = 0) -> Outcome:
        ...

    def describe(self) -> dict:
        ...

    def budget(self, source_shape: Sequence[int]) -> int | None:
        ...


#: registry name -> factory ``(channel=..., cbr=..., **options) -> System``
SYSTEMS: dict[str, Callable[..., System]] = {}


def register_system(name: str, factory: Callable[..., System] | None = None):
    """Register ``factory`` (a class or a function) under ``name``; usable as a decorator.

    Raises:
        ConfigError: the name is empty, already taken, or the factory is not callable.

    Example::

        @register_system("mysystem")
        class MySystem:
            ...
    """
    if not isinstance(name, str) or not name or ":" in name or "," in name:
        raise ConfigError(f"system name must be a non-empty string without ':' or ',', got {name!r}")

    def add(f: Callable[..., System]) -> Callable[..., System]:
        if not callable(f):
            raise ConfigError(f"system {name!r}: the factory must be callable, got {type(f).__name__}")
        if name in SYSTEMS:
            raise ConfigError(f"system {name!r} is already registered ({_qualname(SYSTEMS[name])})")
        SYSTEMS[name] = f
        return f

    return add if factory is None else add(factory)


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', type(obj).__name__)}"


def available_systems() -> list[str]:
    """Registered system names (the built-in adapters are registered on first use)."""
    _load_builtins()
    return sorted(SYSTEMS)


def _load_builtins() -> None:
    importlib.import_module("semcom.systems.adapters")
    importlib.import_module("semcom.systems.sesc")


def parse_value(text: str) -> Any:
    """A spec value: ``true``/``false`` -> bool, ``none`` -> None, int, float, else the string."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text.strip()


@dataclasses.dataclass
class SystemSpec:
    """A parsed system spec: the registry name (or ``module:qualname``), options and a label."""

    name: str
    options: dict[str, Any]
    label: str


def parse_spec(spec: str) -> SystemSpec:
    """Parse ``name[:key=val,...]`` or ``module:qualname[:key=val,...]`` (see the module docstring)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"a system spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    parts = spec.split(":")
    name, rest = parts[0], parts[1:]
    if rest and "=" not in rest[0] and rest[0]:
        name = f"{name}:{rest[0]}"  # module:qualname
        rest = rest[1:]
    if len(rest) > 1:
        raise ConfigError(f"system spec {spec!r}: too many ':' (use name:key=val,key=val)")
    options: dict[str, Any] = {}
    for item in (rest[0].split(",") if rest and rest[0] else []):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"system spec {spec!r}: option {item!r} is not key=value")
        if key.strip() in options:
            raise ConfigError(f"system spec {spec!r}: option {key.strip()!r} given twice")
        options[key.strip()] = parse_value(value)
    if not name:
        raise ConfigError(f"system spec {spec!r} has no name")
    label = options.pop("label", None)
    return SystemSpec(name, options, str(label) if label is not None else spec)


def get_system(name: str) -> Callable[..., System]:
    """The factory registered as ``name``, or the object ``module:qualname`` names.

    Raises:
        ConfigError: unknown name, a module that does not import, or a missing attribute.
    """
    _load_builtins()
    if name in SYSTEMS:
        return SYSTEMS[name]
    if ":" not in name:
        raise ConfigError(f"unknown system {name!r}; registered: {sorted(SYSTEMS)}"
                          " (a user's system joins with --plugin MODULE or as module:qualname)")
    module, _, qual = name.partition(":")
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"system {name!r}: cannot import module {module!r} ({exc})") from None
    for attr in qual.split("."):
        if not hasattr(obj, attr):
            raise ConfigError(f"system {name!r}: module {module!r} has no {qual!r}")
        obj = getattr(obj, attr)
    if not callable(obj):
        raise ConfigError(f"system {name!r} is not callable")
    return obj


def build_system(spec: str | SystemSpec, *, channel: ChannelSpec | str | None = None, cbr: float | None = None) -> System:
    """Build a system from a spec, on ``channel`` (default AWGN), at ``cbr`` when given.

    The factory is called with ``channel`` and ``cbr`` only if its signature takes them (or
    ``**kwargs``); a spec option the factory does not accept raises :class:`ConfigError`. A ``cbr``
    inside the spec wins over the ``cbr`` argument.
    """
    if isinstance(spec, str):
        spec = parse_spec(spec)
    factory = get_system(spec.name)
    ch = ChannelSpec.parse(channel)
    kw: dict[str, Any] = dict(spec.options)
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # builtins without a signature
        params = {}
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if "channel" in params or var_kw:
        kw["channel"] = ch
    elif ch.name != "awgn":
        raise ConfigError(f"system {spec.label!r} takes no channel argument; it cannot run on {ch.name!r}")
    if cbr is not None and "cbr" not in kw:
        if "cbr" in params or var_kw:
            kw["cbr"] = cbr
        elif not getattr(factory, "fixed_budget", False):
            raise ConfigError(f"system {spec.label!r} cannot be built at a given CBR (its factory takes no cbr)")
    unknown = sorted(k for k in kw if k not in params) if params and not var_kw else []
    if unknown:
        known = sorted(p for p in params if p not in ("self",))
        raise ConfigError(f"system {spec.label!r}: unknown option(s) {unknown}; known: {known}")
    try:
        system = factory(**kw)
    except TypeError as exc:
        raise ConfigError(f"system {spec.label!r}: {exc}") from None
    for attr in ("transmit", "describe", "budget"):
        if not callable(getattr(system, attr, None)):
            raise ConfigError(f"system {spec.label!r} ({_qualname(factory)}) has no {attr}() method;"
                              " a System needs transmit(source, snr_db, *, seed), describe() and budget(source_shape)")
    if not getattr(system, "name", None):
        try:
            system.name = spec.label
        except AttributeError:
            pass
    return system
