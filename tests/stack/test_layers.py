"""SDAP, PDCP, RLC and MAC: headers, round trips, integrity, replay, malformed PDUs."""

import pytest

from semcom.errors import ConfigError, InputError
from semcom.stack.errors import IntegrityError, KeyReuseError, PduError, ReplayError
from semcom.stack.mac import MacMultiplexer, demultiplex
from semcom.stack.pdcp import PdcpConfig, PdcpReceiver, PdcpTransmitter
from semcom.stack.rlc import RlcUm
from semcom.stack.sdap import Sdap
from semcom.stack.security import derive_keys

KEYS = derive_keys(11)


def test_sdap_header_and_mapping():
    sdap = Sdap({1: 1, 2: 2})
    pdu, drb = sdap.encapsulate(b"xyz", qfi=2)
    assert drb == 2 and pdu[0] == 0x80 | 2 and pdu[1:] == b"xyz"
    assert sdap.decapsulate(pdu) == (2, b"xyz")
    with pytest.raises(InputError):
        sdap.encapsulate(b"x", qfi=5)
    with pytest.raises(PduError):
        sdap.decapsulate(bytes([0x80 | 9]))
    with pytest.raises(PduError):
        sdap.decapsulate(b"")
    with pytest.raises(ConfigError):
        Sdap({64: 1})


@pytest.mark.parametrize("sn_bits,header", [(12, 2), (18, 3)])
def test_pdcp_round_trip_header_sizes_and_ciphering(sn_bits, header):
    cfg = PdcpConfig(sn_bits=sn_bits)
    tx, rx = PdcpTransmitter(3, KEYS, cfg), PdcpReceiver(3, KEYS, cfg)
    sdu = b"semantic base indices" * 3
    count, pdu = tx.protect(sdu)
    assert count == 0 and len(pdu) == len(sdu) + header + 4 == len(sdu) + cfg.overhead_bytes
    assert sdu not in pdu  # ciphered
    assert rx.unprotect(pdu) == (0, sdu)


def test_pdcp_without_security_is_plain():
    cfg = PdcpConfig(integrity=False, ciphering=False)
    count, pdu = PdcpTransmitter(1, KEYS, cfg).protect(b"abc")
    assert pdu == bytes([0x80, 0x00]) + b"abc"
    assert cfg.overhead_bytes == 2


def test_pdcp_tampered_pdu_is_rejected_by_integrity():
    tx, rx = PdcpTransmitter(1, KEYS), PdcpReceiver(1, KEYS)
    _, pdu = tx.protect(b"0123456789")
    for pos in (0, 1, 2, len(pdu) - 1):  # header, SN, data, MAC-I
        bad = bytearray(pdu)
        bad[pos] ^= 0x01
        with pytest.raises(IntegrityError):
            rx.unprotect(bytes(bad))
    assert rx.integrity_failures == 4
    assert rx.unprotect(pdu) == (0, b"0123456789")  # the genuine PDU still passes


def test_pdcp_wrong_key_is_rejected():
    _, pdu = PdcpTransmitter(1, KEYS).protect(b"hello")
    with pytest.raises(IntegrityError):
        PdcpReceiver(1, derive_keys(12)).unprotect(pdu)
    with pytest.raises(IntegrityError):  # other bearer: BEARER enters NIA2
        PdcpReceiver(2, KEYS).unprotect(pdu)


def test_pdcp_replayed_pdu_is_rejected():
    tx, rx = PdcpTransmitter(1, KEYS), PdcpReceiver(1, KEYS)
    pdus = [tx.protect(bytes([i]) * 5)[1] for i in range(5)]
    rx.unprotect(pdus[0])
    rx.unprotect(pdus[2])  # out of order: delivered at once
    with pytest.raises(ReplayError):
        rx.unprotect(pdus[2])  # duplicate above RX_DELIV
    with pytest.raises(ReplayError):
        rx.unprotect(pdus[0])  # below RX_DELIV
    assert rx.unprotect(pdus[1])[0] == 1
    assert rx.rx_deliv == 3
    assert rx.expire_reordering() == []
    assert rx.duplicates == 2


def test_pdcp_hfn_follows_sn_wrap_and_old_replay_fails():
    cfg = PdcpConfig(sn_bits=12)
    tx, rx = PdcpTransmitter(1, KEYS, cfg), PdcpReceiver(1, KEYS, cfg)
    first = None
    for i in range(5000):  # beyond 2^12: HFN increments
        count, pdu = tx.protect(i.to_bytes(2, "big"))
        first = first or pdu
        c, sdu = rx.unprotect(pdu)
        assert c == i and sdu == i.to_bytes(2, "big")
    # replaying COUNT 0 after the wrap: SN 0 now means COUNT 4096 or 8192, integrity fails
    with pytest.raises((IntegrityError, ReplayError)):
        rx.unprotect(first)


def test_pdcp_missing_counts_given_up_after_reordering_expiry():
    tx, rx = PdcpTransmitter(1, KEYS), PdcpReceiver(1, KEYS)
    pdus = [tx.protect(b"x")[1] for _ in range(4)]
    rx.unprotect(pdus[0])
    rx.unprotect(pdus[3])
    assert rx.expire_reordering() == [1, 2]
    with pytest.raises(ReplayError):  # a late copy of a given-up COUNT is not accepted
        rx.unprotect(pdus[1])


def _keystream(keys, count, n=32):
    """The 128-NEA2 key stream a transmitter uses at ``count`` (integrity off: PDU = header || SDU xor KS)."""
    tx = PdcpTransmitter(1, keys, PdcpConfig(integrity=False))
    tx.tx_next = count
    _, pdu = tx.protect(bytes(n))
    return pdu[2:]


def test_two_sessions_use_different_key_streams_at_the_same_count():
    s1, s2 = derive_keys(11, session=1), derive_keys(11, session=2)
    for count in (0, 1, 4096):
        assert _keystream(s1, count) != _keystream(s2, count)
    assert _keystream(s1, 0) == _keystream(derive_keys(11, session=1), 0)  # deterministic per session
    # the attack a repeated key stream allows: c1 xor c2 == p1 xor p2 within one session, not across two
    p1, p2 = b"first semantic flow of image 0..", b"other semantic flow of image 1.."

    def cipher(keys, p):
        return PdcpTransmitter(1, keys, PdcpConfig(integrity=False)).protect(p)[1][2:]

    xor = bytes(a ^ b for a, b in zip(p1, p2))
    assert bytes(a ^ b for a, b in zip(cipher(s1, p1), cipher(s1, p2))) == xor
    assert bytes(a ^ b for a, b in zip(cipher(s1, p1), cipher(s2, p2))) != xor


def test_pdcp_transmitter_refuses_to_reuse_a_count():
    tx = PdcpTransmitter(1, KEYS)
    for _ in range(3):
        tx.protect(b"x")
    tx.tx_next = 1  # set back: COUNT 1 was used under these keys
    with pytest.raises(KeyReuseError):
        tx.protect(b"y")
    tx.tx_next = 3  # the next fresh COUNT works again
    assert tx.protect(b"y")[0] == 3
    tx.tx_next = 2**32 - 1
    assert tx.protect(b"last")[0] == 2**32 - 1
    with pytest.raises(KeyReuseError):  # COUNT would wrap: no key stream is repeated
        tx.protect(b"one too many")
    tx.tx_next = "7"
    with pytest.raises(KeyReuseError):
        tx.protect(b"z")


def test_pdcp_receiver_near_the_count_wrap_discards_low_sns_as_malformed():
    cfg = PdcpConfig(sn_bits=12)
    tx, rx = PdcpTransmitter(1, KEYS, cfg), PdcpReceiver(1, KEYS, cfg)
    tx.tx_next = rx.rx_deliv = rx.rx_next = 2**32 - 3
    for _ in range(3):
        rx.unprotect(tx.protect(b"near the end")[1])
    assert rx.rx_deliv == 2**32
    _, low = PdcpTransmitter(1, KEYS, cfg).protect(b"SN 0")  # would map to COUNT 2^32
    with pytest.raises(PduError):
        rx.unprotect(low)


def test_pdcp_bad_input():
    tx = PdcpTransmitter(1, KEYS)
    with pytest.raises(InputError):
        tx.protect("text")
    with pytest.raises(InputError):
        tx.protect(bytes(9001))
    with pytest.raises(PduError):
        PdcpReceiver(1, KEYS).unprotect(b"\x80\x00\x01")  # shorter than header + MAC-I
    with pytest.raises(PduError):
        PdcpReceiver(1, KEYS).unprotect(b"\x00" * 10)  # control PDU
    with pytest.raises(ConfigError):
        PdcpConfig(sn_bits=7)
    with pytest.raises(ConfigError):
        PdcpTransmitter(0, KEYS)
    with pytest.raises(ConfigError):
        PdcpTransmitter(1, (b"short", b"x"))


def test_rlc_um_complete_sdu():
    pdu = RlcUm.encapsulate(b"abc")
    assert pdu == b"\x00abc" and RlcUm.decapsulate(pdu) == b"abc"
    with pytest.raises(PduError):
        RlcUm.decapsulate(b"\x40abc")  # a segment
    with pytest.raises(PduError):
        RlcUm.decapsulate(b"")


def test_mac_multiplex_demultiplex_and_subheader_sizes():
    mux = MacMultiplexer(max_tb_bytes=1000)
    sdus = [(4, b"a" * 10), (5, b"b" * 300), (4, b"c")]
    (pdu,) = mux.multiplex(sdus)
    assert len(pdu) == (2 + 10) + (3 + 300) + (2 + 1)
    assert demultiplex(pdu) == sdus
    assert demultiplex(pdu + bytes([63]) + bytes(7)) == sdus  # padding subheader ends the PDU


def test_mac_splits_into_transport_blocks_in_order():
    mux = MacMultiplexer(max_tb_bytes=50)
    sdus = [(4, bytes([i]) * 20) for i in range(5)]
    pdus = mux.multiplex(sdus)
    assert [len(p) for p in pdus] == [44, 44, 22]
    assert [s for p in pdus for s in demultiplex(p)] == sdus


def test_mac_malformed_and_bad_input():
    (pdu,) = MacMultiplexer(100).multiplex([(4, b"x" * 20)])
    with pytest.raises(PduError):
        demultiplex(pdu[:-1])  # truncated: L runs past the end
    with pytest.raises(PduError):
        demultiplex(pdu[:1])  # truncated subheader
    with pytest.raises(PduError):
        demultiplex(bytes([40, 1, 0]))  # reserved LCID
    with pytest.raises(InputError):
        MacMultiplexer(100).multiplex([(4, b"x" * 99)])  # does not fit one TB
    with pytest.raises(InputError):
        MacMultiplexer(100).multiplex([(0, b"x")])
    with pytest.raises(ConfigError):
        MacMultiplexer(4)
