"""The fused AWGN kernels (FastTBChain.awgn_llrs and noisy_llrs; NRLink with chain="fast", channel="awgn")
equal the unfused map -> complex_normal_fast or complex_normal -> torch add -> llrs path float for float."""

import numpy as np
import pytest
import torch

from semcom.errors import InputError, LinkError
from semcom.link import MCS, NRLink, nr
from semcom.link._gauss import complex_normal_fast
from semcom.link.base import complex_normal, normal_pairs
from semcom.link.chain_fast import FastTBChain
from semcom.link.layout import tb_layout

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NO = (10 ** -0.4, 1.3, 1e-3)  # 4 dB, -1.1 dB, 30 dB


def _chain(qm, rate, k, demapper="maxlog", threads=1):
    mcs = MCS.from_rate(qm, rate)
    return FastTBChain(tb_layout(k, mcs), mcs, demapper=demapper, num_threads=threads)


def _coded(chain, rows, seed=0):
    u = np.random.default_rng(seed).integers(0, 2, (rows, chain.lay.tbs), dtype=np.uint8)
    return chain.encode(u)


def _unfused(chain, c, seed, no, threads):
    """What the link computed before the fusion: map, compiled noise, torch's add, demap."""
    sym = torch.from_numpy(chain.map(c))
    y = complex_normal_fast(tuple(sym.shape), seed, no, threads=threads).add_(sym)
    return chain.llrs(y, torch.tensor(no, dtype=torch.float32))


def _same_floats(a, b):
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))  # -0.0 != 0.0 too


@pytest.mark.parametrize("qm, rate, k, demapper", [
    (2, 0.5, 500, "maxlog"),  # one code block, CRC16
    (2, 0.5, 12000, "maxlog"),  # two code blocks
    (2, 0.5, 16400, "maxlog"),  # three, E_r = 11108, 11110, 11110 (a padding slot after the first)
    (2, 0.3, 3000, "app"),  # QPSK: max-log is exact APP, the closed form serves both
    (4, 2 / 3, 8700, "maxlog"),  # two, E_r = 6448, 6452
    (4, 2 / 3, 20000, "maxlog"),  # three
])
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_llrs_equal_unfused(qm, rate, k, demapper, threads):
    chain = _chain(qm, rate, k, demapper, threads)
    assert chain.closed_form
    c = _coded(chain, 5)  # 5 rows: 2 threads split them 2 + 3
    for no in NO:
        ref = _unfused(chain, c, 77, no, threads)
        got = chain.awgn_llrs(c, 77, no)
        assert _same_floats(got, ref)
        for r, e in enumerate(chain.lay.cw_lengths):  # a shorter block's slots after its E_r LLRs: +0.0
            assert not got[:, r, e:].view(np.uint32).any() and got[:, r, :e].all()
        parts = [chain.awgn_llrs(c[:1], 77, no), chain.awgn_llrs(c[1:4], 77, no, row0=1),
                 chain.awgn_llrs(c[4:], 77, no, row0=4)]  # the link's decode chunks: rows keep their streams
        assert _same_floats(np.concatenate(parts), ref)
    assert not _same_floats(chain.awgn_llrs(c, 78, NO[0]), chain.awgn_llrs(c, 77, NO[0]))


@pytest.mark.parametrize("qm, rate, k", [(2, 0.5, 12000), (2, 0.5, 16400), (4, 2 / 3, 8700), (4, 2 / 3, 20000)])
@pytest.mark.parametrize("threads", [1, 2])
def test_noisy_llrs_equal_torch_noise_unfused(qm, rate, k, threads):
    """noisy_llrs on torch's N(0, 1) draws = llrs(complex_normal(...) + symbols), the link's unfused
    torch-noise path, float for float (the draws: the same generator state)."""
    chain = _chain(qm, rate, k, threads=threads)
    c = _coded(chain, 5)
    shape = (5, chain.lay.num_re)
    for no in NO:
        sym = torch.from_numpy(chain.map(c))
        ref = chain.llrs(complex_normal(shape, torch.Generator().manual_seed(5), no).add_(sym),
                         torch.tensor(no, dtype=torch.float32))
        z = normal_pairs(shape, torch.Generator().manual_seed(5))
        assert _same_floats(chain.noisy_llrs(c, z, no), ref)
        assert _same_floats(chain.noisy_llrs(c, z.numpy(), no), ref)
        assert _same_floats(np.concatenate([chain.noisy_llrs(c[:2], z[:2], no), chain.noisy_llrs(c[2:], z[2:], no)]), ref)
    with pytest.raises(InputError, match="noise draws"):
        chain.noisy_llrs(c, z[:, 1:], NO[0])
    with pytest.raises(InputError, match="positive"):
        chain.noisy_llrs(c, z, -1.0)
    with pytest.raises(LinkError, match="fused"):
        _chain(6, 0.5, 4000).noisy_llrs(c, z, 0.5)


def test_fused_kernel_only_where_the_demapper_has_a_closed_form():
    for qm, demapper in ((4, "app"), (6, "maxlog")):
        chain = _chain(qm, 0.5, 4000, demapper)
        assert not chain.closed_form
        with pytest.raises(LinkError, match="fused"):
            chain.awgn_llrs(_coded(chain, 1), 1, 0.5)
    link = NRLink(MCS.from_rate(2, 0.5), max_tb_bits=500, noise="fast")
    lay = link.plan(500).tbs[0]
    assert link._fuses_awgn(link._codec(lay))
    assert NRLink(MCS.from_rate(2, 0.5), max_tb_bits=500)._fuses_awgn(link._codec(lay))  # torch's noise too
    for kw in (dict(channel="rayleigh"), dict(demapper="app", mcs=MCS.from_rate(4, 0.5)), dict(chain="sionna")):
        other = NRLink(**({"mcs": MCS.from_rate(2, 0.5), "max_tb_bits": 500, "noise": "fast"} | kw))
        assert not other._fuses_awgn(other._codec(other.plan(500).tbs[0]))


@pytest.mark.parametrize("qm, rate, snr", [(2, 0.5, 1.5), (4, 2 / 3, 10.0)])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("noise", ["fast", "torch"])
def test_transmit_fused_equals_unfused(monkeypatch, qm, rate, snr, threads, noise):
    """Two TB sizes (two groups), several decode chunks per group, at a waterfall SNR (some blocks fail)."""
    monkeypatch.setattr(nr, "_DECODE_CHUNK_CBS", 2)  # chunks of 1-2 rows: row offsets into the noise streams
    bits = torch.randint(0, 2, (5, 2600), generator=torch.Generator().manual_seed(3)).float()
    res, states = [], []
    for fuse in (True, False):
        link = NRLink(MCS.from_rate(qm, rate), max_tb_bits=1000, noise=noise, num_threads=threads)
        link._fuse_awgn = fuse
        assert len(set(link.plan(2600).tb_payload)) == 2
        gen = torch.Generator().manual_seed(11)
        res.append(link.transmit(bits, snr, generator=gen))
        states.append(gen.get_state())
    a, b = res
    assert torch.equal(a.bits, b.bits) and torch.equal(a.cb_ok, b.cb_ok) and torch.equal(a.tb_ok, b.tb_ok)
    assert torch.equal(states[0], states[1])  # the same draws from the generator
    assert 0 < float(a.cb_ok.float().mean()) < 1  # the waterfall: decoded and failed blocks


@pytest.mark.parametrize("noise, threads", [("fast", 1), ("torch", 1), ("torch", 2)])
def test_fused_path_raises_the_unfused_errors(noise, threads):
    link = NRLink(MCS.from_rate(2, 0.5), max_tb_bits=2000, noise=noise, num_threads=threads)
    for fuse in (True, False):
        link._fuse_awgn = fuse
        bad = torch.zeros(2, 2000)
        bad[1, 5] = float("nan")
        with pytest.raises(InputError, match="0 or 1"):
            link.transmit(bad, 5.0, generator=1)
        with pytest.raises(InputError, match="overflow"):
            link.transmit(torch.ones(2, 2000), 400.0, generator=1)
        with pytest.raises(InputError, match="positive and finite"):
            link.transmit(torch.ones(2, 2000), 500.0, generator=1)  # no = 1e-50: 0 in float32
    chain = link._codec(link.plan(2000).tbs[0]).chain
    c = _coded(chain, 2)
    with pytest.raises(InputError, match="coded bits"):
        chain.awgn_llrs(c[:, 1:], 1, 0.5)
    for seed in (-1, 2 ** 64, 1.5):
        with pytest.raises(InputError, match="seed"):
            chain.awgn_llrs(c, seed, 0.5)
    for no in (-1.0, float("nan"), float("inf")):
        with pytest.raises(InputError):
            chain.awgn_llrs(c, 1, no)
