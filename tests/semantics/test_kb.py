"""KnowledgeBase: k-means levels and partial order, Eq. 3-6, versioned update messages, bad input.

Features are real: 8x8 pixel patches of the bundled photos (astronaut for the KB, chelsea as a
different source that should trigger an update)."""

import functools

import pytest
import torch

from semcom.data import test_images
from semcom.errors import ConfigError, InputError
from semcom.semantics.kb import KBMessageError, KBUpdate, KBVersionError, KnowledgeBase, aoi_decay
from semcom.semantics.seb import PixelExtractor, image_to_patches, region_importance, spectral_residual_saliency


@functools.lru_cache(maxsize=None)
def photo_features(name):
    (im,) = test_images([name], size=256)
    feats = PixelExtractor(8).encode(image_to_patches(im.image, 8))
    imp = region_importance(spectral_residual_saliency(im.image), 8)[0]
    return feats, imp


@functools.lru_cache(maxsize=None)
def built_kb():
    feats, imp = photo_features("astronaut")
    return KnowledgeBase.build(feats, importance=imp, sizes=[64, 16], seed=0, half_life=10.0, remove_below=0.05)


def test_levels_sizes_and_index_bits():
    kb = built_kb()
    assert kb.sizes == [64, 16] and kb.capacities == [64, 16]
    assert kb.index_bits(0) == 6 and kb.index_bits(1) == 4
    assert kb.dim == 192 and kb.version == 0
    kb2 = KnowledgeBase.build(photo_features("astronaut")[0], sizes=[50, 10], seed=0)
    assert kb2.capacities == [64, 16] and kb2.index_bits(0) == 6


def test_level0_is_kmeans_of_the_features():
    feats, _ = photo_features("astronaut")
    kb = built_kb()
    idx, _ = kb.quantize(feats, 0)
    centres = kb.lookup(0, idx)
    # Lloyd fixed point: every Seb is (to float16 precision) the mean of the features nearest to it
    for k in kb.slots(0).tolist()[:20]:
        members = feats[idx == k]
        assert members.shape[0] > 0
        assert torch.allclose(members.mean(0), centres[idx == k][0], atol=2e-2)
    # and k-means beats a random choice of 64 features as a codebook
    rnd = feats[torch.randperm(feats.shape[0], generator=torch.Generator().manual_seed(0))[:64]]
    assert kb.distortion(feats, 0) < torch.cdist(feats, rnd).min(1).values.mean()


def test_partial_order_parent_is_the_coarse_seb_each_fine_seb_was_clustered_into():
    kb = built_kb()
    fine = kb.vectors(0)
    nearest_coarse, _ = kb.quantize(fine, 1)
    assert torch.equal(kb.parents(0), nearest_coarse)
    assert bool((kb.parents(1) == -1).all())
    # every coarse Seb has children and is their mean (Eq. 2 cluster centre)
    for slot in kb.slots(1).tolist():
        kids = kb.children(1, slot)
        assert kids.numel() >= 1
        assert torch.allclose(kb.lookup(0, kids).mean(0), kb.lookup(1, torch.tensor([slot]))[0], atol=2e-2)


def test_eq3_fine_importance_is_mean_feature_importance():
    feats, imp = photo_features("astronaut")
    kb = built_kb()
    imp_n = imp / imp.mean()
    idx, _ = kb.quantize(feats, 0)
    for pos, k in enumerate(kb.slots(0).tolist()):
        assert kb.base_importance(0)[pos] == pytest.approx(float(imp_n[idx == k].mean()), rel=1e-4)


def test_eq4_coarse_importance_is_mean_of_children_importance():
    kb = built_kb()
    fine_imp = dict(zip(kb.slots(0).tolist(), kb.base_importance(0).tolist()))
    for pos, slot in enumerate(kb.slots(1).tolist()):
        kids = kb.children(1, slot).tolist()
        assert kb.base_importance(1)[pos] == pytest.approx(sum(fine_imp[k] for k in kids) / len(kids), rel=1e-5)


def test_importance_reflects_saliency():
    kb = built_kb()
    imp = kb.base_importance(0)
    assert imp.max() > 2 * imp.min()  # saliency separates Sebs


def test_eq5_distortion_and_update_request():
    feats, _ = photo_features("astronaut")
    other, _ = photo_features("chelsea")
    kb = built_kb()
    _, dist = kb.quantize(feats[:10], 0)
    manual = torch.cdist(feats[:10], kb.vectors(0)).min(1).values
    assert torch.allclose(dist, manual, atol=1e-5)
    d_own, d_other = kb.distortion(feats), kb.distortion(other)
    assert d_other > d_own
    thr = 0.5 * (d_own + d_other)
    assert not kb.needs_update(feats, thr) and kb.needs_update(other, thr)


def test_eq6_age_of_information_decay_and_refresh():
    assert float(aoi_decay(0.0, 10.0)) == 1.0
    assert float(aoi_decay(10.0, 10.0)) == pytest.approx(0.5)
    assert float(aoi_decay(1e6, 10.0)) == pytest.approx(0.0)
    assert bool((aoi_decay(torch.arange(50.0), 10.0).diff() < 0).all())
    kb = KnowledgeBase.from_bytes(built_kb().to_bytes())
    base = kb.base_importance(0)
    kb.tick(20)
    assert torch.allclose(kb.importance(0), base * 0.25, rtol=1e-5)
    kb.mark_used(0, kb.slots(0)[:3])
    now = kb.importance(0)
    assert torch.allclose(now[:3], base[:3]) and torch.allclose(now[3:], base[3:] * 0.25, rtol=1e-5)


def test_update_adds_novel_sebs_and_improves_representation():
    kb = built_kb()
    other, other_imp = photo_features("chelsea")
    before = kb.distortion(other)
    receiver = KnowledgeBase.from_bytes(kb.to_bytes())
    kb_cap = KnowledgeBase.build(photo_features("astronaut")[0], sizes=[48, 12], seed=0, capacities=[64, 16])
    upd = kb_cap.propose_update(other, other_imp, now=1, seed=0)
    assert upd.num_added > 0
    new = kb_cap.apply(upd)
    assert new.version == 1 and new.digest() == upd.digest
    assert new.distortion(other) < kb_cap.distortion(other)
    # every fine Seb still has a live coarse parent: the partial order survives the update
    parents = new.parents(0)
    assert bool((parents >= 0).all()) and set(parents.tolist()) <= set(new.slots(1).tolist())
    # a candidate is added only when it is far from every existing Seb
    same = kb.propose_update(photo_features("astronaut")[0], now=1, seed=0)
    assert same.num_added < upd.num_added
    assert before > 0 and receiver.version == 0


def test_full_kb_replaces_least_important_and_removes_obsolete():
    feats, imp = photo_features("astronaut")
    kb = KnowledgeBase.build(feats, importance=imp, sizes=[64, 16], seed=0, half_life=5.0, remove_below=0.3)
    kb.mark_used(0, kb.slots(0)[:32], now=40)
    kb.mark_used(1, kb.slots(1), now=40)
    upd = kb.propose_update(photo_features("chelsea")[0], now=40, seed=0)
    new = kb.apply(upd)
    # unused Sebs decayed by 2^-8 fell below 0.3 and were removed or replaced; used ones stay
    assert set(kb.slots(0)[:32].tolist()) <= set(new.slots(0).tolist())
    assert upd.num_removed + upd.num_added > 0
    assert new.sizes[0] <= new.capacities[0]
    assert len(upd.importance[0]) == 32  # the t0 refresh of used Sebs travels in the update


def test_update_message_round_trip_and_signalling_cost():
    kb = built_kb()
    receiver = KnowledgeBase.from_bytes(kb.to_bytes())
    assert receiver.digest() == kb.digest()
    kb.mark_used(0, torch.tensor([0, 1]), now=3)
    upd = kb.propose_update(photo_features("chelsea")[0], now=5, seed=1)
    msg = upd.to_bytes()
    back = KBUpdate.from_bytes(msg)
    assert back.to_bytes() == msg
    new_rx = receiver.apply(back)
    new_tx = kb.apply(upd)
    assert new_rx.digest() == new_tx.digest()
    assert torch.equal(new_rx.vectors(0), new_tx.vectors(0))
    assert torch.equal(new_rx.importance(0, now=9), new_tx.importance(0, now=9))
    # size: header + per-level counts + per added Seb (12 B + 2 B per dimension) + ... + digest + CRC
    expected = 4 + 16 + 2 * 8 + sum(12 + 2 * kb.dim for lv in upd.added for _ in lv)
    expected += 2 * upd.num_removed + 10 * sum(map(len, upd.importance)) + 4 * sum(map(len, upd.reparented))
    assert len(msg) == expected + 8 + 4


def test_version_mismatch_is_refused():
    kb = built_kb()
    upd = kb.propose_update(photo_features("chelsea")[0], now=1, seed=0)
    new = kb.apply(upd)
    with pytest.raises(KBVersionError):
        new.apply(upd)  # already applied: version 1 != from_version 0
    stale = KnowledgeBase.from_bytes(kb.to_bytes())
    stale.version = 7
    with pytest.raises(KBVersionError):
        stale.apply(upd)
    diverged = KnowledgeBase.from_bytes(kb.to_bytes())
    diverged.mark_used(0, torch.tensor([5]), now=1)  # same version, different contents
    if upd.importance[0] == [] or all(s != 5 for s, *_ in upd.importance[0]):
        with pytest.raises(KBVersionError):
            diverged.apply(upd)


def test_truncated_or_corrupt_messages_are_refused():
    kb = built_kb()
    msg = kb.propose_update(photo_features("chelsea")[0], now=1, seed=0).to_bytes()
    for cut in (0, 10, len(msg) // 2, len(msg) - 1):
        with pytest.raises(KBMessageError):
            KBUpdate.from_bytes(msg[:cut])
    bad = bytearray(msg)
    bad[30] ^= 0xFF
    with pytest.raises(KBMessageError):
        KBUpdate.from_bytes(bytes(bad))
    blob = kb.to_bytes()
    with pytest.raises(KBMessageError):
        KnowledgeBase.from_bytes(blob[:-5])
    with pytest.raises(KBMessageError):
        KnowledgeBase.from_bytes(b"nope")


def test_bad_input():
    feats, _ = photo_features("astronaut")
    with pytest.raises(InputError):
        KnowledgeBase.build(torch.full((10, 3), float("nan")), sizes=[4, 2])
    with pytest.raises(InputError):
        KnowledgeBase.build(feats[:1], sizes=[4, 2])
    with pytest.raises(ConfigError):
        KnowledgeBase.build(feats, sizes=[4, 8])
    with pytest.raises(InputError):
        KnowledgeBase.build(feats, importance=-torch.ones(feats.shape[0]), sizes=[4, 2])
    with pytest.raises(InputError):
        KnowledgeBase.build(feats, importance=torch.ones(3), sizes=[4, 2])
    kb = built_kb()
    with pytest.raises(InputError):
        kb.quantize(torch.zeros(5, 7), 0)
    with pytest.raises(InputError):
        kb.quantize(feats[:2], 2)
    with pytest.raises(InputError):
        kb.lookup(0, torch.tensor([64]))
    with pytest.raises(InputError):
        kb.propose_update(torch.zeros(0, kb.dim))
    with pytest.raises(InputError):
        kb.apply("not an update")


def test_update_digest_covers_its_now_field():
    """An update whose ``now`` was altered (CRC recomputed) would move the receiver's clock and
    last synchronisation, and with them Eq. 6: the digest of the resulting KB refuses it."""
    kb = built_kb()
    receiver = KnowledgeBase.from_bytes(kb.to_bytes())
    upd = kb.propose_update(photo_features("chelsea")[0], now=5, seed=1)
    assert receiver.apply(KBUpdate.from_bytes(upd.to_bytes())).synced_at == 5
    for now in (4, 6, 5 + 2**20):
        forged = KBUpdate.from_bytes(upd.to_bytes())
        forged.now = now
        with pytest.raises(KBVersionError):
            receiver.apply(KBUpdate.from_bytes(forged.to_bytes()))


def _patched(blob, offset, fmt, value):
    """``blob`` with one header field rewritten and the CRC-32 recomputed (a well-formed forgery)."""
    import struct
    import zlib

    out = bytearray(blob[:-4])
    struct.pack_into(fmt, out, offset, value)
    return bytes(out) + struct.pack(">I", zlib.crc32(bytes(out)))


# offsets in KnowledgeBase.to_bytes: "SEBK" | fmt B | version I | dim H | levels B | half_life d |
# remove_below d | clock Q | synced_at Q
_HALF_LIFE, _REMOVE_BELOW, _CLOCK, _SYNCED = 12, 20, 28, 36


def test_from_bytes_refuses_bad_half_life_clock_and_thresholds():
    from semcom.semantics.kb import MAX_CLOCK

    blob = built_kb().to_bytes()
    assert KnowledgeBase.from_bytes(_patched(blob, _CLOCK, ">Q", MAX_CLOCK)).clock == MAX_CLOCK  # the last valid time
    for offset, fmt, value in ((_HALF_LIFE, ">d", float("nan")), (_HALF_LIFE, ">d", -10.0), (_HALF_LIFE, ">d", 0.0),
                               (_HALF_LIFE, ">d", float("inf")), (_REMOVE_BELOW, ">d", float("nan")),
                               (_REMOVE_BELOW, ">d", -1.0), (_CLOCK, ">Q", MAX_CLOCK + 1), (_CLOCK, ">Q", 2**64 - 1),
                               (_SYNCED, ">Q", 1)):  # a synchronisation after the clock (0)
        with pytest.raises(KBMessageError):
            KnowledgeBase.from_bytes(_patched(blob, offset, fmt, value))


def test_from_bytes_refuses_nan_sebs_and_parents_outside_the_next_level():
    import struct
    import zlib

    kb = built_kb()
    blob = bytearray(kb.to_bytes()[:-4])
    pos = 44 + 10 + kb.capacities[0]  # level 0: capacity, min_distance, occupied map, then the vectors
    blob[pos : pos + 2] = bytes.fromhex("7e00")  # float16 NaN in the first Seb vector
    with pytest.raises(KBMessageError):
        KnowledgeBase.from_bytes(bytes(blob) + struct.pack(">I", zlib.crc32(bytes(blob))))
    blob = bytearray(kb.to_bytes()[:-4])
    cap, d = kb.capacities[0], kb.dim
    pos = 44 + 10 + cap + 2 * cap * d + 4 * cap + 8 * cap  # level 0 parents
    blob[pos : pos + 2] = struct.pack(">h", kb.capacities[1])  # one past the coarse table
    with pytest.raises(KBMessageError):
        KnowledgeBase.from_bytes(bytes(blob) + struct.pack(">I", zlib.crc32(bytes(blob))))


def test_times_stay_within_the_update_message_range():
    from semcom.semantics.kb import MAX_CLOCK

    kb = KnowledgeBase.from_bytes(built_kb().to_bytes())
    with pytest.raises(InputError):
        kb.tick(MAX_CLOCK + 1)
    with pytest.raises(InputError):
        kb.tick(-1)
    with pytest.raises(InputError):
        kb.mark_used(0, kb.slots(0)[:2], now=MAX_CLOCK + 1)
    with pytest.raises(InputError):
        kb.propose_update(photo_features("chelsea")[0], now=-1)
    with pytest.raises(ConfigError):
        KnowledgeBase.build(photo_features("astronaut")[0], sizes=[4, 2], half_life=float("nan"))
    with pytest.raises(ConfigError):
        KnowledgeBase.build(photo_features("astronaut")[0], sizes=[4, 2], half_life=-1.0)
