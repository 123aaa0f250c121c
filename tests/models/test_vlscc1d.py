"""The 1D coders (VL-SCC 1D, SCC 1D): accounting from the payload, round trips, the warm-up,
transmit_many (noisy and noiseless), bad input, and the channel adapter on semcom.channel."""

import math
import warnings

import pytest
import torch

from semcom.channel import AWGNChannel
from semcom.errors import ConfigError, InputError
from semcom.models import (
    SCC1D,
    VLSCC1D,
    SNROutOfRangeWarning,
    SymbolPayload,
    build_model,
    jscc_channel,
)

SMALL1 = {"dim": 12, "hidden": 16, "n_symbols": 30, "snr_range_db": [-5.0, 15.0]}


def _x(b=4, d=12, seed=1):
    return torch.randn(b, d, generator=torch.Generator().manual_seed(seed))


def test_scc1d_accounting_and_roundtrip():
    torch.manual_seed(0)
    m = SCC1D({"dim": 12, "hidden": 16, "n_symbols": 5}).eval()
    ps = m.encode(_x())
    for p in ps:
        assert p.symbol_uses == p.channel_uses == 5 and p.side_bits.numel() == 0
        assert float(p.symbols.abs().pow(2).mean()) == pytest.approx(1.0, rel=1e-5)  # unit power per vector
        assert p.spp == pytest.approx(5 / 12)
    with torch.no_grad():
        f = m(_x(), snr_db=300.0, generator=torch.Generator().manual_seed(0))["x_hat"]
    torch.testing.assert_close(m.decode(ps), f, atol=2e-5, rtol=1e-4)
    with pytest.raises(InputError):
        m.decode([SymbolPayload(ps[0].symbols[:4], ps[0].side_bits, 1, 12)])
    with pytest.raises(InputError):
        m.decode([])


def test_vlscc1d_random_rate_warmup_and_rate_gradient():
    torch.manual_seed(0)
    m = VLSCC1D(SMALL1)
    g = torch.Generator().manual_seed(3)
    out = m(_x(64), generator=g, random_rate=True)
    kept = (out["spp"] * 12 - m.side_channel_uses).round()
    lengths = {math.ceil(30 * q / 15) for q in range(1, 16)}
    assert set(kept.long().tolist()) <= lengths and len(set(kept.tolist())) > 3  # random levels 1..L-1
    out = m(_x(8), generator=g)
    (out["x_hat"].pow(2).mean() + out["rate"].mean()).backward()
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in m.ran.parameters())


def test_vlscc1d_kept_matches_payload_and_side_link():
    torch.manual_seed(0)
    m = VLSCC1D(dict(SMALL1, side_bits_per_symbol=2.0)).eval()
    x = _x()
    k = m.kept(x)
    ps = m.encode(x)
    assert [p.symbol_uses for p in ps] == k.tolist()
    assert m.side_channel_uses == 2  # 4 bits at 2 bits per channel use
    assert all(p.channel_uses == p.symbol_uses + 2 for p in ps)


@pytest.mark.parametrize("name", ["vlscc1d", "scc1d"])
def test_transmit_many_noiseless_and_noisy(name):
    torch.manual_seed(0)
    cfg = SMALL1 if name == "vlscc1d" else {"dim": 12, "hidden": 16, "n_symbols": 6, "snr_range_db": [-5.0, 15.0]}
    m = build_model(name, cfg)
    x = _x()
    clean, ps = m.transmit_many(x, None)
    torch.testing.assert_close(clean, m.decode(ps))
    a, _ = m.transmit_many(x, 0.0, seed=4)
    b, _ = m.transmit_many(x, 0.0, seed=4)
    c, _ = m.transmit_many(x, 0.0, seed=5)
    assert torch.equal(a, b) and not torch.equal(a, c)  # seeded noise
    # a single vector through transmit: the outcome counts the payload
    out = m.transmit(x[:1], 5.0, seed=0)
    assert out.image.shape == (1, 12) and out.channel_uses == m.encode(x[:1])[0].channel_uses


@pytest.mark.parametrize("name", ["vlscc1d", "scc1d"])
def test_bad_input_and_snr_outside_the_trained_range(name):
    m = build_model(name, {"dim": 12, "hidden": 8, "n_symbols": 4, "snr_range_db": [-5.0, 15.0]})
    for bad in (torch.randn(2, 11), torch.rand(1, 3, 16, 16), torch.full((1, 12), float("nan")),
                torch.full((1, 12), float("inf")), torch.zeros(2, 12, dtype=torch.long), [0.0] * 12,
                torch.zeros(0, 12)):
        with pytest.raises(InputError):
            m.encode(bad)
    with pytest.raises(InputError):
        m.transmit(torch.zeros(2, 12), 5.0)  # one example at a time
    with pytest.raises(InputError):
        m.transmit(torch.zeros(1, 12), float("nan"))
    with pytest.warns(SNROutOfRangeWarning):
        out = m.transmit(torch.zeros(1, 12), 25.0)
    assert out.extrapolated
    with pytest.raises(InputError):
        m.transmit(torch.zeros(1, 12), 25.0, strict=True)
    with pytest.raises(InputError):
        m.transmit_many(torch.zeros(3, 12), -30.0, strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.transmit(torch.zeros(1, 12), 15.0)  # the range is inclusive: no warning


def test_bad_1d_configs():
    with pytest.raises(ConfigError):
        VLSCC1D({"dim": 0})
    with pytest.raises(ConfigError):
        VLSCC1D({"levels": 1})
    with pytest.raises(ConfigError):
        SCC1D({"sce_layers": 1})
    with pytest.raises(ConfigError):
        SCC1D({"n_symbols": 2.5})
    with pytest.raises(ConfigError):
        SCC1D({"dim": 10, "levels": 16})  # unknown key (SCC has no levels)


def test_jscc_channel_is_the_shared_channel():
    z = torch.randn(3, 40, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))
    a = jscc_channel(z, 7.0, "awgn", torch.Generator().manual_seed(9))
    b = AWGNChannel()(z, 7.0, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(a, b)
    # block Rayleigh with perfect CSI and ZF: one coefficient per example, noise enhanced by 1/|h|
    zz = torch.ones(2000, 8, dtype=torch.complex64)
    y = jscc_channel(zz, 200.0, "rayleigh", torch.Generator().manual_seed(1))
    torch.testing.assert_close(y, zz, atol=1e-4, rtol=0)
    # AWGN noise variance per complex symbol no = 10**(-snr/10), within 5 %
    w = jscc_channel(torch.zeros(1, 200000, dtype=torch.complex64), 3.0, "awgn", torch.Generator().manual_seed(2))
    assert float(w.abs().pow(2).mean()) == pytest.approx(10 ** -0.3, rel=0.05)
    # nothing sent: nothing received, no error
    e = torch.zeros(2, 0, dtype=torch.complex64)
    assert jscc_channel(e, 5.0).shape == (2, 0)
