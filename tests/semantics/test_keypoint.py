"""The prt keypoint application: extractor, importance, concealers, synthesiser, ALD."""

import numpy as np
import pytest
import torch

pytest.importorskip("mediapipe")

from semcom.data.faces import NoFaceError, detect_video
from semcom.data.talking_head import talking_head_sequence
from semcom.errors import ConfigError, InputError
from semcom.metrics.landmarks import average_landmark_distance, landmark_distances
from semcom.semantics.allocation import AllocatingEncoder, CyclicImportance
from semcom.semantics.keypoint import (
    SYMBOL_BITS,
    SYMBOL_GROUPS,
    HoldLastConcealer,
    KeypointExtractor,
    KeypointImportance,
    WarpSynthesizer,
    ZeroMotionConcealer,
    keypoint_roles,
)
from semcom.semantics.symbols import (
    CodeBlockDecoder,
    CodeBlockGrant,
    SemanticPipeline,
    unpack_code_blocks,
)


@pytest.fixture(scope="module")
def clip():
    th = talking_head_sequence(n_frames=12, size=128, seed=1)
    lms, found = detect_video(th.frames)
    assert found.all()
    return th, lms


def test_groups_are_ten_disjoint_symbols_of_table1_size():
    e = KeypointExtractor()
    assert e.n_symbols == len(SYMBOL_GROUPS) == 10
    assert e.sizes == (SYMBOL_BITS,) * 10 and SYMBOL_BITS == 192
    assert len(set(e.indices.tolist())) == e.n_points == 120


@pytest.mark.parametrize("reference", [False, True])
def test_quantise_round_trip_error_is_at_most_half_a_step(clip, reference):
    _, lms = clip
    e = KeypointExtractor(reference=lms[0] if reference else None)
    for t in (0, 5, 11):
        frame = e.extract(lms[t], index=t)
        err = np.abs(e.dequantise(frame) - lms[t][e.indices]).max()
        assert err <= e.step / 2 + 1e-9
    assert e.step == pytest.approx(0.3 / 255 if reference else 1 / 255)
    # a frame of the clip directly (the detector runs) gives the same symbols as its landmarks
    th, _ = clip
    direct = e.extract(th.frames[3])
    assert all(torch.equal(a, b) for a, b in zip(direct.payloads, e.extract(lms[3]).payloads, strict=True))


def test_extractor_errors():
    e = KeypointExtractor()
    with pytest.raises(InputError):
        e.extract(np.full((478, 2), np.nan))
    with pytest.raises(InputError):
        e.extract(np.zeros((10, 2)))
    with pytest.raises(NoFaceError):
        e.extract(np.full((96, 96, 3), 128, np.uint8))
    with pytest.raises(ConfigError):
        KeypointExtractor(bits=0)
    with pytest.raises(ConfigError):
        KeypointExtractor(groups=[("a", (1, 2)), ("b", (3,))])


def test_importance_is_normalised_and_follows_motion(clip):
    th, lms = clip
    e = KeypointExtractor(reference=lms[0])
    syn = WarpSynthesizer(th.frames[0], lms[0], e)
    p = KeypointImportance(e, syn, effect_size=48)
    for t in range(4):
        rho = p.importance(e.extract(lms[t], index=t))
        assert rho.shape == (10,) and float(rho.sum()) == pytest.approx(1.0)
        assert bool((rho > 0).all())
    # motion only: a symbol that moves alone gets the most weight
    pm = KeypointImportance(e, None, motion_weight=1.0, effect_weight=0.0, floor=0.0)
    base = lms[0].astype(np.float64)
    pm.importance(e.extract(base, index=0))
    moved = base.copy()
    moved[list(SYMBOL_GROUPS[5][1])] += 0.02  # lips_outer
    rho = pm.importance(e.extract(moved, index=1))
    assert int(torch.argmax(rho)) == 5 and float(rho[5]) == pytest.approx(1.0, abs=1e-6)


def _received(e, frame, lost):
    grant = CodeBlockGrant.uniform(e.n_symbols, e.symbol_bits)
    d = np.eye(e.n_symbols, dtype=int)
    blocks = [frame.payloads[i] for i in range(e.n_symbols)]
    ok = [i not in lost for i in range(e.n_symbols)]
    return unpack_code_blocks(blocks, ok, d, frame.sizes, grant, frame.index)


@pytest.mark.parametrize("cls", [HoldLastConcealer, ZeroMotionConcealer])
def test_baseline_concealers(clip, cls):
    _, lms = clip
    e = KeypointExtractor(reference=lms[0])
    r = cls(e)
    prev = e.extract(lms[4], index=4)
    cur = e.extract(lms[5], index=5)
    out = r.conceal([prev], _received(e, cur, lost={2, 7}))
    assert out.n_symbols == 10 and out.sizes == cur.sizes
    for i in set(range(10)) - {2, 7}:  # received symbols pass through bit-exactly
        assert torch.equal(out.payloads[i], cur.payloads[i])
    source = prev if cls is HoldLastConcealer else e.extract(lms[0])
    for i in (2, 7):
        assert torch.equal(out.payloads[i], source.payloads[i])
    # nothing received and no history: the rest pose (the source frame's landmarks)
    none = r.conceal([], _received(e, cur, lost=set(range(10))))
    assert np.abs(e.dequantise(none) - lms[0][e.indices]).max() <= e.step


def test_concealer_rejects_bad_input(clip):
    _, lms = clip
    e = KeypointExtractor(reference=lms[0])
    r = HoldLastConcealer(e)
    with pytest.raises(InputError):
        r.conceal([], "not a frame")
    with pytest.raises(InputError):
        r.conceal_points([], np.zeros((120, 2)), np.ones(3, bool))
    with pytest.raises(ConfigError):
        HoldLastConcealer("extractor")


def test_synthesizer_identity_and_motion(clip):
    th, lms = clip
    e = KeypointExtractor(reference=lms[0])
    syn = WarpSynthesizer(th.frames[0], lms[0], e)
    np.testing.assert_array_equal(syn.synthesize(lms[0]), th.frames[0])
    # through the quantiser: within a grey level or two of the source frame
    out = syn.synthesize(e.extract(lms[0]))
    assert np.abs(out.astype(int) - th.frames[0]).mean() < 1.0
    # driving to frame 8's landmarks re-detects them closely (sub-pixel-ish at 128 px)
    drv = syn.synthesize(e.extract(lms[8]))
    redet, found = detect_video(drv[None])
    assert found.all()
    ald = average_landmark_distance(redet, lms[8:9], size=128)
    still = average_landmark_distance(lms[0:1], lms[8:9], size=128)
    assert ald < 1.0 and ald < still / 2, (ald, still)
    with pytest.raises(InputError):
        syn.synthesize(_received(e, e.extract(lms[1]), lost={0}))


def test_pipeline_step_with_lost_block(clip):
    th, lms = clip
    roles = keypoint_roles(th.frames[0], lms[0], concealer="hold")
    pipe = SemanticPipeline(roles.extractor, roles.importance, AllocatingEncoder(CyclicImportance()),
                            CodeBlockDecoder(), roles.concealer, roles.synthesizer)
    grant = CodeBlockGrant.uniform(3, 4 * SYMBOL_BITS)
    lossless = lambda bits, g: (bits, torch.ones(g.n_blocks, dtype=torch.bool))  # noqa: E731
    lossy = lambda bits, g: (bits, torch.tensor([True, False, True]))  # noqa: E731
    out0 = pipe.step(lms[0], grant, lossless)
    out1 = pipe.step(lms[1], grant, lossy)
    assert out0.shape == out1.shape == (128, 128, 3)
    assert len(pipe.history) == 2


def test_ald_units_and_errors():
    ref = np.zeros((4, 478, 2))
    pred = ref + np.array([0.003, 0.004])
    assert average_landmark_distance(pred, ref, size=100) == pytest.approx(0.5)
    assert average_landmark_distance(pred, ref, size=(200, 100)) == pytest.approx(np.hypot(0.3, 0.8))
    assert landmark_distances(pred, ref).shape == (4, 478)
    with pytest.raises(InputError):
        average_landmark_distance(pred, ref[:2])
    with pytest.raises(InputError):
        average_landmark_distance(np.full_like(ref, np.nan), ref)
    with pytest.raises(InputError):
        average_landmark_distance(pred, ref, size=0)
    with pytest.raises(InputError):
        average_landmark_distance(np.zeros((0, 2)), np.zeros((0, 2)))


def test_fc_concealer_from_the_committed_checkpoint(clip):
    from semcom.models.concealer import pretrained_concealer_path
    from semcom.semantics.keypoint import FCConcealer, load_concealer

    if not pretrained_concealer_path().is_file():
        pytest.skip("no committed concealer checkpoint")
    _, lms = clip
    e = KeypointExtractor(reference=lms[0])
    unbound = load_concealer()
    cur = e.extract(lms[5], index=5)
    with pytest.raises(ConfigError):
        unbound.conceal([], _received(e, cur, lost={1}))
    r = unbound.bind(e)
    assert isinstance(r, FCConcealer) and "metric" in r.net.metadata
    prev = e.extract(lms[4], index=4)
    out = r.conceal([prev], _received(e, cur, lost={1, 6}))
    for i in set(range(10)) - {1, 6}:
        assert torch.equal(out.payloads[i], cur.payloads[i])
    # the concealed symbols land near the truth (a few pixels at 128 px, not anywhere)
    err = np.abs(e.dequantise(out) - lms[5][e.indices]).max() * 128
    assert err < 5.0
    with pytest.raises(ConfigError):
        load_concealer(KeypointExtractor())  # no reference
    roles = keypoint_roles(clip[0].frames[0], lms[0], concealer="fc")
    assert isinstance(roles.concealer, FCConcealer)


@pytest.mark.slow
@pytest.mark.parametrize("module", [
    "semcom.data.faces", "semcom.data.talking_head", "semcom.semantics.keypoint", "semcom.models.concealer",
    "semcom.metrics.landmarks", "semcom.experiments.prt_concealer", "semcom.experiments.prt_keypoint",
])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert res.failed == 0 and res.attempted > 0
