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

The kernels (:func:`semcom.link._chain_kernels.fill_rows` and the per-row ``fill_row``, in that
module beside the fused AWGN kernel that calls them) release the GIL; :func:`complex_normal_fast`
runs row ranges on the pool of :mod:`semcom.link._threads` (through ``run_rows``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from semcom.errors import InputError
from semcom.link.base import complex_scale
from semcom.link._chain_kernels import ZIG_LAYERS, ZIG_UNIT, default_threads, fill_rows, run_rows

__all__ = ["LAYERS", "TABLES", "check_args", "complex_normal_fast", "complex_scale", "normal_fast", "ziggurat_tables"]

#: Number of ziggurat layers (the base layer with the tail included).
LAYERS = ZIG_LAYERS
_UNIT = ZIG_UNIT  # the signed 53-bit integer j in [-2^52, 2^52) times this lies in [-1, 1)


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
#: The sampler's tables in the order its kernels take them (``w, k, x, f, r``).
TABLES = (_W, _K, _X, _F, _R)


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
        run_rows(fill_rows, rows, threads or default_threads(),
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
    z = normal_fast(rows, 2 * cols, seed, complex_scale(var), threads)
    return torch.view_as_complex(torch.from_numpy(z).reshape(*shape, 2))
