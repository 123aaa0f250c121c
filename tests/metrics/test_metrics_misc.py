"""Accounting, task metrics, accumulating metrics and the LPIPS availability contract."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
import torch

from semcom.errors import InputError, SemcomError
from semcom.metrics import (
    MetricUnavailable,
    MSSSIMMetric,
    PSNRMetric,
    SSIMMetric,
    accuracy,
    ber,
    bler,
    bpp,
    cbr,
    lpips,
    lpips_available,
    lpips_status,
    mean_landmark_error,
    ms_ssim,
    psnr,
    spp,
    ssim,
)



# ------------------------------------------------------------------ accounting

def test_rate_accounting_definitions():
    h, w, c = 256, 512, 3
    assert bpp(h * w * 2, h, w) == 2.0
    assert cbr(h * w * c // 12, h * w * c) == pytest.approx(1 / 12)
    assert spp(h * w // 4, h * w) == 0.25
    n = 4096  # complex channel uses
    assert spp(n, h * w) == pytest.approx(cbr(n, h * w * c) * c)  # spp = cbr * C
    assert bpp(torch.tensor(1024), 32, 32) == 1.0
    assert bpp(0, 8, 8) == 0.0


@pytest.mark.parametrize(
    "call",
    [
        lambda: bpp(-1, 8, 8),
        lambda: bpp(10, 0, 8),
        lambda: bpp(float("nan"), 8, 8),
        lambda: bpp("10", 8, 8),
        lambda: cbr(10, 0),
        lambda: cbr(float("inf"), 10),
        lambda: spp(torch.tensor([1, 2]), 10),
        lambda: spp(True, 10),
    ],
)
def test_rate_accounting_rejects_bad_numbers(call):
    with pytest.raises(InputError):
        call()


def test_ber_bler():
    g = torch.Generator().manual_seed(0)
    sent = torch.randint(0, 2, (64, 1000), generator=g).float()
    flips = torch.rand(sent.shape, generator=g) < 0.1
    recv = torch.where(flips, 1 - sent, sent)
    assert ber(sent, recv) == int(flips.sum()) / flips.numel()
    assert ber(sent, sent) == 0.0
    assert ber(sent.bool(), (1 - sent).long()) == 1.0
    assert ber(np.array([0, 1, 1, 0]), np.array([1, 1, 1, 0])) == 0.25
    assert bler(torch.tensor([1, 1, 0, 1, 0])) == pytest.approx(0.4)
    assert bler(torch.ones(7, dtype=torch.bool)) == 0.0
    with pytest.raises(InputError, match="shapes differ"):
        ber(sent, recv[:, :-1])
    bad = sent.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        ber(bad, sent)
    with pytest.raises(InputError, match="0/1"):
        ber(sent * 2, sent)
    with pytest.raises(InputError, match="empty"):
        bler(torch.ones(0))
    with pytest.raises(InputError, match="0/1"):
        bler(torch.tensor([0.5]))


# ------------------------------------------------------------------ task metrics

def test_accuracy():
    logits = torch.tensor([[0.1, 0.9, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 5.0], [1.0, 3.0, 2.0]])
    assert accuracy(logits, torch.tensor([1, 0, 2, 2])) == 0.75
    assert accuracy(logits.view(2, 2, 3), torch.tensor([[1, 0], [2, 1]])) == 1.0
    with pytest.raises(InputError, match="do not match"):
        accuracy(logits, torch.tensor([1, 0]))
    with pytest.raises(InputError, match="lie in"):
        accuracy(logits, torch.tensor([1, 0, 3, 0]))
    with pytest.raises(InputError, match="integer"):
        accuracy(logits, torch.tensor([1.0, 0, 2, 0]))
    with pytest.raises(InputError, match="NaN"):
        accuracy(torch.full((4, 3), float("nan")), torch.tensor([1, 0, 2, 2]))


def test_mean_landmark_error():
    true = torch.zeros(2, 3, 2)
    pred = torch.tensor([[[3.0, 4.0], [0, 0], [1, 0]], [[0, 2.0], [6, 8], [0, 0]]])
    d = mean_landmark_error(pred, true, reduction="none")
    assert d.shape == (2, 3)
    assert d.tolist() == [[5.0, 0.0, 1.0], [2.0, 10.0, 0.0]]
    assert float(mean_landmark_error(pred, true)) == pytest.approx(18 / 6)
    p3 = torch.tensor([[1.0, 2.0, 2.0]])
    assert float(mean_landmark_error(p3, torch.zeros(1, 3))) == pytest.approx(3.0)
    # Differentiable, finite gradient even where the distance is 0.
    p = pred.clone().requires_grad_(True)
    mean_landmark_error(p, true).backward()
    assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    for bad_pred, bad_true in [(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4)), (pred, true[:, :2])]:
        with pytest.raises(InputError):
            mean_landmark_error(bad_pred, bad_true)
    with pytest.raises(InputError, match="reduction"):
        mean_landmark_error(pred, true, reduction="sum")


# ------------------------------------------------------------------ accumulating metrics

def test_accumulating_metrics_equal_mean_of_per_image():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(5, 3, 48, 48, generator=g)
    y = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    for cls, fn in [(PSNRMetric, psnr), (SSIMMetric, ssim), (MSSSIMMetric, ms_ssim)]:
        m = cls()
        assert m.higher_is_better is True
        with pytest.raises(InputError, match="before any update"):
            m.compute()
        m.update(x[:2], y[:2])
        m.update(x[2:], y[2:])
        assert m.count == 5
        assert m.compute() == pytest.approx(float(fn(x, y).double().mean()), rel=1e-6)
        other = cls()
        other.update(x[:1], x[:1])
        m.merge(other)
        assert m.count == 6
        m.reset()
        assert m.count == 0
    with pytest.raises(InputError, match="merge"):
        PSNRMetric().merge(SSIMMetric())


# ------------------------------------------------------------------ LPIPS contract

def test_metric_unavailable_is_semcom_error():
    assert issubclass(MetricUnavailable, SemcomError)


@pytest.mark.skipif(importlib.util.find_spec("lpips") is not None, reason="lpips is installed here")
def test_lpips_unavailable_without_package():
    assert lpips_available() is False
    ok, why = lpips_status()
    assert not ok and "lpips" in why and "not installed" in why
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(MetricUnavailable, match="not installed"):
        lpips(x, x)


def test_lpips_unavailable_without_backbone_weights(tmp_path, monkeypatch):
    """A package with linear heads but no local backbone file is still 'unavailable', never random."""
    pkg = tmp_path / "site" / "lpips"
    (pkg / "weights" / "v0.1").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported by the availability check')\n")
    (pkg / "weights" / "v0.1" / "alex.pth").write_bytes(b"heads")
    tv = tmp_path / "site" / "torchvision"
    tv.mkdir()
    (tv / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    for mod in ("lpips", "torchvision"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    empty = tmp_path / "no_weights"
    empty.mkdir()
    ok, why = lpips_status("alex", weights_dir=empty)
    assert not ok and "alexnet-owt-7be5be79.pth" in why and "random backbone" in why
    assert lpips_available("alex", weights_dir=empty) is False
    with pytest.raises(MetricUnavailable, match="not present locally"):
        lpips(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), weights_dir=empty)
    # Heads for the requested backbone missing from the package.
    ok, why = lpips_status("vgg", weights_dir=empty)
    assert not ok and "linear-head" in why
    # Unknown backbone name.
    ok, why = lpips_status("resnet")
    assert not ok and "unknown" in why
    # With a backbone file present the status turns available (files only; nothing imported).
    (empty / "alexnet-owt-7be5be79.pth").write_bytes(b"x")
    assert lpips_available("alex", weights_dir=empty) is True
    assert "lpips" not in sys.modules and "torchvision" not in sys.modules
