"""PDCP security algorithms: 128-NEA2 ciphering (AES-CTR) and 128-NIA2 integrity (AES-CMAC).

The 5G user-plane algorithms of TS 33.501 Annex D are the LTE ones of TS 33.401 Annex B
(128-EEA2 / 128-EIA2), built on AES-128 from the ``cryptography`` package:

* **128-NEA2** (TS 33.401 B.1.3): AES-128 in counter mode. The 128-bit initial counter block is
  ``COUNT[32] || BEARER[5] || DIRECTION[1] || 0^26 || 0^64``; the key stream is XORed with the
  data, so ciphering and deciphering are the same operation.
* **128-NIA2** (TS 33.401 B.2.3): AES-128-CMAC (RFC 4493) over
  ``M = COUNT[32] || BEARER[5] || DIRECTION[1] || 0^26 || MESSAGE``; ``MAC-I`` is the 32 most
  significant bits of the CMAC.

Only byte-aligned messages are supported (PDCP PDUs are octet strings). ``BEARER`` is the 5-bit
bearer identity (the radio bearer id minus one), ``DIRECTION`` is 0 for uplink and 1 for downlink.

Keys follow the 5G key hierarchy, with the KDF of TS 33.220 Annex B.2 (HMAC-SHA-256)::

    seed, UE id --root_key--> root (K_AMF stand-in) --session_key(session id), A.9--> K_gNB
                 --up_keys, A.8--> K_UPenc (NEA2), K_UPint (NIA2)

so every (UE, session) pair has its own keys. AES-CTR must never cipher two messages under the
same ``(key, COUNT, BEARER, DIRECTION)``: the XOR of the two ciphertexts would be the XOR of the
plaintexts. A new session (fresh K_gNB) is what makes restarting COUNT at 0 safe.

Example::

    >>> key = bytes(16)
    >>> c = nea2(key, count=7, bearer=0, direction=UPLINK, data=b"semantic")
    >>> nea2(key, count=7, bearer=0, direction=UPLINK, data=c)
    b'semantic'
    >>> len(nia2(key, count=7, bearer=0, direction=UPLINK, message=b"semantic"))
    4
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from semcom.errors import InputError

__all__ = [
    "nea2",
    "nia2",
    "kdf",
    "root_key",
    "session_bytes",
    "session_id",
    "session_key",
    "up_keys",
    "derive_keys",
    "UPLINK",
    "DOWNLINK",
    "MAC_I_BYTES",
]

UPLINK = 0
DOWNLINK = 1
#: Size of the integrity tag ``MAC-I`` appended to a protected PDCP PDU (TS 38.323 Sec. 6.3.4).
MAC_I_BYTES = 4


def _check(key: bytes, count: int, bearer: int, direction: int) -> None:
    if not isinstance(key, (bytes, bytearray)) or len(key) != 16:
        raise InputError("key must be 16 bytes (AES-128)")
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count < 2**32:
        raise InputError(f"COUNT must be an int in [0, 2^32), got {count!r}")
    if isinstance(bearer, bool) or not isinstance(bearer, int) or not 0 <= bearer < 32:
        raise InputError(f"BEARER must be an int in [0, 32), got {bearer!r}")
    if direction not in (UPLINK, DOWNLINK) or isinstance(direction, bool):
        raise InputError(f"DIRECTION must be 0 (uplink) or 1 (downlink), got {direction!r}")


def _prefix(count: int, bearer: int, direction: int) -> bytes:
    """``COUNT || BEARER || DIRECTION || 0^26``: 64 bits."""
    return count.to_bytes(4, "big") + bytes([(bearer << 3) | (direction << 2), 0, 0, 0])


def nea2(key: bytes, count: int, bearer: int, direction: int, data: bytes) -> bytes:
    """128-NEA2: cipher (or decipher) ``data`` with AES-128-CTR (TS 33.401 B.1.3).

    Args:
        key: 16-byte ciphering key (K_UPenc).
        count: 32-bit PDCP COUNT of the PDU.
        bearer: 5-bit bearer identity.
        direction: :data:`UPLINK` (0) or :data:`DOWNLINK` (1).
        data: the octets to cipher.

    Returns:
        ``data`` XOR the key stream, same length.
    """
    _check(key, count, bearer, direction)
    if not isinstance(data, (bytes, bytearray)):
        raise InputError(f"data must be bytes, got {type(data).__name__}")
    counter_block = _prefix(count, bearer, direction) + bytes(8)
    enc = Cipher(algorithms.AES(bytes(key)), modes.CTR(counter_block)).encryptor()
    return enc.update(bytes(data)) + enc.finalize()


def nia2(key: bytes, count: int, bearer: int, direction: int, message: bytes) -> bytes:
    """128-NIA2: the 4-byte MAC-I of ``message`` by AES-128-CMAC (TS 33.401 B.2.3).

    Args:
        key: 16-byte integrity key (K_UPint).
        count, bearer, direction: as in :func:`nea2`.
        message: the octets to protect (PDCP header and data, before ciphering).

    Returns:
        ``MAC-I``: the 32 most significant bits of ``CMAC(key, COUNT||BEARER||DIRECTION||0^26||message)``.
    """
    _check(key, count, bearer, direction)
    if not isinstance(message, (bytes, bytearray)):
        raise InputError(f"message must be bytes, got {type(message).__name__}")
    c = cmac.CMAC(algorithms.AES(bytes(key)))
    c.update(_prefix(count, bearer, direction) + bytes(message))
    return c.finalize()[:MAC_I_BYTES]


#: 33.220 Annex B.2 FC values used here: K_gNB from K_AMF (TS 33.501 A.9), algorithm keys (A.8).
FC_KGNB = 0x6E
FC_ALGORITHM_KEY = 0x69
#: Algorithm type distinguishers (TS 33.501 Table A.8-1) and the 128-NEA2 / 128-NIA2 identity (5.11).
N_UP_ENC_ALG = 0x05
N_UP_INT_ALG = 0x06
ALG_ID_NEA2 = ALG_ID_NIA2 = 0x02
#: Access type distinguisher "3GPP access" of the K_gNB derivation (TS 33.501 Table A.9-1).
ACCESS_3GPP = 0x01


def kdf(key: bytes, fc: int, *params: bytes) -> bytes:
    """The generic 3GPP key derivation function (TS 33.220 Annex B.2): ``HMAC-SHA-256(key, S)``.

    ``S = FC || P0 || L0 || P1 || L1 || ...``, each ``Li`` the 2-octet length of ``Pi``; the output
    is 256 bits. The length fields make the encoding of the parameters injective.
    """
    if not isinstance(key, (bytes, bytearray)) or not key:
        raise InputError("KDF key must be non-empty bytes")
    if isinstance(fc, bool) or not isinstance(fc, int) or not 0 <= fc < 256:
        raise InputError(f"FC must be one octet, got {fc!r}")
    s = bytearray([fc])
    for p in params:
        if not isinstance(p, (bytes, bytearray)) or len(p) >= 2**16:
            raise InputError("KDF parameters must be bytes shorter than 2^16 octets")
        s += bytes(p) + len(p).to_bytes(2, "big")
    return hmac.new(bytes(key), bytes(s), hashlib.sha256).digest()


def _uint(value: int, nbytes: int, name: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2 ** (8 * nbytes):
        raise InputError(f"{name} must be an int in [0, 2^{8 * nbytes}), got {value!r}")
    return value.to_bytes(nbytes, "big")


def root_key(seed: int | bytes, ue_id: int = 0) -> bytes:
    """The simulated 256-bit root key of UE ``ue_id`` (the stand-in for its K_AMF).

    A real UE's root key comes from the USIM's long-term key K through the 5G AKA (TS 33.501
    6.1, A.7); a simulation has no subscriber, so it derives one per UE from a seed:
    ``HMAC-SHA-256(SHA-256("semcom-simulated-root" || seed), "ue" || ue_id[32 bits])``. Different
    UEs of one seed get independent roots. Not for protecting real traffic.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, bytes, bytearray)):
        raise InputError(f"seed must be an int or bytes, got {type(seed).__name__}")
    if isinstance(seed, int):
        if not -(2**127) <= seed < 2**127:
            raise InputError("an int seed must fit in 128 signed bits")
        seed = seed.to_bytes(16, "big", signed=True)
    master = hashlib.sha256(b"semcom-simulated-root" + bytes(seed)).digest()
    return hmac.new(master, b"ue" + _uint(ue_id, 4, "ue_id"), hashlib.sha256).digest()


def session_bytes(session: int | bytes) -> bytes:
    """Canonical bytes of a session identifier: an int in ``[0, 2^32)`` is its 4-byte big-endian
    form (the role of the uplink NAS COUNT), bytes (1 to 1024 octets) are taken as they are."""
    if isinstance(session, (bytes, bytearray)):
        if not 1 <= len(session) <= 1024:
            raise InputError(f"a bytes session id must have 1..1024 octets, got {len(session)}")
        return bytes(session)
    return _uint(session, 4, "session")


def session_id(*parts: object) -> bytes:
    """A bytes session identifier naming one transmission by ``parts`` (e.g. run seed, image
    index, seed, SNR, variant): each part's ``str`` in UTF-8, prefixed by its 2-byte length, so
    distinct tuples give distinct identifiers (the encoding is injective) and runs stay
    deterministic.

    Example::

        >>> session_id(0, 3, "stack") != session_id(0, 33, "stack") and session_id("a", "bc") != session_id("ab", "c")
        True
    """
    out = bytearray()
    for p in parts:
        raw = str(p).encode("utf-8")
        if len(raw) > 1024:
            raise InputError("a session id part is longer than 1024 octets")
        out += len(raw).to_bytes(2, "big") + raw
    return session_bytes(bytes(out))


def session_key(root: bytes, session: int | bytes) -> bytes:
    """K_gNB of one session (TS 33.501 A.9): ``KDF(root, FC = 0x6E, P0 = session, P1 = 0x01)``.

    In 5G the uplink NAS COUNT in ``P0`` makes every K_gNB fresh; here the session identifier does
    (:func:`session_bytes`). A fresh session means a fresh K_gNB, so PDCP COUNTs may restart at 0.
    """
    if not isinstance(root, (bytes, bytearray)) or len(root) != 32:
        raise InputError("root key must be 32 bytes (256 bits)")
    return kdf(root, FC_KGNB, session_bytes(session), bytes([ACCESS_3GPP]))


def up_keys(k_gnb: bytes) -> tuple[bytes, bytes]:
    """``(K_UPenc, K_UPint)`` for 128-NEA2 / 128-NIA2 from K_gNB (TS 33.501 A.8).

    ``KDF(K_gNB, FC = 0x69, P0 = algorithm type distinguisher (0x05 N-UP-enc-alg, 0x06
    N-UP-int-alg), P1 = algorithm identity (0x02))``; a 128-bit key is the 128 least significant
    bits of the 256-bit output.
    """
    if not isinstance(k_gnb, (bytes, bytearray)) or len(k_gnb) != 32:
        raise InputError("K_gNB must be 32 bytes (256 bits)")
    enc = kdf(k_gnb, FC_ALGORITHM_KEY, bytes([N_UP_ENC_ALG]), bytes([ALG_ID_NEA2]))[16:]
    integ = kdf(k_gnb, FC_ALGORITHM_KEY, bytes([N_UP_INT_ALG]), bytes([ALG_ID_NIA2]))[16:]
    return enc, integ


def derive_keys(seed: int | bytes, ue_id: int = 0, session: int | bytes = 0) -> tuple[bytes, bytes]:
    """``(K_UPenc, K_UPint)`` of UE ``ue_id`` in session ``session``, deterministic from ``seed``.

    The chain mirrors the 5G key hierarchy (TS 33.501 Fig. 6.2.1-1, KDF of TS 33.220 B.2):
    ``root_key(seed, ue_id)`` (the UE's K_AMF stand-in) -> ``session_key(root, session)``
    (K_gNB, A.9) -> ``up_keys`` (K_UPenc, K_UPint, A.8). Keys differ between UEs and between
    sessions, so restarting PDCP COUNT at 0 in a new session never repeats a key stream; within a
    session COUNT must keep increasing (:class:`semcom.stack.pdcp.PdcpTransmitter` enforces it).

    Example::

        >>> k_enc, k_int = derive_keys(1)
        >>> len(k_enc), len(k_int), k_enc != k_int
        (16, 16, True)
        >>> derive_keys(1, session=1)[0] != k_enc and derive_keys(1, ue_id=1)[0] != k_enc
        True
    """
    return up_keys(session_key(root_key(seed, ue_id), session))
