"""semcom.training and ``semcom train``: every real config trains at a tiny size, resume, metadata,
the evaluation, bad configs."""

import json
from pathlib import Path

import pytest
import torch

from semcom.errors import ConfigError
from semcom.training import LossConfig, TrainConfig, jscc_loss, train

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.json"))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_configs_exist_and_parse():
    names = {p.stem for p in CONFIGS}
    assert {"deepjscc", "vlscc2d", "scc", "vlscc1d", "scc1d"} <= names
    for p in CONFIGS:
        TrainConfig.from_dict(json.loads(p.read_text()))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_trains_shrunk_and_records_metadata(path, tmp_path):
    cfg = TrainConfig.from_dict(json.loads(path.read_text())).shrink()
    meta = train(cfg, tmp_path, progress=False, command="test")
    name = cfg.name or cfg.model
    assert (tmp_path / f"{name}.pt").is_file() and (tmp_path / "last.pt").is_file()
    on_disk = json.loads((tmp_path / f"{name}.json").read_text())
    assert on_disk["metric"] == meta["metric"] and meta["steps"] == 2
    for key in ("config", "data", "seed", "command", "git_commit", "parameters", "file_bytes", "eval"):
        assert key in meta
    assert meta["data"]["train_checksums"]  # what was trained on is listed with its hashes
    if cfg.model in ("vlscc1d", "scc1d"):
        assert meta["data"]["sampler"] == "semcom.training.data.VectorBatches"
        assert set(meta["metric"]) == {"landmark_error_px", "landmark_error_norm", "channel_uses"}
        assert meta["metric"]["landmark_error_px"] > 0 and meta["metric"]["channel_uses"] >= 1
        assert meta["config"]["model_config"]["dim"] == 263  # filled in from the source
        assert "landmark_vectors_sha256" in meta["eval"]["checksums"]
    else:
        assert meta["data"]["sampler"] == "semcom.training.data.CropBatches"
        assert set(meta["eval"]["checksums"]) == {"astronaut", "chelsea", "coffee"}
        assert 0 < meta["metric"]["spp"] <= 1 and 0 < meta["metric"]["ms_ssim"] <= 1


def test_resume_continues_from_last_state(tmp_path):
    cfg = TrainConfig(model="deepjscc", model_config={"hidden_channels": 4, "latent_channels": 2},
                      crop_size=32, batch_size=2, steps=2, eval_size=64, checkpoint_every=1, log_every=1)
    train(cfg, tmp_path / "a", progress=False)
    long = TrainConfig(**{**cfg.__dict__, "steps": 4})
    ref = train(long, tmp_path / "b", progress=False)
    # resuming the 2-step run with a larger budget continues from step 2
    resumed = train(long, tmp_path / "a", progress=False, resume=True)
    assert resumed["steps"] == 4
    assert torch.load(tmp_path / "a" / "last.pt", weights_only=True)["step"] == 4
    assert ref["steps"] == 4
    # anything but the budget differing is refused
    other = TrainConfig(**{**long.__dict__, "lr": 0.5})
    with pytest.raises(ConfigError):
        train(other, tmp_path / "a", progress=False, resume=True)
    part = train(TrainConfig(**{**long.__dict__, "max_minutes": 1e-9}), tmp_path / "c", progress=False)
    assert part["steps"] == 1  # the wall-time budget is honoured: it stops after the first step past it


def test_training_curve_every_few_minutes(tmp_path):
    cfg = TrainConfig(model="deepjscc", model_config={"hidden_channels": 4, "latent_channels": 2},
                      crop_size=32, batch_size=2, steps=3, eval_size=64, checkpoint_every=1, log_every=1,
                      eval_every_minutes=1e-9)
    meta = train(cfg, tmp_path / "a", progress=False)
    curve = meta["curve"]
    # one point after every step (the interval is tiny), then the final metric of the saved model
    assert [p["step"] for p in curve] == [1, 2, 3, 3]
    assert curve[-1]["psnr_db"] == meta["metric"]["psnr_db"]
    assert all(p["minutes"] >= 0 and p["psnr_db"] > 0 and 0 < p["ms_ssim"] <= 1 for p in curve)
    logged = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [r["curve"]["step"] for r in logged if "curve" in r] == [1, 2, 3]
    only_final = train(TrainConfig(**{**cfg.__dict__, "eval_every_minutes": 0.0}), tmp_path / "b", progress=False)
    assert [p["step"] for p in only_final["curve"]] == [3]
    with pytest.raises(ConfigError):
        TrainConfig(eval_every_minutes=-1.0)


def test_loss_terms():
    x = torch.rand(2, 3, 32, 32)
    out = {"x_hat": x * 0.5, "rate": torch.full((2, 2, 2), 0.25)}
    loss, terms = jscc_loss(out, x, LossConfig(lambda_perceptual=0.0), gamma=2.0)
    assert float(loss) == pytest.approx(float(((x * 0.5 - x) ** 2).mean()) + 2.0 * 0.25, rel=1e-5)
    loss2, terms2 = jscc_loss(out, x, LossConfig(lambda_perceptual=1.0, perceptual="ms_ssim"), gamma=0.0)
    assert 0 < terms2["perceptual"] < 1


def test_bad_configs():
    with pytest.raises(ConfigError):
        TrainConfig.from_dict({"model": "deepjscc", "stepz": 3})
    with pytest.raises(ConfigError):
        TrainConfig.from_dict({"loss": {"perceptual": "vgg"}})
    with pytest.raises(ConfigError):
        TrainConfig(batch_size=0)
    with pytest.raises(ConfigError):
        train(TrainConfig(model="nope").shrink(), "unused-dir-never-written", progress=False)


def test_cli_main_in_process(tmp_path, capsys):
    from semcom.experiments.train import main

    cfg = TrainConfig(model="deepjscc", model_config={"hidden_channels": 4, "latent_channels": 2},
                      crop_size=32, batch_size=2, steps=1, eval_size=64)
    p = tmp_path / "c.json"
    p.write_text(json.dumps({**cfg.__dict__, "loss": cfg.loss.__dict__}))
    assert main(["deepjscc", "--config", str(p), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    assert "test PSNR" in capsys.readouterr().out
    meta = json.loads((tmp_path / "run" / "deepjscc.json").read_text())
    assert meta["command"].startswith("semcom train deepjscc --config")
    with pytest.raises(ConfigError):
        main(["scc", "--config", str(p), "--out", str(tmp_path / "x")])  # config is for another model


def test_crop_batches_use_the_shared_training_crops():
    from semcom.data import TrainingCrops
    from semcom.training.data import CropBatches, CropSampler

    assert CropSampler is CropBatches
    a, b = CropBatches(32, seed=3), CropBatches(32, seed=3)
    x = a.batch(2)
    assert x.shape == (2, 3, 32, 32) and torch.equal(x, b.batch(2))
    assert torch.equal(a.batch(1)[0], TrainingCrops(size=32, count=10**15, seed=3)[2])  # items in index order
    st = a.state()
    y = a.batch(2)
    a.load_state(st)
    assert torch.equal(a.batch(2), y)
    assert "TrainingCrops" in a.describe() and len(a.checksums()) == len(a.crops.paths)


def test_vector_models_train_resume_and_refuse_bad_configs(tmp_path):
    cfg = TrainConfig(model="scc1d", model_config={"hidden": 8, "n_symbols": 4, "snr_db": [0.0, 10.0],
                                                   "snr_range_db": [0.0, 10.0]},
                      batch_size=8, steps=2, checkpoint_every=1, log_every=1)
    meta = train(cfg, tmp_path / "a", progress=False)
    assert meta["metric"]["channel_uses"] == 4 and meta["eval"]["snr_db"] == 5.0
    resumed = train(TrainConfig(**{**cfg.__dict__, "steps": 3}), tmp_path / "a", progress=False, resume=True)
    assert resumed["steps"] == 3
    with pytest.raises(ConfigError):
        train(TrainConfig(**{**cfg.__dict__, "model_config": {"dim": 10}}), tmp_path / "b", progress=False)
    with pytest.raises(ConfigError):
        train(TrainConfig(**{**cfg.__dict__, "loss": LossConfig(lambda_perceptual=1.0)}), tmp_path / "c", progress=False)
    with pytest.raises(ConfigError):  # image models take no source keys
        train(TrainConfig(model="deepjscc", data={"frames": 3}), tmp_path / "d", progress=False)
    with pytest.raises(ConfigError):
        TrainConfig(model="scc1d", data=[1])
