"""TB/CB layout (38.214 TBS, 38.212 segmentation and rate matching) against Sionna's TB encoder."""

import contextlib
import io
import random
import warnings

import pytest

from semcom.errors import InputError, LinkError
from semcom.link import MCS, NRLink, default_max_tb_bits, tbs_from_nre
from semcom.link.layout import SLOT_NUM_RE, plan_payload, tb_layout

MCSS = [MCS.from_rate(2, 0.5), MCS.from_rate(2, 0.3), MCS.from_rate(4, 2 / 3), MCS.from_table(3),
        MCS.from_table(20), MCS.from_table(27, table=2)]


@pytest.mark.parametrize("mcs", MCSS, ids=str)
def test_tbs_matches_sionna(mcs):
    from sionna.phy.nr.utils import calculate_tb_size

    rng = random.Random(0)
    nres = [1, 5, 12, 100, 500, 999, 2000, 5000, 16536] + [rng.randint(1, 60000) for _ in range(20)]
    for nre in nres:
        ref = calculate_tb_size(mcs.modulation_order, mcs.code_rate, num_coded_bits=nre * mcs.modulation_order,
                                return_cw_length=False)
        assert tbs_from_nre(nre, mcs) == int(ref[0]), nre


def _sionna_encoder(lay, mcs):
    from sionna.phy.nr import TBEncoder

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return TBEncoder(lay.tbs, lay.num_coded_bits, mcs.code_rate, mcs.modulation_order)


@pytest.mark.parametrize("mcs", [MCS.from_rate(2, 0.5), MCS.from_table(16), MCS.from_table(27, table=2)], ids=str)
def test_layout_matches_sionna_tb_encoder(mcs):
    for k in [1, 24, 293, 1000, 3824, 3825, 8425, 20000]:
        lay = tb_layout(k, mcs)
        assert lay.tbs >= k
        enc = _sionna_encoder(lay, mcs)
        assert enc.tb_size == lay.tbs
        assert enc.num_cbs == lay.num_cb
        assert enc.ldpc_encoder.k == lay.cb_size
        assert [int(c) for c in enc.cw_lengths] == list(lay.cw_lengths)
        assert sum(lay.cw_lengths) == lay.num_coded_bits == lay.num_re * mcs.modulation_order


def test_segmentation_rules_of_38212():
    m = MCS.from_rate(2, 0.5)
    small = tb_layout(3000, m)  # TBS <= 3824: CRC16, one CB, no CB CRC
    assert (small.tb_crc_length, small.num_cb, small.cb_crc_length) == (16, 1, 0)
    big = tb_layout(20000, m)  # BG1: C = ceil((TBS + 24) / 8424), CRC24A + CRC24B
    assert big.tb_crc_length == 24 and big.cb_crc_length == 24
    assert big.num_cb == -(-(big.tbs + 24) // 8424)
    assert big.cb_size * big.num_cb == big.tbs + 24 + 24 * big.num_cb
    assert max(big.cw_lengths) - min(big.cw_lengths) in (0, m.modulation_order)
    # the smallest N_RE: one resource element fewer no longer holds the payload
    assert tbs_from_nre(big.num_re - 1, m) < 20000 <= tbs_from_nre(big.num_re, m)


def test_low_rate_bg1_tbs_are_capped():
    # R = 0.3 with TBs > 3824 would need BG1 below its mother rate 1/3 (repetition): capped.
    plan = plan_payload(20000, MCS.from_rate(2, 0.3))
    assert plan.max_tb_bits == 3752
    assert all(t.base_graph == 2 for t in plan.tbs)


def test_plan_covers_payload_in_order():
    m = MCS.from_table(9)
    plan = plan_payload(50_000, m, 12_000)
    assert plan.tb_payload == (12_000,) * 4 + (2_000,)
    assert plan.cb_ranges[0][0] == 0 and plan.cb_ranges[-1][1] == 50_000
    for (a, b), (c, _d) in zip(plan.cb_ranges, plan.cb_ranges[1:]):
        assert b == c and a <= b
    assert plan.channel_uses == sum(t.num_re for t in plan.tbs)
    assert len(plan.cb_tb) == plan.num_cb == sum(t.num_cb for t in plan.tbs)
    assert plan.num_tb == 5


def test_channel_uses_shortcut_matches_plan():
    from semcom.link.layout import channel_uses_of

    for mcs in (MCS.from_table(9), MCS.from_rate(2, 0.3), MCS.from_table(27, table=2)):
        for k in (1, 100, 3752, 3753, 20_000, 123_457):
            for m in (None, 5000):
                assert channel_uses_of(k, mcs, m) == plan_payload(k, mcs, m).channel_uses


def test_default_tb_is_one_reference_slot():
    m = MCS.from_rate(2, 0.5)
    assert default_max_tb_bits(m) == tbs_from_nre(SLOT_NUM_RE, m)
    plan = plan_payload(100_000, m)
    assert plan.tb_payload[0] == default_max_tb_bits(m)
    assert plan.tbs[0].num_re <= SLOT_NUM_RE


@pytest.mark.parametrize("mcs", [MCS.from_table(9), MCS.from_table(20), MCS.from_rate(2, 0.3)], ids=str)
@pytest.mark.parametrize("n", [40, 500, 3000, 25_000])
def test_max_payload_bits_is_tight(mcs, n):
    link = NRLink(mcs, max_tb_bits=8000)
    k = link.max_payload_bits(n)
    assert k > 0
    assert link.plan(k).channel_uses <= n
    assert all(link.plan(k2).channel_uses > n for k2 in range(k + 1, k + 200, 7))
    # TBS quantisation may round N_info up a little, never by more than a few percent
    assert k <= 1.03 * n * mcs.spectral_efficiency + 64


def test_max_payload_bits_small_and_errors():
    link = NRLink(MCS.from_table(9))
    assert link.max_payload_bits(0) == 0
    assert link.max_payload_bits(3) == 0  # not even the smallest TB fits
    with pytest.raises(InputError):
        link.max_payload_bits(-1)
    with pytest.raises(InputError):
        link.plan(0)
    with pytest.raises(LinkError):
        NRLink(MCS.from_table(9), max_tb_bits=0)
