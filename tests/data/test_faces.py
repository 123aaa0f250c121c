"""FaceLandmarker / detect_video (MediaPipe FaceMesh) and the synthetic talking-head clips."""

import numpy as np
import pytest

pytest.importorskip("mediapipe")

from semcom.data import DataError
from semcom.data.faces import (
    FACE_OVAL,
    LEFT_EYE_UPPER,
    N_LANDMARKS,
    RIGHT_EYE_UPPER,
    FaceLandmarker,
    NoFaceError,
    check_frame,
    detect_video,
)
from semcom.data.talking_head import (
    PORTRAITS,
    TEST_PORTRAIT,
    TRAIN_PORTRAIT,
    border_anchors,
    load_video,
    piecewise_affine_warp,
    portrait_frame,
    talking_head_sequence,
    talking_head_video,
)
from semcom.errors import InputError


@pytest.fixture(scope="module")
def clip():
    return talking_head_sequence(n_frames=24, size=128, seed=3)


@pytest.fixture(scope="module")
def landmarker():
    with FaceLandmarker() as fl:
        yield fl


def test_detects_478_normalised_landmarks_on_the_synthetic_clip(clip, landmarker):
    pts = landmarker(clip.frames[0])
    assert pts.shape == (N_LANDMARKS, 2) and pts.dtype == np.float32
    assert np.all((pts >= 0) & (pts <= 1))
    # anatomy: the right eye (subject's) is on the image's left, the forehead above the chin
    assert pts[list(RIGHT_EYE_UPPER), 0].mean() < pts[list(LEFT_EYE_UPPER), 0].mean()
    assert pts[10, 1] < pts[152, 1]


def test_detect_video_finds_every_frame_and_follows_the_warp(clip):
    lms, found = detect_video(clip.frames)
    assert lms.shape == (24, N_LANDMARKS, 2) and found.all()
    # the detector follows the synthetic motion: mean error to the warp targets below 1.5 px
    err_px = np.abs(lms - clip.driving).mean() * 128
    assert err_px < 1.5, err_px
    # and the head really moves (more than the detector's error)
    motion_px = np.abs(clip.driving - clip.driving[:1]).mean() * 128
    assert motion_px > 2 * err_px


def test_no_face_raises(landmarker):
    with pytest.raises(NoFaceError):
        landmarker(np.full((96, 96, 3), 128, dtype=np.uint8))
    assert issubclass(NoFaceError, InputError)


def test_detect_video_marks_missing_faces(clip):
    frames = np.concatenate([clip.frames[:2], np.full((1, 128, 128, 3), 128, np.uint8), clip.frames[2:3]])
    lms, found = detect_video(frames)
    assert found.tolist() == [True, True, False, True]
    np.testing.assert_array_equal(lms[2], lms[1])  # held from the last face


@pytest.mark.parametrize("bad", [
    np.zeros((0, 5, 3), np.uint8),           # empty
    np.zeros((8, 8), np.uint8),              # no channels
    np.zeros((8, 8, 4), np.uint8),           # RGBA
    np.full((8, 8, 3), np.nan, np.float32),  # NaN
    np.full((8, 8, 3), 2.0, np.float32),     # outside [0, 1]
    np.zeros((8, 8, 3), np.int16),           # dtype
    [[1, 2, 3]],                             # not an array
])
def test_bad_frames_raise_input_error(bad, landmarker):
    with pytest.raises(InputError):
        landmarker(bad)


def test_detect_video_rejects_empty_input():
    with pytest.raises(InputError):
        detect_video([])
    with pytest.raises(InputError):
        detect_video(np.zeros((0, 8, 8, 3), np.uint8))
    with pytest.raises(InputError):
        detect_video(np.zeros((8, 8, 3), np.uint8))


def test_float_frames_are_accepted():
    f = np.linspace(0, 1, 12, dtype=np.float32).reshape(2, 2, 3)
    assert check_frame(f).dtype == np.uint8 and check_frame(f)[1, 1, 2] == 255


def test_talking_head_is_seeded_and_moves(clip):
    again = talking_head_sequence(n_frames=24, size=128, seed=3)
    np.testing.assert_array_equal(again.frames, clip.frames)
    other = talking_head_video(n_frames=24, size=128, seed=4)
    assert not np.array_equal(other, clip.frames)
    assert clip.frames.shape == (24, 128, 128, 3) and clip.frames.dtype == np.uint8
    assert np.ptp(clip.motion["rotation_deg"]) > 1.0
    assert clip.motion["blink"].max() > 0.5 and clip.motion["mouth"].max() > 0.2
    still = talking_head_sequence(n_frames=3, size=128, seed=3, amplitude=0.0)
    base, _ = portrait_frame(TEST_PORTRAIT, 128)
    assert np.abs(still.frames.astype(int) - base).max() <= 1  # no motion: the portrait itself


def test_train_and_test_portraits_differ():
    assert TRAIN_PORTRAIT != TEST_PORTRAIT and {TRAIN_PORTRAIT, TEST_PORTRAIT} <= set(PORTRAITS)
    a, _ = portrait_frame(TRAIN_PORTRAIT, 64)
    b, _ = portrait_frame(TEST_PORTRAIT, 64)
    assert not np.array_equal(a, b)
    with pytest.raises(InputError):
        portrait_frame("chelsea", 64)


def test_talking_head_rejects_bad_arguments():
    for kwargs in ({"n_frames": 0}, {"size": 16}, {"amplitude": float("nan")}, {"portrait": "nobody"}):
        with pytest.raises(InputError):
            talking_head_sequence(**kwargs)


def test_warp_identity_and_translation():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 48, 3)).astype(np.uint8)
    pts = np.concatenate([border_anchors(40, 48, 3), [[20.0, 20.0], [30.0, 12.0]]])
    np.testing.assert_array_equal(piecewise_affine_warp(img, pts, pts), img)
    # moving an interior point moves the content: output at dst samples the input at src
    src = pts.copy()
    dst = pts.copy()
    dst[-2] = [22.0, 20.0]
    out = piecewise_affine_warp(img, src, dst)
    np.testing.assert_array_equal(out[20, 22], img[20, 20])
    with pytest.raises(InputError):
        piecewise_affine_warp(img, pts, pts[:-1])
    with pytest.raises(InputError):
        piecewise_affine_warp(img, pts, np.full_like(pts, np.nan))


def test_load_video_round_trip(tmp_path, clip):
    import torch

    from semcom.data import write_video

    path = tmp_path / "clip.mkv"
    frames = torch.from_numpy(clip.frames[:4].transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
    write_video(frames, path, fps=25, codec="ffv1", crf=None)
    video = load_video(path, size=96)
    assert video.shape == (4, 96, 96, 3) and video.dtype == np.uint8
    with pytest.raises(DataError):
        load_video(tmp_path / "missing.mp4")


def test_face_oval_constant_is_the_36_point_contour():
    assert len(FACE_OVAL) == len(set(FACE_OVAL)) == 36
