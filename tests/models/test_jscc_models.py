"""semcom.models: DeepJSCC, VL-SCC 2D and SCC: payload and side-information accounting,
encode/decode against the training path, channel statistics, determinism and bad input."""

import math
import warnings

import pytest
import torch

from semcom.errors import ConfigError, InputError
from semcom.models import (
    MODELS, DeepJSCC, SNROutOfRangeWarning, SymbolPayload, build_model, jscc_channel, register_model,
)

SMALL = {
    "deepjscc": {"hidden_channels": 8, "latent_channels": 4},
    "vlscc2d": {"semantic_channels": 8, "sce_channels": 8, "ran_channels": 4, "n_symbols": 12},
    "scc": {"semantic_channels": 8, "sce_channels": 8, "n_symbols": 6},
}


def _img(b=1, h=64, w=48, seed=0):
    return torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _model(name):
    torch.manual_seed(0)
    return build_model(name, SMALL[name]).eval()


def test_registry_refuses_duplicates_and_unknown_names():
    assert {"deepjscc", "vlscc2d", "scc"} <= set(MODELS)
    with pytest.raises(ConfigError):
        register_model(DeepJSCC)
    with pytest.raises(ConfigError):
        build_model("nope")
    with pytest.raises(ConfigError):
        build_model("deepjscc", {"hidden_channel": 8})  # typo: unknown key refused
    with pytest.raises(ConfigError):
        build_model("deepjscc", {"latent_channels": 3})


def test_deepjscc_accounting():
    m = _model("deepjscc")
    p = m.encode(_img(2))
    assert len(p) == 2
    n = 4 // 2 * (64 // 4) * (48 // 4)
    assert p[0].symbols.shape == (n,) and p[0].symbols.dtype == torch.complex64
    assert p[0].channel_uses == n and p[0].side_bits.numel() == 0
    assert p[0].spp == pytest.approx(n / (64 * 48)) == pytest.approx(m.spp)
    assert p[0].cbr == pytest.approx(n / (3 * 64 * 48))
    assert float((p[0].symbols.abs() ** 2).mean()) == pytest.approx(1.0, rel=1e-4)


def test_vlscc_symbol_and_side_information_accounting():
    m = _model("vlscc2d")
    x = _img(2, 64, 48)
    payloads = m.encode(x)
    r, k = m.rate_map(x)
    assert r.shape == (2, 4, 3) and k.shape == (2, 4, 3)
    for b, p in enumerate(payloads):
        assert p.symbol_uses == int(k[b].sum())  # symbols sent = sum of per-location code lengths
        assert p.side_bits.numel() == 4 * 3 * 4  # 4 bits per 16x16 block (L = 16)
        assert p.side_bits.dtype == torch.uint8 and set(p.side_bits.unique().tolist()) <= {0, 1}
        assert p.side_channel_uses == 48  # side link counted at 1 bit per channel use
        assert p.channel_uses == p.symbol_uses + 48
        assert p.spp == pytest.approx((p.symbol_uses + 48) / (64 * 48))
        assert p.side_bpp == pytest.approx(4 / 256)
        if p.symbol_uses:
            assert float((p.symbols.abs() ** 2).mean()) == pytest.approx(1.0, rel=1e-4)
        # side bits carry Q: decoding them gives back the code lengths
        q = m._q_from_bits(p.side_bits, 4, 3)
        assert torch.equal(torch.clamp((12 * q.long() + 14) // 15, 0, 12), k[b])


def test_vlscc_lengths_follow_the_rate_map():
    m = _model("vlscc2d")
    x = _img(1, 32, 32)
    with torch.no_grad():  # force a known rate map through the last RAN bias
        last = m.ran[-1]
        last.weight.zero_()
        for val, expect_q in ((-20.0, 0), (20.0, 15), (0.0, 8)):
            last.bias.fill_(val)
            p = m.encode(x)[0]
            assert p.symbol_uses == 4 * math.ceil(12 * expect_q / 15)
            out = m.transmit(x, 10.0, seed=0)
            assert out.channel_uses == p.symbol_uses + 16


@pytest.mark.parametrize("name", ["deepjscc", "vlscc2d", "scc"])
def test_decode_of_encode_equals_the_training_path_without_noise(name):
    m = _model(name)
    x = _img(2, 64, 32)
    y = m.decode(m.encode(x))
    with torch.no_grad():
        f = m(x, snr_db=300.0, generator=torch.Generator().manual_seed(0))["x_hat"]
    torch.testing.assert_close(y, f, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["deepjscc", "vlscc2d", "scc"])
def test_transmit_is_deterministic_and_shapes(name):
    m = _model(name)
    x = _img(1, 48, 64)
    a, b, c = (m.transmit(x, 10.0, seed=s) for s in (3, 3, 4))
    assert a.image.shape == x.shape
    assert torch.equal(a.image, b.image) and not torch.equal(a.image, c.image)
    assert a.channel_uses > 0 and a.spp == pytest.approx(a.channel_uses / (48 * 64))


@pytest.mark.parametrize("name", ["deepjscc", "vlscc2d", "scc"])
def test_bad_input(name):
    m = _model(name)
    with pytest.raises(InputError):
        m.encode(_img(1, 42, 36))  # 42 is not a multiple of 4 (nor of 16)
    x = _img()
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError):
        m.encode(x)
    with pytest.raises(InputError):
        m.transmit(_img() * 2, 10.0)  # out of [0, 1]
    with pytest.raises(InputError):
        m.transmit(_img(), float("nan"))
    with pytest.raises(InputError):
        m.transmit(_img(2), 10.0)  # one image at a time
    with pytest.warns(SNROutOfRangeWarning):
        out = m.transmit(_img(), 40.0)
    assert out.extrapolated
    with pytest.raises(InputError):
        m.transmit(_img(), 40.0, strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not m.transmit(_img(), 10.0).extrapolated


def test_decode_rejects_inconsistent_payloads():
    m = _model("vlscc2d")
    p = m.encode(_img(1, 32, 32))[0]
    short = SymbolPayload(torch.cat([p.symbols, torch.zeros(1, dtype=torch.complex64)]), p.side_bits, 32, 32)
    with pytest.raises(InputError):
        m.decode([short])
    with pytest.raises(InputError):
        m.decode([SymbolPayload(p.symbols, p.side_bits[:-1], 32, 32)])
    with pytest.raises(InputError):
        m.decode([])
    d = _model("deepjscc")
    q = d.encode(_img(1, 32, 32))[0]
    with pytest.raises(InputError):
        d.decode([SymbolPayload(q.symbols[:-1], q.side_bits, 32, 32)])
    with pytest.raises(InputError):
        q.received(q.symbols[:-1])


def test_channel_noise_variance_and_rayleigh_equalisation():
    g = torch.Generator().manual_seed(0)
    z = torch.ones(4, 50000, dtype=torch.complex64)
    y = jscc_channel(z, 10.0, "awgn", g)
    no = 10 ** (-10 / 10)
    assert float(((y - z).abs() ** 2).mean()) == pytest.approx(no, rel=0.03)  # Es/N0 per complex symbol
    assert float((y - z).real.var()) == pytest.approx(no / 2, rel=0.05)
    snr = torch.tensor([0.0, 20.0, 0.0, 20.0])
    y = jscc_channel(z, snr, "awgn", g)
    v = ((y - z).abs() ** 2).mean(dim=1)
    assert float(v[0]) == pytest.approx(1.0, rel=0.05) and float(v[1]) == pytest.approx(0.01, rel=0.05)
    # block Rayleigh with perfect CSI: noiseless limit returns z exactly; noise scales with 1/|h|^2
    y = jscc_channel(z, 300.0, "rayleigh", g)
    torch.testing.assert_close(y, z, atol=1e-5, rtol=1e-5)
    with pytest.raises(InputError):
        jscc_channel(z, 10.0, "fast", g)
    with pytest.raises(InputError):
        jscc_channel(z.real, 10.0)


def test_vlscc_training_pass_gives_gradients_to_the_rate_network():
    m = _model("vlscc2d").train()
    x = _img(2, 32, 32)
    out = m(x, generator=torch.Generator().manual_seed(0))
    assert out["rate"].shape == (2, 2, 2) and out["spp"].shape == (2,)
    ((out["x_hat"] - x) ** 2).mean().backward()  # distortion only: its gradient reaches the RAN via Eq. 2/5
    g = sum(float(p.grad.abs().sum()) for p in m.ran.parameters() if p.grad is not None)
    assert g > 0


# ------------------------------------------------------------------ VL-SCC 1D (mechanism only: no 1D source yet)
def test_vlscc1d_accounting_roundtrip_and_gradients():
    from semcom.models import VLSCC1D

    torch.manual_seed(0)
    m = VLSCC1D({"dim": 12, "hidden": 16, "n_symbols": 30}).eval()
    x = torch.randn(3, 12, generator=torch.Generator().manual_seed(1))
    ps = m.encode(x)
    r = m.rate_index(x)
    for i, p in enumerate(ps):
        q = int(torch.clamp(torch.round(r[i] * 15), 0, 15))
        assert p.symbol_uses == math.ceil(30 * q / 15) and p.side_bits.numel() == 4
        assert p.spp == pytest.approx((p.symbol_uses + 4) / 12)
    with torch.no_grad():
        f = m(x, snr_db=300.0, generator=torch.Generator().manual_seed(0))["x_hat"]
    torch.testing.assert_close(m.decode(ps), f, atol=2e-5, rtol=1e-4)
    m.train()
    out = m(x, generator=torch.Generator().manual_seed(0))
    ((out["x_hat"] - x) ** 2).mean().backward()
    assert sum(float(p.grad.abs().sum()) for p in m.ran.parameters() if p.grad is not None) > 0
    with pytest.raises(InputError):
        m.encode(torch.randn(2, 11))
    with pytest.raises(InputError):
        m.encode(torch.full((1, 12), float("nan")))
    with pytest.raises(InputError):
        m.decode([SymbolPayload(ps[0].symbols, ps[0].side_bits[:3], 1, 12)])


@pytest.mark.parametrize("name", ["vlscc2d", "scc"])
def test_tiled_coding_equals_coding_each_tile(name):
    cfg = dict(SMALL[name], tile=32)
    torch.manual_seed(0)
    m = build_model(name, cfg).eval()
    whole = build_model(name, SMALL[name]).eval()
    whole.load_state_dict(m.state_dict())
    x = _img(1, 64, 96)
    p = m.encode(x)[0]
    tiles = [x[..., i:i + 32, j:j + 32] for i in (0, 32) for j in (0, 32, 64)]
    per = [whole.encode(t)[0] for t in tiles]
    assert p.symbol_uses == sum(q.symbol_uses for q in per)
    assert torch.equal(p.side_bits, torch.cat([q.side_bits for q in per]))
    torch.testing.assert_close(p.symbols, torch.cat([q.symbols for q in per]))
    y = m.decode([p])
    ys = [whole.decode([q]) for q in per]
    torch.testing.assert_close(y[..., 32:64, 64:96], ys[5])
    if name == "vlscc2d":
        _, k = m.rate_map(x)
        assert k.shape == (1, 4, 6) and int(k.sum()) == p.symbol_uses
    with pytest.raises(InputError):
        m.encode(_img(1, 48, 64))  # 48 is not a multiple of the tile
    with pytest.raises(ConfigError):
        build_model(name, dict(SMALL[name], tile=40))
