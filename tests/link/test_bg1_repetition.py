"""TBs that 38.212 puts on LDPC base graph 1 below its mother rate 1/3 (38.214 table 1 MCS 4 and
table 2 MCS 2, R = 308/1024, TBs above 3824 bits): capped at 3752 bits by default, sent as the
standard sends them (bit repetition on base graph 1) with ``bg1_repetition=True``."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest
import torch

from semcom.errors import ConfigError, LinkError
from semcom.link import MCS, LinkConfig, NRLink, make_link
from semcom.link.adaptation import grant_options
from semcom.link.chain_fast import FastTBChain
from semcom.link.layout import (TBLayout, channel_uses_of, max_payload_for_channel_uses, plan_payload,
                                repeats_on_bg1)
from semcom.link.ldpc_fast import LDPCCode

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MCS4 = MCS.from_table(4)


def test_default_layout_caps_and_the_option_follows_38212():
    capped = plan_payload(16000, MCS4)
    assert all(t.tbs <= 3752 and t.base_graph == 2 for t in capped.tbs) and capped.num_tb == 5
    std = plan_payload(16000, MCS4, None, True)
    assert std.num_tb == 2 and all(t.base_graph == 1 and repeats_on_bg1(t) for t in std.tbs)
    assert all(t.cb_size / max(t.cw_lengths) < 1 / 3 for t in std.tbs)
    assert not any(repeats_on_bg1(t) for t in capped.tbs)
    # the other MCSs and small payloads are laid out alike either way
    for mcs, k in ((MCS.from_table(3), 16000), (MCS.from_table(5), 16000), (MCS4, 3000)):
        assert plan_payload(k, mcs) == plan_payload(k, mcs, None, True)


@pytest.mark.parametrize("flag", [False, True])
def test_channel_uses_and_max_payload_agree_with_the_plan(flag):
    for k in (3000, 3800, 9000, 16000, 40000):
        assert channel_uses_of(k, MCS4, None, flag) == plan_payload(k, MCS4, None, flag).channel_uses
    for uses in (12000, 30000):
        k = max_payload_for_channel_uses(uses, MCS4, None, flag)
        assert plan_payload(k, MCS4, None, flag).channel_uses <= uses
        assert plan_payload(k + 64, MCS4, None, flag).channel_uses > uses


def test_the_flag_is_checked_and_carried_by_every_way_of_building_a_link():
    for bad in (1, "yes", None):
        with pytest.raises(LinkError, match="bg1_repetition"):
            plan_payload(16000, MCS4, None, bad)
        with pytest.raises(LinkError, match="bg1_repetition"):
            NRLink(MCS4, bg1_repetition=bad)
    with pytest.raises(ConfigError):
        LinkConfig.from_dict({"fidelity": "bittrue", "mcs_index": 4, "bg1_repetition": "yes"}).build()
    for fidelity, extra in (("bittrue", {}), ("bler_table", {}), ("erasure", {"cbler": 0.1})):
        link = LinkConfig.from_dict({"fidelity": fidelity, "mcs_index": 4, "bg1_repetition": True, **extra}).build()
        assert link.bg1_repetition and link.describe()["bg1_repetition"] is True
        assert link.plan(16000) == plan_payload(16000, MCS4, None, True)
        assert link.max_payload_bits(30000) == max_payload_for_channel_uses(30000, MCS4, None, True)
    assert make_link("bittrue", mcs=4).describe()["bg1_repetition"] is False
    assert make_link("capacity", bg1_repetition=True).fidelity == "capacity"  # accepted, no base graph


def _bg1_layout(z: int, e: int) -> TBLayout:
    """A TB of one base-graph-1 code block of ``K' = 22 Z`` bits (no filler bits; CRC24A) sent as ``e`` bits."""
    k = 22 * z
    return TBLayout(tbs=k - 24, num_re=e // 2, num_coded_bits=e, tb_crc_length=24, num_cb=1,
                    cb_size=k, cb_crc_length=0, cw_lengths=(e,), base_graph=1)


@pytest.mark.parametrize("z, passes", [(192, 1.5), (208, 1.02)])
def test_coded_bits_follow_38212_bit_selection_on_base_graph_1(z, passes):
    """38.212 written out with Sionna's blocks at a rate they take: CRC24A, the whole filler-free
    circular buffer ``N_buffer = 66 Z`` from ``LDPC5GEncoder(K', N_buffer)`` (rate exactly 1/3), bit
    selection ``e_j = buffer[j mod N_buffer]``, the 5.4.2.2 interleaver and the scrambling."""
    from sionna.phy.fec.crc import CRCEncoder
    from sionna.phy.fec.ldpc import LDPC5GEncoder

    nb = 66 * z
    e = 2 * int(passes * nb / 2)
    lay = _bg1_layout(z, e)
    chain = FastTBChain(lay, MCS4)
    assert chain.repeats and isinstance(chain.ldpc_encoder, LDPCCode) and chain.ldpc_encoder.base_graph == 1
    assert chain.code.n_buffer == nb
    u = np.random.default_rng(z).integers(0, 2, (3, lay.tbs), dtype=np.uint8)
    a = CRCEncoder("CRC24A")(torch.from_numpy(u).float())
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        buf = LDPC5GEncoder(lay.cb_size, nb)(a).numpy().astype(np.uint8)
    sel = buf[:, np.arange(e) % nb]
    inter = sel.reshape(-1, 2, e // 2).transpose(0, 2, 1).reshape(-1, e)
    assert np.array_equal(chain.encode(u), inter ^ chain.scrambling[None, :e])


def test_round_trip_on_every_channel():
    link = NRLink(MCS4, bg1_repetition=True)
    plan = link.plan(19000)  # TBs of 9992 and 9008 bits, two code blocks each
    assert plan.num_cb > plan.num_tb >= 2 and all(repeats_on_bg1(t) for t in plan.tbs)
    bits = torch.randint(0, 2, (2, 19000), generator=torch.Generator().manual_seed(4)).float()
    assert torch.equal(link.transmit(bits, 6.0, generator=1).bits, bits)
    for channel in ("rayleigh", "rayleigh_fast"):
        res = NRLink(MCS4, channel=channel, bg1_repetition=True).transmit(bits, 40.0, generator=1)
        assert bool(res.cb_ok.all()) and torch.equal(res.bits, bits)
    with pytest.raises(LinkError):  # Sionna's blocks refuse base graph 1 below 1/3
        NRLink(MCS4, chain="sionna", bg1_repetition=True).transmit(bits, 6.0, generator=1)


def test_the_standard_layout_decodes_more_payloads_at_the_waterfall():
    """A 16 000-bit payload at -1.4 dB: two TBs on base graph 1 (code blocks of 5032 and 6040 bits)
    against four 3752-bit TBs on base graph 2 and a 992-bit one, whose short code block loses about
    40 % there (the committed tables); a development probe lost about 1 % against 37 % of payloads."""
    bits = torch.randint(0, 2, (24, 16000), generator=torch.Generator().manual_seed(8)).float()
    lost = {}
    for flag in (False, True):
        res = NRLink(MCS4, bg1_repetition=flag).transmit(bits, -1.4, generator=3)
        lost[flag] = int((res.bits != bits).any(dim=1).sum())
    assert lost[True] + 4 <= lost[False], lost


def test_grant_options_lay_out_the_grant_as_the_link_does():
    plain = dict(grant_options(30000, min_payload_bits=100))
    std = dict(grant_options(30000, min_payload_bits=100, bg1_repetition=True))
    assert all(t.base_graph == 2 for t in plain[MCS4].tbs) and all(t.base_graph == 1 for t in std[MCS4].tbs)
    assert std[MCS4] == NRLink(MCS4, bg1_repetition=True).plan(std[MCS4].k)
    assert {m: p for m, p in plain.items() if m != MCS4} == {m: p for m, p in std.items() if m != MCS4}
