"""prt sweep (semcom.experiments.prt_sweep): config checks, bad videos, a tiny end-to-end run."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

from semcom.errors import ConfigError, InputError, SemcomError
from semcom.experiments import prt_sweep as ps

needs_mediapipe = pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None, reason="mediapipe not installed")
needs_keypoint = pytest.mark.skipif(importlib.util.find_spec("semcom.semantics.keypoint") is None,
                                    reason="the keypoint application is not in this checkout")

TINY = {"frames": 4, "size": 128, "cblers": [0.0, 1.0], "allocators": ["cidh"], "tests": [2],
        "concealers": ["fc", "hold_last"], "seeds": 1, "rate_tests": [], "rate_kbps": [], "eval_every": 1,
        "h265_preset": "ultrafast"}


def test_config_is_strict():
    with pytest.raises(ConfigError):
        ps.SweepConfig.from_dict({"frame": 3})
    for bad in ({"cblers": [1.5]}, {"tests": [10]}, {"allocators": ["best"]}, {"frames": 0}, {"size": 129},
                {"link": "bittrue"}, {"link": "wifi"}, {"rate_kbps": [-1]}, {"concealers": []}):
        with pytest.raises(ConfigError):
            ps.SweepConfig.from_dict(bad)
    cfg = ps.SweepConfig.from_dict({"link": "bittrue", "snr_db": [0, 2]})
    assert cfg.channel_points == [0.0, 2.0]
    assert ps.SweepConfig().channel_points == [round(0.1 * i, 1) for i in range(11)]


def test_table1_grants():
    g = ps.table1_grant(3, 192)
    assert g.capacities == (384,) * 5
    assert ps.table1_grant(8, 100).capacities == (900,) * 3


def _write(path, frames):
    from semcom.data.video import write_video

    write_video(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0, path, fps=10)
    return str(path)


@needs_mediapipe
def test_a_video_without_a_face_is_a_clear_error(tmp_path, capsys):
    from semcom.data.faces import NoFaceError

    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    path = _write(tmp_path / "noface.mp4", noise)
    cfg = dict(TINY, video=path, size=64)
    with pytest.raises(NoFaceError, match="no face"):
        ps.run(cfg, progress=False)
    assert ps.main(["--video", path, "--size", "64", "--frames", "3", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "no face" in capsys.readouterr().err


def test_an_empty_video_is_a_clear_error(tmp_path, capsys):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(SemcomError):
        ps.run(dict(TINY, video=str(empty)), progress=False)
    assert ps.main(["--video", str(empty), "--out", str(tmp_path), "--no-progress"]) == 2
    assert "semcom prt sweep" in capsys.readouterr().err
    with pytest.raises(InputError):
        ps._check_faces(np.zeros((0, 64, 64, 3), np.uint8), None)
