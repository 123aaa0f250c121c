"""The bundled test photos: names, order, shapes, crops, checksums."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from semcom.data import TEST_IMAGE_NAMES, NamedImage, checksums, pixels_sha256, test_images
from semcom.errors import InputError

EXPECTED = {  # name: (H, W)
    "astronaut": (512, 512),
    "chelsea": (300, 451),
    "coffee": (400, 600),
    "rocket": (427, 640),
    "hubble_deep_field": (872, 1000),
    "retina": (1411, 1411),
    "stereo_motorcycle": (500, 741),
    "china": (427, 640),
    "flower": (427, 640),
    "grace_hopper": (600, 512),
}


def test_all_photos_load_in_fixed_order_with_checksums():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every bundled photo loads here
        imgs = test_images()
    assert [im.name for im in imgs] == list(TEST_IMAGE_NAMES) == list(EXPECTED)
    for im in imgs:
        assert isinstance(im, NamedImage)
        assert im.image.shape == (1, 3, *EXPECTED[im.name]) and im.image.dtype == torch.float32
        assert 0.0 <= float(im.image.min()) and float(im.image.max()) <= 1.0
        assert float(im.image.std()) > 0.05  # real content, not a constant
        u8 = (im.image[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        assert pixels_sha256(u8) == im.sha256
    assert len({im.sha256 for im in imgs}) == len(imgs)
    # Colour photos: the channels differ.
    assert all(float((im.image[:, 0] - im.image[:, 2]).abs().mean()) > 0.01 for im in imgs)


def test_deterministic_and_fresh_tensors():
    a, b = test_images(["coffee"])[0], test_images(["coffee"])[0]
    assert a.sha256 == b.sha256 and torch.equal(a.image, b.image)
    a.image.zero_()
    assert float(test_images(["coffee"])[0].image.sum()) > 0  # the cache is not shared with callers


def test_tiny_subset():
    imgs = test_images(subset="tiny")
    assert [im.name for im in imgs] == ["astronaut", "chelsea", "coffee"]
    assert all(im.image.shape == (1, 3, 256, 256) for im in imgs)
    assert [im.name for im in test_images(subset="tiny", size=128)] == ["astronaut", "chelsea", "coffee"]
    assert test_images(subset="tiny", size=128)[0].image.shape == (1, 3, 128, 128)


def test_centre_crop_square_and_multiple():
    full = test_images(["rocket"])[0].image
    crop = test_images(["rocket"], size=200)[0].image
    top, left = (427 - 200) // 2, (640 - 200) // 2
    assert torch.equal(crop, full[..., top : top + 200, left : left + 200])
    m = test_images(["rocket", "chelsea"], multiple_of=64)
    assert [(im.name, tuple(im.image.shape[2:])) for im in m] == [("chelsea", (256, 448)), ("rocket", (384, 640))]
    assert all(im.image.shape[2] % 64 == 0 and im.image.shape[3] % 64 == 0 for im in m)
    with pytest.warns(UserWarning, match="smaller"):
        big = test_images(["chelsea", "retina"], size=512)
    assert [im.name for im in big] == ["retina"]


def test_names_are_returned_in_fixed_order_and_checked():
    assert [im.name for im in test_images(["flower", "astronaut"])] == ["astronaut", "flower"]
    assert [im.name for im in test_images("china")] == ["china"]
    with pytest.raises(InputError):
        test_images(["lena"])
    with pytest.raises(InputError):
        test_images(subset="huge")
    with pytest.raises(InputError):
        test_images(size=0)
    with pytest.raises(InputError):
        test_images(size=64, multiple_of=16)


def test_checksums_helper():
    imgs = test_images(subset="tiny")
    cs = checksums(imgs)
    assert list(cs) == ["astronaut", "chelsea", "coffee"]
    assert all(len(v) == 64 and int(v, 16) >= 0 for v in cs.values())
    assert cs["astronaut"] != test_images(["astronaut"])[0].sha256  # the crop changes the pixels
    with pytest.raises(InputError):
        checksums([np.zeros(3)])
