"""SE-SC masking: the mask code sent over the digital link, threshold-mu masking and the rate policy.

Fu et al., "Scalable Extraction Based Semantic Communication for 6G Wireless Networks",
Sec. III-V. The semantic-aware model gives a weight ``i_x in [0, 1]`` per patch; features whose
weight is below a threshold ``mu`` are masked (not sent); a binary sequence flagging the sent
patches goes to the receiver over the digital link.

Mask code (one bit per patch before coding; ``N`` patches, ``K`` sent). Three codes, each prefixed
by a 2-bit header naming it; :func:`encode_mask` sends the shortest for each mask (so the cost is
``min(...) + 2`` bits and never more than ``N + 2``):

* ``00`` raw: the ``N`` flags.
* ``01`` run-length: the first flag, then each run length (1..N) as an Elias-gamma code.
  Short for masks made of a few large regions (a face among background).
* ``10`` enumerative: ``K`` in ``ceil(log2(N+1))`` bits, then the rank of the set of sent
  positions among the ``C(N, K)`` sets of size ``K`` in ``ceil(log2 C(N, K))`` bits. This is the
  ideal code for a mask with no spatial structure (its length is the entropy of a uniformly drawn
  ``K``-subset, to one bit), shorter than raw whenever ``K`` is far from ``N/2``.

The measured costs on the experiment images are in ``docs/sesc.md``; the per-mask choice is what
is transmitted, so the side information counted is the real code length.

Rate policy (Sec. V): start from a low ``mu`` and raise it until the sent features fit the
channel uses allowed: :func:`rate_policy`. Raising ``mu`` over the sorted weights removes the
least important features first; the largest feature count that fits is found exactly (ties at
the threshold are broken by patch order), so the policy meets the budget to within one feature
and never exceeds it. A budget below one patch's cost raises :class:`BudgetTooSmallError`.

Example:
    >>> import numpy as np
    >>> keep = np.zeros(64, dtype=bool); keep[18:22] = True; keep[26:30] = True
    >>> bits = encode_mask(keep)
    >>> len(bits) < 64, bool((decode_mask(bits, 64) == keep).all())
    (True, True)
    >>> w = np.linspace(0, 1, 64)
    >>> r = rate_policy(w, budget=20 * 16 + 23, symbols_per_patch=16)   # 20 patches + a 23-bit mask code
    >>> r.k, r.mask_bits, r.channel_uses
    (20, 23, 343)
    >>> rate_policy(w, budget=342, symbols_per_patch=16).k                # one use less: one patch less
    19
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from semcom.errors import CodecError, InputError

METHODS = ("raw", "rle", "enum")
HEADER_BITS = 2


class BudgetTooSmallError(InputError):
    """The channel-use budget cannot carry even one patch (its symbols plus the mask code)."""


# --------------------------------------------------------------------------- bit helpers
def _uint(value: int, width: int) -> list[int]:
    return [(value >> (width - 1 - i)) & 1 for i in range(width)]


def _read_uint(bits: np.ndarray, pos: int, width: int) -> tuple[int, int]:
    if pos + width > len(bits):
        raise CodecError("mask code is truncated")
    v = 0
    for b in bits[pos:pos + width]:
        v = (v << 1) | int(b)
    return v, pos + width


def _gamma(v: int) -> list[int]:
    """Elias-gamma code of ``v >= 1``."""
    nb = v.bit_length()
    return [0] * (nb - 1) + _uint(v, nb)


def _read_gamma(bits: np.ndarray, pos: int) -> tuple[int, int]:
    z = 0
    while pos < len(bits) and bits[pos] == 0:
        z += 1
        pos += 1
        if z > 64:
            raise CodecError("mask code holds an impossible run length")
    return _read_uint(bits, pos, z + 1)


def _check_keep(keep: Any) -> np.ndarray:
    a = np.asarray(keep)
    if a.ndim != 1 or a.size == 0:
        raise InputError(f"mask must be a non-empty 1-D sequence of flags, got shape {a.shape}")
    if a.dtype != bool:
        if not np.isin(a, (0, 1)).all():
            raise InputError("mask flags must be 0/1 or bool")
        a = a.astype(bool)
    return a


# --------------------------------------------------------------------------- the three codes
def _raw(keep: np.ndarray) -> list[int]:
    return [int(b) for b in keep]


def _rle(keep: np.ndarray) -> list[int]:
    out = [int(keep[0])]
    change = np.flatnonzero(np.diff(keep.astype(np.int8))) + 1
    edges = np.concatenate([[0], change, [keep.size]])
    for a, b in zip(edges[:-1], edges[1:]):
        out += _gamma(int(b - a))
    return out


def _enum_rank(pos: np.ndarray) -> int:
    """Colex rank of the sorted positions ``c_1 < ... < c_K``: ``sum_i C(c_i, i)``."""
    return sum(math.comb(int(c), i + 1) for i, c in enumerate(pos))


def _enum(keep: np.ndarray) -> list[int]:
    n, k = keep.size, int(keep.sum())
    wk = (n).bit_length()
    wr = max(math.comb(n, k) - 1, 0).bit_length()
    return _uint(k, wk) + _uint(_enum_rank(np.flatnonzero(keep)), wr)


def _unrank(rank: int, n: int, k: int) -> np.ndarray:
    keep = np.zeros(n, dtype=bool)
    c = n - 1
    for i in range(k, 0, -1):
        while math.comb(c, i) > rank:
            c -= 1
        keep[c] = True
        rank -= math.comb(c, i)
        c -= 1
    return keep


_CODERS = {"raw": _raw, "rle": _rle, "enum": _enum}


def mask_code_lengths(keep: Any) -> dict[str, int]:
    """Bits of each code for a mask, header included: ``{"raw", "rle", "enum"}``."""
    a = _check_keep(keep)
    return {m: HEADER_BITS + len(f(a)) for m, f in _CODERS.items()}


def encode_mask(keep: Any, method: str | None = None) -> np.ndarray:
    """Code the flags ``keep [N]`` (True: patch sent) as bits ``uint8 [L]``: the 2-bit header and the
    shortest of the three codes (or ``method`` when given)."""
    a = _check_keep(keep)
    if method is None:
        lens = mask_code_lengths(a)
        method = min(METHODS, key=lambda m: (lens[m], METHODS.index(m)))
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    bits = _uint(METHODS.index(method), HEADER_BITS) + _CODERS[method](a)
    return np.asarray(bits, dtype=np.uint8)


def decode_mask(bits: Any, n: int) -> np.ndarray:
    """Decode received mask bits for ``n`` patches; any malformed, truncated or over-long code, or a
    mask that sends nothing, raises :class:`CodecError` (never a crash, never a hang)."""
    b = np.asarray(bits)
    if b.ndim != 1 or b.size > 4 * n + 64 or (b.size and not np.isin(b, (0, 1)).all()):
        raise CodecError("mask code must be a 1-D sequence of bits of plausible length")
    b = b.astype(np.uint8)
    m, pos = _read_uint(b, 0, HEADER_BITS)
    if m >= len(METHODS):
        raise CodecError(f"mask code header {m} names no method")
    if METHODS[m] == "raw":
        keep, pos = b[pos:pos + n].astype(bool), pos + n
        if keep.size != n:
            raise CodecError("mask code is truncated")
    elif METHODS[m] == "rle":
        keep, pos = _decode_rle(b, pos, n)
    else:
        k, pos = _read_uint(b, pos, n.bit_length())
        if k > n:
            raise CodecError(f"mask code says {k} of {n} patches")
        rank, pos = _read_uint(b, pos, max(math.comb(n, k) - 1, 0).bit_length())
        if rank >= math.comb(n, k):
            raise CodecError("mask code rank out of range")
        keep = _unrank(rank, n, k)
    if pos != b.size:
        raise CodecError(f"mask code has {b.size - pos} trailing bits")
    if not keep.any():
        raise CodecError("mask code flags no sent patch")
    return keep


def _decode_rle(b: np.ndarray, pos: int, n: int) -> tuple[np.ndarray, int]:
    v, pos = _read_uint(b, pos, 1)
    out, total = [], 0
    while total < n:
        run, pos = _read_gamma(b, pos)
        if run < 1 or total + run > n:
            raise CodecError("mask code runs exceed the number of patches")
        out.append(np.full(run, bool(v)))
        total += run
        v ^= 1
    return np.concatenate(out), pos


# --------------------------------------------------------------------------- masking and policy
def check_weights(weights: Any, n: int | None = None) -> np.ndarray:
    """Validate a weight vector ``i_x`` (``[N]`` or a ``[gh, gw]`` map): finite, in [0, 1]."""
    w = np.asarray(weights.detach().cpu() if hasattr(weights, "detach") else weights, dtype=np.float64).reshape(-1)
    if w.size == 0 or (n is not None and w.size != n):
        raise InputError(f"weights must hold one value per patch ({n}), got {w.size}")
    if not np.isfinite(w).all():
        raise InputError("weights contain NaN or Inf")
    if w.min() < 0 or w.max() > 1:
        raise InputError("weights must lie in [0, 1]")
    return w


def threshold_mask(weights: Any, mu: float) -> np.ndarray:
    """Sec. V: keep the features whose weight is at least ``mu`` (mask those below). At least the
    most important feature is always kept (a mask that sends nothing cannot be decoded)."""
    w = check_weights(weights)
    if not (isinstance(mu, (int, float)) and math.isfinite(mu)):
        raise InputError(f"mu must be a finite number, got {mu!r}")
    keep = w >= mu
    if not keep.any():
        keep[int(np.argmax(w))] = True
    return keep


@dataclasses.dataclass
class PolicyResult:
    """Outcome of :func:`rate_policy`: the flags, the threshold reached, the count sent and the cost.

    ``channel_uses = k * symbols_per_patch + ceil(mask_bits / side_bits_per_symbol)`` and
    ``channel_uses <= budget``; ``binding`` says whether the budget (not ``mu0``) decided ``k``.
    """

    keep: np.ndarray
    mu: float
    k: int
    mask_bits: int
    channel_uses: int
    budget: int
    binding: bool


def _cost(keep: np.ndarray, s: int, bps: float) -> tuple[int, int]:
    bits = len(encode_mask(keep))
    return int(keep.sum()) * s + int(math.ceil(bits / bps - 1e-9)), bits


TIE_BREAKS = ("order", "spread")


def top_k_mask(weights: Any, k: int, tie_break: str = "order") -> np.ndarray:
    """Flags of the ``k`` patches of largest weight, ``1 <= k <= N``; ties broken by patch order
    (``"order"``) or by a fixed permutation of the patches (``"spread"``, seeded by ``N``: equal weights,
    e.g. an image without a face under task relevance, then give patches spread over the image)."""
    w = check_weights(weights)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= w.size:
        raise InputError(f"k must be an int in [1, {w.size}], got {k!r}")
    return _top_k(w, int(k), tie_break)[0]


def _top_k(w: np.ndarray, k: int, tie_break: str = "order") -> tuple[np.ndarray, float]:
    """The ``k`` largest weights (ties per ``tie_break``) and the threshold ``mu`` they imply."""
    if tie_break not in TIE_BREAKS:
        raise InputError(f"tie_break must be one of {TIE_BREAKS}, got {tie_break!r}")
    second = np.arange(w.size) if tie_break == "order" else np.random.default_rng(w.size).permutation(w.size)
    order = np.lexsort((second, -w))
    keep = np.zeros(w.size, dtype=bool)
    keep[order[:k]] = True
    return keep, float(w[order[k - 1]])


def rate_policy(weights: Any, budget: int, symbols_per_patch: int, mu0: float = 0.0,
                side_bits_per_symbol: float = 1.0, tie_break: str = "order") -> PolicyResult:
    """Sec. V rate policy: mask at ``mu0``; while the sent features do not fit ``budget`` channel uses,
    raise ``mu`` (over the sorted weights, so one feature at a time) until they do.

    The result is the largest ``k <= #(w >= mu0)`` whose symbols plus mask code fit ``budget``.
    Raises :class:`BudgetTooSmallError` when even one patch does not fit. ``tie_break``: see
    :func:`top_k_mask`.
    """
    w = check_weights(weights)
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise InputError(f"budget must be an int number of channel uses, got {budget!r}")
    s, bps = int(symbols_per_patch), float(side_bits_per_symbol)
    k = int(threshold_mask(w, mu0).sum())
    binding = False
    while k >= 1:
        keep, mu = _top_k(w, k, tie_break)
        uses, bits = _cost(keep, s, bps)
        if uses <= budget:
            return PolicyResult(keep, mu if binding else float(mu0), k, bits, uses, int(budget), binding)
        binding = True
        k = min(k - 1, (int(budget) - 1) // s if budget > 0 else 0)
    raise BudgetTooSmallError(f"a budget of {budget} channel uses cannot carry one patch ({s} symbols plus its mask code)")


__all__ = ["METHODS", "BudgetTooSmallError", "mask_code_lengths", "encode_mask", "decode_mask", "check_weights",
           "threshold_mask", "top_k_mask", "PolicyResult", "rate_policy"]
