"""Numba kernels of the fast 5G LDPC decoder (layered min-sum) and the max-log QAM demapper.

Private module: the public entry points are :class:`semcom.link.ldpc_fast.FastLDPC5GDecoder` and
:func:`semcom.link.demap_fast.demap_qam_maxlog`, which check their inputs and call these kernels.

Layout of the decoder state (one codeword at a time per thread, ``Z`` lifting dimension innermost):

- ``L[c * Z + i]`` is the a-posteriori LLR (``log p(0)/p(1)``) of variable node ``i`` of block
  column ``c``.
- Block edge ``e`` of block row ``r`` (edges ``row_ptr[r] <= e < row_ptr[r + 1]``) joins check node
  ``r * Z + i`` to variable node ``ecol[e] * Z + (i + eshift[e]) % Z``; its ``Z`` check-to-variable
  messages live in ``R[e * Z : (e + 1) * Z]``.

A block row is one layer; every variable node appears at most once per layer, so a layer's ``Z``
check nodes are updated together with loops over ``i`` that the compiler vectorises (the rotation
splits each block into two contiguous runs). The batch is split into chunks that a pool of
threads decodes on all cores: the kernels release the GIL, and no OpenMP runtime is involved,
so the decoder is thread safe and fork safe (process pools may fork after using it).

The compiled machine code is cached on disk (``cache=True``) in ``__pycache__`` beside this file,
or under ``NUMBA_CACHE_DIR`` when that variable is set; the first call in a fresh environment compiles
(about 10-30 s), later processes load the cache.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from semcom.link._threads import default_threads, run_parts  # noqa: F401  (default_threads: re-exported)

_BIG = np.float32(3.0e38)


@njit(cache=True, fastmath=True)
def _syndrome_ok(L, row_ptr, ecol, eshift, check_mask, Z, par):
    """True when the hard decisions ``L <= 0`` satisfy every counted parity check.

    ``par`` is a ``[Z]`` float32 scratch array (parity held as a sign, -1 = odd).
    """
    rows = row_ptr.shape[0] - 1
    one = np.float32(1.0)
    for r in range(rows):
        for i in range(Z):
            par[i] = one
        for e in range(row_ptr[r], row_ptr[r + 1]):
            base = ecol[e] * Z
            s = eshift[e]
            n1 = Z - s
            La = L[base + s:base + Z]
            Lb = L[base:base + s]
            pa = par[:n1]
            pb = par[n1:]
            for i in range(n1):
                pa[i] = -pa[i] if La[i] <= 0 else pa[i]
            for i in range(s):
                pb[i] = -pb[i] if Lb[i] <= 0 else pb[i]
        cm = check_mask[r * Z:(r + 1) * Z]
        bad = 0
        for i in range(Z):
            bad += np.int64(par[i] < 0) * np.int64(cm[i])
        if bad:
            return False
    return True


@njit(cache=True, fastmath=True, inline="always")
def _row_pass1(Ts, Rs, Lv, m1, m2, idx, sgn, count, ef):
    """``t = L - R`` for ``count`` checks of one block edge; fold ``|t|`` and ``sign(t)`` into the row state."""
    zero = np.float32(0.0)
    for i in range(count):
        t = Lv[i] - Rs[i]
        Ts[i] = t
        a = abs(t)
        old = m1[i]
        o2 = m2[i]
        ix = idx[i]
        sg = sgn[i]
        m2[i] = min(o2, max(old, a))
        m1[i] = min(a, old)
        idx[i] = ef if a < old else ix
        sgn[i] = -sg if t < zero else sg


@njit(cache=True, fastmath=True, inline="always")
def _row_pass2(Ts, Rs, Lv, c1, c2, idx, count, ef, lmax):
    """New check-to-variable messages of one block edge and the updated a-posteriori LLRs."""
    zero = np.float32(0.0)
    nlmax = -lmax
    for i in range(count):
        t = Ts[i]
        a = c1[i]  # both loaded unconditionally: a select of two loads vectorises, a gather does not
        b = c2[i]
        c = b if idx[i] == ef else a
        c = -c if t < zero else c
        Rs[i] = c
        Lv[i] = min(max(t + c, nlmax), lmax)


@njit(cache=True, fastmath=True)
def _decode_one(L, R, T, m1, m2, idx, sgn, row_ptr, ecol, eshift, check_mask, Z,
                num_iter, scale, off, early_stop, lmax):
    """Layered min-sum decoding of one codeword whose channel LLRs are already in ``L``.

    Check-to-variable magnitude: ``max(scale * min - off, 0)`` (normalised min-sum: ``off = 0``;
    offset min-sum: ``scale = 1``). Scratch: ``T [dmax*Z]``; ``m1, m2, idx, sgn [Z]`` float32.
    Each block edge's rotation splits its ``Z`` checks into two contiguous runs (``Z - s`` and
    ``s``), each a vectorised loop. Returns ``(iterations run, syndrome satisfied)``.
    """
    rows = row_ptr.shape[0] - 1
    zero = np.float32(0.0)
    one = np.float32(1.0)
    big = np.float32(3.0e38)
    R[:] = zero
    it = 0
    ok = False
    while it < num_iter:
        for r in range(rows):
            e0 = row_ptr[r]
            e1 = row_ptr[r + 1]
            for i in range(Z):
                m1[i] = big
                m2[i] = big
                idx[i] = np.float32(-1.0)
                sgn[i] = one
            # pass 1: variable-to-check messages, two smallest magnitudes and sign parity per check
            for e in range(e0, e1):
                base = ecol[e] * Z
                s = eshift[e]
                n1 = Z - s
                Ts = T[(e - e0) * Z:(e - e0 + 1) * Z]
                Rs = R[e * Z:(e + 1) * Z]
                ef = np.float32(e)
                _row_pass1(Ts, Rs, L[base + s:base + Z], m1, m2, idx, sgn, n1, ef)
                _row_pass1(Ts[n1:], Rs[n1:], L[base:base + s], m1[n1:], m2[n1:], idx[n1:], sgn[n1:], s, ef)
            # the two candidate outgoing messages per check (sign of the whole row included)
            for i in range(Z):
                sg = sgn[i]
                m1[i] = sg * max(scale * m1[i] - off, zero)
                m2[i] = sg * max(scale * m2[i] - off, zero)
            # pass 2: new check-to-variable messages, a-posteriori LLRs written back in place
            for e in range(e0, e1):
                base = ecol[e] * Z
                s = eshift[e]
                n1 = Z - s
                Ts = T[(e - e0) * Z:(e - e0 + 1) * Z]
                Rs = R[e * Z:(e + 1) * Z]
                ef = np.float32(e)
                _row_pass2(Ts, Rs, L[base + s:base + Z], m1, m2, idx, n1, ef, lmax)
                _row_pass2(Ts[n1:], Rs[n1:], L[base:base + s], m1[n1:], m2[n1:], idx[n1:], s, ef, lmax)
        it += 1
        if early_stop or it == num_iter:
            ok = _syndrome_ok(L, row_ptr, ecol, eshift, check_mask, Z, m1)
            if ok and early_stop:
                break
    return it, ok


@njit(cache=True, nogil=True)
def decode_batch(llr, in_pos, k, k_ldpc, n_vn, out_pos, hard_out, row_ptr, ecol, eshift,
                 check_mask, Z, dmax, num_iter, scale, off, early_stop, lmax, cmax, crel, out, ok, iters):
    """Decode ``llr.shape[0]`` codewords.

    ``llr`` ``[B, n]`` float32 channel logits (``log p(1)/p(0)``, Sionna's convention), saturated
    on entry at ``+-min(cmax, crel * mean_j |llr[b, j]|)`` (``crel = 0``: at ``+-cmax`` only;
    a word of zeros is not clipped); ``cmax <= lmax``, a-posteriori LLRs saturate at ``+-lmax``;
    ``in_pos[j]`` the variable node of input position ``j``; filler nodes ``k <= v < k_ldpc``
    are known zeros; check-to-variable magnitudes are ``max(scale * min - off, 0)``;
    ``out[b, j]`` receives the hard bit (or logit) of variable node ``out_pos[j]``; ``ok[b]`` the syndrome flag and ``iters[b]`` the iterations run.
    """
    B = llr.shape[0]
    n = llr.shape[1]
    nout = out_pos.shape[0]
    E = ecol.shape[0]
    if B > 0:
        L = np.empty(n_vn, dtype=np.float32)
        R = np.empty(E * Z, dtype=np.float32)
        T = np.empty(dmax * Z, dtype=np.float32)
        m1 = np.empty(Z, dtype=np.float32)
        m2 = np.empty(Z, dtype=np.float32)
        idx = np.empty(Z, dtype=np.float32)
        sgn = np.empty(Z, dtype=np.float32)
        for b in range(B):
            for v in range(n_vn):
                L[v] = 0.0
            for v in range(k, k_ldpc):
                L[v] = lmax
            c = cmax
            if crel > 0 and n > 0:
                acc = np.float32(0.0)
                for j in range(n):
                    acc += abs(llr[b, j])
                if acc > 0:
                    c = min(c, crel * acc / np.float32(n))
            for j in range(n):
                L[in_pos[j]] = min(max(-llr[b, j], -c), c)
            it, good = _decode_one(L, R, T, m1, m2, idx, sgn, row_ptr, ecol, eshift,
                                   check_mask, Z, num_iter, scale, off, early_stop, lmax)
            iters[b] = it
            ok[b] = good
            if hard_out:
                for j in range(nout):
                    out[b, j] = np.float32(1.0) if L[out_pos[j]] <= 0 else np.float32(0.0)
            else:
                for j in range(nout):
                    out[b, j] = -L[out_pos[j]]


@njit(cache=True, nogil=True)
def demap_pam_pairs(yr, yi, inv_no, levels, labels, nbits_dim, out):
    """Exact max-log LLRs of square QAM, one Gray PAM per dimension.

    ``yr, yi, inv_no`` ``[N]`` float32; ``levels`` ``[M]`` PAM amplitudes; ``labels[q, j]`` bit ``j``
    of level ``q``; ``out`` ``[N, 2 * nbits_dim]`` with the real-part bits at even positions.
    """
    N = yr.shape[0]
    M = levels.shape[0]
    for s in range(N):
        w = inv_no[s]
        for d in range(2):
            x = yr[s] if d == 0 else yi[s]
            for j in range(nbits_dim):
                d0 = _BIG
                d1 = _BIG
                for q in range(M):
                    diff = x - levels[q]
                    dist = diff * diff
                    if labels[q, j]:
                        d1 = min(d1, dist)
                    else:
                        d0 = min(d0, dist)
                out[s, 2 * j + d] = (d0 - d1) * w


def run_chunked(kernel, batch: int, threads: int, make_args) -> None:
    """Call ``kernel(*make_args(b0, b1))`` over contiguous chunks of ``range(batch)``.

    Four chunks per thread balance codewords that stop early against ones that do not; the
    shared pool of :mod:`semcom.link._threads` runs them (the kernels release the GIL).
    """
    nchunks = 1 if threads <= 1 else min(batch, 4 * threads)
    run_parts(kernel, [(c * batch // nchunks, (c + 1) * batch // nchunks) for c in range(nchunks)], threads, make_args)
