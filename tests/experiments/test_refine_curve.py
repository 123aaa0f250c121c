"""semcom train refine-curve: the refinement's gain per step, JSON, plot and command line."""

from __future__ import annotations

import json

import pytest

from semcom.cliargs import UsageError
from semcom.data import training_photo_paths
from semcom.errors import InputError
from semcom.experiments import refine_curve as rc
from semcom.experiments.train import main as train_main


def test_curve_on_the_tiny_photos(tmp_path):
    res = rc.refine_curve("deepjscc_awgn5_spp0125", [5.0], [3], images="tiny", offsets_db=[0.0, -3.0], draws=2,
                          progress=False)
    rows = res.data["rows"]
    assert [(r["offset_db"], r["steps"]) for r in rows] == [(0.0, 0), (0.0, 3), (-3.0, 0), (-3.0, 3)]
    assert all(r["gain_db"] == 0.0 for r in rows if r["steps"] == 0)
    assert all(len(r["per_image_psnr_db"]) == 3 and r["psnr_db"] > 15 for r in rows)
    assert rows[1]["gain_db"] == pytest.approx(sum(a - b for a, b in zip(rows[1]["per_image_psnr_db"],
                                                                          rows[0]["per_image_psnr_db"])) / 3)
    assert rows[1]["gain_db"] > 0  # three steps at the right SNR already help
    assert rows[3]["assumed_snr_db"] == 2.0 and rows[1]["seconds_per_megapixel"] > 0
    assert res.data["image_names"] == ["astronaut", "chelsea", "coffee"]
    png = rc.plot_refine_curve(res, tmp_path)
    assert png.is_file() and png.stat().st_size > 5000


def test_command_line(tmp_path, capsys):
    out = tmp_path / "rc"
    assert train_main(["refine-curve", "--checkpoint", "deepjscc_awgn5_spp0125", "--snr", "0", "--steps", "1",
                       "--images", "tiny", "--draws", "1", "--no-progress", "--no-plots", "--out", str(out)]) == 0
    data = json.loads((out / "refine_curve.json").read_text())
    assert [r["steps"] for r in data["data"]["rows"]] == [0, 1]
    assert data["provenance"]["config"]["images"] == "tiny"
    assert "gain" in capsys.readouterr().out


def test_refused_inputs(tmp_path):
    with pytest.raises(InputError, match="differentiable"):
        rc.refine_curve("scc_awgn10_spp0125_105min", [5.0], [1], progress=False)
    with pytest.raises(InputError, match="steps"):
        rc.refine_curve("deepjscc_awgn5_spp0125", [5.0], [-1], progress=False)
    with pytest.raises(UsageError):
        rc.load_images("train-x", 4)
    with pytest.raises(UsageError, match="lr"):
        rc.build_parser().parse_args(["--checkpoint", "x", "--snr", "5", "--lr", "-1"])


@pytest.mark.skipif(not training_photo_paths(), reason="training photos not installed")
def test_training_crops_as_the_image_set():
    imgs = rc.load_images("train-2", 4)
    assert [n for n, _ in imgs] == ["train_crop_0", "train_crop_1"]
    assert all(tuple(x.shape) == (1, 3, rc.TRAIN_CROP, rc.TRAIN_CROP) for _, x in imgs)
