"""The fused AWGN receive kernel of the compiled chain: QAM mapping, compiled noise, demapping.

Private module behind :meth:`semcom.link.chain_fast.FastTBChain.awgn_llrs`, which
``NRLink(chain="fast", noise="fast", channel="awgn")`` uses for max-log QPSK and 16QAM (the
closed-form demapper; QPSK also with ``demapper="app"``, where max-log is exact). Unfused, that
link maps the coded bits to a complex64 array, draws the noise into a second one
(:func:`semcom.link._gauss.complex_normal_fast`), adds them in torch and demaps the sum: three
arrays of ``N x N_RE`` complex64 written and read once each. Fused, every TB row goes through one
row buffer that stays in the cache: its noise (:func:`~semcom.link._gauss.fill_row`, the row's own
streams), plus its symbols (:func:`~semcom.link._chain_kernels.map_row`), demapped to the
decoder's layout (:func:`~semcom.link._chain_kernels.demap_closed_row`). The same helpers, the
same float32 operations in the same order: the LLRs equal the unfused ones float for float
(``tests/link/test_awgn_fused.py``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from semcom.link._chain_kernels import demap_closed_row, map_row
from semcom.link._gauss import fill_row, scratch

__all__ = ["awgn_llrs"]


@njit(cache=True, nogil=True)
def awgn_llrs(bits, seed, row0, scale, inv_no, levels, m, cb_off, e_max, sgn, w, k, x, f, r, out):
    """Coded bits ``[N, G]`` uint8 -> decoder LLRs ``out`` ``[N, C e_max]`` after the AWGN channel.

    Row ``n``: ``y = noise + symbols`` (float32 interleaved in-phase, quadrature; the noise is
    ``scale`` x the N(0, 1) samples of stream row ``row0 + n`` of ``seed``, i.e. row ``row0 + n``
    of ``complex_normal_fast``), then the closed-form LLRs of ``y`` with ``1/no = inv_no[0]``.
    ``levels``, ``m``, ``cb_off``, ``e_max``, ``sgn``: as :func:`~semcom.link._chain_kernels.map_qam`
    and :func:`~semcom.link._chain_kernels.demap_closed_to_decoder` take them; ``w, k, x, f, r``:
    :data:`semcom.link._gauss.TABLES`.
    """
    T = 2 * (bits.shape[1] // m)
    y = np.empty(T, dtype=np.float32)
    sym = np.empty(T, dtype=np.float32)
    buf, misses = scratch()
    for n in range(bits.shape[0]):
        fill_row(y, seed, row0 + n, scale, w, k, x, f, r, buf, misses)
        map_row(bits[n], levels, m, sym)
        for t in range(T):
            y[t] += sym[t]  # noise + symbol: torch's float32 sum
        demap_closed_row(y, inv_no, False, m // 2, cb_off, e_max, sgn, out[n])
