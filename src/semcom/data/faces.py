"""Face landmarks: MediaPipe FaceMesh (478 points), offline, behind a small typed interface.

The prt keypoint application (Griessel et al., "Importance-Driven Semantic Resilience for
Challenging Future 6G Channels", Sec. V) extracts facial landmarks from every video frame.
The paper uses the FOMM keypoint detector, whose weights cannot be had offline; here the
extractor's input is MediaPipe FaceMesh (``mediapipe==0.10.21``, the last release that ships
its model inside the wheel), installed by ``scripts/setup.sh``. mediapipe is imported lazily:
the rest of semcom works without it.

Landmarks are float32 ``[478, 2]`` (x, y) normalised to [0, 1] by the frame width and height
(x to the right, y down; MediaPipe's convention). Points 0-467 are the face mesh, 468-472 the
right iris (centre first) and 473-477 the left iris ("left"/"right" are the subject's, so the
right eye appears on the image's left). The index constants below (contours in drawing order)
are MediaPipe's published mesh topology.

Example:
    >>> from semcom.data.talking_head import talking_head_video
    >>> video = talking_head_video(n_frames=4, size=128)
    >>> with FaceLandmarker() as fl:
    ...     pts = fl(video[0])
    >>> pts.shape, pts.dtype, bool((pts >= 0).all() and (pts <= 1).all())
    ((478, 2), dtype('float32'), True)
    >>> lms, found = detect_video(video)
    >>> lms.shape, found.tolist()
    ((4, 478, 2), [True, True, True, True])
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterable, Sequence

import numpy as np

from semcom.errors import InputError

__all__ = [
    "N_LANDMARKS",
    "FACE_OVAL",
    "RIGHT_EYE_UPPER",
    "RIGHT_EYE_LOWER",
    "LEFT_EYE_UPPER",
    "LEFT_EYE_LOWER",
    "RIGHT_BROW",
    "LEFT_BROW",
    "LIPS_OUTER_UPPER",
    "LIPS_OUTER_LOWER",
    "LIPS_INNER_UPPER",
    "LIPS_INNER_LOWER",
    "NOSE",
    "RIGHT_IRIS",
    "LEFT_IRIS",
    "MediapipeUnavailableError",
    "NoFaceError",
    "FaceLandmarker",
    "check_frame",
    "detect_video",
]

#: Number of FaceMesh landmarks with iris refinement.
N_LANDMARKS = 478

#: Face oval, clockwise in the image from the top of the forehead (36 points).
FACE_OVAL: tuple[int, ...] = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
                              400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
                              54, 103, 67, 109)
#: Right eye (image left): upper and lower lid, outer corner (33) to inner corner (133).
RIGHT_EYE_UPPER: tuple[int, ...] = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_EYE_LOWER: tuple[int, ...] = (33, 7, 163, 144, 145, 153, 154, 155, 133)
#: Left eye (image right): upper and lower lid, outer corner (263) to inner corner (362).
LEFT_EYE_UPPER: tuple[int, ...] = (263, 466, 388, 387, 386, 385, 384, 398, 362)
LEFT_EYE_LOWER: tuple[int, ...] = (263, 249, 390, 373, 374, 380, 381, 382, 362)
#: Eyebrows: lower edge outer-to-inner, then upper edge outer-to-inner (10 points each).
RIGHT_BROW: tuple[int, ...] = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107)
LEFT_BROW: tuple[int, ...] = (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)
#: Lips, mouth corner (61, image left) to mouth corner (291), upper and lower, outer and inner.
LIPS_OUTER_UPPER: tuple[int, ...] = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_OUTER_LOWER: tuple[int, ...] = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_INNER_UPPER: tuple[int, ...] = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_INNER_LOWER: tuple[int, ...] = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
#: Nose (bridge, tip, alae; 24 points).
NOSE: tuple[int, ...] = (168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 97, 98, 64, 48, 115, 220, 45, 275, 440, 344,
                         278, 294, 327, 326)
#: Irises: centre, then four points of the iris contour.
RIGHT_IRIS: tuple[int, ...] = (468, 469, 470, 471, 472)
LEFT_IRIS: tuple[int, ...] = (473, 474, 475, 476, 477)

SETUP_HINT = ("mediapipe 0.10.21 is needed for face landmarks (the last release that ships FaceMesh offline); "
              "`bash scripts/setup.sh` installs it")


class MediapipeUnavailableError(InputError, ImportError):
    """mediapipe is not installed: run ``scripts/setup.sh``."""


class NoFaceError(InputError):
    """No face was found in a frame."""


def _import_mediapipe() -> Any:
    # quieten TensorFlow Lite / glog before the native library loads
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with _quiet_stderr():
            import mediapipe as mp
            from mediapipe.python.solutions import face_mesh  # noqa: F401
    except ImportError as exc:
        raise MediapipeUnavailableError(f"{SETUP_HINT} ({exc})") from None
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # pragma: no cover - a mediapipe dependency
        pass
    return mp


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the native library's messages on file descriptor 2 (glog, TFLite) for a moment."""
    try:
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # pragma: no cover
        pass
    try:
        saved = os.dup(2)
    except OSError:  # pragma: no cover - no fd 2
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _warmup_frames() -> list[np.ndarray]:
    frames = []
    try:
        import skimage.data

        frames.append(np.ascontiguousarray(skimage.data.astronaut()[::4, ::4]))
    except Exception:  # pragma: no cover - scikit-image is a dependency
        pass
    frames.append(np.zeros((64, 64, 3), dtype=np.uint8))
    return frames


def check_frame(frame: Any, name: str = "frame") -> np.ndarray:
    """A video frame as uint8 ``[H, W, 3]`` RGB.

    Accepts uint8 ``[H, W, 3]``, or float ``[H, W, 3]`` in [0, 1] (scaled and rounded).

    Raises:
        InputError: not an array, wrong shape, empty, NaN/Inf, or floats outside [0, 1].
    """
    if hasattr(frame, "detach") and hasattr(frame, "numpy"):  # a torch tensor
        frame = frame.detach().cpu().numpy()
    if not isinstance(frame, np.ndarray):
        raise InputError(f"{name} must be a numpy array [H, W, 3], got {type(frame).__name__}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"{name} must be shaped [H, W, 3] (RGB), got {frame.shape}")
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise InputError(f"{name} is empty: {frame.shape}")
    if frame.dtype == np.uint8:
        return np.ascontiguousarray(frame)
    if np.issubdtype(frame.dtype, np.floating):
        if not np.isfinite(frame).all():
            raise InputError(f"{name} contains NaN or Inf")
        if frame.min() < 0 or frame.max() > 1:
            raise InputError(f"{name}: float frames must lie in [0, 1]")
        return np.ascontiguousarray(np.round(frame * 255.0).astype(np.uint8))
    raise InputError(f"{name} must be uint8 or float in [0, 1], got {frame.dtype}")


class FaceLandmarker:
    """MediaPipe FaceMesh with iris refinement: a frame ``[H, W, 3]`` -> landmarks ``[478, 2]``.

    Args:
        static: ``True`` (default) runs face detection on every frame independently, so a
            frame's landmarks do not depend on the frames seen before (reproducible per frame);
            ``False`` uses MediaPipe's tracking mode (faster on long videos, history-dependent).
        min_detection_confidence: MediaPipe's face-detection threshold.

    Calling it returns float32 ``[478, 2]`` (x, y) in [0, 1] (normalised by width and height;
    clipped to [0, 1]) and raises :class:`NoFaceError` when no face is found. Use it as a
    context manager, or call :meth:`close`, to release the MediaPipe graph.

    Raises:
        MediapipeUnavailableError: mediapipe is not installed (``scripts/setup.sh``).
    """

    def __init__(self, static: bool = True, min_detection_confidence: float = 0.5) -> None:
        if not isinstance(static, bool):
            raise InputError(f"static must be a bool, got {static!r}")
        try:
            conf = float(min_detection_confidence)
        except (TypeError, ValueError):
            raise InputError(f"min_detection_confidence must be a number, got {min_detection_confidence!r}") from None
        if not 0.0 <= conf <= 1.0:
            raise InputError(f"min_detection_confidence must lie in [0, 1], got {conf}")
        mp = _import_mediapipe()
        with _quiet_stderr():
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=static, max_num_faces=1, refine_landmarks=True,
                min_detection_confidence=conf, min_tracking_confidence=0.5,
            )
            # the graph loads its models (and prints its set-up messages) on the first frames:
            # run it once on a bundled portrait, then on a blank frame that ends any tracking
            for warm in _warmup_frames():
                self._mesh.process(warm)
        self.static = static

    def __call__(self, frame: Any) -> np.ndarray:
        """Landmarks float32 ``[478, 2]`` of the (single, most confident) face in ``frame``."""
        img = check_frame(frame)
        if self._mesh is None:
            raise InputError("this FaceLandmarker is closed")
        res = self._mesh.process(img)
        if not res.multi_face_landmarks:
            raise NoFaceError(f"no face found in the frame ({img.shape[1]}x{img.shape[0]})")
        lm = res.multi_face_landmarks[0].landmark
        if len(lm) != N_LANDMARKS:  # pragma: no cover - refine_landmarks is always on
            raise InputError(f"FaceMesh returned {len(lm)} landmarks, expected {N_LANDMARKS}")
        out = np.fromiter((v for p in lm for v in (p.x, p.y)), dtype=np.float32, count=2 * N_LANDMARKS)
        return np.clip(out.reshape(N_LANDMARKS, 2), 0.0, 1.0)

    def close(self) -> None:
        """Release the MediaPipe graph (idempotent)."""
        if getattr(self, "_mesh", None) is not None:
            self._mesh.close()
            self._mesh = None

    def __enter__(self) -> "FaceLandmarker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


def detect_video(frames: Any, landmarker: FaceLandmarker | None = None,
                 static: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks of every frame of a video.

    Args:
        frames: uint8 ``[T, H, W, 3]`` (or a sequence of ``[H, W, 3]`` frames, or float in [0, 1]).
        landmarker: reuse this detector (default: a new one, closed afterwards).
        static: detection mode of the new detector (see :class:`FaceLandmarker`).

    Returns:
        ``(landmarks float32 [T, 478, 2], found bool [T])``. Where no face is found the landmarks
        are those of the last frame with a face (NaN before the first one), and ``found`` is False.

    Raises:
        InputError: empty input or a malformed frame.
    """
    if isinstance(frames, np.ndarray):
        if frames.ndim != 4:
            raise InputError(f"frames must be shaped [T, H, W, 3], got {frames.shape}")
        seq: Sequence[Any] = frames
    elif hasattr(frames, "detach"):
        return detect_video(frames.detach().cpu().numpy(), landmarker, static)
    elif isinstance(frames, Iterable):
        seq = list(frames)
    else:
        raise InputError(f"frames must be an array [T, H, W, 3] or a sequence of frames, got {type(frames).__name__}")
    if len(seq) == 0:
        raise InputError("frames is empty: a video needs at least one frame")
    checked = [check_frame(f, f"frame {t}") for t, f in enumerate(seq)]
    own = landmarker is None
    fl = FaceLandmarker(static=static) if own else landmarker
    out = np.full((len(checked), N_LANDMARKS, 2), np.nan, dtype=np.float32)
    found = np.zeros(len(checked), dtype=bool)
    try:
        last = None
        for t, img in enumerate(checked):
            try:
                last = fl(img)
                found[t] = True
            except NoFaceError:
                pass
            if last is not None:
                out[t] = last
    finally:
        if own:
            fl.close()
    return out, found
