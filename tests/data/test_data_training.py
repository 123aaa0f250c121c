"""Training crops from the Debian wallpaper photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from semcom.data import DataUnavailableError, TrainingCrops, test_images, training_photo_paths
from semcom.data.training import _pick_photos
from semcom.errors import InputError

PATHS = training_photo_paths()
needs_photos = pytest.mark.skipif(
    not PATHS, reason="Debian packages mate-backgrounds / plasma-workspace-wallpapers not installed"
)


@needs_photos
def test_paths_are_photographs_not_art_nor_test_photos():
    assert len(PATHS) >= 12
    assert PATHS == sorted(PATHS[: sum("/mate/" in p for p in PATHS)]) + PATHS[sum("/mate/" in p for p in PATHS) :]
    for p in PATHS:
        assert p.endswith(".jpg")
        assert "/mate/nature/" in p or "/contents/images/" in p
        assert "abstract" not in p and "desktop" not in p and "screenshot" not in p
    with Image.open(PATHS[-1]) as im:
        assert min(im.size) >= 1600  # high resolution


def test_pick_photos_filters_art_and_keeps_largest_variant(tmp_path, monkeypatch):
    import semcom.data.training as tr

    files = [
        "/usr/share/wallpapers/Kite/contents/images/640x480.jpg",
        "/usr/share/wallpapers/Kite/contents/images/2560x1600.jpg",
        "/usr/share/wallpapers/Kite/contents/screenshot.jpg",
        "/usr/share/wallpapers/FlyingKonqui/contents/images/2560x1600.png",
        "/usr/share/wallpapers/Flow/contents/images_dark/5120x2880.jpg",
        "/usr/share/backgrounds/mate/abstract/Elephants.jpg",
        "/usr/share/backgrounds/mate/nature/Aqua.jpg",
    ]
    monkeypatch.setattr(tr.os.path, "isfile", lambda f: True)
    assert _pick_photos(files) == [
        "/usr/share/backgrounds/mate/nature/Aqua.jpg",
        "/usr/share/wallpapers/Kite/contents/images/2560x1600.jpg",
    ]


@needs_photos
def test_crops_are_deterministic_shaped_and_varied():
    ds = TrainingCrops(size=96, count=50, seed=7, max_side=640)
    assert len(ds) == 50 and ds.paths == PATHS
    x = ds[3]
    assert x.shape == (3, 96, 96) and x.dtype == torch.float32
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    again = TrainingCrops(size=96, count=50, seed=7, max_side=640)
    assert all(torch.equal(ds[i], again[i]) for i in (0, 3, 49))
    assert torch.equal(ds[-1], ds[49])
    other = TrainingCrops(size=96, count=50, seed=8, max_side=640)
    assert not torch.equal(ds[3], other[3])
    batch = torch.stack([ds[i] for i in range(50)])
    assert len({round(float(b.mean()), 4) for b in batch}) > 40  # different crops
    assert float(batch.std()) > 0.1
    with pytest.raises(IndexError):
        ds[50]
    g = torch.Generator().manual_seed(3)
    assert torch.equal(TrainingCrops(size=32, count=2, seed=g, max_side=640)[0],
                       TrainingCrops(size=32, count=2, seed=torch.Generator().manual_seed(3), max_side=640)[0])


@needs_photos
def test_flips_and_dataloader():
    a = TrainingCrops(size=64, count=20, seed=1, max_side=640, hflip=False)
    b = TrainingCrops(size=64, count=20, seed=1, max_side=640, hflip=True)
    flipped = [i for i in range(20) if not torch.equal(a[i], b[i])]
    assert 3 <= len(flipped) <= 17
    for i in flipped:
        assert torch.equal(b[i], a[i].flip(-1))
    loader = torch.utils.data.DataLoader(b, batch_size=8)
    first = next(iter(loader))
    assert first.shape == (8, 3, 64, 64)


@needs_photos
def test_training_set_excludes_test_photos():
    test_hashes = {im.sha256 for im in test_images()}
    ds = TrainingCrops(size=64, count=1, max_side=640)
    assert ds.paths and all("skimage" not in p and "sklearn" not in p for p in ds.paths)
    assert len(test_hashes) == 10


def test_user_paths_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "a.png"
    Image.fromarray(rng.integers(0, 255, (120, 200, 3), dtype=np.uint8)).save(p)
    ds = TrainingCrops(size=100, count=4, seed=0, paths=[p])
    assert ds[0].shape == (3, 100, 100)
    with pytest.raises(InputError):
        TrainingCrops(size=150, count=4, paths=[p])  # photo smaller than the crop
    with pytest.raises(DataUnavailableError):
        TrainingCrops(size=16, count=4, paths=[tmp_path / "missing.jpg"])
    for bad in ({"size": 0}, {"count": -1}, {"seed": "x"}, {"size": 2000, "max_side": 1000}):
        with pytest.raises(InputError):
            TrainingCrops(paths=[p], **bad)


def test_missing_packages_error_tells_how_to_fix(monkeypatch):
    import semcom.data.training as tr

    monkeypatch.setattr(tr, "training_photo_paths", lambda: [])
    with pytest.raises(DataUnavailableError, match="setup.sh"):
        TrainingCrops(size=16, count=1)
