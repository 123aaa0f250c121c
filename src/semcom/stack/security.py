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

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from semcom.errors import InputError

__all__ = ["nea2", "nia2", "derive_keys", "UPLINK", "DOWNLINK", "MAC_I_BYTES"]

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


def derive_keys(seed: int | bytes) -> tuple[bytes, bytes]:
    """Deterministic ``(K_UPenc, K_UPint)`` for simulations, from a seed (SHA-256 based).

    Real networks derive these from K_gNB (TS 33.501 Annex A.8); a simulation only needs two
    independent 16-byte keys shared by the UE and the gNB. Not for protecting real traffic.

    Example::

        >>> k_enc, k_int = derive_keys(1)
        >>> len(k_enc), len(k_int), k_enc != k_int
        (16, 16, True)
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, bytes, bytearray)):
        raise InputError(f"seed must be an int or bytes, got {type(seed).__name__}")
    raw = seed if isinstance(seed, (bytes, bytearray)) else int(seed).to_bytes(16, "big", signed=True)
    enc = hashlib.sha256(b"semcom-pdcp-enc" + bytes(raw)).digest()[:16]
    integ = hashlib.sha256(b"semcom-pdcp-int" + bytes(raw)).digest()[:16]
    return enc, integ
