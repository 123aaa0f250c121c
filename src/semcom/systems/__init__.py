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
* :func:`compare` -- any systems on the same images, SNR grid, channel and budget (``match:NAME``:
  the equal-budget search, :func:`cbr_for_channel_uses`, :func:`reference_channel_uses`).
* :func:`load_plugin`, :func:`load_entry_points` -- a user's module that registers models and systems.

See ``docs/systems.md`` and ``docs/extending.md``.
"""

from semcom.channel import CHANNELS, canonical_channel, register_channel
from semcom.systems.base import (
    SYSTEMS, System, SystemSpec, available_systems, build_system, get_system, parse_spec, parse_value, register_system,
)
from semcom.systems.channels import ChannelSpec
from semcom.systems.outcome import STATUSES, Outcome, Rates, source_size
from semcom.systems.plugins import load_entry_points, load_plugin


def __getattr__(name):  # the compare core imports the experiments layer: loaded on first use
    if name in ("compare", "CompareResult", "CompareConfig", "cbr_for_channel_uses", "reference_channel_uses"):
        from semcom.systems import comparison as _compare_module

        return getattr(_compare_module, name)
    raise AttributeError(f"module 'semcom.systems' has no attribute {name!r}")

__all__ = [
    "System", "Outcome", "Rates", "STATUSES", "source_size",
    "SYSTEMS", "SystemSpec", "register_system", "get_system", "build_system", "parse_spec", "parse_value",
    "available_systems",
    "ChannelSpec", "CHANNELS", "register_channel", "canonical_channel",
    "load_plugin", "load_entry_points", "compare", "CompareResult", "CompareConfig", "cbr_for_channel_uses",
    "reference_channel_uses",
]
