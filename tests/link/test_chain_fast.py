"""The compiled NR chain (semcom.link.chain_fast) against Sionna's blocks, bit for bit and LLR for LLR."""

from __future__ import annotations

import contextlib
import doctest
import io
import warnings

import numpy as np
import pytest
import torch

from semcom.errors import ConfigError, InputError, LinkError
from semcom.link import LinkConfig, MCS, NRLink
from semcom.link import chain_fast
from semcom.link.chain_fast import CRC_POLYS, FastTBChain, c_init
from semcom.link.layout import tb_layout

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# (Qm, R, payload bits): single code blocks with CRC16 on both base graphs, several code blocks on
# base graph 1 and on base graph 2, blocks of unequal rate-matched length E_r.
CASES = [
    (2, 0.3, 300), (2, 0.5, 16000), (2, 0.23, 8000),
    (4, 0.5, 500), (4, 2 / 3, 3000), (4, 0.4, 9000),
    (6, 0.75, 3000), (6, 0.45, 12000),
    (8, 0.5, 2000), (8, 0.8, 30000),
]


def _sionna_tb_encoder(lay, mcs):
    from sionna.phy.nr import TBEncoder

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return TBEncoder(lay.tbs, lay.num_coded_bits, mcs.code_rate, mcs.modulation_order,
                         n_rnti=1, n_id=1, channel_type="PDSCH")


def _sionna_decoder_llrs(enc, lay, llr):
    """Sionna's receive side up to the decoder input: descramble, pad, de-interleave -> [N, C, E_max]."""
    from sionna.phy.fec.scrambling import Descrambler

    n = llr.shape[0]
    z = Descrambler(enc.scrambler, binary=False)(llr.reshape(n, 1, -1))
    fill = int(enc.ldpc_encoder.n) * lay.num_cb - lay.num_coded_bits
    z = torch.cat([z, z.new_zeros(n, 1, fill)], dim=-1)
    return torch.index_select(z, -1, enc.output_perm_inv).reshape(n, lay.num_cb, -1).numpy()


def _bits(shape, seed):
    return np.random.default_rng(seed).integers(0, 2, shape, dtype=np.uint8)


def test_cases_cover_the_layouts():
    lays = [tb_layout(k, MCS.from_rate(m, r)) for m, r, k in CASES]
    kinds = {(lay.base_graph, lay.num_cb > 1) for lay in lays}
    assert kinds == {(1, False), (1, True), (2, False), (2, True)}
    assert any(lay.tb_crc_length == 16 for lay in lays) and any(lay.cb_crc_length == 24 for lay in lays)
    assert any(len(set(lay.cw_lengths)) > 1 for lay in lays)
    assert {m for m, _, _ in CASES} == {2, 4, 6, 8}


@pytest.mark.parametrize("m,r,k", CASES)
def test_coded_bits_equal_sionnas_tb_encoder(m, r, k):
    mcs = MCS.from_rate(m, r)
    lay = tb_layout(k, mcs)
    u = _bits((3, lay.tbs), seed=k)
    ref = _sionna_tb_encoder(lay, mcs)(torch.from_numpy(u).float()).numpy().astype(np.uint8)
    out = FastTBChain(lay, mcs).encode(u)
    assert out.dtype == np.uint8 and out.shape == (3, lay.num_coded_bits)
    assert np.array_equal(out, ref)


@pytest.mark.parametrize("m", [2, 4, 6, 8])
def test_symbols_equal_sionnas_mapper(m):
    from sionna.phy.mapping import Mapper

    mcs = MCS.from_rate(m, 0.5)
    chain = FastTBChain(tb_layout(2000, mcs), mcs)
    c = chain.encode(_bits((2, chain.lay.tbs), seed=m))
    x = chain.map(c)
    ref = Mapper("qam", m)(torch.from_numpy(c).float()).numpy()
    assert x.dtype == np.complex64 and np.abs(x - ref).max() < 1e-6


@pytest.mark.parametrize("demapper", ["maxlog", "app"])
@pytest.mark.parametrize("m,r,k", [CASES[2], CASES[5], CASES[7], CASES[9]])
def test_decoder_llrs_equal_sionnas_chain(m, r, k, demapper):
    """Demapping + descrambling + de-interleaving + de-rate-matching equal Sionna's Demapper and friends."""
    from sionna.phy.mapping import Demapper

    mcs = MCS.from_rate(m, r)
    lay = tb_layout(k, mcs)
    enc = _sionna_tb_encoder(lay, mcs)
    chain = FastTBChain(lay, mcs, demapper=demapper)
    x = torch.from_numpy(chain.map(chain.encode(_bits((2, lay.tbs), seed=1))))
    g = torch.Generator().manual_seed(m)
    y = x + 0.3 * torch.complex(torch.randn(x.shape, generator=g), torch.randn(x.shape, generator=g))
    for no in (torch.tensor(0.05), torch.rand(x.shape, generator=g) * 0.3 + 0.02):  # scalar, per symbol
        ref = _sionna_decoder_llrs(enc, lay, Demapper(demapper, "qam", m)(y, no))
        out = chain.llrs(y, no)
        assert out.shape == ref.shape == (2, lay.num_cb, max(lay.cw_lengths))
        scale = float(np.abs(ref).max())
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5 * scale)
        short = [r for r, e in enumerate(lay.cw_lengths) if e < max(lay.cw_lengths)]
        for r in short:  # slots after a shorter block's E_r are punctured (LLR 0), as in Sionna's chain
            assert not out[:, r, lay.cw_lengths[r]:].any()


def _closed_form_reference(chain, y, no):
    """The closed-form max-log decoder LLRs in numpy float32, operation by operation: ``sgn * llr * w``."""
    f = np.float32
    x = np.stack([y.real, y.imag]).astype(np.float32)  # [2, N, S]: the two PAM dimensions
    w = np.broadcast_to(f(1.0) / np.asarray(no, dtype=np.float32), y.shape)
    if chain.qm == 2:
        bit_llrs = [f(-2.0 * np.sqrt(2.0)) * x]
    else:
        u = x * f(np.sqrt(10.0))
        bit_llrs = [f(-0.4) * (f(2.0) * u - np.clip(u, f(-2.0), f(2.0))), f(0.4) * np.abs(u) - f(0.8)]
    m, lay = chain.qm, chain.lay
    out = np.zeros((y.shape[0], lay.num_cb, chain.e_max), dtype=np.float32)
    p0 = 0
    for r, e in enumerate(lay.cw_lengths):
        q, s0 = e // m, p0 // m
        for i in range(m):  # stream i: bit i of each symbol (dimension i % 2, level bit i // 2)
            sg = chain._sign[p0 + i:p0 + e:m]
            out[:, r, i * q:(i + 1) * q] = sg * bit_llrs[i // 2][i % 2, :, s0:s0 + q] * w[:, s0:s0 + q]
        p0 += e
    return out


@pytest.mark.parametrize("m, r, k", [(2, 0.5, 16400), (2, 0.3, 300), (4, 2 / 3, 20000), (4, 0.5, 500)])
def test_closed_form_llrs_equal_their_float32_formula(m, r, k):
    """The vectorised closed-form demapper (and the fused AWGN kernels, which call it) computes
    ``sgn * llr * w`` in float32 in this order: numpy's float32 operations give the same floats,
    with one noise variance and per symbol (every committed result depends on these values)."""
    mcs = MCS.from_rate(m, r)
    chain = FastTBChain(tb_layout(k, mcs), mcs)
    rng = np.random.default_rng(3)
    x = chain.map(chain.encode(_bits((4, chain.lay.tbs), seed=3)))
    y = x + (rng.standard_normal(x.shape) * 0.6 + 1j * rng.standard_normal(x.shape) * 0.6).astype(np.complex64)
    for no in (np.float32(0.37), rng.uniform(0.05, 2.0, x.shape).astype(np.float32)):
        got = chain.llrs(y, no)
        assert np.array_equal(got.view(np.uint32), _closed_form_reference(chain, y, no).view(np.uint32))


def test_maxlog_and_app_differ_beyond_qpsk():
    mcs = MCS.from_rate(4, 0.5)
    lay = tb_layout(2000, mcs)
    a, b = (FastTBChain(lay, mcs, demapper=d) for d in ("maxlog", "app"))
    x = a.map(a.encode(_bits((1, lay.tbs), seed=2)))
    y = x + 0.4 * np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    assert not np.allclose(a.llrs(y, 0.2), b.llrs(y, 0.2), atol=1e-3)
    q = FastTBChain(tb_layout(2000, MCS.from_rate(2, 0.5)), MCS.from_rate(2, 0.5), demapper="app")
    qm = FastTBChain(q.lay, MCS.from_rate(2, 0.5))
    yq = q.map(q.encode(_bits((1, q.lay.tbs), seed=3))) + 0.5
    np.testing.assert_allclose(q.llrs(yq, 0.3), qm.llrs(yq, 0.3), rtol=1e-5, atol=1e-5)  # QPSK: max-log is exact


def test_gold_sequence_and_crcs_match_sionna():
    from sionna.phy.fec.crc import CRCEncoder
    from sionna.phy.nr.utils import generate_prng_seq

    from semcom.link import _chain_kernels as _k

    for n_rnti, n_id in [(1, 1), (65535, 1023), (20, 0)]:
        ci = c_init(n_rnti, n_id)
        assert np.array_equal(_k.gold_sequence(5000, ci), generate_prng_seq(5000, ci).astype(np.uint8))
    bits = _bits((4, 1001), seed=5)
    for name, (poly, length) in CRC_POLYS.items():
        ref = CRCEncoder(name)(torch.from_numpy(bits).float()).numpy().astype(np.uint8)
        table = _k.crc_table(poly, length)
        for row in range(4):
            buf = np.concatenate([bits[row], np.zeros(length, np.uint8)])
            reg = _k._crc.py_func(buf, 0, 1001, table, poly, length)
            _k._put_crc.py_func(buf, 1001, reg, length)
            assert np.array_equal(buf, ref[row])


@pytest.mark.parametrize("m,r,k", [CASES[0], CASES[5]])
def test_check_recovers_bits_and_flags_errors(m, r, k):
    mcs = MCS.from_rate(m, r)
    lay = tb_layout(k, mcs)
    chain = FastTBChain(lay, mcs)
    from semcom.link.ldpc_fast import FastLDPC5GDecoder

    u = _bits((3, lay.tbs), seed=7)
    llr = chain.llrs(chain.map(chain.encode(u)), 0.05)
    blocks = FastLDPC5GDecoder(chain.ldpc_encoder)(llr.reshape(3 * lay.num_cb, -1)).numpy()
    blocks = blocks.reshape(3, lay.num_cb, lay.cb_size).astype(np.uint8)
    u_hat, cb_ok, tb_ok = chain.check(blocks)
    assert np.array_equal(u_hat, u) and cb_ok.all() and tb_ok.all()
    blocks[1, -1, 5] ^= 1  # one wrong bit in the last code block of TB 1
    u_hat, cb_ok, tb_ok = chain.check(blocks)
    assert tb_ok.tolist() == [True, False, True]
    assert cb_ok[1].tolist() == [True] * (lay.num_cb - 1) + [False]
    u_f, cb_f, tb_f = chain.check(blocks, dtype=np.float32)  # the link's form, same content
    assert u_f.dtype == np.float32 and np.array_equal(u_f, u_hat) and np.array_equal(cb_f, cb_ok)
    assert np.array_equal(tb_f, tb_ok)
    for x, ref in zip(chain.check(blocks.astype(np.float32)), (u_hat, cb_ok, tb_ok)):  # the decoder's float bits
        assert np.array_equal(x, ref)


def test_bad_input_raises():
    mcs = MCS.from_rate(2, 0.5)
    chain = FastTBChain(tb_layout(500, mcs), mcs)
    with pytest.raises(InputError):
        chain.encode(np.full((1, chain.lay.tbs), 2))
    with pytest.raises(InputError):
        chain.encode(np.zeros((1, chain.lay.tbs + 1)))
    with pytest.raises(InputError):
        chain.map(np.zeros((1, 3), np.uint8))
    y = np.zeros((1, chain.lay.num_re), np.complex64)
    for no in (0.0, -1.0, float("nan")):
        with pytest.raises(InputError):
            chain.llrs(y, no)
    with pytest.raises(InputError):
        chain.llrs(np.zeros((1, 5), np.complex64), 0.1)
    with pytest.raises(InputError):
        chain.check(np.zeros((1, 2, 3)))
    with pytest.raises(InputError):
        chain.check(np.zeros((1, chain.lay.num_cb, chain.lay.cb_size)), dtype=np.int64)
    with pytest.raises(LinkError):
        FastTBChain(chain.lay, mcs, demapper="exact")


def test_link_options_and_config():
    m = MCS.from_rate(2, 0.5)
    assert NRLink(m).chain == "fast" and NRLink(m).demapper == "maxlog"
    for kw in ({"chain": "numpy"}, {"demapper": "log"}, {"num_threads": 0}):
        with pytest.raises(LinkError):
            NRLink(m, **kw)
    link = LinkConfig.from_dict({"modulation_order": 2, "code_rate": 0.5, "chain": "sionna", "demapper": "app"}).build()
    assert (link.chain, link.demapper) == ("sionna", "app")
    assert link.describe()["chain"] == "sionna"
    with pytest.raises(ConfigError):
        LinkConfig.from_dict({"modulation_order": 2, "code_rate": 0.5, "chain": "turbo"}).build()
    with pytest.raises(ConfigError):
        LinkConfig.from_dict({"fidelity": "erasure", "mcs_index": 9, "cbler": 0.1, "chain": "fast"}).build()


@pytest.mark.parametrize("channel,csi,demapper", [("awgn", "perfect", "maxlog"), ("awgn", "perfect", "app"),
                                                  ("rayleigh", "estimated", "maxlog")])
def test_link_results_equal_across_chains(channel, csi, demapper):
    """Same seed, same demapper: the compiled chain and Sionna's blocks give the same link outcome.

    LLRs agree to float rounding, so the decoder makes the same decisions on every code block that
    passes; a failed block's hard decisions may differ in a few bits (min-sum amplifies the rounding).
    """
    mcs = MCS.from_rate(4, 0.5)
    snr = {"awgn": 6.2, "rayleigh": 12.0}[channel]
    bits = torch.from_numpy(_bits((6, 9000), seed=11)).float()
    res = [NRLink(mcs, max_tb_bits=4500, channel=channel, csi=csi, chain=ch, demapper=demapper)
           .transmit(bits, snr, generator=3) for ch in ("fast", "sionna")]
    assert 0 < int(res[0].cb_ok.sum()) < res[0].cb_ok.numel()  # in the waterfall: the test sees both outcomes
    assert torch.equal(res[0].cb_ok, res[1].cb_ok) and torch.equal(res[0].tb_ok, res[1].tb_ok)
    ok = res[0].delivered_mask
    assert torch.equal(res[0].bits[ok], res[1].bits[ok]) and torch.equal(res[0].bits[ok], bits[ok])


def test_link_encode_equals_sionna_chain():
    mcs = MCS.from_rate(6, 0.6)
    bits = torch.from_numpy(_bits((2, 7000), seed=4)).float()
    a = NRLink(mcs, max_tb_bits=3000).encode(bits)
    b = NRLink(mcs, max_tb_bits=3000, chain="sionna").encode(bits)
    assert len(a) == 3 and all(torch.equal(x, y) for x, y in zip(a, b))


def test_docstring_examples():
    res = doctest.testmod(chain_fast, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0


@pytest.mark.slow
@pytest.mark.parametrize("table", [1, 2])
def test_every_mcs_bit_exact_sweep(table):
    """Every MCS of 38.214 table 1/2 the link accepts, at several TB sizes: coded bits and max-log LLRs."""
    from sionna.phy.mapping import Demapper

    from semcom.link.mcs import MCS_TABLES

    g = torch.Generator().manual_seed(table)
    for index in range(len(MCS_TABLES[table])):
        try:
            mcs = MCS.from_table(index, table)
        except LinkError:
            continue  # rates the 5G LDPC encoder refuses
        for k in (40, 1000, 3800, 9000, 25000):
            lay = tb_layout(k, mcs)
            try:
                enc = _sionna_tb_encoder(lay, mcs)
            except ValueError:
                continue
            chain = FastTBChain(lay, mcs)
            u = _bits((2, lay.tbs), seed=index * 7 + k)
            c = chain.encode(u)
            assert np.array_equal(c, enc(torch.from_numpy(u).float()).numpy().astype(np.uint8)), (table, index, k)
            x = torch.from_numpy(chain.map(c))
            y = x + 0.2 * torch.complex(torch.randn(x.shape, generator=g), torch.randn(x.shape, generator=g))
            ref = _sionna_decoder_llrs(enc, lay, Demapper("maxlog", "qam", mcs.modulation_order)(y, torch.tensor(0.04)))
            np.testing.assert_allclose(chain.llrs(y, 0.04), ref, rtol=1e-4, atol=1e-5 * float(np.abs(ref).max()))


@pytest.mark.parametrize("m", [4, 6, 8])
def test_app_llrs_stay_finite_far_from_the_constellation(m):
    """Regression: each APP sum is normalised by its own smallest distance, so neither underflows to log(0)."""
    mcs = MCS.from_rate(m, 0.5)
    lay = tb_layout(1000, mcs)
    app, maxlog = (FastTBChain(lay, mcs, demapper=d) for d in ("app", "maxlog"))
    y = np.full((1, lay.num_re), 4.0 - 3.0j, dtype=np.complex64)  # far outside, tiny noise variance
    a, b = app.llrs(y, 1e-3), maxlog.llrs(y, 1e-3)
    assert np.isfinite(a).all()
    np.testing.assert_allclose(a, b, rtol=1e-3)  # where one point dominates each sum, APP = max-log


def _encode_in_child(args):
    m, r, k = args
    mcs = MCS.from_rate(m, r)
    chain = FastTBChain(tb_layout(k, mcs), mcs, num_threads=2)
    return chain.encode(_bits((4, chain.lay.tbs), seed=1)).sum()


def test_thread_pool_survives_fork():
    """A process forked after the kernels ran on the thread pool gets its own pool (no hang)."""
    import multiprocessing

    case = (2, 0.5, 4000)
    here = _encode_in_child(case)  # starts the pool in this process
    with multiprocessing.get_context("fork").Pool(1) as pool:
        there = pool.apply_async(_encode_in_child, (case,)).get(timeout=120)
    assert here == there


@pytest.mark.slow
@pytest.mark.parametrize("m,r,snrs", [(4, 2 / 3, (8.8, 9.0)), (6, 0.6, (12.2, 12.5))])
def test_maxlog_costs_nothing_measurable_against_app(m, r, snrs):
    """The default max-log demapper against exact APP on the same payload and noise (docs/link.md).

    Measured on commit 6aa4d18 (24 slot TBs for 16QAM, 16 for 64QAM): 16QAM R=2/3 CBLER 0.812 / 0.146
    (max-log) against 0.778 / 0.194 (APP) at 8.8 / 9.0 dB; 64QAM R=0.6 0.953 / 0.172 against 0.961 / 0.172
    at 12.2 / 12.5 dB.
    """
    from semcom.link import default_max_tb_bits

    mcs = MCS.from_rate(m, r)
    k = default_max_tb_bits(mcs)
    items = 24 if m == 4 else 16
    bits = torch.randint(0, 2, (items, k), generator=torch.Generator().manual_seed(5)).float()
    for snr in snrs:
        cbler = {dm: 1 - float(NRLink(mcs, demapper=dm).transmit(bits, snr, generator=7).cb_ok.float().mean())
                 for dm in ("maxlog", "app")}
        assert abs(cbler["maxlog"] - cbler["app"]) <= 0.05, (snr, cbler)


@pytest.mark.parametrize("channel,csi", [("awgn", "perfect"), ("rayleigh", "estimated"), ("rayleigh_fast", "perfect")])
def test_noise_drawn_ahead_gives_the_same_outcome(channel, csi):
    """On several threads the AWGN is drawn on a side thread while the TBs are encoded: the same
    draws, so the same outcome as one thread (a payload of two TB sizes: two groups, in order)."""
    mcs = MCS.from_rate(4, 0.5)
    bits = torch.from_numpy(_bits((3, 7000), seed=5)).float()
    snr = {"awgn": 6.2, "rayleigh": 10.0, "rayleigh_fast": 12.0}[channel]
    res = [NRLink(mcs, max_tb_bits=3000, channel=channel, csi=csi, num_threads=t).transmit(bits, snr, generator=9)
           for t in (1, 2)]
    assert len(set(NRLink(mcs, max_tb_bits=3000).plan(7000).tb_payload)) == 2
    assert torch.equal(res[0].cb_ok, res[1].cb_ok) and torch.equal(res[0].bits, res[1].bits)
    assert 0 < int(res[0].cb_ok.sum()) < res[0].cb_ok.numel() or channel == "rayleigh_fast"


@pytest.mark.parametrize("m, r, k, demapper", [(2, 0.5, 16000, "maxlog"), (4, 2 / 3, 9000, "maxlog"),
                                                (6, 0.45, 12000, "app")])
def test_one_and_two_threads_give_the_same_bits_and_llrs(m, r, k, demapper):
    """Every kernel of the chain splits its rows over the calling thread and the pool's helpers, in
    parts taken as they come: the outputs do not depend on it (9 rows: several parts per thread)."""
    mcs = MCS.from_rate(m, r)
    one, two = (FastTBChain(tb_layout(k, mcs), mcs, demapper=demapper, num_threads=t) for t in (1, 2))
    u = _bits((9, one.lay.tbs), seed=4)
    c = one.encode(u)
    assert np.array_equal(two.encode(u), c)
    assert np.array_equal(two.map(c), one.map(c))
    g = torch.Generator().manual_seed(2)
    z = torch.randn((9, one.lay.num_re, 2), generator=g)
    y = torch.view_as_complex(z * 0.3) + torch.from_numpy(one.map(c))
    no_sym = 0.1 + torch.rand((9, one.lay.num_re), generator=g)  # per symbol
    for no in (0.2, no_sym):
        assert np.array_equal(two.llrs(y, no).view(np.uint32), one.llrs(y, no).view(np.uint32))
    if one.closed_form:
        assert np.array_equal(two.awgn_llrs(c, 5, 0.2).view(np.uint32), one.awgn_llrs(c, 5, 0.2).view(np.uint32))
        assert np.array_equal(two.noisy_llrs(c, z, 0.2).view(np.uint32), one.noisy_llrs(c, z, 0.2).view(np.uint32))
    blocks = np.random.default_rng(1).integers(0, 2, (9, one.lay.num_cb, one.lay.cb_size)).astype(np.float32)
    blocks[::2] = _info_blocks(one, u[::2])  # rows that pass their CRCs and rows that do not
    for b in (blocks, blocks.astype(np.uint8)):
        for x, x2 in zip(one.check(b), two.check(b)):
            assert np.array_equal(x, x2)
    assert one.check(blocks)[2].tolist() == [True, False] * 4 + [True]


def _info_blocks(chain, u):
    """The decoded code blocks ``[N, C, K']`` float32 of TB bits ``u`` (noiseless symbols, decoded)."""
    from semcom.link.ldpc_fast import FastLDPC5GDecoder

    lay = chain.lay
    llr = chain.llrs(chain.map(chain.encode(u)), 0.05)
    blocks = FastLDPC5GDecoder(chain.ldpc_encoder, num_threads=1)(llr.reshape(-1, chain.e_max)).numpy()
    return blocks.reshape(u.shape[0], lay.num_cb, lay.cb_size)


@pytest.mark.parametrize("noise", ["torch", "fast"])
@pytest.mark.parametrize("m, r, snr", [(2, 0.5, 1.2), (4, 2 / 3, 9.0), (2, 120 / 1024, -5.6)])
def test_transmit_is_the_same_on_one_and_two_threads(noise, m, r, snr):
    """NRLink.transmit (the fused AWGN kernels, the decoder, the CRC checks) at a waterfall SNR gives
    the same bits and outcomes on 1 and 2 threads, with either noise source."""
    mcs = MCS.from_rate(m, r)
    bits = torch.from_numpy(_bits((6, 5000), seed=8)).float()
    res = [NRLink(mcs, max_tb_bits=2500, noise=noise, num_threads=t).transmit(bits, snr, generator=3) for t in (1, 2)]
    assert torch.equal(res[0].bits, res[1].bits) and torch.equal(res[0].cb_ok, res[1].cb_ok)
    assert torch.equal(res[0].tb_ok, res[1].tb_ok)


def test_encode_reads_any_real_dtype_and_checks_the_bits():
    """The encoding kernel reads uint8, bool, int and float bits as they are and counts what is not 0/1."""
    mcs = MCS.from_rate(2, 0.5)
    chain = FastTBChain(tb_layout(3000, mcs), mcs)
    u = _bits((3, chain.lay.tbs), seed=2)
    ref = chain.encode(u)
    for arr in (u.astype(bool), u.astype(np.int64), u.astype(np.float32), u.astype(np.float64),
                torch.from_numpy(u).float(), u.astype(np.float16)):
        assert np.array_equal(chain.encode(arr), ref)
    for bad_value in (2.0, 0.5, float("nan"), -1.0):
        bad = u.astype(np.float32)
        bad[1, 7] = bad_value
        with pytest.raises(InputError, match="0 or 1"):
            chain.encode(bad)
    with pytest.raises(InputError, match="real 0/1"):
        chain.encode(u.astype(np.complex64))


def test_a_noise_variance_whose_llrs_would_overflow_is_refused():
    """Above 350 dB Es/N0 the LLRs would overflow float32 (the decoder takes the chain's LLRs unchecked)."""
    link = NRLink(MCS.from_rate(2, 0.5), max_tb_bits=2000, num_threads=1)
    assert bool(link.transmit(torch.ones(2, 2000), 300.0, generator=1).tb_ok.all())
    with pytest.raises(InputError, match="overflow"):
        link.transmit(torch.ones(2, 2000), 400.0, generator=1)


def test_an_error_after_the_noise_was_started_leaves_the_generator_alone(monkeypatch):
    """When the chain fails while the side thread still draws the AWGN, transmit returns only once
    that thread is done with the generator (nothing draws from it behind the caller's back)."""
    from semcom.link import nr

    from semcom.link import default_max_tb_bits

    link = NRLink(MCS.from_rate(2, 0.5), num_threads=2)
    k = default_max_tb_bits(link.mcs)
    gen = torch.Generator().manual_seed(1)
    started = []

    def fail(*args, **kwargs):
        started.append(True)
        raise LinkError("encoder failure")

    monkeypatch.setattr(nr._FastTBCodec, "coded", fail)  # what the fused and the unfused paths encode with
    with pytest.raises(LinkError):
        link.transmit(torch.zeros(16, k), 2.0, generator=gen)
    state = gen.get_state()
    assert started and torch.equal(gen.get_state(), state)  # no draw after the return
    ref = torch.Generator().manual_seed(1)
    nr.complex_normal((16, link.plan(k).tbs[0].num_re), ref, 1.0)
    assert torch.equal(state, ref.get_state())  # the whole noise was drawn before the return


@pytest.mark.parametrize("where", [0, 6999])
def test_the_compiled_chain_checks_payload_bits_while_encoding(where):
    """A float32 payload's 0/1 check is the encoder's (no separate pass): a bad value in any TB
    group still raises InputError; other dtypes are checked before anything is sent."""
    link = NRLink(MCS.from_rate(4, 0.5), max_tb_bits=3000, num_threads=1)
    assert len(set(link.plan(7000).tb_payload)) == 2  # two TB sizes: two encoder calls
    for value in (2.0, float("nan"), 0.5):
        bits = torch.zeros(2, 7000)
        bits[1, where] = value
        with pytest.raises(InputError):
            link.transmit(bits, 10.0, generator=1)
    tiny = torch.zeros(2, 7000, dtype=torch.float64)
    tiny[0, where] = 1e-50  # 0 in float32: refused on the float64 values
    with pytest.raises(InputError):
        link.transmit(tiny, 10.0, generator=1)


def test_sliced_crc_equals_the_bitwise_reference():
    """The kernels' CRC (four bytes per step, bits packed by multiplication) gives the remainder of
    the bit-serial reference for every length 0-140 and slot-sized lengths, for the three CRCs."""
    from numba import njit

    from semcom.link import _chain_kernels as _k

    @njit
    def both(bits, count, table, tables, poly, length):
        buf = np.zeros(_k.padded_bits(count), dtype=np.uint8)
        buf[:count] = bits[:count]
        return (_k._crc(bits, 0, count, table, poly, length),
                _k._crc_sliced(buf.view(np.uint64), buf, count, tables, poly, length))

    rng = np.random.default_rng(9)
    for poly, length in CRC_POLYS.values():
        table, tables = _k.crc_table(poly, length), _k.crc_tables(poly, length)
        assert np.array_equal(tables[0], table)
        for count in [*range(141), 1001, 8232, 16416]:
            bits = rng.integers(0, 2, count, dtype=np.uint8)
            ref, got = both(bits, count, table, tables, poly, length)
            assert ref == got, (poly, count)
