"""Semantic frames, symbols, code-block grants and the six roles of the prt framework.

Griessel et al., "Importance-Driven Semantic Resilience for Challenging Future 6G Channels"
(``prt``), Sec. III and IV. A semantic *frame* holds N *symbols*; symbol i carries a payload of
n_i bits and an importance rho_i (normalised so that the rhos of a frame sum to 1). The base
station grants K *code blocks* per frame, block j carrying C_j payload bits and its own CRC,
so each block is decoded (or lost) on its own.

The chain (Fig. 1 of the paper)::

    source I --E--> symbols S --P--> (rho_i, s_i) --C--> code blocks --link--> blocks + CRC flags
      --C^-1--> received symbols + missing indices --R (history H)--> full frame --Syn--> output

The application plugs in E, P, R and Syn (:class:`SemanticExtractor`, :class:`ImportanceFunction`,
:class:`ErrorConcealer`, :class:`Synthesizer`); the network side, C and C^-1, is the same for
every application: :class:`semcom.semantics.allocation.AllocatingEncoder` (allocation + packing,
:func:`pack_code_blocks`) and :class:`CodeBlockDecoder` (:func:`unpack_code_blocks`, which keeps
every code block whose CRC passed).

Conventions: bits are float tensors of 0/1 shaped ``[..., k]``; a symbol's payload is ``[n_i]``;
a code block's payload is ``[C_j]``; an allocation is the paper's decision matrix ``d`` shaped
``[N, K]`` (``d[i, j] = 1`` when symbol i is carried by code block j).

Example:
    >>> import torch
    >>> frame = SemanticFrame.from_payloads([torch.ones(4), torch.zeros(4)], importance=[3.0, 1.0])
    >>> frame.importance.tolist()
    [0.75, 0.25]
    >>> grant = CodeBlockGrant((8, 8))
    >>> blocks = pack_code_blocks(frame, [[1, 1], [1, 0]], grant)
    >>> received = unpack_code_blocks(blocks, [False, True], [[1, 1], [1, 0]], frame.sizes, grant)
    >>> sorted(received.payloads), received.missing
    ([0], (1,))
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from semcom.errors import InputError
from semcom.utils import check_finite

__all__ = [
    "normalise_importance",
    "SemanticSymbol",
    "SemanticFrame",
    "CodeBlockGrant",
    "EncodedFrame",
    "ReceivedFrame",
    "pack_code_blocks",
    "unpack_code_blocks",
    "SemanticExtractor",
    "ImportanceFunction",
    "SemanticChannelEncoder",
    "SemanticChannelDecoder",
    "ErrorConcealer",
    "Synthesizer",
    "CodeBlockDecoder",
    "SemanticPipeline",
]


# --------------------------------------------------------------------------------------------
# Importance
# --------------------------------------------------------------------------------------------


def normalise_importance(importance: Any, n: int | None = None) -> torch.Tensor:
    """Importance weights rho_i of one frame, normalised to sum to 1 (prt Sec. III, W-bar).

    Args:
        importance: ``[N]`` non-negative, finite weights (sequence, numpy array or tensor).
        n: expected number of symbols N (checked when given).

    Returns:
        float64 tensor ``[N]`` with ``sum == 1``.

    Raises:
        InputError: not 1-D, wrong length, NaN/Inf, a negative weight, or all weights zero.

    Example:
        >>> normalise_importance([2, 1, 1]).tolist()
        [0.5, 0.25, 0.25]
    """
    try:
        rho = torch.as_tensor(np.asarray(importance, dtype=np.float64) if not isinstance(importance, torch.Tensor)
                              else importance.detach().to(torch.float64))
    except (TypeError, ValueError) as exc:
        raise InputError(f"importance must be numeric, got {importance!r}: {exc}") from None
    if rho.dim() != 1:
        raise InputError(f"importance must be 1-D [N], got shape {tuple(rho.shape)}")
    if n is not None and rho.numel() != n:
        raise InputError(f"importance has {rho.numel()} entries for {n} symbols")
    if rho.numel() == 0:
        raise InputError("a frame needs at least one symbol")
    check_finite(rho, "importance")
    if bool((rho < 0).any()):
        raise InputError(f"importance must be non-negative, got {rho.tolist()}")
    total = float(rho.sum())
    if total <= 0:
        raise InputError("importance weights are all zero: they cannot be normalised per frame")
    return rho / total


def _check_bits(bits: Any, name: str) -> torch.Tensor:
    if not isinstance(bits, torch.Tensor):
        try:
            bits = torch.as_tensor(np.asarray(bits, dtype=np.float32))
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name} must be a bit tensor, got {type(bits).__name__}: {exc}") from None
    if bits.dim() != 1:
        raise InputError(f"{name} must be 1-D [n], got shape {tuple(bits.shape)}")
    if bits.is_complex():
        raise InputError(f"{name} must hold real 0/1 values")
    bits = bits.to(torch.float32)
    check_finite(bits, name)
    if bits.numel() and not bool(((bits == 0) | (bits == 1)).all()):
        raise InputError(f"{name} must hold only 0/1 values")
    return bits


# --------------------------------------------------------------------------------------------
# Frames and symbols
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SemanticSymbol:
    """One semantic symbol s_i: a discrete unit of meaning serialised into ``n_i`` bits.

    Attributes:
        index: position i of the symbol in its frame (0-based).
        bits: payload, float tensor ``[n_i]`` of 0/1.
        importance: rho_i, normalised within the frame.
    """

    index: int
    bits: torch.Tensor
    importance: float

    @property
    def size(self) -> int:
        """n_i, the payload length in bits."""
        return int(self.bits.numel())


@dataclasses.dataclass(frozen=True)
class SemanticFrame:
    """A semantic frame: N symbols with payloads ``[n_i]`` and normalised importance ``[N]``.

    Build it with :meth:`from_payloads`, which checks the bits and normalises the importance.

    Attributes:
        payloads: tuple of N float tensors ``[n_i]`` of 0/1.
        importance: float64 tensor ``[N]`` summing to 1.
        index: frame counter t (used by concealers that keep a history).

    Example:
        >>> import torch
        >>> f = SemanticFrame.from_payloads([torch.ones(3)] * 2)
        >>> f.n_symbols, f.sizes, f.importance.tolist()
        (2, (3, 3), [0.5, 0.5])
    """

    payloads: tuple[torch.Tensor, ...]
    importance: torch.Tensor
    index: int = 0

    @classmethod
    def from_payloads(cls, payloads: Sequence[Any], importance: Any = None, index: int = 0) -> "SemanticFrame":
        """A frame from per-symbol payload bits; ``importance=None`` means equal weights."""
        if isinstance(payloads, torch.Tensor) and payloads.dim() == 2:
            payloads = list(payloads)
        if not isinstance(payloads, (list, tuple)) or len(payloads) == 0:
            raise InputError("a frame needs a non-empty list of symbol payloads")
        bits = tuple(_check_bits(p, f"payload of symbol {i}") for i, p in enumerate(payloads))
        for i, b in enumerate(bits):
            if b.numel() == 0:
                raise InputError(f"symbol {i} has an empty payload")
        rho = normalise_importance(np.ones(len(bits)) if importance is None else importance, len(bits))
        return cls(payloads=bits, importance=rho, index=int(index))

    @property
    def n_symbols(self) -> int:
        """N, the number of symbols."""
        return len(self.payloads)

    @property
    def sizes(self) -> tuple[int, ...]:
        """(n_1, ..., n_N): payload lengths in bits."""
        return tuple(int(p.numel()) for p in self.payloads)

    @property
    def symbols(self) -> tuple[SemanticSymbol, ...]:
        """The frame as :class:`SemanticSymbol` objects."""
        return tuple(SemanticSymbol(i, p, float(self.importance[i])) for i, p in enumerate(self.payloads))

    def with_importance(self, importance: Any) -> "SemanticFrame":
        """The same payloads with new importance weights (normalised)."""
        return SemanticFrame(self.payloads, normalise_importance(importance, self.n_symbols), self.index)


@dataclasses.dataclass(frozen=True)
class CodeBlockGrant:
    """The base station's grant for one frame: K code blocks, block j carrying ``C_j`` bits.

    ``C_j >= 0`` (a block of a link layout may carry only padding) and at least one ``C_j > 0``.
    Capacities count the payload bits available to symbols (the CRC of each block is appended
    by the link and not counted here). Each block is decoded independently (prt Sec. IV).

    Example:
        >>> g = CodeBlockGrant.uniform(3, 40)
        >>> g.n_blocks, g.capacities, g.total_bits, g.ranges
        (3, (40, 40, 40), 120, ((0, 40), (40, 80), (80, 120)))
    """

    capacities: tuple[int, ...]

    def __post_init__(self) -> None:
        caps = self.capacities
        if isinstance(caps, (int, np.integer)):
            raise InputError("capacities must be a sequence of block sizes, e.g. (384, 384)")
        try:
            caps = tuple(caps)
        except TypeError:
            raise InputError(f"capacities must be a sequence, got {type(self.capacities).__name__}") from None
        if len(caps) == 0:
            raise InputError("a grant needs at least one code block")
        clean = []
        for c in caps:
            if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, np.integer)):
                if isinstance(c, (float, np.floating)) and np.isfinite(c) and float(c).is_integer():
                    c = int(c)
                else:
                    raise InputError(f"code-block capacities must be positive integers, got {caps}")
            if c < 0:
                raise InputError(f"code-block capacities must be non-negative integers, got {caps}")
            clean.append(int(c))
        if max(clean) == 0:
            raise InputError(f"a grant needs at least one code block with room, got {caps}")
        object.__setattr__(self, "capacities", tuple(clean))

    @classmethod
    def uniform(cls, n_blocks: int, capacity: int) -> "CodeBlockGrant":
        """K equal code blocks of ``capacity`` bits."""
        if not isinstance(n_blocks, (int, np.integer)) or n_blocks <= 0:
            raise InputError(f"n_blocks must be a positive integer, got {n_blocks!r}")
        return cls((capacity,) * int(n_blocks))

    @classmethod
    def from_ranges(cls, ranges: Sequence[tuple[int, int]]) -> "CodeBlockGrant":
        """The grant matching a link's code-block layout: ``ranges[j] = (start, stop)`` in the payload.

        The ranges must tile ``[0, k)`` in order (as a link's ``cb_ranges`` do); a block carrying
        only padding has an empty range and capacity 0.

        Example:
            >>> CodeBlockGrant.from_ranges([(0, 3816), (3816, 7632)]).capacities
            (3816, 3816)
        """
        try:
            pairs = [(int(a), int(b)) for a, b in ranges]
        except (TypeError, ValueError):
            raise InputError(f"ranges must be (start, stop) pairs, got {ranges!r}") from None
        start = 0
        for a, b in pairs:
            if a != start or b < a:
                raise InputError(f"code-block ranges must tile the payload from 0 in order, got {pairs}")
            start = b
        return cls(tuple(b - a for a, b in pairs))

    @property
    def n_blocks(self) -> int:
        """K."""
        return len(self.capacities)

    @property
    def total_bits(self) -> int:
        """sum_j C_j: the transport-block payload when the blocks are concatenated."""
        return int(sum(self.capacities))

    @property
    def ranges(self) -> tuple[tuple[int, int], ...]:
        """``(start, stop)`` of every block in the concatenated payload ``[sum_j C_j]``."""
        out, start = [], 0
        for c in self.capacities:
            out.append((start, start + c))
            start += c
        return tuple(out)

    def concatenate(self, blocks: Sequence[torch.Tensor]) -> torch.Tensor:
        """Concatenate per-block payloads ``[C_j]`` into one transport payload ``[sum_j C_j]``."""
        blocks = _check_blocks(blocks, self)
        return torch.cat(list(blocks))

    def split(self, bits: Any) -> list[torch.Tensor]:
        """Split a transport payload ``[sum_j C_j]`` back into per-block payloads ``[C_j]``."""
        bits = _check_bits(bits, "transport payload")
        if bits.numel() != self.total_bits:
            raise InputError(f"transport payload has {bits.numel()} bits, grant has {self.total_bits}")
        return [bits[a:b] for a, b in self.ranges]


def _as_assignment(assignment: Any, n: int, k: int) -> np.ndarray:
    """The decision matrix d ``[N, K]`` as a bool array (accepts an ``Allocation`` or array)."""
    d = getattr(assignment, "d", assignment)
    try:
        d = np.asarray(d.detach().cpu().numpy() if isinstance(d, torch.Tensor) else d)
    except (TypeError, ValueError) as exc:
        raise InputError(f"allocation must be an [N, K] 0/1 matrix: {exc}") from None
    if d.shape != (n, k):
        raise InputError(f"allocation must be shaped [N, K] = [{n}, {k}], got {d.shape}")
    if d.dtype != bool:
        if not np.issubdtype(d.dtype, np.number) or not np.isin(d, (0, 1)).all():
            raise InputError("allocation entries d_ij must be 0 or 1 (Eq. 4: at most one copy per block)")
        d = d.astype(bool)
    return d


def _check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    try:
        arr = np.asarray(sizes)
        has_bool = any(isinstance(s, (bool, np.bool_)) for s in sizes)
    except (TypeError, ValueError):
        raise InputError(f"sizes must be a sequence of positive integers, got {sizes!r}") from None
    if has_bool:  # True is not a size of 1
        raise InputError(f"symbol sizes must be integers, not booleans, got {sizes!r}")
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"sizes must be a non-empty 1-D sequence, got {sizes!r}")
    if not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all():
        raise InputError(f"sizes must be finite integers, got {sizes!r}")
    if (arr <= 0).any() or not np.all(np.floor(arr) == arr):
        raise InputError(f"symbol sizes n_i must be positive integers, got {list(arr)}")
    return tuple(int(s) for s in arr)


def _check_blocks(blocks: Sequence[Any], grant: CodeBlockGrant) -> list[torch.Tensor]:
    if isinstance(blocks, torch.Tensor) and blocks.dim() == 2:
        blocks = list(blocks)
    if len(blocks) != grant.n_blocks:
        raise InputError(f"got {len(blocks)} code blocks for a grant of {grant.n_blocks}")
    out = []
    for j, (b, c) in enumerate(zip(blocks, grant.capacities)):
        b = _check_bits(b, f"code block {j}")
        if b.numel() != c:
            raise InputError(f"code block {j} has {b.numel()} bits, its grant is {c}")
        out.append(b)
    return out


# --------------------------------------------------------------------------------------------
# Packing (C_enc) and unpacking (C^-1)
# --------------------------------------------------------------------------------------------


def pack_code_blocks(frame: SemanticFrame, assignment: Any, grant: CodeBlockGrant) -> list[torch.Tensor]:
    """Write the symbols of a frame into per-code-block payloads (the encoding step C_enc).

    Block j carries the payloads of the symbols with ``d[i, j] = 1`` concatenated in ascending
    symbol index, followed by zero padding up to ``C_j``. The layout is fully determined by
    ``d`` and the sizes, which the receiver knows from the grant signalling (prt Sec. IV), so
    no in-band header is needed.

    Args:
        frame: the frame to send (N symbols of n_i bits).
        assignment: decision matrix d ``[N, K]`` (0/1) or an ``Allocation``.
        grant: the K code blocks of capacity C_j.

    Returns:
        list of K float tensors ``[C_j]`` of 0/1.

    Raises:
        InputError: shapes disagree, or a block is overloaded (Eq. 2: sum_i n_i d_ij <= C_j).

    Example:
        >>> import torch
        >>> f = SemanticFrame.from_payloads([torch.tensor([1., 0.]), torch.tensor([1., 1.])])
        >>> [b.tolist() for b in pack_code_blocks(f, [[1, 0], [1, 1]], CodeBlockGrant((4, 3)))]
        [[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0]]
    """
    if not isinstance(frame, SemanticFrame):
        raise InputError(f"frame must be a SemanticFrame, got {type(frame).__name__}")
    if not isinstance(grant, CodeBlockGrant):
        raise InputError(f"grant must be a CodeBlockGrant, got {type(grant).__name__}")
    d = _as_assignment(assignment, frame.n_symbols, grant.n_blocks)
    sizes = np.asarray(frame.sizes)
    loads = sizes @ d
    over = [j for j in range(grant.n_blocks) if loads[j] > grant.capacities[j]]
    if over:
        raise InputError(
            f"code block(s) {over} overloaded (Eq. 2): loads {loads.tolist()} vs capacities {list(grant.capacities)}"
        )
    blocks = []
    for j, cap in enumerate(grant.capacities):
        parts = [frame.payloads[i] for i in np.flatnonzero(d[:, j])]
        used = int(loads[j])
        parts.append(torch.zeros(cap - used, dtype=torch.float32))
        blocks.append(torch.cat(parts))
    return blocks


@dataclasses.dataclass(frozen=True)
class EncodedFrame:
    """What C produces for one frame: per-block payloads ``[C_j]`` and the decision matrix ``d [N, K]``."""

    blocks: tuple[torch.Tensor, ...]
    assignment: np.ndarray
    sizes: tuple[int, ...]
    grant: CodeBlockGrant
    frame_index: int = 0

    @property
    def bits(self) -> torch.Tensor:
        """The concatenated transport payload ``[sum_j C_j]`` (block j at ``grant.ranges[j]``)."""
        return torch.cat(list(self.blocks))


@dataclasses.dataclass(frozen=True)
class ReceivedFrame:
    """What C^-1 hands to the concealer R: the received symbols and the indices K of the missing ones.

    Attributes:
        payloads: ``{i: bits [n_i]}`` for every symbol found in at least one block whose CRC passed.
        missing: sorted indices of the symbols not received (lost, or never sent).
        n_symbols: N.
        sizes: (n_1, ..., n_N).
        frame_index: frame counter t.
    """

    payloads: Mapping[int, torch.Tensor]
    missing: tuple[int, ...]
    n_symbols: int
    sizes: tuple[int, ...]
    frame_index: int = 0

    @property
    def received(self) -> tuple[int, ...]:
        """Sorted indices of the received symbols."""
        return tuple(sorted(self.payloads))

    @property
    def mask(self) -> torch.Tensor:
        """Bool tensor ``[N]``: True where the symbol was received."""
        m = torch.zeros(self.n_symbols, dtype=torch.bool)
        for i in self.payloads:
            m[i] = True
        return m


def unpack_code_blocks(
    blocks: Sequence[Any],
    cb_ok: Any,
    assignment: Any,
    sizes: Sequence[int],
    grant: CodeBlockGrant,
    frame_index: int = 0,
) -> ReceivedFrame:
    """Recover symbols from the code blocks whose CRC passed (the decoding step C^-1).

    Every block with ``cb_ok[j]`` is kept, even when the transport block as a whole failed
    (prt Sec. III). A symbol is received when at least one block carrying it passed; its bits are
    read from the first such block. Blocks that failed are never read.

    Args:
        blocks: K received payloads ``[C_j]`` (e.g. ``grant.split(link_result.bits)``).
        cb_ok: ``[K]`` per-code-block CRC flags (bool or 0/1).
        assignment: the decision matrix d ``[N, K]`` the transmitter used (known from the grant).
        sizes: (n_1, ..., n_N).
        grant: the K code blocks.
        frame_index: frame counter, passed through.

    Returns:
        :class:`ReceivedFrame` with the surviving payloads and the missing indices.

    Example:
        >>> import torch
        >>> g = CodeBlockGrant((2, 2))
        >>> r = unpack_code_blocks([torch.tensor([1., 0.]), torch.tensor([0., 1.])], [True, False],
        ...                        [[1, 0], [0, 1]], (2, 2), g)
        >>> r.payloads[0].tolist(), r.missing
        ([1.0, 0.0], (1,))
    """
    if not isinstance(grant, CodeBlockGrant):
        raise InputError(f"grant must be a CodeBlockGrant, got {type(grant).__name__}")
    sizes = _check_sizes(sizes)
    blocks = _check_blocks(blocks, grant)
    ok = np.asarray(cb_ok.detach().cpu().numpy() if isinstance(cb_ok, torch.Tensor) else cb_ok)
    if ok.shape != (grant.n_blocks,):
        raise InputError(f"cb_ok must be shaped [K] = [{grant.n_blocks}], got {ok.shape}")
    if ok.dtype != bool:
        if not np.issubdtype(ok.dtype, np.number) or not np.isin(ok, (0, 1)).all():
            raise InputError("cb_ok must hold booleans or 0/1")
        ok = ok.astype(bool)
    d = _as_assignment(assignment, len(sizes), grant.n_blocks)
    size_arr = np.asarray(sizes)
    loads = size_arr @ d
    for j in range(grant.n_blocks):
        if loads[j] > grant.capacities[j]:
            raise InputError(f"allocation overloads code block {j} (Eq. 2): {loads[j]} > {grant.capacities[j]}")
    # offset of symbol i inside block j: sum of the sizes of the lower-indexed symbols in j
    offsets = np.cumsum(size_arr[:, None] * d, axis=0) - size_arr[:, None] * d
    payloads: dict[int, torch.Tensor] = {}
    for i in range(len(sizes)):
        for j in np.flatnonzero(d[i] & ok):
            start = int(offsets[i, j])
            payloads[i] = blocks[j][start : start + sizes[i]].clone()
            break
    missing = tuple(i for i in range(len(sizes)) if i not in payloads)
    return ReceivedFrame(payloads=payloads, missing=missing, n_symbols=len(sizes), sizes=sizes,
                         frame_index=int(frame_index))


# --------------------------------------------------------------------------------------------
# The six roles (prt Sec. III)
# --------------------------------------------------------------------------------------------


class SemanticExtractor(abc.ABC):
    """E(.): turns an information source I (image, video frame, audio, text) into a frame of symbols.

    Application-specific (e.g. a keypoint detector whose keypoints become ten symbols).
    """

    @abc.abstractmethod
    def extract(self, source: Any, index: int = 0) -> SemanticFrame:
        """Symbols of ``source`` as a :class:`SemanticFrame` (payloads ``[n_i]``; importance may be uniform)."""


class ImportanceFunction(abc.ABC):
    """P(.): assigns each symbol an importance rho_i approximating its effect on QoE.

    Application-specific; the network side sees only the normalised weights.
    """

    @abc.abstractmethod
    def importance(self, frame: SemanticFrame, source: Any = None) -> torch.Tensor:
        """Non-negative weights ``[N]`` (normalised by the caller with :func:`normalise_importance`)."""

    def __call__(self, frame: SemanticFrame, source: Any = None) -> SemanticFrame:
        """The frame with its importance replaced by ``importance(frame, source)``, normalised."""
        return frame.with_importance(self.importance(frame, source))


class SemanticChannelEncoder(abc.ABC):
    """C(.): the semantic-aware channel encoder, C = C_enc o C_alloc (network side, application-agnostic).

    Allocates the symbols of a frame to the granted code blocks by importance (it may filter
    or duplicate symbols), then writes the per-block payloads.
    """

    @abc.abstractmethod
    def encode(self, frame: SemanticFrame, grant: CodeBlockGrant) -> EncodedFrame:
        """K payloads ``[C_j]`` and the decision matrix ``d [N, K]``."""


class SemanticChannelDecoder(abc.ABC):
    """C^-1(.): keeps every code block whose CRC passed and recovers the symbols it carries."""

    @abc.abstractmethod
    def decode(self, blocks: Sequence[torch.Tensor], cb_ok: Any, encoded: EncodedFrame) -> ReceivedFrame:
        """Received symbols and the indices of the missing ones.

        ``encoded`` provides only what the receiver knows from signalling: the decision matrix,
        the symbol sizes, the grant and the frame index (never the transmitted bits).
        """


class ErrorConcealer(abc.ABC):
    """R(.): fills in missing symbols from the history H, the received symbols and the missing indices K."""

    @abc.abstractmethod
    def conceal(self, history: Sequence[SemanticFrame], received: ReceivedFrame) -> SemanticFrame:
        """A complete frame (all N payloads) estimating the sent one."""


class Synthesizer(abc.ABC):
    """Syn(.): renders the (concealed) semantics into the application's output, e.g. a video frame."""

    @abc.abstractmethod
    def synthesize(self, frame: SemanticFrame) -> Any:
        """The application's reconstruction I-bar."""


class CodeBlockDecoder(SemanticChannelDecoder):
    """The network-side C^-1: :func:`unpack_code_blocks` with the transmitter's signalled layout.

    Example:
        >>> import torch
        >>> from semcom.semantics.allocation import AllocatingEncoder, CyclicImportance
        >>> f = SemanticFrame.from_payloads([torch.ones(4)] * 3, importance=[3, 2, 1])
        >>> enc = AllocatingEncoder(CyclicImportance()).encode(f, CodeBlockGrant.uniform(2, 8))
        >>> CodeBlockDecoder().decode(enc.blocks, [True, False], enc).missing
        (2,)
    """

    def decode(self, blocks: Sequence[torch.Tensor], cb_ok: Any, encoded: EncodedFrame) -> ReceivedFrame:
        return unpack_code_blocks(blocks, cb_ok, encoded.assignment, encoded.sizes, encoded.grant,
                                  encoded.frame_index)


@dataclasses.dataclass
class SemanticPipeline:
    """The end-to-end chain of prt Fig. 1 for one application: E, P, C, [link], C^-1, R, Syn.

    ``channel`` is any callable ``(bits [sum_j C_j], grant) -> (bits [sum_j C_j], cb_ok [K])``,
    e.g. a thin wrapper around ``semcom.link`` whose code blocks match the grant. The pipeline
    keeps the concealed frames as the history H handed to R.

    Example:
        >>> import torch
        >>> from semcom.semantics.allocation import AllocatingEncoder, StrictImportance
        >>> class Bits(SemanticExtractor):
        ...     def extract(self, source, index=0):
        ...         return SemanticFrame.from_payloads(list(source), index=index)
        >>> class First(ImportanceFunction):
        ...     def importance(self, frame, source=None):
        ...         return torch.tensor([2.0] + [1.0] * (frame.n_symbols - 1))
        >>> class Zeros(ErrorConcealer):
        ...     def conceal(self, history, received):
        ...         return SemanticFrame.from_payloads(
        ...             [received.payloads.get(i, torch.zeros(n)) for i, n in enumerate(received.sizes)])
        >>> class Ident(Synthesizer):
        ...     def synthesize(self, frame):
        ...         return torch.stack(list(frame.payloads))
        >>> p = SemanticPipeline(Bits(), First(), AllocatingEncoder(StrictImportance()), CodeBlockDecoder(),
        ...                      Zeros(), Ident())
        >>> lossless = lambda bits, grant: (bits, torch.ones(grant.n_blocks, dtype=torch.bool))
        >>> out = p.step(torch.ones(3, 4), CodeBlockGrant.uniform(2, 8), lossless)
        >>> out.shape, int(out.sum())  # symbol 0 and one of the others fit, the third is dropped
        (torch.Size([3, 4]), 8)
    """

    extractor: SemanticExtractor
    importance: ImportanceFunction
    encoder: SemanticChannelEncoder
    decoder: SemanticChannelDecoder
    concealer: ErrorConcealer
    synthesizer: Synthesizer
    history_length: int = 8
    history: list = dataclasses.field(default_factory=list)
    frame_count: int = 0

    def step(self, source: Any, grant: CodeBlockGrant,
             channel: Callable[[torch.Tensor, CodeBlockGrant], tuple[torch.Tensor, Any]]) -> Any:
        """Send one source frame through the whole chain and return the synthesised output."""
        frame = self.extractor.extract(source, index=self.frame_count)
        frame = self.importance(frame, source)
        encoded = self.encoder.encode(frame, grant)
        rx_bits, cb_ok = channel(encoded.bits, grant)
        received = self.decoder.decode(grant.split(rx_bits), cb_ok, encoded)
        concealed = self.concealer.conceal(tuple(self.history), received)
        self.history.append(concealed)
        del self.history[: max(0, len(self.history) - self.history_length)]
        self.frame_count += 1
        return self.synthesizer.synthesize(concealed)
