"""The SE-SC masked-CNN codec: masking (unsent patches reach no symbol), training forward, configs
(the interface it shares with the transformer codec is tested in ``test_sesc_interface.py``)."""

import json
from pathlib import Path

import pytest
import torch

from semcom.errors import ConfigError
from semcom.models import MODELS, build_model
from semcom.training import TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"dim": 16, "dec_dim": 16, "enc_layers": 2, "dec_layers": 2, "symbols_per_patch": 4}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("sesc_cnn", TINY).eval()


def _img(h=32, w=48, seed=0):
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


def test_registered_and_trains_on_random_subsets(model):
    assert "sesc_cnn" in MODELS
    out = model.train()(torch.rand(2, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    model.eval()
    k = out["keep"].shape[1]
    assert out["x_hat"].shape == (2, 3, 32, 32) and torch.allclose(out["spp"], torch.full((2,), k * 4 / 1024))
    out["x_hat"].mean().backward()
    assert model.patch_embed.weight.grad is not None


def test_unsent_patches_reach_no_symbol_and_the_shared_vector_fills_them(model):
    x = _img()
    keep = torch.zeros(1, 24, dtype=torch.bool)
    keep[0, [0, 1, 6, 7]] = True  # a 2x2 block of sent patches in the top-left corner
    y = x.clone()
    y[..., 16:, 16:] = 1 - y[..., 16:, 16:]  # change only unsent patches
    assert torch.allclose(model.encode(x, keep)[0].symbols, model.encode(y, keep)[0].symbols)
    a = model.decode(model.encode(x, keep))
    with torch.no_grad():
        delta = torch.randn(model.shared.shape, generator=torch.Generator().manual_seed(0))
        model.shared.add_(delta)
        c = model.decode(model.encode(x, keep))
        model.shared.sub_(delta)
    assert not torch.allclose(a, c)


def test_bad_config_gets_a_typed_error():
    with pytest.raises(ConfigError):
        build_model("sesc_cnn", {"dim": 0})


def test_real_config_builds_shrunk():
    cfg = json.loads((Path(__file__).resolve().parents[2] / "configs" / "sesc_cnn.json").read_text())
    tc = TrainConfig.from_dict(cfg).shrink()
    m = build_model("sesc_cnn", tc.model_config)
    assert m(torch.rand(1, 3, 32, 32))["x_hat"].shape == (1, 3, 32, 32)


def test_results_of_another_codec_carry_its_name():
    from semcom.experiments.sesc_common import codec_tag

    assert codec_tag("sesc_rayleigh") == "" and codec_tag("sesc_cnn_rayleigh") == "_sesc_cnn_rayleigh"
    assert codec_tag("runs/x/my_codec.pt") == "_my_codec"
