"""semcom vlscc 1d: the 1D experiment runs on the committed checkpoints and cache, counts what is
sent, checks the claim, plots from the JSON; CLI in-process; bad configs; the demo section."""

import json

import pytest
import torch

from semcom.errors import ConfigError
from semcom.experiments import vlscc_1d
from semcom.experiments.results import Results


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def quick_results():
    torch.set_num_threads(1)
    return vlscc_1d.run(vlscc_1d.Vlscc1dConfig(snr_grid=[-5.0, 15.0], seeds=[0]), progress=False)


def test_run_counts_what_is_sent_and_orders_the_curves(quick_results, tmp_path):
    d = quick_results.data
    cfg = vlscc_1d.Vlscc1dConfig()
    ckpts = [c for cs in cfg.checkpoints.values() for c in cs]
    assert len(d["summary"]) == 2 * len(ckpts) and len(d["ideal"]) == len(ckpts)
    for r in d["summary"]:
        if r["method"] == "scc1d":
            assert r["channel_uses"] == r["symbols_per_vector"] == d["checkpoints"][r["checkpoint"]]["config"]["n_symbols"]
        else:  # VL-SCC: kept symbols + 4 side bits at 1 bit per channel use
            assert r["channel_uses"] == pytest.approx(r["symbols_per_vector"] + 4)
            assert r["symbols_per_vector"] <= d["checkpoints"][r["checkpoint"]]["config"]["n_symbols"]
    for c in ckpts:
        low, high = (next(r for r in d["summary"] if r["checkpoint"] == c and r["snr_db"] == s) for s in (-5.0, 15.0))
        ideal = next(i for i in d["ideal"] if i["checkpoint"] == c)
        assert ideal["landmark_error_px"] <= high["landmark_error_px"] + 1e-6 < low["landmark_error_px"]
        assert low["landmark_error_px"] < d["mean_face_px"]
    rate = d["rate"]["vlscc1d_landmarks"]
    assert sum(rate["symbols_histogram"].values()) == d["source"]["test_vectors"]
    cl = d["claims"]["vlscc_beats_scc_at_equal_budget"]["vlscc1d_landmarks"]
    assert len(cl["points"]) == 2 and isinstance(cl["holds"], bool)
    # JSON round trip and plots from the JSON
    path = quick_results.save(tmp_path)
    again = Results.load(path)
    figs = vlscc_1d.plot(json.loads(path.read_text()), tmp_path)
    assert again.data["mean_face_px"] == pytest.approx(d["mean_face_px"])
    assert all(f.is_file() and f.stat().st_size > 1000 for f in figs) and len(figs) == 2


def test_main_in_process(tmp_path, capsys):
    assert vlscc_1d.main(["--out", str(tmp_path), "--snr", "5", "--no-progress",
                          "--config", str(_cfg(tmp_path, seeds=[1]))]) == 0
    data = json.loads((tmp_path / "vlscc1d.json").read_text())
    assert {r["snr_db"] for r in data["data"]["summary"]} == {5.0} and data["provenance"]["config"]["seeds"] == [1]
    assert "claim VL-SCC" in capsys.readouterr().out


def _cfg(tmp_path, **kw):
    p = tmp_path / "cfg.json"
    p.write_text(json.dumps(kw))
    return p


def test_bad_configs():
    with pytest.raises(ConfigError):
        vlscc_1d.Vlscc1dConfig(channel="fast")
    with pytest.raises(ConfigError):
        vlscc_1d.Vlscc1dConfig(snr_grid=[])
    with pytest.raises(ConfigError):
        vlscc_1d.Vlscc1dConfig(checkpoints={"deepjscc": ["x"]})
    with pytest.raises(ConfigError):
        vlscc_1d.run({"snr": [1.0]}, progress=False)


def test_demo_section_adds_a_section(tmp_path, monkeypatch):
    import dataclasses

    monkeypatch.setattr(vlscc_1d.Vlscc1dConfig, "quick", lambda self: dataclasses.replace(self, snr_grid=[5.0], seeds=[0]))
    class Report:
        def __init__(self):
            self.items = []

        def heading(self, t, level=2):
            self.items.append(("h", t))

        def paragraph(self, t):
            self.items.append(("p", t))

        def table(self, h, rows):
            self.items.append(("t", h, rows))

        def image(self, p, caption=""):
            self.items.append(("i", p))

    rep = Report()
    out = vlscc_1d.demo_section(rep, tmp_path, quick=True)
    assert out["available"] and (tmp_path / "vlscc1d.json").is_file()
    kinds = [i[0] for i in rep.items]
    assert kinds[0] == "h" and "t" in kinds and kinds.count("i") == 2


def test_checkpoint_given_as_a_file(tmp_path):
    import shutil

    from semcom.models import checkpoint_dir

    pt = tmp_path / "replicate.pt"
    shutil.copyfile(checkpoint_dir() / "scc1d_landmarks_n16.pt", pt)
    res = vlscc_1d.run({"checkpoints": {"scc1d": [str(pt)]}, "snr_grid": [5.0], "seeds": [0]}, progress=False)
    (row,) = res.data["summary"]
    assert row["checkpoint"] == str(pt) and row["channel_uses"] == 16
    assert res.data["claims"]["vlscc_beats_scc_at_equal_budget"] == {}
