"""128-NEA2 / 128-NIA2 against the 3GPP TS 33.401 Annex C test data; the key hierarchy (TS 33.220 KDF)."""

import pytest

from semcom.errors import InputError
from semcom.stack.security import DOWNLINK, UPLINK, derive_keys, nea2, nia2


def test_nea2_matches_ts33401_c1_test_set_1():
    key = bytes.fromhex("d3c5d592327fb11c4035c6680af8c6d1")
    plain = bytes.fromhex("981ba6824c1bfb1ab485472029b71d808ce33e2cc3c0b5fc1f3de8a6dc66b1f0")
    cipher = bytes.fromhex("e9fed8a63d155304d71df20bf3e82214b20ed7dad2f233dc3c22d7bdeeed8e78")
    out = nea2(key, count=0x398A59B4, bearer=0x15, direction=DOWNLINK, data=plain)
    # the test set is 253 bits long: compare the first 31 bytes and the top 5 bits of the last
    assert out[:31] == cipher[:31]
    assert out[31] >> 3 == cipher[31] >> 3
    assert nea2(key, 0x398A59B4, 0x15, DOWNLINK, out) == plain


def test_nia2_matches_ts33401_c2_byte_aligned_test_set():
    key = bytes.fromhex("d3c5d592327fb11c4035c6680af8c6d1")
    mac = nia2(key, count=0x398A59B4, bearer=0x1A, direction=DOWNLINK, message=bytes.fromhex("484583d5afe082ae"))
    assert mac.hex() == "b93787e6"


def test_keystream_depends_on_count_bearer_direction():
    key = bytes(range(16))
    data = bytes(32)
    base = nea2(key, 1, 0, UPLINK, data)
    assert base != nea2(key, 2, 0, UPLINK, data)
    assert base != nea2(key, 1, 1, UPLINK, data)
    assert base != nea2(key, 1, 0, DOWNLINK, data)


def test_bad_security_inputs():
    with pytest.raises(InputError):
        nea2(bytes(15), 0, 0, UPLINK, b"x")
    with pytest.raises(InputError):
        nia2(bytes(16), 2**32, 0, UPLINK, b"x")
    with pytest.raises(InputError):
        nia2(bytes(16), 0, 32, UPLINK, b"x")
    with pytest.raises(InputError):
        nea2(bytes(16), 0, 0, 2, b"x")
    with pytest.raises(InputError):
        nea2(bytes(16), 0, 0, UPLINK, "text")
    a, b = derive_keys(3)
    assert (a, b) == derive_keys(3) and a != derive_keys(4)[0]
    with pytest.raises(InputError):
        derive_keys("3")


def test_kdf_is_hmac_sha256_over_the_33220_s_string():
    import hashlib
    import hmac

    from semcom.stack.security import kdf, session_key, up_keys

    key = bytes(range(32))
    # TS 33.220 B.2: S = FC || P0 || L0 || P1 || L1; TS 33.501 A.8: FC 0x69, N-UP-enc-alg 0x05, NEA2 0x02
    s = bytes.fromhex("69" "05" "0001" "02" "0001")
    assert kdf(key, 0x69, b"\x05", b"\x02") == hmac.new(key, s, hashlib.sha256).digest()
    k_enc, k_int = up_keys(key)
    assert k_enc == hmac.new(key, s, hashlib.sha256).digest()[16:]  # the 128 least significant bits
    assert k_int == hmac.new(key, bytes.fromhex("69060001020001"), hashlib.sha256).digest()[16:]
    # A.9: K_gNB = KDF(root, 0x6E, P0 = session (the NAS COUNT's role), P1 = access type 0x01)
    s_gnb = bytes.fromhex("6E" "00000007" "0004" "01" "0001")
    assert session_key(key, 7) == hmac.new(key, s_gnb, hashlib.sha256).digest()
    assert session_key(key, 7) == session_key(key, b"\x00\x00\x00\x07")


def test_keys_differ_per_ue_and_per_session():
    keys = {derive_keys(0, ue, session) for ue in range(3) for session in (0, 1, 2**32 - 1, b"image 0", b"image 1")}
    assert len(keys) == 15
    assert len({k for pair in keys for k in pair}) == 30  # no key is another's enc or int key
    assert derive_keys(0, 1, 5) == derive_keys(0, 1, 5)


def test_bad_key_derivation_inputs():
    for session in (-1, 2**32, 1.5, True, b"", bytes(1025)):
        with pytest.raises(InputError):
            derive_keys(0, 0, session)
    with pytest.raises(InputError):
        derive_keys(0, ue_id=-1)
    with pytest.raises(InputError):
        derive_keys(2**200)
