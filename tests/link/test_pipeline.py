"""The torch-noise pipeline of the compiled chain (semcom.link._pipeline): chunked draws equal one draw,
and NRLink's results with it equal the one-thread and unfused paths bit for bit."""

import threading

import numpy as np
import pytest
import torch

from semcom.errors import InputError
from semcom.link import MCS, NRLink, _pipeline, nr
from semcom.link._threads import side_pool
from semcom.link.base import normal_pairs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("rows, num_re", [(16, 16280), (16, 11010), (7, 5), (9, 3), (5, 1), (3, 12)])
@pytest.mark.parametrize("chunk_floats", [1, 40, 60_000])
def test_chunked_draws_equal_one_draw(rows, num_re, chunk_floats):
    """On this torch: the draws of draw_bounds' ranges, one after the other, are one draw's values
    and leave the generator where one draw leaves it (odd sizes: torch redraws a short last block)."""
    bounds = _pipeline.draw_bounds(rows, num_re, chunk_floats)
    assert bounds[0][0] == 0 and bounds[-1][1] == rows and all(a < b for a, b in bounds)
    assert all(b == c for (_, b), (c, _) in zip(bounds, bounds[1:]))
    assert all((b - a) * 2 * num_re % 16 == 0 for a, b in bounds[:-1])
    assert (bounds[-1][1] - bounds[-1][0]) * 2 * num_re >= 16 or len(bounds) == 1
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    whole = normal_pairs((rows, num_re), g1)
    parts = torch.empty_like(whole)
    for a, b in bounds:
        normal_pairs((b - a, num_re), g2, out=parts[a:b])
    assert torch.equal(whole, parts) and torch.equal(g1.get_state(), g2.get_state())
    step = 16 // np.gcd(2 * num_re, 16)  # rows per whole number of torch's 16-float blocks
    if chunk_floats == 1 and rows >= 2 * step and 2 * num_re >= 16:
        assert len(bounds) > 1  # the case really splits


def _send(bits, snr, threads, fuse=True, seed=11, **kw):
    link = NRLink(MCS.from_rate(*kw.pop("mcs", (2, 0.5))), noise="torch", num_threads=threads, **kw)
    link._fuse_awgn = fuse
    gen = torch.Generator().manual_seed(seed)
    res = link.transmit(bits, snr, generator=gen)
    return res, gen.get_state()


@pytest.mark.parametrize("mcs, snr, k", [((2, 0.5), 1.5, 2600), ((4, 2 / 3), 10.0, 2600), ((2, 0.5), 1.0, 16392),
                                         ((2, 120 / 1024), -5.6, 2600)])
@pytest.mark.parametrize("chunk_floats", [1, 3000])
def test_pipelined_transmit_equals_one_thread_and_unfused(monkeypatch, mcs, snr, k, chunk_floats):
    """Many chunks (the side thread takes some, the calling thread the rest, in decode chunks of 1-2
    rows), two TB sizes per payload, a waterfall SNR: the same bits, CB and TB outcomes and
    generator state as on one thread and as the unfused path."""
    monkeypatch.setattr(_pipeline, "CHUNK_FLOATS", chunk_floats)
    monkeypatch.setattr(nr, "_DECODE_CHUNK_CBS", 2)
    bits = torch.randint(0, 2, (9, k), generator=torch.Generator().manual_seed(3)).float()
    kw = dict(mcs=mcs, max_tb_bits=1000) if k < 16000 else dict(mcs=mcs)
    ref, ref_state = _send(bits, snr, 1, **kw)
    assert 0 < float(ref.cb_ok.float().mean()) < 1  # decoded and failed blocks
    for threads, fuse in ((2, True), (2, False)):
        res, state = _send(bits, snr, threads, fuse, **kw)
        assert torch.equal(res.bits, ref.bits) and torch.equal(res.cb_ok, ref.cb_ok)
        assert torch.equal(res.tb_ok, ref.tb_ok) and torch.equal(state, ref_state)


def test_pipeline_when_the_side_thread_is_busy(monkeypatch):
    """The side thread held by another task: the calling thread encodes and receives every row
    itself (the queued side task is cancelled), with the same results."""
    monkeypatch.setattr(_pipeline, "CHUNK_FLOATS", 1)
    bits = torch.randint(0, 2, (4, 3000), generator=torch.Generator().manual_seed(5)).float()
    ref, ref_state = _send(bits, 3.0, 1, max_tb_bits=1500)
    release = threading.Event()
    blocker = side_pool().submit(release.wait, 30)
    try:
        res, state = _send(bits, 3.0, 2, max_tb_bits=1500)
    finally:
        release.set()
        blocker.result()
    assert torch.equal(res.bits, ref.bits) and torch.equal(res.cb_ok, ref.cb_ok) and torch.equal(state, ref_state)


def test_pipeline_errors_leave_the_side_thread_free(monkeypatch):
    monkeypatch.setattr(_pipeline, "CHUNK_FLOATS", 1)
    link = NRLink(MCS.from_rate(2, 0.5), max_tb_bits=2000, num_threads=2)
    bad = torch.zeros(3, 2000)
    bad[2, 7] = 2.0
    with pytest.raises(InputError, match="0 or 1"):  # from the side thread's encoding
        link.transmit(bad, 5.0, generator=1)
    with pytest.raises(InputError, match="overflow"):  # from the receivers
        link.transmit(torch.ones(3, 2000), 400.0, generator=1)
    assert side_pool().submit(lambda: 7).result(timeout=30) == 7
    good = link.transmit(torch.ones(3, 2000), 8.0, generator=1)
    assert bool(good.tb_ok.all()) and torch.equal(good.bits, torch.ones(3, 2000))


def test_check_out_arrays():
    """FastTBChain.check writes the given arrays (rows of larger ones) and refuses wrong ones."""
    link = NRLink(MCS.from_rate(2, 0.5), max_tb_bits=2000)
    chain = link._codec(link.plan(2000).tbs[0]).chain
    u = np.random.default_rng(1).integers(0, 2, (3, chain.lay.tbs), dtype=np.uint8)
    blocks = _blocks(chain, u)
    ref = chain.check(blocks, dtype=np.float32)
    assert np.array_equal(ref[0], u) and ref[2].all()
    big = (np.zeros((5, chain.lay.tbs), np.float32), np.zeros((5, chain.lay.num_cb), bool), np.zeros(5, bool))
    got = chain.check(blocks, dtype=np.float32, threads=1, out=tuple(a[1:4] for a in big))
    assert all(np.array_equal(g, r) and np.array_equal(a[1:4], r) for g, r, a in zip(got, ref, big))
    assert not big[0][0].any() and not big[0][4].any()  # rows outside the views untouched
    with pytest.raises(InputError, match="out must be"):
        chain.check(blocks, dtype=np.float32, out=(big[0][:3].astype(np.uint8), big[1][:3], big[2][:3]))
    with pytest.raises(InputError, match="out must be"):
        chain.check(blocks, out=big)


def _blocks(chain, u):
    """The decoded code blocks of TB bits ``u`` without noise (encode, map, demap, decode)."""
    from semcom.link.ldpc_fast import FastLDPC5GDecoder

    lay = chain.lay
    llr = chain.llrs(chain.map(chain.encode(u)), 0.05)
    return FastLDPC5GDecoder(chain.ldpc_encoder)(llr.reshape(u.shape[0] * lay.num_cb, -1)).numpy().reshape(
        u.shape[0], lay.num_cb, lay.cb_size)


def test_side_thread_receives_chunks_while_the_caller_draws(monkeypatch):
    """With a slow draw (a pause after each chunk) the side thread receives chunks before the draw
    ends; the results are still those of one thread."""
    monkeypatch.setattr(_pipeline, "CHUNK_FLOATS", 1)
    draw = _pipeline.normal_pairs

    def slow_draw(*args, **kw):
        out = draw(*args, **kw)
        threading.Event().wait(0.02)
        return out

    seen = []
    receive = nr._FastTBCodec.send_noisy

    def spy(self, u, *args):
        seen.append(threading.current_thread().name)
        return receive(self, u, *args)

    bits = torch.randint(0, 2, (6, 3000), generator=torch.Generator().manual_seed(8)).float()
    ref, ref_state = _send(bits, 2.0, 1, max_tb_bits=3000)
    monkeypatch.setattr(_pipeline, "normal_pairs", slow_draw)
    monkeypatch.setattr(nr._FastTBCodec, "send_noisy", spy)
    res, state = _send(bits, 2.0, 2, max_tb_bits=3000)
    assert torch.equal(res.bits, ref.bits) and torch.equal(res.cb_ok, ref.cb_ok) and torch.equal(state, ref_state)
    assert sum(name.startswith("semcom-side") for name in seen) >= 2, seen
