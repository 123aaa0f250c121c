"""Erasure and BLER-table links: same interface and layout as the bit-true link, stated statistics."""

import math

import numpy as np
import pytest
import torch

from semcom.errors import InputError, LinkError
from semcom.link import BLERTableLink, ErasureLink, MCS, NRLink, bler_table_lookup
from semcom.link.abstract import table_curves


def _bits(shape, seed=0):
    return torch.randint(0, 2, shape, generator=torch.Generator().manual_seed(seed)).float()


def test_same_layout_as_bittrue():
    m = MCS.from_table(9)
    for k in (100, 3000, 20_000):
        p_nr = NRLink(m, max_tb_bits=5000).plan(k)
        for link in (ErasureLink(m, cbler=0.1, max_tb_bits=5000), BLERTableLink(m, max_tb_bits=5000)):
            res = link.transmit(_bits((2, k)), 3.0, generator=0)
            assert res.cb_ranges == list(p_nr.cb_ranges)
            assert res.channel_uses == p_nr.channel_uses and res.num_coded_bits == p_nr.num_coded_bits
            assert res.cb_ok.shape == (2, p_nr.num_cb) and res.tb_ok.shape == (2, p_nr.num_tb)
            assert link.max_payload_bits(5000) == NRLink(m, max_tb_bits=5000).max_payload_bits(5000)


def test_erasure_realises_its_cbler():
    p = 0.2
    link = ErasureLink(MCS.from_table(9), cbler=p, max_tb_bits=500)
    bits = _bits((500, 5000))
    res = link.transmit(bits, 0.0, generator=1)
    n = res.cb_ok.numel()  # 5000 code blocks
    # binomial: 4 standard deviations
    assert abs(res.cbler() - p) < 4 * math.sqrt(p * (1 - p) / n)
    # TB fails iff one of its code blocks fails; here one CB per TB
    assert torch.equal(res.tb_ok, res.cb_ok)
    # passed code blocks deliver exactly, failed ones random bits (about half wrong)
    ok = res.delivered_mask
    assert torch.equal(res.bits[ok], bits[ok])
    assert (res.bits[~ok] != bits[~ok]).float().mean().item() == pytest.approx(0.5, abs=0.01)
    assert ErasureLink(MCS.from_table(9), cbler=0.0).transmit(bits[:4], 0.0).cb_ok.all()
    assert not ErasureLink(MCS.from_table(9), cbler=1.0).transmit(bits[:4], 0.0).cb_ok.any()


def test_tb_flag_is_and_of_its_code_blocks():
    link = ErasureLink(MCS.from_rate(2, 0.5), cbler=0.3, max_tb_bits=20_000)
    res = link.transmit(_bits((50, 40_000)), 0.0, generator=2)
    cb_tb = torch.tensor(res.cb_tb)
    for t in range(res.num_tb):
        assert torch.equal(res.tb_ok[:, t], res.cb_ok[:, cb_tb == t].all(-1))


def test_abstractions_are_deterministic():
    bits = _bits((8, 3000))
    for link in (ErasureLink(9, cbler=0.5), BLERTableLink(9, channel="rayleigh")):
        a = link.transmit(bits, 8.0, generator=3)
        b = link.transmit(bits, 8.0, generator=3)
        c = link.transmit(bits, 8.0, generator=4)
        assert torch.equal(a.bits, b.bits) and torch.equal(a.cb_ok, b.cb_ok)
        assert not torch.equal(a.bits, c.bits)


def test_bler_table_values_follow_the_table():
    grid, cbs, bler = table_curves(1, 9)
    assert list(cbs) == [24, 100, 500, 1000, 2000]
    m = MCS.from_table(9)
    # at a table point and size the lookup returns the table value
    for j in (1, 2):
        for i in (4, 5):
            got = float(bler_table_lookup(m, int(cbs[j]), torch.tensor([10 ** (grid[i] / 10)]), tables="sionna")[0])
            assert got == pytest.approx(bler[j, i], abs=1e-5)
    # monotone in SNR; clamped beyond the table
    snr_db = torch.linspace(-10, 30, 81)
    p = bler_table_lookup(m, 1500, 10 ** (snr_db / 10), tables="sionna")
    assert (p[1:] <= p[:-1] + 1e-6).all()
    assert p[0] == pytest.approx(1.0) and p[-1] == pytest.approx(0.0)
    # larger than the table's 2000 bits: the 2000-bit curve
    x = 10 ** (torch.tensor([3.0]) / 10)
    assert bler_table_lookup(m, 8000, x, tables="sionna").item() == pytest.approx(
        bler_table_lookup(m, 2000, x, tables="sionna").item())
    # Sionna's own interpolation is available too
    s = bler_table_lookup(m, 1000, 10 ** (torch.tensor([-3.0, 8.0]) / 10), interpolation="sionna", tables="sionna")
    assert s[0] > 0.99 and s[1] < 1e-3


def test_bler_table_link_snr_behaviour():
    link = BLERTableLink(MCS.from_table(9), max_tb_bits=1500)
    bits = _bits((200, 3000))
    assert link.transmit(bits, 8.0, generator=0).cb_ok.all()
    assert not link.transmit(bits, -2.0, generator=0).cb_ok.any()
    mid = link.transmit(bits, 3.0, generator=0)
    p = link.cbler_at(3.0, link.plan(3000).cb_sizes[0])
    n = mid.cb_ok.numel()
    assert abs(mid.cbler() - p) < 4 * math.sqrt(p * (1 - p) / n) + 1e-9


def test_bler_table_nearest_entry_for_non_table_mcs():
    link = BLERTableLink(MCS.from_rate(2, 0.5))
    assert link.table_mcs == MCS.from_table(7)  # 526/1024 is nearest to 0.5 among QPSK rows
    assert BLERTableLink(MCS.from_rate(8, 0.8)).table_mcs.table == 2


def test_bler_table_rayleigh_outage_statistics():
    # per-CB Rayleigh: P(fail) ~ P(|h|^2 snr below the waterfall) = 1 - exp(-thr / snr)
    link = BLERTableLink(MCS.from_table(9), max_tb_bits=1500, channel="rayleigh", fading="per_cb")
    res = link.transmit(_bits((2000, 1500)), 13.0, generator=1)
    lo, hi = -5.0, 20.0  # where the table's curve for this MCS and size crosses 50 %
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if link.cbler_at(mid, link.plan(1500).cb_sizes[0]) > 0.5 else (lo, mid)
    thr_db = lo
    expected = 1 - math.exp(-(10 ** (thr_db / 10)) / 10 ** 1.3)
    assert res.cbler() == pytest.approx(expected, abs=0.03)
    assert res.channel_gain.mean().item() == pytest.approx(1.0, abs=0.08)
    none = BLERTableLink(MCS.from_table(9), channel="rayleigh", csi="none").transmit(_bits((4, 100)), 30.0)
    assert not none.cb_ok.any()
    est = BLERTableLink(MCS.from_table(9), channel="rayleigh", csi="estimated", csi_error_var=0.5)
    assert est.transmit(_bits((2000, 100)), 13.0, generator=1).cbler() > res.cbler()


def test_per_tb_fading_gives_equal_outcomes_within_tb():
    link = BLERTableLink(MCS.from_rate(2, 0.5), max_tb_bits=20_000, channel="rayleigh", fading="per_tb")
    res = link.transmit(_bits((300, 20_000)), 4.0, generator=2)
    assert res.cb_ok.shape[-1] >= 2
    g = res.channel_gain
    assert torch.equal(g[:, 0], g[:, 1])
    # away from the table's waterfall the outcome is decided by h alone -> same within a TB
    agree = (res.cb_ok[:, 0] == res.cb_ok[:, 1]).float().mean().item()
    assert agree > 0.9


def test_abstraction_errors():
    with pytest.raises(LinkError):
        ErasureLink(9, cbler=1.5)
    with pytest.raises(LinkError):
        ErasureLink(9, cbler=None)
    with pytest.raises(LinkError):
        BLERTableLink(9, channel="rayleigh_fast")
    with pytest.raises(LinkError):
        BLERTableLink(9, interpolation="cubic")
    with pytest.raises(InputError):
        ErasureLink(9, cbler=0.1).transmit(torch.full((1, 8), 3.0), 1.0)
    with pytest.raises(InputError):
        BLERTableLink(9).transmit(torch.zeros(1, 8), float("nan"))
    assert np.isfinite(BLERTableLink(9).cbler_at(2.0, 500))


@pytest.mark.parametrize("size", [8, 5000, 70_000])
def test_check_payload_compiled_and_torch_paths_agree(size):
    """Small payloads take torch's comparison, large float32 ones the compiled pass: same verdicts."""
    from semcom.link.base import check_payload

    good = torch.randint(0, 2, (2, size)).float()
    good[0, 0] = -0.0  # equals 0
    x, shape = check_payload(good)
    assert shape == (2,) and torch.equal(x, good)
    for bad, message in [(0.5, "0 or 1"), (2.0, "0 or 1"), (float("nan"), "NaN"), (float("inf"), "NaN")]:
        for pos in (0, size - 1):  # first block and last block
            b = good.clone()
            b[1, pos] = bad
            with pytest.raises(InputError, match=message):
                check_payload(b)
    bools = good.bool()
    assert torch.equal(check_payload(bools)[0], good)
    assert torch.equal(check_payload(good[:, ::2])[0], good[:, ::2])  # non-contiguous
