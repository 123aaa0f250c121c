"""The SE-SC relevance CNN (weight model (a), learned): shapes, range, bad input, loading, its
training data, and the committed checkpoint's metric."""

import hashlib
import json

import numpy as np
import pytest
import torch

from semcom.errors import CheckpointError, InputError
from semcom.models.checkpoint_io import package_checkpoint_dir, save_checkpoint
from semcom.models.sesc_relevance import RelevanceCNN, load_relevance
from semcom.semantics.sesc_weights import CNNRelevance

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PT = package_checkpoint_dir() / "sesc_relevance.pt"


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return RelevanceCNN().eval()


def test_output_is_one_value_in_0_1_per_patch(net):
    x = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    w = net(x)
    assert w.shape == (2, 8, 12) and bool(((w >= 0) & (w <= 1)).all())
    weights = CNNRelevance(net)(x[:1], 8)
    assert weights.shape == (96,) and weights.dtype == np.float64 and (weights >= 0).all() and (weights <= 1).all()
    pooled = CNNRelevance(net)(x[:1], 16)  # a 16 px patch takes the mean of its four 8 px cells
    assert pooled.shape == (24,) and pooled[0] == pytest.approx(weights.reshape(8, 12)[:2, :2].mean())


@pytest.mark.parametrize("bad", [torch.rand(1, 1, 32, 32), torch.rand(1, 3, 30, 32), torch.rand(3, 32, 32, 1)])
def test_network_refuses_wrong_shapes(net, bad):
    with pytest.raises(InputError):
        net(bad)


def test_weight_model_refuses_bad_input(net):
    rel = CNNRelevance(net)
    nan = torch.rand(1, 3, 32, 32)
    nan[0, 0, 3, 3] = float("nan")
    for bad in (nan, torch.rand(2, 3, 32, 32), torch.rand(1, 3, 36, 32), torch.rand(1, 3, 32, 32) * 2,
                np.zeros((1, 3, 32, 32))):
        with pytest.raises(InputError):
            rel(bad, 8)
    for patch in (4, 12, 0, True):
        with pytest.raises(InputError):
            rel(torch.rand(1, 3, 48, 48), patch)


def test_save_and_load_round_trip_and_refusals(net, tmp_path):
    p = tmp_path / "rel.pt"
    blob = {"model": "sesc_relevance", "config": {"widths": [16, 32, 48], "context": 48}, "state_dict": net.state_dict()}
    save_checkpoint(blob, p, {"name": "rel"})
    back = load_relevance(p)
    x = torch.rand(1, 3, 32, 32)
    assert torch.allclose(back(x), net(x))
    raw = p.read_bytes()
    p.write_bytes(raw[:-8] + bytes(8))  # tampered: the SHA-256 no longer matches
    with pytest.raises(CheckpointError):
        load_relevance(p)
    other = tmp_path / "other.pt"
    save_checkpoint({**blob, "model": "sesc"}, other, {"name": "other"})
    with pytest.raises(CheckpointError):
        load_relevance(other)
    wrong = tmp_path / "wrong.pt"
    save_checkpoint({**blob, "config": {"widths": [8, 8, 8], "context": 8}}, wrong, {"name": "wrong"})
    with pytest.raises(CheckpointError):
        load_relevance(wrong)
    with pytest.raises(InputError):
        load_relevance("no_such_model")
    with pytest.raises(InputError):
        load_relevance("../sesc_relevance")


def test_box_file_parsing_and_face_split():
    from semcom.experiments.sesc_train_weights import _parse_boxes, split_faces

    text = "detection_0\n10 5\n10 85\n90 5\n90 85\n" + "".join(
        f"detection_{i}\n{100 + 7 * i} {50 * i}\n{100 + 7 * i} {50 * i + 40}\n{140 + 7 * i} {50 * i}\n{140 + 7 * i} {50 * i + 40}\n"
        for i in range(1, 13))
    b = _parse_boxes(text)
    assert b.shape == (12, 4) and (b[:, 2] - b[:, 0] == 40).all()  # the 80 px outlier box is dropped
    assert b[0].tolist() == [50, 107, 90, 147]
    train, val = split_faces(b)
    assert len(val) == 2 and not set(train) & set(val) and sorted(train + val) == list(range(12))


def test_training_scene_boxes_and_target():
    from semcom.experiments.sesc_train_weights import target, training_scene

    gray = np.tile(np.linspace(0, 255, 400).astype(np.uint8), (300, 1))
    boxes = np.array([[100, 100, 150, 150], [250, 120, 300, 170.]])
    bg = torch.rand(3, 128, 128, generator=torch.Generator().manual_seed(0))
    found = 0
    for i in range(20):
        img, b = training_scene(bg, gray, boxes, [0, 1], np.random.default_rng(i), face_px=(20, 40))
        assert img.shape == (128, 128, 3) and img.dtype == np.uint8
        assert ((b >= 0) & (b <= 128)).all() and (b[:, 2] > b[:, 0]).all()
        t = target(b, 128)
        assert t.shape == (16, 16) and t.min() >= 0 and t.max() <= 1 and (t.max() == 1) == (len(b) > 0)
        found += len(b)
    assert found > 0


def test_relevance_metric_on_perfect_and_inverted_weights():
    from semcom.experiments.sesc_train_weights import relevance_metric, target

    boxes = [np.array([[8, 8, 40, 40.]]), np.array([[24, 0, 64, 32.]])]
    perfect = [target(b, 64, sigma=0.5).reshape(-1) for b in boxes]
    m = relevance_metric(perfect, boxes, 8)
    assert m["auc"] == 1.0 and m["recall_top20"] == pytest.approx(min(1.0, 2 * 13 / m["face_patches"]))
    inv = relevance_metric([1 - w for w in perfect], boxes, 8)
    assert inv["auc"] < 0.1 and inv["recall_top20"] == 0


@pytest.mark.skipif(not PT.is_file(), reason="no committed relevance CNN")
def test_committed_checkpoint_metadata_and_hash():
    meta = json.loads(PT.with_suffix(".json").read_text())
    assert meta["sha256"] == hashlib.sha256(PT.read_bytes()).hexdigest() and meta["file_bytes"] < 1_000_000
    for key in ("config", "data", "seed", "command", "steps", "train_minutes", "metric", "weights_dtype"):
        assert key in meta
    assert load_relevance().num_parameters() == meta["parameters"]


@pytest.mark.skipif(not PT.is_file(), reason="no committed relevance CNN")
def test_committed_checkpoint_reaches_its_metric():
    pytest.importorskip("mediapipe")  # the test portraits' reference boxes come from the detector
    from semcom.experiments.sesc_train_weights import scene_metric

    meta = json.loads(PT.with_suffix(".json").read_text())
    cfg = meta["config"]["train"]
    got = scene_metric(load_relevance(), cfg["test_composites"], cfg["size"])
    assert got["face_patches"] == meta["metric"]["test"]["face_patches"]
    assert got["auc"] == pytest.approx(meta["metric"]["test"]["auc"], abs=0.002)
    assert got["recall_top20"] == pytest.approx(meta["metric"]["test"]["recall_top20"], abs=0.01)
    assert got["auc"] > 0.75  # above the entropy model (0.68) and random weights (0.48) on these scenes


def test_train_weights_command_refuses_bad_options_before_any_work(tmp_path, capsys):
    from semcom.cli import main

    assert main(["sesc", "train-weights", "--steps", "0", "--out", str(tmp_path)]) == 2
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"steps": 2, "nonsense": 1}))
    assert main(["sesc", "train-weights", "--config", str(cfg), "--out", str(tmp_path)]) == 2
    assert "nonsense" in capsys.readouterr().err
    assert main(["sesc", "train-weights", "--config", str(tmp_path / "missing.json"), "--out", str(tmp_path)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_missing_training_faces_is_a_clear_error(monkeypatch):
    from semcom.data import DataUnavailableError
    from semcom.data import _common
    from semcom.experiments.sesc_train_weights import solvay_faces

    monkeypatch.setattr(_common, "dpkg_files", lambda package: None)
    with pytest.raises(DataUnavailableError, match="visp-images-data"):
        solvay_faces()


def test_committed_training_config_parses():
    from pathlib import Path

    from semcom.experiments.sesc_train_weights import RelevanceTrainConfig
    from semcom.utils import from_dict

    path = Path(__file__).resolve().parents[2] / "configs" / "sesc" / "relevance.json"
    cfg = from_dict(RelevanceTrainConfig, json.loads(path.read_text()))
    assert cfg.name == "sesc_relevance" and cfg.steps >= 1 and list(cfg.face_px) == [40, 110]


@pytest.mark.slow
def test_training_runs_end_to_end_and_exports_a_loadable_checkpoint(tmp_path):
    pytest.importorskip("mediapipe")
    from semcom.data import DataUnavailableError
    from semcom.experiments.sesc_train_weights import RelevanceTrainConfig, export, train

    cfg = RelevanceTrainConfig(steps=2, batch_size=2, size=128, face_px=(30, 60), val_scenes=2, test_composites=1,
                               log_every=1)
    try:
        net, record = train(cfg, log=lambda line: None)
    except DataUnavailableError:
        pytest.skip("training photos or faces not installed")
    assert record["steps"] == 2 and len(record["curve"]) == 2
    meta = export(net, cfg, record, tmp_path, "test")
    back = load_relevance(tmp_path / "sesc_relevance.pt")
    assert back.metadata["sha256"] == meta["sha256"] and set(meta["metric"]) == {"val", "test"}
    assert 0 <= meta["metric"]["test"]["auc"] <= 1 and meta["weights_dtype"] in ("float16", "float32")
