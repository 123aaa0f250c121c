"""PSNR / SSIM / MS-SSIM of large images are computed in strips of rows (bounded memory): the
strip-wise result equals the one-pass result on real photos, in float64 and float32, with gradients."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

import semcom.metrics.image as image_metrics
from semcom.metrics import evaluate_images, ms_ssim, psnr, ssim

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # many small strips: one thread is faster


def _pair(dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """A real photo (an odd-sized crop) and its JPEG quality-20 version, ``[1, 3, H, W]``."""
    a = np.ascontiguousarray(skdata.astronaut()[113:190, 157:250])
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=20)
    b = np.array(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    def t(v):
        return torch.from_numpy(v / 255.0).permute(2, 0, 1).unsqueeze(0).to(dtype)
    return t(a), t(b)


def _batch(dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _pair(dtype)
    g = torch.Generator().manual_seed(0)
    noisy = (x + 0.05 * torch.randn(x.shape, generator=g, dtype=dtype)).clamp(0, 1)
    return torch.cat([x, x, x]), torch.cat([y, noisy, x])


@pytest.mark.parametrize("budget", [1, 3 * 3 * 93 * 7])  # strips of 1 row, of 7 rows
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_strips_equal_one_pass(monkeypatch, budget, dtype, tol):
    x, y = _batch(dtype)  # 3 pairs of 77 x 93 images (MS-SSIM: 3 scales)
    metrics = {"ssim": (ssim, tol), "ms_ssim": (ms_ssim, tol), "psnr": (psnr, 1e3 * tol)}  # PSNR in dB
    one = {k: f(x, y) for k, (f, _) in metrics.items()}
    assert image_metrics.STRIP_ELEMENTS > x.numel()  # the reference above ran in one pass
    monkeypatch.setattr(image_metrics, "STRIP_ELEMENTS", budget)
    for k, (f, atol) in metrics.items():
        got = f(x, y)
        assert got.dtype == dtype
        torch.testing.assert_close(got, one[k], atol=atol, rtol=0)
    assert float(ssim(x, y)[2]) == pytest.approx(1.0, abs=tol)  # identical images


def test_strips_keep_gradients(monkeypatch):
    x, y = _pair(torch.float64)
    y1 = y.clone().requires_grad_(True)
    ssim(x, y1).sum().backward()
    monkeypatch.setattr(image_metrics, "STRIP_ELEMENTS", 3 * 93 * 5)
    y2 = y.clone().requires_grad_(True)
    ssim(x, y2).sum().backward()
    torch.testing.assert_close(y2.grad, y1.grad, atol=1e-12, rtol=1e-9)


def test_evaluate_images_in_strips(monkeypatch):
    x, y = _pair(torch.float32)
    ref = evaluate_images(x, y)
    monkeypatch.setattr(image_metrics, "STRIP_ELEMENTS", 3 * 93 * 3)
    got = evaluate_images(x, y)
    assert got["psnr"] == pytest.approx(ref["psnr"], abs=1e-9)
    for k in ("ssim", "ms_ssim"):
        assert got[k] == pytest.approx(ref[k], abs=1e-12)
