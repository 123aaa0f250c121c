"""ADJSCC, the SNR-adaptive DeepJSCC: shapes, the SNR reaching encoder and decoder, errors, training
over an SNR range with the shared trainer."""

import pytest
import torch

from semcom.errors import ConfigError, InputError
from semcom.models import ADJSCC, build_model, load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small(**kw):
    return ADJSCC({"hidden_channels": 8, "latent_channels": 4, **kw})


def test_shapes_accounting_and_registry():
    m = small()
    assert isinstance(build_model("adjscc", {"hidden_channels": 8}), ADJSCC)
    assert m.config.snr_db == [-2.0, 20.0] and m.config.snr_range_db == [-2.0, 20.0]
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = m(x, generator=torch.Generator().manual_seed(1))
    assert out["x_hat"].shape == x.shape and float(out["spp"][0]) == 4 / 32
    p = m.encode(x, snr_db=5.0)
    assert len(p) == 2 and p[0].channel_uses == 2 * 8 * 8
    assert abs(float((p[0].symbols.abs() ** 2).mean()) - 1) < 1e-4  # unit power per image
    assert m.decode(p, snr_db=5.0).shape == x.shape


def test_encoder_and_decoder_adapt_to_the_snr():
    m = small()
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    lo, hi = m.encode(x, snr_db=-2.0)[0], m.encode(x, snr_db=20.0)[0]
    assert not torch.allclose(lo.symbols, hi.symbols)  # the transmitter uses the SNR
    assert not torch.allclose(m.decode([lo], snr_db=-2.0), m.decode([lo], snr_db=20.0))  # and so does the receiver
    a = m.transmit(x, 3.0, seed=4)
    b = m.transmit(x, 3.0, seed=4)
    assert torch.equal(a.image, b.image) and a.snr_db == 3.0
    # per-example SNRs in training: each example is coded at its own SNR
    two = torch.cat([x, x])
    res = m(two, snr_db=torch.tensor([-2.0, 20.0]), generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(res["x_hat"][0], res["x_hat"][1])


def test_errors():
    m = small()
    x = torch.rand(1, 3, 32, 32)
    # no SNR: the noiseless channel, i.e. the top of the trained range
    top = float(m.config.snr_range_db[1])
    assert torch.equal(m.encode(x)[0].symbols, m.encode(x, snr_db=top)[0].symbols)
    with pytest.raises(InputError):
        m.encode(x, snr_db=float("nan"))
    with pytest.raises(InputError, match="one value per example"):
        m(torch.rand(2, 3, 32, 32), snr_db=torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ConfigError):
        small(af_hidden=-1)
    with pytest.raises(InputError):
        m.decode([], snr_db=1.0)


def test_attention_modules_learn():
    m = small()
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    loss = ((m(x, generator=torch.Generator().manual_seed(0))["x_hat"] - x) ** 2).mean()
    loss.backward()
    for af in list(m.encoder_af) + list(m.decoder_af):
        assert float(af.fc[0].weight.grad.abs().sum()) > 0


def test_trains_over_an_snr_range_with_the_shared_trainer(tmp_path):
    from semcom.training import TrainConfig, train

    cfg = TrainConfig(model="adjscc", model_config={"hidden_channels": 8, "latent_channels": 4},
                      crop_size=32, batch_size=4, steps=3, eval_size=64, log_every=1, checkpoint_every=1)
    drawn = []
    orig = ADJSCC.sample_training_snr

    def spy(self, batch, generator):
        s = orig(self, batch, generator)
        drawn.append(s)
        return s

    ADJSCC.sample_training_snr = spy
    try:
        meta = train(cfg, tmp_path, progress=False, options={"precision": "bf16"})
    finally:
        ADJSCC.sample_training_snr = orig
    snrs = torch.cat(drawn)
    assert len(drawn) == 3 and snrs.min() >= -2 and snrs.max() <= 20 and snrs.std() > 1  # drawn per example
    assert meta["eval"]["snr_db"] == 9.0 and meta["model"] == "adjscc"
    m = load_checkpoint(tmp_path / "adjscc.pt")
    assert isinstance(m, ADJSCC)
    x = torch.rand(1, 3, 32, 32)
    assert m.transmit(x, -2.0, seed=0).image.shape == x.shape


def test_first_layer_width_of_the_2019_paper():
    from semcom.models import DeepJSCC

    d = DeepJSCC({"hidden_channels": 32, "first_channels": 16, "activation": "prelu", "latent_channels": 8})
    assert d.encoder[0].out_channels == 16 and d.decoder[-2].in_channels == 16 and d.spp == 0.25
    a = small(first_channels=4)
    x = torch.rand(1, 3, 16, 16)
    assert a.transmit(x, 5.0, seed=0).image.shape == x.shape
    with pytest.raises(ConfigError):
        DeepJSCC({"first_channels": -3})


def test_evaluate_snrs_compares_models_at_each_snr():
    from semcom.models import DeepJSCC
    from semcom.training import evaluate_snrs

    a, d = small(), DeepJSCC({"hidden_channels": 8, "latent_channels": 4})
    rows = evaluate_snrs({"adaptive": a, "single": d}, [-2, 20], size=64)
    assert [r["snr_db"] for r in rows] == [-2.0, 20.0]
    assert all(set(r) == {"snr_db", "adaptive", "single"} and r["adaptive"]["spp"] == 0.125 for r in rows)
    # the SNR reaches the adaptive model: its output at -2 and 20 dB differs beyond the noise
    assert rows[0]["adaptive"]["psnr_db"] != rows[1]["adaptive"]["psnr_db"]
