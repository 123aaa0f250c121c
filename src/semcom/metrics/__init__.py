"""semcom.metrics: image quality, task metrics and bit/symbol accounting.

* Image quality (torch, differentiable, one value per image ``[B]``): :func:`psnr`, :func:`mean_psnr`,
  :func:`ssim`, :func:`ms_ssim`, :func:`evaluate_images`; accumulating versions :class:`PSNRMetric`,
  :class:`SSIMMetric`, :class:`MSSSIMMetric`. semcom reports the **mean of per-image values**
  (mean of per-image PSNR, not pooled-MSE PSNR).
* LPIPS only with real local weights: :func:`lpips_available`, :func:`lpips`, :class:`MetricUnavailable`.
* Accounting: :func:`bpp`, :func:`cbr` (complex channel uses / real source values H*W*C),
  :func:`spp` (complex symbols per pixel), :func:`ber`, :func:`bler`.
* Task metrics: :func:`accuracy`, :func:`mean_landmark_error` (ALD).

See ``docs/metrics.md``.
"""

from semcom.metrics.accounting import ber, bler, bpp, cbr, spp
from semcom.metrics.accumulate import ImageMetric, MSSSIMMetric, PSNRMetric, SSIMMetric
from semcom.metrics.image import (
    MS_SSIM_WEIGHTS,
    PSNR_CAP_DB,
    evaluate_images,
    mean_psnr,
    ms_scales,
    ms_ssim,
    psnr,
    ssim,
)
from semcom.metrics.landmarks import average_landmark_distance, landmark_distances
from semcom.metrics.lpips import MetricUnavailable, lpips, lpips_available, lpips_status
from semcom.metrics.task import accuracy, mean_landmark_error

__all__ = [
    "average_landmark_distance",
    "landmark_distances",
    "psnr",
    "mean_psnr",
    "ssim",
    "ms_ssim",
    "ms_scales",
    "evaluate_images",
    "PSNR_CAP_DB",
    "MS_SSIM_WEIGHTS",
    "ImageMetric",
    "PSNRMetric",
    "SSIMMetric",
    "MSSSIMMetric",
    "MetricUnavailable",
    "lpips",
    "lpips_available",
    "lpips_status",
    "bpp",
    "cbr",
    "spp",
    "ber",
    "bler",
    "accuracy",
    "mean_landmark_error",
]
