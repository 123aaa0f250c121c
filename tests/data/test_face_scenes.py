"""Face test scenes: portraits with the detector's boxes, composites with exact boxes."""

import numpy as np
import pytest

from semcom.errors import InputError


def test_bad_arguments():
    from semcom.data.face_scenes import face_scenes

    for kw in ({"size": 32}, {"n_composites": -1}, {"face_px": (0, 10)}, {"face_px": (40, 300)}):
        with pytest.raises(InputError):
            face_scenes(**kw)


@pytest.mark.slow
def test_scenes_are_deterministic_and_detectable():
    pytest.importorskip("mediapipe")
    from semcom.data.face_scenes import face_scenes
    from semcom.metrics.detection import FaceDetector, detection_qos

    a = face_scenes(n_composites=3, size=128, seed=0, face_px=(30, 60))
    b = face_scenes(n_composites=3, size=128, seed=0, face_px=(30, 60))
    assert [s.gt_kind for s in a] == ["detector"] * 2 + ["exact"] * 3
    for s, t in zip(a, b):
        assert s.image.shape == (1, 3, 128, 128) and np.array_equal(s.boxes, t.boxes)
        assert (s.boxes[:, 2:] > s.boxes[:, :2]).all() and (s.boxes >= 0).all() and (s.boxes <= 128).all()
    with FaceDetector() as fd:
        q = detection_qos([fd(s.image) for s in a], [s.boxes for s in a])
    assert q["ap50"] > 0.8
