"""Full-reference image quality: PSNR, SSIM, MS-SSIM (torch, differentiable, usable as losses).

Conventions
-----------
* Inputs are float tensors ``[B, C, H, W]`` (a single ``[C, H, W]`` image is promoted to ``B = 1``)
  with values in ``[0, data_range]``; semcom images are RGB in [0, 1] (``C = 3``, ``data_range = 1``),
  grayscale (``C = 1``) works as well. Both arguments must have the same shape.
* Every function returns one value **per image**, shape ``[B]``. Reported averages are the
  **mean of per-image values** (``mean_psnr`` is the mean of per-image PSNR, *not* the PSNR of the
  pooled MSE over the whole set).
* PSNR of identical images is capped at :data:`PSNR_CAP_DB` (100 dB) instead of being infinite.
* SSIM follows Wang et al., "Image quality assessment: from error visibility to structural
  similarity", IEEE TIP 2004: Gaussian window 11x11, sigma 1.5, K1 = 0.01, K2 = 0.03, population
  (biased) local statistics. The window is applied in **valid** mode (no padding) and the SSIM map is
  averaged over the valid region only, then over colour channels. This is exactly the convention of
  the authors' MATLAB code (``filter2(..., 'valid')``) and equals scikit-image's
  ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=1, channel_axis=...)``, which filters with reflection and then crops the 5-pixel border
  before averaging.
* MS-SSIM follows Wang, Simoncelli, Bovik, "Multi-scale structural similarity for image quality
  assessment", Asilomar 2003: 5 scales, weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333),
  2x2 average down-sampling between scales (odd sizes replicate the last row/column, as the authors'
  ``imfilter(..., 'symmetric')`` does), contrast-structure terms at scales 1..M-1 and the full SSIM
  at the coarsest scale M, combined per colour channel and averaged over channels. Each term is
  clamped to at least a tiny positive value before the fractional power (negative correlation would
  otherwise give NaN). Images too small for 5 scales (``min(H, W) < 161``) use the largest number of
  scales ``M`` whose coarsest image is still >= 11 pixels, with the first ``M`` weights renormalised
  to sum to one; images smaller than 11 pixels raise :class:`~semcom.errors.InputError`.

Example
-------
>>> import torch
>>> from semcom.metrics import psnr, ssim, ms_ssim
>>> g = torch.Generator().manual_seed(0)
>>> x = torch.rand(2, 3, 64, 64, generator=g)
>>> y = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
>>> psnr(x, y).shape
torch.Size([2])
>>> float(ssim(x, x)[0])
1.0
>>> bool((ms_ssim(x, y) < 1).all())
True
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from semcom.errors import InputError

__all__ = [
    "PSNR_CAP_DB",
    "MS_SSIM_WEIGHTS",
    "SSIM_WINDOW",
    "STRIP_ELEMENTS",
    "psnr",
    "mean_psnr",
    "ssim",
    "ms_ssim",
    "ms_scales",
    "evaluate_images",
]

#: PSNR reported for identical images (and any image pair with MSE below ``data_range**2 * 1e-10``).
PSNR_CAP_DB = 100.0
#: Wang et al. 2003 MS-SSIM exponents, finest scale first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
#: Side of the Gaussian SSIM window (sigma 1.5, radius 5 = int(3.5 * 1.5 + 0.5)).
SSIM_WINDOW = 11
_SIGMA = 1.5
_K1, _K2 = 0.01, 0.03
#: Largest intermediate map (values, ``B * C * rows * W``) the metrics compute in one piece; larger
#: images are processed in strips of rows (``_ssim_maps``, ``_mse``). 2**23 values: 64 MB in float64,
#: so PSNR, SSIM and MS-SSIM need a bounded ~1 GB on top of the images themselves, whatever their size.
STRIP_ELEMENTS = 1 << 23
_CLAMP = 1e-8


def _check_pair(x: torch.Tensor, y: torch.Tensor, data_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise InputError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise InputError(f"{name} must be a float tensor, got {t.dtype}")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if y.dim() == 3:
        y = y.unsqueeze(0)
    if x.dim() != 4:
        raise InputError(f"images must be shaped [B, C, H, W] (or [C, H, W]), got {tuple(x.shape)}")
    if x.shape != y.shape:
        raise InputError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0 or x.shape[2] == 0 or x.shape[3] == 0:
        raise InputError(f"images must be non-empty, got shape {tuple(x.shape)}")
    if not (isinstance(data_range, (int, float)) and math.isfinite(data_range) and data_range > 0):
        raise InputError(f"data_range must be a positive finite number, got {data_range!r}")
    # One min/max pass per image batch: NaN propagates through min/max, Inf is out of range.
    with torch.no_grad():
        lo, hi = math.inf, -math.inf
        for name, t in (("x", x), ("y", y)):
            tmin, tmax = (float(v) for v in torch.aminmax(t.detach()))
            if not (math.isfinite(tmin) and math.isfinite(tmax)):
                raise InputError(f"{name} contains NaN or Inf")
            lo, hi = min(lo, tmin), max(hi, tmax)
    if lo < 0 or hi > data_range:
        raise InputError(f"image values must lie in [0, data_range={data_range}], got [{lo:.4g}, {hi:.4g}]")
    if x.dtype != y.dtype:
        dt = torch.promote_types(x.dtype, y.dtype)
        x, y = x.to(dt), y.to(dt)
    return x, y


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, in dB.

    ``PSNR = 10 log10(data_range**2 / MSE)`` with the MSE over all channels and pixels of one image.
    Identical images give :data:`PSNR_CAP_DB` (100 dB). Differentiable (``-psnr`` is a valid loss).

    Args:
        x, y: images ``[B, C, H, W]`` (or ``[C, H, W]``), float, values in ``[0, data_range]``.
        data_range: peak value (1.0 for semcom images).

    Returns:
        ``[B]`` PSNR in dB, dtype of the inputs.

    Raises:
        InputError: shapes differ, non-float, NaN/Inf, values outside ``[0, data_range]``.

    Example:
        >>> import torch
        >>> x = torch.zeros(1, 3, 8, 8); y = torch.full((1, 3, 8, 8), 0.1)
        >>> round(float(psnr(x, y)[0]), 3)
        20.0
    """
    x, y = _check_pair(x, y, data_range)
    mse = _mse(x, y)
    floor = data_range**2 * 10 ** (-PSNR_CAP_DB / 10)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(floor))


def _mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image ``[B]``, in strips of rows when the image is large (bounded memory)."""
    b, c, h, w = x.shape
    rows = max(1, STRIP_ELEMENTS // (b * c * w))
    if rows >= h:
        return (x - y).pow(2).flatten(1).mean(dim=1)
    total = None
    for r0 in range(0, h, rows):
        part = (x[:, :, r0:r0 + rows] - y[:, :, r0:r0 + rows]).pow(2).flatten(1).sum(dim=1)
        total = part if total is None else total + part
    return total / (c * h * w)


def mean_psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean over the batch of per-image PSNR (dB), a 0-d tensor.

    semcom always reports the **mean of per-image PSNR**, not the PSNR of the MSE pooled over the
    batch (the two differ: pooled-MSE PSNR is dominated by the worst images).

    Example:
        >>> import torch
        >>> x = torch.zeros(2, 3, 4, 4); y = torch.cat([torch.full((1, 3, 4, 4), 0.1), torch.full((1, 3, 4, 4), 0.01)])
        >>> round(float(mean_psnr(x, y)), 3)  # (20 + 40) / 2
        30.0
    """
    return psnr(x, y, data_range).mean()


def _gaussian_window(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    r = SSIM_WINDOW // 2
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * (t / _SIGMA) ** 2)
    g = g / g.sum()
    return g.to(dtype=dtype, device=device)


def _filter_valid(img: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter in valid mode, each channel of ``[B, C, H, W]`` on its own."""
    k, c = g.numel(), img.shape[1]
    # Depthwise (grouped) convolution: much faster on CPU than C = 1 with a large batch.
    img = F.conv2d(img, g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
    return F.conv2d(img, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)


def _ssim_maps(x: torch.Tensor, y: torch.Tensor, data_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per channel SSIM and contrast-structure means, each ``[B, C]``.

    Memory stays bounded: when one intermediate map (``B * C * (H-10) * W`` values) would exceed
    :data:`STRIP_ELEMENTS`, the valid-mode map is computed in horizontal strips of output rows
    (each strip reads its rows plus the 10 rows the window overlaps) and the per-channel sums are
    accumulated; the result equals the one-pass computation up to floating-point summation order.
    """
    b, c, h, w = x.shape
    hv = h - SSIM_WINDOW + 1
    rows = max(1, STRIP_ELEMENTS // (b * c * w))
    if rows >= hv:
        s_map, cs_map = _ssim_strip(x, y, data_range)
        return s_map.flatten(2).mean(2), cs_map.flatten(2).mean(2)
    s_sum = cs_sum = None
    for r0 in range(0, hv, rows):
        r1 = min(hv, r0 + rows)
        s_map, cs_map = _ssim_strip(x[:, :, r0:r1 + SSIM_WINDOW - 1], y[:, :, r0:r1 + SSIM_WINDOW - 1], data_range)
        s_part, cs_part = s_map.flatten(2).sum(2), cs_map.flatten(2).sum(2)
        s_sum = s_part if s_sum is None else s_sum + s_part
        cs_sum = cs_part if cs_sum is None else cs_sum + cs_part
        del s_map, cs_map
    n = hv * (w - SSIM_WINDOW + 1)
    return s_sum / n, cs_sum / n


def _ssim_strip(x: torch.Tensor, y: torch.Tensor, data_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The valid-mode SSIM and contrast-structure maps ``[B, C, H-10, W-10]`` of ``x`` and ``y``."""
    c = x.shape[1]
    g = _gaussian_window(x.dtype, x.device)
    # One depthwise filter for the five local statistics of every channel.
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    f = _filter_valid(stack, g)
    del stack
    mx, my, mxx, myy, mxy = f.split(c, dim=1)
    vx = mxx - mx * mx
    vy = myy - my * my
    cxy = mxy - mx * my
    c1 = (_K1 * data_range) ** 2
    c2 = (_K2 * data_range) ** 2
    cs = (2 * cxy + c2) / (vx + vy + c2)
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    return lum * cs, cs


def _check_size(h: int, w: int, what: str) -> None:
    if min(h, w) < SSIM_WINDOW:
        raise InputError(f"{what} needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {h}x{w}")


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity per image (Wang et al., IEEE TIP 2004), in [-1, 1], 1 for identical images.

    Gaussian window 11x11 (sigma 1.5), K1 = 0.01, K2 = 0.03, population local statistics, valid-mode
    filtering (the SSIM map covers the region where the window fits: ``(H-10) x (W-10)``), map mean
    per colour channel, then the mean over channels. Equals scikit-image's
    ``structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=data_range, channel_axis=0)`` (which crops the same border before averaging).
    Differentiable: ``1 - ssim`` is a valid loss.

    Args:
        x, y: images ``[B, C, H, W]`` (or ``[C, H, W]``), float in ``[0, data_range]``, ``H, W >= 11``.
        data_range: peak value (1.0 for semcom images).

    Returns:
        ``[B]`` SSIM, dtype of the inputs.

    Raises:
        InputError: bad shape/dtype/range, NaN/Inf, or images smaller than 11x11.

    Example:
        >>> import torch
        >>> x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> float(ssim(x, x)[0])
        1.0
    """
    x, y = _check_pair(x, y, data_range)
    _check_size(x.shape[2], x.shape[3], "ssim")
    s, _ = _ssim_maps(x, y, data_range)
    return s.mean(dim=1)


def ms_scales(height: int, width: int) -> int:
    """Number of MS-SSIM scales used for an image of this size (1..5; 0 when smaller than 11 px).

    Example:
        >>> ms_scales(256, 256), ms_scales(64, 64), ms_scales(28, 28)
        (5, 3, 2)
    """
    m = 0
    h, w = height, width
    while m < len(MS_SSIM_WEIGHTS) and min(h, w) >= SSIM_WINDOW:
        m += 1
        h, w = (h + 1) // 2, (w + 1) // 2
    return m


def _downsample(x: torch.Tensor) -> torch.Tensor:
    """2x2 average then keep every other pixel; odd sizes replicate the last row/column."""
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
    return F.avg_pool2d(x, kernel_size=2, stride=2)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Multi-scale SSIM per image (Wang, Simoncelli, Bovik, Asilomar 2003), in [0, 1].

    ``MS-SSIM = SSIM_M ** w_M * prod_{j<M} CS_j ** w_j`` per colour channel, averaged over channels,
    with the 5 weights :data:`MS_SSIM_WEIGHTS`. Each scale halves the image with a 2x2 average.
    Images smaller than 161 px on a side use fewer scales (see :func:`ms_scales`) with the first
    ``M`` weights renormalised to sum to one; one scale is plain SSIM (clamped at >= 0).
    Differentiable: ``1 - ms_ssim`` is a valid loss.

    Args:
        x, y: images ``[B, C, H, W]`` (or ``[C, H, W]``), float in ``[0, data_range]``, ``H, W >= 11``.
        data_range: peak value (1.0 for semcom images).

    Returns:
        ``[B]`` MS-SSIM, dtype of the inputs.

    Raises:
        InputError: bad shape/dtype/range, NaN/Inf, or images smaller than 11x11.

    Example:
        >>> import torch
        >>> x = torch.rand(1, 3, 200, 200, generator=torch.Generator().manual_seed(0))
        >>> round(float(ms_ssim(x, x)[0]), 6)
        1.0
    """
    x, y = _check_pair(x, y, data_range)
    m = ms_scales(x.shape[2], x.shape[3])
    _check_size(x.shape[2], x.shape[3], "ms_ssim")
    wts = torch.tensor(MS_SSIM_WEIGHTS[:m], dtype=x.dtype, device=x.device)
    wts = wts / wts.sum()
    out = torch.ones(x.shape[0], x.shape[1], dtype=x.dtype, device=x.device)
    for j in range(m):
        s, cs = _ssim_maps(x, y, data_range)
        term = s if j == m - 1 else cs
        out = out * term.clamp_min(_CLAMP).pow(wts[j])
        if j < m - 1:
            x, y = _downsample(x), _downsample(y)
    return out.mean(dim=1)


def evaluate_images(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> dict[str, list[float]]:
    """PSNR (dB), SSIM and MS-SSIM per image, as plain lists for experiment results.

    Computed without gradients, in float64. ``x`` is the reference, ``y`` the reconstruction (all
    three metrics are symmetric anyway).

    Returns:
        ``{"psnr": [B floats], "ssim": [...], "ms_ssim": [...]}``.

    Example:
        >>> import torch
        >>> x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> r = evaluate_images(x, x)
        >>> r["psnr"], r["ssim"]
        ([100.0, 100.0], [1.0, 1.0])
    """
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
        raise InputError("evaluate_images expects two torch.Tensor image batches")
    with torch.no_grad():
        if x.is_floating_point():
            x = x.double()
        if y.is_floating_point():
            y = y.double()
        return {
            "psnr": psnr(x, y, data_range).tolist(),
            "ssim": ssim(x, y, data_range).tolist(),
            "ms_ssim": ms_ssim(x, y, data_range).tolist(),
        }
