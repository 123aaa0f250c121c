"""Compiled Gaussian noise: a ziggurat normal generator on per-row SplitMix64 streams.

Private module behind ``NRLink(noise="fast")`` (:func:`complex_normal_fast`). Choices:

- **Normal sampler**: the ziggurat method of Marsaglia & Tsang (J. Stat. Softw. 5(8), 2000)
  with ``LAYERS = 256`` layers of equal area ``v`` under ``f(x) = exp(-x^2/2)``. The layer edges
  are solved here in float64 (bisection on the base edge ``r`` until the 256th layer closes at
  ``x = 0``); the top layer is pure wedge. A draw takes one 64-bit word: bits 0-7 pick the layer
  ``i``, the top 53 bits a signed uniform ``j`` (sign and position), ``z = (j + 1/2) x_i / 2^52``.
  Inside the layer's rectangle part (98.5% of draws) ``z`` is returned at once; in the base
  layer beyond ``r`` the tail ``r + a`` is drawn by Marsaglia's exponential method (``a = -ln U1 / r``,
  ``b = -ln U2``, accept when ``2b > a^2``); in a wedge a second uniform ``y`` between the layer's
  ``f`` values is accepted when ``y < f(z)`` (the exact density), else the draw restarts. The
  samples are therefore exactly N(0, 1) up to float64 rounding (then rounded to float32).
- **Uniform source**: SplitMix64 (Steele, Lea & Flood, OOPSLA 2014: a Weyl sequence ``s + n gamma``
  through a 64-bit mixing bijection; passes BigCrush), one 64-bit word per draw. Every ROW of the
  output has two streams, their states mixed from ``(seed, row)`` by SplitMix64's mixer: the bulk
  stream gives word ``c`` to column ``c``, the fix-up stream the extra words of the rare tail and
  wedge draws, taken in column order. So a row's values depend only on ``(seed, row)``, never on
  how rows are split over threads. Chosen over xoshiro256** because word ``c`` is computed
  without the previous one, so the word loop is vectorised (xoshiro256**'s steps form one
  sequential chain). The streams of two rows are stretches of one 2^64-period sequence at mixed (pseudo-random) offsets; two rows of
  ``n`` words overlap with probability about ``2n / 2^64``.

The kernels release the GIL; :func:`complex_normal_fast` runs row ranges on the pool of
:mod:`semcom.link._threads` (through :func:`semcom.link._chain_kernels.run_rows`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit

from semcom.errors import InputError
from semcom.link._chain_kernels import default_threads, run_rows

__all__ = ["LAYERS", "TABLES", "check_args", "complex_normal_fast", "fill_row", "normal_fast"]

#: Number of ziggurat layers (the base layer with the tail included).
LAYERS = 256
_UNIT = 2.0 ** -52  # the signed 53-bit integer j in [-2^52, 2^52) times this lies in [-1, 1)


# --------------------------------------------------------------------------- tables (numpy, at import)
def _closure(r: float, n: int) -> tuple[float, float]:
    """Build ``n`` layers from base edge ``r``: (f at the top edge of the last layer, area ``v``)."""
    v = r * math.exp(-0.5 * r * r) + math.sqrt(math.pi / 2.0) * math.erfc(r / math.sqrt(2.0))
    x = r
    for _ in range(n - 2):  # x_2, ..., x_{n-1}: the top layer's edge
        y = math.exp(-0.5 * x * x) + v / x
        if y >= 1.0:
            return y + 1.0, v  # closed too early: r too small
        x = math.sqrt(-2.0 * math.log(y))
    return math.exp(-0.5 * x * x) + v / x, v


def ziggurat_tables(n: int = LAYERS) -> dict[str, np.ndarray | float]:
    """The float64 layer edges of an ``n``-layer ziggurat of ``exp(-x^2/2)``.

    Returns ``x`` ``[n + 1]`` (``x[0] = v / f(r)``: the base layer's width as a rectangle of area
    ``v``; ``x[1] = r``; ``x[n] = 0``), ``f = exp(-x^2/2)`` (with ``f[n] = 1``), ``r`` and ``v``.
    Layer ``i`` spans ``[0, x[i]]`` horizontally and ``[f[i], f[i+1]]`` vertically.
    """
    lo, hi = 2.0, 5.0
    for _ in range(200):  # f at the top is decreasing in r; bisect for it to be 1
        mid = 0.5 * (lo + hi)
        if _closure(mid, n)[0] > 1.0:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 4e-16 * hi:
            break
    r = 0.5 * (lo + hi)
    v = _closure(r, n)[1]
    x = np.zeros(n + 1)
    x[1] = r
    for i in range(1, n - 1):
        x[i + 1] = math.sqrt(-2.0 * math.log(math.exp(-0.5 * x[i] ** 2) + v / x[i]))
    x[0] = v / math.exp(-0.5 * r * r)
    f = np.exp(-0.5 * x * x)
    f[n] = 1.0
    return {"x": x, "f": f, "r": r, "v": v}


_T = ziggurat_tables()
_X = np.ascontiguousarray(_T["x"])
_F = np.ascontiguousarray(_T["f"])
_W = _X[:LAYERS] * _UNIT  # z = (j + 1/2) * _W[i]
_K = _X[1:] / _X[:LAYERS] / _UNIT  # |j + 1/2| < _K[i]: inside layer i's rectangle part
_R = float(_T["r"])
#: The sampler's tables in the order :func:`fill_row` takes them (``w, k, x, f, r``).
TABLES = (_W, _K, _X, _F, _R)


# --------------------------------------------------------------------------- uniform source
_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # SplitMix64's increment (odd: n -> n * gamma is a bijection)
_ROW_SALT = np.uint64(0xD1B54A32D192ED03)
_FIX_SALT = np.uint64(0xA0761D6478BD642F)
_CHUNK = 2048  # words per pass (the word buffer stays in the L1 cache)


@njit(cache=True, nogil=True, inline="always")
def _mix(z):
    """SplitMix64's output function (a bijection of the 64-bit words)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def _row_states(seed, row):
    """SplitMix64 states of row ``row``'s two streams (bulk, fix-up), mixed from ``(seed, row)``."""
    key = _mix(_mix(np.uint64(seed) + _GAMMA) ^ (np.uint64(row) * _GAMMA + _ROW_SALT))
    return key, _mix(key ^ _FIX_SALT)


@njit(cache=True, nogil=True)
def _words(buf, n, base):
    """``buf[c]`` = SplitMix64 output ``base + c * gamma``, ``c < n`` (independent: vectorised)."""
    for c in range(n):
        buf[c] = _mix(base + np.uint64(c) * _GAMMA)


@njit(cache=True, nogil=True, inline="always")
def _open_unit(u):
    """A uniform in (0, 1] from the top 53 bits of ``u``."""
    return (np.float64(u >> np.uint64(11)) + 1.0) * 2.0 ** -53


# --------------------------------------------------------------------------- ziggurat kernel
@njit(cache=True, nogil=True, inline="always")
def _layer(u):
    """Layer index (bits 0-7) and signed uniform ``j + 1/2`` (bits 11-63, |j + 1/2| < 2^52) of a word."""
    return np.int64(u & np.uint64(LAYERS - 1)), np.float64(np.int64(u) >> np.int64(11)) + 0.5


@njit(cache=True, nogil=True)
def _rectangles(out, buf, n, w, k, scale, misses):
    """``out[c] = scale * z`` for the word ``buf[c]`` whose ``z`` falls in its layer's rectangle part;
    the other positions go to ``misses`` (returns their count; no branch: the loop stays fast)."""
    nb = 0
    for c in range(n):
        i, j = _layer(buf[c])
        out[c] = j * w[i] * scale
        misses[nb] = c
        nb += np.int64(abs(j) >= k[i])
    return nb


@njit(cache=True, nogil=True)
def _miss(u, fix, x, f, r):
    """The ziggurat's rare branches for word ``u`` outside its rectangle: (N(0, 1) sample, fix-up state).

    Base layer: the tail beyond ``r`` (Marsaglia's exponential method). Other layers: the wedge,
    accepted when a uniform height lies under the exact density, else a new word (all further
    words from the row's fix-up stream ``fix``).
    """
    while True:
        i, j = _layer(u)
        z = j * x[i] * _UNIT
        if abs(z) < x[i + 1]:
            return z, fix
        if i == 0:
            while True:
                fix += _GAMMA
                a = -math.log(_open_unit(_mix(fix))) / r
                fix += _GAMMA
                b = -math.log(_open_unit(_mix(fix)))
                if b + b > a * a:
                    return math.copysign(r + a, j), fix
        fix += _GAMMA
        y = f[i] + (_open_unit(_mix(fix)) - 2.0 ** -53) * (f[i + 1] - f[i])  # uniform in [f_i, f_i+1)
        if y < math.exp(-0.5 * z * z):
            return z, fix
        fix += _GAMMA
        u = _mix(fix)


@njit(cache=True, nogil=True)
def scratch():
    """The word buffer and the miss list :func:`fill_row` takes."""
    return np.empty(_CHUNK, dtype=np.uint64), np.empty(_CHUNK, dtype=np.int64)


@njit(cache=True, nogil=True)
def fill_row(out, seed, row, scale, w, k, x, f, r, buf, misses):
    """``out[:]`` = ``scale`` x N(0, 1) samples of row ``row``'s streams, rounded to ``out``'s float32.

    ``w, k, x, f, r``: :data:`TABLES`; ``buf, misses``: :func:`scratch`. The kernels of
    :func:`normal_fast` and of :mod:`semcom.link._awgn_fused` call it per row.
    """
    key, fix = _row_states(seed, row)
    cols = out.shape[0]
    for c0 in range(0, cols, _CHUNK):
        n = min(_CHUNK, cols - c0)
        _words(buf, n, key + np.uint64(c0 + 1) * _GAMMA)
        part = out[c0:c0 + n]
        for t in range(_rectangles(part, buf, n, w, k, scale, misses)):
            z, fix = _miss(buf[misses[t]], fix, x, f, r)
            part[misses[t]] = z * scale


@njit(cache=True, nogil=True)
def _fill_rows(out, seed, row0, scale, w, k, x, f, r):
    """``out[q, :]`` = ``scale`` x N(0, 1) samples of row ``row0 + q``'s streams, for every row ``q``."""
    buf, misses = scratch()
    for q in range(out.shape[0]):
        fill_row(out[q], seed, row0 + q, scale, w, k, x, f, r, buf, misses)


# --------------------------------------------------------------------------- public
def check_args(shape, seed, var, threads) -> tuple[tuple[int, ...], int]:
    """The arguments of :func:`complex_normal_fast` checked (:class:`InputError`): (shape, seed as int)."""
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise InputError(f"shape must be a tuple of ints, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise InputError(f"shape must not have negative sizes, got {shape}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2 ** 64:
        raise InputError(f"seed must be an int in [0, 2**64), got {seed!r}")
    if not (isinstance(var, (int, float)) and math.isfinite(var) and var >= 0):
        raise InputError(f"var must be a finite number >= 0, got {var!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise InputError(f"threads must be a positive int or None, got {threads!r}")
    return shape, int(seed)


def normal_fast(rows: int, cols: int, seed: int, scale: float = 1.0, threads: int | None = None) -> np.ndarray:
    """``[rows, cols]`` float32 samples of N(0, scale^2); row ``q`` is stream ``(seed, q)``."""
    out = np.empty((rows, cols), dtype=np.float32)
    if rows and cols:
        run_rows(_fill_rows, rows, threads or default_threads(),
                 lambda a, b: (out[a:b], np.uint64(seed), a, float(scale), *TABLES))
    return out


def complex_normal_fast(shape: tuple[int, ...], seed: int, var: float = 1.0, threads: int | None = None) -> torch.Tensor:
    """``CN(0, var)`` samples, complex64 ``shape`` (real and imaginary parts N(0, var/2) each).

    The same convention as :func:`semcom.link.base.complex_normal`, other values. A row is the
    last dimension (one stream per index of the leading dimensions; a 1-D shape is one row), real
    and imaginary parts interleaved; the result depends only on ``(shape, seed, var)``, not on
    ``threads`` (default: :func:`~semcom.link._threads.default_threads`).

    Raises:
        InputError: a negative size, a seed outside ``[0, 2**64)``, a negative or non-finite
            ``var``, or a bad ``threads``.
    """
    shape, seed = check_args(shape, seed, var, threads)
    cols = shape[-1] if shape else 1
    rows = math.prod(shape[:-1]) if shape else 1
    z = normal_fast(rows, 2 * cols, seed, math.sqrt(var / 2.0), threads)
    return torch.view_as_complex(torch.from_numpy(z).reshape(*shape, 2))
