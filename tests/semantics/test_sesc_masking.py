"""SE-SC mask code (side information), threshold-mu masking and the rate policy."""

import math

import numpy as np
import pytest

from semcom.errors import CodecError, InputError
from semcom.semantics.sesc import (
    BudgetTooSmallError, decode_mask, encode_mask, mask_code_lengths, rate_policy, threshold_mask,
)


def _masks():
    rng = np.random.default_rng(0)
    out = [np.ones(64, bool), np.eye(1, 64, 5, dtype=bool)[0], rng.random(256) < 0.5, rng.random(256) < 0.1]
    blob = np.zeros((16, 16), bool)
    blob[4:9, 6:12] = True
    out.append(blob.reshape(-1))
    return out


@pytest.mark.parametrize("method", [None, "raw", "rle", "enum"])
def test_mask_code_round_trip(method):
    for keep in _masks():
        bits = encode_mask(keep, method)
        assert bits.dtype == np.uint8 and set(np.unique(bits)) <= {0, 1}
        assert (decode_mask(bits, keep.size) == keep).all()


def test_mask_code_picks_the_shortest_and_never_exceeds_raw():
    for keep in _masks():
        lens = mask_code_lengths(keep)
        assert len(encode_mask(keep)) == min(lens.values()) <= keep.size + 2
    blob = _masks()[-1]
    assert mask_code_lengths(blob)["rle"] < 100 < blob.size  # a compact region: 11 runs, 82 bits
    sparse = _masks()[3]
    # enumerative code: within 1 + log2(N+1) bits of log2 C(N, K)
    k = int(sparse.sum())
    assert mask_code_lengths(sparse)["enum"] <= math.log2(math.comb(256, k)) + 1 + 9 + 2


def test_corrupt_mask_codes_raise_codec_error():
    keep = _masks()[2]
    bits = encode_mask(keep, "rle")
    for bad in (bits[:-3], np.concatenate([bits, [0, 1]]), np.array([1, 1, 0, 1]), np.array([], np.uint8),
                np.array([0, 1] + [0] * 300), np.array([2, 0, 1])):
        with pytest.raises(CodecError):
            decode_mask(bad, keep.size)
    with pytest.raises(CodecError):  # nothing sent
        decode_mask(encode_mask(np.zeros(16, bool), "raw"), 16)
    rng = np.random.default_rng(1)
    for _ in range(200):  # random garbage: a mask or CodecError, never anything else
        g = rng.integers(0, 2, rng.integers(1, 80)).astype(np.uint8)
        try:
            assert decode_mask(g, 64).shape == (64,)
        except CodecError:
            pass


def test_threshold_mask_and_bad_weights():
    w = np.array([0.1, 0.25, 0.3, 0.9])
    assert threshold_mask(w, 0.2).tolist() == [False, True, True, True]
    assert threshold_mask(w, 0.3).tolist() == [False, False, True, True]
    assert threshold_mask(w, 0.95).tolist() == [False, False, False, True]  # at least one patch
    for bad in (np.array([0.1, np.nan]), np.array([-0.1, 0.5]), np.array([0.2, 1.5]), np.array([])):
        with pytest.raises(InputError):
            threshold_mask(bad, 0.2)


@pytest.mark.parametrize("budget", [16 + 19, 100, 333, 1000, 4096 + 40])
def test_rate_policy_meets_the_budget_exactly_and_never_exceeds_it(budget):
    rng = np.random.default_rng(2)
    w = rng.random(256)
    r = rate_policy(w, budget, symbols_per_patch=16)
    assert r.channel_uses <= budget
    assert r.channel_uses == r.k * 16 + r.mask_bits and r.k == int(r.keep.sum())
    if r.k < 256:  # one more feature would not fit: the budget is met to the feature
        order = np.argsort(-w, kind="stable")
        more = r.keep.copy()
        more[[i for i in order if not r.keep[i]][0]] = True
        assert more.sum() * 16 + len(encode_mask(more)) > budget
    # the kept features are the most important ones
    assert w[r.keep].min() >= w[~r.keep].max() if (~r.keep).any() else True


def test_rate_policy_keeps_mu0_when_it_fits_and_raises_mu_when_not():
    w = np.linspace(0, 1, 100)
    loose = rate_policy(w, 10_000, 16, mu0=0.2)
    assert loose.mu == 0.2 and not loose.binding and loose.k == int((w >= 0.2).sum())
    tight = rate_policy(w, 500, 16, mu0=0.2)
    assert tight.binding and tight.mu > 0.2 and tight.channel_uses <= 500


def test_budget_below_one_patch_is_a_typed_error():
    with pytest.raises(BudgetTooSmallError):
        rate_policy(np.ones(64) * 0.5, 16, symbols_per_patch=16)
    with pytest.raises(InputError):
        rate_policy(np.ones(64) * 0.5, 12.5, symbols_per_patch=16)


def test_ties_order_or_spread():
    from semcom.semantics.sesc import top_k_mask

    w = np.zeros(64)
    assert np.flatnonzero(top_k_mask(w, 8)).tolist() == list(range(8))  # patch order: the first row
    spread = np.flatnonzero(top_k_mask(w, 8, "spread"))
    assert len(spread) == 8 and len({i // 8 for i in spread}) >= 4  # spread over several rows
    assert (top_k_mask(w, 8, "spread") == top_k_mask(w, 8, "spread")).all()  # deterministic
    r = rate_policy(w, 8 * 16 + 40, 16, tie_break="spread")
    best = max(k for k in range(1, 65) if k * 16 + len(encode_mask(top_k_mask(w, k, "spread"))) <= 8 * 16 + 40)
    assert r.k == best and r.channel_uses <= 8 * 16 + 40  # scattered masks cost more mask bits
    with pytest.raises(InputError):
        top_k_mask(w, 8, "nope")
