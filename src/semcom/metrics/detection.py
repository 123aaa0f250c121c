"""Object-detection task metric: a face detector that runs offline, IoU, AP and mAP.

The SE-SC paper (Fu et al., Sec. V) measures task QoS with YOLOv5 on VOC 2012 (mAP). Neither the
weights nor the data can be had offline, so semcom's detection task is face detection with
MediaPipe's face detector (``mediapipe==0.10.21``, full-range model, shipped in the wheel):
:class:`FaceDetector`. Boxes are float ``[M, 4]`` ``(x0, y0, x1, y1)`` in pixels of the image
(x to the right, y down, ``x1``/``y1`` exclusive edges), scores ``[M]`` in [0, 1].

AP is the single-class average precision with all-point interpolation (the VOC 2010+ / COCO
style area under the monotone precision envelope) over a set of images: detections of all images
are ranked by score; a detection is a true positive when its IoU with a not-yet-matched ground-truth
box of its image is at least the threshold (greedy, highest score first). ``mAP@0.5:0.95`` is the
mean AP over IoU thresholds 0.50, 0.55, ..., 0.95 (COCO). Images without ground truth contribute
their detections as false positives.

Example:
    >>> import numpy as np
    >>> gt = [np.array([[10, 10, 50, 50.]]), np.zeros((0, 4))]
    >>> pred = [(np.array([[12, 11, 50, 52.]]), np.array([0.9])), (np.array([[0, 0, 5, 5.]]), np.array([0.2]))]
    >>> average_precision(pred, gt, 0.5)
    1.0
    >>> round(average_precision(pred, gt, 0.95), 3)
    0.0
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from semcom.errors import InputError

IOU_THRESHOLDS = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2).tolist())


@dataclasses.dataclass
class Detections:
    """Boxes ``[M, 4]`` (x0, y0, x1, y1) in pixels and scores ``[M]`` of one image."""

    boxes: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


def to_uint8_rgb(image: Any) -> np.ndarray:
    """An image as uint8 ``[H, W, 3]``: accepts torch ``[1,3,H,W]`` / ``[3,H,W]`` floats in [0, 1] or numpy
    ``[H, W, 3]`` (uint8, or floats in [0, 1]); anything else raises :class:`InputError`."""
    from semcom.data.faces import check_frame

    if hasattr(image, "detach"):
        t = image.detach().cpu()
        if t.dim() == 4:
            if t.shape[0] != 1:
                raise InputError(f"one image at a time: got a batch of {t.shape[0]}")
            t = t[0]
        if t.dim() != 3 or t.shape[0] != 3:
            raise InputError(f"image must be shaped [1,3,H,W] or [3,H,W], got {tuple(image.shape)}")
        image = t.permute(1, 2, 0).numpy()
    return check_frame(image, "image")


class FaceDetector:
    """MediaPipe face detection (full range by default) returning boxes in pixels.

    Args:
        full_range: the full-range model (faces up to about 5 m; ``model_selection=1``) or the
            short-range one.
        min_score: detections below this score are dropped (low, so that AP sees the ranking).

    ``detector(image) -> Detections``; ``image`` as :func:`to_uint8_rgb` accepts. Use as a context
    manager or call :meth:`close`. Raises :class:`semcom.data.faces.MediapipeUnavailableError`
    when mediapipe is missing.
    """

    def __init__(self, full_range: bool = True, min_score: float = 0.1) -> None:
        from semcom.data.faces import _import_mediapipe, _quiet_stderr

        if not 0 < float(min_score) < 1:
            raise InputError(f"min_score must be in (0, 1), got {min_score!r}")
        _import_mediapipe()
        from mediapipe.python.solutions import face_detection

        with _quiet_stderr():
            self._fd = face_detection.FaceDetection(model_selection=1 if full_range else 0,
                                                    min_detection_confidence=float(min_score))
        self.full_range, self.min_score = bool(full_range), float(min_score)

    def describe(self) -> str:
        return (f"mediapipe 0.10.21 face detection ({'full' if self.full_range else 'short'}-range model), "
                f"min score {self.min_score}")

    def __call__(self, image: Any) -> Detections:
        a = to_uint8_rgb(image)
        h, w = a.shape[:2]
        res = self._fd.process(a)
        boxes, scores = [], []
        for d in res.detections or []:
            bb = d.location_data.relative_bounding_box
            x0, y0 = bb.xmin * w, bb.ymin * h
            x1, y1 = x0 + bb.width * w, y0 + bb.height * h
            boxes.append([max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h))])
            scores.append(float(d.score[0]))
        return Detections(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(scores, dtype=np.float64))

    def close(self) -> None:
        self._fd.close()

    def __enter__(self) -> "FaceDetector":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _boxes(b: Any, name: str) -> np.ndarray:
    a = np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return np.zeros((0, 4))
    if a.ndim != 2 or a.shape[1] != 4:
        raise InputError(f"{name} must be shaped [M, 4] (x0, y0, x1, y1), got {a.shape}")
    if not np.isfinite(a).all():
        raise InputError(f"{name} contain NaN or Inf")
    return a


def iou(a: Any, b: Any) -> np.ndarray:
    """Pairwise IoU ``[M, K]`` of boxes ``a [M, 4]`` and ``b [K, 4]``."""
    a, b = _boxes(a, "boxes"), _boxes(b, "boxes")
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: np.clip(x[:, 2] - x[:, 0], 0, None) * np.clip(x[:, 3] - x[:, 1], 0, None)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def average_precision(predictions: Sequence[Any], ground_truth: Sequence[Any], iou_threshold: float = 0.5) -> float:
    """Single-class AP over images (see the module docstring).

    Args:
        predictions: per image, a :class:`Detections` or ``(boxes [M,4], scores [M])``.
        ground_truth: per image, boxes ``[K, 4]`` (may be empty).
        iou_threshold: a detection matches a ground-truth box at IoU >= this.

    Raises:
        InputError: different numbers of images, bad shapes, NaN, or no ground-truth box at all.
    """
    if len(predictions) != len(ground_truth):
        raise InputError(f"{len(predictions)} predictions for {len(ground_truth)} ground truths")
    gts = [_boxes(g, "ground-truth boxes") for g in ground_truth]
    n_gt = sum(len(g) for g in gts)
    if n_gt == 0:
        raise InputError("AP is undefined without ground-truth boxes")
    recs = []
    for i, p in enumerate(predictions):
        boxes, scores = (p.boxes, p.scores) if isinstance(p, Detections) else p
        boxes, scores = _boxes(boxes, "predicted boxes"), np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(scores) != len(boxes) or not np.isfinite(scores).all():
            raise InputError("scores must be finite, one per predicted box")
        recs += [(float(s), i, b) for s, b in zip(scores, boxes)]
    recs.sort(key=lambda r: -r[0])
    used = [np.zeros(len(g), dtype=bool) for g in gts]
    tp = np.zeros(len(recs))
    for j, (_, i, b) in enumerate(recs):
        if len(gts[i]) == 0:
            continue
        ov = iou(b[None], gts[i])[0]
        ov[used[i]] = -1
        k = int(np.argmax(ov))
        if ov[k] >= iou_threshold:
            used[i][k] = True
            tp[j] = 1
    ctp = np.cumsum(tp)
    recall = ctp / n_gt
    precision = ctp / np.arange(1, len(recs) + 1)
    return _area(recall, precision)


def _area(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the monotone precision envelope (all-point interpolation)."""
    if not len(precision):
        return 0.0
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.maximum.accumulate(np.concatenate([[0.0], precision, [0.0]])[::-1])[::-1]
    idx = np.flatnonzero(r[1:] != r[:-1])
    return float(((r[idx + 1] - r[idx]) * p[idx + 1]).sum())


def detection_qos(predictions: Sequence[Any], ground_truth: Sequence[Any]) -> dict[str, float]:
    """``{"ap50": AP@0.5, "map": mAP@0.5:0.95}`` of a set of images."""
    aps = [average_precision(predictions, ground_truth, t) for t in IOU_THRESHOLDS]
    return {"ap50": aps[0], "map": float(np.mean(aps))}


__all__ = ["Detections", "FaceDetector", "to_uint8_rgb", "iou", "average_precision", "detection_qos", "IOU_THRESHOLDS"]
