"""Semantic frames, grants, pack/unpack of real bits with lost code blocks, the role interfaces."""

import doctest

import numpy as np
import pytest
import torch

from semcom.errors import InputError
from semcom.semantics import symbols
from semcom.semantics.allocation import AllocatingEncoder, CyclicImportance, FirstFit, OptimalAllocator
from semcom.semantics.symbols import (
    CodeBlockDecoder,
    CodeBlockGrant,
    ErrorConcealer,
    ImportanceFunction,
    SemanticExtractor,
    SemanticFrame,
    SemanticPipeline,
    Synthesizer,
    normalise_importance,
    pack_code_blocks,
    unpack_code_blocks,
)


def test_docstring_examples_run():
    failed, attempted = doctest.testmod(symbols, raise_on_error=False)
    assert attempted > 5 and failed == 0


def _random_frame(gen, sizes, index=0):
    payloads = [torch.randint(0, 2, (n,), generator=gen).float() for n in sizes]
    rho = torch.rand(len(sizes), generator=gen, dtype=torch.float64) + 0.01
    return SemanticFrame.from_payloads(payloads, rho, index=index)


# ---------------------------------------------------------------- importance and frames


def test_importance_is_normalised_per_frame():
    rho = normalise_importance([3, 1, 0, 4])
    assert rho.dtype == torch.float64
    assert torch.allclose(rho, torch.tensor([0.375, 0.125, 0.0, 0.5], dtype=torch.float64))
    assert float(rho.sum()) == pytest.approx(1.0)
    f = SemanticFrame.from_payloads([torch.ones(2)] * 4, importance=torch.tensor([1.0, 1.0, 1.0, 5.0]))
    assert float(f.importance.sum()) == pytest.approx(1.0)
    assert f.symbols[3].importance == pytest.approx(0.625)
    assert f.with_importance([1, 0, 0, 0]).importance.tolist() == [1.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "bad",
    [[0.5, -0.1, 0.6], [0.5, float("nan")], [float("inf"), 1.0], [0.0, 0.0], [[0.5, 0.5]], [], ["a", "b"]],
)
def test_bad_importance_raises_input_error(bad):
    with pytest.raises(InputError):
        normalise_importance(bad)


def test_importance_length_must_match_the_frame():
    with pytest.raises(InputError, match="3 entries for 2"):
        SemanticFrame.from_payloads([torch.ones(2)] * 2, importance=[1, 2, 3])


@pytest.mark.parametrize(
    "payloads",
    [
        [torch.tensor([0.0, 2.0])],  # not a bit
        [torch.tensor([0.0, float("nan")])],
        [torch.zeros(2, 2)],  # not 1-D
        [torch.zeros(0)],  # empty symbol
        [],
    ],
)
def test_bad_payloads_raise_input_error(payloads):
    with pytest.raises(InputError):
        SemanticFrame.from_payloads(payloads)


# ---------------------------------------------------------------- grants


def test_grant_ranges_split_and_concatenate_roundtrip():
    g = CodeBlockGrant((5, 3, 8))
    assert g.n_blocks == 3 and g.total_bits == 16
    assert g.ranges == ((0, 5), (5, 8), (8, 16))
    bits = torch.randint(0, 2, (16,), generator=torch.Generator().manual_seed(0)).float()
    blocks = g.split(bits)
    assert [b.numel() for b in blocks] == [5, 3, 8]
    assert torch.equal(g.concatenate(blocks), bits)
    with pytest.raises(InputError):
        g.split(bits[:-1])


@pytest.mark.parametrize("caps", [(), (0,), (0, 0), (4, -1), (2.5,), (True,), 7, (float("nan"),), ("8",)])
def test_bad_grants_raise_input_error(caps):
    with pytest.raises(InputError):
        CodeBlockGrant(caps)


def test_uniform_grant_and_integral_floats():
    assert CodeBlockGrant.uniform(3, 40).capacities == (40, 40, 40)
    assert CodeBlockGrant((8.0, 16)).capacities == (8, 16)
    with pytest.raises(InputError):
        CodeBlockGrant.uniform(0, 40)


# ---------------------------------------------------------------- pack / unpack


def test_pack_layout_is_concatenation_in_index_order_with_zero_padding():
    f = SemanticFrame.from_payloads([torch.tensor([1.0, 1.0, 0.0]), torch.tensor([0.0, 1.0]), torch.tensor([1.0])])
    blocks = pack_code_blocks(f, [[1, 0], [1, 1], [0, 1]], CodeBlockGrant((6, 4)))
    assert blocks[0].tolist() == [1, 1, 0, 0, 1, 0]
    assert blocks[1].tolist() == [0, 1, 1, 0]
    assert all(b.dtype == torch.float32 for b in blocks)


def test_pack_refuses_overload_and_bad_allocations():
    f = SemanticFrame.from_payloads([torch.ones(4), torch.ones(4)])
    g = CodeBlockGrant((6, 8))
    with pytest.raises(InputError, match="Eq. 2"):
        pack_code_blocks(f, [[1, 1], [1, 1]], g)
    with pytest.raises(InputError, match=r"\[N, K\]"):
        pack_code_blocks(f, [[1, 1, 0], [0, 1, 1]], g)
    with pytest.raises(InputError, match="0 or 1"):
        pack_code_blocks(f, [[2, 0], [0, 1]], g)
    with pytest.raises(InputError):
        pack_code_blocks("frame", [[1, 0], [0, 1]], g)


@pytest.mark.parametrize("seed", range(12))
def test_unpack_recovers_exact_survivors_and_reports_lost_symbols(seed):
    gen = torch.Generator().manual_seed(seed)
    rs = np.random.default_rng(seed)
    n = int(rs.integers(3, 9))
    sizes = rs.integers(4, 40, size=n).tolist()
    grant = CodeBlockGrant(tuple(int(c) for c in rs.integers(max(sizes), 2 * max(sizes) + 1, size=int(rs.integers(2, 6)))))
    frame = _random_frame(gen, sizes)
    allocator = [CyclicImportance(), FirstFit(), OptimalAllocator(cbler=0.3)][seed % 3]
    alloc = allocator.allocate(frame.importance, sizes, grant, generator=seed)
    blocks = pack_code_blocks(frame, alloc, grant)
    rx = grant.split(grant.concatenate(blocks))
    ok = rs.random(grant.n_blocks) < 0.5
    # corrupt every failed block: a decoder that read one would return wrong bits
    rx = [b if good else 1.0 - b for b, good in zip(rx, ok)]
    got = unpack_code_blocks(rx, torch.as_tensor(ok), alloc, sizes, grant)
    expected_rx = {i for i in range(n) if (alloc.d[i] & ok).any()}
    assert set(got.payloads) == expected_rx
    assert got.missing == tuple(i for i in range(n) if i not in expected_rx)
    for i in expected_rx:
        assert torch.equal(got.payloads[i], frame.payloads[i])
    assert got.mask.tolist() == [i in expected_rx for i in range(n)]


def test_duplicated_symbol_survives_when_one_copy_is_lost():
    f = SemanticFrame.from_payloads([torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0.0, 1.0, 1.0])])
    g = CodeBlockGrant((6, 3))
    d = [[1, 1], [1, 0]]
    blocks = pack_code_blocks(f, d, g)
    got = unpack_code_blocks(blocks, [False, True], d, f.sizes, g)
    assert got.received == (0,) and got.missing == (1,)
    assert got.payloads[0].tolist() == [1.0, 0.0, 1.0]
    none = unpack_code_blocks(blocks, [0, 0], d, f.sizes, g)
    assert none.payloads == {} and none.missing == (0, 1)


def test_unpack_rejects_bad_flags_and_blocks():
    f = SemanticFrame.from_payloads([torch.ones(2)] * 2)
    g = CodeBlockGrant((4, 4))
    blocks = pack_code_blocks(f, [[1, 0], [0, 1]], g)
    with pytest.raises(InputError):
        unpack_code_blocks(blocks, [True], [[1, 0], [0, 1]], f.sizes, g)
    with pytest.raises(InputError):
        unpack_code_blocks(blocks, [2, 0], [[1, 0], [0, 1]], f.sizes, g)
    with pytest.raises(InputError):
        unpack_code_blocks(blocks[:1], [1, 1], [[1, 0], [0, 1]], f.sizes, g)
    with pytest.raises(InputError):
        unpack_code_blocks([torch.ones(3), torch.ones(4)], [1, 1], [[1, 0], [0, 1]], f.sizes, g)
    with pytest.raises(InputError):
        unpack_code_blocks(blocks, [1, 1], [[1, 0], [0, 1]], (2, -2), g)
    with pytest.raises(InputError, match="Eq. 2"):
        unpack_code_blocks(blocks, [1, 1], [[1, 1], [1, 1]], (3, 3), g)


@pytest.mark.parametrize("sizes", [(True, 2), (2, np.True_)])
def test_unpack_refuses_boolean_sizes(sizes):
    """``(True, 2)`` used to be read as sizes ``(1, 2)``; found by ``semcom fuzz``."""
    f = SemanticFrame.from_payloads([torch.ones(2)] * 2)
    g = CodeBlockGrant((4, 4))
    blocks = pack_code_blocks(f, [[1, 0], [0, 1]], g)
    with pytest.raises(InputError, match="booleans"):
        unpack_code_blocks(blocks, [1, 1], [[1, 0], [0, 1]], sizes, g)


# ---------------------------------------------------------------- the six roles


def test_role_interfaces_are_abstract():
    for cls in (SemanticExtractor, ImportanceFunction, ErrorConcealer, Synthesizer):
        with pytest.raises(TypeError):
            cls()


class _BitsExtractor(SemanticExtractor):
    def extract(self, source, index=0):
        return SemanticFrame.from_payloads(list(source), index=index)


class _Decreasing(ImportanceFunction):
    def importance(self, frame, source=None):
        return torch.arange(frame.n_symbols, 0, -1, dtype=torch.float64)


class _HoldLast(ErrorConcealer):
    """Missing symbols take their value in the previous concealed frame (zeros at the start)."""

    def __init__(self):
        self.calls = []

    def conceal(self, history, received):
        self.calls.append((len(history), received.missing))
        prev = history[-1].payloads if history else [torch.zeros(n) for n in received.sizes]
        return SemanticFrame.from_payloads([received.payloads.get(i, prev[i]) for i in range(received.n_symbols)],
                                           index=received.frame_index)


class _Stack(Synthesizer):
    def synthesize(self, frame):
        return torch.stack(list(frame.payloads))


def test_pipeline_with_erasures_conceals_from_history():
    gen = torch.Generator().manual_seed(3)
    concealer = _HoldLast()
    pipe = SemanticPipeline(_BitsExtractor(), _Decreasing(), AllocatingEncoder(CyclicImportance()),
                            CodeBlockDecoder(), concealer, _Stack(), history_length=2)
    grant = CodeBlockGrant.uniform(3, 16)  # 3 blocks x 2 symbols of 8 bits: 6 slots for 5 symbols
    sources = [torch.randint(0, 2, (5, 8), generator=gen).float() for _ in range(3)]
    patterns = iter([[True, True, True], [False, True, True], [False, False, False]])

    def channel(bits, g):
        ok = torch.tensor(next(patterns))
        return bits, ok

    out0 = pipe.step(sources[0], grant, channel)
    assert torch.equal(out0, sources[0])
    out1 = pipe.step(sources[1], grant, channel)
    # CIDH: block 0 = symbols {0, 1}, block 1 = {2, 3}, block 2 = {4, 0}; block 0 lost -> symbol 1 missing
    assert concealer.calls[1] == (1, (1,))
    assert torch.equal(out1[[0, 2, 3, 4]], sources[1][[0, 2, 3, 4]])
    assert torch.equal(out1[1], sources[0][1])
    out2 = pipe.step(sources[2], grant, channel)
    assert concealer.calls[2] == (2, (0, 1, 2, 3, 4))
    assert torch.equal(out2, out1)
    assert len(pipe.history) == 2 and pipe.frame_count == 3


def test_grant_from_link_ranges():
    assert CodeBlockGrant.from_ranges([(0, 10), (10, 10), (10, 25)]).capacities == (10, 0, 15)
    for bad in ([(1, 10)], [(0, 10), (12, 20)], [(0, 10), (10, 5)], [(0,)], "ab"):
        with pytest.raises(InputError):
            CodeBlockGrant.from_ranges(bad)


@pytest.mark.parametrize("seed", range(3))
def test_pack_transmit_unpack_over_the_erasure_link(seed):
    """Real bits through semcom.link's code-block erasure channel: lost blocks come back as random bits."""
    link_mod = pytest.importorskip("semcom.link")
    if not hasattr(link_mod, "make_link"):
        pytest.skip("semcom.link.make_link is not available in this checkout")
    link = link_mod.make_link("erasure", mcs=9, cbler=0.5)
    probe = link.transmit(torch.zeros(12000), snr_db=0.0, generator=seed)
    grant = CodeBlockGrant.from_ranges(probe.cb_ranges)
    assert grant.n_blocks >= 2 and grant.total_bits == 12000
    gen = torch.Generator().manual_seed(seed)
    sizes = [int(s) for s in torch.randint(200, 1200, (24,), generator=gen)]
    frame = _random_frame(gen, sizes)
    enc = AllocatingEncoder(OptimalAllocator(cbler=0.5)).encode(frame, grant)
    res = link.transmit(enc.bits, snr_db=0.0, generator=seed + 10)
    assert res.cb_ranges == probe.cb_ranges
    got = CodeBlockDecoder().decode(grant.split(res.bits), res.cb_ok, enc)
    ok = res.cb_ok.numpy()
    for i in range(len(sizes)):
        if (enc.assignment[i] & ok).any():
            assert torch.equal(got.payloads[i], frame.payloads[i])
        else:
            assert i in got.missing
