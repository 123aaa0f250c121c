"""Code-block layouts belief propagation can never decode: erasure peeling against the bit-true link."""

import warnings

import numpy as np
import pytest
import torch

from semcom.errors import LinkError
from semcom.link import MCS, make_link, plan_payload
from semcom.link.decodability import _graph, bp_decodable, layout_decodable, lifting, peel

#: (Qm, R x 1024, TB payload) of the grid points `semcom link tables` could not bracket
FAILED_GRID = [(6, 822, 80), (6, 873, 80), (8, 916.5, 136), (6, 772, 40)]

#: layouts around the boundary (code-block rates 0.90-0.95, K' 40-336) and whether BP decodes them
BOUNDARY = [
    (6, 719, 40, False), (6, 772, 40, False), (6, 822, 80, False), (6, 873, 112, False), (8, 885, 112, False),
    (8, 916.5, 136, False),
    (2, 679, 24, True), (2, 679, 32, True), (6, 772, 56, True), (8, 797, 80, True), (6, 772, 80, True),
    (8, 841, 88, True), (6, 822, 96, True), (8, 841, 104, True), (6, 873, 120, True), (8, 885, 128, True),
    (6, 873, 136, True), (6, 910, 160, True), (6, 910, 176, True), (8, 885, 240, True), (8, 916.5, 272, True),
    (6, 910, 320, True),
]


def _layout(qm, r, k_tb):
    return plan_payload(k_tb, MCS.from_rate(qm, r / 1024), k_tb).tbs[0]


def _link_decodes(qm, r, k_tb, num_tb=4, **kw):
    """Whether each of ``num_tb`` random TBs passes the bit-true link at 60 dB with 50 iterations."""
    link = make_link("bittrue", mcs=MCS.from_rate(qm, r / 1024), max_tb_bits=k_tb, num_iter=50, progress=False, **kw)
    bits = torch.randint(0, 2, (num_tb, k_tb), generator=torch.Generator().manual_seed(k_tb)).float()
    return link.transmit(bits, 60.0, generator=0).tb_ok


def test_the_grid_points_that_failed_are_undecodable_and_normal_layouts_decode():
    for qm, r, k in FAILED_GRID:
        lay = _layout(qm, r, k)
        assert lay.base_graph == 2 and 0.93 <= lay.cb_size / lay.cw_lengths[0] <= 0.95
        p = peel(lay.cb_size, lay.cw_lengths[0], 2)
        assert not p.decodable and 0 < p.unresolved < 2 * p.z and not layout_decodable(lay)
    assert (_layout(6, 822, 80).cb_size, _layout(6, 822, 80).cw_lengths) == (96, (102,))
    assert (_layout(6, 772, 40).cb_size, _layout(6, 772, 40).cw_lengths) == (56, (60,))
    lay = _layout(6, 772, 80)  # the same K' = 96 at E = 108 decodes
    assert (lay.cb_size, lay.cw_lengths) == (96, (108,)) and layout_decodable(lay)
    for idx, k in [(9, 1500), (3, 300), (15, 3000), (27, 3000), (27, 400), (20, 8000)]:
        for lay in plan_payload(k, MCS.from_table(idx)).tbs:
            assert layout_decodable(lay), (idx, k)
    assert bp_decodable(8448, 8448 * 100 // 95 + 1, 1) and bp_decodable(3840, 3840 * 5, 2)


@pytest.mark.parametrize("sizes", [
    [(2, 40), (2, 96), (2, 200), (2, 600), (1, 300)],
    pytest.param([(2, 3840), (1, 1000), (1, 8448)] + [(bg, k) for bg in (1, 2) for k in range(12, 3841, 193)],
                 marks=pytest.mark.slow),
])
def test_the_graph_is_sionnas_parity_check_matrix(sizes):
    from sionna.phy.fec.ldpc import LDPC5GEncoder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for bg, k in sizes:
            enc = LDPC5GEncoder(k, 2 * k, bg=f"bg{bg}")
            z, k_ldpc, n_ldpc, chk, var = _graph(k, bg)
            pcm = enc.pcm.tocoo()
            assert (z, k_ldpc, n_ldpc) == (enc.z, enc.k_ldpc, enc.n_ldpc) == (lifting(k, bg)[0], lifting(k, bg)[2], n_ldpc)
            assert set(zip(chk.tolist(), var.tolist())) == set(zip(pcm.row.tolist(), pcm.col.tolist()))
            assert len(chk) == pcm.nnz


def _gf2_rank(m):
    m = m.copy() % 2
    rank = 0
    for c in range(m.shape[1]):
        piv = np.nonzero(m[rank:, c])[0]
        if not len(piv):
            continue
        p = rank + piv[0]
        m[[rank, p]] = m[[p, rank]]
        rows = np.nonzero(m[:, c])[0]
        rows = rows[rows != rank]
        m[rows] ^= m[rank]
        rank += 1
        if rank == m.shape[0]:
            break
    return rank


def test_the_undecodable_codes_have_full_rank_so_maximum_likelihood_decodes_them():
    from sionna.phy.fec.crc import CRCEncoder
    from sionna.phy.fec.ldpc import LDPC5GEncoder

    for qm, r, k in [(6, 822, 80), (6, 772, 40), (8, 916.5, 136)]:
        lay = _layout(qm, r, k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            enc = LDPC5GEncoder(lay.cb_size, lay.cw_lengths[0])
        u = CRCEncoder("CRC16")(torch.eye(lay.tbs))  # TB bits -> K' bits (the TB CRC is linear)
        g = enc(u).numpy().astype(np.uint8)           # [TBS, E] generator of the transmitted bits
        assert _gf2_rank(g) == lay.tbs


def test_limited_buffer_and_bad_arguments():
    z, k_ldpc, n_ldpc = lifting(96, 2)[0], lifting(96, 2)[2], 52 * lifting(96, 2)[0]
    n = n_ldpc - 2 * z
    assert peel(96, 108, 2, n_cb=n) == peel(96, 108, 2)  # the full buffer is what the link uses
    fillers = k_ldpc - 96
    assert peel(96, 108, 2, n_cb=108 + fillers) == peel(96, 108, 2)  # E fits in N_cb: nothing changes
    assert not bp_decodable(96, 108, 2, n_cb=102 + fillers)  # bits beyond N_cb are never sent
    assert bp_decodable(96, 10_000, 2)  # E beyond the buffer: every bit is sent
    assert peel(96, 102).base_graph == 2 and peel(8000, 9000).base_graph == 1
    for bad in [dict(cb_size=0, cw_length=10), dict(cb_size=96, cw_length=0), dict(cb_size=96, cw_length=102, base_graph=3),
                dict(cb_size=4000, cw_length=5000, base_graph=2), dict(cb_size=96, cw_length=102, n_cb=n + 1),
                dict(cb_size=9000, cw_length=10000, base_graph=1), dict(cb_size=96.0, cw_length=102)]:
        with pytest.raises(LinkError):
            peel(**bad)


def test_peeling_agrees_with_the_bit_true_link_at_60_db():
    for qm, r, k, expect in BOUNDARY:
        lay = _layout(qm, r, k)
        assert layout_decodable(lay) == expect, (qm, r, k)
        ok = _link_decodes(qm, r, k)
        assert bool(ok.all()) if expect else not bool(ok.any()), (qm, r, k, ok)


def _high_rate_layouts():
    """Every distinct high-rate layout (code-block rate >= 0.88) of a TB of 24..400 bits at the table MCSs."""
    from semcom.link.tables import table_rows

    seen = {}
    for qm, r in table_rows():
        for k in range(24, 401):
            lay = _layout(qm, r, k)
            key = (qm, lay.cb_size, lay.cw_lengths[0])
            if lay.cb_size / lay.cw_lengths[0] >= 0.88 and key not in seen:
                seen[key] = (qm, r, k)
    return sorted(seen.values())


@pytest.mark.slow
def test_peeling_agrees_with_the_bit_true_link_on_every_high_rate_small_layout():
    cases = _high_rate_layouts()
    assert len(cases) > 100
    for qm, r, k in cases:
        ok = _link_decodes(qm, r, k, num_tb=8)
        expect = layout_decodable(_layout(qm, r, k))
        assert bool(ok.all()) if expect else not bool(ok.any()), (qm, r, k, ok)


@pytest.mark.slow
def test_sionnas_chain_and_decoder_fail_on_the_same_layouts():
    for qm, r, k in FAILED_GRID + [(6, 772, 80)]:
        ok = _link_decodes(qm, r, k, chain="sionna", decoder="sionna")
        expect = layout_decodable(_layout(qm, r, k))
        assert bool(ok.all()) if expect else not bool(ok.any()), (qm, r, k, ok)


def test_cli_scan_writes_the_undecodable_layouts(tmp_path, capsys):
    import json

    from semcom.cli import main

    assert main(["link", "decodability", "--min-tb", "24", "--max-tb", "80", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "decodability.json").read_text())
    assert [(b["cb_size"], b["cw_length"]) for b in data["undecodable"]] == [(56, 60), (96, 102), (152, 160)]
    assert data["undecodable_tb_layouts"] == sum(u["count"] for b in data["undecodable"] for u in b["uses"])
    assert data["provenance"]["command"].startswith("semcom link decodability")
    by = {s["cb_size"]: s for s in data["by_size"]}
    assert by[96]["undecodable_cw_lengths"] == [102] and by[80]["min_undecodable_rate"] is None
    capsys.readouterr()
    for argv in (["--min-tb", "30", "--max-tb", "20"], ["--max-tb", "x"], ["--min-tb", "0"]):
        assert main(["link", "decodability", *argv, "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert "error" in err and "Traceback" not in err


@pytest.mark.slow
def test_committed_scan_is_reproduced():
    import json
    from pathlib import Path

    from semcom.experiments.link_decodability import scan

    committed = json.loads((Path(__file__).resolve().parents[2] / "results" / "link" / "decodability.json").read_text())
    new = scan(*committed["tb_payload_bits"])
    assert {k: v for k, v in committed.items() if k != "provenance"} == new
