"""semcom.link: the digital 5G NR link and its abstractions, behind one interface.

``make_link(fidelity, **kw)`` builds one of

* ``"bittrue"``: :class:`NRLink`, bit-true on Sionna's NR blocks (CRC, LDPC, QAM, channel);
* ``"bler_table"``: :class:`BLERTableLink`, per-code-block errors from BLER tables (semcom's own,
  :mod:`semcom.link.tables`, or Sionna's);
* ``"erasure"``: :class:`ErasureLink`, each code block lost with a fixed probability;
* ``"capacity"``: :class:`CapacityLink`, an ideal capacity-achieving code (the bound).

All share ``transmit(bits [..., k], snr_db, *, generator) -> LinkResult``, ``plan(k)`` and
``max_payload_bits(channel_uses, snr_db=None)``. See ``docs/link.md``.
"""

from semcom.link.abstract import BLERTableLink, ErasureLink, bler_table_lookup
from semcom.link.base import CHANNELS, CSI_MODELS, FADINGS, Link, noise_variance
from semcom.link.capacity import (
    CapacityLink,
    CapacityPlan,
    awgn_capacity,
    block_capacity_bits,
    capacity_bits,
    ergodic_capacity,
    outage_probability,
)
from semcom.link.factory import FIDELITIES, LinkConfig, make_link
from semcom.link.layout import (
    LinkPlan, TBLayout, channel_uses_of, default_max_tb_bits, max_payload_for_channel_uses, plan_payload, tbs_from_nre,
)
from semcom.link.ldpc import make_ldpc_decoder
from semcom.link.mcs import MCS, MCS_TABLES
from semcom.link.nr import NRLink
from semcom.link.result import LinkResult

__all__ = [
    "BLERTableLink",
    "CapacityLink",
    "CapacityPlan",
    "ErasureLink",
    "FIDELITIES",
    "LinkConfig",
    "awgn_capacity",
    "bler_table_lookup",
    "block_capacity_bits",
    "capacity_bits",
    "ergodic_capacity",
    "make_link",
    "outage_probability",
    "CHANNELS",
    "CSI_MODELS",
    "FADINGS",
    "Link",
    "LinkPlan",
    "plan_payload",
    "channel_uses_of",
    "max_payload_for_channel_uses",
    "LinkResult",
    "MCS",
    "MCS_TABLES",
    "NRLink",
    "TBLayout",
    "default_max_tb_bits",
    "make_ldpc_decoder",
    "noise_variance",
    "tbs_from_nre",
]
