"""Received symbols are untrusted: every learned decoder refuses NaN/Inf symbols and bad side bits with
InputError, ``transmit`` reports them as a failure with the fallback output, and encoders refuse
non-finite input."""

import dataclasses

import pytest
import torch

import semcom.models.deepjscc as deepjscc
from semcom.errors import InputError
from semcom.models import SymbolPayload, build_model
from semcom.systems.adapters import LearnedSystem

CONFIGS = {
    "deepjscc": {"hidden_channels": 8, "latent_channels": 4},
    "vlscc2d": {"semantic_channels": 8, "sce_channels": 8, "ran_channels": 4, "n_symbols": 12},
    "vlscc2d_tiled": {"semantic_channels": 8, "sce_channels": 8, "ran_channels": 4, "n_symbols": 12, "tile": 32},
    "scc": {"semantic_channels": 8, "sce_channels": 8, "n_symbols": 6},
    "vlscc1d": {"dim": 12, "hidden": 16, "n_symbols": 30, "snr_range_db": [-5.0, 15.0]},
    "scc1d": {"dim": 12, "hidden": 16, "n_symbols": 6, "snr_range_db": [-5.0, 15.0]},
}
NAMES = list(CONFIGS)


def _model(key):
    torch.manual_seed(0)
    return build_model(key.replace("_tiled", ""), CONFIGS[key]).eval()


def _example(model):
    g = torch.Generator().manual_seed(0)
    if model.input_kind == "vector":
        return torch.randn(1, 12, generator=g)
    return torch.rand(1, 3, 64, 64, generator=g)


def _payload(model):
    p = model.encode(_example(model))[0]
    assert p.symbol_uses > 0
    return p


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), complex(0, float("-inf"))])
def test_decode_refuses_a_non_finite_symbol(name, bad):
    m = _model(name)
    p = _payload(m)
    assert torch.isfinite(m.decode([p])).all()
    z = p.symbols.clone()
    z[p.symbol_uses // 2] = bad
    with pytest.raises(InputError, match="NaN or Inf"):
        m.decode([p.received(z)])


@pytest.mark.parametrize("name", NAMES)
def test_decode_refuses_malformed_payloads(name):
    m = _model(name)
    p = _payload(m)
    bad = [
        [],
        p,  # a bare payload, not a list
        [p, "junk"],
        [dataclasses.replace(p, symbols=p.symbols.reshape(1, -1))],  # not 1-D
        [dataclasses.replace(p, symbols=torch.zeros(p.symbol_uses, dtype=torch.long))],  # integer symbols
        [dataclasses.replace(p, side_bits=torch.full((p.side_bits.numel() or 1,), 2, dtype=torch.uint8))],
        [dataclasses.replace(p, height=0)],
        [dataclasses.replace(p, width=-16)],
    ]
    for payloads in bad:
        with pytest.raises(InputError):
            m.decode(payloads)


@pytest.mark.parametrize("name", NAMES)
def test_transmit_reports_non_finite_received_symbols_as_failed(name, monkeypatch):
    m = _model(name)
    x = _example(m)
    real = deepjscc.jscc_channel

    def broken(z, snr_db, channel="awgn", generator=None, **kw):
        y = real(z, snr_db, channel, generator, **kw).clone()
        y[..., 0] = complex(float("nan"), 0.0)
        return y

    monkeypatch.setattr(deepjscc, "jscc_channel", broken)
    out = m.transmit(x, 10.0, seed=0)
    assert out.status == "failed" and out.failed and "NaN" in out.error
    assert out.image.shape == x.shape and torch.equal(out.image, m.fallback(x))
    assert out.channel_uses == m.encode(x)[0].channel_uses  # the symbols were still sent
    system = LearnedSystem(m)  # the bench's wrapper reports the same failure
    via_system = system.transmit(x, 10.0, seed=0)
    assert via_system.status == "failed" and torch.equal(via_system.reconstruction, m.fallback(x))
    monkeypatch.setattr(deepjscc, "jscc_channel", real)
    ok = m.transmit(x, 10.0, seed=0)
    assert ok.status == "ok" and ok.error is None and torch.isfinite(ok.image).all()
    assert system.transmit(x, 10.0, seed=0).status == "ok"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_encode_refuses_non_finite_input(name, bad):
    m = _model(name)
    x = _example(m).clone()
    x.view(-1)[3] = bad
    with pytest.raises(InputError, match="NaN or Inf"):
        m.encode(x)
    with pytest.raises(InputError):
        m.transmit(x, 10.0)


def test_symbol_payload_received_keeps_the_signalled_fields():
    p = SymbolPayload(torch.ones(4, dtype=torch.complex64), torch.zeros(0, dtype=torch.uint8), 16, 16)
    assert deepjscc.check_payloads([p]) == [p]
    with pytest.raises(InputError):
        p.received(torch.ones(5, dtype=torch.complex64))


def test_transmit_checks_the_symbols_even_when_a_models_decode_does_not(monkeypatch):
    class Loose(deepjscc.DeepJSCC):  # a user's model whose decode reads symbols unchecked
        def decode(self, payloads):
            z = torch.stack([p.symbols for p in payloads])
            h, w = payloads[0].height, payloads[0].width
            return self.decoder(self._from_symbols(z, h // 4, w // 4))

    torch.manual_seed(0)
    m = Loose(CONFIGS["deepjscc"]).eval()
    x = _example(m)
    real = deepjscc.jscc_channel

    def broken(z, snr_db, channel="awgn", generator=None, **kw):
        y = real(z, snr_db, channel, generator, **kw).clone()
        y[..., -1] = complex(0.0, float("inf"))
        return y

    monkeypatch.setattr(deepjscc, "jscc_channel", broken)
    out = m.transmit(x, 10.0, seed=0)
    assert out.status == "failed" and torch.equal(out.image, m.fallback(x))
