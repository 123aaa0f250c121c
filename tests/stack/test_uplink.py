"""The semantic uplink end to end: delivery, loss isolation, overhead accounting, bad input."""

import math

import pytest
import torch

from semcom.errors import ConfigError, InputError
from semcom.link.result import LinkResult
from semcom.stack.uplink import GnbStack, SemanticUplink, StackConfig, lcid_of


class ScriptedLink:
    """Test double of a link: passes the bits through, or fails the TB CRC when told to;
    channel uses are ceil(k / (Qm R)). Lets tests fix which transport blocks are lost."""

    def __init__(self, qm, rate, fail=False, flip_bit=None):
        self.qm, self.rate, self.fail, self.flip_bit = qm, rate, fail, flip_bit
        self.sent = []

    def transmit(self, bits, snr_db, *, generator=None):
        self.sent.append(bits.clone())
        out = bits.clone()
        if self.flip_bit is not None:  # an error the CRC misses: only integrity can catch it
            out[..., self.flip_bit] = 1 - out[..., self.flip_bit]
        k = bits.shape[-1]
        ok = torch.full((bits.shape[0], 1), not self.fail)
        uses = math.ceil(k / (self.qm * self.rate))
        return LinkResult(out, ok, ok, [(0, k)], [0], uses, uses * self.qm, float(snr_db))


def make(fail=(False, False), flip=(None, None), **cfg):
    config = StackConfig(mcs=[[2, 0.5], [2, 2 / 3]], **cfg)
    links = [ScriptedLink(2, r, fail=f, flip_bit=b) for r, f, b in zip((0.5, 2 / 3), fail, flip)]
    return SemanticUplink(config, links=links), links


def flows(n0=5, n1=7, size=40):
    return {
        0: [bytes([0, i]) * (size // 2) for i in range(n0)],
        1: [bytes([1, i]) * (size // 2) for i in range(n1)],
    }


def test_all_delivered_and_overhead_counted_exactly():
    up, links = make()
    f = flows()
    res = up.transmit(f, snr_db=5.0, generator=0)
    assert res.delivered == f
    n = 12
    # SDAP 1 B, PDCP 2 B header + 4 B MAC-I, RLC UM 1 B, MAC subheader 2 B (SDU < 256 B)
    assert res.overhead_bytes == {"sdap": n, "pdcp": 6 * n, "rlc": n, "mac": 2 * n}
    assert res.payload_bytes == {0: 5 * 40, 1: 7 * 40}
    sent_bits = sum(b.shape[-1] for link in links for b in link.sent)
    assert sent_bits == 8 * res.mac_pdu_bytes == 8 * (480 + 10 * n)
    assert res.channel_uses[0] == math.ceil(8 * (200 + 50) / 1.0)
    assert res.channel_uses[1] == math.ceil(8 * (280 + 70) / (4 / 3))
    assert res.cbr(1000) == pytest.approx(res.total_channel_uses / 1000)


def test_lost_transport_block_loses_only_its_own_flows_data():
    up, _ = make(fail=(False, True))
    f = flows()
    res = up.transmit(f, snr_db=5.0, generator=0)
    assert res.delivered[0] == f[0]
    assert res.delivered[1] == [None] * 7
    assert res.tb_ok == {0: [True], 1: [False]}
    # the bearer survives the loss: the next burst is delivered
    up.phy.links[1].fail = False
    res2 = up.transmit(f, snr_db=5.0, generator=1)
    assert res2.delivered == f


def test_loss_is_confined_to_the_failed_transport_block_within_a_class():
    config = StackConfig(mcs=[[2, 0.5]], max_tb_bytes=100)
    link = ScriptedLink(2, 0.5)
    calls = {"n": 0}
    orig = link.transmit

    def second_tb_fails(bits, snr_db, *, generator=None):
        calls["n"] += 1
        res = orig(bits, snr_db, generator=generator)
        if calls["n"] == 2:
            res.tb_ok[:] = False
        return res

    link.transmit = second_tb_fails
    up = SemanticUplink(config, links=[link])
    sdus = [bytes([i]) * 40 for i in range(6)]  # 40 + 9 B overhead: two SDUs per 100-byte TB
    res = up.transmit({0: sdus}, snr_db=0.0)
    assert res.tb_ok[0] == [True, False, True]
    assert res.delivered[0] == [sdus[0], sdus[1], None, None, sdus[4], sdus[5]]


def test_corruption_missed_by_crc_is_caught_by_integrity():
    up, _ = make(flip=(None, 8 * 20))  # a bit inside the first ciphered PDCP PDU of class 1
    f = flows()
    res = up.transmit(f, snr_db=5.0)
    assert res.delivered[0] == f[0]
    assert res.delivered[1][0] is None and res.delivered[1][1:] == f[1][1:]
    assert res.discarded["integrity"] == 1


def test_replayed_transport_block_is_rejected():
    up, links = make()
    up.transmit(flows(), snr_db=5.0)
    from semcom.stack.phy import bits_to_bytes

    replay = bits_to_bytes(links[0].sent[0][0])
    assert up.gnb.receive(replay) == []
    assert up.gnb.discarded["replay"] == 5


def test_ciphered_payload_does_not_appear_on_the_air():
    up, links = make()
    f = {0: [b"secret semantic indices!"], 1: []}
    up.transmit(f, snr_db=5.0)
    from semcom.stack.phy import bits_to_bytes

    assert b"secret" not in bits_to_bytes(links[0].sent[0][0])
    up2, links2 = make(ciphering=False)
    up2.transmit(f, snr_db=5.0)
    assert b"secret" in bits_to_bytes(links2[0].sent[0][0])


def test_long_sdus_use_three_byte_mac_subheaders():
    up, _ = make()
    res = up.transmit({0: [bytes(300)]}, snr_db=5.0)
    assert res.overhead_bytes["mac"] == 3
    assert lcid_of(0) == 4


def test_bad_input():
    up, _ = make()
    with pytest.raises(InputError):
        up.transmit({2: [b"x"]}, snr_db=0.0)
    with pytest.raises(InputError):
        up.transmit({0: ["text"]}, snr_db=0.0)
    with pytest.raises(InputError):
        up.transmit({0: b"raw bytes, not a list"}, snr_db=0.0)
    with pytest.raises(InputError):
        up.transmit({0: [b"x"]}, snr_db=float("nan"))
    with pytest.raises(InputError):
        up.transmit([b"x"], snr_db=0.0)
    with pytest.raises(ConfigError):
        StackConfig.from_dict({"mcs": [[2, 0.5]], "bogus": 1})
    with pytest.raises(ConfigError):
        StackConfig(mcs=[[2]])
    with pytest.raises(ConfigError):
        SemanticUplink(StackConfig(mcs=[[2, 0.5]]), links=[ScriptedLink(2, 0.5), ScriptedLink(2, 0.5)])
    with pytest.raises(InputError):
        SemanticUplink(StackConfig(mcs=[[2, 0.5]], max_tb_bytes=50), links=[ScriptedLink(2, 0.5)]).transmit(
            {0: [bytes(60)]}, snr_db=0.0
        )


def test_real_link_protected_class_survives_where_the_weak_mcs_fails():
    # BLER-table link: QPSK R=0.3 is far above its threshold at 6 dB, 64QAM R=0.9 far below
    up = SemanticUplink(StackConfig(mcs=[[2, 0.3], [6, 0.9]], fidelity="bler_table"))
    f = flows()
    res = up.transmit(f, snr_db=6.0, generator=0)
    assert res.delivered[0] == f[0]
    assert res.delivered[1] == [None] * 7
    assert res.channel_uses[0] > res.channel_uses[1] > 0
    res_hi = up.transmit(f, snr_db=30.0, generator=1)
    assert res_hi.delivered == f


def test_erasure_link_kwargs_pass_through():
    up = SemanticUplink(StackConfig(mcs=[[2, 0.5]], fidelity="erasure", link={"cbler": 1.0}))
    res = up.transmit({0: [b"abc"]}, snr_db=10.0)
    assert res.delivered[0] == [None] and res.tb_ok[0] == [False]


def _pdcp_pdus(mac_pdu_bits):
    from semcom.stack.mac import demultiplex
    from semcom.stack.phy import bits_to_bytes
    from semcom.stack.rlc import RlcUm

    return [RlcUm.decapsulate(r) for _, r in demultiplex(bits_to_bytes(mac_pdu_bits[0]))]


def test_one_session_continues_count_and_never_repeats_a_count():
    up, links = make()
    f = flows(n0=3, n1=2)
    up.transmit(f, snr_db=5.0)
    res = up.transmit(f, snr_db=5.0)
    assert res.delivered == f  # the gNB accepts the continued COUNTs
    assert [tx.tx_next for tx in up.ue.pdcp.values()] == [6, 4]
    sns = [int.from_bytes(p[:2], "big") & 0xFFF for p in _pdcp_pdus(links[0].sent[0]) + _pdcp_pdus(links[0].sent[1])]
    assert sns == list(range(6))  # (key, COUNT, bearer, direction) is never repeated within the session


def test_two_sessions_cipher_the_same_flows_differently():
    f = {0: [b"the same semantic indices"], 1: []}
    air = {}
    for session in (0, 1, b"image 1"):
        up = SemanticUplink(StackConfig(mcs=[[2, 0.5], [2, 2 / 3]]), links=[ScriptedLink(2, 0.5), ScriptedLink(2, 2 / 3)],
                            session=session)
        assert up.transmit(f, snr_db=5.0).delivered[0] == f[0]
        (pdu,) = _pdcp_pdus(up.phy.links[0].sent[0])
        air[session] = pdu
    assert len({p[:2] for p in air.values()}) == 1  # same SN (COUNT 0) ...
    assert len({p[2:] for p in air.values()}) == 3  # ... different key streams
    mismatched = GnbStack(StackConfig(mcs=[[2, 0.5], [2, 2 / 3]]), session=2)
    up = SemanticUplink(StackConfig(mcs=[[2, 0.5], [2, 2 / 3]]), links=[ScriptedLink(2, 0.5), ScriptedLink(2, 2 / 3)],
                        session=1)
    up.transmit(f, snr_db=5.0)
    from semcom.stack.phy import bits_to_bytes

    assert mismatched.receive(bits_to_bytes(up.phy.links[0].sent[0][0])) == []
    assert mismatched.discarded["integrity"] == 1


def test_gnb_discards_a_low_sn_near_the_count_wrap():
    """Near COUNT 2^32 a low SN maps past the last COUNT: counted as malformed, never raised."""
    up, _ = make()
    for rx in up.gnb.pdcp.values():
        rx.rx_deliv = rx.rx_next = 2**32 - 2
    fresh, fresh_links = make()
    fresh.transmit({0: [b"SN 0"]}, snr_db=5.0)
    from semcom.stack.phy import bits_to_bytes

    assert up.gnb.receive(bits_to_bytes(fresh_links[0].sent[0][0])) == []
    assert up.gnb.discarded["malformed"] == 1


def test_stack_refuses_to_wrap_count():
    from semcom.stack.errors import KeyReuseError

    up, _ = make()
    up.ue.pdcp[0].tx_next = 2**32 - 1
    with pytest.raises(KeyReuseError):
        up.transmit({0: [b"a", b"b"]}, snr_db=5.0)
    with pytest.raises(ConfigError):
        SemanticUplink(StackConfig(mcs=[[2, 0.5]]), links=[ScriptedLink(2, 0.5)], session=-1)
    with pytest.raises(ConfigError):
        StackConfig(mcs=[[2, 0.5]], ue_id=2**32)
