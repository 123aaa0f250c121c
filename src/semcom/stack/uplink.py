"""The Seb-empowered uplink protocol stack, UE -> gNB (paper Sec. III, Fig. 6, Algorithm 2).

Semantic flows (one per importance class, class 0 the most important) pass down the UE stack and
back up at the gNB::

    UE:  app SDU --SDAP (QFI = c+1, 1 B)--> DRB c+1 --PDCP (SN 2/3 B, NIA2 MAC-I 4 B, NEA2)-->
         RLC UM (1 B) --MAC (LCID = c+4, 2/3 B subheader), one TB per class--> PHY (MCS of class c)
    gNB: PHY (TB CRC) --> MAC demultiplex --> RLC --> PDCP (integrity, replay, decipher) --> SDAP

Every header byte is counted: :class:`UplinkResult` splits the bytes sent into application payload
and SDAP/PDCP/RLC/MAC overhead, and ``channel_uses`` are what the link spent on the transport
blocks (PHY CRC and coding included), so :meth:`UplinkResult.cbr` is the CBR with all protocol
overhead. A transport block whose CRC fails loses only the SDUs multiplexed into it, i.e. data of
its own importance class; PDCP integrity protection rejects tampered PDUs and replays.

Example::

    >>> from semcom.stack.uplink import SemanticUplink, StackConfig
    >>> up = SemanticUplink(StackConfig(mcs=[[2, 0.5], [2, 0.667]], fidelity="bler_table"))
    >>> res = up.transmit({0: [b"important"], 1: [b"background"]}, snr_db=10.0, generator=0)
    >>> res.delivered[0], res.delivered[1]
    ([b'important'], [b'background'])
    >>> res.overhead_bytes["sdap"], res.overhead_bytes["pdcp"], res.overhead_bytes["rlc"], res.overhead_bytes["mac"]
    (2, 12, 2, 4)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import torch

from semcom.errors import ConfigError, InputError
from semcom.stack.errors import IntegrityError, ReplayError, StackError
from semcom.stack.mac import MacMultiplexer, demultiplex, subheader_bytes
from semcom.stack.pdcp import PdcpConfig, PdcpReceiver, PdcpTransmitter
from semcom.stack.phy import Phy
from semcom.stack.rlc import RlcUm
from semcom.stack.sdap import Sdap
from semcom.stack.security import derive_keys
from semcom.utils import from_dict, make_generator

__all__ = [
    "StackConfig",
    "UeStack",
    "GnbStack",
    "SemanticUplink",
    "TransportBlock",
    "UplinkResult",
    "qfi_of",
    "drb_of",
    "lcid_of",
]


def qfi_of(cls: int) -> int:
    """QoS flow identifier of importance class ``cls``: ``cls + 1``."""
    return cls + 1


def drb_of(cls: int) -> int:
    """Data radio bearer of importance class ``cls``: ``cls + 1``."""
    return cls + 1


def lcid_of(cls: int) -> int:
    """MAC logical channel id of importance class ``cls``: ``cls + 4`` (LCIDs 1-3 are SRBs)."""
    return cls + 4


@dataclasses.dataclass
class StackConfig:
    """Configuration of the semantic uplink.

    Attributes:
        mcs: one ``[Qm, R]`` per importance class, class 0 most important (e.g. the paper's
            ``[[2, 0.5], [2, 2/3]]``: QPSK with LDPC 1/2 for the important half, 2/3 for the rest).
        fidelity: link fidelity, ``"bittrue"``, ``"bler_table"``, ``"erasure"`` or ``"capacity"``.
        channel: ``"awgn"`` or ``"rayleigh"``.
        pdcp_sn_bits: 12 or 18.
        integrity: PDCP integrity protection (128-NIA2).
        ciphering: PDCP ciphering (128-NEA2).
        key_seed: seed of the simulated root keys (:func:`semcom.stack.security.root_key`).
        ue_id: the UE (0..2^32-1); with ``key_seed`` it selects the UE's root key. The session
            identifier is not configuration: each :class:`SemanticUplink` (or stack pair) is one
            session and takes it as an argument.
        max_tb_bytes: largest MAC PDU in bytes; ``None``: the link's one-slot transport block
            for each class's MCS (:func:`semcom.link.layout.default_max_tb_bits`).
        link: extra keyword arguments for :func:`semcom.link.make_link` (e.g. ``{"cbler": 0.1}``
            for the erasure link).
    """

    mcs: list[list[float]] = dataclasses.field(default_factory=lambda: [[2, 0.5], [2, 2 / 3]])
    fidelity: str = "bler_table"
    channel: str = "awgn"
    pdcp_sn_bits: int = 12
    integrity: bool = True
    ciphering: bool = True
    key_seed: int = 0
    ue_id: int = 0
    max_tb_bytes: int | None = None
    link: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.mcs, (list, tuple)) or not 1 <= len(self.mcs) <= 29:
            raise ConfigError("mcs must be a list of 1..29 [Qm, R] pairs, one per importance class")
        for m in self.mcs:
            if not isinstance(m, (list, tuple)) or len(m) != 2:
                raise ConfigError(f"each mcs entry must be [Qm, R], got {m!r}")
        if self.max_tb_bytes is not None and (
            isinstance(self.max_tb_bytes, bool) or not isinstance(self.max_tb_bytes, int) or self.max_tb_bytes < 8
        ):
            raise ConfigError(f"max_tb_bytes must be None or an int >= 8, got {self.max_tb_bytes!r}")
        PdcpConfig(sn_bits=self.pdcp_sn_bits, integrity=self.integrity, ciphering=self.ciphering)
        for name, bits in (("key_seed", 63), ("ue_id", 32)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**bits:
                raise ConfigError(f"{name} must be an int in [0, 2^{bits}), got {v!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "StackConfig":
        """Build from a mapping, refusing unknown keys (:class:`~semcom.errors.ConfigError`)."""
        return from_dict(cls, data)

    @property
    def num_classes(self) -> int:
        return len(self.mcs)

    def pdcp(self) -> PdcpConfig:
        return PdcpConfig(sn_bits=self.pdcp_sn_bits, integrity=self.integrity, ciphering=self.ciphering)

    def keys(self, session: int | bytes) -> tuple[bytes, bytes]:
        """``(K_UPenc, K_UPint)`` of this UE in ``session`` (:func:`semcom.stack.security.derive_keys`)."""
        try:
            return derive_keys(self.key_seed, self.ue_id, session)
        except InputError as e:
            raise ConfigError(f"bad session identifier: {e}") from None


@dataclasses.dataclass
class TransportBlock:
    """A MAC PDU of one importance class, with the PDCP COUNTs it carries (simulation bookkeeping)."""

    cls: int
    payload: bytes
    counts: list[int]


@dataclasses.dataclass
class UplinkResult:
    """What one :meth:`SemanticUplink.transmit` delivered and spent.

    Attributes:
        delivered: ``{class: [sdu or None, ...]}`` aligned with the input SDUs; ``None`` = lost.
        tb_ok: ``{class: [bool per transport block]}``.
        channel_uses: ``{class: complex channel uses}`` spent by that class's transport blocks.
        payload_bytes: application SDU bytes offered, per class.
        overhead_bytes: header bytes added by each layer, ``{"sdap", "pdcp", "rlc", "mac"}``
            (PDCP includes the MAC-I).
        discarded: PDUs the gNB discarded, ``{"integrity": n, "replay": n, "malformed": n}``.
    """

    delivered: dict[int, list[bytes | None]]
    tb_ok: dict[int, list[bool]]
    channel_uses: dict[int, int]
    payload_bytes: dict[int, int]
    overhead_bytes: dict[str, int]
    discarded: dict[str, int]

    @property
    def total_channel_uses(self) -> int:
        return int(sum(self.channel_uses.values()))

    @property
    def total_overhead_bytes(self) -> int:
        return int(sum(self.overhead_bytes.values()))

    @property
    def mac_pdu_bytes(self) -> int:
        """Bytes handed to the PHY: payload plus every layer's overhead."""
        return int(sum(self.payload_bytes.values())) + self.total_overhead_bytes

    def cbr(self, num_source_values: int) -> float:
        """CBR = complex channel uses (all classes, protocol overhead included) / real source values."""
        if isinstance(num_source_values, bool) or not isinstance(num_source_values, int) or num_source_values <= 0:
            raise InputError(f"num_source_values must be a positive int, got {num_source_values!r}")
        return self.total_channel_uses / num_source_values


def _max_tb_bytes(config: StackConfig, cls: int) -> int:
    if config.max_tb_bytes is not None:
        return config.max_tb_bytes
    from semcom.link.layout import default_max_tb_bits
    from semcom.link.mcs import MCS

    return default_max_tb_bits(MCS.from_rate(*config.mcs[cls])) // 8


class UeStack:
    """The UE side: SDAP -> PDCP -> RLC -> MAC. :meth:`send` turns SDUs into transport blocks.

    One object is one session (``session``, an int in ``[0, 2^32)`` or bytes): its keys are
    :meth:`StackConfig.keys` of that session and PDCP COUNT continues across :meth:`send` calls.
    Two stacks under the same ``key_seed``, ``ue_id`` and ``session`` would repeat key streams:
    give every independent uplink its own session identifier.
    """

    def __init__(self, config: StackConfig, session: int | bytes = 0):
        self.config = config
        keys = config.keys(session)
        n = config.num_classes
        self.sdap = Sdap({qfi_of(c): drb_of(c) for c in range(n)})
        self.pdcp = {c: PdcpTransmitter(drb_of(c), keys, config.pdcp()) for c in range(n)}
        self.mac = {c: MacMultiplexer(_max_tb_bytes(config, c)) for c in range(n)}

    def send(self, flows: Mapping[int, Sequence[bytes]]) -> tuple[list[TransportBlock], dict[int, list[int]], dict[str, int]]:
        """Encapsulate ``{class: [sdu, ...]}``; return ``(transport blocks, COUNTs per class, overhead bytes)``."""
        if not isinstance(flows, Mapping):
            raise InputError("flows must be a mapping {importance class: [bytes, ...]}")
        overhead = {"sdap": 0, "pdcp": 0, "rlc": 0, "mac": 0}
        tbs: list[TransportBlock] = []
        counts: dict[int, list[int]] = {}
        for cls in sorted(flows):
            if cls not in self.pdcp:
                raise InputError(f"unknown importance class {cls!r}: configured 0..{self.config.num_classes - 1}")
            sdus = flows[cls]
            if isinstance(sdus, (bytes, bytearray)) or not isinstance(sdus, Sequence):
                raise InputError(f"flow {cls} must be a list of bytes SDUs")
            subpdus, owner = [], []
            counts[cls] = []
            for sdu in sdus:
                if not isinstance(sdu, (bytes, bytearray)):
                    raise InputError(f"SDU of class {cls} must be bytes, got {type(sdu).__name__}")
                sdap_pdu, _ = self.sdap.encapsulate(sdu, qfi_of(cls))
                count, pdcp_pdu = self.pdcp[cls].protect(sdap_pdu)
                rlc_pdu = RlcUm.encapsulate(pdcp_pdu)
                overhead["sdap"] += Sdap.header_bytes
                overhead["pdcp"] += self.config.pdcp().overhead_bytes
                overhead["rlc"] += RlcUm.header_bytes
                overhead["mac"] += subheader_bytes(len(rlc_pdu))
                subpdus.append((lcid_of(cls), rlc_pdu))
                owner.append(count)
                counts[cls].append(count)
            pdus = self.mac[cls].multiplex(subpdus)
            k = 0
            for pdu in pdus:
                n_sub = len(demultiplex(pdu))
                tbs.append(TransportBlock(cls=cls, payload=pdu, counts=owner[k : k + n_sub]))
                k += n_sub
        return tbs, counts, overhead


class GnbStack:
    """The gNB side: MAC -> RLC -> PDCP -> SDAP. Discarded PDUs are counted, never delivered.

    ``session`` must be the UE's (the gNB derives the same keys).
    """

    def __init__(self, config: StackConfig, session: int | bytes = 0):
        self.config = config
        keys = config.keys(session)
        n = config.num_classes
        self.sdap = Sdap({qfi_of(c): drb_of(c) for c in range(n)})
        self.pdcp = {lcid_of(c): PdcpReceiver(drb_of(c), keys, config.pdcp()) for c in range(n)}
        self.discarded = {"integrity": 0, "replay": 0, "malformed": 0}

    def receive(self, mac_pdu: bytes | None) -> list[tuple[int, int, bytes]]:
        """Process one received transport block (``None``: CRC failed, nothing delivered).

        Returns:
            ``[(class, PDCP COUNT, sdu), ...]`` for every SDU that passed integrity and replay checks.
        """
        if mac_pdu is None:
            return []
        out = []
        try:
            subs = demultiplex(mac_pdu)
        except StackError:
            self.discarded["malformed"] += 1
            return []
        for lcid, rlc_pdu in subs:
            if lcid not in self.pdcp:
                self.discarded["malformed"] += 1
                continue
            try:
                pdcp_pdu = RlcUm.decapsulate(rlc_pdu)
                count, sdap_pdu = self.pdcp[lcid].unprotect(pdcp_pdu)
                qfi, sdu = self.sdap.decapsulate(sdap_pdu)
            except IntegrityError:
                self.discarded["integrity"] += 1
                continue
            except ReplayError:
                self.discarded["replay"] += 1
                continue
            except StackError:
                self.discarded["malformed"] += 1
                continue
            out.append((qfi - 1, count, sdu))
        return out

    def end_of_burst(self) -> None:
        """Model t-Reordering expiry on every bearer after a burst: missing COUNTs are given up."""
        for rx in self.pdcp.values():
            rx.expire_reordering()


class SemanticUplink:
    """UE stack, per-class PHY links and gNB stack, wired together.

    Args:
        config: :class:`StackConfig` (or a mapping for it).
        links: optional per-class link objects; by default ``semcom.link.make_link`` with the
            class's MCS, ``config.fidelity`` and ``config.channel``.
        session: the session identifier (int in ``[0, 2^32)`` or 1..1024 bytes) from which both
            ends derive their keys (:func:`semcom.stack.security.derive_keys`). One uplink is one
            session: COUNT continues across :meth:`transmit` calls. Independent uplinks of one UE
            need distinct sessions, or they would repeat PDCP key streams.
    """

    def __init__(self, config: StackConfig | Mapping[str, Any] | None = None, links: Sequence[Any] | None = None,
                 session: int | bytes = 0):
        if config is None:
            config = StackConfig()
        elif isinstance(config, Mapping):
            config = StackConfig.from_dict(config)
        elif not isinstance(config, StackConfig):
            raise ConfigError(f"config must be a StackConfig or a mapping, got {type(config).__name__}")
        self.config = config
        if links is None:
            from semcom.link import MCS, make_link

            links = [
                make_link(fidelity=config.fidelity, mcs=MCS.from_rate(*m), channel=config.channel, **config.link)
                for m in config.mcs
            ]
        if len(links) != config.num_classes:
            raise ConfigError(f"{len(links)} links given for {config.num_classes} importance classes")
        self.phy = Phy(links)
        self.ue = UeStack(config, session)
        self.gnb = GnbStack(config, session)

    def transmit(
        self, flows: Mapping[int, Sequence[bytes]], snr_db: float, generator: int | torch.Generator | None = None
    ) -> UplinkResult:
        """Send ``{class: [sdu, ...]}`` at ``snr_db`` (Es/N0 per complex symbol, dB) through the stack.

        Returns:
            :class:`UplinkResult` with the delivered SDUs aligned to the input (``None`` = lost).
        """
        try:
            snr = float(snr_db)
        except (TypeError, ValueError):
            raise InputError(f"snr_db must be a number, got {snr_db!r}") from None
        if snr != snr or abs(snr) == float("inf"):
            raise InputError("snr_db must be finite")
        g = make_generator(generator)
        tbs, counts, overhead = self.ue.send(flows)
        before = dict(self.gnb.discarded)
        got: dict[tuple[int, int], bytes] = {}
        tb_ok: dict[int, list[bool]] = {c: [] for c in counts}
        uses: dict[int, int] = {c: 0 for c in counts}
        for tb in tbs:
            r = self.phy.transmit(tb.cls, tb.payload, snr, g)
            tb_ok[tb.cls].append(r.tb_ok)
            uses[tb.cls] += r.channel_uses
            for cls, count, sdu in self.gnb.receive(r.payload):
                got[(cls, count)] = sdu
        self.gnb.end_of_burst()
        delivered = {c: [got.get((c, k)) for k in counts[c]] for c in counts}
        payload = {c: int(sum(len(s) for s in flows[c])) for c in counts}
        discarded = {k: self.gnb.discarded[k] - before[k] for k in before}
        return UplinkResult(delivered, tb_ok, uses, payload, overhead, discarded)
