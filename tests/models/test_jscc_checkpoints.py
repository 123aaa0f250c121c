"""Every committed learned-JSCC checkpoint still reaches the metric recorded in its metadata, and every
shipped checkpoint is covered by such a test.

The evaluation is the one the training run recorded (``metadata["eval"]``), run by
:func:`semcom.experiments.checkpoint_metric.measure` (what the float16 conversion measured too): for
the image models the 3 "tiny" test photos, 256x256 centre crops, at the training SNR, fixed seeds
(tolerances: 0.1 dB PSNR, 0.005 MS-SSIM, 0.002 SPP: float arithmetic differs slightly across CPUs;
the channel noise is seeded); for the 1D coders the test split of the committed face-landmark
vectors at the training SNR (tolerances: 1 % of the landmark error, 0.05 channel uses per vector).
"""

import pytest
import torch

from semcom.experiments.checkpoint_metric import RELATIVE_TOLERANCES, TOLERANCES, compare, measure
from semcom.models import checkpoint_dir, list_pretrained, load_pretrained
from semcom.models.checkpoint_io import weights_dtype

MINE = ("deepjscc", "vlscc2d", "scc", "vlscc1d", "scc1d", "adjscc")
NAMES = [n for n in list_pretrained() if n.split("_")[0] in MINE]
IMAGE_NAMES = [n for n in NAMES if n.split("_")[0] in ("deepjscc", "vlscc2d", "scc", "adjscc")]
VECTOR_NAMES = [n for n in NAMES if n.split("_")[0] in ("vlscc1d", "scc1d")]
#: The shipped checkpoints whose metric test lives elsewhere, and where.
OTHER_TESTS = {"lsci_": "tests/models/test_lsci_checkpoints.py", "sesc_": "tests/models/test_sesc_checkpoint.py",
               "seb_autoencoder": "tests/models/test_seb.py", "prt_concealer": "tests/models/test_concealer.py"}


def test_reference_checkpoints_are_committed():
    kinds = {n.split("_")[0] for n in NAMES}
    assert set(MINE) - {"adjscc"} <= kinds, f"committed: {NAMES}"


def test_every_shipped_checkpoint_has_a_metric_test():
    """A checkpoint in the package is either a JSCC checkpoint tested here or one with its own metric
    test (:data:`OTHER_TESTS`); the superseded ones are not shipped."""
    shipped = sorted(p.stem for p in checkpoint_dir().glob("*.pt"))
    uncovered = [n for n in shipped if n not in NAMES and not any(n.startswith(k) for k in OTHER_TESTS)]
    assert not uncovered, f"shipped checkpoints without a metric test: {uncovered}"
    for retired in ("deepjscc_awgn10_spp0125", "scc_awgn10_spp0125", "vlscc2d_awgn10", "vlscc2d_awgn10_low",
                    "scc_awgn10_spp0125_long", "vlscc2d_awgn10_long", "deepjscc_awgn10_spp0125_long"):
        assert retired not in shipped  # superseded by the *_long or *_105min runs; their results stay in results/


def _check(name: str):
    torch.set_num_threads(1)
    model = load_pretrained(name)
    meta = model.metadata
    assert meta["name"] == name and meta["model"] == model.name
    assert meta["parameters"] == model.num_parameters()
    pt = checkpoint_dir() / f"{name}.pt"
    assert meta["file_bytes"] == pt.stat().st_size < 5_000_000
    for key in ("config", "data", "seed", "command", "steps", "train_minutes"):
        assert key in meta
    stored = weights_dtype(torch.load(pt, weights_only=True)["state_dict"])
    assert stored == meta.get("weights_dtype", "float32")
    if stored == "float16":  # converted by the committed command, which recorded both metrics
        entry = meta["post_training"][-1]
        assert entry["changes"] == {"weights_dtype": "float16"} and "checkpoint_metric half" in entry["command"]
        assert compare(entry["metric_float16"], entry["metric_float32"]) == []
    got = measure(pt)  # also checks that the test data are the recorded ones
    assert compare(got, meta["metric"]) == [], (got, meta["metric"])
    return model, meta


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_1d_checkpoint_reaches_recorded_metric(name):
    from semcom.data.landmark_vectors import load_landmark_vectors

    model, meta = _check(name)
    assert model.input_kind == "vector"
    data = load_landmark_vectors(meta["config"]["data"], build_missing=False)
    mean_face = float(data.landmark_error_px(torch.zeros(len(data.test_landmarks), data.dim)))
    assert meta["metric"]["landmark_error_px"] < 0.5 * mean_face  # far better than sending nothing


@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_checkpoint_reaches_recorded_metric(name):
    model, _ = _check(name)
    assert model.input_kind == "image"


def test_the_tolerances_are_the_documented_ones():
    assert {k: TOLERANCES[k] for k in ("psnr_db", "ms_ssim", "spp", "channel_uses")} == \
        {"psnr_db": 0.1, "ms_ssim": 0.005, "spp": 0.002, "channel_uses": 0.05}
    assert RELATIVE_TOLERANCES == {"landmark_error_px": 0.01}
