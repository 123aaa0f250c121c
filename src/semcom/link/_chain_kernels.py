"""Numba kernels of the compiled 5G NR transmit/receive chain (TS 38.212 / 38.211).

Private module: :mod:`semcom.link.chain_fast` builds the per-TB tables and calls these kernels;
:func:`semcom.link.demap_fast.demap_qam_maxlog` calls :func:`demap_symbols`; the ziggurat
kernels of :mod:`semcom.link._gauss` (:func:`fill_rows`) and the fused AWGN kernel
(:func:`awgn_llrs`, per TB row: :func:`fill_row`, :func:`map_row`, :func:`demap_closed_row`) are
here too, in one file with every kernel they call (Numba checks a cached kernel against its own
file only).

Conventions shared by every kernel:

- bits are ``uint8`` 0/1, one bit per byte, first bit first (38.212's ``a_0, a_1, ...``);
- LLRs are float32 logits ``log p(b=1)/p(b=0)`` (Sionna's sign: positive means 1);
- a CRC register of ``L`` bits holds the remainder with ``D^(L-1)`` in its most significant bit,
  initial value 0, no reflection, no final XOR (38.212 Sec. 5.1); its bits are appended most
  significant first, so a block with its parity appended has remainder 0;
- one TB per row of the batch arrays; a kernel processes rows ``[0, rows)`` of what it is given,
  so :func:`run_rows` can split a batch over threads (every kernel releases the GIL).

The compiled machine code is cached on disk (``cache=True``) beside this file or under
``NUMBA_CACHE_DIR``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from semcom.link._threads import default_threads, run_parts  # noqa: F401  (default_threads: re-exported)

_BIG = np.float32(3.0e38)


# --------------------------------------------------------------------------- CRC
def crc_table(poly: int, length: int) -> np.ndarray:
    """The 256-entry byte table of the ``length``-bit CRC with generator ``poly`` (``D^L`` omitted)."""
    table = np.zeros(256, dtype=np.int64)
    mask = (1 << length) - 1
    for byte in range(256):
        reg = byte << (length - 8)
        for _ in range(8):
            reg = ((reg << 1) ^ poly) if reg & (1 << (length - 1)) else (reg << 1)
        table[byte] = reg & mask
    return table


def crc_tables(poly: int, length: int) -> np.ndarray:
    """``[4, 256]`` tables of :func:`_crc_sliced`: row ``j``, entry ``b`` is the register after byte
    ``b`` followed by ``8 j`` zero bits (row 0 is :func:`crc_table`)."""
    tables = np.zeros((4, 256), dtype=np.int64)
    tables[0] = crc_table(poly, length)
    mask = (1 << length) - 1
    for j in range(1, 4):
        prev = tables[j - 1]
        tables[j] = ((prev << 8) & mask) ^ tables[0][(prev >> (length - 8)) & 255]
    return tables


@njit(cache=True, nogil=True, inline="always")
def _crc(bits, start, count, table, poly, length):
    """Remainder of ``bits[start:start+count]`` (register conventions in the module docstring).

    Whole bytes go through the byte ``table``, the remaining ``count % 8`` bits one at a time.
    The reference of :func:`_crc_sliced`, which the kernels run.
    """
    mask = (np.int64(1) << length) - 1
    top = np.int64(1) << (length - 1)
    reg = np.int64(0)
    full = count // 8
    for q in range(full):
        o = start + 8 * q
        byte = np.int64(0)
        for t in range(8):
            byte = (byte << 1) | np.int64(bits[o + t])
        reg = ((reg << 8) & mask) ^ table[((reg >> (length - 8)) ^ byte) & 255]
    for t in range(start + 8 * full, start + count):
        fb = ((reg & top) != 0) ^ (bits[t] != 0)
        reg = (reg << 1) & mask
        if fb:
            reg ^= poly
    return reg


#: Packs the eight 0/1 bytes of a little-endian word into its top byte, the first byte most
#: significant: byte ``j`` times bit ``9 (7 - j)`` lands on bit ``63 - j`` (the 64 partial
#: products fall on distinct bits: no carries).
_PACK8 = np.uint64(0x8040201008040201)


@njit(cache=True, nogil=True, inline="always")
def padded_bits(count):
    """Length of a buffer of ``count`` bits rounded up to whole 64-bit words (:func:`_crc_sliced`)."""
    return (count + 7) // 8 * 8


@njit(cache=True, nogil=True, inline="always")
def _packed(words, q):
    """The eight bits (0/1 bytes) of word ``q`` as one byte, the first bit most significant."""
    return np.int64((words[q] * _PACK8) >> np.uint64(56))


@njit(cache=True, nogil=True, inline="always")
def _crc_sliced(words, bits, count, tables, poly, length):
    """:func:`_crc` of ``bits[0:count]`` (0/1 bytes only; ``length`` 16 or 24), 32 bits per step.

    ``words``: the uint64 view of ``bits`` (padded to whole words, :func:`padded_bits`; little-endian
    byte order). Each word's eight bytes are packed into a byte by one multiplication
    (:func:`_packed`); four bytes ``m`` and the register give ``v = reg 2^(32 - length) ^ m`` and
    the next register ``T3[v_3] ^ T2[v_2] ^ T1[v_1] ^ T0[v_0]`` (``v_j``: byte ``j`` of ``v``,
    ``T = tables`` of :func:`crc_tables`: the register update is linear, and byte ``j`` of ``v``
    is followed by ``8 j`` more bits). Then whole bytes by ``T0``, the last ``count % 8`` bits one
    at a time. The same remainder as :func:`_crc` (tested), three times faster: the table
    look-ups of a step no longer wait for each other.
    """
    mask = (np.int64(1) << length) - 1
    top = np.int64(1) << (length - 1)
    up = 32 - length
    reg = np.int64(0)
    steps = count // 32
    for q in range(steps):
        m = (_packed(words, 4 * q) << 24) | (_packed(words, 4 * q + 1) << 16) | (_packed(words, 4 * q + 2) << 8) \
            | _packed(words, 4 * q + 3)
        v = (reg << up) ^ m
        reg = tables[3, v >> 24] ^ tables[2, (v >> 16) & 255] ^ tables[1, (v >> 8) & 255] ^ tables[0, v & 255]
    for q in range(4 * steps, count // 8):
        reg = ((reg << 8) & mask) ^ tables[0, ((reg >> (length - 8)) ^ _packed(words, q)) & 255]
    for t in range(8 * (count // 8), count):
        fb = ((reg & top) != 0) ^ (bits[t] != 0)
        reg = (reg << 1) & mask
        if fb:
            reg ^= poly
    return reg


@njit(cache=True, nogil=True, inline="always")
def _put_crc(bits, start, reg, length):
    """Write the ``length`` parity bits of ``reg`` at ``bits[start:]``, most significant first."""
    for t in range(length):
        bits[start + t] = np.uint8((reg >> (length - 1 - t)) & 1)


# --------------------------------------------------------------------------- scrambling
@njit(cache=True, nogil=True)
def gold_sequence(length, c_init):
    """38.211 Sec. 5.2.1 pseudo-random sequence ``c(n)``, ``n < length`` (``N_c = 1600``), uint8."""
    nc = 1600
    total = length + nc + 31
    x1 = np.zeros(total, dtype=np.uint8)
    x2 = np.zeros(total, dtype=np.uint8)
    x1[0] = 1
    for i in range(31):
        x2[i] = np.uint8((c_init >> i) & 1)
    for n in range(total - 31):
        x1[n + 31] = (x1[n + 3] + x1[n]) & 1
        x2[n + 31] = (x2[n + 3] + x2[n + 2] + x2[n + 1] + x2[n]) & 1
    out = np.empty(length, dtype=np.uint8)
    for n in range(length):
        out[n] = (x1[n + nc] + x2[n + nc]) & 1
    return out


# --------------------------------------------------------------------------- LDPC encoding
@njit(cache=True, nogil=True, inline="always")
def _xor_run(a, b, count):
    """``a[i] ^= b[i]`` for ``i < count`` (slices as arguments: the loop vectorises)."""
    for i in range(count):
        a[i] = a[i] ^ b[i]


@njit(cache=True, nogil=True, inline="always")
def _copy_run(a, b, count):
    """``a[i] = b[i]`` for ``i < count``."""
    for i in range(count):
        a[i] = b[i]


@njit(cache=True, nogil=True, inline="always")
def _xor_rot(acc, w, base, s, Z):
    """``acc[i] ^= w[base + (i + s) % Z]`` for ``i < Z`` (two contiguous runs)."""
    n1 = Z - s
    _xor_run(acc[:n1], w[base + s:base + Z], n1)
    _xor_run(acc[n1:], w[base:base + s], s)


@njit(cache=True, nogil=True, inline="always")
def _put_rot(w, base, s, src, Z):
    """``w[base + (i + s) % Z] = src[i]`` for ``i < Z``."""
    n1 = Z - s
    _copy_run(w[base + s:base + Z], src[:n1], n1)
    _copy_run(w[base:base + s], src[n1:], s)


@njit(cache=True, nogil=True)
def _ldpc_parity(w, Z, kb, row_ptr, ecol, eshift, core, first_col, first_shift, steps, acc, syn):
    """Fill the parity part of the codeword ``w`` (information bits and fillers already in place).

    ``row_ptr/ecol/eshift``: the block edges of the needed block rows (rows 0-3 the core, the
    others one extension parity column each, at block column ``kb + r``). ``core[r, j]`` is the
    shift of core parity column ``j`` in row ``r`` (-1: no block). The core is solved as 38.212's
    structure allows: the sum of the four core rows leaves one rotated column (``first_col``,
    ``first_shift``); ``steps[t] = (row, col, shift)`` then solves one column per row.
    ``acc`` ``[Z]`` and ``syn`` ``[4, Z]`` are uint8 scratch.
    """
    rows = row_ptr.shape[0] - 1
    for r in range(4):  # syndromes of the information part
        for i in range(Z):
            syn[r, i] = 0
        for e in range(row_ptr[r], row_ptr[r + 1]):
            if ecol[e] < kb:
                _xor_rot(syn[r], w, ecol[e] * Z, eshift[e], Z)
    for i in range(Z):
        acc[i] = syn[0, i] ^ syn[1, i] ^ syn[2, i] ^ syn[3, i]
    _put_rot(w, (kb + first_col) * Z, first_shift, acc, Z)
    for t in range(steps.shape[0]):
        r = steps[t, 0]
        j = steps[t, 1]
        for i in range(Z):
            acc[i] = syn[r, i]
        for jj in range(4):
            if jj != j and core[r, jj] >= 0:
                _xor_rot(acc, w, (kb + jj) * Z, core[r, jj], Z)
        _put_rot(w, (kb + j) * Z, steps[t, 2], acc, Z)
    for r in range(4, rows):  # extension rows: one identity-like parity block each
        own = -1
        for i in range(Z):
            acc[i] = 0
        for e in range(row_ptr[r], row_ptr[r + 1]):
            if ecol[e] == kb + r:
                own = eshift[e]
            else:
                _xor_rot(acc, w, ecol[e] * Z, eshift[e], Z)
        _put_rot(w, (kb + r) * Z, own, acc, Z)


@njit(cache=True, nogil=True, inline="always")
def _interleave(out, buf, scr, q, qm):
    """``out[j qm + i] = buf[i q + j] ^ scr[j qm + i]`` (38.212 5.4.2.2 bit interleaving and
    scrambling), written in output order; QPSK and 16QAM unrolled (their loops vectorise)."""
    if qm == 2:
        for j in range(q):
            out[2 * j] = buf[j] ^ scr[2 * j]
            out[2 * j + 1] = buf[q + j] ^ scr[2 * j + 1]
    elif qm == 4:
        for j in range(q):
            out[4 * j] = buf[j] ^ scr[4 * j]
            out[4 * j + 1] = buf[q + j] ^ scr[4 * j + 1]
            out[4 * j + 2] = buf[2 * q + j] ^ scr[4 * j + 2]
            out[4 * j + 3] = buf[3 * q + j] ^ scr[4 * j + 3]
    else:
        for i in range(qm):
            for j in range(q):
                out[j * qm + i] = buf[i * q + j] ^ scr[j * qm + i]


@njit(cache=True, nogil=True)
def encode_tbs(u, tbs, tb_table, tb_poly, tb_len, C, kp, cb_table, cb_poly, cb_len, k_ldpc, wlen,
               Z, kb, row_ptr, ecol, eshift, core, first_col, first_shift, steps, cb_off, qm, scr, out, bad):
    """TB CRC, segmentation, CB CRC, LDPC encoding, rate matching, interleaving and scrambling.

    ``u`` ``[N, tbs]`` TB bits (uint8, or float/int 0/1 read as they are) -> ``out`` ``[N, G]``
    uint8 scrambled coded bits; ``bad[n]`` counts the values of row ``n`` that are neither 0 nor 1
    (NaN included; that row's output is then meaningless and the caller raises). Code block
    ``r`` carries TB-stream bits ``[r d, (r+1) d)`` (``d = kp - cb_len``) plus its CRC24B when
    ``cb_len = 24``. Rate matching (rv 0, ``k0 = 0``): its circular buffer is the codeword
    without the ``2Z`` punctured systematic bits and the ``k_ldpc - kp`` filler bits, ``buf`` its
    first ``E_r`` bits read circularly (repeated when ``E_r`` exceeds it); the ``E_r = Q_r qm`` output bits ``cb_off[r] + j qm + i`` are
    ``buf[i Q_r + j]`` (the 5.4.2.2 interleaver) XOR ``scr``, written in output order.
    Per row: :func:`encode_row` (the fused AWGN kernels call it too).
    """
    enc = (tbs, tb_table, tb_poly, tb_len, C, kp, cb_table, cb_poly, cb_len, k_ldpc, wlen,
           Z, kb, row_ptr, ecol, eshift, core, first_col, first_shift, steps, cb_off, qm, scr)
    scratch = encode_scratch(enc)
    for n in range(u.shape[0]):
        bad[n] = encode_row(u[n], enc, scratch, out[n])


@njit(cache=True, nogil=True)
def encode_scratch(enc):
    """The work buffers of :func:`encode_row` for the code of ``enc`` (its argument tuple)."""
    tbs, tb_len, wlen, Z, cb_off = enc[0], enc[3], enc[10], enc[11], enc[20]
    a = np.zeros(padded_bits(tbs + tb_len), dtype=np.uint8)  # padded: the CRCs read them by words
    wpad = np.zeros(padded_bits(wlen), dtype=np.uint8)
    e_max = wlen  # the rate-matched bits of the longest block (more than wlen when bits repeat)
    for r in range(cb_off.shape[0] - 1):
        e_max = max(e_max, cb_off[r + 1] - cb_off[r])
    return a, wpad, np.empty(Z, dtype=np.uint8), np.empty((4, Z), dtype=np.uint8), np.empty(e_max, dtype=np.uint8)


@njit(cache=True, nogil=True)
def encode_row(urow, enc, scratch, out):
    """One TB of :func:`encode_tbs`: bits ``urow`` ``[tbs]`` -> coded bits ``out`` ``[G]``; returns
    how many values of ``urow`` are neither 0 nor 1. ``enc``: :func:`encode_tbs`' arguments from
    ``tbs`` to ``scr`` as one tuple; ``scratch``: :func:`encode_scratch`."""
    (tbs, tb_table, tb_poly, tb_len, C, kp, cb_table, cb_poly, cb_len, k_ldpc, wlen,
     Z, kb, row_ptr, ecol, eshift, core, first_col, first_shift, steps, cb_off, qm, scr) = enc
    a, wpad, acc, syn, buf = scratch
    a64 = a.view(np.uint64)
    w = wpad[:wlen]
    w64 = wpad.view(np.uint64)
    nsys = kp - 2 * Z
    nbuf = nsys + wlen - k_ldpc  # the whole circular buffer when bits repeat (then wlen = N)
    d = kp - cb_len
    nb = 0
    for t in range(tbs):
        v = urow[t]
        nb += (v != 0) & (v != 1)
        a[t] = np.uint8(v != 0)
    _put_crc(a, tbs, _crc_sliced(a64, a, tbs, tb_table, tb_poly, tb_len), tb_len)
    for r in range(C):
        for t in range(d):
            w[t] = a[r * d + t]
        if cb_len:
            _put_crc(w, d, _crc_sliced(w64, w, d, cb_table, cb_poly, cb_len), cb_len)
        for t in range(kp, k_ldpc):
            w[t] = 0
        _ldpc_parity(w, Z, kb, row_ptr, ecol, eshift, core, first_col, first_shift, steps, acc, syn)
        p0 = cb_off[r]
        q = (cb_off[r + 1] - p0) // qm
        _copy_run(buf, w[2 * Z:], nsys)
        _copy_run(buf[nsys:], w[k_ldpc:], min(q * qm, nbuf) - nsys)
        for t in range(nbuf, q * qm):  # below the mother rate: the buffer read around again
            buf[t] = buf[t - nbuf]
        _interleave(out[p0:p0 + q * qm], buf, scr[p0:p0 + q * qm], q, qm)
    return nb


# --------------------------------------------------------------------------- QAM
@njit(cache=True, nogil=True)
def map_row(bits, levels, m, out):
    """One row of :func:`map_qam`: ``bits`` ``[S*m]`` uint8 -> ``out`` ``[2S]`` float32."""
    T = out.shape[0]
    nb = m // 2
    if nb == 1:  # a select, not a table look-up: the loop vectorises (5x faster)
        l0 = levels[0]
        l1 = levels[1]
        for t in range(T):
            out[t] = l1 if bits[t] & 1 else l0
    elif nb == 2:
        for t in range(T):
            o = (t >> 1) * 4 + (t & 1)
            out[t] = levels[((bits[o] & 1) << 1) | (bits[o + 2] & 1)]
    else:
        for t in range(T):
            o = (t >> 1) * m + (t & 1)
            q = 0
            for j in range(nb):
                q = (q << 1) | (bits[o + 2 * j] & 1)
            out[t] = levels[q]


@njit(cache=True, nogil=True)
def map_qam(bits, levels, m, out):
    """Gray square QAM (38.211 Sec. 5.1): ``bits`` ``[N, S*m]`` uint8 -> ``out`` ``[N, 2S]`` float32.

    ``out`` is the complex64 symbol array viewed as interleaved (in-phase, quadrature) float32;
    ``levels`` float32. Bits ``0, 2, 4, ...`` of a symbol (most significant first) index the
    in-phase amplitude ``levels``, bits ``1, 3, 5, ...`` the quadrature one. Output value ``t``
    (symbol ``t // 2``, dimension ``t % 2``) reads its bits directly, so QPSK and 16QAM loops
    vectorise. Only bit 0 of each byte is read (no out-of-range table index on bad input).
    """
    for n in range(out.shape[0]):
        map_row(bits[n], levels, m, out[n])


@njit(cache=True, nogil=True, inline="always")
def _dim_llrs(x, w, levels, labels, nb, app, dist, llr):
    """LLRs of the ``nb`` bits one Gray PAM dimension carries (``x`` received, ``w = 1/no``).

    Max-log (``app = False``): ``(min_{b=0} d - min_{b=1} d) w`` with ``d = (x - level)^2``;
    exact APP: ``log sum_{b=1} exp(-d w) - log sum_{b=0} exp(-d w)``, each sum shifted by its own
    smallest ``d w`` (so neither underflows: the LLR stays finite far from the levels).
    ``dist`` ``[M]`` float32 scratch.
    """
    M = levels.shape[0]
    for q in range(M):
        diff = x - levels[q]
        dist[q] = diff * diff * w
    for j in range(nb):
        d0 = _BIG
        d1 = _BIG
        for q in range(M):
            if labels[q, j]:
                d1 = min(d1, dist[q])
            else:
                d0 = min(d0, dist[q])
        llr[j] = d0 - d1
        if app:
            s0 = np.float32(0.0)
            s1 = np.float32(0.0)
            for q in range(M):
                if labels[q, j]:
                    s1 += np.float32(np.exp(d1 - dist[q]))
                else:
                    s0 += np.float32(np.exp(d0 - dist[q]))
            llr[j] += np.float32(np.log(s1)) - np.float32(np.log(s0))


@njit(cache=True, nogil=True)
def demap_symbols(y, inv_no, levels, labels, nb, app, out):
    """LLRs of square QAM symbols in Sionna's layout: ``y`` complex64, ``inv_no`` ``[N]`` -> ``out`` ``[N, 2 nb]``.

    Symbol bit ``2 j + d`` is bit ``j`` of dimension ``d`` (0 in-phase, 1 quadrature).
    """
    dist = np.empty(levels.shape[0], dtype=np.float32)
    llr = np.empty(nb, dtype=np.float32)
    for s in range(y.shape[0]):
        v = y[s]
        for d in range(2):
            _dim_llrs(v.real if d == 0 else v.imag, inv_no[s], levels, labels, nb, app, dist, llr)
            for j in range(nb):
                out[s, 2 * j + d] = llr[j]


@njit(cache=True, nogil=True, inline="always")
def _llr_closed(x, jbit, nb):
    """Max-log ``(min_{b=0} d - min_{b=1} d)`` of level bit ``jbit`` for QPSK (``nb = 1``) and 16QAM (``nb = 2``).

    QPSK: levels ``+-1/sqrt(2)``, ``-2 sqrt(2) x``. 16QAM, with ``u = x sqrt(10)`` (labels 00 01 10
    11 -> levels +1 +3 -1 -3 over ``sqrt(10)``): bit 0 ``-4u`` for ``|u| <= 2``, else
    ``-8(u - sign(u))``, i.e. ``-4 (2u - clip(u, -2, 2)) / 10``; bit 1 ``(4|u| - 8) / 10``.
    Branch free (random signs would mispredict). Compiled without ``fastmath``, as its callers:
    the float operations run in the written order whatever kernel inlines them, so the unfused
    and the fused AWGN paths give the same floats (with ``fastmath`` the compiler reassociated
    the products differently depending on what else the process had compiled).
    """
    if nb == 1:
        return np.float32(-2.0 * np.sqrt(2.0)) * x
    u = x * np.float32(np.sqrt(10.0))
    two = np.float32(2.0)
    if jbit == 0:
        return np.float32(-0.4) * (two * u - min(max(u, -two), two))
    return np.float32(0.4) * abs(u) - np.float32(0.8)


@njit(cache=True, nogil=True, inline="always")
def _qpsk_run(xs, sg, w, o0, o1, q):
    """One code block's ``q`` QPSK symbols ``xs`` ``[2q]`` (in-phase, quadrature), scrambling signs
    ``sg`` ``[2q]``, ``1/no = w`` -> its two rate-matched LLR streams ``o0``, ``o1`` ``[q]``.
    ``sgn * llr * w`` as :func:`demap_closed_row` writes it, on slices: the loop vectorises."""
    for j in range(q):
        o0[j] = sg[2 * j] * _llr_closed(xs[2 * j], 0, 1) * w
        o1[j] = sg[2 * j + 1] * _llr_closed(xs[2 * j + 1], 0, 1) * w


@njit(cache=True, nogil=True, inline="always")
def _qam16_run(xs, sg, w, o0, o1, o2, o3, q):
    """:func:`_qpsk_run` for 16QAM: signs ``sg`` ``[4q]``, four streams."""
    for j in range(q):
        xi = xs[2 * j]
        xq = xs[2 * j + 1]
        o0[j] = sg[4 * j] * _llr_closed(xi, 0, 2) * w
        o1[j] = sg[4 * j + 1] * _llr_closed(xq, 0, 2) * w
        o2[j] = sg[4 * j + 2] * _llr_closed(xi, 1, 2) * w
        o3[j] = sg[4 * j + 3] * _llr_closed(xq, 1, 2) * w


@njit(cache=True, nogil=True)
def demap_closed_row(yf, inv_no, per_symbol, nb, cb_off, e_max, sgn, out):
    """One row of :func:`demap_closed_to_decoder`: ``yf`` ``[2S]``, ``inv_no`` ``[S]`` or ``[1]``, ``out`` ``[C e_max]``
    (every slot written: the ``e_max - E_r`` slots after a shorter block's LLRs get 0).

    With one noise variance the code block's loops run on slices (:func:`_qpsk_run`,
    :func:`_qam16_run`), which the compiler vectorises (7-9x faster than the indexed loop below,
    the same floats).
    """
    m = 2 * nb
    for r in range(cb_off.shape[0] - 1):
        s0 = cb_off[r] // m
        q = (cb_off[r + 1] - cb_off[r]) // m
        o = r * e_max
        p0 = cb_off[r]
        if not per_symbol and nb == 1:
            _qpsk_run(yf[2 * s0:2 * (s0 + q)], sgn[p0:p0 + 2 * q], inv_no[0], out[o:o + q], out[o + q:o + 2 * q], q)
        elif not per_symbol:
            _qam16_run(yf[2 * s0:2 * (s0 + q)], sgn[p0:p0 + 4 * q], inv_no[0], out[o:o + q], out[o + q:o + 2 * q],
                       out[o + 2 * q:o + 3 * q], out[o + 3 * q:o + 4 * q], q)
        else:
            for j in range(q):
                w = inv_no[s0 + j]
                xi = yf[2 * (s0 + j)]
                xq = yf[2 * (s0 + j) + 1]
                p = p0 + j * m
                out[o + j] = sgn[p] * _llr_closed(xi, 0, nb) * w
                out[o + q + j] = sgn[p + 1] * _llr_closed(xq, 0, nb) * w
                if nb == 2:
                    out[o + 2 * q + j] = sgn[p + 2] * _llr_closed(xi, 1, nb) * w
                    out[o + 3 * q + j] = sgn[p + 3] * _llr_closed(xq, 1, nb) * w
        for e in range(m * q, e_max):
            out[o + e] = 0.0


@njit(cache=True, nogil=True)
def demap_closed_to_decoder(yf, inv_no, per_symbol, nb, cb_off, e_max, sgn, out):
    """:func:`demap_to_decoder` for max-log QPSK (``nb = 1``) and 16QAM (``nb = 2``), in symbol order.

    ``yf`` ``[N, 2S]`` float32: the complex64 symbols viewed as interleaved (in-phase,
    quadrature); ``inv_no`` ``[N, S]`` (``per_symbol``) or ``[1, 1]``. The values of
    :func:`demap_to_decoder` up to float rounding (the expression ``sgn * llr * w`` per bit, in
    strict float order: no ``fastmath``, see :func:`_llr_closed`), but each symbol is
    read once and its ``2 nb`` LLRs are written to their ``2 nb`` sequential streams (rate-matched
    positions ``i Q_r + j``), which vectorises.
    """
    for n in range(yf.shape[0]):
        demap_closed_row(yf[n], inv_no[n] if per_symbol else inv_no[0], per_symbol, nb, cb_off, e_max, sgn, out[n])


@njit(cache=True, nogil=True, fastmath=True)
def demap_to_decoder(y, inv_no, per_symbol, levels, labels, nb, app, cb_off, e_max, sgn, out):
    """Demapping, descrambling, de-interleaving and de-rate-matching in one pass.

    ``y`` ``[N, S]`` complex64 equalised symbols; ``inv_no`` ``[N, S]`` (``per_symbol``) or
    ``[1, 1]``: ``1/no``. Code block ``r`` owns TB bits ``[cb_off[r], cb_off[r+1])``, ``Q_r`` symbols;
    its bit ``i`` of symbol ``j`` (TB bit ``p = cb_off[r] + j Qm + i``) is rate-matched bit
    ``e = i Q_r + j`` (the inverse of the 38.212 5.4.2.2 interleaver): ``out[n, r e_max + e]`` =
    ``sgn[p]`` (the scrambling sign) times its LLR. ``out`` is ``[N, C * e_max]`` float32; slots
    ``e >= E_r`` of a shorter block are left untouched. Loops run in the decoder's order, so the
    writes are sequential.

    Every bit searches the ``2^nb`` levels of its dimension (:func:`_dim_llrs`): 64QAM and above,
    and exact APP. Max-log QPSK and 16QAM (QPSK max-log is also exact APP) take the closed forms
    of :func:`demap_closed_to_decoder`.
    """
    m = 2 * nb
    C = cb_off.shape[0] - 1
    dist = np.empty(levels.shape[0], dtype=np.float32)
    llr = np.empty(nb, dtype=np.float32)
    for n in range(y.shape[0]):
        for r in range(C):
            s0 = cb_off[r] // m
            q = (cb_off[r + 1] - cb_off[r]) // m
            for i in range(m):
                d = i % 2
                jb = i // 2
                o = r * e_max + i * q
                for j in range(q):
                    v = y[n, s0 + j]
                    x = v.real if d == 0 else v.imag
                    w = inv_no[n, s0 + j] if per_symbol else inv_no[0, 0]
                    p = cb_off[r] + j * m + i
                    _dim_llrs(x, w, levels, labels, nb, app, dist, llr)
                    out[n, o + j] = sgn[p] * llr[jb]


# --------------------------------------------------------------------------- input check
@njit(cache=True, nogil=True)
def count_non_binary(x):
    """How many values of the flat float32 array ``x`` are neither 0 nor 1 (NaN counts).

    Blocks of 4096 without branches (the compiler vectorises them), stopping after the first
    block that holds one: a valid payload costs one pass, an invalid one at most a block more.
    """
    n = x.shape[0]
    bad = 0
    for b0 in range(0, n, 4096):
        for i in range(b0, min(n, b0 + 4096)):
            v = x[i]
            bad += (v != np.float32(0.0)) & (v != np.float32(1.0))
        if bad:
            return bad
    return bad


# --------------------------------------------------------------------------- CRC checks
@njit(cache=True, nogil=True)
def check_tbs(bits, tbs, tb_table, tb_poly, tb_len, cb_table, cb_poly, cb_len, u_out, cb_ok, tb_ok):
    """CB CRC24B and TB CRC checks of decoded code blocks; reassembly of the TB bits.

    ``bits`` ``[N, C, kp]`` uint8 or float32 0/1 decoded code blocks (information part, CB CRC included) ->
    ``u_out`` ``[N, tbs]`` uint8, ``cb_ok`` ``[N, C]`` and ``tb_ok`` ``[N]`` bool. With one code
    block (``cb_len = 0``) the code block's flag is the TB CRC. Each block is first read into a
    uint8 0/1 buffer (one vectorised pass; the CRC's bit loop reads bytes faster than floats).
    """
    N = bits.shape[0]
    C = bits.shape[1]
    kp = bits.shape[2]
    d = kp - cb_len
    a = np.zeros(padded_bits(tbs + tb_len), dtype=np.uint8)  # padded: the CRCs read them by words
    a64 = a.view(np.uint64)
    blk = np.zeros(padded_bits(kp), dtype=np.uint8)
    blk64 = blk.view(np.uint64)
    for n in range(N):
        for r in range(C):
            for t in range(kp):
                blk[t] = np.uint8(bits[n, r, t] != 0)
            if cb_len:
                cb_ok[n, r] = _crc_sliced(blk64, blk, kp, cb_table, cb_poly, cb_len) == 0
            _copy_run(a[r * d:], blk, d)
        tb_ok[n] = _crc_sliced(a64, a, tbs + tb_len, tb_table, tb_poly, tb_len) == 0
        if not cb_len:
            for r in range(C):
                cb_ok[n, r] = tb_ok[n]
        for t in range(tbs):
            u_out[n, t] = a[t]


# --------------------------------------------------------------------------- Gaussian noise (semcom.link._gauss)
# The ziggurat sampler's kernels; :mod:`semcom.link._gauss` describes the method, builds the
# tables (``w, k, x, f, r``) and is the public entry. They sit in this file because the fused AWGN
# kernel below calls them: Numba checks a cached kernel against its own file only, so a cached
# kernel calling a kernel of another file would keep that kernel's old code after an edit.
ZIG_LAYERS = 256  # ziggurat layers (the base layer with the tail included)
ZIG_UNIT = 2.0 ** -52  # the signed 53-bit integer j in [-2^52, 2^52) times this lies in [-1, 1)
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


@njit(cache=True, nogil=True, inline="always")
def _layer(u):
    """Layer index (bits 0-7) and signed uniform ``j + 1/2`` (bits 11-63, |j + 1/2| < 2^52) of a word."""
    return np.int64(u & np.uint64(ZIG_LAYERS - 1)), np.float64(np.int64(u) >> np.int64(11)) + 0.5


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
        z = j * x[i] * ZIG_UNIT
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

    ``w, k, x, f, r``: :data:`semcom.link._gauss.TABLES`; ``buf, misses``: :func:`scratch`.
    :func:`fill_rows` and :func:`awgn_llrs` call it per row.
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
def fill_rows(out, seed, row0, scale, w, k, x, f, r):
    """``out[q, :]`` = ``scale`` x N(0, 1) samples of row ``row0 + q``'s streams, for every row ``q``."""
    buf, misses = scratch()
    for q in range(out.shape[0]):
        fill_row(out[q], seed, row0 + q, scale, w, k, x, f, r, buf, misses)


# --------------------------------------------------------------------------- fused AWGN channel
@njit(cache=True, nogil=True)
def awgn_llrs(bits, seed, row0, scale, inv_no, levels, m, cb_off, e_max, sgn, w, k, x, f, r, out):
    """Coded bits ``[N, G]`` uint8 -> decoder LLRs ``out`` ``[N, C e_max]`` after the AWGN channel.

    Row ``n``: ``y = noise + symbols`` (float32 interleaved in-phase, quadrature; the noise is
    ``scale`` x the N(0, 1) samples of stream row ``row0 + n`` of ``seed``, i.e. row ``row0 + n``
    of ``complex_normal_fast``), then the closed-form LLRs of ``y`` with ``1/no = inv_no[0]``.
    ``levels``, ``m``, ``cb_off``, ``e_max``, ``sgn``: as :func:`map_qam` and
    :func:`demap_closed_to_decoder` take them; ``w, k, x, f, r``: :data:`semcom.link._gauss.TABLES`.

    Behind :meth:`semcom.link.chain_fast.FastTBChain.awgn_llrs`. Unfused, the link writes and reads
    three ``[N, N_RE]`` complex64 arrays (symbols, noise, their torch sum) between mapping and
    demapping; here one row buffer, which stays in the cache, takes the row's noise
    (:func:`fill_row`), then its symbols (:func:`map_row`) added, and is demapped to the decoder's
    layout (:func:`demap_closed_row`): the same functions, the same float32 operations in the same
    order, so the same LLRs float for float (``tests/link/test_awgn_fused.py``).
    """
    T = 2 * (bits.shape[1] // m)
    y = np.empty(T, dtype=np.float32)
    sym = np.empty(T, dtype=np.float32)
    buf, misses = scratch()
    for n in range(bits.shape[0]):
        _awgn_row(bits[n], seed, row0 + n, scale, inv_no, levels, m, cb_off, e_max, sgn, w, k, x, f, r,
                  y, sym, buf, misses, out[n])


@njit(cache=True, nogil=True, inline="always")
def _awgn_row(bits, seed, row, scale, inv_no, levels, m, cb_off, e_max, sgn, w, k, x, f, r, y, sym, buf, misses, out):
    """One row of :func:`awgn_llrs` (stream row ``row``; ``y``, ``sym``: ``[2S]`` float32 scratch)."""
    fill_row(y, seed, row, scale, w, k, x, f, r, buf, misses)
    map_row(bits, levels, m, sym)
    for t in range(y.shape[0]):
        y[t] += sym[t]  # noise + symbol: torch's float32 sum
    demap_closed_row(y, inv_no, False, m // 2, cb_off, e_max, sgn, out)


@njit(cache=True, nogil=True)
def encode_awgn_llrs(u, enc, seed, row0, scale, inv_no, levels, m, cb_off, e_max, sgn, w, k, x, f, r, out, bad):
    """:func:`encode_tbs` then :func:`awgn_llrs` per TB row, without the ``[N, G]`` coded bits: TB
    bits ``u`` ``[N, tbs]`` -> decoder LLRs ``out`` ``[N, C e_max]`` and ``bad`` as
    :func:`encode_tbs` writes it. ``enc``: :func:`encode_tbs`' arguments from ``tbs`` to ``scr``;
    the others as :func:`awgn_llrs` takes them. The same functions per row, so the same LLRs.
    """
    coded = np.empty(cb_off[-1], dtype=np.uint8)
    T = 2 * (coded.shape[0] // m)
    y = np.empty(T, dtype=np.float32)
    sym = np.empty(T, dtype=np.float32)
    buf, misses = scratch()
    enc_scratch = encode_scratch(enc)
    for n in range(u.shape[0]):
        bad[n] = encode_row(u[n], enc, enc_scratch, coded)
        _awgn_row(coded, seed, row0 + n, scale, inv_no, levels, m, cb_off, e_max, sgn, w, k, x, f, r,
                  y, sym, buf, misses, out[n])


@njit(cache=True, nogil=True)
def noisy_llrs(bits, z, scale, inv_no, levels, m, cb_off, e_max, sgn, out):
    """:func:`awgn_llrs` with the noise given: ``z`` ``[N, 2S]`` float32 N(0, 1) draws (in-phase,
    quadrature interleaved), the noise ``z * scale``.

    Row ``n``: ``y[t] = z[n, t] * scale + symbol[t]``, two float32 operations in that order (no
    ``fastmath``: no fused multiply-add), what torch computes for
    ``torch.randn(...).mul_(scale)`` then ``.add_(symbols)`` (:func:`semcom.link.base.complex_normal`
    and the link's channel), then the closed-form LLRs of ``y``. Behind
    :meth:`semcom.link.chain_fast.FastTBChain.noisy_llrs`: the link's torch noise without the
    symbol and received arrays and the scaling and adding passes.
    """
    T = 2 * (bits.shape[1] // m)
    y = np.empty(T, dtype=np.float32)
    sym = np.empty(T, dtype=np.float32)
    for n in range(bits.shape[0]):
        _noisy_row(bits[n], z[n], scale, inv_no, levels, m, cb_off, e_max, sgn, y, sym, out[n])


@njit(cache=True, nogil=True, inline="always")
def _noisy_row(bits, z, scale, inv_no, levels, m, cb_off, e_max, sgn, y, sym, out):
    """One row of :func:`noisy_llrs` (``y``, ``sym``: ``[2S]`` float32 scratch)."""
    map_row(bits, levels, m, sym)
    for t in range(y.shape[0]):
        v = z[t] * scale
        y[t] = v + sym[t]
    demap_closed_row(y, inv_no, False, m // 2, cb_off, e_max, sgn, out)


# --------------------------------------------------------------------------- threads
_ROW_PARTS_PER_THREAD = 4  # row ranges per thread of run_rows


def run_rows(kernel, rows: int, threads: int, make_args) -> None:
    """Call ``kernel(*make_args(r0, r1))`` over contiguous row ranges of ``range(rows)``.

    Four ranges per thread (one per thread with ``threads = 1``), taken one at a time by the
    calling thread and the helpers of :func:`semcom.link._threads.run_parts`: a helper that starts
    late takes fewer. A range costs a call (about 2 us), a slot-sized TB row 20-100 us per kernel.
    """
    parts = max(1, min(rows, threads if threads <= 1 else _ROW_PARTS_PER_THREAD * threads))
    run_parts(kernel, [(c * rows // parts, (c + 1) * rows // parts) for c in range(parts)], threads, make_args)
