"""Build a link by fidelity: ``make_link(fidelity, **kw)`` and the strict :class:`LinkConfig`.

==============  ==========================================  ==========================================
fidelity        class                                       extra keyword arguments
==============  ==========================================  ==========================================
``bittrue``     :class:`~semcom.link.nr.NRLink`             ``decoder``, ``num_iter``, ``decoder_kw``,
                                                            ``progress``, ``chain``, ``demapper``,
                                                            ``num_threads``, ``noise``
``bler_table``  :class:`~semcom.link.abstract.BLERTableLink`  ``tables`` (``"semcom"``/``"sionna"``),
                                                            ``interpolation``, ``table_file``
``erasure``     :class:`~semcom.link.abstract.ErasureLink`  ``cbler`` (required)
``capacity``    :class:`~semcom.link.capacity.CapacityLink` ``rate``, ``block_bits``
==============  ==========================================  ==========================================

All take ``mcs``, ``mcs_table``, ``max_tb_bits``, ``channel``, ``fading``, ``csi``,
``csi_error_var`` and ``bg1_repetition``. A keyword the chosen class does not take raises :class:`~semcom.errors.ConfigError`.

Example::

    >>> link = make_link("erasure", mcs=9, cbler=0.1)
    >>> type(link).__name__
    'ErasureLink'
    >>> cfg = LinkConfig.from_dict({"fidelity": "bler_table", "mcs_index": 9})
    >>> type(cfg.build()).__name__
    'BLERTableLink'
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Mapping

from semcom.errors import ConfigError, LinkError
from semcom.link.abstract import BLERTableLink, ErasureLink
from semcom.link.capacity import CapacityLink
from semcom.link.mcs import MCS
from semcom.link.nr import NRLink
from semcom.utils import from_dict

__all__ = ["make_link", "LinkConfig", "FIDELITIES"]

FIDELITIES = {
    "bittrue": NRLink,
    "bler_table": BLERTableLink,
    "erasure": ErasureLink,
    "capacity": CapacityLink,
}


def make_link(fidelity: str = "bittrue", **kw: Any):
    """The link of the given ``fidelity`` built from ``kw`` (see the module table).

    Raises:
        ConfigError: unknown fidelity or a keyword the link does not take.
        LinkError: a value the link refuses (unsupported MCS, channel, ...).
    """
    cls = FIDELITIES.get(fidelity)
    if cls is None:
        raise ConfigError(f"unknown link fidelity {fidelity!r}; known: {sorted(FIDELITIES)}")
    params = inspect.signature(cls.__init__).parameters
    known = {n for n in params if n != "self"}
    unknown = sorted(set(kw) - known)
    if unknown:
        raise ConfigError(f"unknown keyword(s) for the {fidelity!r} link: {unknown}; known: {sorted(known)}")
    return cls(**kw)


@dataclasses.dataclass
class LinkConfig:
    """Strict configuration of a link (``LinkConfig.from_dict`` refuses unknown keys).

    The MCS is ``mcs_index`` (in 38.214 table ``mcs_table``) or ``modulation_order`` +
    ``code_rate``. Fields left ``None`` take the link's defaults; a field set for a fidelity that
    does not use it raises :class:`~semcom.errors.ConfigError` in :meth:`build`.
    """

    fidelity: str = "bittrue"
    mcs_index: int | None = None
    mcs_table: int = 1
    modulation_order: int | None = None
    code_rate: float | None = None
    max_tb_bits: int | None = None
    bg1_repetition: bool = False
    channel: str = "awgn"
    fading: str = "per_cb"
    csi: str = "perfect"
    csi_error_var: float | None = None
    decoder: str | None = None
    num_iter: int | None = None
    chain: str | None = None
    demapper: str | None = None
    noise: str | None = None
    cbler: float | None = None
    tables: str | None = None
    rate: float | None = None
    block_bits: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "LinkConfig":
        return from_dict(cls, data)

    def mcs(self) -> MCS | None:
        """The configured MCS (``None`` if none is given)."""
        if self.mcs_index is not None:
            if self.modulation_order is not None or self.code_rate is not None:
                raise ConfigError("give either mcs_index or modulation_order + code_rate, not both")
            return MCS.from_table(self.mcs_index, self.mcs_table)
        if self.modulation_order is not None or self.code_rate is not None:
            if self.modulation_order is None or self.code_rate is None:
                raise ConfigError("modulation_order and code_rate must be given together")
            return MCS.from_rate(self.modulation_order, self.code_rate)
        return None

    def build(self):
        """Build the link (see :func:`make_link`)."""
        kw: dict[str, Any] = {}
        try:
            mcs = self.mcs()
        except LinkError as exc:
            raise ConfigError(str(exc)) from exc
        if mcs is not None:
            kw["mcs"] = mcs
        elif self.fidelity != "capacity":
            raise ConfigError(f"the {self.fidelity!r} link needs an MCS: set mcs_index or modulation_order + code_rate")
        kw.update(channel=self.channel, fading=self.fading, csi=self.csi)
        for name in ("max_tb_bits", "bg1_repetition", "csi_error_var", "decoder", "num_iter", "chain", "demapper", "noise", "cbler",
                     "tables", "rate", "block_bits"):
            value = getattr(self, name)
            if value is not None:
                kw[name] = value
        try:
            return make_link(self.fidelity, **kw)
        except LinkError as exc:
            raise ConfigError(str(exc)) from exc
