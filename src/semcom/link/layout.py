"""Transport-block / code-block layout of a payload, computed without encoding (TS 38.214, 38.212).

A payload of ``k`` bits is cut into transport blocks (TBs) of at most ``max_tb_bits`` payload bits
(the last TB may be smaller). Each TB is given the smallest number of resource elements
``N_RE`` (= complex channel uses, one layer) whose 38.214 transport block size
``TBS(N_RE)`` (Sec. 5.1.3.2, ``N_info = N_RE * R * Qm``) holds its payload bits; the
``TBS - k_tb`` extra bits are zero padding known to both ends. The TB then follows TS 38.212:

* TB CRC: CRC24A, or CRC16 when ``TBS <= 3824`` (Sec. 7.2.1);
* LDPC base graph 2 when ``TBS <= 292``, or ``TBS <= 3824`` and ``R <= 0.67``, or ``R <= 0.25``,
  else base graph 1 (Sec. 7.2.2);
* code-block segmentation (Sec. 5.2.2): ``C = ceil(B / (K_cb - 24))`` code blocks (``K_cb`` = 8448
  for BG1, 3840 for BG2) each with a CRC24B when ``C > 1``; the TB bits plus TB CRC are split
  evenly (the TBS formula makes ``TBS + L_TB`` divisible by ``C``);
* rate matching (Sec. 5.4.2.1): ``G = N_RE * Qm`` coded bits, code block ``r`` gets
  ``E_r = Qm * floor(G / (Qm C))`` for the first ``C - mod(G / Qm, C)`` blocks and
  ``Qm * ceil(G / (Qm C))`` for the others. Code block ``r`` therefore occupies the contiguous
  symbols ``[sum(E_<r) / Qm, sum(E_<=r) / Qm)`` of its TB (after the per-block bit interleaver).

``N_RE`` is increased further when needed so that every code block's LDPC rate stays <= 0.95
(tiny payloads at high rates). Where 38.212 puts a TB on base graph 1 below its mother rate 1/3
(38.214 table 1 MCS 4 and table 2 MCS 2, R = 308/1024, with TBs above 3824 bits; the standard
then repeats bits), the TB size is by default capped at 3752 bits so that its single code block
stays on base graph 2 (a choice made when no encoder of the link repeated bits, kept so that
layouts and committed results stay as they were). ``bg1_repetition=True`` lays such TBs out as
38.212 does: base graph 1 with bit repetition (the compiled chain sends them, the fast decoder
decodes them).
Rates at or below 0.25 are always on base graph 2; below its mother rate 1/5 (38.214 table 1 MCS
0-2, table 2 MCS 0-1) the code blocks repeat bits (38.212 Sec. 5.4.2.1; :mod:`semcom.link.chain_fast`). The LDPC base graph itself is chosen by Sionna's encoder from the
code-block size and rate; this matches 38.212 except at a few boundary sizes. The default ``max_tb_bits`` is the TBS of one slot of a reference
carrier: 106 PRBs (20 MHz at 15 kHz subcarrier spacing), 14 OFDM symbols minus 12 DMRS resource
elements per PRB = 156 REs per PRB, i.e. ``N_RE = 16536``, one layer.

Example::

    >>> from semcom.link.mcs import MCS
    >>> from semcom.link.layout import plan_payload
    >>> p = plan_payload(20000, MCS.from_rate(2, 0.5), max_tb_bits=8000)
    >>> p.num_tb, p.num_cb, p.cb_ranges[0]
    (3, 3, (0, 8000))
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache
from typing import Any

from semcom.errors import InputError, LinkError
from semcom.link.mcs import MCS

__all__ = [
    "TBLayout",
    "LinkPlan",
    "tbs_from_nre",
    "tb_layout",
    "code_block_base_graph",
    "repeats_on_bg1",
    "bg1_below_mother_rate",
    "check_bg1_repetition",
    "plan_payload",
    "max_payload_for_channel_uses",
    "SLOT_NUM_RE",
    "default_max_tb_bits",
]

#: 38.214 Table 5.1.3.2-1: TBS for N_info <= 3824.
_TBS_TABLE = (
    24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128, 136, 144, 152, 160, 168, 176,
    184, 192, 208, 224, 240, 256, 272, 288, 304, 320, 336, 352, 368, 384, 408, 432, 456, 480,
    504, 528, 552, 576, 608, 640, 672, 704, 736, 768, 808, 848, 888, 928, 984, 1032, 1064,
    1128, 1160, 1192, 1224, 1256, 1288, 1320, 1352, 1416, 1480, 1544, 1608, 1672, 1736, 1800,
    1864, 1928, 2024, 2088, 2152, 2216, 2280, 2408, 2472, 2536, 2600, 2664, 2728, 2792, 2856,
    2976, 3104, 3240, 3368, 3496, 3624, 3752, 3824,
)

#: Resource elements of the reference slot used for the default TB size (106 PRB x 156 RE).
SLOT_NUM_RE = 106 * 156
#: Highest LDPC code-block rate accepted by the 5G LDPC encoder.
_MAX_CB_RATE = 0.95
_MAX_NRE = 10_000_000
#: Largest TBS whose single code block (TBS + CRC16 <= 3824) is always on LDPC base graph 2.
_BG2_SAFE_TB = 3752


def tbs_from_nre(num_re: int, mcs: MCS) -> int:
    """38.214 Sec. 5.1.3.2 transport block size for ``num_re`` resource elements, one layer.

    Example::

        >>> tbs_from_nre(1000, MCS.from_rate(2, 0.5))  # N_info = 1000 -> next table entry
        1032
    """
    n_info = num_re * mcs.code_rate * mcs.modulation_order
    if n_info <= 3824:
        n = max(3, int(math.floor(math.log2(max(n_info, 1.0)))) - 6)
        n_q = max(24, (2**n) * math.floor(n_info / 2**n))
        for t in _TBS_TABLE:
            if t >= n_q:
                return t
        return _TBS_TABLE[-1]  # pragma: no cover - n_q <= 3824 always finds an entry
    n = int(math.floor(math.log2(n_info - 24))) - 5
    n_q = max(3840, (2**n) * math.floor((n_info - 24) / 2**n + 0.5))
    if mcs.code_rate <= 0.25:
        c = math.ceil((n_q + 24) / 3816)
    elif n_q > 8424:
        c = math.ceil((n_q + 24) / 8424)
    else:
        c = 1
    return 8 * c * math.ceil((n_q + 24) / (8 * c)) - 24


@dataclasses.dataclass(frozen=True)
class TBLayout:
    """Layout of one transport block (all sizes in bits unless said otherwise).

    Attributes:
        tbs: transport block size (information bits incl. zero padding, excl. CRC).
        num_re: resource elements = complex channel uses of this TB (one layer).
        num_coded_bits: ``G = num_re * Qm``.
        tb_crc_length: 16 or 24.
        num_cb: number of code blocks ``C``.
        cb_size: LDPC information length ``K'`` per code block (CB CRC included).
        cb_crc_length: 24 when ``C > 1`` else 0.
        cw_lengths: rate-matched length ``E_r`` of each code block.
        base_graph: 1 or 2.
    """

    tbs: int
    num_re: int
    num_coded_bits: int
    tb_crc_length: int
    num_cb: int
    cb_size: int
    cb_crc_length: int
    cw_lengths: tuple[int, ...]
    base_graph: int

    @property
    def cb_data_bits(self) -> int:
        """Bits of the TB stream (TB bits + TB CRC) carried by each code block."""
        return self.cb_size - self.cb_crc_length

    @property
    def cb_symbol_counts(self) -> tuple[int, ...]:
        """Complex symbols per code block (``E_r / Qm``), in transmission order."""
        qm = self.num_coded_bits // self.num_re
        return tuple(e // qm for e in self.cw_lengths)


@lru_cache(maxsize=4096)
def _layout_for_nre(num_re: int, mcs: MCS) -> TBLayout:
    qm, r = mcs.modulation_order, mcs.code_rate
    tbs = tbs_from_nre(num_re, mcs)
    l_tb = 24 if tbs > 3824 else 16
    if tbs <= 292 or (tbs <= 3824 and r <= 0.67) or r <= 0.25:
        k_cb = 3840  # base graph 2
    else:
        k_cb = 8448  # base graph 1
    b = tbs + l_tb
    if b <= k_cb:
        c, l_cb = 1, 0
    else:
        c, l_cb = math.ceil(b / (k_cb - 24)), 24
    if b % c:
        raise LinkError(f"internal: TBS {tbs} + CRC does not split into {c} equal code blocks")  # pragma: no cover
    cb_size = b // c + l_cb
    g = num_re * qm
    n_sym = g // qm
    n_last = n_sym % c
    e_lo = qm * (n_sym // c)
    e_hi = qm * (-(-n_sym // c))
    cw = tuple([e_lo] * (c - n_last) + [e_hi] * n_last)
    return TBLayout(tbs, num_re, g, l_tb, c, cb_size, l_cb, cw, code_block_base_graph(cb_size, max(cw)))


def code_block_base_graph(cb_size: int, cw_length: int) -> int:
    """The LDPC base graph (1 or 2) the encoder picks for a code block of ``cb_size`` bits (``K'``)
    rate-matched to ``cw_length`` bits (the longest ``E`` of its TB): base graph 2 when ``K' <= 292``,
    or ``K' <= 3824`` and ``K'/E <= 0.67``, or ``K'/E <= 0.25``. This agrees with 38.212's TB-based
    rule except at a few boundary sizes.
    """
    r_cb = cb_size / cw_length if cw_length > 0 else math.inf
    return 2 if (cb_size <= 292 or (cb_size <= 3824 and r_cb <= 0.67) or r_cb <= 0.25) else 1


def _valid(layout: TBLayout) -> bool:
    """Rate within what the encoder accepts (<= 0.95) on the shortest rate-matched block."""
    return min(layout.cw_lengths) > 0 and layout.cb_size / min(layout.cw_lengths) <= _MAX_CB_RATE


def bg1_below_mother_rate(base_graph: int, code_rate: float) -> bool:
    """Whether code blocks of ``base_graph`` at ``code_rate`` (``K'/E``) are on base graph 1 below its
    mother rate 1/3, where 38.212 repeats bits."""
    return base_graph == 1 and code_rate < 1 / 3


def repeats_on_bg1(layout: TBLayout) -> bool:
    """Whether a TB layout is on base graph 1 below its mother rate 1/3 (38.212 then repeats bits):
    what the default layout caps (module docstring). Base graph 2 below 1/5 repeats bits as well (the
    lowest MCSs); that is always laid out as the standard does."""
    return bg1_below_mother_rate(layout.base_graph, layout.cb_size / max(layout.cw_lengths))


def check_bg1_repetition(bg1_repetition: Any) -> bool:
    """``bg1_repetition`` itself when it is a bool (the layout option above); else a :class:`LinkError`."""
    if not isinstance(bg1_repetition, bool):
        raise LinkError(f"bg1_repetition must be True or False, got {bg1_repetition!r}")
    return bg1_repetition


def _capped(max_tb_bits: int, sizes, mcs: MCS, bg1_repetition: bool) -> bool:
    """Whether the default layout caps TBs of these payload sizes at :data:`_BG2_SAFE_TB` bits."""
    return (not bg1_repetition and max_tb_bits > _BG2_SAFE_TB
            and any(repeats_on_bg1(tb_layout(kt, mcs)) for kt in set(sizes)))


@lru_cache(maxsize=4096)
def tb_layout(k_tb: int, mcs: MCS) -> TBLayout:
    """Layout of a TB carrying ``k_tb`` payload bits: the smallest ``N_RE`` with ``TBS >= k_tb``.

    ``N_RE`` is then raised, if needed, until every code block's LDPC rate is <= 0.95.
    """
    if k_tb < 1:
        raise LinkError(f"a transport block needs at least one payload bit, got {k_tb}")
    per_re = mcs.code_rate * mcs.modulation_order
    lo = 1
    hi = max(2, int(math.ceil((k_tb + 2048) / per_re)) + 1)
    while tbs_from_nre(hi, mcs) < k_tb:  # safety: widen
        hi *= 2
        if hi > _MAX_NRE:
            raise LinkError(f"transport block of {k_tb} bits is too large")
    while lo < hi:  # smallest N_RE with TBS(N_RE) >= k_tb (TBS is non-decreasing in N_RE)
        mid = (lo + hi) // 2
        if tbs_from_nre(mid, mcs) >= k_tb:
            hi = mid
        else:
            lo = mid + 1
    nre = lo
    layout = _layout_for_nre(nre, mcs)
    while not _valid(layout):
        nre += 1
        layout = _layout_for_nre(nre, mcs)
    return layout


def default_max_tb_bits(mcs: MCS) -> int:
    """Default TB payload size: the TBS of one reference slot (:data:`SLOT_NUM_RE` resource elements)."""
    return tbs_from_nre(SLOT_NUM_RE, mcs)


@dataclasses.dataclass(frozen=True)
class LinkPlan:
    """How a ``k``-bit payload is laid out on the link (computed without encoding).

    Attributes:
        k: payload bits.
        mcs: the MCS.
        max_tb_bits: the TB payload limit used.
        tb_payload: payload bits carried by each TB.
        tbs: the TB layouts (one per TB, in payload order).
        cb_ranges: ``(start, stop)`` payload-bit range carried by each code block (all TBs, in
            order); a range may be empty when a code block carries only padding and CRC.
        cb_tb: index of the TB each code block belongs to.
        channel_uses: complex symbols spent per payload item (sum of ``N_RE`` over TBs).
        num_coded_bits: coded bits per payload item (sum of ``G`` over TBs).
    """

    k: int
    mcs: MCS
    max_tb_bits: int
    tb_payload: tuple[int, ...]
    tbs: tuple[TBLayout, ...]
    cb_ranges: tuple[tuple[int, int], ...]
    cb_tb: tuple[int, ...]
    channel_uses: int
    num_coded_bits: int

    @property
    def num_tb(self) -> int:
        return len(self.tbs)

    @property
    def num_cb(self) -> int:
        return len(self.cb_ranges)

    @property
    def tb_starts(self) -> tuple[int, ...]:
        """Payload offset of each TB."""
        out, s = [], 0
        for kt in self.tb_payload:
            out.append(s)
            s += kt
        return tuple(out)

    @property
    def cb_sizes(self) -> tuple[int, ...]:
        """LDPC information length (CRC included) of each code block, the size BLER tables use."""
        return tuple(self.tbs[t].cb_size for t in self.cb_tb)

    @property
    def rate(self) -> float:
        """Payload bits per channel use, ``k / channel_uses``."""
        return self.k / self.channel_uses


def _split(k: int, max_tb_bits: int) -> tuple[int, ...]:
    full, rest = divmod(k, max_tb_bits)
    return tuple([max_tb_bits] * full + ([rest] if rest else []))


@lru_cache(maxsize=1024, typed=True)  # typed: a non-bool flag equal to True is checked, not cached
def plan_payload(k: int, mcs: MCS, max_tb_bits: int | None = None, bg1_repetition: bool = False) -> LinkPlan:
    """Plan a ``k``-bit payload: TBs of ``max_tb_bits`` (default :func:`default_max_tb_bits`).

    ``bg1_repetition``: lay out TBs that 38.212 puts on base graph 1 below rate 1/3 as the standard
    does (bit repetition) instead of capping them at 3752 bits (the default; module docstring).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"payload size k must be a positive int, got {k!r}")
    if max_tb_bits is None:
        max_tb_bits = default_max_tb_bits(mcs)
    if isinstance(max_tb_bits, bool) or not isinstance(max_tb_bits, int) or max_tb_bits < 1:
        raise LinkError(f"max_tb_bits must be a positive int, got {max_tb_bits!r}")
    payload = _split(k, max_tb_bits)
    if _capped(max_tb_bits, payload, mcs, check_bg1_repetition(bg1_repetition)):
        # 38.212 would use base graph 1 below rate 1/3 (with repetition): cap the TB so that its
        # single code block stays on base graph 2.
        max_tb_bits = _BG2_SAFE_TB
        payload = _split(k, max_tb_bits)
    tbs, ranges, cb_tb = [], [], []
    start = 0
    for t, kt in enumerate(payload):
        lay = tb_layout(kt, mcs)
        tbs.append(lay)
        d = lay.cb_data_bits
        for c in range(lay.num_cb):
            a, b = min(c * d, kt), min((c + 1) * d, kt)
            ranges.append((start + a, start + b))
            cb_tb.append(t)
        start += kt
    return LinkPlan(
        k=k,
        mcs=mcs,
        max_tb_bits=max_tb_bits,
        tb_payload=payload,
        tbs=tuple(tbs),
        cb_ranges=tuple(ranges),
        cb_tb=tuple(cb_tb),
        channel_uses=sum(t.num_re for t in tbs),
        num_coded_bits=sum(t.num_coded_bits for t in tbs),
    )


def _effective_max_tb(k: int, mcs: MCS, max_tb_bits: int | None, bg1_repetition: bool) -> int:
    if max_tb_bits is None:
        max_tb_bits = default_max_tb_bits(mcs)
    full, rest = divmod(k, max_tb_bits)
    sizes = ([max_tb_bits] if full else []) + ([rest] if rest else [])
    return _BG2_SAFE_TB if _capped(max_tb_bits, sizes, mcs, bg1_repetition) else max_tb_bits


def channel_uses_of(k: int, mcs: MCS, max_tb_bits: int | None = None, bg1_repetition: bool = False) -> int:
    """``plan_payload(k, mcs, max_tb_bits, bg1_repetition).channel_uses`` in O(1), without building the plan."""
    m = _effective_max_tb(k, mcs, max_tb_bits, check_bg1_repetition(bg1_repetition))
    full, rest = divmod(k, m)
    uses = full * tb_layout(m, mcs).num_re if full else 0
    return uses + (tb_layout(rest, mcs).num_re if rest else 0)


def max_payload_for_channel_uses(channel_uses: int, mcs: MCS, max_tb_bits: int | None = None,
                                 bg1_repetition: bool = False) -> int:
    """Largest ``k`` whose plan (:func:`plan_payload` with the same arguments) spends at most
    ``channel_uses`` symbols (0 when nothing fits).

    Uses a bisection on ``k`` around the estimate ``channel_uses * Qm * R`` plus a local scan, as
    the channel uses are not strictly monotone in ``k`` (TBS quantisation).
    """
    if isinstance(channel_uses, bool) or not isinstance(channel_uses, (int,)) or channel_uses < 0:
        raise InputError(f"channel_uses must be a non-negative int, got {channel_uses!r}")
    check_bg1_repetition(bg1_repetition)
    if channel_uses == 0:
        return 0

    def fits(k: int) -> bool:
        return channel_uses_of(k, mcs, max_tb_bits, bg1_repetition) <= channel_uses

    if not fits(1):
        return 0
    lo, hi = 1, max(2, int(channel_uses * mcs.spectral_efficiency) + 1)
    while fits(hi):  # cannot exceed R*Qm*n by much, but be safe
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    # Local scan upwards: padding/TB splitting can make channel uses dip just above lo.
    best = lo
    for k in range(lo + 1, lo + 65):
        if fits(k):
            best = k
    return best
