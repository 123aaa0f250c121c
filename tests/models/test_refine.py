"""Encoder-side refinement (semcom.models.refine) and its spec options on the learned systems."""

from __future__ import annotations

import math

import pytest
import torch

from semcom.errors import ConfigError, InputError
from semcom.models import ADJSCC, DeepJSCC, SCC, jscc_channel, load_pretrained
from semcom.models.refine import RefineConfig, refine_symbols, search_generator, supports_refinement
from semcom.systems import build_system
from semcom.utils import make_generator


def _image(size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _small() -> DeepJSCC:
    torch.manual_seed(0)
    return DeepJSCC({"latent_channels": 8, "hidden_channels": 16}).eval()


@pytest.mark.parametrize("bad", [{"steps": -1}, {"steps": 1.5}, {"steps": True}, {"samples": 0}, {"lr": 0.0},
                                 {"lr": math.nan}, {"lr_final_ratio": 2.0}, {"seed": -3}, {"learning_rate": 0.1}])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ConfigError):
        RefineConfig.from_dict(bad)


def test_zero_steps_sends_the_encoder_symbols():
    model, x = _small(), _image()
    z, log = refine_symbols(model, x, 5.0, RefineConfig(steps=0))
    assert torch.equal(z, model.encode(x)[0].symbols)
    assert log["loss_first"] is None and log["seconds"] == 0.0


def test_refined_symbols_keep_count_and_power_and_leave_the_model_alone():
    model, x = _small(), _image()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    z, log = refine_symbols(model, x, 5.0, RefineConfig(steps=4))
    z0 = model.encode(x)[0].symbols
    assert z.shape == z0.shape and z.dtype == torch.complex64
    assert float(z.abs().pow(2).mean()) == pytest.approx(1.0, abs=1e-5)
    assert not torch.equal(z, z0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters()) and not model.training
    assert log["steps"] == 4 and log["loss_last"] > 0


def test_the_search_draws_noise_the_transmission_does_not():
    """The transmitter must not know the channel's realisation: the search's stream differs from every
    transmission seed's stream (make_generator(seed))."""
    for seed in range(4):
        a = torch.randn(64, generator=search_generator(seed))
        for tx_seed in range(4):
            assert not torch.equal(a, torch.randn(64, generator=make_generator(tx_seed)))
    assert torch.equal(torch.randn(8, generator=search_generator(1)), torch.randn(8, generator=search_generator(1)))


def _mean_psnr(model, z, x, snr_db, seeds=range(50, 56)) -> float:
    h, w = x.shape[-2:]
    out = []
    with torch.no_grad():
        for s in seeds:
            y = jscc_channel(z.unsqueeze(0), snr_db, "awgn", torch.Generator().manual_seed(s))
            mse = float((model.reconstruct(y, h, w, snr_db).clamp(0, 1) - x).pow(2).mean())
            out.append(-10 * math.log10(mse))
    return sum(out) / len(out)


def test_refinement_improves_the_committed_deepjscc_on_fresh_noise():
    """On a test-photo crop at 5 dB, 20 steps raise the PSNR averaged over channel draws the search never saw."""
    from semcom.data.photos import test_images

    model = load_pretrained("deepjscc_awgn5_spp0125")
    x = test_images(["astronaut"], size=128)[0].image
    z0 = model.encode(x)[0].symbols
    z, _ = refine_symbols(model, x, 5.0, RefineConfig(steps=20))
    gain = _mean_psnr(model, z, x, 5.0) - _mean_psnr(model, z0, x, 5.0)
    assert gain > 0.2, gain


def test_adjscc_refines_at_its_snr():
    torch.manual_seed(0)
    model = ADJSCC({"latent_channels": 8, "hidden_channels": 16}).eval()
    z, log = refine_symbols(model, _image(), 0.0, RefineConfig(steps=2, samples=2))
    assert z.shape == model.encode(_image(), snr_db=0.0)[0].symbols.shape and log["steps"] == 2


def test_models_without_a_differentiable_reconstruction_are_refused():
    assert supports_refinement(_small()) and not supports_refinement(SCC)
    with pytest.raises(ConfigError, match="refine"):
        build_system("scc:refine=5")


def test_refine_needs_one_image():
    with pytest.raises(InputError):
        refine_symbols(_small(), torch.rand(2, 3, 32, 32), 5.0, RefineConfig(steps=1))


def test_spec_options_on_the_learned_systems():
    plain = build_system("deepjscc")
    refined = build_system("deepjscc:refine=3,refine_lr=0.02,refine_samples=2")
    assert refined.describe()["refine"] == {"steps": 3, "lr": 0.02, "lr_final_ratio": 0.1, "samples": 2, "seed": 0}
    assert "refine" not in plain.describe()
    x = _image(64)
    a, b = plain.transmit(x, 5.0, seed=3), refined.transmit(x, 5.0, seed=3)
    assert a.channel_uses == b.channel_uses and a.side_info_bits == b.side_info_bits == 0
    assert b.extras["refine"]["steps"] == 3 and "refine" not in a.extras
    assert float(b.extras["payload"].symbols.abs().pow(2).mean()) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ConfigError, match="refine=STEPS"):
        build_system("deepjscc:refine_lr=0.1")
    with pytest.raises(ConfigError):
        build_system("deepjscc:refine=-2")
