"""The committed SE-SC checkpoint: integrity (SHA-256), its image metric and its task metric."""

import hashlib
import json

import pytest

from semcom.errors import CheckpointError
from semcom.models import checkpoint_dir

NAMES = [n for n in ("sesc_rayleigh", "sesc_cnn_rayleigh") if (checkpoint_dir() / f"{n}.pt").is_file()]

pytestmark = [pytest.mark.skipif(not NAMES, reason="no committed SE-SC checkpoint"),
              pytest.mark.usefixtures("one_torch_thread")]


def _meta(name):
    return json.loads((checkpoint_dir() / f"{name}.json").read_text())


@pytest.mark.parametrize("NAME", NAMES)
def test_metadata_and_sha256(NAME):
    PT = checkpoint_dir() / f"{NAME}.pt"
    meta = _meta(NAME)
    assert meta["sha256"] == hashlib.sha256(PT.read_bytes()).hexdigest()
    assert meta["file_bytes"] == PT.stat().st_size < 5_000_000
    ent = checkpoint_dir() / meta["entropy_model"]["file"]
    assert meta["entropy_model"]["sha256"] == hashlib.sha256(ent.read_bytes()).hexdigest()
    for key in ("config", "data", "seed", "command", "steps", "train_minutes", "metric", "task_metric", "post_training"):
        assert key in meta
    from semcom.experiments.sesc_common import load_codec

    m = load_codec(NAME)
    assert m.num_parameters() == meta["parameters"] and m.config.tile == meta["config"]["model_config"]["tile"]


@pytest.mark.parametrize("NAME", NAMES)
def test_tampered_checkpoint_is_refused(NAME, tmp_path):
    from semcom.experiments.sesc_common import load_codec

    PT = checkpoint_dir() / f"{NAME}.pt"
    bad = tmp_path / f"{NAME}.pt"
    bad.write_bytes(PT.read_bytes()[:-10] + b"0123456789")
    (tmp_path / f"{NAME}.json").write_text(PT.with_suffix(".json").read_text())
    with pytest.raises(CheckpointError):
        load_codec(str(bad))


@pytest.mark.parametrize("NAME", NAMES)
def test_checkpoint_reaches_its_image_metric(NAME):
    from semcom.experiments.sesc_common import load_codec
    from semcom.training import evaluate

    meta = _meta(NAME)
    ev = meta["eval"]
    got = evaluate(load_codec(NAME), ev["images"], ev["size"], snr_db=ev["snr_db"], seed=ev["seed"])
    assert got["checksums"] == ev["checksums"]
    rec = meta["metric"]
    assert got["psnr_db"] == pytest.approx(rec["psnr_db"], abs=0.1)
    assert got["ms_ssim"] == pytest.approx(rec["ms_ssim"], abs=0.005)
    assert got["spp"] == pytest.approx(rec["spp"], abs=0.002)


@pytest.mark.slow
@pytest.mark.parametrize("NAME", NAMES)
def test_checkpoint_reaches_its_task_metric(NAME):
    pytest.importorskip("mediapipe")
    from semcom.experiments.sesc_common import load_codec
    from semcom.experiments.sesc_export import task_metric

    meta = _meta(NAME)
    cfg = {k: meta["task_eval"][k] for k in ("n_composites", "size", "scene_seed", "snr_db", "seed", "mu")}
    got = task_metric(load_codec(NAME), cfg)
    for key in ("full", f"mu{cfg['mu']}"):
        assert got[key]["ap50"] == pytest.approx(meta["task_metric"][key]["ap50"], abs=0.02)
        assert got[key]["map"] == pytest.approx(meta["task_metric"][key]["map"], abs=0.02)


@pytest.mark.skipif("sesc_cnn_rayleigh" not in NAMES, reason="no committed masked-CNN codec")
def test_entropy_weights_use_the_model_fitted_to_the_codec():
    """Regression: the entropy weights of the masked-CNN codec read its own entropy model (64-dim
    embeddings), not the transformer's (128-dim), which raised InputError."""
    import torch

    from semcom.experiments.sesc_common import load_codec, weight_fn

    codec = load_codec("sesc_cnn_rayleigh")
    w = weight_fn("entropy", codec)(torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)), 8)
    assert w.shape == (64,) and w.min() == 0 and w.max() == 1
