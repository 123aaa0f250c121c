"""The channel a comparison runs on: one canonical name plus the receiver's CSI, for every system.

Canonical names come from the one channel registry (:data:`semcom.channel.CHANNELS`, extended with
:func:`semcom.channel.register_channel`): ``"awgn"``, ``"rayleigh_block"`` (one coefficient per
block), ``"rayleigh_fast"`` (one per symbol). ``"rayleigh"`` is kept as an alias of
``"rayleigh_block"``. The receiver's CSI is its own parameter (``"perfect"``, ``"estimated"`` with
``csi_error_var``, ``"none"``), never implied by the name.

A :class:`ChannelSpec` translates itself for each kind of system: :meth:`ChannelSpec.link_kwargs`
for the digital 5G link (block granularity per code block or per transport block is the link's
``fading`` option), :meth:`ChannelSpec.analog` for the learned models' analog channel.

Example:
    >>> ChannelSpec.parse("rayleigh_block:csi=estimated,csi_error_var=0.01")
    ChannelSpec(name='rayleigh_block', csi='estimated', csi_error_var=0.01)
    >>> ChannelSpec.parse("rayleigh").link_kwargs()
    {'channel': 'rayleigh', 'csi': 'perfect'}
"""

from __future__ import annotations

import dataclasses
from typing import Any

from semcom.channel import CSI_MODES, canonical_channel, make_channel
from semcom.errors import ConfigError

__all__ = ["ChannelSpec", "LINK_CHANNEL"]

#: canonical channel name -> the link's ``channel`` argument (the link only knows these three)
LINK_CHANNEL = {"awgn": "awgn", "rayleigh_block": "rayleigh", "rayleigh_fast": "rayleigh_fast"}


@dataclasses.dataclass(frozen=True)
class ChannelSpec:
    """A channel by canonical name with its receiver CSI (see the module docstring)."""

    name: str = "awgn"
    csi: str = "perfect"
    csi_error_var: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", canonical_channel(self.name))
        if self.csi not in CSI_MODES:
            raise ConfigError(f"csi must be one of {CSI_MODES}, got {self.csi!r}")
        try:
            v = float(self.csi_error_var)
        except (TypeError, ValueError):
            raise ConfigError(f"csi_error_var must be a number, got {self.csi_error_var!r}") from None
        if not v >= 0:
            raise ConfigError(f"csi_error_var must be >= 0, got {self.csi_error_var!r}")
        object.__setattr__(self, "csi_error_var", v)
        if self.name == "awgn" and self.csi != "perfect":
            raise ConfigError("the AWGN channel has no fading: csi must be 'perfect'")

    @classmethod
    def parse(cls, spec: "ChannelSpec | str | dict | None") -> "ChannelSpec":
        """From a spec string ``name[:csi=...,csi_error_var=...]``, a dict, or ``None`` (AWGN)."""
        if spec is None:
            return cls()
        if isinstance(spec, ChannelSpec):
            return spec
        if isinstance(spec, dict):
            from semcom.utils import from_dict

            return from_dict(cls, spec)
        if not isinstance(spec, str):
            raise ConfigError(f"a channel is a name or a ChannelSpec, got {type(spec).__name__}")
        name, _, rest = spec.partition(":")
        kw: dict[str, Any] = {}
        for item in filter(None, rest.split(",")):
            key, sep, value = item.partition("=")
            if not sep or key not in ("csi", "csi_error_var"):
                raise ConfigError(f"channel spec {spec!r}: options are csi=... and csi_error_var=..., got {item!r}")
            kw[key] = value
        return cls(name.strip(), **kw)

    @property
    def fading(self) -> bool:
        return self.name != "awgn"

    def describe(self) -> dict:
        """JSON-able description (for provenance)."""
        d: dict[str, Any] = {"name": self.name}
        if self.fading:
            d["csi"] = self.csi
            if self.csi == "estimated":
                d["csi_error_var"] = self.csi_error_var
        return d

    def link_kwargs(self) -> dict:
        """Keyword arguments for :func:`semcom.link.make_link` (channel and CSI)."""
        if self.name not in LINK_CHANNEL:
            raise ConfigError(f"the 5G link has no channel {self.name!r}; it supports {sorted(LINK_CHANNEL)}")
        kw: dict[str, Any] = {"channel": LINK_CHANNEL[self.name]}
        if self.fading:
            kw["csi"] = self.csi
            if self.csi == "estimated":
                kw["csi_error_var"] = self.csi_error_var
        return kw

    def analog(self, **kw: Any):
        """The analog channel module (zero-forcing equalisation on fading channels) from the registry."""
        if self.fading:
            kw.setdefault("csi", self.csi)
            kw.setdefault("csi_error_var", self.csi_error_var)
        return make_channel(self.name, **kw)

    def __str__(self) -> str:
        return self.name if not self.fading or self.csi == "perfect" else f"{self.name}:csi={self.csi}"
