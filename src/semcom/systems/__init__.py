"""semcom.systems: the bench. One ``System`` interface that every semantic system and baseline
implements, one :class:`Outcome`, the registries and the compare core.

* :class:`System` -- ``transmit(source, snr_db, *, seed) -> Outcome``, ``describe() -> dict``,
  ``budget(source_shape) -> channel uses``.
* :class:`Outcome` -- reconstruction, status, channel uses and budget, bits sent, side
  information, code blocks lost, extras; :meth:`Outcome.rates` derives CBR / SPP / bpp.
* :func:`register_system`, :func:`get_system`, :func:`build_system`, :func:`parse_spec` -- the
  system registry and specs ``name:key=val,...`` (or ``module:qualname``).
* :class:`ChannelSpec`, :func:`register_channel` -- one channel naming (``awgn``,
  ``rayleigh_block``, ``rayleigh_fast``) with the CSI as its own parameter.

See ``docs/systems.md`` and ``docs/extending.md``.
"""

from semcom.channel import CHANNELS, canonical_channel, register_channel
from semcom.systems.base import (
    SYSTEMS, System, SystemSpec, available_systems, build_system, get_system, parse_spec, parse_value, register_system,
)
from semcom.systems.channels import ChannelSpec
from semcom.systems.outcome import STATUSES, Outcome, Rates, source_size

__all__ = [
    "System", "Outcome", "Rates", "STATUSES", "source_size",
    "SYSTEMS", "SystemSpec", "register_system", "get_system", "build_system", "parse_spec", "parse_value",
    "available_systems",
    "ChannelSpec", "CHANNELS", "register_channel", "canonical_channel",
]
