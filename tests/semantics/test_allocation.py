"""prt allocation: Eq. 1 objective, FFH/SIDH/CIDH constraints, optimality against brute force."""

import doctest
import itertools

import numpy as np
import pytest
import torch

from semcom.errors import InputError
from semcom.semantics import allocation
from semcom.semantics.allocation import (
    CBLER_GRID,
    AllocatingEncoder,
    Allocation,
    CyclicImportance,
    FirstFit,
    OptimalAllocator,
    StrictImportance,
    copy_gains,
    expected_objective,
    get_allocator,
    objective,
    oracle_optimal,
    reception_probability,
)
from semcom.semantics.symbols import CodeBlockDecoder, CodeBlockGrant, SemanticFrame

HEURISTICS = [FirstFit(), StrictImportance(), CyclicImportance()]


def test_docstring_examples_run():
    failed, attempted = doctest.testmod(allocation, raise_on_error=False)
    assert attempted > 10 and failed == 0


# ---------------------------------------------------------------- objective (Eq. 1)


def test_objective_matches_eq1_by_hand():
    rho = [0.5, 0.3, 0.2]
    # p = 1 - c^D: D = (2, 1, 0) at c = 0.4 -> (0.84, 0.6, 0)
    assert objective(rho, [2, 1, 0], 0.4) == pytest.approx(0.5 * 0.84 + 0.3 * 0.6)
    assert objective(rho, [1, 1, 1], 0.0) == pytest.approx(1.0)
    assert objective(rho, [3, 3, 3], 1.0) == pytest.approx(0.0)
    assert objective(rho, [0, 0, 0], 0.0) == 0.0  # never sent: p = 0 even on a perfect channel
    w = objective(rho, [2, 1, 0], [0.0, 0.4, 1.0])
    assert w.shape == (3,) and w[1] == pytest.approx(0.6)
    # importance is normalised: scaling it changes nothing
    assert objective([5, 3, 2], [2, 1, 0], 0.4) == pytest.approx(objective(rho, [2, 1, 0], 0.4))
    assert reception_probability([0, 1, 3], [0.5]).shape == (1, 3)


def test_grid_average_and_copy_gains():
    assert np.allclose(CBLER_GRID, np.arange(11) / 10)
    # mean_c (1 - c^D) over the 11-point grid: 1 - sum k^D / (10^D * 11)
    for d, s in [(1, 55), (2, 385), (3, 3025), (5, 220825)]:
        assert expected_objective([1.0], [d]) == pytest.approx(1 - s / 10**d / 11)
    g = copy_gains(5)
    assert np.allclose(g[:3], [0.5, 0.15, 0.075])
    assert np.all(np.diff(g) <= 0)  # concave in D
    assert copy_gains(3, 0.5).tolist() == [0.5, 0.25, 0.125]
    assert np.cumsum(copy_gains(4, 0.3))[-1] == pytest.approx(1 - 0.3**4)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), [[0.1]], []])
def test_bad_cbler_raises(bad):
    with pytest.raises(InputError):
        objective([1.0], [1], bad)


@pytest.mark.parametrize("bad_rho", [[0.5, -0.5, 1.0], [float("nan"), 0.5, 0.5], [0, 0, 0]])
def test_bad_importance_raises_for_objective_and_allocators(bad_rho):
    with pytest.raises(InputError):
        objective(bad_rho, [1, 1, 1], 0.5)
    for a in HEURISTICS + [OptimalAllocator()]:
        with pytest.raises(InputError):
            a.allocate(bad_rho, [8, 8, 8], CodeBlockGrant.uniform(2, 16))


def test_bad_duplications_raise():
    for bad in ([1, -1], [1.5, 1], [[1, 1]], [float("nan"), 1]):
        with pytest.raises(InputError):
            objective([0.5, 0.5], bad, 0.5)


def test_symbol_larger_than_every_block_raises():
    for a in HEURISTICS + [OptimalAllocator()]:
        with pytest.raises(InputError, match="exceed the largest code block"):
            a.allocate([0.5, 0.5], [8, 40], CodeBlockGrant((16, 32)))


def test_bad_sizes_and_arguments_raise():
    g = CodeBlockGrant.uniform(2, 16)
    for sizes in ([8, 0], [8, -4], [8, 2.5], [8]):
        with pytest.raises(InputError):
            CyclicImportance().allocate([0.5, 0.5], sizes, g)
    with pytest.raises(InputError):
        get_allocator("best")
    with pytest.raises(InputError):
        OptimalAllocator(coverage="maybe")
    with pytest.raises(InputError):
        OptimalAllocator(cbler=2.0)
    with pytest.raises(InputError):
        OptimalAllocator(method="greedy").allocate([0.5, 0.5], [8, 4], g)  # greedy not exact here


# ---------------------------------------------------------------- allocation type


def test_allocation_reports_constraint_violations():
    g = CodeBlockGrant((8, 8))
    a = Allocation(np.array([[1, 1], [1, 0], [0, 0]]), (8, 4, 4), g)
    assert a.duplications.tolist() == [2, 1, 0]
    assert a.loads.tolist() == [12, 8]
    assert a.violations() == {"eq2": [0], "eq3": [2], "eq4": []}
    assert a.block_symbols(0) == (0, 1) and a.mu_n == 2
    with pytest.raises(ValueError):
        a.d[0, 0] = False  # immutable
    with pytest.raises(InputError):
        Allocation(np.ones((3, 3)), (8, 4, 4), g)


# ---------------------------------------------------------------- heuristics


def _random_instance(rs, n_range=(3, 11), k_range=(1, 6), equal=False):
    n = int(rs.integers(*n_range))
    k = int(rs.integers(*k_range))
    if equal:
        bits = int(rs.integers(8, 64))
        sizes = [bits] * n
        grant = CodeBlockGrant.uniform(k, bits * int(rs.integers(1, n + 1)))
    else:
        sizes = rs.integers(8, 64, size=n).tolist()
        grant = CodeBlockGrant(tuple(int(c) for c in rs.integers(max(sizes), 4 * max(sizes), size=k)))
    rho = rs.dirichlet(np.ones(n))
    return rho, sizes, grant


@pytest.mark.parametrize("seed", range(25))
def test_heuristics_respect_their_constraints(seed):
    rs = np.random.default_rng(seed)
    rho, sizes, grant = _random_instance(rs)
    frame_fits_in_a_block = sum(sizes) <= max(grant.capacities)
    for a in HEURISTICS + [OptimalAllocator(cbler=float(rs.random()))]:
        al = a.allocate(rho, sizes, grant, generator=seed)
        v = al.violations()
        assert v["eq2"] == [], a.name  # no block overloaded
        assert al.d.dtype == bool  # Eq. 4
        if a.name == "sidh":
            # the documented violation: SIDH leaves low-importance symbols unsent (Eq. 3)
            if not frame_fits_in_a_block and len(set(sizes)) == 1:
                # the documented violation: SIDH leaves the least important symbols unsent (Eq. 3)
                m = min(grant.capacities) // sizes[0]
                unsent = al.violations()["eq3"]
                assert len(unsent) >= len(sizes) - max(grant.capacities) // sizes[0] > 0
                sent = np.flatnonzero(al.duplications)
                assert rho[sent].min() >= rho[unsent].max() - 1e-12 and al.mu_n >= m
            assert (al.d == al.d[:, [0]]).all() or len(set(grant.capacities)) > 1
        # no block could take one more of its absent symbols (first-fit leaves no usable room)
        if a.name in ("ffh", "sidh"):
            room = np.asarray(grant.capacities) - al.loads
            for j in range(grant.n_blocks):
                absent = [sizes[i] for i in range(len(sizes)) if not al.d[i, j]]
                assert not absent or min(absent) > room[j]


def test_sidh_sends_the_top_m_in_every_block_and_violates_eq3():
    rho = [0.05, 0.3, 0.1, 0.25, 0.2, 0.1]
    al = StrictImportance().allocate(rho, [8] * 6, CodeBlockGrant.uniform(3, 24))
    for j in range(3):
        assert al.block_symbols(j) == (1, 3, 4)
    assert al.mu_n == 3 and al.violations()["eq3"] == [0, 2, 5]


@pytest.mark.parametrize("k,m", [(1, 2), (3, 2), (5, 2), (3, 4), (5, 4), (3, 9), (5, 9), (2, 10)])
def test_cidh_covers_every_symbol_before_duplicating(k, m):
    rho = np.linspace(1.0, 0.1, 10)
    al = CyclicImportance().allocate(rho, [16] * 10, CodeBlockGrant.uniform(k, 16 * m))
    assert al.mu_n == min(k * m, 10)
    dup = al.duplications
    assert dup.sum() == min(k * m, 10 * k)
    assert np.all(np.diff(dup) <= 0)  # more important symbols get at least as many copies
    assert dup.max() - dup.min() <= 1
    if k * m >= 10:
        assert al.violations()["eq3"] == []


def test_cidh_unequal_sizes_still_covers_when_room_allows():
    rho = [0.4, 0.3, 0.2, 0.1]
    al = CyclicImportance().allocate(rho, [30, 10, 20, 10], CodeBlockGrant((40, 40)))
    assert al.violations() == {"eq2": [], "eq3": [], "eq4": []}


def test_ffh_is_seeded_and_importance_blind():
    rho, sizes, g = [0.7, 0.1, 0.1, 0.05, 0.05], [8] * 5, CodeBlockGrant.uniform(4, 16)
    a1 = FirstFit().allocate(rho, sizes, g, generator=7)
    a2 = FirstFit().allocate(rho, sizes, g, generator=7)
    assert np.array_equal(a1.d, a2.d)
    assert (a1.d.sum(axis=0) == 2).all()  # each block: m = 2 distinct symbols
    assert np.array_equal(a1.d, FirstFit().allocate(rho[::-1], sizes, g, generator=7).d)  # ignores rho
    a3 = FirstFit().allocate(rho, sizes, g, generator=torch.Generator().manual_seed(1))
    assert a3.d.sum() == 8
    draws = [FirstFit().allocate(rho, sizes, g, generator=s).d for s in range(8)]
    assert len({d.tobytes() for d in draws}) > 1


def test_ffh_inclusion_is_uniform_and_matches_the_exact_expectation():
    """Statistics: 4000 frames, inclusion rate per (symbol, block) 0.2 +- 0.03 (> 4 sigma)."""
    rho, sizes, g = np.linspace(1, 0.1, 10), [8] * 10, CodeBlockGrant.uniform(3, 16)
    rng = np.random.default_rng(5)
    ds = np.stack([FirstFit().allocate(rho, sizes, g, generator=rng).d for _ in range(4000)])
    assert np.abs(ds.mean(axis=0) - 0.2).max() < 0.03
    exact = FirstFit().evaluate(rho, sizes, g)
    assert exact.exact
    assert exact.w_rho == pytest.approx(np.mean(1 - (1 - 0.2 * (1 - CBLER_GRID)) ** 3))
    assert exact.mu_n == pytest.approx(10 * (1 - 0.8**3))
    w_mc = np.mean([Allocation(d, tuple(sizes), g).expected_objective(rho) for d in ds])
    assert w_mc == pytest.approx(exact.w_rho, abs=0.01)
    assert ds.any(axis=2).sum(axis=1).mean() == pytest.approx(exact.mu_n, abs=0.1)


def test_ffh_monte_carlo_for_unequal_sizes_is_seeded():
    rho, sizes, g = [0.4, 0.3, 0.2, 0.1], [8, 16, 8, 24], CodeBlockGrant((32, 24))
    e1 = FirstFit().evaluate(rho, sizes, g, draws=300, generator=3)
    e2 = FirstFit().evaluate(rho, sizes, g, draws=300, generator=3)
    assert not e1.exact and e1.w_rho == e2.w_rho and 0 < e1.w_rho < 0.5
    with pytest.raises(InputError):
        FirstFit().evaluate(rho, sizes, g, draws=0)


# ---------------------------------------------------------------- optimal allocator


def _brute_force(rho, sizes, grant, cbler, cover=False):
    """Best Eq. 1 over all 2^(N K) decision matrices satisfying Eq. 2 (and Eq. 3 when ``cover``)."""
    n, k = len(sizes), grant.n_blocks
    mats = np.array(list(itertools.product([0, 1], repeat=n * k)), dtype=np.int64).reshape(-1, n, k)
    loads = np.einsum("i,mij->mj", np.asarray(sizes), mats)
    ok = (loads <= np.asarray(grant.capacities)).all(axis=1)
    dup = mats.sum(axis=2)
    if cover:
        ok &= (dup >= 1).all(axis=1)
    c = np.atleast_1d(cbler)
    e_pow = np.mean(np.power(c[:, None, None], dup[None]), axis=0)  # [M, N]
    w = (1 - e_pow) @ (np.asarray(rho) / np.sum(rho))
    return float(w[ok].max()) if ok.any() else None


@pytest.mark.parametrize("seed", range(30))
def test_optimal_equals_brute_force_on_small_cases(seed):
    rs = np.random.default_rng(100 + seed)
    n, k = int(rs.integers(2, 5)), int(rs.integers(1, 4))
    if n * k > 12:
        k = 12 // n
    sizes = rs.integers(4, 20, size=n).tolist()
    grant = CodeBlockGrant(tuple(int(c) for c in rs.integers(max(sizes), 2 * sum(sizes) // 2 + max(sizes), size=k)))
    rho = rs.dirichlet(np.ones(n) * 0.7)
    cbler = None if seed % 3 == 0 else (float(rs.random()) if seed % 3 == 1 else rs.random(4))
    grid = CBLER_GRID if cbler is None else cbler
    best = _brute_force(rho, sizes, grant, grid)
    al = OptimalAllocator(cbler=cbler, method="milp").allocate(rho, sizes, grant)
    assert al.violations()["eq2"] == []
    got = float(np.mean(np.atleast_1d(al.objective(rho, grid))))
    assert got == pytest.approx(best, abs=1e-9)
    # Eq. 3 enforced: equal to the brute force over covering allocations, or infeasible
    best_cov = _brute_force(rho, sizes, grant, grid, cover=True)
    if best_cov is None:
        with pytest.raises(InputError, match="Eq. 3"):
            OptimalAllocator(cbler=cbler, coverage="hard").allocate(rho, sizes, grant)
    else:
        hard = OptimalAllocator(cbler=cbler, coverage="hard").allocate(rho, sizes, grant)
        assert hard.violations() == {"eq2": [], "eq3": [], "eq4": []}
        assert float(np.mean(np.atleast_1d(hard.objective(rho, grid)))) == pytest.approx(best_cov, abs=1e-9)


@pytest.mark.parametrize("seed", range(20))
def test_greedy_equals_milp_for_equal_sizes(seed):
    rs = np.random.default_rng(200 + seed)
    rho, sizes, grant = _random_instance(rs, equal=True)
    cbler = None if seed % 2 else float(rs.random())
    for coverage in ("soft", "hard"):
        if coverage == "hard" and grant.n_blocks * (grant.capacities[0] // sizes[0]) < len(sizes):
            continue
        g = OptimalAllocator(cbler=cbler, coverage=coverage, method="greedy").allocate(rho, sizes, grant)
        m = OptimalAllocator(cbler=cbler, coverage=coverage, method="milp").allocate(rho, sizes, grant)
        assert g.violations()["eq2"] == []
        grid = CBLER_GRID if cbler is None else cbler
        assert g.expected_objective(rho, np.atleast_1d(grid)) == pytest.approx(
            m.expected_objective(rho, np.atleast_1d(grid)), abs=1e-9)
        assert g.mu_n == m.mu_n  # both break ties towards more distinct symbols


@pytest.mark.parametrize("seed", range(25))
def test_optimal_never_scores_below_the_heuristics(seed):
    rs = np.random.default_rng(300 + seed)
    rho, sizes, grant = _random_instance(rs, equal=seed % 2 == 0)
    for cbler in (None, float(rs.random())):
        grid = np.atleast_1d(CBLER_GRID if cbler is None else cbler)
        opt = OptimalAllocator(cbler=cbler).evaluate(rho, sizes, grant, grid)
        for h in HEURISTICS:
            ev = h.evaluate(rho, sizes, grant, grid, **({"draws": 200, "generator": seed} if h.name == "ffh" else {}))
            assert opt.w_rho >= ev.w_rho - 1e-12, (h.name, cbler)
            if h.name == "ffh":  # also every single FFH draw
                for s in range(5):
                    d = h.allocate(rho, sizes, grant, generator=s)
                    assert opt.w_rho >= d.expected_objective(rho, grid) - 1e-12
        assert oracle_optimal(rho, sizes, grant, grid).w_rho >= opt.w_rho - 1e-12


def test_optimal_prefers_redundancy_at_high_loss_and_coverage_at_low_loss():
    rho, sizes, g = [0.6, 0.3, 0.1], [8] * 3, CodeBlockGrant.uniform(2, 16)
    assert OptimalAllocator(cbler=0.9).allocate(rho, sizes, g).duplications.tolist() == [2, 2, 0]
    assert OptimalAllocator(cbler=0.1).allocate(rho, sizes, g).duplications.tolist() == [2, 1, 1]
    # CBLER = 1: every allocation scores 0; the tie-break still sends every symbol
    assert OptimalAllocator(cbler=1.0).allocate(rho, sizes, g).mu_n == 3
    assert OptimalAllocator(cbler=1.0, method="milp").allocate(rho, sizes, g).mu_n == 3


def test_allocating_encoder_and_decoder_roundtrip_real_bits():
    gen = torch.Generator().manual_seed(11)
    sizes = [24, 8, 16, 40, 8]
    frame = SemanticFrame.from_payloads([torch.randint(0, 2, (n,), generator=gen).float() for n in sizes],
                                        importance=[5, 1, 3, 4, 2])
    grant = CodeBlockGrant((48, 48, 48))
    for alloc in HEURISTICS + [OptimalAllocator(cbler=0.5)]:
        enc = AllocatingEncoder(alloc, generator=1).encode(frame, grant)
        assert enc.bits.shape == (144,)
        for ok in itertools.product([False, True], repeat=3):
            rx = CodeBlockDecoder().decode(list(enc.blocks), list(ok), enc)
            for i in range(len(sizes)):
                if (enc.assignment[i] & np.array(ok)).any():
                    assert torch.equal(rx.payloads[i], frame.payloads[i])
                else:
                    assert i in rx.missing
    with pytest.raises(InputError):
        AllocatingEncoder("cidh")
