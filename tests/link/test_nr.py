"""Bit-true NR link: determinism, CRC semantics, per-code-block delivery, fading and CSI models, errors."""

import sys

import pytest
import torch

from semcom.errors import InputError, LinkError
from semcom.link import MCS, NRLink, noise_variance
from semcom.link.base import complex_normal


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _bits(shape, seed=0):
    return torch.randint(0, 2, shape, generator=torch.Generator().manual_seed(seed)).float()


QPSK_23 = MCS.from_table(9)  # QPSK, R = 679/1024
HIGH_RATE = MCS.from_table(27)  # 64QAM, R = 910/1024 (cheap to decode, 2 CBs per 8500-bit TB)


@pytest.fixture(scope="module")
def waterfall():
    """QPSK r=2/3, 40 single-CB TBs of 1480 bits at 3.25 dB (CB error rate ~0.8 - 0.9)."""
    link = NRLink(QPSK_23, max_tb_bits=1480)
    bits = _bits((20, 2960), seed=1)
    return link, bits, link.transmit(bits, 3.4, generator=5)


def test_shapes_and_high_snr_error_free():
    link = NRLink(QPSK_23, max_tb_bits=2000)
    bits = _bits((2, 2, 3000))
    res = link.transmit(bits, 12.0, generator=0)
    plan = link.plan(3000)
    assert res.bits.shape == (2, 2, 3000) and res.bits.dtype == torch.float32
    assert res.cb_ok.shape == (2, 2, plan.num_cb) and res.tb_ok.shape == (2, 2, plan.num_tb)
    assert res.cb_ok.all() and res.tb_ok.all() and torch.equal(res.bits, bits)
    assert res.channel_uses == plan.channel_uses == sum(t.num_re for t in plan.tbs)
    assert res.num_coded_bits == plan.channel_uses * QPSK_23.modulation_order
    assert res.cb_ranges == list(plan.cb_ranges) and res.delivered_mask.all()
    # the symbols actually spent: the coded bits of each TB over Qm
    coded = link.encode(bits.reshape(-1, 3000))
    assert sum(c.shape[-1] for c in coded) == res.num_coded_bits


def test_very_low_snr_all_code_blocks_fail():
    link = NRLink(QPSK_23, max_tb_bits=1480)
    res = link.transmit(_bits((4, 1480)), -6.0, generator=0)
    assert not res.cb_ok.any() and not res.tb_ok.any()
    assert res.ber(_bits((4, 1480))) > 0.05


def test_same_seed_same_result_and_seeds_differ(waterfall):
    link, bits, res = waterfall
    assert 0.0 < res.cbler() < 1.0  # a mid (waterfall) SNR
    again = link.transmit(bits, 3.4, generator=5)
    assert torch.equal(again.bits, res.bits) and torch.equal(again.cb_ok, res.cb_ok)
    again = link.transmit(bits, 3.4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(again.bits, res.bits)
    other = link.transmit(bits, 3.4, generator=6)
    assert not torch.equal(other.bits, res.bits)


def test_passed_crc_implies_correct_bits(waterfall):
    _, bits, res = waterfall
    passed = res.delivered_mask
    assert passed.any() and (~passed).any()
    assert torch.equal(res.bits[passed], bits[passed])
    # failed code blocks really carry errors (CRC failures are not spurious)
    for i in range(bits.shape[0]):
        for j, (a, b) in enumerate(res.cb_ranges):
            if not res.cb_ok[i, j]:
                assert not torch.equal(res.bits[i, a:b], bits[i, a:b])


def test_per_cb_delivery_when_tb_fails():
    link = NRLink(HIGH_RATE, max_tb_bits=8500, channel="rayleigh", fading="per_cb")
    plan = link.plan(8500)
    assert plan.num_tb == 1 and plan.num_cb == 2 and plan.tbs[0].cb_crc_length == 24
    bits = _bits((12, 8500), seed=2)
    res = link.transmit(bits, 20.0, generator=3)
    partial = (~res.tb_ok[:, 0]) & res.cb_ok.any(-1)
    assert partial.any(), "expected a TB that failed while one of its CBs passed"
    for i in torch.nonzero(partial).flatten().tolist():
        for j, (a, b) in enumerate(res.cb_ranges):
            if res.cb_ok[i, j]:
                assert torch.equal(res.bits[i, a:b], bits[i, a:b])
    # the TB CRC passes exactly when all its CBs pass
    assert torch.equal(res.tb_ok[:, 0], res.cb_ok.all(-1))
    assert torch.equal(res.bits[res.delivered_mask], bits[res.delivered_mask])


def test_rayleigh_per_tb_correlates_code_blocks():
    bits = _bits((12, 8500), seed=4)
    out = {}
    for fading in ("per_cb", "per_tb"):
        link = NRLink(HIGH_RATE, max_tb_bits=8500, channel="rayleigh", fading=fading)
        res = link.transmit(bits, 20.0, generator=7)
        out[fading] = res
    g_tb, g_cb = out["per_tb"].channel_gain, out["per_cb"].channel_gain
    assert torch.equal(g_tb[:, 0], g_tb[:, 1])  # one coefficient per TB
    assert not torch.equal(g_cb[:, 0], g_cb[:, 1])
    agree_tb = (out["per_tb"].cb_ok[:, 0] == out["per_tb"].cb_ok[:, 1]).float().mean()
    agree_cb = (out["per_cb"].cb_ok[:, 0] == out["per_cb"].cb_ok[:, 1]).float().mean()
    assert agree_tb >= 0.9 and agree_tb > agree_cb


def test_rayleigh_csi_models():
    bits = _bits((16, 1480), seed=5)
    perfect = NRLink(QPSK_23, max_tb_bits=1480, channel="rayleigh", csi="perfect").transmit(bits, 30.0, generator=1)
    assert perfect.cb_ok.float().mean() >= 15 / 16
    est = NRLink(QPSK_23, max_tb_bits=1480, channel="rayleigh", csi="estimated", csi_error_var=1e-3)
    assert est.transmit(bits, 30.0, generator=1).cb_ok.float().mean() >= 14 / 16
    none = NRLink(MCS.from_table(13), max_tb_bits=1480, channel="rayleigh", csi="none").transmit(bits, 30.0, generator=1)
    assert none.cb_ok.float().mean() <= 0.2  # no CSI: the random phase/amplitude destroys 16QAM
    # AWGN ignores the CSI model (h = 1)
    awgn = NRLink(QPSK_23, max_tb_bits=1480, csi="none").transmit(bits, 12.0, generator=1)
    assert awgn.cb_ok.all()


def test_fast_fading_runs_and_decodes_at_high_snr():
    link = NRLink(QPSK_23, max_tb_bits=1480, channel="rayleigh_fast")
    res = link.transmit(_bits((2, 1480)), 25.0, generator=0)
    assert res.cb_ok.all() and res.channel_gain.shape == (2, 1)


def test_noise_model():
    assert noise_variance(10.0) == pytest.approx(0.1)
    z = complex_normal((200_000,), torch.Generator().manual_seed(0), var=0.25)
    assert z.dtype == torch.complex64
    assert (z.abs() ** 2).mean().item() == pytest.approx(0.25, rel=0.02)
    assert z.real.var().item() == pytest.approx(0.125, rel=0.03)


@pytest.mark.parametrize(
    "bits,snr",
    [
        (torch.full((1, 10), 2.0), 5.0),
        (torch.tensor([[0.0, float("nan")]]), 5.0),
        (torch.zeros(1, 10, dtype=torch.complex64), 5.0),
        (torch.zeros(2, 0), 5.0),
        (torch.tensor(1.0), 5.0),
        ([0, 1, 1], 5.0),
        (torch.zeros(1, 10), float("nan")),
        (torch.zeros(1, 10), "5"),
        (torch.zeros(1, 10), float("inf")),
    ],
)
def test_bad_input_raises(bits, snr):
    link = NRLink(QPSK_23)
    with pytest.raises(InputError):
        link.transmit(bits, snr)


def test_bad_config_raises():
    with pytest.raises(LinkError):
        NRLink(QPSK_23, num_iter=0)
    with pytest.raises(LinkError):
        NRLink(QPSK_23, decoder="magic")
    with pytest.raises(LinkError):
        NRLink(QPSK_23, fading="per_symbol")
    with pytest.raises(LinkError):
        NRLink(QPSK_23, csi="genie")
    with pytest.raises(LinkError):
        NRLink(QPSK_23, csi="estimated", csi_error_var=-1.0)
    with pytest.raises(InputError):
        NRLink(QPSK_23).transmit(torch.zeros(1, 10), 5.0, generator="seed")


def test_int_and_bool_payloads_accepted():
    link = NRLink(QPSK_23)
    bits = _bits((1, 200))
    for x in (bits.long(), bits.bool()):
        assert torch.equal(link.transmit(x, 15.0).bits, bits)


def test_fast_decoder_switch(monkeypatch):
    pytest.importorskip("semcom.link.ldpc_fast")
    link = NRLink(QPSK_23, max_tb_bits=1480, decoder="fast")
    bits = _bits((2, 1480))
    assert torch.equal(link.transmit(bits, 10.0).bits, bits)
    monkeypatch.setitem(sys.modules, "semcom.link.ldpc_fast", None)  # import now fails
    with pytest.raises(LinkError, match="ldpc_fast"):
        NRLink(QPSK_23, decoder="fast")
    from semcom.link import make_ldpc_decoder

    with pytest.raises(LinkError, match="ldpc_fast"):
        make_ldpc_decoder("fast", link._codec(link.plan(1480).tbs[0]).ldpc_encoder, 5)


def test_code_blocks_occupy_contiguous_symbols():
    """Per-CB fading relies on CB r's coded bits filling [sum E_<r, sum E_<=r) of the TB."""
    link = NRLink(MCS.from_rate(4, 2 / 3), max_tb_bits=20_000)
    lay = link.plan(20_000).tbs[0]
    assert lay.num_cb == 3
    bits = _bits((1, 20_000), seed=9)
    flipped = bits.clone()
    flipped[0, :100] = 1 - flipped[0, :100]  # payload of CB 0 only (the TB CRC sits in CB 2)
    c0, c1 = link.encode(bits)[0], link.encode(flipped)[0]
    edges = [0]
    for e in lay.cw_lengths:
        edges.append(edges[-1] + e)
    diff = (c0 != c1)[0]
    assert diff[edges[0]:edges[1]].any()
    assert not diff[edges[1]:edges[2]].any()  # CB 1 untouched
    assert diff[edges[2]:edges[3]].any()  # CB 2 carries the changed TB CRC
    assert all(e % 4 == 0 for e in edges)  # whole 16QAM symbols
