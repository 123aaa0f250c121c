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

__all__ = ["CHANNELS", "register_channel", "make_channel"]

#: name -> channel class. Extend with :func:`register_channel` (duplicates are refused).
CHANNELS: dict[str, type[nn.Module]] = {}


def register_channel(name: str, cls: type[nn.Module]) -> type[nn.Module]:
    """Register ``cls`` under ``name``; raises :class:`ConfigError` if the name is taken."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"channel name must be a non-empty string, got {name!r}")
    if name in CHANNELS:
        raise ConfigError(f"channel {name!r} is already registered ({CHANNELS[name].__name__})")
    CHANNELS[name] = cls
    return cls


register_channel("awgn", AWGNChannel)
register_channel("rayleigh_block", RayleighBlockChannel)
register_channel("rayleigh_fast", RayleighFastChannel)


def make_channel(name: str, **kw: Any) -> nn.Module:
    """Build the channel registered as ``name`` ("awgn", "rayleigh_block", "rayleigh_fast").

    Raises:
        ConfigError: unknown name, unknown keyword, or an invalid value.
    """
    if name not in CHANNELS:
        raise ConfigError(f"unknown channel {name!r}; known: {sorted(CHANNELS)}")
    cls = CHANNELS[name]
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kw) - set(params))
    if unknown:
        raise ConfigError(f"unknown keyword(s) for channel {name!r}: {unknown}; known: {sorted(params)}")
    return cls(**kw)
