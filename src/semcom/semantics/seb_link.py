"""The seb codec's transport over the 5G link: links and uplinks per code rate, the channel uses a
message will spend, the equal-budget Seb configuration, and one transmission.

Shared by the seb sweep (:mod:`semcom.experiments.seb_sweep`) and the bench's seb system
(:class:`semcom.systems.adapters.SebSystem`). ``cfg`` is any object with the fields ``fidelity``,
``channel``, ``stack``, ``sdu_bytes``, ``rates``, ``fine_patch``, ``protect_ratio`` and
``matched_fine_ratios`` (:class:`SebLinkConfig`, or the sweep's own config).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import torch

from semcom.semantics.seb import SebCodec, SebCodecConfig, send_over_link, send_over_stack, stack_flows

RATE_GRID = 1024  # code rates of the equal-CBR search are multiples of 1/1024 (as in 38.214 tables)
MIN_RATE = 205 / 1024  # the search stays at or above 1/5 (base graph 2 without bit repetition)
MAX_RATE = 948 / 1024  # the highest 38.214 code rate


@dataclasses.dataclass
class SebLinkConfig:
    """What the seb transport needs of a configuration (the seb sweep's config has the same fields)."""

    rates: list = dataclasses.field(default_factory=lambda: [0.5, 2 / 3])
    fine_patch: int = 16
    protect_ratio: float = 0.5
    matched_fine_ratios: list = dataclasses.field(default_factory=lambda: [0.2, 0.4, 0.6, 0.8, 1.0])
    sdu_bytes: int = 64
    stack: dict = dataclasses.field(default_factory=dict)
    fidelity: str = "bittrue"
    channel: str = "awgn"


def make_seb_link(fidelity: str, modulation_order: int, code_rate: float, channel: str = "awgn") -> Any:
    """One link of the seb transport (the sweep's :func:`semcom.experiments.seb_common.make_link`)."""
    from semcom.link import MCS, make_link

    return make_link(fidelity=fidelity, mcs=MCS.from_rate(modulation_order, code_rate), channel=channel)


class SebLinks:
    """Links and stacks per code rate (QPSK), built once."""

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self._links: dict[float, Any] = {}

    def link(self, rate: float) -> Any:
        rate = float(rate)
        if rate not in self._links:
            self._links[rate] = make_seb_link(self.cfg.fidelity, 2, rate, self.cfg.channel)
        return self._links[rate]

    def uplink(self, rates: Sequence[float], session: bytes) -> Any:
        """A fresh uplink (PDCP COUNT from 0) for one transmission, in its own ``session`` (fresh
        keys, :func:`transmission_session`), so no two transmissions share a key stream."""
        from semcom.stack import SemanticUplink, StackConfig

        conf = StackConfig(mcs=[[2, float(r)] for r in rates], fidelity=self.cfg.fidelity, channel=self.cfg.channel,
                           **self.cfg.stack)
        return SemanticUplink(conf, links=[self.link(r) for r in rates], session=session)


def planned_channel_uses(codec: SebCodec, msg: Any, rates: Sequence[float], delivery: str, cfg: Any) -> int:
    """Channel uses ``msg`` will spend at class rates ``rates`` (QPSK), computed from the link plan
    (the same TB/CB segmentation the link uses), without transmitting."""
    from semcom.link import MCS
    from semcom.link.layout import plan_payload

    def uses(k: int, rate: float) -> int:
        return plan_payload(int(k), MCS.from_rate(2, float(rate))).channel_uses if k else 0

    if delivery == "corrupt":
        hdr_rate = rates[0] if msg.class_bits[0].numel() else rates[1]
        return (uses(msg.header_bits.numel(), hdr_rate) + uses(msg.class_bits[0].numel(), rates[0])
                + uses(msg.class_bits[1].numel(), rates[1]))
    from semcom.stack import StackConfig, UeStack

    flows, _ = stack_flows(codec, msg, cfg.sdu_bytes)
    # sizes only: 128-NEA2 preserves lengths, so the plan does not cipher (no key stream is spent on
    # PDUs that are never sent)
    plan_cfg = {**cfg.stack, "ciphering": False}
    ue = UeStack(StackConfig(mcs=[[2, float(r)] for r in rates], fidelity=cfg.fidelity, **plan_cfg))
    tbs, _, _ = ue.send(flows)
    return sum(uses(8 * len(tb.payload), rates[tb.cls]) for tb in tbs)


def smallest_rate_within(budget: int, fn: Any) -> float | None:
    """Smallest rate ``r / 1024`` in ``[205/1024, 948/1024]`` with ``fn(rate) <= budget`` (``fn`` non-increasing), else None."""
    lo, hi = math.ceil(MIN_RATE * RATE_GRID), int(MAX_RATE * RATE_GRID)
    if fn(hi / RATE_GRID) > budget:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if fn(mid / RATE_GRID) <= budget:
            hi = mid
        else:
            lo = mid + 1
    return hi / RATE_GRID


def send_seb(codec: SebCodec, msg: Any, rates: Sequence[float], delivery: str, links: SebLinks, snr: float, gen: int,
          cfg: Any, session: bytes) -> Any:
    if delivery == "stack":
        return send_over_stack(codec, msg, links.uplink(rates, session), snr, generator=gen, sdu_bytes=cfg.sdu_bytes)
    return send_over_link(codec, msg, [links.link(rates[0]), links.link(rates[1])], snr, generator=gen)


def matched_seb(kb: Any, ext: Any, img: torch.Tensor, budget: int, cfg: Any) -> tuple[SebCodec, Any, list[float], float] | None:
    """The Seb configuration for a channel-use budget: the largest fine ratio whose UEP (at
    ``cfg.rates``) fits, then both rates scaled by one factor (rates >= 1/5) to fill the budget.
    Returns ``(codec, message, rates, fine_ratio)`` or None when even the smallest ratio does not fit."""
    r0, r1 = (float(r) for r in cfg.rates)
    for ratio in sorted(cfg.matched_fine_ratios, reverse=True):
        codec = SebCodec(kb, ext, SebCodecConfig(cfg.fine_patch, 2 * cfg.fine_patch, ratio, cfg.protect_ratio, "importance"))
        msg = codec.encode(img, generator=0)
        if planned_channel_uses(codec, msg, [r0, r1], "corrupt", cfg) > budget:
            continue

        def at(scale: float, codec: SebCodec = codec, msg: Any = msg) -> int:
            return planned_channel_uses(codec, msg, [r0 * scale, r1 * scale], "corrupt", cfg)

        lo_scale = max(MIN_RATE / r0, MIN_RATE / r1)
        grid = [lo_scale + (1 - lo_scale) * i / 64 for i in range(65)]
        scale = next((g for g in grid if at(g) <= budget), 1.0)
        return codec, msg, [max(MIN_RATE, r0 * scale), max(MIN_RATE, r1 * scale)], float(ratio)
    return None
