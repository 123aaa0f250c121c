"""ldpc_tuning: the study behind FastLDPC5GDecoder's default scaling and input saturation."""

from __future__ import annotations

import pytest
import torch
from sionna.phy.fec.ldpc import LDPC5GEncoder

from semcom.errors import ConfigError
from semcom.experiments.ldpc_tuning import TuningConfig, clip_kwargs, codewords_for, overconfident_llrs, run
from semcom.utils import make_generator


def test_tiny_run_records_gaps_and_clip_study(tmp_path):
    old = torch.get_num_threads()
    res = run(TuningConfig(codes=[[100, 200, None]], scalings=[0.7, 0.8], codewords=[[1000, 200]],
                           clip_values=["none", "abs:20", "rel:4"], overconfident_codes=[100],
                           overconfident_words=8, clip_codes=[[100, 200, 2]], clip_codewords=100))
    assert torch.get_num_threads() == old  # restored after Sionna ran on one thread
    p = res.data["scaling"][0]
    assert p["bg"] == "bg2" and p["z"] == 18 and p["codewords"] == 200 and len(p["grid_db"]) == 7
    assert 0 < p["errors_sionna"] < 200 and set(p["gap_db"]) == {"0.7", "0.8"}
    for s in ("0.7", "0.8"):
        curve = p["bler_fast_curve"][s]
        assert len(curve) == 7 and curve[0] >= curve[-1]  # same noise, scaled down: fewer errors
    over = res.data["clip"]["overconfident"][0]
    assert over["sionna_wrong"] == 0 and over["fast_wrong_200it"]["rel:4"] == 0
    assert over["fast_wrong_200it"]["none"] > 0
    normal = res.data["clip"]["normal"][0]
    assert normal["errors"]["none"] == normal["errors"]["rel:4"]
    assert normal["errors_llr_x10"]["rel:4"] == normal["errors"]["rel:4"]  # relative saturation: scale free
    assert res.save(tmp_path, "ldpc_tuning.json").exists()


def test_helpers_and_config_errors():
    assert clip_kwargs("none") == {"llr_clip": None, "llr_max": None}
    assert clip_kwargs("abs:20") == {"llr_clip": None, "llr_max": 20.0}
    assert clip_kwargs("rel:4") == {"llr_clip": 4.0}
    for bad in ("rel:0", "abs:x", "max:3", None, "none:1"):
        with pytest.raises(ConfigError):
            clip_kwargs(bad)
    with pytest.raises(ConfigError):
        TuningConfig(clip_values=["rel:-1"])
    with pytest.raises(ConfigError):
        TuningConfig(scalings=[1.5])
    with pytest.raises(ConfigError):
        TuningConfig(grid_db=[-0.1, 0.1])
    assert codewords_for(100, [[200, 4000], [8448, 300]]) == 4000
    assert codewords_for(8448, [[200, 4000], [8448, 300]]) == 300
    enc = LDPC5GEncoder(100, 200)
    u, llr = overconfident_llrs(enc, 5, make_generator(0))
    c = enc(u)
    wrong = (llr > 0).float() != c
    assert (wrong.sum(dim=1) == 1).all() and bool((llr[wrong].abs() == 50.0).all())
    assert bool((llr[~wrong].abs() == 3.0).all())


def test_bench_ldpc_tuning_flag_runs_the_study(tmp_path, monkeypatch):
    from semcom.experiments import bench_ldpc, ldpc_tuning

    seen = {}
    real_run = ldpc_tuning.run

    def small_run(cfg, progress=False):
        seen.update(cfg, progress=progress)
        return real_run(TuningConfig(codes=[[56, 112, None]], scalings=[0.8], codewords=[[1000, 100]],
                                     clip_values=["none"], overconfident_codes=[], clip_codes=[]))

    monkeypatch.setattr(ldpc_tuning, "run", small_run)
    assert bench_ldpc.main(["--tuning", "--out", str(tmp_path), "--seed", "3"]) == 0
    assert seen == {"seed": 3, "progress": True}
    assert (tmp_path / "ldpc_tuning.json").exists() and not (tmp_path / "ldpc.json").exists()
