"""semcom's BLER tables: fitting, adaptive measurement, grid layouts, lookup, the table link, the CLI."""

import json
import math
import warnings

import numpy as np
import pytest
import torch

from semcom.errors import LinkError
from semcom.link import BLERTableLink, MCS, bler_table_lookup
from semcom.link.tables import (
    FORMAT, SIZE_TARGETS, TABLE_FILE, Z10, BLERTables, fit_probit, grid_tb, load_tables, measure_curve, table_rows,
)


class ProbitSimulator:
    """A code-block simulator with a known curve: BLER(x) = Q((x - mu) / sigma) (binomial draws)."""

    def __init__(self, mu, sigma, cb_size=1000):
        from semcom.link.layout import TBLayout

        self.mu, self.sigma = mu, sigma
        self.lay = TBLayout(cb_size - 16, 1000, 2000, 16, 1, cb_size, 0, (2000,), 2)
        self.calls = []

    def layout(self, mcs, k_tb):
        return self.lay

    def run(self, mcs, k_tb, snr_db, num_cb, generator):
        p = 0.5 * math.erfc((snr_db - self.mu) / (self.sigma * math.sqrt(2)))
        e = int(torch.binomial(torch.tensor(float(num_cb)), torch.tensor(p), generator=generator))
        self.calls.append((snr_db, num_cb, e))
        return num_cb, e

    def describe(self):
        return {"simulator": "probit"}


def test_fit_probit_recovers_a_known_curve():
    rng = np.random.default_rng(0)
    mu, sigma = 2.0, 0.3
    x = np.linspace(1.6, 2.8, 7)
    p = 0.5 * np.array([math.erfc((v - mu) / (sigma * math.sqrt(2))) for v in x])
    pts = [(float(v), 400, int(rng.binomial(400, q))) for v, q in zip(x, p)]
    fit = fit_probit(pts)
    assert abs(fit.x10 - (mu + Z10 * sigma)) < 4 * fit.se10
    assert 0.001 < fit.se10 < 0.1
    assert fit.sigma == pytest.approx(sigma, rel=0.3)
    assert fit.bler([fit.x10])[0] == pytest.approx(0.1, abs=1e-9)


def test_fit_probit_without_waterfall_points_has_no_standard_error():
    fit = fit_probit([(0.0, 50, 50), (5.0, 50, 0)])
    assert not math.isfinite(fit.se10)
    with pytest.raises(LinkError):
        fit_probit([])


def test_fit_probit_standard_error_matches_the_spread():
    # the Fisher standard error describes the scatter of x10 over repeated experiments
    mu, sigma = 0.0, 0.5
    x = np.array([0.3, 0.6, 0.9, 1.2])
    p = 0.5 * np.array([math.erfc((v - mu) / (sigma * math.sqrt(2))) for v in x])
    rng = np.random.default_rng(1)
    est, ses = [], []
    for _ in range(60):
        fit = fit_probit([(float(v), 300, int(rng.binomial(300, q))) for v, q in zip(x, p)])
        est.append(fit.x10)
        ses.append(fit.se10)
    assert np.std(est) == pytest.approx(np.mean(ses), rel=0.35)


def test_measure_curve_finds_the_10_percent_point_and_spends_effort_there():
    sim = ProbitSimulator(mu=4.0, sigma=0.25)
    out = measure_curve(sim, MCS.from_table(9), 984, seed=3, se_target=0.025, min_errors=60)
    x10 = 4.0 + Z10 * 0.25
    assert out["converged"] and out["se10"] <= 0.025
    assert abs(out["snr10"] - x10) < 4 * out["se10"]
    assert out["num_cbs"] == sum(n for _, n, _ in out["points"])
    near = sum(n for s, n, _ in out["points"] if abs(s - x10) < 2 * 0.25)
    assert near > 0.7 * out["num_cbs"]
    # a batch stops early once it has enough errors: no single call draws more than ~150 / 3 % blocks
    assert max(n for _, n, _ in sim.calls) <= math.ceil(150 / 0.03)
    # same seed -> same curve
    again = measure_curve(ProbitSimulator(mu=4.0, sigma=0.25), MCS.from_table(9), 984, seed=3)
    assert again["points"] == out["points"]


def test_measure_curve_respects_the_budget():
    sim = ProbitSimulator(mu=-1.0, sigma=2.0, cb_size=40)
    out = measure_curve(sim, MCS.from_table(9), 24, seed=0, se_target=0.001, max_cbs=3000)
    assert not out["converged"]
    assert out["num_cbs"] < 3000 + 4 * 750  # the last batch may straddle the budget by at most a batch


def test_grid_layouts_cover_the_sizes_the_link_uses():
    from semcom.link.layout import plan_payload

    m = MCS.from_rate(2, 526 / 1024)
    k, lay = grid_tb(m, 8448)
    assert lay.num_cb == 2 and abs(lay.cb_size - 8448) < 250  # TBS steps of 2 x 128 bits there
    assert plan_payload(k, m, k).tbs[0] == lay
    k, lay = grid_tb(m, 1000)
    assert lay.num_cb == 1 and abs(lay.cb_size - 1000) < 30
    # low rates: code blocks stop at 3840 bits (base graph 2)
    _, lay = grid_tb(MCS.from_table(3), 8448)
    assert lay.cb_size <= 3840 and lay.base_graph == 2
    rows = table_rows()
    assert len(rows) == 37 and (2, 120) in rows and (2, 193) in rows and (8, 682.5) in rows  # every row


def _synthetic(curves):
    return BLERTables({"format": FORMAT, "curves": [
        {"qm": q, "r1024": r, "cb_size": k, "base_graph": bg, "mu": mu, "sigma": s} for q, r, k, bg, mu, s in curves]})


def test_lookup_interpolates_in_size_and_rate_and_clamps():
    t = _synthetic([(2, 449, 100, 2, 2.0, 1.0), (2, 449, 1000, 2, 1.0, 0.3),
                    (2, 526, 100, 2, 3.0, 1.0), (2, 526, 1000, 2, 2.0, 0.3)])
    m = MCS.from_table(6)  # (2, 449)
    k = np.array([100, 1000, np.sqrt(100 * 1000), 20, 5000])
    mu, sigma = t.params(m, k, base_graph=2, cw_length=k * 1024 / 449)  # at the rows' own code rate
    assert mu.tolist() == pytest.approx([2.0, 1.0, 1.5, 2.0, 1.0])
    assert sigma.tolist() == pytest.approx([1.0, 0.3, 0.65, 1.0, 0.3])
    # a rate between two rows: linear in the rate
    half = MCS.from_rate(2, (449 + 526) / 2 / 1024)
    assert t.params(half, [1000], base_graph=2, cw_length=1000 / half.code_rate)[0][0] == pytest.approx(1.5)
    # below the lowest row: the lowest row
    assert t.params(MCS.from_rate(2, 0.3), [1000], base_graph=2, cw_length=1000 / 0.3)[0][0] == pytest.approx(1.0)
    # BLER: 10 % at mu + Z10 sigma, monotone, in [0, 1]
    x = np.linspace(-10, 10, 201)
    e = 1000 * 1024 / 449
    p = t.bler(m, 1000, x, 2, e)
    assert np.all(np.diff(p) <= 0) and p[0] == pytest.approx(1.0) and p[-1] == pytest.approx(0.0)
    assert t.snr_at(m, 1000, base_graph=2, cw_length=e) == pytest.approx(1.0 + Z10 * 0.3)
    assert t.bler(m, 1000, t.snr_at(m, 1000, 0.3, 2, e), 2, e)[()] == pytest.approx(0.3)


def test_lookup_by_the_code_blocks_own_rate():
    # rows measured at code-block rates 0.45 and 0.55 (E = 2222 and 1818 bits for K' = 1000)
    t = BLERTables({"format": FORMAT, "curves": [
        {"qm": 2, "r1024": 449, "cb_size": 1000, "base_graph": 2, "mu": 1.0, "sigma": 0.3, "cw_lengths": [2222]},
        {"qm": 2, "r1024": 526, "cb_size": 1000, "base_graph": 2, "mu": 2.0, "sigma": 0.3, "cw_lengths": [1818]}]})
    m = MCS.from_table(6)
    assert t.params(m, [1000], 2, cw_length=[2222])[0][0] == pytest.approx(1.0)  # the row's own code rate
    assert t.params(m, [1000], 2, cw_length=[2000])[0][0] == pytest.approx(1.5, abs=0.01)  # K'/E = 0.5: halfway
    assert t.params(m, [1000], 2, cw_length=[1000])[0][0] == pytest.approx(2.0)  # clamped at the highest rate
    link = BLERTableLink(m, max_tb_bits=1000, table_file=None)
    plan = link.plan(1000)
    lay = plan.tbs[0]
    assert link.cbler_at(2.0, lay.cb_size, base_graph=lay.base_graph, cw_length=lay.cw_lengths[0]) == pytest.approx(
        float(load_tables().bler(m, lay.cb_size, 2.0, lay.base_graph, lay.cw_lengths[0])))


def test_lookup_keeps_to_the_code_blocks_base_graph():
    t = _synthetic([(2, 449, 3800, 2, 1.0, 0.1), (2, 449, 3900, 1, 0.5, 0.1), (2, 449, 8000, 1, 0.2, 0.1)])
    m = MCS.from_table(6)
    assert t.params(m, [3840], base_graph=2)[0][0] == pytest.approx(1.0)  # only BG2 curve: clamped
    assert t.params(m, [3850], base_graph=1)[0][0] == pytest.approx(0.5)  # below the BG1 grid: clamped
    assert t.params(m, [3000])[0][0] == pytest.approx(1.0)  # inferred: base graph 2
    assert t.params(m, [6000])[0][0] < 0.5  # inferred: base graph 1


def test_malformed_tables_are_refused(tmp_path):
    with pytest.raises(LinkError):
        BLERTables({"format": "other"})
    with pytest.raises(LinkError):
        BLERTables({"format": FORMAT, "curves": []})
    with pytest.raises(LinkError):
        BLERTables({"format": FORMAT, "curves": [{"qm": 2}]})
    with pytest.raises(LinkError):
        _synthetic([(2, 449, 100, 2, 1.0, -1.0)])
    with pytest.raises(LinkError):
        _synthetic([(2, 449, 100, 2, 1.0, 1.0)]).params(MCS.from_rate(4, 0.5), [100])
    bad = tmp_path / "t.json"
    bad.write_text("{")
    with pytest.raises(LinkError):
        load_tables(bad)
    with pytest.raises(LinkError):
        BLERTableLink(9, table_file=str(tmp_path / "missing.json"))


def test_committed_tables_are_complete_and_carry_provenance():
    data = json.loads(TABLE_FILE.read_text())
    assert data["format"] == FORMAT
    prov = data["provenance"]
    assert prov["command"].startswith("semcom link tables") and prov["git_commit"] and "seed" in prov
    rows = {(c["qm"], c["r1024"]) for c in data["curves"]}
    assert rows == set(table_rows())
    for c in data["curves"]:
        assert c["points"] and c["num_cbs"] == sum(p[1] for p in c["points"]) and c["seed"] >= 0
        assert c["sigma"] > 0 and math.isfinite(c["snr10"])
    # every grid size of every row is measured, or listed as undecodable (a code block belief propagation
    # never decodes, semcom.link.decodability); none failed otherwise
    from semcom.link.decodability import layout_decodable
    from semcom.link.layout import plan_payload

    assert not prov.get("failed")
    per_row = {}  # the code-block sizes measured per row (a size reached by two targets is measured once)
    for c in data["curves"]:
        per_row.setdefault((c["qm"], c["r1024"]), set()).add(c["cb_size"])
    for f in prov.get("undecodable", []):
        qm, r = int(f["key"].split(":")[0]), float(f["key"].split(":")[1])
        lay = plan_payload(f["k_tb"], MCS.from_rate(qm, r / 1024), f["k_tb"]).tbs[0]
        per_row.setdefault((qm, r), set()).add(lay.cb_size)
    for (qm, r), sizes in per_row.items():
        mcs = MCS.from_rate(qm, r / 1024)
        for target in SIZE_TARGETS:
            if target != 3800:
                assert grid_tb(mcs, target)[1].cb_size in sizes, (qm, r, target)
    und = prov["undecodable"]
    assert len(und) == 4 and all("belief propagation cannot decode" in f["undecodable"] for f in und)
    for f in und:
        qm, r = f["key"].split(":")
        assert not layout_decodable(plan_payload(f["k_tb"], MCS.from_rate(int(qm), float(r) / 1024), f["k_tb"]).tbs[0])
    for c in data["curves"]:
        assert layout_decodable(plan_payload(c["k_tb"], MCS.from_rate(c["qm"], c["r1024"] / 1024), c["k_tb"]).tbs[0])


def test_lookup_gives_bp_undecodable_code_blocks_bler_one():
    t = load_tables()
    m822, m772 = MCS.from_rate(6, 822 / 1024), MCS.from_rate(6, 772 / 1024)
    # K' = 96: E = 102 (64QAM 822/1024, TB of 80 bits) is a stopping set, E = 108 (772/1024) decodes
    assert t.bler(m822, 96, 60.0, 2, 102) == 1.0 and t.bler(m822, 96, 60.0, 2, 108) < 1e-6
    assert t.bler(m822, 96, np.array([0.0, 30.0, 100.0])).tolist() == [1.0, 1.0, 1.0]  # E from layout_hint
    assert t.bler(m772, 96, 60.0) < 1e-6
    mu, sigma = t.params(m822, [96, 1000])
    assert mu[0] == math.inf and sigma[0] == 1.0 and math.isfinite(mu[1])
    assert t.snr_at(m822, 96) == math.inf and t.snr_at(MCS.from_rate(6, 772 / 1024), 56, cw_length=60, base_graph=2) == math.inf
    p = bler_table_lookup(m822, torch.tensor([96, 96]), torch.tensor([1e6, 1e6]), base_graph=2, cw_length=torch.tensor([102, 108]))
    assert p.tolist()[0] == 1.0 and p.tolist()[1] < 1e-6
    link = BLERTableLink(m822, max_tb_bits=80)
    assert not link.transmit(torch.zeros(50, 80), 60.0, generator=0).cb_ok.any()


def test_generator_lists_undecodable_grid_points_and_classify_moves_failed_ones(tmp_path, capsys):
    from semcom.cli import main
    from semcom.experiments.link_tables import run_task

    task = dict(key="6:822", target=100, k_tb=80, seed=1, se_target=1.0, min_errors=1, max_cbs=100, max_bits=1e5,
                num_iter=20, simulator="direct")
    out = run_task(task)
    assert "belief propagation cannot decode K'=96, E=102" in out["undecodable"] and "mu" not in out
    # an old file whose failed list holds the grid points: --classify moves them to 'undecodable'
    data = json.loads(TABLE_FILE.read_text())
    prov = data["provenance"]
    prov["failed"] = [{"failed": "cannot bracket the 10 % BLER point", **{k: f[k] for k in ("key", "target", "k_tb", "seed")}}
                      for f in prov.pop("undecodable")] + [{"failed": "other", "key": "2:679", "target": 100, "k_tb": 80, "seed": 0}]
    path = tmp_path / "bler_tables.json"
    path.write_text(json.dumps(data))
    assert main(["link", "tables", "--classify", "--tables", str(path)]) == 0
    new = json.loads(path.read_text())
    assert new["curves"] == data["curves"] and [f["key"] for f in new["provenance"]["failed"]] == ["2:679"]
    assert sorted(f["key"] for f in new["provenance"]["undecodable"]) == ["6:772", "6:822", "6:873", "8:916.5"]
    assert new["provenance"]["classified"]["command"].startswith("semcom link tables --classify")
    capsys.readouterr()
    for argv in (["--classify"], ["--classify", "--heldout", "--tables", str(path)]):
        assert main(["link", "tables", *argv]) == 2
        err = capsys.readouterr().err
        assert "error" in err and "Traceback" not in err


def test_table_link_uses_semcom_tables_by_default_and_sionna_on_request():
    t = load_tables()
    m = MCS.from_table(9)
    link = BLERTableLink(m, max_tb_bits=1500)
    assert link.describe()["tables"] == "semcom"
    cb = link.plan(1500).cb_sizes[0]
    x10 = t.snr_at(m, cb, base_graph=link.plan(1500).tbs[0].base_graph)
    assert link.cbler_at(x10, cb, base_graph=link.plan(1500).tbs[0].base_graph) == pytest.approx(0.1, abs=1e-3)
    s = BLERTableLink(m, max_tb_bits=1500, tables="sionna")
    assert s.describe()["tables"] == "sionna" and s.describe()["interpolation"] == "linear"
    assert s.cbler_at(x10, cb) != pytest.approx(0.1, abs=1e-3)
    # code blocks above Sionna's 2000 bits: ours differ per size, Sionna's are clamped
    big = BLERTableLink(m)
    assert big.cbler_at(3.2, 8000) != pytest.approx(big.cbler_at(3.2, 3000))
    with pytest.raises(LinkError):
        BLERTableLink(m, interpolation="sionna")  # an interpolation of Sionna's tables only
    with pytest.raises(LinkError):
        BLERTableLink(m, tables="nosuch")
    with pytest.raises(LinkError):
        bler_table_lookup(m, 1000, torch.tensor([1.0]), tables="nosuch")
    p = bler_table_lookup(m, torch.tensor([[500, 5000]]), torch.tensor([[1.0, 10.0]]))
    assert p.shape == (1, 2) and p.dtype == torch.float32


def test_table_link_outcomes_follow_the_table():
    link = BLERTableLink(MCS.from_table(15), max_tb_bits=3000)
    plan = link.plan(3000)
    snr = load_tables().snr_at(link.mcs, plan.cb_sizes[0], 0.3, base_graph=plan.tbs[0].base_graph,
                               cw_length=plan.tbs[0].cw_lengths[0])
    res = link.transmit(torch.zeros(4000, 3000), snr, generator=0)
    assert res.cbler() == pytest.approx(0.3, abs=4 * math.sqrt(0.21 / 4000))


def test_cli_link_tables_runs_and_refuses_bad_options(tmp_path, capsys):
    from semcom.cli import main

    out = tmp_path / "t"
    assert main(["link", "tables", "--mcs", "idx9", "--sizes", "100", "--se-target", "1", "--max-cbs", "100",
                 "--out", str(out), "--no-progress"]) == 0
    data = json.loads((out / "bler_tables.json").read_text())
    assert [(c["qm"], c["r1024"]) for c in data["curves"]] == [(2, 679.0)]
    assert data["provenance"]["command"].startswith("semcom link tables --mcs idx9")
    assert BLERTables(data).snr_at(MCS.from_table(9), 100) == pytest.approx(data["curves"][0]["snr10"], abs=1e-3)
    # --resume measures nothing new
    assert main(["link", "tables", "--mcs", "idx9", "--sizes", "100", "--out", str(out), "--resume",
                 "--no-progress"]) == 0
    again = json.loads((out / "bler_tables.json").read_text())
    assert again["curves"] == data["curves"] and len(again["runs"]) == 1
    capsys.readouterr()
    for argv in (["--mcs", "2:0.5"], ["--mcs", "idx29"], ["--sizes", "10"], ["--sizes", "100,100"], ["--se-target", "nan"],
                 ["--tables", str(out / "bler_tables.json")], ["--workers", "1", "--cluster", "tcp://127.0.0.1:1"]):
        assert main(["link", "tables", *argv, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "error" in err and "Traceback" not in err
    # the sweep verb `semcom link [options]` still parses its own options
    assert main(["link", "--mcs", "2:9"]) == 2
    assert "MCS" in capsys.readouterr().err


def test_heldout_check_compares_the_table_link_with_the_bit_true_link(tmp_path):
    from semcom.experiments.link_tables import TablesConfig, run_heldout

    cfg = TablesConfig(se_target=1.0, max_cbs=200)
    data = run_heldout(cfg, tmp_path, progress=False, cases_spec=[("2:1/2", 100)])
    (case,) = data["cases"]
    assert case["mcs"] == "2:1/2" and abs(case["cb_size"] - 100) < 20
    assert case["error_db"] == pytest.approx(case["table_snr10"] - case["snr10"], abs=1e-3)
    assert data["max_abs_error_db"] == pytest.approx(abs(case["error_db"]), abs=1e-3)
    saved = json.loads((tmp_path / "bler_tables_heldout.json").read_text())
    assert saved["cases"][0]["points"] == case["points"] and saved["provenance"]["command"].startswith("semcom link")


@pytest.mark.parametrize("qm", [2, 4, 6, 8])
def test_app_llrs_equal_sionnas_app_demapper(qm):
    from sionna.phy.mapping import Demapper, Mapper

    from semcom.link.tables import app_llr_qam

    g = torch.Generator().manual_seed(qm)
    for no in (0.5, 0.05, 1e-4):
        x = Mapper("qam", qm)(torch.randint(0, 2, (2, 60 * qm), generator=g).float())
        y = x + math.sqrt(no / 2) * torch.randn(x.shape, dtype=torch.complex64, generator=g)
        ref = Demapper("app", "qam", qm)(y, torch.tensor(no))
        got = app_llr_qam(y, no, qm)
        assert got.shape == ref.shape and got.dtype == torch.float32
        assert torch.allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_direct_and_link_simulators_agree():
    # the code-block simulator and whole TBs through NRLink see the same code-block error rate
    from semcom.link.tables import DirectCodeBlockSimulator, LinkCodeBlockSimulator

    torch.set_num_threads(1)
    m = MCS.from_table(11)  # 16QAM
    k_tb, lay = grid_tb(m, 350)
    snr = load_tables().snr_at(m, lay.cb_size, 0.3, lay.base_graph, lay.cw_lengths[0])
    rates = []
    for sim in (DirectCodeBlockSimulator(), LinkCodeBlockSimulator()):
        n, e = sim.run(m, k_tb, snr, 1500, torch.Generator().manual_seed(5))
        assert n >= 1500
        rates.append((e / n, n))
    (p1, n1), (p2, n2) = rates
    assert 0.1 < p1 < 0.6
    assert abs(p1 - p2) < 4 * math.sqrt(p1 * (1 - p1) * (1 / n1 + 1 / n2))


@pytest.mark.slow
def test_table_link_matches_the_bit_true_link_off_the_grid():
    # QPSK R = 1/2 is not a table row and K' = 1496 not a grid size: the table link's 10 % point
    # lies within 0.2 dB (plus the measurement's own uncertainty) of the bit-true link's
    from semcom.experiments.link_tables import heldout_task, table_link_snr10

    torch.set_num_threads(1)
    bit_true = heldout_task(dict(mcs="2:1/2", target=1500, seed=11, se_target=0.03, min_errors=60, max_cbs=20000,
                                 max_bits=30e6, num_iter=20))
    table = table_link_snr10(MCS.from_rate(2, 0.5), bit_true["k_tb"])
    assert abs(table - bit_true["snr10"]) < 0.2 + 3 * bit_true["se10"]


def test_link_config_chooses_the_tables():
    from semcom.errors import ConfigError
    from semcom.link import LinkConfig

    link = LinkConfig.from_dict({"fidelity": "bler_table", "mcs_index": 9, "tables": "sionna"}).build()
    assert link.describe()["tables"] == "sionna"
    assert LinkConfig.from_dict({"fidelity": "bler_table", "mcs_index": 9}).build().tables == "semcom"
    with pytest.raises(ConfigError):
        LinkConfig.from_dict({"fidelity": "erasure", "mcs_index": 9, "cbler": 0.1, "tables": "sionna"}).build()
    with pytest.raises(ConfigError):
        LinkConfig.from_dict({"fidelity": "bler_table", "mcs_index": 9, "tables": "nosuch"}).build()


@pytest.mark.parametrize("bad", [{"seed": float("nan")}, {"seed": -1}, {"max_cbs": 1}, {"sizes": [10]}, {"se_target": 0},
                                 {"mcs": ["2:0.5"]}, {"simulator": "nosuch"}, {"max_bits": float("inf")}, {"num_iter": 0}])
def test_tables_config_refuses_bad_values(bad):
    from semcom.errors import ConfigError, InputError
    from semcom.experiments.link_tables import TablesConfig

    with pytest.raises((ConfigError, InputError)):
        TablesConfig(**bad)


def test_estimated_csi_lookup_uses_the_code_blocks_lengths():
    # regression: the CSI error of the estimated-CSI path once replaced the code blocks' E in the lookup
    link = BLERTableLink(MCS.from_table(9), max_tb_bits=1500, channel="rayleigh", csi="estimated", csi_error_var=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = link.transmit(torch.zeros(500, 1500), 13.0, generator=1)
    assert 0.0 < res.cbler() < 1.0


def test_lookup_without_the_layout_follows_the_links_layout():
    # regression: cbler_at(snr, K') without base graph and E once guessed them from the MCS's rate
    # (base graph 1 for MCS 9 at 1500 bits, where the link uses base graph 2) and disagreed with transmit
    from semcom.link.tables import layout_hint

    link = BLERTableLink(MCS.from_table(9), max_tb_bits=1500)
    lay = link.plan(1500).tbs[0]
    assert layout_hint(link.mcs, lay.cb_size) == (lay.base_graph, lay.cw_lengths[0])
    for snr in (2.5, 3.0, 3.5):
        assert link.cbler_at(snr, lay.cb_size) == pytest.approx(
            link.cbler_at(snr, lay.cb_size, base_graph=lay.base_graph, cw_length=lay.cw_lengths[0]))


def test_resume_keeps_the_grid_points_earlier_runs_listed(tmp_path):
    """A resumed run that tries none of them again keeps the earlier run's failed and undecodable lists
    (the earlier provenance also moves to ``runs``)."""
    from semcom.experiments.link_tables import TablesConfig, run

    data = json.loads(TABLE_FILE.read_text())
    data["provenance"]["failed"] = [{"failed": "other", "key": "2:679", "target": 100, "k_tb": 80, "seed": 0}]
    (tmp_path / "bler_tables.json").write_text(json.dumps(data))
    cfg = TablesConfig(mcs=["2:120"], sizes=[1000])  # measured already: nothing to simulate
    new = run(cfg, tmp_path, progress=False, resume=True)
    assert new["curves"] == sorted(data["curves"], key=lambda c: (c["qm"], c["r1024"], c["cb_size"]))
    assert new["provenance"]["undecodable"] == data["provenance"]["undecodable"]
    assert new["provenance"]["failed"] == data["provenance"]["failed"]
    assert new["runs"][-1]["command"] == data["provenance"]["command"]
