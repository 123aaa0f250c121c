"""Face detector wrapper (face / no face / bad input) and AP / mAP against hand-computed values."""

import numpy as np
import pytest
import torch

from semcom.errors import InputError
from semcom.metrics.detection import average_precision, detection_qos, iou


@pytest.fixture(scope="module")
def detector():
    pytest.importorskip("mediapipe")
    from semcom.metrics.detection import FaceDetector

    with FaceDetector() as fd:
        yield fd


def _photo(name):
    from semcom.data import test_images

    return [i for i in test_images() if i.name == name][0].image


def test_detector_finds_the_astronauts_face(detector):
    d = detector(_photo("astronaut"))
    assert len(d) >= 1 and d.scores.max() > 0.8
    x0, y0, x1, y1 = d.boxes[int(np.argmax(d.scores))]
    # the face is in the upper left-centre of the 512x512 photo (about x 174-278, y 68-172)
    assert 150 < x0 < 200 and 250 < x1 < 300 and 50 < y0 < 90 and 150 < y1 < 200


def test_detector_finds_no_face_in_a_photo_without_one(detector):
    assert len(detector(_photo("coffee"))) == 0
    assert len(detector(np.zeros((96, 128, 3), dtype=np.uint8))) == 0


def test_detector_bad_input(detector):
    for bad in (torch.rand(2, 3, 64, 64), torch.rand(1, 1, 64, 64), np.zeros((64, 64)),
                np.full((64, 64, 3), np.nan), torch.full((3, 64, 64), 2.0), "image"):
        with pytest.raises(InputError):
            detector(bad)


def test_iou_and_ap_by_hand():
    assert iou([[0, 0, 10, 10]], [[5, 0, 15, 10]])[0, 0] == pytest.approx(50 / 150)
    gt = [np.array([[0, 0, 10, 10], [20, 20, 30, 30.]]), np.zeros((0, 4))]
    # ranked: TP (0.9), FP on the empty image (0.8), TP (0.7) -> P/R: (1, .5), (.5, .5), (2/3, 1)
    pred = [(np.array([[0, 0, 10, 10], [20, 20, 30, 30.]]), np.array([0.9, 0.7])),
            (np.array([[0, 0, 5, 5.]]), np.array([0.8]))]
    assert average_precision(pred, gt, 0.5) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # a duplicate detection of a matched box is a false positive
    dup = [(np.array([[0, 0, 10, 10], [0, 0, 10, 10.]]), np.array([0.9, 0.8])), (np.zeros((0, 4)), np.zeros(0))]
    assert average_precision(dup, gt, 0.5) == pytest.approx(0.5)
    q = detection_qos(pred, gt)
    assert q["ap50"] >= q["map"] > 0


def test_ap_bad_input():
    with pytest.raises(InputError):
        average_precision([(np.zeros((0, 4)), np.zeros(0))], [np.zeros((0, 4))])  # no ground truth
    with pytest.raises(InputError):
        average_precision([(np.zeros((1, 3)), np.ones(1))], [np.ones((1, 4))])
    with pytest.raises(InputError):
        average_precision([(np.array([[0, 0, 1, np.nan]]), np.ones(1))], [np.ones((1, 4))])
    with pytest.raises(InputError):
        average_precision([], [np.ones((1, 4))])


def test_task_relevance_on_a_real_face_and_on_no_face(detector):
    from semcom.semantics.sesc_weights import TaskRelevance

    rel = TaskRelevance(detector)
    face = _photo("astronaut")
    w = rel(face, 8).reshape(64, 64)
    # the astronaut's face (x 174-278, y 68-172 of 512) holds the largest weights
    assert w[8:21, 22:34].mean() > 0.8 and w[40:, :].max() < 0.05
    from semcom.data import test_images

    coffee = [i for i in test_images(size=256) if i.name == "coffee"][0].image
    assert (rel(coffee, 8) == 0).all()  # no face: no relevance anywhere
