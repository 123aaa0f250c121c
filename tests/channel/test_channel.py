"""Analog channels: realised SNR, circular noise, fading statistics, CSI handling, gradients, seeding, errors."""

from __future__ import annotations

import math

import pytest
import torch

from semcom.channel import (
    CHANNELS,
    AWGNChannel,
    RayleighBlockChannel,
    RayleighFastChannel,
    complex_to_real,
    make_channel,
    power_normalize,
    real_to_complex,
    register_channel,
    snr_db_to_no,
)
from semcom.errors import ConfigError, InputError


def _symbols(shape, seed=0, dtype=torch.float32):
    """Unit-power complex Gaussian symbols, as a JSCC encoder would produce after normalisation."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape[:-1], 2 * shape[-1], generator=g, dtype=dtype)
    return power_normalize(real_to_complex(x))


def _db(v: float) -> float:
    return 10 * math.log10(v)


# ------------------------------------------------------------------ AWGN

@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 10.0, 25.0])
def test_awgn_realised_snr_and_circular_noise(snr_db):
    z = _symbols((1000, 1000))  # 10^6 symbols
    y = AWGNChannel(seed=1)(z, snr_db)
    n = y - z
    no = snr_db_to_no(snr_db)
    sig = float(z.abs().pow(2).mean())
    assert sig == pytest.approx(1.0, abs=1e-5)
    measured_no = float(n.abs().pow(2).mean())
    assert abs(_db(sig / measured_no) - snr_db) < 0.1  # realised SNR within 0.1 dB
    # Circular: real and imaginary variance each no/2 (within 1 %), uncorrelated, zero pseudo-variance.
    assert float(n.real.var()) == pytest.approx(no / 2, rel=0.01)
    assert float(n.imag.var()) == pytest.approx(no / 2, rel=0.01)
    assert abs(float((n.real * n.imag).mean())) < 0.005 * no
    assert abs(complex((n * n).mean())) < 0.005 * no
    assert abs(complex(n.mean())) < 0.005 * math.sqrt(no)


def test_awgn_per_example_snr_tensor():
    z = _symbols((3, 200000))
    snr = torch.tensor([0.0, 10.0, 20.0])
    y = AWGNChannel(seed=2)(z, snr)
    for i, s in enumerate(snr.tolist()):
        assert abs(_db(1 / float((y[i] - z[i]).abs().pow(2).mean())) - s) < 0.1
    # [B, 1] SNR against [B, C, n] symbols broadcasts over the middle dimension.
    z3 = _symbols((2, 4, 50000))
    y3 = AWGNChannel(seed=3)(z3, torch.tensor([[0.0], [20.0]]))
    assert abs(_db(1 / float((y3[1] - z3[1]).abs().pow(2).mean())) - 20.0) < 0.1


def test_awgn_keeps_dtype_complex128():
    z = _symbols((4, 64), dtype=torch.float64)
    assert z.dtype == torch.complex128
    assert AWGNChannel(seed=0)(z, 5.0).dtype == torch.complex128
    assert AWGNChannel(seed=0)(_symbols((4, 64)), 5).dtype == torch.complex64


# ------------------------------------------------------------------ Rayleigh

def test_rayleigh_block_average_received_snr_and_block_structure():
    z = _symbols((100000, 10))  # 10^6 symbols, 10^5 independent blocks
    snr_db = 10.0
    y, st = RayleighBlockChannel(csi="none", seed=4)(z, snr_db, return_state=True)
    h = st.h
    assert h.shape == z.shape
    assert bool((h == h[:, :1]).all())  # one coefficient per example
    hb = h[:, 0]
    assert float(hb.abs().pow(2).mean()) == pytest.approx(1.0, abs=0.01)  # E|h|^2 = 1
    assert float(hb.real.var()) == pytest.approx(0.5, rel=0.02)
    assert float(hb.imag.var()) == pytest.approx(0.5, rel=0.02)
    n = y - h * z
    rx_snr = float((h * z).abs().pow(2).mean()) / float(n.abs().pow(2).mean())
    assert abs(_db(rx_snr) - snr_db) < 0.1  # average received SNR within 0.1 dB
    assert float(n.abs().pow(2).mean()) == pytest.approx(snr_db_to_no(snr_db), rel=0.01)
    # |h|^2 of Rayleigh fading is Exp(1): P(|h|^2 < 0.1) = 1 - e^-0.1.
    assert float((hb.abs().pow(2) < 0.1).double().mean()) == pytest.approx(1 - math.exp(-0.1), abs=0.005)
    assert torch.allclose(st.snr_inst_db, 10 * torch.log10(h.abs().pow(2) / snr_db_to_no(snr_db)), atol=1e-4)


def test_rayleigh_fast_statistics():
    z = _symbols((1000, 1000))
    y, st = RayleighFastChannel(csi="none", seed=5)(z, 5.0, return_state=True)
    h = st.h
    assert float(h.abs().pow(2).mean()) == pytest.approx(1.0, abs=0.01)
    # Independent per symbol: adjacent coefficients uncorrelated.
    corr = complex((h[:, 1:] * h[:, :-1].conj()).mean())
    assert abs(corr) < 0.01
    rx_snr = float((h * z).abs().pow(2).mean()) / float((y - h * z).abs().pow(2).mean())
    assert abs(_db(rx_snr) - 5.0) < 0.1


def test_blocks_per_example():
    z = _symbols((500, 10))
    _, st = RayleighBlockChannel(csi="perfect", blocks_per_example=3, seed=6)(z, 10.0, return_state=True)
    h = st.h
    # 10 symbols in 3 contiguous blocks: floor(i * 3 / 10) -> sizes 4, 3, 3.
    blocks = [(0, 4), (4, 7), (7, 10)]
    for a, b in blocks:
        assert bool((h[:, a:b] == h[:, a : a + 1]).all())
    assert bool((h[:, 0] != h[:, 4]).all()) and bool((h[:, 4] != h[:, 7]).all())
    with pytest.raises(InputError, match="blocks"):
        RayleighBlockChannel(blocks_per_example=11)(z, 10.0)


@pytest.mark.parametrize("cls", [RayleighBlockChannel, RayleighFastChannel])
@pytest.mark.parametrize("equalizer", ["zf", "mmse"])
def test_perfect_csi_equalisation_recovers_z_at_high_snr(cls, equalizer):
    z = _symbols((2000, 64))
    out, st = cls(csi="perfect", equalizer=equalizer, seed=7)(z, 50.0, return_state=True)
    err = (out - z).abs()
    assert float((err < 0.05).double().mean()) > 0.99
    assert float(err.median()) < 0.005
    assert torch.equal(st.h_hat, st.h)
    if equalizer == "zf":  # out = z + n / h: the residual times h is the CN(0, no) noise
        c128 = torch.complex128
        n = (out.to(c128) - z.to(c128)) * st.h.to(c128)
        assert float(n.abs().pow(2).mean()) == pytest.approx(snr_db_to_no(50.0), rel=0.02)
    # Without CSI the receiver sees a rotated, scaled z: far from z.
    raw = cls(csi="none", seed=7)(z, 50.0)
    assert float((raw - z).abs().median()) > 0.3


def test_mmse_bounds_deep_fades_and_csi_none_returns_raw():
    z = _symbols((5000, 8))
    zf = RayleighBlockChannel(csi="perfect", equalizer="zf", seed=8)(z, 0.0)
    mmse = RayleighBlockChannel(csi="perfect", equalizer="mmse", seed=8)(z, 0.0)
    assert float(mmse.abs().max()) < float(zf.abs().max())
    assert float((mmse - z).abs().pow(2).mean()) < float((zf - z).abs().pow(2).mean())
    raw, st = RayleighBlockChannel(csi="none", seed=8)(z, 0.0, return_state=True)
    assert st.h_hat is None
    # Same draws in the same order: the raw output is h z + n with the ZF output's h and n.
    assert torch.allclose(zf * st.h, raw, atol=1e-5)


def test_estimated_csi_error():
    z = _symbols((4000, 32))
    var = 0.01
    out, st = RayleighBlockChannel(csi="estimated", csi_error_var=var, seed=9)(z, 40.0, return_state=True)
    e = (st.h_hat - st.h)[:, 0]
    assert float(e.abs().pow(2).mean()) == pytest.approx(var, rel=0.05)
    assert float(e.real.var()) == pytest.approx(var / 2, rel=0.07)
    perfect = RayleighBlockChannel(csi="perfect", seed=9)(z, 40.0)
    mse_est = float((out - z).abs().pow(2).median())
    mse_perf = float((perfect - z).abs().pow(2).median())
    assert mse_est > 10 * mse_perf  # the estimation error dominates at 40 dB
    worse = RayleighBlockChannel(csi="estimated", csi_error_var=0.1, seed=9)(z, 40.0)
    assert float((worse - z).abs().pow(2).median()) > mse_est
    zero = RayleighBlockChannel(csi="estimated", csi_error_var=0.0, seed=9)(z, 40.0)
    assert torch.allclose(zero, perfect, atol=1e-6)


# ------------------------------------------------------------------ gradients

CHANNEL_CASES = [
    ("awgn", {}),
    ("rayleigh_block", {"csi": "perfect"}),
    ("rayleigh_block", {"csi": "perfect", "equalizer": "mmse"}),
    ("rayleigh_block", {"csi": "estimated", "csi_error_var": 0.05}),
    ("rayleigh_block", {"csi": "none", "blocks_per_example": 2}),
    ("rayleigh_fast", {"csi": "perfect"}),
    ("rayleigh_fast", {"csi": "none"}),
]


@pytest.mark.parametrize("name,kw", CHANNEL_CASES)
def test_gradients_flow_to_the_real_encoder_output(name, kw):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 32, generator=g, requires_grad=True)  # what a JSCC encoder outputs: [B, 2n]
    z = power_normalize(real_to_complex(x))
    ch = make_channel(name, seed=1, **kw)
    out = ch(z, 10.0)
    loss = complex_to_real(out).pow(2).sum()
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0
    # Autograd matches a finite difference of the same (seeded) forward, in float64.
    xd = x.detach().double().requires_grad_(True)
    def f(t):
        return complex_to_real(make_channel(name, seed=1, **kw)(power_normalize(real_to_complex(t)), 10.0)).pow(2).sum()

    assert torch.autograd.gradcheck(f, (xd[:2, :8].clone().requires_grad_(True),), eps=1e-6, atol=1e-4)


def test_awgn_gradient_is_identity():
    z = _symbols((4, 16)).requires_grad_(True)
    y = AWGNChannel(seed=0)(z, 0.0)
    y.real.sum().backward()
    assert torch.allclose(z.grad, torch.ones_like(z.grad))


# ------------------------------------------------------------------ seeding

@pytest.mark.parametrize("name,kw", CHANNEL_CASES)
def test_same_seed_same_result(name, kw):
    z = _symbols((16, 40))
    a = make_channel(name, seed=11, **kw)(z, 5.0)
    b = make_channel(name, seed=11, **kw)(z, 5.0)
    c = make_channel(name, seed=12, **kw)(z, 5.0)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    ch = make_channel(name, seed=11, **kw)
    first, second = ch(z, 5.0), ch(z, 5.0)
    assert torch.equal(first, a) and not torch.equal(first, second)  # own generator advances
    # A per-call generator (int seed or Generator) overrides the module's generator.
    assert torch.equal(ch(z, 5.0, generator=3), make_channel(name, **kw)(z, 5.0, generator=torch.Generator().manual_seed(3)))


# ------------------------------------------------------------------ helpers

def test_power_normalize():
    g = torch.Generator().manual_seed(0)
    z = torch.complex(torch.randn(5, 7, 33, generator=g), torch.randn(5, 7, 33, generator=g)) * 3.7
    p = power_normalize(z).abs().pow(2).mean(-1)
    assert torch.allclose(p, torch.ones_like(p), atol=1e-5)
    p2 = power_normalize(z, dim=(-2, -1)).abs().pow(2).mean((-2, -1))  # per example over [C, n]
    assert torch.allclose(p2, torch.ones_like(p2), atol=1e-5)
    assert torch.equal(power_normalize(torch.zeros(2, 4, dtype=torch.complex64)), torch.zeros(2, 4, dtype=torch.complex64))
    x = torch.randn(3, 8, generator=g, requires_grad=True)
    power_normalize(real_to_complex(x))[0, 0].real.backward()
    assert torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0
    with pytest.raises(InputError, match="complex"):
        power_normalize(torch.randn(3, 4))


@pytest.mark.parametrize("layout", ["halves", "interleaved"])
def test_real_complex_roundtrip(layout):
    x = torch.randn(2, 3, 10)
    z = real_to_complex(x, layout=layout)
    assert z.shape == (2, 3, 5) and z.dtype == torch.complex64
    assert torch.equal(complex_to_real(z, layout=layout), x)
    assert real_to_complex(x.double(), layout=layout).dtype == torch.complex128
    if layout == "halves":
        assert torch.equal(z.real, x[..., :5]) and torch.equal(z.imag, x[..., 5:])
    else:
        assert torch.equal(z.real, x[..., 0::2]) and torch.equal(z.imag, x[..., 1::2])
    with pytest.raises(InputError, match="even"):
        real_to_complex(torch.randn(2, 5), layout=layout)
    with pytest.raises(InputError, match="real float"):
        real_to_complex(z, layout=layout)
    with pytest.raises(InputError, match="layout"):
        real_to_complex(x, layout="pairs")


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("name,kw", CHANNEL_CASES)
def test_bad_inputs_raise_input_error(name, kw):
    ch = make_channel(name, **kw)
    z = _symbols((4, 8))
    with pytest.raises(InputError, match="complex"):
        ch(torch.randn(4, 16), 10.0)
    bad = z.clone()
    bad[0, 0] = complex(float("nan"), 0)
    with pytest.raises(InputError, match="NaN"):
        ch(bad, 10.0)
    with pytest.raises(InputError, match="snr_db"):
        ch(z, float("nan"))
    with pytest.raises(InputError, match="snr_db"):
        ch(z, torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(InputError, match="snr_db"):
        ch(z, "10")
    with pytest.raises(InputError, match="seed"):
        ch(z, 10.0, generator=1.5)


def test_config_errors():
    with pytest.raises(ConfigError, match="unknown channel"):
        make_channel("rician")
    with pytest.raises(ConfigError, match="unknown keyword"):
        make_channel("rayleigh_fast", blocks_per_example=2)
    with pytest.raises(ConfigError, match="csi must be"):
        make_channel("rayleigh_block", csi="partial")
    with pytest.raises(ConfigError, match="equalizer"):
        RayleighBlockChannel(equalizer="ml")
    with pytest.raises(ConfigError, match="only meaningful"):
        RayleighBlockChannel(csi="perfect", csi_error_var=0.1)
    with pytest.raises(ConfigError, match=">= 0"):
        RayleighBlockChannel(csi="estimated", csi_error_var=-1.0)
    with pytest.raises(ConfigError, match="blocks_per_example"):
        RayleighBlockChannel(blocks_per_example=0)
    with pytest.raises(ConfigError, match="already registered"):
        register_channel("awgn", AWGNChannel)
    assert set(CHANNELS) >= {"awgn", "rayleigh_block", "rayleigh_fast"}
