"""PSNR / SSIM / MS-SSIM against scikit-image and an independent numpy MS-SSIM written from the paper."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from semcom.errors import InputError
from semcom.metrics import (
    MS_SSIM_WEIGHTS,
    PSNR_CAP_DB,
    evaluate_images,
    mean_psnr,
    ms_scales,
    ms_ssim,
    psnr,
    ssim,
)

PHOTOS = ("astronaut", "chelsea", "coffee")


def _photo(name: str) -> np.ndarray:
    return getattr(skdata, name)()  # uint8 H x W x 3


def _jpeg(a: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return np.array(Image.open(buf).convert("RGB"))


def _noisy(a: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(a / 255.0 + sigma * rng.standard_normal(a.shape), 0, 1)


def _t(a: np.ndarray, dtype=torch.float64) -> torch.Tensor:
    a = a / 255.0 if a.dtype == np.uint8 else a
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).unsqueeze(0).to(dtype)


def _pairs(full: bool = False):
    """(reference, degraded) float64 HxWx3 in [0,1] pairs from real photos.

    The fast tier uses a 200 x 257 crop of each photo (odd width on purpose); ``full`` uses whole photos.
    """
    out = []
    for i, name in enumerate(PHOTOS):
        a = _photo(name)
        if not full:
            a = np.ascontiguousarray(a[40:240, 60:317])
        out.append((name + "-jpeg10", a / 255.0, _jpeg(a, 10) / 255.0))
        out.append((name + "-jpeg50", a / 255.0, _jpeg(a, 50) / 255.0))
        out.append((name + "-noise", a / 255.0, _noisy(a, 0.05, i)))
    return out


PAIRS = _pairs()
FULL_PAIRS = _pairs(full=True)


def _sk_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=2
    )


@pytest.mark.parametrize("name,a,b", PAIRS, ids=[p[0] for p in PAIRS])
def test_psnr_matches_skimage_on_photos(name, a, b):
    ref = peak_signal_noise_ratio(a, b, data_range=1.0)
    got64 = float(psnr(_t(a), _t(b))[0])
    got32 = float(psnr(_t(a, torch.float32), _t(b, torch.float32))[0])
    assert got64 == pytest.approx(ref, abs=1e-9)
    assert got32 == pytest.approx(ref, abs=1e-3)  # stated float32 tolerance: 1e-3 dB


@pytest.mark.parametrize("name,a,b", PAIRS, ids=[p[0] for p in PAIRS])
def test_ssim_matches_skimage_on_photos(name, a, b):
    ref = _sk_ssim(a, b)
    got64 = float(ssim(_t(a), _t(b))[0])
    got32 = float(ssim(_t(a, torch.float32), _t(b, torch.float32))[0])
    assert got64 == pytest.approx(ref, abs=1e-9)
    assert got32 == pytest.approx(ref, abs=1e-5)  # stated float32 tolerance: 1e-5
    assert 0 < ref < 1


def test_ssim_per_image_batch_and_grayscale():
    a = _photo("astronaut")[:256, :256]
    b = _jpeg(a, 10)
    c = _jpeg(a, 60)
    x = torch.cat([_t(a), _t(a)])
    y = torch.cat([_t(b), _t(c)])
    s = ssim(x, y)
    assert s.shape == (2,)
    assert float(s[0]) == pytest.approx(_sk_ssim(a / 255.0, b / 255.0), abs=1e-9)
    assert float(s[1]) == pytest.approx(_sk_ssim(a / 255.0, c / 255.0), abs=1e-9)
    assert s[1] > s[0]  # better JPEG quality, higher SSIM
    # Grayscale (C = 1) against skimage without channel axis.
    g1, g2 = a[..., 0] / 255.0, b[..., 0] / 255.0
    ref = structural_similarity(g1, g2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    got = ssim(torch.from_numpy(g1)[None, None], torch.from_numpy(g2)[None, None])
    assert float(got[0]) == pytest.approx(ref, abs=1e-9)


def test_mean_psnr_is_mean_of_per_image_not_pooled():
    x = torch.zeros(2, 3, 16, 16, dtype=torch.float64)
    y = torch.cat([torch.full((1, 3, 16, 16), 0.1), torch.full((1, 3, 16, 16), 0.001)]).double()
    per = psnr(x, y)
    assert per.tolist() == pytest.approx([20.0, 60.0])
    assert float(mean_psnr(x, y)) == pytest.approx(40.0)
    pooled = 10 * np.log10(1 / float(((x - y) ** 2).mean()))
    assert pooled == pytest.approx(23.0, abs=0.02)  # pooled-MSE PSNR is a different number


def test_identical_images_capped():
    x = _t(_photo("coffee")[:64, :64])
    assert psnr(x, x).tolist() == [PSNR_CAP_DB]
    assert float(ssim(x, x)[0]) == pytest.approx(1.0, abs=1e-12)
    assert float(ms_ssim(x, x)[0]) == pytest.approx(1.0, abs=1e-12)


def test_psnr_data_range():
    x = torch.zeros(1, 3, 8, 8)
    assert float(psnr(x, x + 25.5, data_range=255.0)[0]) == pytest.approx(20.0, abs=1e-4)


# ---------------------------------------------------------------- MS-SSIM reference (numpy, from the paper)

def _np_gauss_filter_valid(img: np.ndarray) -> np.ndarray:
    """11-tap Gaussian (sigma 1.5), separable, 'valid' region, plain numpy."""
    t = np.arange(-5, 6)
    w = np.exp(-(t**2) / (2 * 1.5**2))
    w /= w.sum()
    rows = np.lib.stride_tricks.sliding_window_view(img, 11, axis=0) @ w  # (H-10, W)
    return np.lib.stride_tricks.sliding_window_view(rows, 11, axis=1) @ w  # (H-10, W-10)


def _np_ssim_cs(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = _np_gauss_filter_valid(a), _np_gauss_filter_valid(b)
    s_aa = _np_gauss_filter_valid(a * a) - mu_a**2
    s_bb = _np_gauss_filter_valid(b * b) - mu_b**2
    s_ab = _np_gauss_filter_valid(a * b) - mu_a * mu_b
    cs = (2 * s_ab + c2) / (s_aa + s_bb + c2)
    lum = (2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)
    return float((lum * cs).mean()), float(cs.mean())


def _np_down(a: np.ndarray) -> np.ndarray:
    """MATLAB imfilter(a, ones(2)/4, 'symmetric') then a(1:2:end, 1:2:end)."""
    p = np.pad(a, ((0, 1), (0, 1)), mode="symmetric")
    f = 0.25 * (p[:-1, :-1] + p[1:, :-1] + p[:-1, 1:] + p[1:, 1:])
    return f[::2, ::2]


def _np_ms_ssim(a: np.ndarray, b: np.ndarray, scales: int = 5) -> float:
    """Wang et al. 2003 eq. (7) per channel, channels averaged."""
    w = np.array(MS_SSIM_WEIGHTS[:scales])
    w = w / w.sum()
    vals = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch], b[..., ch]
        prod = 1.0
        for j in range(scales):
            s, cs = _np_ssim_cs(x, y)
            prod *= (s if j == scales - 1 else cs) ** w[j]
            x, y = _np_down(x), _np_down(y)
        vals.append(prod)
    return float(np.mean(vals))


MS_PAIRS = PAIRS[::4]  # one degradation per photo in the fast tier (all of them in the slow tier)


@pytest.mark.parametrize("name,a,b", MS_PAIRS, ids=[p[0] for p in MS_PAIRS])
def test_ms_ssim_matches_numpy_reference_on_photos(name, a, b):
    assert ms_scales(*a.shape[:2]) == 5
    ref = _np_ms_ssim(a, b)
    assert float(ms_ssim(_t(a), _t(b))[0]) == pytest.approx(ref, abs=1e-9)
    assert float(ms_ssim(_t(a, torch.float32), _t(b, torch.float32))[0]) == pytest.approx(ref, abs=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name,a,b", FULL_PAIRS, ids=[p[0] for p in FULL_PAIRS])
def test_all_metrics_on_whole_photos(name, a, b):
    x, y = _t(a), _t(b)
    assert float(psnr(x, y)[0]) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0), abs=1e-9)
    assert float(ssim(x, y)[0]) == pytest.approx(_sk_ssim(a, b), abs=1e-9)
    assert float(ms_ssim(x, y)[0]) == pytest.approx(_np_ms_ssim(a, b), abs=1e-9)


def test_ms_ssim_properties():
    a = np.ascontiguousarray(_photo("chelsea")[50:250, 100:301])  # 200 x 201: odd width, replicate rule
    x = _t(a, torch.float32)
    ys = torch.cat([_t(_noisy(a, sigma, i), torch.float32) for i, sigma in enumerate((0.01, 0.04, 0.15))])
    vals = ms_ssim(x.expand_as(ys), ys).tolist()
    assert ms_ssim(ys[:1], x).tolist() == pytest.approx(vals[:1], abs=1e-6)  # symmetric
    assert all(0 < v < 1 for v in vals)
    assert vals == sorted(vals, reverse=True)  # more noise -> lower MS-SSIM
    # MS-SSIM weights the coarse scales more: a mild blur hurts it less than SSIM.
    blur = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    assert float(ms_ssim(x, blur)[0]) > float(ssim(x, blur)[0])


def test_ms_ssim_small_images_use_fewer_scales():
    sizes = (10, 11, 20, 21, 40, 41, 81, 160, 161, 512)
    assert [ms_scales(s, s) for s in sizes] == [0, 1, 1, 2, 2, 3, 4, 4, 5, 5]
    assert ms_scales(512, 15) == 1
    a = _photo("astronaut")[100:164, 200:264] / 255.0  # 64 x 64 -> 3 scales
    b = _noisy((a * 255).astype(np.uint8), 0.05, 3)
    got = float(ms_ssim(_t(a), _t(b))[0])
    assert got == pytest.approx(_np_ms_ssim(a, b, scales=3), abs=1e-9)
    # One scale (11..20 px) is SSIM itself.
    s1, s2 = _t(a[:16, :16]), _t(b[:16, :16])
    assert float(ms_ssim(s1, s2)[0]) == pytest.approx(float(ssim(s1, s2)[0]), abs=1e-12)
    with pytest.raises(InputError, match="11x11"):
        ms_ssim(torch.rand(1, 3, 10, 40), torch.rand(1, 3, 10, 40))
    with pytest.raises(InputError, match="11x11"):
        ssim(torch.rand(1, 3, 40, 8), torch.rand(1, 3, 40, 8))


@pytest.mark.parametrize("fn", [psnr, ssim, ms_ssim])
def test_gradients_flow_and_losses_train(fn):
    g = torch.Generator().manual_seed(0)
    target = _t(_photo("astronaut")[:64, :64], torch.float32)
    logits = torch.randn(target.shape, generator=g).requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=0.05)
    first = None
    for _ in range(15):
        v = fn(torch.sigmoid(logits), target).mean()
        first = float(v.detach()) if first is None else first
        opt.zero_grad()
        (-v).backward()
        assert logits.grad is not None and torch.isfinite(logits.grad).all()
        assert logits.grad.abs().sum() > 0
        opt.step()
    assert float(fn(torch.sigmoid(logits.detach()), target).mean()) > first


@pytest.mark.parametrize("fn", [psnr, ssim, ms_ssim])
def test_bad_input_raises(fn):
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(InputError, match="same shape"):
        fn(x, torch.rand(1, 3, 32, 31))
    y = x.clone()
    y[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        fn(x, y)
    with pytest.raises(InputError, match=r"\[0, data_range"):
        fn(x, x + 1.5)
    with pytest.raises(InputError, match="float"):
        fn((x * 255).to(torch.uint8), (x * 255).to(torch.uint8))
    with pytest.raises(InputError, match=r"\[B, C, H, W\]"):
        fn(x[0, 0], x[0, 0])
    with pytest.raises(InputError, match="data_range"):
        fn(x, x, data_range=0)


def test_evaluate_images():
    a = _photo("coffee")[:128, :128]
    x = torch.cat([_t(a), _t(a)]).float()
    y = torch.cat([_t(_jpeg(a, 20)), _t(a)]).float()
    r = evaluate_images(x, y)
    assert set(r) == {"psnr", "ssim", "ms_ssim"}
    assert all(isinstance(v, list) and len(v) == 2 for v in r.values())
    assert r["psnr"][1] == PSNR_CAP_DB and r["ssim"][1] == 1.0 and r["ms_ssim"][1] == pytest.approx(1.0)
    assert r["ssim"][0] == pytest.approx(_sk_ssim(a / 255.0, _jpeg(a, 20) / 255.0), abs=1e-6)
