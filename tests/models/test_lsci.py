"""LSCI base model: quantiser, Eq. 5 bound vs the real bitstream, encode/decode, bad input."""

import math

import pytest
import torch

from semcom.errors import CodecError, ConfigError, InputError
from semcom.models.lsci import PAPER_CONFIG, CentreQuantizer, LSCIBase, LSCIConfig, build_encoder, distortion

TINY = {"enc_channels": [8] * 6, "gen_channels": [8] * 4, "res_blocks": 1, "latent_channels": 4}


def test_quantizer_nearest_centre_and_ste_gradient():
    q = CentreQuantizer(5, 2.0)
    w = torch.tensor([-3.0, -0.9, 0.1, 0.6, 1.4], requires_grad=True)
    wq, idx = q(w, "ste")
    assert idx.tolist() == [0, 1, 2, 3, 3]
    assert torch.allclose(wq, q.centres[idx])
    wq.sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0          # soft assignment's gradient
    assert q.centres.grad is not None
    hard, _ = q(w.detach(), "hard")
    assert torch.equal(hard, wq.detach())
    with pytest.raises(ConfigError):
        q(w, "round")
    with pytest.raises(InputError):
        q.dequantize(torch.tensor([5]))


def test_shapes_and_bound():
    m = LSCIBase(TINY)
    out = m(torch.rand(2, 3, 64, 48))
    assert out["x_hat"].shape == (2, 3, 64, 48) and out["indices"].shape == (2, 4, 4, 3)
    assert m.bound_bits(64, 48) == 4 * 4 * 3 * math.log2(8)
    out = m(torch.rand(1, 3, 50, 70))                       # padded to multiples of 16, cropped back
    assert out["x_hat"].shape == (1, 3, 50, 70)


def test_bitstream_round_trip_and_bits_against_bound():
    torch.manual_seed(0)
    m = LSCIBase(TINY).eval()
    x = torch.rand(1, 3, 64, 80)
    data = m.encode(x)
    with torch.no_grad():
        ref = m(x, "hard")
    idx, size = m.decode_indices(data)
    assert size == (64, 80) and torch.equal(idx, ref["indices"][0])
    assert torch.allclose(m.decode(data), ref["x_hat"].clamp(0, 1), atol=1e-6)
    # bytes on the wire: header (15 B) + body; the body never exceeds the Eq. 5 bound by more than
    # the coder's termination and adaptation overhead
    body_bits = 8 * (len(data) - 15)
    assert body_bits <= m.bound_bits(64, 80) * 1.15 + 40


def test_decode_refuses_corrupt_and_foreign_streams():
    m = LSCIBase(TINY).eval()
    data = m.encode(torch.rand(1, 3, 32, 32))
    for blob in (data[:-1] + bytes([data[-1] ^ 0x55]), data[:8], b"garbage" * 4):
        with pytest.raises(CodecError):
            m.decode(blob)
    other = LSCIBase({**TINY, "centres": 5}).eval()
    with pytest.raises(CodecError):
        other.decode(data)


def test_bad_input():
    m = LSCIBase(TINY).eval()
    with pytest.raises(InputError):
        m.encode(torch.rand(3, 3, 32, 32))
    with pytest.raises(InputError):
        m.encode(torch.full((1, 3, 32, 32), float("nan")))
    with pytest.raises(InputError):
        m.encode(torch.rand(1, 1, 32, 32))
    with pytest.raises(ConfigError):
        LSCIConfig(enc_channels=(8,) * 5)
    with pytest.raises(ConfigError):
        LSCIConfig(gen_strides=(2, 2, 2))
    with pytest.raises(ConfigError):
        LSCIBase({"unknown_key": 1})


def test_paper_config_builds_with_seven_encoder_convolutions():
    cfg = LSCIConfig(**PAPER_CONFIG)
    convs = [layer for layer in build_encoder(cfg) if isinstance(layer, torch.nn.Conv2d)]
    assert len(convs) == 7 and cfg.factor == 32 and convs[-1].out_channels == 4


def test_distortion_terms():
    x = torch.rand(2, 3, 64, 64)
    d, t = distortion(x.clone(), x)
    assert float(d) < 1e-6 and t["ssim"] > 0.999
    d2, _ = distortion(torch.zeros_like(x), x)
    assert float(d2) > float(d)
    with pytest.raises(ConfigError):
        distortion(x, x, perceptual="vgg")
