"""Task metrics: classification accuracy and landmark error (ALD).

``mean_landmark_error`` is the Average Landmark Distance (ALD) used by the keypoint video
conferencing experiments (prt): the mean Euclidean distance between predicted and true landmarks,
in the units of the coordinates (pixels, or normalised coordinates).

Example:
    >>> import torch
    >>> from semcom.metrics import accuracy, mean_landmark_error
    >>> accuracy(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0]))
    0.5
    >>> float(mean_landmark_error(torch.tensor([[0.0, 0.0], [3.0, 4.0]]), torch.zeros(2, 2)))
    2.5
"""

from __future__ import annotations

import torch

from semcom.errors import InputError
from semcom.utils import check_finite

__all__ = ["accuracy", "mean_landmark_error"]


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy: fraction of examples whose arg-max class equals the label.

    Args:
        logits: ``[..., K]`` class scores (logits or probabilities), float.
        labels: ``[...]`` integer class indices in ``[0, K)``.

    Raises:
        InputError: shape mismatch, empty input, NaN/Inf, non-integer or out-of-range labels.

    Example:
        >>> import torch
        >>> accuracy(torch.eye(3), torch.tensor([0, 1, 1]))
        0.6666666666666666
    """
    if not isinstance(logits, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise InputError("logits and labels must be torch.Tensor")
    if not logits.is_floating_point() or logits.dim() < 1:
        raise InputError(f"logits must be a float tensor [..., K], got {logits.dtype} {tuple(logits.shape)}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise InputError(f"labels must be integer class indices, got {labels.dtype}")
    if logits.shape[:-1] != labels.shape:
        raise InputError(f"logits [..., K] {tuple(logits.shape)} do not match labels [...] {tuple(labels.shape)}")
    if labels.numel() == 0 or logits.shape[-1] == 0:
        raise InputError("accuracy of an empty batch is undefined")
    check_finite(logits, "logits")
    k = logits.shape[-1]
    if bool((labels < 0).any()) or bool((labels >= k).any()):
        raise InputError(f"labels must lie in [0, {k})")
    return float((logits.argmax(dim=-1) == labels).double().mean())


def mean_landmark_error(pred: torch.Tensor, true: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Average Landmark Distance: Euclidean distance per landmark, averaged.

    Args:
        pred, true: ``[..., L, D]`` landmark coordinates with ``D`` = 2 or 3, same shape, float.
        reduction: ``"mean"`` -> 0-d tensor (mean over all landmarks and examples);
            ``"none"`` -> ``[..., L]`` distances.

    Returns:
        Distances in the coordinates' unit. Differentiable.

    Raises:
        InputError: shape mismatch, ``D`` not 2 or 3, empty, NaN/Inf; unknown reduction.

    Example:
        >>> import torch
        >>> mean_landmark_error(torch.tensor([[[3.0, 4.0, 0.0]]]), torch.zeros(1, 1, 3), reduction="none")
        tensor([[5.]])
    """
    if not isinstance(pred, torch.Tensor) or not isinstance(true, torch.Tensor):
        raise InputError("pred and true must be torch.Tensor")
    if pred.shape != true.shape:
        raise InputError(f"pred and true shapes differ: {tuple(pred.shape)} vs {tuple(true.shape)}")
    if pred.dim() < 2 or pred.shape[-1] not in (2, 3):
        raise InputError(f"landmarks must be shaped [..., L, 2 or 3], got {tuple(pred.shape)}")
    if not pred.is_floating_point() or not true.is_floating_point():
        raise InputError("landmark coordinates must be float tensors")
    if pred.numel() == 0:
        raise InputError("no landmarks given")
    check_finite(pred, "pred")
    check_finite(true, "true")
    if reduction not in ("mean", "none"):
        raise InputError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    d = torch.linalg.vector_norm(pred - true, dim=-1)
    return d.mean() if reduction == "mean" else d
