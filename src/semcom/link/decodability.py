"""Which 5G NR code-block layouts belief-propagation LDPC decoding cannot decode at any SNR.

A few short, high-rate code blocks of the link (e.g. 64QAM at R = 822/1024 with a TB of 80 bits:
``K' = 96``, ``E = 102``, base graph 2) never decode, even at 60 dB, with semcom's decoder or
Sionna's, although their code is decodable by maximum likelihood (the map from the TB bits to the
``E`` transmitted bits has full rank). The reason is a stopping set of the Tanner graph: the
``2Z`` systematic bits 38.212 punctures, together with the parity bits rate matching does not
send, cannot be resolved by message passing. At infinite SNR every transmitted bit is known and
min-sum or sum-product decoding reduces to erasure peeling (a check with one unknown neighbour
determines it; with two or more it sends nothing), which this module runs exactly.

**The code.** The parity-check matrix is 38.212's base graph 1 or 2 lifted by ``Z`` (Sec. 5.3.2;
``K_b`` and ``Z`` from ``K'`` as in Sec. 5.2.2, :func:`lifting`), built here in numpy from the
standard's base-graph table that Sionna ships (without importing Sionna); it equals the ``pcm`` of
Sionna's ``LDPC5GEncoder``, which the link's encoder and decoders use (tested). The ``K - K'``
filler bits are known zeros. Rate matching (Sec. 5.4.2.1, redundancy version 0, ``k0 = 0``) sends the first ``E``
non-filler bits of the circular buffer that starts after the ``2Z`` punctured systematic bits
(:func:`buffer_to_codeword`, the map the compiled chain uses).

**Limited buffer.** The link uses the full circular buffer (``N_cb = N``, no limited-buffer rate
matching) and refuses ``E`` beyond it (no repetition). With redundancy version 0 the first ``E``
buffer bits do not depend on ``N_cb`` as long as ``E`` fits in it, so ``N_cb`` changes nothing for the
link's layouts; ``n_cb=`` models a limited buffer (38.212's ``I_LBRM = 1``), whose bits beyond
``N_cb`` are never sent.

**Exactness.** Peeling resolves every information bit (``K'`` columns, the punctured ones
included) exactly when iterative decoding of the noiseless word does; ``rounds`` counts the
flooding rounds it took (a layered decoder, such as the link's, needs at most as many
iterations). Tests compare the verdict with the bit-true link at 60 dB.

Example::

    >>> bp_decodable(96, 102, 2), bp_decodable(96, 108, 2)   # 64QAM R=822/1024 and 772/1024, TB of 80 bits
    (False, True)
    >>> peel(96, 102, 2).unresolved                        # of the 2Z = 32 punctured bits
    20
"""

from __future__ import annotations

import dataclasses
import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from semcom.errors import LinkError

__all__ = ["Peeling", "bp_decodable", "buffer_length", "buffer_to_codeword", "layout_decodable", "lifting", "peel"]


def buffer_length(k: int, z: int, k_ldpc: int, n_ldpc: int) -> int:
    """Length of the filler-free circular buffer of a 5G LDPC code block (``k`` = ``K'``
    information bits, lifting ``z``, ``k_ldpc`` = ``K`` systematic and ``n_ldpc`` codeword columns):
    the codeword without the ``2Z`` punctured systematic bits and the ``K - K'`` filler bits, i.e.
    what one pass of rate matching can send (38.212 Sec. 5.4.2.1, no limited buffer)."""
    return n_ldpc - 2 * z - (k_ldpc - k)


def buffer_to_codeword(j: np.ndarray, k: int, z: int, k_ldpc: int) -> np.ndarray:
    """Codeword bit of position ``j`` of the filler-free circular buffer of a 5G LDPC code block.

    ``k`` information bits (``K'``), lifting size ``z``, ``k_ldpc`` systematic columns (``K``): the
    buffer (38.212 Sec. 5.4.2.1, redundancy version 0, ``k0 = 0``) starts after the ``2Z`` punctured
    systematic bits and skips the ``K - K'`` filler bits, so position ``j`` is systematic bit
    ``2Z + j`` for ``j < K' - 2Z`` and parity bit ``K + j - (K' - 2Z)`` after.
    """
    nsys = k - 2 * z
    return np.where(j < nsys, 2 * z + j, k_ldpc + (j - nsys))


@dataclasses.dataclass(frozen=True)
class Peeling:
    """Outcome of erasure peeling on a code block whose transmitted bits are all known.

    Attributes:
        decodable: every information bit is resolved.
        unresolved: information bits (of ``K'``) left unknown: the stopping set's systematic part.
        rounds: flooding rounds until peeling stopped.
        z: the lifting size.
        base_graph: 1 or 2.
    """

    decodable: bool
    unresolved: int
    rounds: int
    z: int
    base_graph: int


def _check_int(name: str, v, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise LinkError(f"{name} must be an int >= {lo}, got {v!r}")
    return int(v)


#: 38.212 Table 5.3.2-1: the eight sets of lifting sizes ``a * 2^j <= 384`` (set index ``i_LS``).
_LIFTING_SETS = tuple(tuple(a * 2**j for j in range(9) if a * 2**j <= 384) for a in (2, 3, 5, 7, 9, 11, 13, 15))
#: Base graph shape (rows, columns) and the systematic columns ``K_b`` of base graph 1.
_BG_SHAPE = {1: (46, 68), 2: (42, 52)}


def lifting(cb_size: int, base_graph: int) -> tuple[int, int, int]:
    """``(Z, i_LS, K)`` of a code block of ``cb_size`` bits (38.212 Sec. 5.2.2): the smallest lifting
    size ``Z`` with ``K_b Z >= K'`` (``K_b`` = 22 for base graph 1; 10, 9, 8 or 6 for base graph 2
    as ``K'`` exceeds 640, 560, 192 or not), its set index, and ``K`` = 22 Z or 10 Z. 38.212 takes
    ``K_b`` from the TB's ``B``; a base-graph-2 TB of several code blocks has ``B > 3840`` and code
    blocks above 640 bits, so ``K'`` gives the same ``K_b``."""
    if isinstance(base_graph, bool) or base_graph not in (1, 2):
        raise LinkError(f"base_graph must be 1 or 2, got {base_graph!r}")
    if base_graph == 1:
        kb, k_max = 22, 8448
    else:
        kb = 10 if cb_size > 640 else 9 if cb_size > 560 else 8 if cb_size > 192 else 6
        k_max = 3840
    if not 1 <= cb_size <= k_max:
        raise LinkError(f"no 5G LDPC code of K'={cb_size} bits on base graph {base_graph} (at most {k_max})")
    z, i_ls = min((z, i) for i, zs in enumerate(_LIFTING_SETS) for z in zs if kb * z >= cb_size)
    return z, i_ls, (22 if base_graph == 1 else 10) * z


@lru_cache(maxsize=2)
def _base_graph(base_graph: int) -> np.ndarray:
    """``[entries, 10]`` int: (row, column, ``V`` for set index 0..7) of 38.212 Table 5.3.2-2 (base graph
    1) or 5.3.2-3 (base graph 2), read from the table file Sionna ships (the one its encoder reads)."""
    spec = importlib.util.find_spec("sionna")
    path = None
    if spec is not None and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "phy" / "fec" / "ldpc" / "codes" / f"5G_bg{base_graph}.csv"
    if path is None or not path.is_file():
        raise LinkError(f"the 5G LDPC base graph {base_graph} table (Sionna's 5G_bg{base_graph}.csv) is missing")
    rows, row = [], -1
    for line in path.read_text().splitlines()[2:]:
        f = line.split(";")
        if len(f) < 10 or not f[1].strip():
            continue
        row = int(f[0]) if f[0].strip() else row
        rows.append([row, int(f[1])] + [int(v) for v in f[2:10]])
    table = np.array(rows, dtype=np.int64)
    if table[:, 0].max() + 1 != _BG_SHAPE[base_graph][0] or table[:, 1].max() + 1 != _BG_SHAPE[base_graph][1]:
        raise LinkError(f"the base graph {base_graph} table has an unexpected shape")  # pragma: no cover
    return table


@lru_cache(maxsize=512)
def _graph(cb_size: int, base_graph: int) -> tuple[int, int, int, np.ndarray, np.ndarray]:
    """``(Z, K, N_ldpc, check, variable)``: the edges of the lifted parity-check matrix (38.212
    Sec. 5.3.2: block ``(r, c)`` of base-graph entry ``V`` is the ``Z x Z`` identity with columns shifted
    by ``V mod Z``; Sionna's ``LDPC5GEncoder(...).pcm`` is the same matrix, tested)."""
    z, i_ls, k_ldpc = lifting(cb_size, base_graph)
    t = _base_graph(base_graph)
    i = np.arange(z)
    chk = (t[:, 0, None] * z + i).reshape(-1)
    var = (t[:, 1, None] * z + (i + t[:, 2 + i_ls, None]) % z).reshape(-1)
    return z, k_ldpc, _BG_SHAPE[base_graph][1] * z, chk, var


def _unknown_bits(cb_size: int, cw_length: int, z: int, k_ldpc: int, n_ldpc: int, n_cb: int | None) -> np.ndarray:
    """``[N_ldpc]`` bool: the codeword bits the receiver does not get (punctured, not sent); fillers are known."""
    n = n_ldpc - 2 * z  # circular buffer, filler positions included
    ncb = n if n_cb is None else n_cb
    if not 1 <= ncb <= n:
        raise LinkError(f"n_cb must lie in [1, {n}] for K'={cb_size}, Z={z}, got {n_cb!r}")
    nsys = cb_size - 2 * z
    fillers_in = min(max(ncb - nsys, 0), k_ldpc - cb_size)
    sent = buffer_to_codeword(np.arange(min(cw_length, ncb - fillers_in)), cb_size, z, k_ldpc)
    unknown = np.ones(n_ldpc, dtype=bool)
    unknown[cb_size:k_ldpc] = False
    unknown[sent] = False
    return unknown


def _peel_rounds(unknown: np.ndarray, chk: np.ndarray, var: np.ndarray) -> int:
    """Erasure peeling in place on ``unknown``: every round, each check with exactly one unknown
    neighbour resolves it. Returns the rounds that resolved something."""
    rounds = 0
    m = int(chk.max()) + 1
    while True:
        edge_unknown = unknown[var]
        count = np.bincount(chk[edge_unknown], minlength=m)
        solve = edge_unknown & (count[chk] == 1)
        if not solve.any():
            return rounds
        unknown[var[solve]] = False
        rounds += 1


@lru_cache(maxsize=65536)
def peel(cb_size: int, cw_length: int, base_graph: int | None = None, n_cb: int | None = None) -> Peeling:
    """Erasure peeling of a code block of ``cb_size`` information bits (``K'``, CRC included) sent
    as ``cw_length`` rate-matched bits (``E``), every sent bit known (see the module docstring).

    Args:
        cb_size: ``K'``.
        cw_length: ``E`` (beyond the circular buffer every bit is sent once; repetition adds nothing).
        base_graph: 1 or 2; ``None``: the encoder's choice
            (:func:`~semcom.link.layout.code_block_base_graph`).
        n_cb: limited circular buffer ``N_cb`` (filler positions included); ``None``: the full
            buffer ``N`` (what the link does).

    Raises:
        LinkError: no 5G LDPC code of that size on that base graph, or bad arguments.
    """
    from semcom.link.layout import code_block_base_graph

    cb_size = _check_int("cb_size", cb_size, 1)
    cw_length = _check_int("cw_length", cw_length, 1)
    if base_graph is None:
        base_graph = code_block_base_graph(cb_size, cw_length)
    if isinstance(base_graph, bool) or base_graph not in (1, 2):
        raise LinkError(f"base_graph must be 1 or 2, got {base_graph!r}")
    if n_cb is not None:
        n_cb = _check_int("n_cb", n_cb, 1)
    z, k_ldpc, n_ldpc, chk, var = _graph(cb_size, int(base_graph))
    unknown = _unknown_bits(cb_size, cw_length, z, k_ldpc, n_ldpc, n_cb)
    rounds = _peel_rounds(unknown, chk, var)
    left = int(unknown[:cb_size].sum())
    return Peeling(left == 0, left, rounds, z, int(base_graph))


def bp_decodable(cb_size: int, cw_length: int, base_graph: int | None = None, n_cb: int | None = None) -> bool:
    """Whether belief propagation can decode the code block at all (``peel(...).decodable``): at
    infinite SNR it recovers every information bit of ``K' = cb_size`` bits rate-matched to
    ``E = cw_length`` bits on LDPC ``base_graph``.

    Example::

        >>> bp_decodable(56, 60, 2)      # 64QAM R=772/1024, TB of 40 bits
        False
    """
    return peel(cb_size, cw_length, base_graph, n_cb).decodable


def layout_decodable(layout) -> bool:
    """Whether every code block of a TB layout (:class:`~semcom.link.layout.TBLayout`) is BP-decodable."""
    return all(bp_decodable(int(layout.cb_size), int(e), int(layout.base_graph)) for e in set(layout.cw_lengths))
