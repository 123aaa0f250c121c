"""Capacity formulas and the capacity-achieving ("ideal code") link."""

import math

import pytest
import torch

from semcom.errors import InputError, LinkError
from semcom.link import (CapacityLink, MCS, awgn_capacity, block_capacity_bits, capacity_bits,
                         ergodic_capacity, outage_probability)


def test_formulas():
    assert capacity_bits(1000, 0.0) == pytest.approx(1000.0)
    assert capacity_bits(10, 10 * math.log10(3)) == pytest.approx(20.0)
    assert awgn_capacity(20.0) == pytest.approx(math.log2(101))
    assert block_capacity_bits(100, 0.0, 3.0) == pytest.approx(200.0)
    assert outage_probability(1.0, 0.0) == pytest.approx(1 - math.exp(-1.0))
    # ergodic Rayleigh capacity: Monte Carlo check, and below AWGN (Jensen)
    g = torch.distributions.Exponential(1.0).sample((400_000,))
    mc = torch.log2(1 + g * 10.0).mean().item()
    assert ergodic_capacity(10.0) == pytest.approx(mc, rel=0.01)
    assert ergodic_capacity(10.0) < awgn_capacity(10.0)
    assert capacity_bits(50, 10.0, "rayleigh") == pytest.approx(50 * ergodic_capacity(10.0))
    with pytest.raises(LinkError):
        capacity_bits(10, 0.0, "rician")
    with pytest.raises(InputError):
        capacity_bits(10, float("nan"))
    with pytest.raises(InputError):
        capacity_bits(-1, 0.0)


def test_awgn_capacity_link_charges_capacity_and_delivers():
    link = CapacityLink()
    bits = torch.randint(0, 2, (3, 5000), generator=torch.Generator().manual_seed(0)).float()
    res = link.transmit(bits, 5.0)
    c = awgn_capacity(5.0)
    assert res.channel_uses == math.ceil(5000 / c)
    assert res.cb_ok.all() and res.tb_ok.all() and torch.equal(res.bits, bits)
    assert res.cb_ranges == [(0, 5000)]
    n = 1234
    k = link.max_payload_bits(n, snr_db=5.0)
    assert k == math.floor(n * c)
    assert link.plan(k, 5.0).channel_uses <= n < link.plan(k + 1, 5.0).channel_uses
    with pytest.raises(LinkError):
        link.max_payload_bits(n)  # AWGN needs the SNR


def test_block_sizes():
    link = CapacityLink(block_bits=1000)
    res = link.transmit(torch.zeros(1, 2500), 0.0)
    assert res.cb_ranges == [(0, 1000), (1000, 2000), (2000, 2500)]
    assert res.channel_uses == 1000 + 1000 + 500
    assert link.plan(2500, 0.0).channel_uses + 0 == link.plan(2500, 0.0).channel_uses
    k = link.max_payload_bits(2600, 0.0)
    assert link.plan(k, 0.0).channel_uses <= 2600


def test_rayleigh_outage_matches_formula():
    m = MCS.from_rate(4, 0.5)  # 2 bits per channel use
    link = CapacityLink(m, channel="rayleigh")
    assert link.rate == pytest.approx(2.0)
    res = link.transmit(torch.zeros(20_000, 200), 10.0, generator=1)
    assert res.channel_uses == 100
    p = outage_probability(2.0, 10.0)
    assert res.cbler() == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / 20_000))
    # delivered exactly when the instantaneous capacity covers the rate
    g = res.channel_gain[:, 0]
    assert torch.equal(res.cb_ok[:, 0], 2.0 <= torch.log2(1 + 10.0 * g))
    assert link.max_payload_bits(100) == 200
    assert CapacityLink(rate=1.5, channel="rayleigh").max_payload_bits(100, 3.0) == 150
    none = CapacityLink(m, channel="rayleigh", csi="none").transmit(torch.zeros(5, 10), 30.0)
    assert not none.cb_ok.any()
    est = CapacityLink(m, channel="rayleigh", csi="estimated", csi_error_var=0.3)
    assert est.transmit(torch.zeros(20_000, 200), 10.0, generator=1).cbler() > res.cbler()


def test_capacity_link_errors_and_determinism():
    with pytest.raises(LinkError):
        CapacityLink(channel="rayleigh")  # no rate, no MCS
    with pytest.raises(LinkError):
        CapacityLink(channel="rayleigh_fast", rate=1.0)
    with pytest.raises(LinkError):
        CapacityLink(rate=-1.0)
    with pytest.raises(InputError):
        CapacityLink().transmit(torch.full((1, 4), 0.5), 1.0)
    link = CapacityLink(rate=2.0, channel="rayleigh", fading="per_tb")
    a = link.transmit(torch.zeros(50, 100), 5.0, generator=3)
    b = link.transmit(torch.zeros(50, 100), 5.0, generator=3)
    assert torch.equal(a.cb_ok, b.cb_ok) and torch.equal(a.bits, b.bits)
