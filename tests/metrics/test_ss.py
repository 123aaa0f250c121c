"""SS (LSCI Eq. 1) with the sigmoid mapping, on the selfie segmenter's person masks."""

import pytest
import torch

from semcom.errors import InputError
from semcom.metrics.ss import mask_iou, semantic_service, ss_from_iou


def test_mapping_endpoints_and_monotone():
    assert ss_from_iou(1.0) == 1.0
    vals = [ss_from_iou(v / 10) for v in range(11)]
    assert vals == sorted(vals) and 0 < vals[0] < 0.01
    assert ss_from_iou(0.5) == pytest.approx(0.5 / (1 / (1 + 2.718281828 ** -5)), rel=1e-6)


def test_iou():
    a = torch.zeros(1, 1, 8, 8)
    b = torch.zeros(1, 1, 8, 8)
    assert mask_iou(a, b) == 1.0
    a[..., :4, :] = 1
    b[..., 2:6, :] = 1
    assert mask_iou(a, b) == pytest.approx(16 / 48)


def test_bad_input():
    with pytest.raises(InputError):
        ss_from_iou(float("nan"))
    with pytest.raises(InputError):
        ss_from_iou(1.5)
    with pytest.raises(InputError):
        mask_iou(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
    with pytest.raises(InputError):
        mask_iou(torch.full((1, 1, 2, 2), 0.5), torch.zeros(1, 1, 2, 2))
    with pytest.raises(InputError):
        semantic_service(torch.rand(1, 3, 32, 32), torch.full((1, 3, 32, 32), float("nan")))


def test_segmenter_on_a_person_photo():
    from semcom.data import test_images

    x = test_images(["astronaut"], size=256)[0].image
    same = semantic_service(x, x)
    assert same["ss"] == 1.0 and same["reference_area"] > 0.05
    grey = semantic_service(x, torch.full_like(x, 0.5))
    assert grey["ss"] < 0.2                                 # nothing left to segment
    blurred = torch.nn.functional.avg_pool2d(x, 4)
    blurred = torch.nn.functional.interpolate(blurred, size=x.shape[-2:], mode="bilinear", align_corners=False)
    assert grey["ss"] < semantic_service(x, blurred.clamp(0, 1))["ss"] <= 1.0
