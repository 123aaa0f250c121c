"""Channel registry and factory: build an analog channel by name with strictly checked keywords.

Example:
    >>> from semcom.channel import make_channel
    >>> make_channel("rayleigh_block", csi="estimated", csi_error_var=0.01, seed=1)
    RayleighBlockChannel(csi='estimated', csi_error_var=0.01, equalizer='zf', blocks_per_example=1)
    >>> make_channel("awgn", snr=3)
    Traceback (most recent call last):
    ...
    semcom.errors.ConfigError: unknown keyword(s) for channel 'awgn': ['snr']; known: ['seed']
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from semcom.channel.awgn import AWGNChannel
from semcom.channel.fading import RayleighBlockChannel, RayleighFastChannel
from semcom.errors import ConfigError

__all__ = ["CHANNELS", "CHANNEL_ALIASES", "register_channel", "make_channel", "canonical_channel"]

#: name -> channel class. Extend with :func:`register_channel` (duplicates are refused). This is the
#: one channel registry: the trainer, the link (``semcom.link``) and the systems (``semcom.systems``)
#: all read it.
CHANNELS: dict[str, type[nn.Module]] = {}

#: older names that keep working: ``"rayleigh"`` (the link's and the models' name of block fading).
CHANNEL_ALIASES: dict[str, str] = {"rayleigh": "rayleigh_block"}


def register_channel(name: str, cls: type[nn.Module] | None = None):
    """Register ``cls`` under ``name`` (also usable as a decorator ``@register_channel("mine")``).

    Raises :class:`ConfigError` if the name (or an alias of that name) is taken.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"channel name must be a non-empty string, got {name!r}")

    def add(c: type[nn.Module]) -> type[nn.Module]:
        if name in CHANNELS or name in CHANNEL_ALIASES:
            taken = CHANNELS.get(name) or CHANNELS[CHANNEL_ALIASES[name]]
            raise ConfigError(f"channel {name!r} is already registered ({taken.__name__})")
        CHANNELS[name] = c
        return c

    return add if cls is None else add(cls)


def canonical_channel(name: str) -> str:
    """The canonical registry name of ``name`` (aliases resolved), else :class:`ConfigError`.

    >>> canonical_channel("rayleigh"), canonical_channel("rayleigh_fast")
    ('rayleigh_block', 'rayleigh_fast')
    """
    if not isinstance(name, str):
        raise ConfigError(f"channel name must be a string, got {name!r}")
    name = CHANNEL_ALIASES.get(name, name)
    if name not in CHANNELS:
        raise ConfigError(f"unknown channel {name!r}; known: {sorted(CHANNELS)} (aliases: {CHANNEL_ALIASES})")
    return name


register_channel("awgn", AWGNChannel)
register_channel("rayleigh_block", RayleighBlockChannel)
register_channel("rayleigh_fast", RayleighFastChannel)


def make_channel(name: str, **kw: Any) -> nn.Module:
    """Build the channel registered as ``name`` ("awgn", "rayleigh_block", "rayleigh_fast"; aliases accepted).

    Raises:
        ConfigError: unknown name, unknown keyword, or an invalid value.
    """
    name = canonical_channel(name)
    cls = CHANNELS[name]
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kw) - set(params))
    if unknown:
        raise ConfigError(f"unknown keyword(s) for channel {name!r}: {unknown}; known: {sorted(params)}")
    return cls(**kw)
