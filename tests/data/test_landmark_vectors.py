"""Face-landmark vectors (the 1D source of VL-SCC 1D): the vectoriser, the committed cache, bad input.

The committed cache (``semcom/data/assets``) is read without mediapipe; building one runs
FaceMesh on talking-head videos (marked slow)."""

import json

import numpy as np
import pytest
import torch

from semcom.data.landmark_vectors import (
    SUBSET,
    LandmarkSourceConfig,
    LandmarkVectorizer,
    build,
    load_landmark_vectors,
    read,
)
from semcom.errors import ConfigError, InputError


def _faces(m=50, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.uniform(80, 170, (1, len(SUBSET), 2))
    shift = rng.normal(0, 5, (m, 1, 2))
    scale = rng.uniform(0.9, 1.1, (m, 1, 1))
    return (base - 128) * scale + 128 + shift + rng.normal(0, 0.5, (m, len(SUBSET), 2))


def test_subset_is_the_documented_facemesh_points():
    assert len(SUBSET) == 130 and list(SUBSET) == sorted(set(SUBSET))
    assert 468 in SUBSET and 473 in SUBSET and all(0 <= i < 478 for i in SUBSET)


def test_vectorizer_roundtrip_standardisation_and_error_weighting():
    pts = _faces()
    vec = LandmarkVectorizer.fit(pts)
    x = vec.to_vectors(pts)
    assert x.shape == (50, 3 + 2 * 130) and x.dtype == np.float32
    assert abs(float(x.mean())) < 1e-5 and float(np.sqrt((x.astype(np.float64) ** 2).mean())) == pytest.approx(1, rel=1e-4)
    np.testing.assert_allclose(vec.to_landmarks(x), pts, atol=2e-3)
    # squared vector error ~ summed squared landmark error / r_bar^2 (to first order)
    dx = np.random.default_rng(1).normal(0, 1e-3, x.shape)
    dp = vec.to_landmarks(x + dx) - vec.to_landmarks(x)
    lhs = (dp ** 2).sum(axis=(1, 2))
    rhs = (dx ** 2).sum(1) * vec.scale ** 2 * vec.mean_radius ** 2
    np.testing.assert_allclose(lhs, rhs, rtol=0.3)
    assert float(np.mean(lhs) / np.mean(rhs)) == pytest.approx(1.0, abs=0.1)


def test_vectorizer_bad_input():
    vec = LandmarkVectorizer.fit(_faces())
    with pytest.raises(InputError):
        vec.to_vectors(np.zeros((2, 10, 2)))
    bad = _faces(2)
    bad[0, 0, 0] = np.nan
    with pytest.raises(InputError):
        vec.to_vectors(bad)
    with pytest.raises(InputError):
        vec.to_vectors(np.ones((1, 130, 2)))  # all points at one place
    with pytest.raises(InputError):
        vec.to_landmarks(np.zeros((2, 5)))
    with pytest.raises(InputError):
        LandmarkVectorizer.fit(_faces(1))


def test_source_config_refuses_training_on_the_test_portrait():
    with pytest.raises(ConfigError):
        LandmarkSourceConfig(train_portrait="astronaut", test_portrait="astronaut")
    with pytest.raises(ConfigError):
        LandmarkSourceConfig(frames=0)
    with pytest.raises(ConfigError):
        load_landmark_vectors({"videos": 3})


def test_committed_cache_loads_without_mediapipe():
    d = load_landmark_vectors(build_missing=False, progress=False)
    c = d.config
    assert c.train_portrait != c.test_portrait
    assert d.path is not None and d.path.parent.name == "assets" and d.path.stat().st_size < 2_000_000
    assert d.train_landmarks.shape == (c.train_videos * c.frames - d.info["dropped_frames"]["train"], 130, 2)
    assert d.test_landmarks.shape[1:] == (130, 2) and len(d.test_landmarks) > 100
    assert d.dim == 263 and d.vectors("train").shape == (len(d.train_landmarks), 263)
    assert (d.train_landmarks >= 0).all() and (d.train_landmarks <= c.size).all()
    # the task metric: perfect vectors give (almost) zero error, the mean face several pixels
    x = d.vectors("test")
    assert float(d.landmark_error_px(x)) < 1e-3
    assert 2.0 < float(d.landmark_error_px(torch.zeros_like(x))) < 30.0
    assert len(d.checksum()) == 64 and "FaceMesh" in d.describe()
    with pytest.raises(InputError):
        d.vectors("valid")
    with pytest.raises(InputError):
        d.landmark_error_px(x[:10])


def test_missing_cache_and_corrupt_file(tmp_path, monkeypatch):
    from semcom.data import DataUnavailableError

    monkeypatch.setenv("SEMCOM_CACHE_DIR", str(tmp_path))
    with pytest.raises(DataUnavailableError):
        load_landmark_vectors({"train_videos": 2}, build_missing=False)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError):
        read(bad)


@pytest.mark.slow
def test_build_runs_facemesh_on_talking_head_videos(tmp_path):
    pytest.importorskip("mediapipe")
    cfg = LandmarkSourceConfig(train_videos=2, test_videos=1, frames=3, size=128)
    p = build(cfg, tmp_path / "lv.npz", progress=False)
    d = read(p)
    assert d.config == cfg and json.loads(json.dumps(d.info))["subset"] == list(SUBSET)
    assert len(d.train_landmarks) + d.info["dropped_frames"]["train"] == 6
    assert set(map(tuple, d.train_ids.tolist())) <= {(v, t) for v in range(2) for t in range(3)}


def test_augment_shapes_is_seeded_smooth_and_bounded():
    from semcom.data.landmark_vectors import augment_shapes

    pts = _faces(20)
    a = augment_shapes(pts, torch.Generator().manual_seed(0), 1.0)
    b = augment_shapes(pts, torch.Generator().manual_seed(0), 1.0)
    np.testing.assert_array_equal(a, b)
    assert a.shape == pts.shape and not np.shares_memory(a, pts)
    np.testing.assert_array_equal(augment_shapes(pts, torch.Generator(), 0.0), pts)
    d1 = np.linalg.norm(a - pts, axis=-1).mean()
    d2 = np.linalg.norm(augment_shapes(pts, torch.Generator().manual_seed(0), 2.0) - pts, axis=-1).mean()
    assert 0 < d1 < d2 < 3 * d1  # grows with the strength
    r = np.sqrt(((pts - pts.mean(1, keepdims=True)) ** 2).sum(-1).mean(-1)).mean()
    assert d1 < 0.2 * r  # a deformation, not a different object
