"""The LSCI trainers on tiny configs (seconds): checkpoint + metadata written, metric from real bytes."""

import json

import pytest

from semcom.errors import CheckpointError, ConfigError
from semcom.experiments.lsci import _interp_bpp
from semcom.experiments.lsci_train import LSCITrainConfig, SliceTrainConfig, run, run_slice
from semcom.models.lsci import load_base, sha256_file

TINY = {"enc_channels": [4] * 6, "gen_channels": [4] * 4, "res_blocks": 1, "latent_channels": 2}


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    out = tmp_path_factory.mktemp("lsci")
    meta = run({"model_config": TINY, "steps": 2, "crop_size": 32, "batch_size": 2, "eval_size": 64, "log_every": 1,
                "name": "b"}, out)
    return out, meta


def test_base_stage_writes_checkpoint_with_metric(tiny_base):
    out, meta = tiny_base
    assert meta["steps"] == 2 and meta["sha256"] == sha256_file(out / "b.pt")
    m = meta["metric"]
    assert m["bpp"] > 0 and m["bpp"] <= m["bound_bpp"] + 15 * 8 / 64 ** 2 + 0.05   # bytes incl. the 15-byte header
    assert json.loads((out / "b.json").read_text())["metric"] == m
    load_base(out / "b.pt")


def test_gan_stage_and_slices_from_base(tiny_base):
    out, _ = tiny_base
    gan = run({"stage": "gan", "init": str(out / "b.pt"), "steps": 2, "crop_size": 32, "batch_size": 2,
               "eval_size": 64, "log_every": 1, "name": "g", "disc_channels": [4, 4]}, out)
    assert {"critic_gap", "gp", "adv"} <= set(gan["history_tail"][-1])
    ch = run_slice({"kind": "channel", "base": str(out / "b.pt"), "steps": 2, "log_every": 1, "name": "c",
                    "crop_size": 32, "batch_size": 2, "slice_config": {"hidden": [4, 4, 4], "symbols": 1}}, out)
    assert ch["base_version"] == load_base(out / "b.pt").version()


def test_tampered_checkpoint_refused(tiny_base, tmp_path):
    out, _ = tiny_base
    data = bytearray((out / "b.pt").read_bytes())
    data[-10] ^= 1
    (tmp_path / "b.pt").write_bytes(bytes(data))
    (tmp_path / "b.json").write_text((out / "b.json").read_text())
    with pytest.raises(CheckpointError):
        load_base(tmp_path / "b.pt")


def test_bad_configs():
    with pytest.raises(ConfigError):
        LSCITrainConfig(stage="gan")
    with pytest.raises(ConfigError):
        LSCITrainConfig(steps=0)
    with pytest.raises(ConfigError):
        SliceTrainConfig(kind="sr")
    with pytest.raises(ConfigError):
        SliceTrainConfig(kind="other", base="x")


def test_interp_and_cli_usage():
    assert _interp_bpp([(0.1, 20.0), (0.3, 30.0)], 25.0) == pytest.approx(0.2)
    assert _interp_bpp([(0.1, 20.0), (0.3, 30.0)], 35.0) is None
    from semcom.cli import main as cli_main

    assert cli_main(["lsci"]) == 2 and cli_main(["lsci", "nope"]) == 2


def test_committed_configs_parse():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "configs" / "lsci"
    paths = sorted(folder.glob("*.json"))
    assert len(paths) >= 6
    for p in paths:
        d = json.loads(p.read_text())
        (SliceTrainConfig if "kind" in d else LSCITrainConfig)(**d)
