"""Semantic service quality SS (LSCI, Dong et al. 2022, Eq. 1) on person segmentation.

    SS = ST(S_hat) / ST(S),    ST(v) = sigmoid(k (v - v0))

``v`` is the task score: the intersection over union (IoU) of the selfie segmenter's person mask on
an image with a reference mask. We have no hand-labelled masks for the test photos, so the reference
is the segmenter's mask on the original image (the segmenter's own output is the ground truth):
``ST(S)`` is then ``sigmoid(k (1 - v0))`` and SS = 1 exactly when the reconstruction segments as the
original does. The paper asks only for "a sigmoid or similar" mapping with ``sigmoid(ST(S))`` close
to 1; we take ``k = 10``, ``v0 = 0.5`` (so ``ST(S) = 0.993``, and IoU 0.5 maps to SS 0.50). SS is
clipped to [0, 1]. IoU of two empty masks is 1 (nothing to find, nothing found); an image whose
reference mask covers less than ``min_area`` of the pixels is reported as not applicable (``None``).

Example:
    >>> import torch
    >>> round(ss_from_iou(1.0), 3), round(ss_from_iou(0.5), 3), round(ss_from_iou(0.0), 3)
    (1.0, 0.503, 0.007)
    >>> a = torch.zeros(1, 1, 4, 4); a[..., :2, :] = 1
    >>> mask_iou(a, a), mask_iou(a, 1 - a)
    (1.0, 0.0)
"""

from __future__ import annotations

import math

import torch

from semcom.errors import InputError

K, V0 = 10.0, 0.5


def _sigmoid(v: float, k: float, v0: float) -> float:
    return 1.0 / (1.0 + math.exp(-k * (v - v0)))


def ss_from_iou(iou: float, reference_iou: float = 1.0, k: float = K, v0: float = V0) -> float:
    """Eq. 1 with the sigmoid mapping: ``sigmoid(k (iou - v0)) / sigmoid(k (reference_iou - v0))``."""
    for name, v in (("iou", iou), ("reference_iou", reference_iou)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and 0.0 <= v <= 1.0):
            raise InputError(f"{name} must be a number in [0, 1], got {v!r}")
    return min(1.0, _sigmoid(iou, k, v0) / _sigmoid(reference_iou, k, v0))


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> float:
    """IoU of two binary masks of the same shape (values 0/1); two empty masks give 1."""
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor) or a.shape != b.shape:
        raise InputError("masks must be tensors of the same shape")
    for m in (a, b):
        if not torch.isfinite(m).all() or ((m != 0) & (m != 1)).any():
            raise InputError("masks must hold only 0 and 1")
    inter = float((a * b).sum())
    union = float(((a + b) > 0).sum())
    return 1.0 if union == 0 else inter / union


def semantic_service(original: torch.Tensor, reconstruction: torch.Tensor, min_area: float = 0.01) -> dict:
    """SS of one reconstruction against its original with the selfie segmenter (see module doc).

    Returns ``{"iou", "ss", "reference_area"}``; ``iou`` and ``ss`` are ``None`` when the original's
    person mask covers less than ``min_area`` of the image.
    """
    from semcom.metrics.image import _check_pair
    from semcom.models.lsci_slices import segment_person

    x, y = _check_pair(original, reconstruction, 1.0)
    ref = (segment_person(x) > 0.5).float()
    area = float(ref.mean())
    if area < min_area:
        return {"iou": None, "ss": None, "reference_area": area}
    iou = mask_iou(ref, (segment_person(y) > 0.5).float())
    return {"iou": iou, "ss": ss_from_iou(iou), "reference_area": area}


__all__ = ["ss_from_iou", "mask_iou", "semantic_service", "K", "V0"]
