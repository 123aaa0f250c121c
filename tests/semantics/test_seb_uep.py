"""Seb over the protocol stack (headers in the CBR, loss isolation) and Seb-wise UEP (index assignment)."""

import math

import pytest
import torch
from seb_helpers import codec, photo, pixel_kb

from semcom.errors import ConfigError
from semcom.link.result import LinkResult
from semcom.semantics.seb import (
    SebCodecConfig,
    index_assignment_objective,
    robust_index_assignment,
    send_over_stack,
    stack_flows,
)
from semcom.stack import SemanticUplink, StackConfig


class ScriptedLink:
    """Passes bits through; fails the TB CRC on the calls listed in ``fail_calls``; uses = ceil(k / (2 R))."""

    def __init__(self, rate, fail_calls=()):
        self.rate, self.fail_calls, self.calls, self.sent = rate, set(fail_calls), 0, []

    def transmit(self, bits, snr_db, *, generator=None):
        self.sent.append(bits.clone())
        ok = torch.full((1, 1), self.calls not in self.fail_calls)
        self.calls += 1
        k = bits.shape[-1]
        uses = math.ceil(k / (2 * self.rate))
        return LinkResult(bits.clone(), ok, ok, [(0, k)], [0], uses, 2 * uses, float(snr_db))


def uplink(fail0=(), fail1=(), **cfg):
    links = [ScriptedLink(0.5, fail0), ScriptedLink(2 / 3, fail1)]
    return SemanticUplink(StackConfig(mcs=[[2, 0.5], [2, 2 / 3]], **cfg), links=links), links


def test_stack_cbr_counts_every_protocol_header():
    c = codec(uep="importance")
    msg = c.encode(photo())
    up, links = uplink()
    out = send_over_stack(c, msg, up, snr_db=5.0, generator=0, sdu_bytes=16)
    flows, _ = stack_flows(c, msg, sdu_bytes=16)
    n_sdus = sum(len(v) for v in flows.values())
    payload_bits = 8 * sum(len(s) for v in flows.values() for s in v)
    # 10 header bytes per SDU (SDAP 1, PDCP 2 + MAC-I 4, RLC 1, MAC 2) + byte-alignment padding
    assert out.overhead_bits == 80 * n_sdus + payload_bits - msg.num_bits
    sent = [(b.shape[-1], link.rate) for link in links for b in link.sent]
    assert sum(k for k, _ in sent) == msg.num_bits + out.overhead_bits
    assert out.channel_uses == sum(math.ceil(k / (2 * r)) for k, r in sent)
    assert out.channel_uses > sum(math.ceil(b.numel() / (2 * r)) for b, r in
                                  ((msg.header_bits, 0.5), (msg.class_bits[0], 0.5), (msg.class_bits[1], 2 / 3)))
    assert out.header_ok and out.regions_lost == 0
    assert torch.equal(out.image, c.decode(msg.header_bits, msg.class_bits))


def test_a_lost_transport_block_loses_only_its_own_flows():
    c = codec(uep="importance")
    msg = c.encode(photo())
    clean = c.decode(msg.header_bits, msg.class_bits)
    # class 1's only TB is lost: class-0 regions are intact, exactly the class-1 regions are concealed
    up, _ = uplink(fail1={0})
    out = send_over_stack(c, msg, up, snr_db=5.0, generator=0)
    assert out.header_ok and out.class_cb_ok == [1.0, 0.0]
    assert out.regions_lost == int((msg.class_map == 1).sum())
    f = c.config.coarse_patch
    grid = out.image.unfold(2, f, f).unfold(3, f, f)  # [1, 3, gh, gw, f, f]
    ref = clean.unfold(2, f, f).unfold(3, f, f)
    same = (grid == ref).flatten(4).all(-1).all(1).reshape(-1)
    assert bool(same[msg.class_map == 0].all())
    # small transport blocks: losing the 2nd TB of class 0 loses only the regions of its SDUs
    up, links = uplink(fail0={1}, max_tb_bytes=40)
    out = send_over_stack(c, msg, up, snr_db=5.0, generator=0, sdu_bytes=8)
    assert len(links[0].sent) >= 3 and out.header_ok
    assert 0 < out.regions_lost < int((msg.class_map == 0).sum())
    # the header's TB lost: the image is lost
    up, _ = uplink(fail0={0})
    out = send_over_stack(c, msg, up, snr_db=5.0, generator=0)
    assert not out.header_ok and torch.all(out.image == 0.5)
    with pytest.raises(ConfigError):
        stack_flows(c, msg, sdu_bytes=0)
    from semcom.errors import InputError

    with pytest.raises(InputError):
        c.decode(msg.header_bits, msg.class_bits, lost=torch.zeros(3, dtype=torch.bool))


def test_robust_index_assignment_is_a_better_permutation():
    kb, _ = pixel_kb()
    for level in (0, 1):
        cap, bits = kb.capacities[level], kb.index_bits(level)
        slots = kb.slots(level)
        occ = torch.zeros(cap, dtype=torch.bool)
        occ[slots] = True
        pts = torch.zeros(cap, kb.dim)
        pts[slots] = kb.lookup(level, slots)
        w = torch.zeros(cap)
        w[slots] = kb.base_importance(level).float()
        fb = int(slots[int(torch.argmax(kb.base_importance(level)))])
        code = robust_index_assignment(pts, w, occ, fb, bits, seed=0)
        assert sorted(code.tolist()) == list(range(cap))
        j_robust = index_assignment_objective(code, pts, w, occ, fb, bits)
        j_ident = index_assignment_objective(torch.arange(cap), pts, w, occ, fb, bits)
        assert j_robust < 0.9 * j_ident
        assert torch.equal(code, robust_index_assignment(pts, w, occ, fb, bits, seed=0))  # deterministic


def test_robust_index_map_round_trips_and_changes_the_codewords():
    c_id, c_rb = codec(), codec(index_map="robust")
    img = photo()
    m_id, m_rb = c_id.encode(img), c_rb.encode(img)
    assert m_id.indices == m_rb.indices and m_id.num_bits == m_rb.num_bits
    assert not torch.equal(torch.cat(m_id.class_bits), torch.cat(m_rb.class_bits))
    assert torch.equal(c_rb.decode(m_rb.header_bits, m_rb.class_bits), c_id.decode(m_id.header_bits, m_id.class_bits))
    code, inverse = c_rb.index_map(0)
    assert torch.equal(inverse[code], torch.arange(code.numel()))
    with pytest.raises(ConfigError):
        SebCodecConfig(fine_patch=8, coarse_patch=16, index_map="gray")


def test_robust_index_map_lowers_the_distortion_of_single_bit_errors():
    img = photo()
    errs = {}
    for mode in ("identity", "robust"):
        c = codec(index_map=mode, uep="none")
        m = c.encode(img)
        clean = c.decode(m.header_bits, m.class_bits)
        bits = m.class_bits[1]
        mse = []
        for pos in range(0, bits.numel(), 11):
            b = bits.clone()
            b[pos] = 1 - b[pos]
            mse.append(float(((c.decode(m.header_bits, [m.class_bits[0], b]) - clean) ** 2).mean()))
        errs[mode] = sum(mse) / len(mse)
    assert errs["robust"] < errs["identity"]


def test_equal_cbr_rate_is_the_smallest_within_the_uep_budget_and_plans_match_the_link():
    from semcom.experiments.seb_sweep import (
        RATE_GRID, SebSweepConfig, planned_channel_uses, smallest_rate_within,
    )
    from semcom.link import MCS, make_link
    from semcom.semantics.seb import send_over_link

    img = photo()
    c_uep, c_none = codec(uep="importance"), codec(uep="none")
    m_uep, m_none = c_uep.encode(img), c_none.encode(img)
    cfg = SebSweepConfig(extractor="pixel", fine_patch=8)
    for delivery in ("corrupt", "stack"):
        budget = planned_channel_uses(c_uep, m_uep, [0.5, 2 / 3], delivery, cfg)

        def uses(r, d=delivery):
            return planned_channel_uses(c_none, m_none, [0.5, r], d, cfg)

        r_eq = smallest_rate_within(budget, uses)
        assert 0.5 < r_eq < 2 / 3
        assert uses(r_eq) <= budget < uses(r_eq - 1 / RATE_GRID)
        assert uses(r_eq) >= 0.97 * budget
    # the plan is what the link spends (erasure link: the bit-true link's TB/CB layout)
    links = [make_link("erasure", mcs=MCS.from_rate(2, 0.5), cbler=0.0), make_link("erasure", mcs=MCS.from_rate(2, 2 / 3), cbler=0.0)]
    out = send_over_link(c_uep, m_uep, links, 5.0, generator=0)
    assert out.channel_uses == planned_channel_uses(c_uep, m_uep, [0.5, 2 / 3], "corrupt", cfg)
    up = SemanticUplink(StackConfig(mcs=[[2, 0.5], [2, 2 / 3]]), links=links)
    out = send_over_stack(c_uep, m_uep, up, 5.0, generator=0, sdu_bytes=cfg.sdu_bytes)
    assert out.channel_uses == planned_channel_uses(c_uep, m_uep, [0.5, 2 / 3], "stack", cfg)


def test_docstring_examples_run():
    import doctest

    import semcom.models.seb as model_mod
    import semcom.semantics.seb as codec_mod

    for mod in (codec_mod, model_mod):
        res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
        assert res.failed == 0 and res.attempted > 0


# ---------------------------------------------------------------------------------- the KB digest in every message
def _diverged_kb():
    """A KB at the same version (0), dimension and capacities as ``pixel_kb`` but other contents."""
    from semcom.semantics.kb import KnowledgeBase
    from semcom.semantics.seb import PixelExtractor, image_to_patches

    feats = PixelExtractor(8).encode(image_to_patches(photo("chelsea", 256), 8))
    return KnowledgeBase.build(feats, sizes=[128, 32], seed=0)


def test_message_carries_a_32_bit_kb_digest_counted_in_its_bits():
    from semcom.semantics.seb import HEADER_FIXED_BITS, pack_uint

    c = codec()
    msg = c.encode(photo())
    assert HEADER_FIXED_BITS == 16 + 32 + 12 + 12
    assert msg.header_bits.numel() == HEADER_FIXED_BITS + 2 * msg.num_regions
    assert msg.num_bits == msg.header_bits.numel() + sum(b.numel() for b in msg.class_bits)
    assert torch.equal(msg.header_bits[16:48], pack_uint(torch.tensor([c.kb.message_digest()]), 32))


def test_receiver_with_a_diverged_kb_at_the_same_version_refuses_the_message():
    from semcom.semantics.kb import KBDigestError, KBVersionError
    from semcom.semantics.seb import SebCodec

    kb, ext = pixel_kb()
    sender = codec()
    msg = sender.encode(photo())
    other = _diverged_kb()
    assert other.version == kb.version and other.capacities == kb.capacities
    with pytest.raises(KBDigestError):
        SebCodec(other, ext, sender.config).decode(msg.header_bits, msg.class_bits)
    flipped = msg.header_bits.clone()
    flipped[20] = 1 - flipped[20]  # one digest bit
    with pytest.raises(KBDigestError):
        sender.decode(flipped, msg.class_bits)
    stale = type(kb).from_bytes(kb.to_bytes())
    stale.version = kb.version + 1
    with pytest.raises(KBVersionError):
        SebCodec(stale, ext, sender.config).decode(msg.header_bits, msg.class_bits)


def test_receiver_65536_versions_ahead_refuses_the_message():
    from semcom.semantics.kb import KBDigestError
    from semcom.semantics.seb import SebCodec

    kb, ext = pixel_kb()
    sender = codec()
    msg = sender.encode(photo())
    ahead = type(kb).from_bytes(kb.to_bytes())
    ahead.version = kb.version + 65536  # the same 16 version bits
    with pytest.raises(KBDigestError):
        SebCodec(ahead, ext, sender.config).decode(msg.header_bits, msg.class_bits)


def test_local_usage_state_does_not_change_the_message_digest():
    """Between synchronisations each end refreshes t0 and its clock locally (Eq. 6): messages still decode."""
    from semcom.semantics.seb import SebCodec

    kb, ext = pixel_kb()
    sender = codec()
    msg = sender.encode(photo())
    rx_kb = type(kb).from_bytes(kb.to_bytes())
    rx_kb.mark_used(0, rx_kb.slots(0)[:5], now=7)
    rx_kb.tick(9)
    assert rx_kb.digest() != kb.digest() and rx_kb.message_digest() == kb.message_digest()
    assert torch.equal(SebCodec(rx_kb, ext, sender.config).decode(msg.header_bits, msg.class_bits),
                       sender.decode(msg.header_bits, msg.class_bits))


def test_a_kb_mismatch_is_a_failed_outcome_over_the_link_and_the_stack():
    from semcom.semantics.seb import SebCodec, send_over_link

    _, ext = pixel_kb()
    sender = codec(uep="importance")
    msg = sender.encode(photo())
    receiver = SebCodec(_diverged_kb(), ext, sender.config)
    out = send_over_link(receiver, msg, [ScriptedLink(0.5), ScriptedLink(2 / 3)], 5.0, generator=0)
    assert out.header_ok and out.kb_mismatch and bool((out.image == 0.5).all())
    up, _ = uplink()
    out = send_over_stack(receiver, msg, up, 5.0, generator=0)
    assert out.header_ok and out.kb_mismatch and bool((out.image == 0.5).all())
    ok = send_over_stack(sender, msg, uplink(ue_id=1)[0], 5.0, generator=0)
    assert not ok.kb_mismatch and not bool((ok.image == 0.5).all())


def test_link_outcome_is_the_benchs_outcome():
    """The seb outcome is the one Outcome of the bench, its status derived from header, blocks and KB."""
    import torch

    from semcom.semantics.seb import LinkOutcome
    from semcom.systems import Outcome

    img = torch.zeros(1, 3, 32, 32)
    ok = LinkOutcome.make(img, 100, True, [1.0, 1.0], 80, overhead_bits=16)
    assert isinstance(ok, Outcome) and ok.status == "ok" and ok.bits == ok.bits_sent == 80
    assert ok.overhead_bits == ok.side_info_bits == 16 and ok.image is ok.reconstruction
    assert LinkOutcome.make(img, 100, True, [1.0, 0.5], 80).status == "recovered"
    assert LinkOutcome.make(img, 100, True, [1.0, 1.0], 80, regions_lost=1).status == "recovered"
    assert LinkOutcome.make(img, 100, False, [0.0, 0.0], 80).status == "failed"
    mism = LinkOutcome.make(img, 100, True, [1.0, 1.0], 80, kb_mismatch=True)
    assert mism.status == "failed" and mism.kb_mismatch and mism.error
