"""semcom prt train-concealer: a tiny run through main(argv), in-process."""

import json

import pytest

pytest.importorskip("mediapipe")

from semcom.errors import ConfigError
from semcom.experiments import prt_concealer
from semcom.experiments.prt_concealer import ConcealerTrainConfig


def test_tiny_run_writes_results(tmp_path):
    cfg = {"train_seeds": [0], "val_seeds": [5], "train_frames": 12, "test_frames": 8, "size": 96, "steps": 30,
           "refresh_every": 10, "validate_every": 15, "batch_size": 64, "eval_mask_seeds": 1,
           "eval_drop_rates": [0.5]}
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    assert prt_concealer.main(["--config", str(path), "--out", str(tmp_path), "--no-progress"]) == 0
    res = json.loads((tmp_path / "concealer.json").read_text())
    per = res["data"]["eval"]["by_drop_rate"]["0.5"]
    assert set(per) == {"fc", "hold_last", "zero_motion"}
    for v in per.values():
        assert v["ald_px"] >= 0 and 0 <= v["missing_share"] <= 1
    assert res["data"]["train"]["best_step"] in (15, 30)
    assert res["provenance"]["config"]["train_portrait"] != res["provenance"]["config"]["test_portrait"]


def test_config_is_checked():
    with pytest.raises(ConfigError):
        ConcealerTrainConfig(train_portrait="astronaut", test_portrait="astronaut")
    with pytest.raises(ConfigError):
        ConcealerTrainConfig(val_seeds=[0])  # overlaps the training seeds
    with pytest.raises(ConfigError):
        ConcealerTrainConfig(steps=0)
    with pytest.raises(ConfigError):
        prt_concealer.run({"nonsense": 1})
