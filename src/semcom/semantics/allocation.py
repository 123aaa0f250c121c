"""Importance-driven allocation of semantic symbols to code blocks (prt Sec. IV): FFH, SIDH, CIDH, optimal.

Griessel et al., "Importance-Driven Semantic Resilience for Challenging Future 6G Channels".
A frame of N symbols (n_i bits, importance rho_i summing to 1) is allocated to K code blocks of
C_j bits by the decision matrix d ``[N, K]``. Symbol i is sent D_i = sum_j d_ij times; with every
block lost independently with probability CBLER it arrives with p_i = 1 - CBLER^D_i, and the
objective is (Eq. 1)::

    W_rho = sum_i rho_i * (1 - CBLER^D_i)

under (Eq. 2) sum_i n_i d_ij <= C_j for every block, (Eq. 3) sum_j d_ij >= 1 for every symbol and
(Eq. 4) d_ij in {0, 1}. mu_N is the number of distinct symbols sent per frame (how well Eq. 3 is
met). When CBLER is unknown we use its mean over a grid, by default the paper's 11 points
{0, 0.1, ..., 1.0} (:data:`CBLER_GRID`).

Allocators (all return an :class:`Allocation`):

* :class:`FirstFit` (FFH): importance-blind; every code block is filled first-fit from its own,
  independently drawn, uniformly random symbol order (the order in which symbols appear to the
  encoder). With equal sizes each block carries m distinct symbols drawn uniformly, which is
  the model that reproduces the paper's FFH column of Table I (docs/prt.md).
* :class:`StrictImportance` (SIDH): every block is filled with the most important symbols that
  fit (descending rho); low-importance symbols may never be sent. It meets Eq. 2 and 4 and
  violates Eq. 3 (the paper's text names Eq. 2, but its own Table I, mu_N = m for every K, shows
  the violated constraint is Eq. 3).
* :class:`CyclicImportance` (CIDH): rounds over the importance-sorted list; round r gives every
  symbol its r-th copy, placed in the next block (cycling over blocks) with room that does not
  hold it yet. Every symbol is sent once before any is duplicated, whenever capacity allows.
* :class:`OptimalAllocator`: maximises Eq. 1 exactly under Eq. 2 and 4 (and Eq. 3 with
  ``coverage="hard"``) for a known CBLER or its grid mean, for any symbol sizes, as a MILP
  solved by HiGHS (``scipy.optimize.milp``); a greedy on marginal gains, provably optimal when
  all symbols have the same size and all blocks the same number of slots, is used there.

Example:
    >>> import numpy as np
    >>> from semcom.semantics.symbols import CodeBlockGrant
    >>> rho, sizes, grant = [0.4, 0.3, 0.2, 0.1], [8] * 4, CodeBlockGrant.uniform(2, 16)
    >>> a = CyclicImportance().allocate(rho, sizes, grant)
    >>> a.d.astype(int).tolist(), a.mu_n
    ([[1, 0], [1, 0], [0, 1], [0, 1]], 4)
    >>> round(expected_objective(rho, a.duplications), 3)
    0.5
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Sequence

import numpy as np
import torch
from scipy.optimize import Bounds, LinearConstraint, milp

from semcom.errors import InputError, SemcomError
from semcom.semantics.symbols import (
    CodeBlockGrant,
    EncodedFrame,
    SemanticChannelEncoder,
    SemanticFrame,
    _as_assignment,
    _check_sizes,
    normalise_importance,
    pack_code_blocks,
)
from semcom.utils import numpy_rng

__all__ = [
    "CBLER_GRID",
    "Allocation",
    "Evaluation",
    "reception_probability",
    "objective",
    "expected_objective",
    "copy_gains",
    "Allocator",
    "FirstFit",
    "StrictImportance",
    "CyclicImportance",
    "OptimalAllocator",
    "oracle_optimal",
    "ALLOCATORS",
    "get_allocator",
    "AllocatingEncoder",
]

#: The paper's CBLER grid: Table I averages over CBLER in {0, 0.1, ..., 1.0}.
CBLER_GRID: np.ndarray = np.round(np.linspace(0.0, 1.0, 11), 10)


# --------------------------------------------------------------------------------------------
# Objective (Eq. 1)
# --------------------------------------------------------------------------------------------


def _check_cbler(cbler: Any) -> np.ndarray:
    try:
        c = np.asarray(cbler, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"CBLER must be numeric, got {cbler!r}") from None
    if c.ndim > 1 or c.size == 0:
        raise InputError(f"CBLER must be a scalar or a 1-D grid, got shape {c.shape}")
    if not np.isfinite(c).all() or (c < 0).any() or (c > 1).any():
        raise InputError(f"CBLER must lie in [0, 1], got {c.tolist()}")
    return c


def _check_duplications(duplications: Any, n: int | None = None) -> np.ndarray:
    try:
        dup = np.asarray(duplications.detach().cpu().numpy() if isinstance(duplications, torch.Tensor)
                         else duplications, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"duplications must be numeric, got {duplications!r}") from None
    if dup.ndim != 1:
        raise InputError(f"duplications D must be 1-D [N], got shape {dup.shape}")
    if n is not None and dup.size != n:
        raise InputError(f"duplications has {dup.size} entries for {n} symbols")
    if not np.isfinite(dup).all() or (dup < 0).any() or not np.all(np.floor(dup) == dup):
        raise InputError(f"duplications D_i must be non-negative integers, got {dup.tolist()}")
    return dup


def reception_probability(duplications: Any, cbler: Any) -> np.ndarray:
    """p_i = 1 - CBLER^D_i: the probability that at least one of D_i copies arrives (prt Sec. IV-B).

    Args:
        duplications: D ``[N]`` non-negative integers.
        cbler: scalar or grid ``[M]`` in [0, 1].

    Returns:
        ``[N]`` for a scalar CBLER, ``[M, N]`` for a grid. A symbol never sent (D_i = 0) has p_i = 0.

    Example:
        >>> reception_probability([0, 1, 2], 0.5).tolist()
        [0.0, 0.5, 0.75]
    """
    dup = _check_duplications(duplications)
    c = _check_cbler(cbler)
    return 1.0 - np.power(c[..., None], dup)


def objective(importance: Any, duplications: Any, cbler: Any) -> np.ndarray | float:
    """W_rho = sum_i rho_i (1 - CBLER^D_i), prt Eq. 1 (importance normalised to sum to 1).

    Args:
        importance: rho ``[N]`` (non-negative; normalised here).
        duplications: D ``[N]``.
        cbler: scalar (returns a float) or grid ``[M]`` (returns ``[M]``).

    Example:
        >>> objective([0.5, 0.5], [1, 2], 0.5)
        0.625
    """
    dup = _check_duplications(duplications)
    rho = normalise_importance(importance, dup.size).numpy()
    p = reception_probability(dup, cbler)
    w = p @ rho
    return float(w) if np.ndim(w) == 0 else w


def expected_objective(importance: Any, duplications: Any, cbler_grid: Any = CBLER_GRID) -> float:
    """Mean of Eq. 1 over a CBLER grid (default :data:`CBLER_GRID`): the score of Table I.

    Example:
        >>> expected_objective([1.0], [1])  # a single symbol sent once: mean of 1 - c over the grid
        0.5
    """
    c = _check_cbler(cbler_grid)
    return float(np.mean(np.atleast_1d(objective(importance, duplications, np.atleast_1d(c)))))


def copy_gains(n_copies: int, cbler: Any = None) -> np.ndarray:
    """Marginal gain of the t-th copy, g_t = E_c[c^(t-1) - c^t], t = 1..n_copies.

    Eq. 1 is sum_i rho_i sum_{t <= D_i} g_t, with g_t non-increasing in t (c^(t-1)(1-c) falls
    with t for c in [0, 1]): the objective is separable and concave in the D_i. ``cbler`` is a
    known value, a grid (the expectation is the grid mean) or ``None`` for :data:`CBLER_GRID`.

    Example:
        >>> np.round(copy_gains(3), 4).tolist()
        [0.5, 0.15, 0.075]
    """
    c = np.atleast_1d(_check_cbler(CBLER_GRID if cbler is None else cbler))
    t = np.arange(1, int(n_copies) + 1)
    return np.mean(np.power(c[:, None], t - 1) - np.power(c[:, None], t), axis=0)


# --------------------------------------------------------------------------------------------
# Allocation
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Allocation:
    """A symbol-to-code-block allocation: the paper's decision matrix d ``[N, K]`` (bool).

    Attributes:
        d: ``[N, K]`` bool, ``d[i, j]`` when symbol i is carried by code block j (Eq. 4 by type).
        sizes: (n_1, ..., n_N) in bits.
        grant: the K code blocks.
        method: name of the allocator that produced it.

    Example:
        >>> a = Allocation(np.array([[1, 1], [0, 0]], bool), (4, 4), CodeBlockGrant.uniform(2, 4))
        >>> a.duplications.tolist(), a.mu_n, a.violations()
        ([2, 0], 1, {'eq2': [], 'eq3': [1], 'eq4': []})
    """

    d: np.ndarray
    sizes: tuple[int, ...]
    grant: CodeBlockGrant
    method: str = ""

    def __post_init__(self) -> None:
        sizes = _check_sizes(self.sizes)
        if not isinstance(self.grant, CodeBlockGrant):
            raise InputError(f"grant must be a CodeBlockGrant, got {type(self.grant).__name__}")
        d = _as_assignment(self.d, len(sizes), self.grant.n_blocks).copy()
        d.setflags(write=False)
        object.__setattr__(self, "d", d)
        object.__setattr__(self, "sizes", sizes)

    @property
    def duplications(self) -> np.ndarray:
        """D ``[N]``: copies of each symbol, D_i = sum_j d_ij."""
        return self.d.sum(axis=1).astype(np.int64)

    @property
    def mu_n(self) -> int:
        """Number of distinct symbols sent in this frame (mu_N is its mean over frames)."""
        return int((self.duplications > 0).sum())

    @property
    def loads(self) -> np.ndarray:
        """``[K]`` bits used in each block, sum_i n_i d_ij."""
        return np.asarray(self.sizes, dtype=np.int64) @ self.d.astype(np.int64)

    def block_symbols(self, j: int) -> tuple[int, ...]:
        """Indices of the symbols carried by code block j."""
        return tuple(int(i) for i in np.flatnonzero(self.d[:, j]))

    def violations(self) -> dict[str, list[int]]:
        """Constraint violations: ``eq2`` overloaded blocks, ``eq3`` symbols never sent, ``eq4`` (empty: d is 0/1)."""
        caps = np.asarray(self.grant.capacities)
        return {
            "eq2": [int(j) for j in np.flatnonzero(self.loads > caps)],
            "eq3": [int(i) for i in np.flatnonzero(self.duplications == 0)],
            "eq4": [],
        }

    def objective(self, importance: Any, cbler: Any) -> np.ndarray | float:
        """Eq. 1 for this allocation."""
        return objective(importance, self.duplications, cbler)

    def expected_objective(self, importance: Any, cbler_grid: Any = CBLER_GRID) -> float:
        """Eq. 1 averaged over a CBLER grid."""
        return expected_objective(importance, self.duplications, cbler_grid)


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """An allocator's score on one frame type: W_rho averaged over the CBLER grid and mu_N.

    ``w_rho_per_cbler`` is ``[M]``, the mean W_rho at each grid point; ``exact`` says whether the
    numbers are exact expectations (deterministic allocators, FFH with equal sizes) or Monte Carlo.
    """

    w_rho: float
    mu_n: float
    w_rho_per_cbler: np.ndarray
    exact: bool


def _prepare(importance: Any, sizes: Sequence[int], grant: CodeBlockGrant) -> tuple[np.ndarray, tuple[int, ...]]:
    sizes = _check_sizes(sizes)
    if not isinstance(grant, CodeBlockGrant):
        raise InputError(f"grant must be a CodeBlockGrant, got {type(grant).__name__}")
    rho = normalise_importance(importance, len(sizes)).numpy()
    biggest = max(grant.capacities)
    too_big = [i for i, n in enumerate(sizes) if n > biggest]
    if too_big:
        raise InputError(
            f"symbol(s) {too_big} ({[sizes[i] for i in too_big]} bits) exceed the largest code block "
            f"({biggest} bits): a symbol must fit whole in one independently decoded block"
        )
    return rho, sizes


def _importance_order(rho: np.ndarray) -> np.ndarray:
    """Indices by descending importance, ties by ascending index (deterministic)."""
    return np.lexsort((np.arange(rho.size), -rho))


class Allocator(abc.ABC):
    """C_alloc: maps (importance ``[N]``, sizes ``[N]``, grant) to an :class:`Allocation`."""

    name: str = ""

    @abc.abstractmethod
    def allocate(self, importance: Any, sizes: Sequence[int], grant: CodeBlockGrant,
                 generator: Any = None) -> Allocation:
        """One allocation for one frame (``generator`` is used only by randomised allocators)."""

    def evaluate(self, importance: Any, sizes: Sequence[int], grant: CodeBlockGrant,
                 cbler_grid: Any = CBLER_GRID, draws: int = 1, generator: Any = None) -> Evaluation:
        """W_rho (mean over ``cbler_grid``) and mu_N of this allocator for one frame type.

        Deterministic allocators allocate once; randomised ones override this.
        """
        grid = np.atleast_1d(_check_cbler(cbler_grid))
        a = self.allocate(importance, sizes, grant, generator=generator)
        per = np.atleast_1d(a.objective(importance, grid))
        return Evaluation(float(per.mean()), float(a.mu_n), per, exact=True)


class FirstFit(Allocator):
    """FFH: importance-blind first-fit, each code block filled from its own random symbol order.

    For every block j, a fresh uniformly random permutation of the N symbols (drawn from
    ``generator``) is the order in which symbols appear; the block takes each symbol that
    still fits (Eq. 2), at most once (Eq. 4). Blocks are filled independently, so a symbol may be
    duplicated or never sent: Eq. 3 is not guaranteed. With equal sizes n and ``m_j = C_j // n``
    slots, block j carries ``min(m_j, N)`` distinct symbols chosen uniformly, hence (exactly)::

        E[CBLER^D_i] = prod_j (1 - q_j + q_j CBLER),  q_j = min(m_j, N) / N
        E[W_rho]     = 1 - prod_j (1 - q_j (1 - CBLER))          (rho sums to 1)
        mu_N         = N (1 - prod_j (1 - q_j))

    Example:
        >>> a = FirstFit().allocate([1] * 10, [8] * 10, CodeBlockGrant.uniform(3, 16), generator=0)
        >>> a.d.sum(axis=0).tolist()
        [2, 2, 2]
        >>> ev = FirstFit().evaluate([1] * 10, [8] * 10, CodeBlockGrant.uniform(3, 16))
        >>> round(ev.mu_n, 2), ev.exact
        (4.88, True)
    """

    name = "ffh"

    def allocate(self, importance: Any, sizes: Sequence[int], grant: CodeBlockGrant,
                 generator: Any = None) -> Allocation:
        _, sizes = _prepare(importance, sizes, grant)
        rng = numpy_rng(generator)
        n = len(sizes)
        d = np.zeros((n, grant.n_blocks), dtype=bool)
        for j, cap in enumerate(grant.capacities):
            room = cap
            for i in rng.permutation(n):
                if sizes[i] <= room:
                    d[i, j] = True
                    room -= sizes[i]
        return Allocation(d, sizes, grant, self.name)

    def evaluate(self, importance: Any, sizes: Sequence[int], grant: CodeBlockGrant,
                 cbler_grid: Any = CBLER_GRID, draws: int = 2000, generator: Any = None) -> Evaluation:
        """Exact expectation for equal symbol sizes; otherwise a Monte Carlo mean over ``draws`` frames."""
        rho, sizes = _prepare(importance, sizes, grant)
        grid = np.atleast_1d(_check_cbler(cbler_grid))
        n = len(sizes)
        if len(set(sizes)) == 1:
            q = np.array([min(c // sizes[0], n) / n for c in grant.capacities])
            e_pow = np.prod(1.0 - q[None, :] + q[None, :] * grid[:, None], axis=1)  # E[c^D_i], same for all i
            per = (1.0 - e_pow) * rho.sum()
            mu = n * (1.0 - np.prod(1.0 - q))
            return Evaluation(float(per.mean()), float(mu), per, exact=True)
        if not isinstance(draws, (int, np.integer)) or draws <= 0:
            raise InputError(f"draws must be a positive integer, got {draws!r}")
        rng = numpy_rng(generator)
        per = np.zeros(grid.size)
        mu = 0.0
        for _ in range(int(draws)):
            a = self.allocate(rho, sizes, grant, generator=rng)
            per += np.atleast_1d(a.objective(rho, grid))
            mu += a.mu_n
        per /= draws
        return Evaluation(float(per.mean()), mu / draws, per, exact=False)


class StrictImportance(Allocator):
    """SIDH: every code block takes the most important symbols that fit, in descending rho.

    High-importance symbols are therefore sent in every block (the highest rate) and before
    low-importance ones; symbols that do not fit after the important ones are never sent.
    Meets Eq. 2 and Eq. 4, violates Eq. 3 whenever a block cannot hold the whole frame. With
    equal sizes every block carries the same top-m symbols, so mu_N = m for every K.

    Example:
        >>> a = StrictImportance().allocate([0.1, 0.5, 0.4], [8] * 3, CodeBlockGrant.uniform(3, 16))
        >>> a.d.astype(int).tolist(), a.violations()["eq3"]
        ([[0, 0, 0], [1, 1, 1], [1, 1, 1]], [0])
    """

    name = "sidh"

    def allocate(self, importance: Any, sizes: Sequence[int], grant: CodeBlockGrant,
                 generator: Any = None) -> Allocation:
        rho, sizes = _prepare(importance, sizes, grant)
        order = _importance_order(rho)
        d = np.zeros((len(sizes), grant.n_blocks), dtype=bool)
        for j, cap in enumerate(grant.capacities):
            room = cap
            for i in order:
                if sizes[i] <= room:
                    d[i, j] = True
                    room -= sizes[i]
        return Allocation(d, sizes, grant, self.name)


class CyclicImportance(Allocator):
    """CIDH: importance-ordered rounds, cycling over blocks; every symbol once before any twice.

    Round r = 1, 2, ..., K walks the symbols in descending importance and gives each one its
    r-th copy: it goes to the first block, searching cyclically from the block that received the
    previous copy, that has room for it (Eq. 2) and does not hold it yet (Eq. 4). Rounds stop
    when one places nothing. Hence all symbols are sent once whenever this greedy pass finds
    room (Eq. 3 "if possible"), and the spare capacity goes to second, third... copies of the
    most important symbols first. With equal sizes it is the importance-sorted list written
    cyclically into the K*m slots: mu_N = min(K*m, N).

    Example:
        >>> a = CyclicImportance().allocate([0.4, 0.3, 0.2, 0.1], [8] * 4, CodeBlockGrant.uniform(3, 16))
        >>> a.d.astype(int).tolist()
        [[1, 0, 1], [1, 0, 1], [0, 1, 0], [0, 1, 0]]
    """

    name = "cidh"

    def allocate(self, importance: Any, sizes: Sequence[int], grant: CodeBlockGrant,
                 generator: Any = None) -> Allocation:
        rho, sizes = _prepare(importance, sizes, grant)
        order = _importance_order(rho)
        k = grant.n_blocks
        d = np.zeros((len(sizes), k), dtype=bool)
        room = list(grant.capacities)
        block = 0
        for _round in range(k):
            placed = False
            for i in order:
                for step in range(k):
                    j = (block + step) % k
                    if not d[i, j] and sizes[i] <= room[j]:
                        d[i, j] = True
                        room[j] -= sizes[i]
                        block = j
                        placed = True
                        break
            if not placed:
                break
        return Allocation(d, sizes, grant, self.name)


class OptimalAllocator(Allocator):
    """The exact maximiser of Eq. 1 under Eq. 2 and Eq. 4 (and Eq. 3 with ``coverage="hard"``).

    Writing D_i = sum_t y_it with binary y_it = [D_i >= t], Eq. 1 becomes linear,
    W_rho = sum_i rho_i sum_t g_t y_it with the copy gains g_t of :func:`copy_gains`, and the
    problem is the MILP::

        max  sum_i sum_t rho_i g_t y_it
        s.t. sum_i n_i d_ij <= C_j              (Eq. 2)
             sum_j d_ij = sum_t y_it,  y_i,t+1 <= y_it
             sum_j d_ij >= 1                     (Eq. 3, only with coverage="hard")
             d_ij, y_it in {0, 1}                (Eq. 4)

    solved to proven optimality by HiGHS (``scipy.optimize.milp``, zero relative gap). Among
    optimal allocations a second solve picks one sending the most distinct symbols (highest
    mu_N; this matters only for ties, e.g. CBLER = 1 or zero importance). When every symbol has
    the same size and every block the same number of slots m, any D with D_i <= K and
    sum_i D_i <= K m is realisable, so the separable concave problem is solved exactly by a
    greedy on the marginal gains rho_i g_t (``method="auto"`` uses it there).

    ``coverage="soft"`` (default) leaves Eq. 3 to the objective, which already rewards sending
    every symbol: the result then scores at least as high as every allocation satisfying Eq. 2
    and 4, which includes FFH, SIDH and CIDH. ``coverage="hard"`` enforces Eq. 3 and raises
    :class:`InputError` when the grant cannot carry every symbol once.

    Args:
        cbler: known CBLER (float), a grid to average over, or ``None`` for :data:`CBLER_GRID`
            (CBLER unknown in [0, 1]).
        coverage: ``"soft"`` or ``"hard"``.
        method: ``"auto"``, ``"milp"`` or ``"greedy"`` (greedy refuses cases where it is not exact).
        time_limit: seconds for HiGHS; exceeding it raises :class:`SemcomError` (never a silent
            suboptimal answer).

    Example:
        >>> a = OptimalAllocator(cbler=0.9).allocate([0.6, 0.3, 0.1], [8] * 3, CodeBlockGrant.uniform(2, 16))
        >>> a.duplications.tolist()  # at 90% loss two copies of the top symbol beat covering symbol 3
        [2, 2, 0]
    """

    name = "optimal"

    def __init__(self, cbler: Any = None, coverage: str = "soft", method: str = "auto",
                 time_limit: float = 60.0) -> None:
        if coverage not in ("soft", "hard"):
            raise InputError(f"coverage must be 'soft' or 'hard', got {coverage!r}")
        if method not in ("auto", "milp", "greedy"):
            raise InputError(f"method must be 'auto', 'milp' or 'greedy', got {method!r}")
        self.cbler = None if cbler is None else _check_cbler(cbler)
        self.coverage = coverage
        self.method = method
        self.time_limit = float(time_limit)

    def allocate(self, importance: Any, sizes: Sequence[int], grant: CodeBlockGrant,
                 generator: Any = None) -> Allocation:
        rho, sizes = _prepare(importance, sizes, grant)
        gains = copy_gains(grant.n_blocks, self.cbler)
        slots = {c // sizes[0] for c in grant.capacities}
        greedy_exact = len(set(sizes)) == 1 and len(slots) == 1
        if self.method == "greedy" and not greedy_exact:
            raise InputError("the greedy is exact only for equal symbol sizes and equal block slots; use method='milp'")
        if greedy_exact and self.method in ("auto", "greedy"):
            d = self._greedy(rho, grant.n_blocks, slots.pop(), gains)
        else:
            d = self._milp(rho, sizes, grant, gains)
        return Allocation(d, sizes, grant, self.name)

    def _greedy(self, rho: np.ndarray, k: int, m: int, gains: np.ndarray) -> np.ndarray:
        n = rho.size
        budget = k * min(m, n)
        if self.coverage == "hard" and budget < n:
            raise InputError(f"Eq. 3 is infeasible: {n} symbols, {budget} slots")
        # candidate copies (i, t) by value; ties: lower t first (coverage), then importance order
        rank = np.empty(n, dtype=np.int64)
        rank[_importance_order(rho)] = np.arange(n)
        cand = [(-rho[i] * gains[t], t, rank[i], i) for i in range(n) for t in range(k)]
        cand.sort()
        dup = np.zeros(n, dtype=np.int64)
        taken = 0
        if self.coverage == "hard":
            dup[:] = 1
            taken = n
        for value, t, _, i in cand:
            if taken >= budget:
                break
            if t != dup[i]:  # copies are taken in order t = 0, 1, ... (gains are non-increasing)
                continue
            if -value <= 0 and t > 0:  # zero-gain extra copies add nothing
                continue
            dup[i] += 1
            taken += 1
        # realise D: copies written round-robin over the blocks, most-duplicated symbols first
        d = np.zeros((n, k), dtype=bool)
        pos = 0
        for i in np.lexsort((rank, -dup)):
            for _ in range(dup[i]):
                d[i, pos % k] = True
                pos += 1
        return d

    def _milp(self, rho: np.ndarray, sizes: tuple[int, ...], grant: CodeBlockGrant,
              gains: np.ndarray) -> np.ndarray:
        n, k = len(sizes), grant.n_blocks
        nv = 2 * n * k  # d_ij (i*k + j), then y_it (n*k + i*k + t)
        dv = lambda i, j: i * k + j  # noqa: E731
        yv = lambda i, t: n * k + i * k + t  # noqa: E731
        value = np.zeros(nv)
        for i in range(n):
            for t in range(k):
                value[yv(i, t)] = rho[i] * gains[t]
        rows, lo, hi = [], [], []
        for j, cap in enumerate(grant.capacities):  # Eq. 2
            r = np.zeros(nv)
            for i in range(n):
                r[dv(i, j)] = sizes[i]
            rows.append(r), lo.append(-np.inf), hi.append(cap)
        for i in range(n):  # D_i = sum_j d_ij = sum_t y_it
            r = np.zeros(nv)
            r[[dv(i, j) for j in range(k)]] = 1
            r[[yv(i, t) for t in range(k)]] = -1
            rows.append(r), lo.append(0), hi.append(0)
            for t in range(k - 1):
                r = np.zeros(nv)
                r[yv(i, t + 1)], r[yv(i, t)] = 1, -1
                rows.append(r), lo.append(-np.inf), hi.append(0)
            if self.coverage == "hard":  # Eq. 3
                r = np.zeros(nv)
                r[[dv(i, j) for j in range(k)]] = 1
                rows.append(r), lo.append(1), hi.append(np.inf)
        ub = np.ones(nv)
        for i in range(n):
            for j, cap in enumerate(grant.capacities):
                if sizes[i] > cap:
                    ub[dv(i, j)] = 0
        bounds = Bounds(np.zeros(nv), ub)
        integrality = np.ones(nv)
        scale = 1e6 / max(float(value.max()), 1e-300)  # HiGHS' absolute gap (1e-6) becomes negligible
        opts = {"mip_rel_gap": 0.0, "time_limit": self.time_limit, "presolve": True}

        def solve(c: np.ndarray, extra: list) -> np.ndarray:
            a = np.array(rows + [e[0] for e in extra])
            cons = LinearConstraint(a, np.array(lo + [e[1] for e in extra]), np.array(hi + [e[2] for e in extra]))
            res = milp(c, constraints=cons, integrality=integrality, bounds=bounds, options=opts)
            if res.status == 2:
                raise InputError("Eq. 3 is infeasible for this grant: not every symbol can be sent once")
            if res.status != 0 or res.x is None:
                raise SemcomError(f"HiGHS did not prove optimality: {res.message}")
            return np.round(res.x).astype(bool)

        x1 = solve(-value * scale, [])
        d1 = x1[: n * k].reshape(n, k)
        best = float(value @ x1) if value.max() > 0 else 0.0
        # second stage: among optimal allocations, the most distinct symbols
        cover = np.zeros(nv)
        cover[[yv(i, 0) for i in range(n)]] = 1
        floor = best * scale * (1.0 - 1e-9) - 1e-6
        x2 = solve(-cover, [(value * scale, floor, np.inf)])
        d2 = x2[: n * k].reshape(n, k)
        score = lambda d: float(sum(rho[i] * gains[: int(d[i].sum())].sum() for i in range(n)))  # noqa: E731
        return d2 if score(d2) >= score(d1) else d1


def oracle_optimal(importance: Any, sizes: Sequence[int], grant: CodeBlockGrant,
                   cbler_grid: Any = CBLER_GRID) -> Evaluation:
    """Upper bound: the optimal allocation re-solved for each known CBLER of the grid, averaged.

    Example:
        >>> ev = oracle_optimal([0.6, 0.3, 0.1], [8] * 3, CodeBlockGrant.uniform(2, 16))
        >>> ev.w_rho >= OptimalAllocator().evaluate([0.6, 0.3, 0.1], [8] * 3, CodeBlockGrant.uniform(2, 16)).w_rho
        True
    """
    grid = np.atleast_1d(_check_cbler(cbler_grid))
    per, mus = [], []
    for c in grid:
        a = OptimalAllocator(cbler=float(c)).allocate(importance, sizes, grant)
        per.append(a.objective(importance, float(c)))
        mus.append(a.mu_n)
    per = np.asarray(per, dtype=np.float64)
    return Evaluation(float(per.mean()), float(np.mean(mus)), per, exact=True)


#: Allocators by name (the four of Table I).
ALLOCATORS: dict[str, type[Allocator]] = {
    "ffh": FirstFit,
    "sidh": StrictImportance,
    "cidh": CyclicImportance,
    "optimal": OptimalAllocator,
}


def get_allocator(name: str, **kwargs: Any) -> Allocator:
    """An allocator by name (``ffh``, ``sidh``, ``cidh``, ``optimal``); unknown names raise InputError.

    Example:
        >>> get_allocator("cidh").name
        'cidh'
    """
    try:
        cls = ALLOCATORS[name]
    except KeyError:
        raise InputError(f"unknown allocator {name!r}; known: {sorted(ALLOCATORS)}") from None
    return cls(**kwargs)


class AllocatingEncoder(SemanticChannelEncoder):
    """The network-side semantic-aware channel encoder C = C_enc o C_alloc.

    Allocates a frame with ``allocator`` (by its importance and sizes) and packs the payloads
    into the granted code blocks (:func:`semcom.semantics.symbols.pack_code_blocks`).

    Example:
        >>> import torch
        >>> f = SemanticFrame.from_payloads([torch.ones(4), torch.zeros(4)], importance=[1, 3])
        >>> enc = AllocatingEncoder(StrictImportance()).encode(f, CodeBlockGrant.uniform(2, 4))
        >>> enc.assignment.astype(int).tolist(), enc.bits.tolist()
        ([[0, 0], [1, 1]], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    """

    def __init__(self, allocator: Allocator, generator: Any = None) -> None:
        if not isinstance(allocator, Allocator):
            raise InputError(f"allocator must be an Allocator, got {type(allocator).__name__}")
        self.allocator = allocator
        self._rng = numpy_rng(generator)

    def encode(self, frame: SemanticFrame, grant: CodeBlockGrant) -> EncodedFrame:
        if not isinstance(frame, SemanticFrame):
            raise InputError(f"frame must be a SemanticFrame, got {type(frame).__name__}")
        a = self.allocator.allocate(frame.importance.numpy(), frame.sizes, grant, generator=self._rng)
        blocks = pack_code_blocks(frame, a, grant)
        return EncodedFrame(tuple(blocks), a.d, frame.sizes, grant, frame.index)
