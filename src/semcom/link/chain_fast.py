"""The 5G NR transport-block chain around the LDPC decoder, compiled with Numba (bit-exact with Sionna).

:class:`FastTBChain` does, for one transport-block layout (:class:`~semcom.link.layout.TBLayout`)
and a batch of TBs, what Sionna's ``TBEncoder``, ``Mapper``, ``Demapper`` and the receiver's
descrambler / de-interleaver do, in compiled kernels (:mod:`semcom.link._chain_kernels`):

.. code-block:: text

    encode:  TB bits [N, TBS] --CRC24A (CRC16 if TBS <= 3824)--> segmentation into C blocks,
             CRC24B per block if C > 1 (38.212 5.1, 5.2.2) --5G LDPC, systematic (5.3.2)-->
             rate matching: circular buffer without the 2Z punctured and the filler bits,
             k0 = 0 (rv 0), E_r bits per block (5.4.2.1) --bit interleaver (5.4.2.2)-->
             --scrambling with the 38.211 Gold sequence, c_init = n_RNTI 2^15 + q 2^14 + n_ID
             (7.3.1.1)--> coded bits [N, G] uint8
    map:     Gray square QAM, Qm = 2/4/6/8, unit average energy (38.211 5.1) -> [N, G/Qm] complex64
    llrs:    equalised symbols + noise variance --max-log (or exact APP) LLRs, per PAM dimension-->
             --descramble, de-interleave, de-rate-match--> [N, C, E_max] decoder LLRs
             (code block r's E_r LLRs in rate-matched order, zeros after them)
    check:   decoded blocks [N, C, K'] --CRC24B per block, TB CRC--> TB bits, cb_ok, tb_ok

The base graph and lifting (which rows and shifts) come from Sionna's ``LDPC5GEncoder`` for the
same code block (its public ``pcm``, ``z``, ``k_ldpc``, ``n_ldpc``), which is also what the LDPC
decoders take; the encoding itself (syndromes of the information part, the double-diagonal
core solved block by block, the extension parities) runs in the kernels. Only the block rows whose
parity bits are transmitted are computed.

Below the mother code rate (``E`` beyond the filler-free circular buffer of ``N_buffer = N - 2Z -
(K - K')`` bits: the 38.214 rows below rate 1/5, Table 1 MCS 0-2 and Table 2 MCS 0-1) rate matching
reads the buffer around again, ``e_j = buffer[j mod N_buffer]`` (38.212 5.4.2.1 with ``k0 = 0``,
fillers skipped), which Sionna's encoder refuses. The chain does it: the decoder takes the
``N_buffer`` LLRs of the buffer, each the sum of the LLRs of its copies (:meth:`FastTBChain.fold`;
for independent noise the sum is the exact LLR of the repeated bit), and :attr:`FastTBChain.ldpc_encoder`
is then a :class:`~semcom.link.ldpc_fast.LDPCCode` (the fast decoder takes it; Sionna's decoder does
not). ``tests/link/test_repetition.py`` checks the coded bits against 38.212's bit selection written
out independently.

LLR sign convention: logits ``log p(b=1)/p(b=0)`` (Sionna's). Bit-exactness with Sionna's blocks
is tested in ``tests/link/test_chain_fast.py``.

Example::

    >>> import numpy as np
    >>> from semcom.link.layout import tb_layout
    >>> from semcom.link.mcs import MCS
    >>> from semcom.link.chain_fast import FastTBChain
    >>> mcs = MCS.from_rate(4, 2 / 3)
    >>> chain = FastTBChain(tb_layout(20_000, mcs), mcs)
    >>> u = np.random.default_rng(0).integers(0, 2, (2, chain.lay.tbs), dtype=np.uint8)
    >>> c = chain.encode(u)                                 # [2, G] uint8 scrambled coded bits
    >>> x = chain.map(c)                                    # [2, N_RE] complex64
    >>> llr = chain.llrs(x, 0.01)                           # [2, C, E_max] float32 decoder LLRs
    >>> chain.lay.num_cb, x.shape[1] == chain.lay.num_re, llr.shape[1:] == (3, chain.e_max)
    (3, True, True)
    >>> from semcom.link.ldpc_fast import FastLDPC5GDecoder
    >>> dec = FastLDPC5GDecoder(chain.ldpc_encoder)
    >>> blocks = dec(chain.fold(llr).reshape(6, -1)).reshape(2, 3, chain.ldpc_k)
    >>> u_hat, cb_ok, tb_ok = chain.check(blocks)
    >>> bool(tb_ok.all()), bool((u_hat == u).all())
    (True, True)
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from semcom.errors import InputError, LinkError
from semcom.link import _chain_kernels as _k
from semcom.link.base import complex_scale
from semcom.link.decodability import buffer_length, buffer_to_codeword
from semcom.link.layout import TBLayout
from semcom.link.mcs import MCS, SIONNA_MIN_CODE_RATE

__all__ = ["DEMAPPERS", "FastTBChain", "c_init", "CRC_POLYS"]

#: Demapping rules: "maxlog" (closed-form max-log, what receivers implement) or "app" (exact).
DEMAPPERS = ("maxlog", "app")

#: Smallest noise variance the demapper takes: 1/no and every LLR stay finite in float32.
_MIN_NO = 1e-35

#: 38.212 Sec. 5.1 CRC generator polynomials (``D^L`` omitted) and their lengths.
CRC_POLYS = {"CRC24A": (0x864CFB, 24), "CRC24B": (0x800063, 24), "CRC16": (0x1021, 16)}


def c_init(n_rnti: int, n_id: int, codeword_index: int = 0) -> int:
    """38.211 Sec. 7.3.1.1 scrambling initialisation of a PDSCH codeword: ``n_RNTI 2^15 + q 2^14 + n_ID``."""
    return n_rnti * 2**15 + codeword_index * 2**14 + n_id


def _crc(name: str) -> tuple[np.ndarray, int, int]:
    poly, length = CRC_POLYS[name]
    return _k.crc_tables(poly, length), poly, length


class _LDPCStructure:
    """The block structure of one 5G LDPC code, as the encoding kernel needs it.

    Built from a Sionna ``LDPC5GEncoder(k, n)`` (or an :class:`~semcom.link.ldpc_fast.LDPCCode`):
    block edges of the block rows whose parity bits reach the rate-matched output (all of them when
    bits repeat), the core's 4 x 4 shifts and the order in which its four parity blocks are solved.
    Raises :class:`LinkError` when the matrix lacks the 38.212 structure.
    """

    def __init__(self, enc: Any, e_max: int) -> None:
        z, k, k_ldpc, n_ldpc = int(enc.z), int(enc.k), int(enc.k_ldpc), int(enc.n_ldpc)
        self.z, self.k, self.k_ldpc = z, k, k_ldpc
        self.kb = kb = k_ldpc // z
        self.n_buffer = buffer_length(k, z, k_ldpc, n_ldpc)
        last = int(self.buffer_to_codeword(np.array([min(e_max, self.n_buffer) - 1]))[0])
        cols = max(kb + 4, math.ceil((last + 1) / z))
        self.rows = rows = cols - kb
        self.wlen = cols * z
        pcm = enc.pcm.tocoo()
        blocks = {}
        for r, c, s in zip((pcm.row // z).tolist(), (pcm.col // z).tolist(), ((pcm.col % z - pcm.row % z) % z).tolist()):
            if r < rows:
                blocks[(r, c)] = s
        edges = sorted((r, c, s) for (r, c), s in blocks.items())
        for r, c, _ in edges:
            if c >= kb and ((r < 4 and c >= kb + 4) or (r >= 4 and c >= kb + 4 and c != kb + r)):
                raise LinkError(f"unsupported LDPC structure: block ({r}, {c})")
        self.row_ptr = np.searchsorted([e[0] for e in edges], np.arange(rows + 1)).astype(np.int64)
        self.ecol = np.array([e[1] for e in edges], dtype=np.int64)
        self.eshift = np.array([e[2] for e in edges], dtype=np.int64)
        self.core = np.full((4, 4), -1, dtype=np.int64)
        for (r, c), s in blocks.items():
            if r < 4 and c >= kb:
                self.core[r, c - kb] = s
        self.first_col, self.first_shift, self.steps = _core_plan(self.core)

    def buffer_to_codeword(self, j: np.ndarray) -> np.ndarray:
        """Codeword bit of circular-buffer position ``j`` (``k0 = 0``; punctured and filler bits skipped)."""
        return buffer_to_codeword(j, self.k, self.z, self.k_ldpc)


def _decoder_code(k: int, e: int, base_graph: int) -> Any:
    """The code the decoder takes for ``K' = k`` rate-matched to ``E = e`` bits: Sionna's
    ``LDPC5GEncoder(k, e)`` (its own base-graph choice, as the layout's) where it takes the rate,
    else an :class:`~semcom.link.ldpc_fast.LDPCCode` on the layout's ``base_graph``."""
    from sionna.phy.fec.ldpc import LDPC5GEncoder

    from semcom.link.ldpc_fast import LDPCCode

    if k / e < SIONNA_MIN_CODE_RATE:
        return LDPCCode.of(k, e, base_graph)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "effective rate > 948/1024" at the top MCS
            return LDPC5GEncoder(k, e)
    except ValueError as exc:
        if k / e < 1 / 3 and base_graph == 1:  # base graph 1 below 1/3 (the layouts cap such TBs)
            return LDPCCode.of(k, e, base_graph)
        raise LinkError(f"Sionna's LDPC encoder refused K'={k}, E={e}: {exc}") from exc


def _core_plan(core: np.ndarray) -> tuple[int, int, np.ndarray]:
    """How to solve the four core parity blocks from the row syndromes (see ``_ldpc_parity``).

    Summing the four core rows cancels every block that appears an even number of times with the
    same shift; exactly one rotated block must remain. Then each step takes a row with one
    unknown block left.
    """
    left = []
    for j in range(4):
        shifts = [int(s) for s in core[:, j] if s >= 0]
        odd = sorted(s for s in set(shifts) if shifts.count(s) % 2)
        left += [(j, s) for s in odd]
    if len(left) != 1:
        raise LinkError(f"unsupported LDPC core structure {core.tolist()}")
    first_col, first_shift = left[0]
    known, steps = {first_col}, []
    while len(known) < 4:
        for r in range(4):
            unknown = [j for j in range(4) if core[r, j] >= 0 and j not in known]
            if len(unknown) == 1:
                steps.append((r, unknown[0], int(core[r, unknown[0]])))
                known.add(unknown[0])
                break
        else:
            raise LinkError(f"unsupported LDPC core structure {core.tolist()}")
    return first_col, first_shift, np.array(steps, dtype=np.int64)


class FastTBChain:
    """The compiled TB chain of one transport-block layout (see the module docstring).

    Args:
        lay: the TB layout (TBS, code blocks, rate-matched lengths), from :mod:`semcom.link.layout`.
        mcs: its MCS (the modulation order ``Qm`` is used).
        n_rnti, n_id: scrambling identities (the link uses 1 and 1, as its Sionna chain).
        demapper: ``"maxlog"`` (default) or ``"app"``.
        num_threads: worker threads of the kernels (default: the cores this process may use).

    Attributes: ``lay``, ``qm``, ``ldpc_encoder`` (the code the decoder takes: Sionna's
    ``LDPC5GEncoder(K', E_max)``, or an :class:`~semcom.link.ldpc_fast.LDPCCode` at rates Sionna's
    encoder refuses), ``ldpc_k`` (``K'``), ``e_max``, ``repeats`` (bits repeat: ``E_max`` exceeds the
    circular buffer), ``decoder_n`` (LLRs per code block after :meth:`fold`), ``scrambling``
    (``[G]`` uint8).
    """

    def __init__(self, lay: TBLayout, mcs: MCS, *, n_rnti: int = 1, n_id: int = 1, demapper: str = "maxlog",
                 num_threads: int | None = None) -> None:
        if demapper not in DEMAPPERS:
            raise LinkError(f"demapper must be one of {DEMAPPERS}, got {demapper!r}")
        self.lay = lay
        self.qm = qm = int(mcs.modulation_order)
        self.demapper = demapper
        self.threads = num_threads or _k.default_threads()
        self.e_max = e_max = max(lay.cw_lengths)
        self.ldpc_k = lay.cb_size
        self.ldpc_encoder = _decoder_code(lay.cb_size, e_max, lay.base_graph)
        self.code = _LDPCStructure(self.ldpc_encoder, e_max)
        self.repeats = e_max > self.code.n_buffer
        self.decoder_n = min(e_max, self.code.n_buffer)
        self.tb_crc = _crc("CRC16" if lay.tb_crc_length == 16 else "CRC24A")
        self.cb_crc = _crc("CRC24B") if lay.cb_crc_length else (np.zeros((4, 256), dtype=np.int64), 0, 0)
        self.scrambling = _k.gold_sequence(lay.num_coded_bits, c_init(n_rnti, n_id))
        self._sign = (1.0 - 2.0 * self.scrambling.astype(np.float32)).astype(np.float32)
        # code block r fills TB output bits [cb_off[r], cb_off[r+1]); within it output bit j Qm + i is
        # rate-matched (circular-buffer, k0 = 0) bit i E_r/Qm + j (the 5.4.2.2 interleaver), as the
        # encoding kernel writes it and the demapping kernels invert it (decoder slot r E_max + e)
        self._cb_off = np.concatenate([[0], np.cumsum(lay.cw_lengths)]).astype(np.int64)
        from semcom.link.demap_fast import qam_pam_levels

        self._levels, self._labels = qam_pam_levels(qm)
        self._levels32 = self._levels.astype(np.float32)
        #: The demapper has a closed form (QPSK, where max-log is exact APP, or 16QAM max-log):
        #: :meth:`llrs` takes it, and :meth:`awgn_llrs` is available.
        self.closed_form = qm == 2 or (qm == 4 and demapper == "maxlog")

    # ------------------------------------------------------------------ transmit side
    def encode(self, u: np.ndarray, threads: int | None = None) -> np.ndarray:
        """TB bits ``[N, TBS]`` (0/1, any integer or float dtype) -> scrambled coded bits ``[N, G]`` uint8.

        The bits are checked while the kernel reads them (no separate pass): a value other than 0
        or 1 (NaN included) raises :class:`InputError` after the call, which returns nothing.
        ``threads``: the threads of this call (default: the chain's).
        """
        u8 = _bits_array(u, self.lay.tbs)
        out = np.empty((u8.shape[0], self.lay.num_coded_bits), dtype=np.uint8)
        bad = np.zeros(u8.shape[0], dtype=np.int64)
        static = self._enc_args()
        _k.run_rows(_k.encode_tbs, u8.shape[0], threads or self.threads,
                    lambda a, b: (u8[a:b], *static, out[a:b], bad[a:b]))
        _check_bad(bad)
        return out

    def _enc_args(self) -> tuple:
        """The encoding kernel's arguments from ``tbs`` to ``scr`` (:func:`semcom.link._chain_kernels.encode_tbs`)."""
        lay, c = self.lay, self.code
        tb_t, tb_p, tb_l = self.tb_crc
        cb_t, cb_p, cb_l = self.cb_crc
        return (lay.tbs, tb_t, tb_p, tb_l, lay.num_cb, lay.cb_size, cb_t, cb_p, cb_l, c.k_ldpc, c.wlen, c.z, c.kb,
                c.row_ptr, c.ecol, c.eshift, c.core, c.first_col, c.first_shift, c.steps,
                self._cb_off, self.qm, self.scrambling)

    def map(self, bits: np.ndarray) -> np.ndarray:
        """Coded bits ``[N, G]`` uint8 -> Gray QAM symbols ``[N, G/Qm]`` complex64, unit average energy."""
        bits = self._coded_array(bits)
        out = np.empty((bits.shape[0], self.lay.num_re), dtype=np.complex64)
        flat = out.view(np.float32)  # [N, 2 N_RE]: in-phase, quadrature
        _k.run_rows(_k.map_qam, bits.shape[0], self.threads,
                    lambda a, b: (bits[a:b], self._levels32, self.qm, flat[a:b]))
        return out

    def _coded_array(self, bits: np.ndarray) -> np.ndarray:
        """Coded bits ``[N, G]`` as a C-contiguous uint8 array (:class:`InputError` on another shape)."""
        bits = np.ascontiguousarray(bits, dtype=np.uint8)
        if bits.ndim != 2 or bits.shape[1] != self.lay.num_coded_bits:
            raise InputError(f"coded bits must be shaped [N, {self.lay.num_coded_bits}], got {bits.shape}")
        return bits

    # ------------------------------------------------------------------ receive side
    def llrs(self, y: Any, no: Any) -> np.ndarray:
        """Equalised symbols ``[N, N_RE]`` and noise variance -> decoder LLRs ``[N, C, E_max]`` float32.

        ``no``: a positive scalar, or ``[N, N_RE]`` per symbol (``no / |h|^2`` after equalising
        fading). Code block ``r``'s LLRs are in its rate-matched order (descrambled,
        de-interleaved), positions ``E_r <= j < E_max`` of a shorter block are 0 (punctured).
        """
        lay = self.lay
        yc = np.ascontiguousarray(_numpy(y), dtype=np.complex64)
        if yc.ndim != 2 or yc.shape[1] != lay.num_re:
            raise InputError(f"symbols must be shaped [N, {lay.num_re}], got {yc.shape}")
        inv, per_symbol = _inverse_noise(no, yc.shape)
        n = yc.shape[0]
        nb = self.qm // 2
        if self.closed_form:  # its kernel writes every slot, the padding too
            out = np.empty((n, lay.num_cb * self.e_max), dtype=np.float32)
            yf = yc.view(np.float32)
            _k.run_rows(_k.demap_closed_to_decoder, n, self.threads,
                        lambda a, b: (yf[a:b], inv[a:b] if per_symbol else inv, per_symbol, nb, self._cb_off,
                                      self.e_max, self._sign, out[a:b]))
            return out.reshape(n, lay.num_cb, self.e_max)
        out = np.zeros((n, lay.num_cb * self.e_max), dtype=np.float32)

        def args(a: int, b: int) -> tuple:
            return (yc[a:b], inv[a:b] if per_symbol else inv, per_symbol, self._levels, self._labels, nb,
                    self.demapper == "app", self._cb_off, self.e_max, self._sign, out[a:b])

        _k.run_rows(_k.demap_to_decoder, n, self.threads, args)
        return out.reshape(n, lay.num_cb, self.e_max)

    def fold(self, llr: np.ndarray) -> np.ndarray:
        """Decoder LLRs ``[..., E_max]`` in rate-matched order (numpy float32, as :meth:`llrs` and the
        fused kernels return them) -> the decoder's input ``[..., decoder_n]``: with bit repetition
        the LLRs of the copies of each circular-buffer position ``j, j + N_buffer, ...`` summed (soft
        combining, in that order); without, ``llr`` itself."""
        if not self.repeats:
            return llr
        nb, e = self.code.n_buffer, llr.shape[-1]
        if e != self.e_max:
            raise InputError(f"LLRs must be shaped [..., {self.e_max}], got {llr.shape}")
        m = -(-e // nb)
        x = np.zeros(llr.shape[:-1] + (m * nb,), dtype=np.float32)
        x[..., :e] = llr
        return x.reshape(*llr.shape[:-1], m, nb).sum(axis=-2, dtype=np.float32)

    def awgn_llrs(self, bits: np.ndarray, seed: int, no: float, row0: int = 0) -> np.ndarray:
        """Coded bits ``[N, G]`` uint8 -> decoder LLRs ``[N, C, E_max]`` after AWGN, in one fused kernel.

        Equal, float for float, to ``llrs(map(bits) + noise, no)`` with ``noise`` rows ``row0`` to
        ``row0 + N`` of ``complex_normal_fast((row0 + N, N_RE), seed, no)`` (the compiled noise of
        :mod:`semcom.link._gauss`; a row's noise depends only on ``(seed, row)``), without the
        symbol, noise and received arrays (:func:`semcom.link._chain_kernels.awgn_llrs`). Only where the
        demapper has a closed form (:attr:`closed_form`: QPSK, or 16QAM max-log), else
        :class:`LinkError`. The same :class:`InputError` as :meth:`map`, ``complex_normal_fast``
        and :meth:`llrs` for bad bits' shape, seed or ``no``.
        """
        from semcom.link._gauss import TABLES, check_args

        bits = self._fused_bits(bits)
        n = bits.shape[0]
        _, seed = check_args((row0 + n, self.lay.num_re), seed, no, None)
        out, demap = self._fused_demap_args(no, n)
        static = (complex_scale(no), *demap, *TABLES)
        seed64 = np.uint64(seed)
        _k.run_rows(_k.awgn_llrs, n, self.threads, lambda a, b: (bits[a:b], seed64, row0 + a, *static, out[a:b]))
        return out.reshape(n, self.lay.num_cb, self.e_max)

    def noisy_llrs(self, bits: np.ndarray, z: Any, no: float, threads: int | None = None) -> np.ndarray:
        """Coded bits ``[N, G]`` uint8 and N(0, 1) draws ``z`` -> decoder LLRs ``[N, C, E_max]`` after AWGN.

        ``z``: ``[N, N_RE, 2]`` float32 (numpy or torch), e.g. ``torch.randn((N, N_RE, 2))``, the
        in-phase and quadrature draws of each symbol. Equal, float for float, to
        ``llrs(map(bits) + noise, no)`` with ``noise = view_as_complex(z * sqrt(no / 2))``, what
        :func:`semcom.link.base.complex_normal` returns for those draws, in one kernel per TB row
        (:func:`semcom.link._chain_kernels.noisy_llrs`). Only where :attr:`closed_form`, else
        :class:`LinkError`; the same :class:`InputError` as :meth:`map` and :meth:`llrs` for bad
        input. ``threads``: the threads of this call (default: the chain's).
        """
        bits = self._fused_bits(bits)
        n = bits.shape[0]
        zf = self._noise_draws(z, n)
        out, demap = self._fused_demap_args(no, n)
        static = (np.float32(complex_scale(no)), *demap)
        _k.run_rows(_k.noisy_llrs, n, threads or self.threads, lambda a, b: (bits[a:b], zf[a:b], *static, out[a:b]))
        return out.reshape(n, self.lay.num_cb, self.e_max)

    def encode_awgn_llrs(self, u: np.ndarray, seed: int, no: float, row0: int = 0,
                         threads: int | None = None) -> np.ndarray:
        """TB bits ``[N, TBS]`` -> decoder LLRs ``[N, C, E_max]`` after AWGN with the compiled noise:
        ``awgn_llrs(encode(u), seed, no, row0)`` in one kernel per TB row, without the coded bits
        (:func:`semcom.link._chain_kernels.encode_awgn_llrs`; the same LLRs). The errors of
        :meth:`encode` and :meth:`awgn_llrs`; ``threads``: the threads of this call."""
        from semcom.link._gauss import TABLES, check_args

        u8, n = self._fused_tbs(u)
        _, seed = check_args((row0 + n, self.lay.num_re), seed, no, None)
        out, demap = self._fused_demap_args(no, n)
        static = (np.uint64(seed), complex_scale(no), *demap, *TABLES)
        bad = np.zeros(n, dtype=np.int64)
        enc = self._enc_args()
        _k.run_rows(_k.encode_awgn_llrs, n, threads or self.threads,
                    lambda a, b: (u8[a:b], enc, static[0], row0 + a, *static[1:], out[a:b], bad[a:b]))
        _check_bad(bad)
        return out.reshape(n, self.lay.num_cb, self.e_max)

    def _fused_tbs(self, u: Any) -> tuple[np.ndarray, int]:
        """TB bits for a fused kernel (as :meth:`encode` reads them) and their rows; :class:`LinkError`
        unless :attr:`closed_form`."""
        if not self.closed_form:
            raise LinkError(f"the fused AWGN kernel needs QPSK or 16QAM max-log, not Qm={self.qm} {self.demapper}")
        u8 = _bits_array(u, self.lay.tbs)
        return u8, u8.shape[0]

    def _noise_draws(self, z: Any, n: int) -> np.ndarray:
        """N(0, 1) draws ``[n, N_RE, 2]`` (numpy or torch) as float32 ``[n, 2 N_RE]``; :class:`InputError` on another shape."""
        zf = np.ascontiguousarray(_numpy(z), dtype=np.float32)
        if zf.shape != (n, self.lay.num_re, 2):
            raise InputError(f"noise draws must be shaped [{n}, {self.lay.num_re}, 2], got {zf.shape}")
        return zf.reshape(n, 2 * self.lay.num_re)

    def _fused_bits(self, bits: np.ndarray) -> np.ndarray:
        """The coded bits of a fused AWGN kernel (:meth:`_coded_array`); :class:`LinkError` unless
        the demapper has a closed form (:attr:`closed_form`)."""
        if not self.closed_form:
            raise LinkError(f"the fused AWGN kernel needs QPSK or 16QAM max-log, not Qm={self.qm} {self.demapper}")
        return self._coded_array(bits)

    def _fused_demap_args(self, no: float, n: int) -> tuple[np.ndarray, tuple]:
        """The LLR output ``[N, C e_max]`` of a fused AWGN kernel and the arguments both kernels take
        after the noise scale (``1/no``, the QAM levels, ``Qm`` and the demapper's layout), ``no`` checked
        as :meth:`llrs` checks it."""
        inv, _ = _inverse_noise(no, (n, self.lay.num_re))
        out = np.empty((n, self.lay.num_cb * self.e_max), dtype=np.float32)
        return out, (inv.reshape(1), self._levels32, self.qm, self._cb_off, self.e_max, self._sign)

    def check(self, bits: Any, dtype: Any = np.uint8, threads: int | None = None,
              out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Decoded code blocks ``[N, C, K']`` (0/1; float32 is read as it is, other dtypes as uint8)
        -> (TB bits ``[N, TBS]``, cb_ok ``[N, C]``, tb_ok ``[N]``).

        The TB bits are of ``dtype``: uint8, or float32 (what the link returns, without a conversion
        pass). ``threads``: the threads of this call (default: the chain's). ``out``: the three
        arrays to write (numpy, those shapes, ``dtype`` / bool / bool; e.g. rows of the caller's
        larger arrays), returned.
        """
        lay = self.lay
        b8 = np.ascontiguousarray(_numpy(bits))
        if b8.dtype != np.float32:  # the decoder's float32 bits are read as they are (no conversion pass)
            b8 = b8.astype(np.uint8, copy=False)
        if b8.ndim != 3 or b8.shape[1:] != (lay.num_cb, lay.cb_size):
            raise InputError(f"decoded blocks must be shaped [N, {lay.num_cb}, {lay.cb_size}], got {b8.shape}")
        n = b8.shape[0]
        if np.dtype(dtype) not in (np.dtype(np.uint8), np.dtype(np.float32)):
            raise InputError(f"dtype must be uint8 or float32, got {np.dtype(dtype)}")
        if out is None:
            u = np.empty((n, lay.tbs), dtype=dtype)
            cb_ok, tb_ok = np.empty((n, lay.num_cb), dtype=np.bool_), np.empty(n, dtype=np.bool_)
        else:
            u, cb_ok, tb_ok = _check_out(out, (n, lay.tbs, lay.num_cb), dtype)
        tb_t, tb_p, tb_l = self.tb_crc
        cb_t, cb_p, cb_l = self.cb_crc
        _k.run_rows(_k.check_tbs, n, threads or self.threads,
                    lambda a, b: (b8[a:b], lay.tbs, tb_t, tb_p, tb_l, cb_t, cb_p, cb_l, u[a:b], cb_ok[a:b], tb_ok[a:b]))
        return u, cb_ok, tb_ok


def _check_out(out: Any, shape: tuple[int, int, int], dtype: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``check``'s ``out`` arrays, :class:`InputError` unless they are numpy arrays of ``[N, TBS]``
    ``dtype``, ``[N, C]`` and ``[N]`` bool (rows may be views; the kernel writes through them)."""
    n, tbs, c = shape
    want = (((n, tbs), np.dtype(dtype)), ((n, c), np.dtype(np.bool_)), ((n,), np.dtype(np.bool_)))
    if not isinstance(out, tuple) or len(out) != 3 or any(
            not isinstance(a, np.ndarray) or (a.shape, a.dtype) != w for a, w in zip(out, want)):
        raise InputError(f"out must be three numpy arrays shaped and typed {[(s, str(d)) for s, d in want]}")
    return out


def _numpy(x: Any) -> Any:
    """A torch tensor as a CPU numpy array (no copy when possible); other values unchanged."""
    try:
        import torch

        if isinstance(x, torch.Tensor):
            return x.detach().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    return x


def _inverse_noise(no: Any, shape: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """``1/no`` in float32 for symbols of ``shape``: (``[N, N_RE]`` per symbol, or ``[1, 1]``;
    per symbol?). :class:`InputError` unless every ``no`` is positive, finite and at least ``_MIN_NO``."""
    if isinstance(no, float):  # the link's scalar: the same float32 checks and division, without the array passes
        n32 = np.float32(no)
        _check_no(math.isfinite(n32) and n32 > 0, n32 >= _MIN_NO)
        return np.full((1, 1), np.float32(1.0) / n32, dtype=np.float32), False
    nov = _numpy(no)
    per_symbol = np.ndim(nov) > 0 and np.size(nov) > 1
    nov = np.asarray(nov, dtype=np.float32)
    _check_no(np.isfinite(nov).all() and not (nov <= 0).any(), not (nov < _MIN_NO).any())
    if per_symbol and np.broadcast_shapes(nov.shape, shape) != shape:
        raise InputError(f"no of shape {nov.shape} does not broadcast to the symbols' {shape}")
    inv = np.float32(1.0) / nov
    return np.ascontiguousarray(np.broadcast_to(inv, shape) if per_symbol else inv.reshape(1, 1)), per_symbol


def _check_no(positive_finite: bool, above_min: bool) -> None:
    """:class:`InputError` unless the noise variances are positive and finite and ``above_min`` (every
    one at least ``_MIN_NO``: the LLRs are then finite, and the decoder takes them unchecked)."""
    if not positive_finite:
        raise InputError("the noise variance must be positive and finite")
    if not above_min:
        raise InputError(f"noise variance below {_MIN_NO:g} (Es/N0 above 350 dB): the LLRs would overflow float32")


def _check_bad(bad: np.ndarray) -> None:
    """:class:`InputError` if the encoding kernel counted a TB bit other than 0 or 1."""
    if bad.any():
        raise InputError("bits must be 0 or 1 (found other values, or NaN)")


def _bits_array(u: Any, k: int) -> np.ndarray:
    """``u`` ``[N, k]`` as a C-contiguous real array the encoding kernel reads (bool as uint8; the
    0/1 check is the kernel's)."""
    arr = np.asarray(_numpy(u))
    if arr.ndim != 2 or arr.shape[1] != k:
        raise InputError(f"TB bits must be shaped [N, {k}], got {arr.shape}")
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(f"TB bits must be a real 0/1 array, got dtype {arr.dtype}")
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    return np.ascontiguousarray(arr)
