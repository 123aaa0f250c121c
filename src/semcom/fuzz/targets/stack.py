"""Fuzz targets: the gNB receive path MAC -> RLC -> PDCP -> SDAP (:meth:`GnbStack.receive`).

Contract under test: ``receive`` never raises on a received transport block; a malformed,
tampered or replayed PDU is discarded and counted (the documented ``fallback``), so any exception
escaping ``receive`` is a ``crash`` here. PDCP integrity (NIA2) protects every delivered SDU, so an
SDU delivered with content other than what was sent under that COUNT is ``silent_wrong``.

``stack``: mutated MAC PDUs (bytes mutations plus replays of the intact block first).
``pdcp_wrap``: the same with the bearers' COUNT near 2^32 and PDCP SNs set to values that would
need a COUNT past 2^32 - 1 (TS 38.323: such PDUs are discarded, never delivered, never raise).
"""

from __future__ import annotations

import numpy as np

from ..core import Target, Verdict, mutate_bytes, register

WRAP = 2**32


def _stack_setup(near_wrap: bool = False):
    from semcom.stack import GnbStack, StackConfig, UeStack

    config = StackConfig(fidelity="erasure", max_tb_bytes=160)
    ue = UeStack(config)
    if near_wrap:
        for tx in ue.pdcp.values():
            tx.tx_next = WRAP - 5
    rng = np.random.default_rng(0)
    flows = {c: [rng.bytes(int(rng.integers(8, 60))) for _ in range(5)] for c in range(config.num_classes)}
    tbs, counts, _ = ue.send(flows)
    sent = {(c, k): sdu for c in flows for k, sdu in zip(counts[c], flows[c])}
    GnbStack(config)  # fail in setup, not in a case, if the configuration is unusable
    return config, tbs, sent, near_wrap


def _set_sn(pdu: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """Set the PDCP SN of the first subPDU (after the MAC subheader and the 1-byte RLC header)."""
    b = bytearray(pdu)
    hl = 3 if b[0] & 0x40 else 2
    sn = int(rng.integers(0, 64)) if rng.random() < 0.7 else int(rng.integers(0, 4096))
    b[hl + 1], b[hl + 2] = 0x80 | (sn >> 8), sn & 0xFF
    return bytes(b), f"PDCP SN := {sn}"


def _receiver(config, near_wrap: bool, rng: np.random.Generator):
    from semcom.stack import GnbStack

    gnb = GnbStack(config)
    if near_wrap:
        start = WRAP - 5 - int(rng.integers(0, 3000))
        for rx in gnb.pdcp.values():
            rx.rx_deliv = rx.rx_next = start
    return gnb


def _stack_case(state, rng: np.random.Generator) -> Verdict:
    config, tbs, sent, near_wrap = state
    tb = tbs[int(rng.integers(0, len(tbs)))]
    gnb = _receiver(config, near_wrap, rng)
    replay = rng.random() < 0.2
    if near_wrap and rng.random() < 0.5:
        pdu, note = _set_sn(tb.payload, rng)
    else:
        pdu, note = mutate_bytes(tb.payload, rng)
    try:
        if replay:
            gnb.receive(tb.payload)
        got = gnb.receive(pdu)
    except Exception as exc:  # noqa: BLE001 - receive must discard, never raise
        return Verdict("crash", f"{type(exc).__name__} escaped receive: {str(exc)[:120]} ({note})")
    for cls, count, sdu in got:
        if sent.get((cls, count)) != sdu:
            return Verdict("silent_wrong", f"class {cls} COUNT {count} delivered with other content ({note})")
    expected = 0 if replay else len(tb.counts)
    return Verdict("accepted" if len(got) == expected else "fallback", note + (" after a replay" if replay else ""))


register(Target(name="stack", setup=_stack_setup, case=_stack_case, timeout_s=10.0,
                area="semcom.stack: GnbStack.receive (MAC demultiplex, RLC UM, PDCP NIA2/NEA2 + replay, SDAP)"))
register(Target(name="pdcp_wrap", setup=lambda: _stack_setup(near_wrap=True), case=_stack_case, timeout_s=10.0,
                area="semcom.stack: GnbStack.receive with PDCP COUNT near 2^32"))
