"""Accumulating image metrics (torchmetrics style): ``update`` batches, ``compute`` the mean.

Each metric keeps two sufficient statistics, the sum of per-image values and the image count, so
``compute()`` returns the **mean of per-image values** over everything seen since the last
``reset()`` (for PSNR: the mean of per-image PSNR, not the PSNR of the pooled MSE). ``merge``
combines the statistics of metrics filled in separate workers.

Example:
    >>> import torch
    >>> from semcom.metrics import PSNRMetric
    >>> m = PSNRMetric()
    >>> x = torch.zeros(2, 3, 16, 16)
    >>> _ = m.update(x, x + 0.1); _ = m.update(x, x + 0.01)
    >>> round(m.compute(), 3), m.count, m.higher_is_better
    (30.0, 4, True)
"""

from __future__ import annotations

from typing import Callable

import torch

from semcom.errors import InputError
from semcom.metrics.image import ms_ssim, psnr, ssim

__all__ = ["ImageMetric", "PSNRMetric", "SSIMMetric", "MSSSIMMetric"]


class ImageMetric:
    """Mean of a per-image full-reference metric over all updates.

    Args:
        fn: ``fn(x, y, data_range) -> [B]`` per-image metric.
        data_range: peak value of the images (1.0 for semcom images).
    """

    higher_is_better: bool = True
    name: str = "metric"

    def __init__(self, fn: Callable[..., torch.Tensor], data_range: float = 1.0) -> None:
        self._fn = fn
        self.data_range = data_range
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far."""
        self.total = 0.0
        self.count = 0

    @torch.no_grad()
    def update(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Add a batch of reference ``x`` and reconstruction ``y`` (``[B, C, H, W]``); returns the per-image values ``[B]``."""
        v = self._fn(x, y, self.data_range).double()
        self.total += float(v.sum())
        self.count += int(v.numel())
        return v

    def compute(self) -> float:
        """Mean of the per-image values seen since the last reset.

        Raises:
            InputError: nothing was added yet.
        """
        if self.count == 0:
            raise InputError(f"{type(self).__name__}.compute() called before any update()")
        return self.total / self.count

    def merge(self, other: "ImageMetric") -> None:
        """Add the statistics of another metric of the same kind (e.g. from another worker)."""
        if type(other) is not type(self):
            raise InputError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        self.total += other.total
        self.count += other.count

    def __repr__(self) -> str:
        return f"{type(self).__name__}(count={self.count})"


class PSNRMetric(ImageMetric):
    """Mean of per-image PSNR (dB) over all updates; see :func:`semcom.metrics.psnr`."""

    name = "psnr"

    def __init__(self, data_range: float = 1.0) -> None:
        super().__init__(psnr, data_range)


class SSIMMetric(ImageMetric):
    """Mean of per-image SSIM over all updates; see :func:`semcom.metrics.ssim`."""

    name = "ssim"

    def __init__(self, data_range: float = 1.0) -> None:
        super().__init__(ssim, data_range)


class MSSSIMMetric(ImageMetric):
    """Mean of per-image MS-SSIM over all updates; see :func:`semcom.metrics.ms_ssim`."""

    name = "ms_ssim"

    def __init__(self, data_range: float = 1.0) -> None:
        super().__init__(ms_ssim, data_range)
