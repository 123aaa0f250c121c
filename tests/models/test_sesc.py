"""The SE-SC masked-transformer codec: training forward, masking, tiles, configs (the interface it shares
with the masked CNN is tested in ``test_sesc_interface.py``)."""

import pytest
import torch

from semcom.errors import ConfigError
from semcom.models import build_model
from semcom.training import TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"dim": 16, "dec_dim": 16, "enc_layers": 1, "dec_layers": 1, "heads": 2, "dec_heads": 2, "symbols_per_patch": 4}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("sesc", TINY).eval()


def _img(h=32, w=48, seed=0):
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


def test_forward_trains_on_random_subsets(model):
    g = torch.Generator().manual_seed(0)
    out = model.train()(torch.rand(2, 3, 32, 32), generator=g)
    model.eval()
    assert out["x_hat"].shape == (2, 3, 32, 32) and out["keep"].shape[0] == 2
    k = out["keep"].shape[1]
    assert 1 <= k <= 16 and torch.allclose(out["spp"], torch.full((2,), k * 4 / 1024))
    out["x_hat"].mean().backward()  # differentiable end to end
    assert model.shared.grad is not None or k == 16


def test_decoder_uses_only_received_symbols_and_the_shared_vector(model):
    x = _img()
    keep = torch.zeros(1, 24, dtype=torch.bool)
    keep[0, :3] = True
    a = model.decode(model.encode(x, keep))
    b = model.decode(model.encode(_img(seed=5), keep))
    assert not torch.allclose(a, b)  # the received symbols matter
    # the unsent positions are filled with one learned vector: changing it changes the output
    with torch.no_grad():
        delta = torch.randn(model.shared.shape, generator=torch.Generator().manual_seed(0))
        model.shared.add_(delta)
        c = model.decode(model.encode(x, keep))
        model.shared.sub_(delta)
    assert not torch.allclose(a, c)


def test_bad_configs_get_typed_errors():
    with pytest.raises(ConfigError):
        build_model("sesc", {"keep_range": [0.0, 1.0]})
    with pytest.raises(ConfigError):
        build_model("sesc", {"dim": 30, "heads": 4})


@pytest.mark.parametrize("name", ["sesc.json", "sesc_base.json"])
def test_real_configs_build_shrunk(name):
    import json
    from pathlib import Path

    cfg = json.loads((Path(__file__).resolve().parents[2] / "configs" / name).read_text())
    tc = TrainConfig.from_dict(cfg).shrink()
    m = build_model("sesc", tc.model_config)
    out = m(torch.rand(1, 3, 32, 32) if m.config.patch_size <= 8 else torch.rand(1, 3, 64, 64))
    assert out["x_hat"].shape[1] == 3


def test_tiles_restrict_attention_and_match_the_untiled_model_on_one_tile(model):
    import dataclasses

    tiled = build_model("sesc", dict(dataclasses.asdict(model.config), tile=16)).eval()
    tiled.load_state_dict(model.state_dict())
    x = _img(32, 32)
    one = _img(16, 16)
    assert torch.allclose(model.decode(model.encode(one)), tiled.decode(tiled.encode(one)), atol=1e-5)
    pos, tid = tiled.layout(32, 48)
    assert tid.max() == 5 and pos.max() == 1  # 2x3 tiles of 2x2 patches
    # a change in one tile does not reach the symbols of another tile
    y = x.clone()
    y[..., :16, :16] = 1 - y[..., :16, :16]
    a, b = tiled.encode(x)[0].symbols.reshape(16, 4), tiled.encode(y)[0].symbols.reshape(16, 4)
    far = [i for i in range(16) if i // 4 >= 2 or i % 4 >= 2]  # patches outside the first tile
    # the per-image power normalisation scales every symbol alike: compare directions
    ra = a[far] / a[far].abs().pow(2).mean().sqrt()
    rb = b[far] / b[far].abs().pow(2).mean().sqrt()
    assert torch.allclose(ra, rb, atol=1e-4)
    with pytest.raises(ConfigError):
        build_model("sesc", {"tile": 12})
