"""Training at scale, tested on CPU: mixed precision, device moves of the resume state, compile,
DataLoader workers, data parallel with gloo (2 processes against 1 with the same global batch),
torchrun, and the users' image folders."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semcom.errors import CheckpointError, ConfigError, InputError
from semcom.models.checkpoint_io import save_checkpoint
from semcom.training import RunOptions, TrainConfig, train
from semcom.training.data import CropBatches, FolderCrops, ShardedBatchSampler
from semcom.training.precision import Precision

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SRC = str(Path(__file__).resolve().parents[2] / "src")


def tiny(**kw) -> TrainConfig:
    base = dict(model="deepjscc", model_config={"hidden_channels": 4, "latent_channels": 2}, crop_size=16,
                batch_size=4, steps=2, eval_size=64, log_every=1, checkpoint_every=1)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """A folder of generated images: sub-folders, several formats and sizes (one smaller than a
    crop), a file that is not an image, a hidden file."""
    root = tmp_path_factory.mktemp("images")
    (root / "a" / "b").mkdir(parents=True)
    rng = np.random.default_rng(0)
    specs = [("one.png", (40, 56)), ("a/two.jpg", (64, 48)), ("a/b/three.bmp", (33, 70)), ("a/b/four.webp", (48, 48)),
             ("small.png", (10, 12))]
    for rel, (h, w) in specs:
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / rel)
    (root / "broken.jpg").write_bytes(b"not an image at all")
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(root / ".hidden.png")
    return root


# --------------------------------------------------------------------------- precision and devices
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_on_cpu_and_is_recorded(precision, tmp_path):
    import warnings

    from semcom.training.precision import SlowPrecisionWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        meta = train(tiny(), tmp_path, progress=False, options=RunOptions(precision=precision))
    # fp16 runs on CPU, with a warning that it is slow there (bf16 is the CPU's mixed precision)
    assert any(issubclass(w.category, SlowPrecisionWarning) for w in caught) == (precision == "fp16")
    assert meta["steps"] == 2 and meta["runtime"]["precision"] == precision
    assert np.isfinite(meta["metric"]["psnr_db"]) and meta["metric"]["psnr_db"] > 5
    st = torch.load(tmp_path / "last.pt", weights_only=True)
    if precision == "fp16":  # the grad scaler's state is part of the resume state
        assert st["scaler"]["scale"] > 0
    else:
        assert st["scaler"] is None
    # the weights stay float32 whatever the compute precision
    ck = torch.load(tmp_path / "deepjscc.pt", weights_only=True)
    assert all(v.dtype == torch.float32 for v in ck["state_dict"].values() if v.is_floating_point())


def test_autocast_runs_the_network_in_bf16_and_the_channel_in_fp32():
    from semcom.models import build_model

    m = build_model("deepjscc", {"hidden_channels": 4, "latent_channels": 2})
    with Precision.resolve("bf16", torch.device("cpu")).autocast():
        out = m(torch.rand(2, 3, 16, 16), generator=torch.Generator().manual_seed(0))
        z = m._to_symbols(m.encoder(torch.rand(1, 3, 16, 16)))
    assert out["x_hat"].dtype == torch.bfloat16 and z.dtype == torch.complex64


def test_bad_precision_and_unsupported_autocast_are_config_errors(monkeypatch):
    with pytest.raises(ConfigError, match="precision must be one of"):
        Precision.resolve("fp8", torch.device("cpu"))

    def no_autocast(*a, **k):
        raise RuntimeError("autocast is not supported for this device")

    monkeypatch.setattr(torch, "autocast", no_autocast)
    with pytest.raises(ConfigError, match="fp16 .* not supported on cpu"):
        Precision.resolve("fp16", torch.device("cpu"))


def test_bad_device_and_options_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not usable"):
        train(tiny(), tmp_path, device="nodevice", progress=False)
    with pytest.raises(ConfigError):
        RunOptions(workers=-1)
    with pytest.raises(ConfigError):
        RunOptions(channels_last="sometimes")
    with pytest.raises(ConfigError, match="multiple of the world size"):
        from semcom.training.distributed import DistContext

        DistContext(world_size=2).local_batch(3)


def test_resume_state_saved_on_another_device_resumes_here(tmp_path):
    """A resume state written on a GPU (CUDA noise-generator state, tensors mapped on load) resumes on CPU."""
    cfg = tiny(steps=2)
    train(cfg, tmp_path, progress=False)
    st = torch.load(tmp_path / "last.pt", weights_only=True)
    st["noise_rng"] = torch.zeros(16, dtype=torch.uint8)  # a CUDA (Philox) state: seed + offset
    st["noise_rng_device"] = "cuda"
    save_checkpoint(st, tmp_path / "last.pt", {"name": "last", "kind": "resume state of semcom.training.train"})
    meta = train(tiny(steps=4), tmp_path, progress=False, resume=True, options={"precision": "bf16"})
    assert meta["steps"] == 4
    from semcom.models import load_checkpoint

    assert next(load_checkpoint(tmp_path / "deepjscc.pt", map_location="cpu").parameters()).device.type == "cpu"
    # a CPU state that does not fit the generator is still a CheckpointError
    st = torch.load(tmp_path / "last.pt", weights_only=True)
    st["noise_rng"] = torch.zeros(16, dtype=torch.uint8)
    save_checkpoint(st, tmp_path / "last.pt", {"name": "last"})
    with pytest.raises(CheckpointError):
        train(tiny(steps=6), tmp_path, progress=False, resume=True)


def test_workers_give_the_same_training(tmp_path):
    ref = train(tiny(), tmp_path / "ref", progress=False)
    other = train(tiny(), tmp_path / "w", progress=False, options=RunOptions(workers=1))
    a = torch.load(tmp_path / "ref" / "deepjscc.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "w" / "deepjscc.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # a worker loads the same crops
    assert other["runtime"]["workers"] == 1
    assert ref["throughput"]["images_per_s"] > 0 and ref["throughput"]["steps_timed"] == 1
    assert all(r["images_per_s"] > 0 for r in ref["history_tail"])


@pytest.mark.slow
def test_compile_trains(tmp_path):
    """``--compile`` plumbing (the eager backend: dynamo traces, no C++ compiler needed)."""
    ref = train(tiny(), tmp_path / "ref", progress=False)
    meta = train(tiny(), tmp_path / "c", progress=False, options=RunOptions(compile="eager"))
    assert meta["runtime"]["compile"] == "eager"
    assert abs(meta["metric"]["psnr_db"] - ref["metric"]["psnr_db"]) < 1e-3


def test_channels_last_is_a_memory_format_only(tmp_path):
    ref = train(tiny(), tmp_path / "a", progress=False)
    cl = train(tiny(), tmp_path / "b", progress=False, options=RunOptions(channels_last="on"))
    assert cl["runtime"]["channels_last"] and not ref["runtime"]["channels_last"]
    assert cl["runtime"]["cache_dir"] is False
    assert abs(cl["metric"]["psnr_db"] - ref["metric"]["psnr_db"]) < 1e-3


# --------------------------------------------------------------------------- data parallel
def test_sharded_batches_split_the_single_process_batch():
    one = iter(ShardedBatchSampler(10, 6, 0, 1))
    ranks = [iter(ShardedBatchSampler(10, 6, r, 3)) for r in range(3)]
    for _ in range(3):
        assert next(one) == sum((next(it) for it in ranks), [])
    with pytest.raises(InputError):
        ShardedBatchSampler(0, 5, 0, 2)


def _weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path, image_dir):
    """DDP on CPU (gloo, spawned by --nproc): the same weights as one process, rank 0 alone writes,
    the checkpoint records world_size, and the run resumes with another world size.

    The channel noise of a rank is its own (seeded by rank), so the comparison runs at 200 dB
    where the noise is below float32 resolution; everything else (init, data shards, gradient
    averaging, Adam, the schedule) is compared exactly up to float tolerance."""
    from semcom.experiments.train import run

    cfg = _ddp_config(image_dir)
    one = run(cfg, out_dir=tmp_path / "one", progress=False)
    two = run(cfg, out_dir=tmp_path / "two", progress=False, nproc=2)
    a, b = _weights(tmp_path / "one" / "deepjscc.pt"), _weights(tmp_path / "two" / "deepjscc.pt")
    moved = max(float((a[k] - v).abs().max()) for k, v in _init_weights(cfg).items())
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert moved > 1e-3 and diff < 1e-5, (moved, diff)
    assert two.data["world_size"] == 2 and one.data["world_size"] == 1
    st = torch.load(tmp_path / "two" / "last.pt", weights_only=True)
    assert st["world_size"] == 2 and st["sampler_state"]["position"] == 3 * cfg.batch_size
    assert len((tmp_path / "two" / "log.jsonl").read_text().splitlines()) == 3  # rank 0 only
    assert two.data["history_tail"][-1]["l2"] == pytest.approx(one.data["history_tail"][-1]["l2"], rel=1e-4)
    # resume the 2-process run in one process: it continues from step 3 and the global position
    longer = TrainConfig(**{**cfg.__dict__, "steps": 4})
    resumed = run(longer, out_dir=tmp_path / "two", progress=False, resume=True)
    assert resumed.data["steps"] == 4 and resumed.data["world_size"] == 1
    assert torch.load(tmp_path / "two" / "last.pt", weights_only=True)["sampler_state"]["position"] == 16


def _init_weights(cfg):
    from semcom.models import build_model

    torch.manual_seed(cfg.seed)
    return build_model(cfg.model, cfg.model_config).state_dict()


def test_a_batch_that_does_not_split_is_refused_before_spawning(tmp_path, image_dir):
    from semcom.experiments.train import run

    with pytest.raises(ConfigError, match="multiple of the world size"):
        run(tiny(batch_size=3, train_images=str(image_dir)), out_dir=tmp_path, progress=False, nproc=2)


def test_errors_in_a_spawned_process_reach_the_caller_typed(tmp_path):
    from semcom.experiments.train import run

    with pytest.raises(InputError, match="no image files"):  # raised inside both ranks
        run(tiny(train_images=str(tmp_path)), out_dir=tmp_path / "out", progress=False, nproc=2)


def test_nproc_inside_torchrun_is_refused(monkeypatch):
    from semcom.training.distributed import launch

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="inside torchrun"):
        launch(2, print, {})


def _config_file(tmp_path, cfg: TrainConfig) -> Path:
    p = tmp_path / "cfg.json"
    p.write_text(json.dumps({**cfg.__dict__, "loss": cfg.loss.__dict__}))
    return p


def _ddp_config(image_dir) -> TrainConfig:
    return tiny(steps=3, model_config={"hidden_channels": 4, "latent_channels": 2, "snr_db": 200.0,
                                       "snr_range_db": [0.0, 200.0]}, train_images=str(image_dir))


def test_torchrun_two_processes_match_one_process(tmp_path, image_dir):
    """``torchrun --nproc-per-node 2 -m semcom train`` (gloo on CPU): one checkpoint with
    world_size 2, the weights of one process with the same global batch."""
    cfg = _ddp_config(image_dir)
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "semcom", "train", "deepjscc", "--config", str(_config_file(tmp_path, cfg)),
           "--out", str(tmp_path / "run"), "--no-progress"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("test PSNR") == 1  # rank 0 alone reports
    meta = json.loads((tmp_path / "run" / "deepjscc.json").read_text())
    assert meta["world_size"] == 2 and meta["steps"] == 3 and meta["runtime"]["backend"] == "gloo"
    train(cfg, tmp_path / "one", progress=False)
    a, b = _weights(tmp_path / "one" / "deepjscc.pt"), _weights(tmp_path / "run" / "deepjscc.pt")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5


# --------------------------------------------------------------------------- image folders
def test_folder_crops_any_format_recursive_and_cached(image_dir, tmp_path):
    ds = FolderCrops(image_dir, 16, seed=1)
    names = {Path(p).relative_to(image_dir).as_posix() for p in ds.paths}
    assert names == {"one.png", "a/two.jpg", "a/b/three.bmp", "a/b/four.webp", "small.png"}
    assert ds.skipped == ["broken.jpg"] and "1 unreadable" in ds.describe()
    x = torch.stack([ds[i] for i in range(40)])
    assert x.shape == (40, 3, 16, 16) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert torch.equal(ds[7], FolderCrops(image_dir, 16, seed=1)[7]) and not torch.equal(ds[7], ds[8])
    cached = FolderCrops(image_dir, 16, seed=1, cache_dir=tmp_path / "cache")
    assert all(torch.equal(cached[i], ds[i]) for i in range(40))  # the cache changes nothing but speed
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 5  # small.png scaled up to 16 and cached too
    assert set(ds.checksums()) == names
    batches = CropBatches(16, seed=1, dataset=ds).batches(4, workers=0)
    assert next(batches).shape == (4, 3, 16, 16)


def test_folder_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        FolderCrops(tmp_path / "nope", 16)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no image files"):
        FolderCrops(tmp_path / "empty", 16)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"garbage")
    with pytest.raises(InputError, match="can be read"):
        FolderCrops(tmp_path / "bad", 16)


def test_cli_trains_on_the_users_folders(tmp_path, image_dir, capsys):
    from semcom.cli import main

    p = _config_file(tmp_path, tiny(steps=2))
    test_dir = tmp_path / "test"
    test_dir.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)).save(test_dir / f"t{i}.png")
    rc = main(["train", "deepjscc", "--config", str(p), "--out", str(tmp_path / "run"), "--no-progress",
               "--train-images", str(image_dir), "--test-images", str(test_dir), "--cache-dir", str(tmp_path / "c"),
               "--workers", "1", "--precision", "bf16"])
    assert rc == 0 and "images/s" in capsys.readouterr().out
    meta = json.loads((tmp_path / "run" / "deepjscc.json").read_text())
    assert meta["data"]["sampler"] == "semcom.training.data.CropBatches" and "FolderCrops" in meta["data"]["train"]
    assert set(meta["eval"]["checksums"]) == {"t0.png", "t1.png"} and meta["eval"]["size"] == 64
    assert meta["runtime"]["precision"] == "bf16" and meta["runtime"]["workers"] == 1
    # an empty test folder, an empty train folder: a clear error, no traceback
    (tmp_path / "none").mkdir()
    assert main(["train", "deepjscc", "--config", str(p), "--out", str(tmp_path / "r2"), "--no-progress",
                 "--train-images", str(tmp_path / "none")]) == 2
    assert "no image files" in capsys.readouterr().err
    assert main(["train", "deepjscc", "--config", str(p), "--out", str(tmp_path / "r3"), "--no-progress",
                 "--test-images", str(image_dir / "a")]) == 2  # images smaller than eval_size 64
    assert "at least 64x64" in capsys.readouterr().err


# --------------------------------------------------------------------------- paper-scale configs
GPU_CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "gpu").glob("*.json"))
COST = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "train_cost.json"


def test_gpu_configs_exist_and_their_recorded_cost_matches_the_model():
    """The paper-scale configs build at full size, and benchmarks/results/train_cost.json
    (their FLOPs and epoch times) was measured on the models these configs build today."""
    from semcom.models import build_model

    assert {p.stem for p in GPU_CONFIGS} >= {"deepjscc_paper", "vlscc2d_paper", "scc_paper", "adjscc_paper"}
    rows = {r["config"]: r for r in json.loads(COST.read_text())["results"]}
    for p in GPU_CONFIGS:
        cfg = TrainConfig.from_dict(json.loads(p.read_text()))
        assert cfg.crop_size >= 128 and cfg.threads == 0
        row = rows[f"configs/gpu/{p.name}"]
        assert build_model(cfg.model, cfg.model_config).num_parameters() == row["parameters"]
        assert row["train_gflops_per_image"] > row["forward_gflops_per_image"] > 0 and row["epoch_minutes_bf16"] > 0


@pytest.mark.parametrize("path", GPU_CONFIGS, ids=lambda p: p.stem)
def test_gpu_configs_train_shrunk(path, tmp_path):
    cfg = TrainConfig.from_dict({**json.loads(path.read_text()), "eval_images": "tiny"}).shrink()
    meta = train(cfg, tmp_path, progress=False, options=RunOptions(precision="bf16"))
    assert meta["steps"] == 2 and np.isfinite(meta["metric"]["psnr_db"])


def test_a_resume_state_from_before_the_new_fields_still_resumes(tmp_path):
    train(tiny(steps=2), tmp_path, progress=False)
    st = torch.load(tmp_path / "last.pt", weights_only=True)
    del st["config"]["train_images"], st["world_size"], st["scaler"], st["noise_rng_device"]
    save_checkpoint(st, tmp_path / "last.pt", {"name": "last"})
    assert train(tiny(steps=3), tmp_path, progress=False, resume=True)["steps"] == 3
