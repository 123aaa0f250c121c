"""Every committed learned-JSCC checkpoint still reaches the metric recorded in its metadata.

The evaluation is the one the training run recorded (``metadata["eval"]``): for the image models
the 3 "tiny" test photos, 256x256 centre crops, at the training SNR, fixed seeds (tolerances: 0.1
dB PSNR, 0.005 MS-SSIM, 0.002 SPP: float arithmetic differs slightly across CPUs; the channel noise
is seeded); for the 1D coders the test split of the committed face-landmark vectors at the
training SNR (tolerances: 1 % of the landmark error, 0.05 channel uses per vector).
"""

import pytest
import torch

from semcom.models import checkpoint_dir, list_pretrained, load_pretrained
from semcom.training import evaluate

MINE = ("deepjscc", "vlscc2d", "scc", "vlscc1d", "scc1d")
NAMES = [n for n in list_pretrained() if n.split("_")[0] in MINE]
IMAGE_NAMES = [n for n in NAMES if n.split("_")[0] in ("deepjscc", "vlscc2d", "scc")]
VECTOR_NAMES = [n for n in NAMES if n.split("_")[0] in ("vlscc1d", "scc1d")]


def test_reference_checkpoints_are_committed():
    kinds = {n.split("_")[0] for n in NAMES}
    assert set(MINE) <= kinds, f"committed: {NAMES}"


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_1d_checkpoint_reaches_recorded_metric(name):
    from semcom.data.landmark_vectors import load_landmark_vectors
    from semcom.training.loop import evaluate_vectors

    torch.set_num_threads(1)
    model = load_pretrained(name)
    meta = model.metadata
    assert meta["name"] == name and meta["model"] == model.name and model.input_kind == "vector"
    assert meta["parameters"] == model.num_parameters()
    assert meta["file_bytes"] == (checkpoint_dir() / f"{name}.pt").stat().st_size < 5_000_000
    data = load_landmark_vectors(meta["config"]["data"], build_missing=False)
    ev = meta["eval"]
    got = evaluate_vectors(model, data, ev["snr_db"], seed=ev["seed"], channel=ev["channel"])
    assert got["checksums"] == ev["checksums"]  # the same landmark vectors
    rec = meta["metric"]
    assert got["landmark_error_px"] == pytest.approx(rec["landmark_error_px"], rel=0.01)
    assert got["channel_uses"] == pytest.approx(rec["channel_uses"], abs=0.05)
    mean_face = float(data.landmark_error_px(torch.zeros(len(data.test_landmarks), data.dim)))
    assert rec["landmark_error_px"] < 0.5 * mean_face  # far better than sending nothing
    for key in ("config", "data", "seed", "command", "steps", "train_minutes"):
        assert key in meta


@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_checkpoint_reaches_recorded_metric(name):
    torch.set_num_threads(1)
    model = load_pretrained(name)
    meta = model.metadata
    assert meta["name"] == name and meta["model"] == model.name
    assert meta["parameters"] == model.num_parameters()
    assert meta["file_bytes"] == (checkpoint_dir() / f"{name}.pt").stat().st_size
    assert meta["file_bytes"] < 10_000_000
    ev = meta["eval"]
    got = evaluate(model, ev["images"], ev["size"], snr_db=ev["snr_db"], seed=ev["seed"])
    assert got["checksums"] == ev["checksums"]  # the same test photos
    rec = meta["metric"]
    assert got["psnr_db"] == pytest.approx(rec["psnr_db"], abs=0.1)
    assert got["ms_ssim"] == pytest.approx(rec["ms_ssim"], abs=0.005)
    assert got["spp"] == pytest.approx(rec["spp"], abs=0.002)
    for key in ("config", "data", "seed", "command", "steps", "train_minutes"):
        assert key in meta
