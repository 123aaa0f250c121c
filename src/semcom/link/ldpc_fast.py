"""A fast CPU decoder for the 5G NR LDPC codes of Sionna's ``LDPC5GEncoder``.

Layered normalised (or offset) min-sum decoding with syndrome-based early stopping, compiled with
Numba, in saturated 8-bit (the default) or 16-bit fixed point, or float32 (the reference;
``precision=``). It consumes exactly what ``sionna.phy.fec.ldpc.LDPC5GDecoder(encoder, hard_out=True,
return_infobits=True)`` consumes (channel logits ``log p(b=1)/p(b=0)``, ``[..., n]``) and returns
what it returns (``[..., k]`` hard information bits, float32), 100-700x faster on CPU.

The code (3GPP TS 38.212, Sec. 5.3.2 and 5.4.2):

- base graph 1 or 2 lifted by ``Z`` (every lifting size), parity-check matrix taken from
  ``encoder.pcm``;
- the ``k_ldpc - k`` filler bits after the ``k`` information bits are known zeros;
- the first ``2Z`` systematic bits are punctured (zero LLR);
- rate matching keeps the next ``n`` bits of the filler-free buffer (redundancy version 0), with
  the bit interleaver of Sec. 5.4.2.2 undone when the encoder has ``num_bits_per_symbol``;
- block rows whose extension parity bits are all punctured carry no information and are pruned.

Algorithm (layered min-sum, one block row of ``Z`` checks per layer):

.. code-block:: text

    L_v = channel LLR, saturated at +-llr_clip * mean|LLR| of the word (and +-llr_max if given)
    for each iteration, for each block row r:
        t_e   = L_v(e) - R_e                          (variable-to-check, every edge e of row r)
        R_e   = sign(prod_{e'!=e} t_e') * a * min_{e'!=e} |t_e'|     (a = scaling, by default by BG and Z)
              or  ... * max(min_{e'!=e} |t_e'| - offset, 0)          (offset min-sum)
        L_v(e) = t_e + R_e
    stop when the hard decisions satisfy every parity check (early_stop) or after num_iter.

References: Hocevar, "A reduced complexity decoder architecture via layered decoding of LDPC
codes", SiPS 2004; Chen & Fossorier, "Near optimum universal belief propagation based decoding
of LDPC codes", IEEE Trans. Commun. 2002 (normalised/offset min-sum).

Example:
    >>> import torch
    >>> from sionna.phy.fec.ldpc import LDPC5GEncoder
    >>> from semcom.link.ldpc_fast import FastLDPC5GDecoder
    >>> enc = LDPC5GEncoder(k=100, n=200)
    >>> dec = FastLDPC5GDecoder(enc, num_iter=20)
    >>> u = torch.randint(0, 2, (4, 100), generator=torch.Generator().manual_seed(0)).float()
    >>> llr = 4.0 * (2.0 * enc(u) - 1.0)          # noiseless logits
    >>> bool(torch.equal(dec(llr), u))
    True
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import numpy as np
import torch

from semcom.errors import InputError, LinkError
from semcom.link import _ldpc_fixed as _fx
from semcom.link import _ldpc_kernels as _k

__all__ = ["DEFAULT_LLR_CLIP", "DEFAULT_PRECISION", "HIGH_ORDER_FROM", "LOW_RATE_BELOW", "LOW_RATE_PRECISION", "PRECISIONS",
           "SCALING_RULE", "FastLDPC5GDecoder", "LDPCCode", "default_precision", "default_scaling", "ldpc_layout"]

# a-posteriori LLRs (and channel LLRs) saturate here; filler bits sit at +_LMAX (known zeros)
_LMAX = np.float32(1.0e6)

# arithmetic of the decoder: "float" (float32, the reference) or fixed point "int16" / "int8"
PRECISIONS = ("float", "int16", "int8")
# int8: about 3x the float decoder's throughput at k = 8448, 0.01-0.07 dB behind it (docs/ldpc_fast.md)
DEFAULT_PRECISION = "int8"
# below this code rate (k/n of the decoder's input) int8 has an error floor (base graph 2 near its mother
# rate 1/5: words the float and int16 decoders decode fail, tests/link/test_ldpc_fast.py), so the default
# precision there is int16
LOW_RATE_BELOW = 1.0 / 3.0
LOW_RATE_PRECISION = "int16"
# from this many bits per QAM symbol (64QAM) int8 loses up to about 1 dB against float: one quantiser
# per word cannot hold the LLRs of a symbol's strong and weak bit positions (tests/link/test_repetition.py
# measures 256QAM R = 0.8), so the default precision there is int16 as well
HIGH_ORDER_FROM = 6
# fixed point: (message dtype, a-posteriori saturation qmax, message saturation rmax, integer qc the
# channel LLR bound maps to); see semcom.link._ldpc_fixed for the conventions and measurements
_FIXED = {"int16": (np.int16, 32767, 32767, 2047), "int8": (np.int8, 127, 47, 55)}

# channel LLRs saturate on entry at this multiple of the word's mean |LLR| (FastLDPC5GDecoder's llr_clip)
DEFAULT_LLR_CLIP = 4.0

# min-sum normalisation factor by base graph: rows (largest lifting size Z, factor), measured against
# Sionna's decoder near BLER 10 % on identical LLRs (``semcom bench ldpc --tuning``, ldpc_tuning.json)
SCALING_RULE: dict[str, tuple[tuple[int, float], ...]] = {
    "bg1": ((384, 0.7),),
    "bg2": ((20, 0.8), (64, 0.75), (384, 0.7)),
}


def default_scaling(bg: str, z: int) -> float:
    """The normalisation factor ``FastLDPC5GDecoder(scaling=None)`` uses for base graph ``bg``, lifting ``z``.

    Short codes (small ``Z``) need a larger factor than long ones: their check nodes have fewer
    neighbours, so min-sum overestimates the check-to-variable magnitudes less.

    Example:
        >>> default_scaling("bg1", 384) <= default_scaling("bg2", 2)
        True
    """
    rows = SCALING_RULE.get(bg)
    if rows is None:
        raise LinkError(f"base graph must be 'bg1' or 'bg2', got {bg!r}")
    if isinstance(z, bool) or not isinstance(z, (int, np.integer)) or not 2 <= z <= 384:
        raise LinkError(f"lifting size must be an int in [2, 384], got {z!r}")
    return next(s for zmax, s in rows if z <= zmax)


@dataclasses.dataclass(frozen=True, eq=False)
class LDPCCode:
    """A 5G LDPC code block at a rate Sionna's ``LDPC5GEncoder`` refuses, as the decoder sees it.

    Sionna's encoder takes ``k/n`` of at least 1/5 (base graph 2) or 1/3 (base graph 1). 38.212 sends
    lower rates by reading the circular buffer around again (bit repetition, Sec. 5.4.2.1); the
    receiver adds the LLRs of every copy of a buffer position (soft combining,
    :meth:`semcom.link.chain_fast.FastTBChain.fold`), so the decoder takes ``n = min(E, N_buffer)``
    LLRs: the filler-free circular buffer ``N_buffer = N - 2Z - (K - K')`` when bits repeat. Also
    used where ``E`` fits the buffer but many filler bits put ``k/E`` below 1/5. Carries the public
    properties :func:`ldpc_layout` reads (those of ``LDPC5GEncoder``); the parity-check matrix comes
    from a Sionna encoder of the same ``k`` and base graph at a rate it takes (``of``).
    """

    pcm: Any
    z: int
    k: int
    n: int
    k_ldpc: int
    n_ldpc: int
    base_graph: int
    num_bits_per_symbol = None  # LLRs in rate-matched order (no bit interleaver to undo)

    @property
    def n_buffer(self) -> int:
        """Length of the filler-free circular buffer (what one pass of rate matching can send)."""
        from semcom.link.decodability import buffer_length

        return buffer_length(self.k, self.z, self.k_ldpc, self.n_ldpc)

    @property
    def coderate(self) -> float:
        """``k / n`` of the decoder's input."""
        return self.k / self.n

    @classmethod
    def of(cls, k: int, e: int, base_graph: int) -> "LDPCCode":
        """The code of ``k`` information bits (``K'``) rate-matched to ``e`` bits on ``base_graph`` (1 or 2).

        Example:
            >>> code = LDPCCode.of(1000, 8000, 2)          # rate 1/8: bits repeat
            >>> code.z, code.n == code.n_buffer < 8000
            (104, True)
        """
        from sionna.phy.fec.ldpc import LDPC5GEncoder

        from semcom.link.decodability import buffer_length, lifting

        if base_graph not in (1, 2) or isinstance(base_graph, bool):
            raise LinkError(f"base_graph must be 1 or 2, got {base_graph!r}")
        z, _, k_ldpc = lifting(int(k), base_graph)
        n_ldpc = (68 if base_graph == 1 else 52) * z  # codeword with the 2Z punctured bits
        n_buffer = buffer_length(k, z, k_ldpc, n_ldpc)
        if isinstance(e, bool) or not isinstance(e, (int, np.integer)) or e < 1:
            raise LinkError(f"the rate-matched length must be a positive int, got {e!r}")
        probe = min(n_buffer, (3 if base_graph == 1 else 5) * k)  # a rate Sionna's encoder takes
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                enc = LDPC5GEncoder(k, probe, bg=f"bg{base_graph}")
        except ValueError as exc:
            raise LinkError(f"no 5G LDPC code of K'={k} bits on base graph {base_graph}: {exc}") from exc
        if (int(enc.z), int(enc.k_ldpc), int(enc.n_ldpc)) != (z, k_ldpc, n_ldpc):  # pragma: no cover - 38.212
            raise LinkError(f"internal: Sionna's code of K'={k} differs from 38.212's lifting")
        return cls(enc.pcm, z, int(k), min(int(e), n_buffer), k_ldpc, n_ldpc, int(base_graph))


def default_precision(k: int, n: int, num_bits_per_symbol: int | None = None) -> str:
    """The arithmetic ``FastLDPC5GDecoder(precision=None)`` uses for ``k`` information bits decoded
    from ``n`` LLRs of QAM symbols of ``num_bits_per_symbol`` bits (``None``: not known):
    :data:`LOW_RATE_PRECISION` (int16) below rate :data:`LOW_RATE_BELOW` or from
    :data:`HIGH_ORDER_FROM` bits per symbol (64QAM and 256QAM), else :data:`DEFAULT_PRECISION` (int8).

    Example:
        >>> default_precision(8448, 16896), default_precision(1000, 5000), default_precision(8448, 9000, 8)
        ('int8', 'int16', 'int16')
    """
    high_order = num_bits_per_symbol is not None and num_bits_per_symbol >= HIGH_ORDER_FROM
    return LOW_RATE_PRECISION if high_order or k < LOW_RATE_BELOW * n else DEFAULT_PRECISION


def _qc_blocks(pcm, z: int) -> dict[tuple[int, int], int]:
    """The quasi-cyclic blocks of a parity-check matrix (scipy COO): ``{(block row, block col): shift}``;
    a LinkError when a block is not one cyclic permutation of size ``z``."""
    rows_i = pcm.row // z
    cols_i = pcm.col // z
    shift = (pcm.col % z - pcm.row % z) % z
    blocks: dict[tuple[int, int], int] = {}
    for r, c, s in zip(rows_i.tolist(), cols_i.tolist(), shift.tolist()):
        if blocks.setdefault((r, c), s) != s:
            raise LinkError("unsupported code: parity-check matrix is not quasi-cyclic with lifting Z")
    counts: dict[tuple[int, int], int] = {}
    for r, c in zip(rows_i.tolist(), cols_i.tolist()):
        counts[(r, c)] = counts.get((r, c), 0) + 1
    if any(v != z for v in counts.values()):
        raise LinkError("unsupported code: a block of the parity-check matrix is not a permutation")
    return blocks


def _check_mask(kept: list[tuple[int, int, int]], rows: int, z: int, kb: int, last_vn: int) -> np.ndarray:
    """``[rows*Z]`` uint8, 0 for the checks the syndrome does not count: those of an extension row
    whose own parity bit is punctured (beyond ``last_vn``) are always satisfiable."""
    check_mask = np.ones(rows * z, dtype=np.uint8)
    for r, c, s in kept:
        if r >= 4 and c == kb + r:
            i = np.arange(z)
            vn = c * z + (i + s) % z
            check_mask[r * z + i[vn > last_vn]] = 0
    return check_mask


def ldpc_layout(encoder: Any) -> dict:
    """The quasi-cyclic structure and rate-matching layout of an ``LDPC5GEncoder``'s code.

    Reads only the encoder's public properties (``pcm``, ``z``, ``k``, ``n``, ``k_ldpc``,
    ``n_ldpc``, ``num_bits_per_symbol``, ``out_int``). Returns a dict: the base graph ``bg``
    (``"bg1"`` or ``"bg2"``), numpy arrays
    ``row_ptr [rows+1]``, ``ecol [E]``, ``eshift [E]`` (block edge ``e`` joins check ``r*Z+i`` to
    variable ``ecol[e]*Z + (i+eshift[e]) % Z``), ``check_mask [rows*Z]`` (checks counted by the
    syndrome), ``in_pos [n]`` (variable node of each channel LLR), ``cw_pos [n]`` (variable node of
    each output codeword bit) and the scalars ``z, k, n, k_ldpc, n_vn, rows, cols, dmax``.
    Raises :class:`LinkError` when the code is not the quasi-cyclic 5G structure expected.

    Example:
        >>> from sionna.phy.fec.ldpc import LDPC5GEncoder
        >>> lay = ldpc_layout(LDPC5GEncoder(k=500, n=1000))
        >>> lay["z"], lay["rows"], lay["n_vn"] == lay["cols"] * lay["z"]
        (64, 10, True)
    """
    z = int(encoder.z)
    k = int(encoder.k)
    n = int(encoder.n)
    k_ldpc = int(encoder.k_ldpc)
    n_ldpc = int(encoder.n_ldpc)
    pcm = encoder.pcm.tocoo()
    if k_ldpc % z or n_ldpc % z or pcm.shape != (n_ldpc - k_ldpc, n_ldpc):
        raise LinkError(f"unsupported code: pcm {pcm.shape} does not match k_ldpc={k_ldpc}, n_ldpc={n_ldpc}, Z={z}")
    kb = k_ldpc // z
    nsys_rm = k - 2 * z  # transmitted systematic bits (the first 2Z are punctured)
    if nsys_rm < 0 or n < nsys_rm:
        raise LinkError(f"unsupported code: k={k}, n={n}, Z={z}")

    blocks = _qc_blocks(pcm, z)
    # variable node of each rate-matched (filler-free, after 2Z puncturing) buffer position
    j = np.arange(n)
    rm_to_vn = np.where(j < nsys_rm, 2 * z + j, k_ldpc + (j - nsys_rm))
    last_vn = int(rm_to_vn[-1]) if n else 2 * z
    cols = max(kb + 4, math.ceil((last_vn + 1) / z))
    rows = cols - kb
    kept = sorted((r, c, s) for (r, c), s in blocks.items() if r < rows)
    if any(c >= cols for _, c, _ in kept):
        raise LinkError("unsupported code: base graph is not lower-triangular in its extension part")

    row_ptr = np.zeros(rows + 1, dtype=np.int64)
    for r, _, _ in kept:
        row_ptr[r + 1] += 1
    row_ptr = np.cumsum(row_ptr)
    ecol = np.array([c for _, c, _ in kept], dtype=np.int64)
    eshift = np.array([s for _, _, s in kept], dtype=np.int64)
    dmax = int(np.diff(row_ptr).max())

    check_mask = _check_mask(kept, rows, z, kb, last_vn)
    bg = "bg1" if kb == 22 else "bg2"  # 22 systematic block columns in base graph 1, 6..10 in base graph 2
    out_int = getattr(encoder, "num_bits_per_symbol", None)
    if out_int is not None:
        perm = np.asarray(encoder.out_int.cpu().numpy(), dtype=np.int64)
        in_pos = rm_to_vn[perm]
    else:
        in_pos = rm_to_vn
    return {
        "bg": bg, "z": z, "k": k, "n": n, "k_ldpc": k_ldpc, "n_ldpc": n_ldpc, "rows": rows, "cols": cols,
        "n_vn": cols * z, "dmax": dmax, "row_ptr": row_ptr, "ecol": ecol, "eshift": eshift,
        "check_mask": check_mask, "in_pos": np.ascontiguousarray(in_pos, dtype=np.int64),
        "cw_pos": np.ascontiguousarray(in_pos, dtype=np.int64),
    }


class FastLDPC5GDecoder(torch.nn.Module):
    """Layered min-sum decoder for the 5G NR LDPC code of a Sionna ``LDPC5GEncoder`` (Numba, CPU).

    Drop-in for ``sionna.phy.fec.ldpc.LDPC5GDecoder(encoder, hard_out=True, return_infobits=True)``:
    the same input, the same output, two to three orders of magnitude the throughput (82-809x measured); on identical
    QPSK/AWGN LLRs at 20 iterations the float32 decoder needs at most 0.05 dB more Eb/N0 than
    Sionna's decoder for k = 40 to 8448, both base graphs, and the default int8 fixed-point
    decoder 0.01-0.07 dB more than the float one, within 0.1 dB of Sionna wherever measured
    (docs/ldpc_fast.md, "BLER parity").

    Args:
        encoder: the ``sionna.phy.fec.ldpc.LDPC5GEncoder`` whose codewords are decoded (base graph 1
            or 2, any lifting size, filler bits, puncturing, rate matching, optional interleaver), or an
            :class:`LDPCCode` (a rate below Sionna's lowest, with repetitions folded into its ``n`` LLRs).
        num_iter: maximum number of layered iterations (one iteration updates every block row once).
        scaling: normalised min-sum factor applied to check-to-variable magnitudes (0 < scaling <= 1).
            ``None`` (the default) takes :func:`default_scaling` of the code's base graph and lifting
            size ``Z`` (:data:`SCALING_RULE`, measured against Sionna's decoder near BLER 10 %:
            short codes need a larger factor than long ones); a number overrides it.
        offset: when given, offset min-sum: magnitudes ``max(min - offset, 0)`` and ``scaling`` is
            not applied. ``offset`` is in the LLR's units (it is not scale invariant).
        early_stop: stop a codeword as soon as its hard decisions satisfy every parity check;
            ``False`` runs exactly ``num_iter`` iterations.
        hard_out: hard-decided bits (float32 0/1) when ``True``; logits ``log p(1)/p(0)`` otherwise.
        return_infobits: return the ``k`` information bits when ``True``, the ``n`` transmitted
            codeword bits (same order as the encoder output) otherwise.
        return_syndrome_ok: also return a ``[...]`` bool tensor, ``True`` where the decoded word
            satisfies every parity check (a valid codeword). Can be overridden per call.
        num_threads: worker threads (default: one per core this process may use).
        llr_clip: channel LLRs are saturated on entry at ``+-llr_clip * mean|LLR|`` of their own
            codeword (``None``: no relative saturation). The default 4 (:data:`DEFAULT_LLR_CLIP`)
            lets the decoder correct a few wrong but overconfident LLRs (e.g. from imperfect channel
            estimates), costs nothing at normal SNR (QPSK to 256-QAM) and, being relative, keeps
            normalised min-sum's independence of the LLRs' overall scale.
        llr_max: optional absolute saturation ``+-llr_max`` (Sionna's ``llr_max``; ``None``, the
            default, for none); with ``llr_clip`` as well, the smaller bound applies. An absolute
            bound makes decisions depend on the LLR scale: LLRs 10x too large lose badly.
        precision: the decoder's arithmetic; ``None`` (the default): :func:`default_precision` of the
            code and the encoder's ``num_bits_per_symbol``, i.e. ``"int16"`` below code rate 1/3 (where
            int8 has an error floor) and for 64QAM and 256QAM (where it loses up to about 1 dB),
            ``"int8"`` (:data:`DEFAULT_PRECISION`) otherwise. ``"int8"``:
            saturated 8-bit messages, channel LLRs quantised per codeword to 7 bits (the word's
            saturation bound above maps to 55; without ``llr_clip`` and ``llr_max`` the word's
            largest |LLR| does), check-to-variable messages saturated at 47, a-posteriori LLRs at
            127, scaling quantised to 1/128; about 3x the float throughput at k = 8448, 0.01-0.07 dB
            behind it.
            ``"int16"``: the same at 16 bits (channel bound -> 2047, saturation 32767), within
            0.015 dB of float, about 1.8x its throughput. ``"float"``: float32, the reference.
            The conventions are in :mod:`semcom.link._ldpc_fixed`; soft output (``hard_out=False``)
            of the fixed-point decoders is dequantised and saturates at 127/55 (int8) of the bound.

    Input: ``llr`` ``[..., n]`` float channel logits ``log p(b=1)/p(b=0)`` (Sionna's convention:
    positive means bit 1), a torch tensor or numpy array, finite.
    Output: ``[..., k]`` (or ``[..., n]``) float32 torch tensor on the input's device; with
    ``return_syndrome_ok`` a tuple ``(bits, ok)``. ``last_iterations`` holds the iterations each
    codeword of the last call ran (``[...]`` int32).

    Thread safe and fork safe: the batch is decoded by a pool of Python threads running a Numba
    kernel that releases the GIL (no OpenMP runtime). The first call in a fresh environment
    compiles the kernels (seconds); the machine code is
    cached by Numba in ``__pycache__`` next to ``semcom/link/_ldpc_kernels.py`` (or in
    ``NUMBA_CACHE_DIR``).

    Example:
        >>> import torch
        >>> from sionna.phy.fec.ldpc import LDPC5GEncoder
        >>> enc = LDPC5GEncoder(k=500, n=1000)
        >>> dec = FastLDPC5GDecoder(enc, return_syndrome_ok=True)
        >>> u = torch.zeros(2, 500)
        >>> bits, ok = dec(-3.0 * torch.ones(2, 1000))
        >>> bits.shape, bool(ok.all()), int(bits.sum())
        (torch.Size([2, 500]), True, 0)
    """

    def __init__(self, encoder: Any, num_iter: int = 20, scaling: float | None = None, offset: float | None = None,
                 early_stop: bool = True, hard_out: bool = True, return_infobits: bool = True,
                 return_syndrome_ok: bool = False, num_threads: int | None = None,
                 llr_clip: float | None = DEFAULT_LLR_CLIP, llr_max: float | None = None,
                 precision: str | None = None) -> None:
        super().__init__()
        try:
            from sionna.phy.fec.ldpc import LDPC5GEncoder
        except ImportError as exc:  # pragma: no cover - sionna is a hard dependency
            raise LinkError("FastLDPC5GDecoder needs sionna's LDPC5GEncoder") from exc
        if not isinstance(encoder, (LDPC5GEncoder, LDPCCode)):
            raise LinkError(f"encoder must be a sionna LDPC5GEncoder or an LDPCCode, got {type(encoder).__name__}")
        if isinstance(num_iter, bool) or not isinstance(num_iter, (int, np.integer)) or num_iter < 1:
            raise LinkError(f"num_iter must be a positive int, got {num_iter!r}")
        if scaling is not None and (isinstance(scaling, bool) or not isinstance(scaling, (int, float))
                                    or not (0.0 < float(scaling) <= 1.0)):
            raise LinkError(f"scaling must lie in (0, 1] or be None, got {scaling!r}")
        if offset is not None and (not isinstance(offset, (int, float)) or not (0.0 <= float(offset) < 1e3)):
            raise LinkError(f"offset must be a non-negative number or None, got {offset!r}")
        for name, val in [("early_stop", early_stop), ("hard_out", hard_out),
                          ("return_infobits", return_infobits), ("return_syndrome_ok", return_syndrome_ok)]:
            if not isinstance(val, bool):
                raise LinkError(f"{name} must be bool, got {val!r}")
        if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
            raise LinkError(f"num_threads must be a positive int or None, got {num_threads!r}")
        for name, val in [("llr_clip", llr_clip), ("llr_max", llr_max)]:
            if val is not None and (isinstance(val, bool) or not isinstance(val, (int, float))
                                    or not (0.0 < float(val) <= float(_LMAX))):
                raise LinkError(f"{name} must be a positive number (at most {float(_LMAX):g}) or None, got {val!r}")
        if precision is not None and precision not in PRECISIONS:
            raise LinkError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self._encoder = [encoder]  # a list keeps it out of this module's submodules
        self.num_iter = int(num_iter)
        self.offset = None if offset is None else float(offset)
        self.early_stop = early_stop
        self.hard_out = hard_out
        self.return_infobits = return_infobits
        self.return_syndrome_ok = return_syndrome_ok
        self.num_threads = num_threads
        self.llr_clip = None if llr_clip is None else float(llr_clip)
        self.llr_max = None if llr_max is None else float(llr_max)
        self._lay = ldpc_layout(encoder)
        lay = self._lay
        nbps = getattr(encoder, "num_bits_per_symbol", None)
        self.precision = default_precision(lay["k"], lay["n"], nbps) if precision is None else precision
        self.scaling = default_scaling(lay["bg"], lay["z"]) if scaling is None else float(scaling)
        self._out_pos = np.arange(lay["k"], dtype=np.int64) if return_infobits else lay["cw_pos"]
        self.last_iterations: torch.Tensor | None = None

    @property
    def encoder(self) -> Any:
        """The ``LDPC5GEncoder`` (or :class:`LDPCCode`) this decoder inverts."""
        return self._encoder[0]

    @property
    def k(self) -> int:
        """Information bits per codeword."""
        return self._lay["k"]

    @property
    def n(self) -> int:
        """Transmitted bits per codeword (LLRs per codeword at the input)."""
        return self._lay["n"]

    @property
    def z(self) -> int:
        """Lifting size."""
        return self._lay["z"]

    @property
    def num_layers(self) -> int:
        """Block rows (layers) decoded after pruning the fully punctured extension rows."""
        return self._lay["rows"]

    def _decode_fixed(self, x: np.ndarray, num_iter: int, out: np.ndarray, ok: np.ndarray, iters: np.ndarray,
                      threads: int) -> None:
        """Decode ``x`` ``[B, n]`` with the int8 / int16 kernels into ``out``, ``ok``, ``iters``."""
        static = _fixed_args(self, num_iter)
        _k.run_chunked(_fx.decode_batch_fixed, x.shape[0], threads,
                       lambda b0, b1: (x[b0:b1], *static, out[b0:b1], ok[b0:b1], iters[b0:b1]))

    def extra_repr(self) -> str:
        kind = f"offset={self.offset}" if self.offset is not None else f"scaling={self.scaling}"
        return (f"k={self.k}, n={self.n}, z={self.z}, layers={self.num_layers}, num_iter={self.num_iter}, "
                f"{kind}, llr_clip={self.llr_clip}, llr_max={self.llr_max}, early_stop={self.early_stop}")

    def forward(self, llr: torch.Tensor | np.ndarray, num_iter: int | None = None,
                return_syndrome_ok: bool | None = None) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Decode ``llr`` ``[..., n]`` channel logits; see the class docstring for the outputs."""
        lay = self._lay
        if num_iter is None:
            num_iter = self.num_iter
        elif isinstance(num_iter, bool) or not isinstance(num_iter, (int, np.integer)) or num_iter < 1:
            raise InputError(f"num_iter must be a positive int, got {num_iter!r}")
        want_ok = self.return_syndrome_ok if return_syndrome_ok is None else bool(return_syndrome_ok)
        device = llr.device if isinstance(llr, torch.Tensor) else torch.device("cpu")
        x = _as_float32_2d(llr, lay["n"])
        bits, ok = self.decode_trusted(x, num_iter)
        lead = tuple(llr.shape[:-1])
        self.last_iterations = self.last_iterations.reshape(lead)
        bits = bits.reshape(lead + (bits.shape[-1],)).to(device)
        if want_ok:
            return bits, ok.reshape(lead).to(device)
        return bits

    def decode_trusted(self, x: np.ndarray, num_iter: int | None = None,
                       threads: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode LLRs that need no checking: C-contiguous finite float32 ``[B, n]``, e.g. the
        compiled chain's demapper output (the link calls this; :meth:`forward` checks, then calls it).
        ``threads``: the threads of this call (default: the decoder's ``num_threads``).

        Returns ``(bits [B, k or n] float32, syndrome_ok [B])``; sets ``last_iterations``.
        """
        lay = self._lay
        num_iter = self.num_iter if num_iter is None else num_iter
        B = x.shape[0]
        nout = self._out_pos.shape[0]
        out = np.empty((B, nout), dtype=np.float32)
        ok = np.zeros(B, dtype=np.bool_)
        iters = np.zeros(B, dtype=np.int32)
        if B:
            threads = threads or self.num_threads or _k.default_threads()
            # normalised min-sum: scale * min; offset min-sum: max(min - offset, 0)
            scale, off = (1.0, self.offset) if self.offset is not None else (self.scaling, 0.0)
            static = (lay["in_pos"], lay["k"], lay["k_ldpc"], lay["n_vn"], self._out_pos, self.hard_out,
                      lay["row_ptr"], lay["ecol"], lay["eshift"], lay["check_mask"], lay["z"], lay["dmax"],
                      int(num_iter), np.float32(scale), np.float32(off), self.early_stop, _LMAX,
                      _LMAX if self.llr_max is None else np.float32(self.llr_max),
                      np.float32(0.0 if self.llr_clip is None else self.llr_clip))
            if self.precision == "float":
                _k.run_chunked(_k.decode_batch, B, threads,
                               lambda b0, b1: (x[b0:b1], *static, out[b0:b1], ok[b0:b1], iters[b0:b1]))
            else:
                self._decode_fixed(x, int(num_iter), out, ok, iters, threads)
        self.last_iterations = torch.from_numpy(iters)
        return torch.from_numpy(out), torch.from_numpy(ok)


def _fixed_args(dec: FastLDPC5GDecoder, num_iter: int) -> tuple:
    """The static arguments of ``_ldpc_fixed.decode_batch_fixed`` for ``dec`` (between ``L`` and ``out``)."""
    lay = dec._lay
    dtype, qmax, rmax, qc = _FIXED[dec.precision]
    if dec.offset is not None:
        num, offset = 0, dec.offset
    else:
        num, offset = max(1, round(dec.scaling * (1 << _fx.SCALE_SHIFT))), 0.0
    cmax = 0.0 if dec.llr_max is None else dec.llr_max  # 0: no absolute bound
    crel = 0.0 if dec.llr_clip is None else dec.llr_clip
    return (np.zeros(0, dtype=dtype), lay["in_pos"], lay["k"], lay["k_ldpc"], lay["n_vn"], dec._out_pos, dec.hard_out,
            lay["row_ptr"], lay["ecol"], lay["eshift"], lay["check_mask"], lay["z"], lay["dmax"], num_iter,
            (np.int16 if dtype == np.int8 else np.int32)(num), float(offset), dec.early_stop, np.int32(qmax), np.int32(rmax), float(qc), float(cmax), float(crel))


def _as_float32_2d(llr: Any, n: int) -> np.ndarray:
    """Check ``llr`` (``[..., n]``, real, finite) and return it as C-contiguous float32 ``[B, n]``."""
    if isinstance(llr, torch.Tensor):
        if llr.is_complex() or not (llr.is_floating_point() or llr.dtype in (torch.int8, torch.int16, torch.int32, torch.int64)):
            raise InputError(f"llr must be a real float tensor, got {llr.dtype}")
        arr = llr.detach().to("cpu", torch.float32).numpy()
    elif isinstance(llr, np.ndarray):
        if not (np.issubdtype(llr.dtype, np.floating) or np.issubdtype(llr.dtype, np.integer)):
            raise InputError(f"llr must be a real float array, got {llr.dtype}")
        arr = llr.astype(np.float32, copy=False)
    else:
        raise InputError(f"llr must be a torch.Tensor or numpy.ndarray, got {type(llr).__name__}")
    if arr.ndim < 1 or arr.shape[-1] != n:
        raise InputError(f"llr must be shaped [..., n={n}], got {tuple(arr.shape)}")
    arr = np.ascontiguousarray(arr.reshape(-1, n))
    # a finite sum has no NaN or Inf terms (they propagate): one vectorised reduction in the common
    # case; an overflowing sum of large finite LLRs falls back to the element test
    with np.errstate(over="ignore", invalid="ignore"):
        total = arr.sum(dtype=np.float32)
    if not np.isfinite(total) and not np.isfinite(arr).all():
        raise InputError("llr contains NaN or Inf")
    return arr
