"""Average Landmark Distance (ALD): how far landmarks moved from where they should be, in pixels.

prt (Griessel et al., Sec. V) scores its keypoint video application with ALD: "the average
distance between the ground truth landmarks and landmarks detected in the synthesized frame".
Use it with landmarks *re-detected* on the synthesised frames (``semcom.data.faces``) against
those detected on the original frames.

Units: landmarks are normalised coordinates (x / W, y / H, as :class:`semcom.data.faces.FaceLandmarker`
returns them); ALD is the mean Euclidean distance in **pixels of a frame of** ``size`` (an int for
square frames, or ``(H, W)``), averaged over every landmark of every frame (pooled mean; lower is
better).

Example:
    >>> import numpy as np
    >>> ref = np.zeros((2, 3, 2)); pred = ref + [0.01, 0.0]
    >>> round(average_landmark_distance(pred, ref, size=256), 6)
    2.56
"""

from __future__ import annotations

from typing import Any

import numpy as np

from semcom.errors import InputError

__all__ = ["landmark_distances", "average_landmark_distance"]


def _size(size: Any) -> tuple[float, float]:
    if isinstance(size, (int, np.integer, float)) and not isinstance(size, bool):
        h = w = float(size)
    else:
        try:
            h, w = (float(v) for v in size)
        except (TypeError, ValueError):
            raise InputError(f"size must be an int or (H, W), got {size!r}") from None
    if not (np.isfinite(h) and np.isfinite(w) and h > 0 and w > 0):
        raise InputError(f"size must be positive, got {size!r}")
    return h, w


def landmark_distances(pred: Any, ref: Any, size: Any = 256) -> np.ndarray:
    """Per-landmark Euclidean distances in pixels, shaped like the inputs without the last axis.

    Args:
        pred, ref: ``[..., P, 2]`` (x, y) normalised to [0, 1] (same shape; e.g. ``[T, 478, 2]``).
        size: frame size in pixels, ``int`` (square) or ``(H, W)``.

    Raises:
        InputError: shapes differ, the last axis is not 2, empty input, or NaN/Inf.
    """
    import torch

    from semcom.metrics.task import mean_landmark_error

    try:
        p = torch.as_tensor(np.asarray(pred, dtype=np.float64))
        r = torch.as_tensor(np.asarray(ref, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise InputError(f"landmarks must be numeric arrays: {exc}") from None
    if p.shape[-1:] != (2,) or p.numel() == 0:
        raise InputError(f"landmarks must be shaped [..., P, 2] and non-empty, got {tuple(p.shape)}")
    if not (torch.isfinite(p).all() and torch.isfinite(r).all()):
        raise InputError("landmarks contain NaN or Inf (a frame without a detected face?)")
    h, w = _size(size)
    scale = torch.tensor([w, h], dtype=torch.float64)
    # the pixel scaling is this module's; the distance itself is the shared task metric's
    return mean_landmark_error(p * scale, r * scale, reduction="none").numpy()


def average_landmark_distance(pred: Any, ref: Any, size: Any = 256) -> float:
    """ALD in pixels: the mean of :func:`landmark_distances` over all landmarks and frames."""
    return float(landmark_distances(pred, ref, size).mean())
