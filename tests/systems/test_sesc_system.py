"""SE-SC as a bench system: registry, threshold and budget modes, no_fit, accounting."""

import pytest
import torch

from semcom.errors import ConfigError, InputError
from semcom.models import build_model
from semcom.systems import Outcome, available_systems, build_system

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    m = build_model("sesc", {"dim": 16, "dec_dim": 16, "enc_layers": 1, "dec_layers": 1, "heads": 2,
                             "dec_heads": 2, "symbols_per_patch": 4})
    p = tmp_path_factory.mktemp("ck") / "tiny_sesc.pt"
    torch.save(m.checkpoint_dict(), p)
    return str(p)


def _img():
    return torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_registered_and_threshold_mode(ckpt):
    assert "sesc" in available_systems()
    s = build_system(f"sesc:ckpt={ckpt},weights=random,mu=0.5", channel="rayleigh_block")
    assert s.budget((1, 3, 32, 32)) is None
    out = s.transmit(_img(), 10.0, seed=0)
    assert isinstance(out, Outcome) and out.status == "ok" and out.reconstruction.shape == (1, 3, 32, 32)
    k = out.extras["patches_sent"]
    assert 1 <= k < 16 and out.channel_uses == k * 4 + out.side_info_bits
    assert s.describe()["mu"] == 0.5
    again = s.transmit(_img(), 10.0, seed=0)
    assert torch.equal(out.reconstruction, again.reconstruction)


@pytest.mark.parametrize("cbr", [0.005, 0.01, 0.015, 0.2])
def test_budget_mode_never_exceeds_the_grant(ckpt, cbr):
    s = build_system(f"sesc:ckpt={ckpt},weights=random", channel="awgn", cbr=cbr)
    b = s.budget((1, 3, 32, 32))
    out = s.transmit(_img(), 10.0, seed=1)
    assert out.status == "ok" and out.channel_uses <= b == out.channel_uses_budget
    if out.extras["patches_sent"] < 16:  # the budget decided: one more patch would not fit
        assert out.extras["budget_binding"] and out.channel_uses + 4 > b - 8
    else:
        assert cbr == 0.2 and not out.extras["budget_binding"]


def test_budget_below_one_patch_is_no_fit_and_bad_input(ckpt):
    s = build_system(f"sesc:ckpt={ckpt},weights=random", cbr=0.002)
    out = s.transmit(_img(), 10.0, seed=0)
    assert out.status == "no_fit" and out.channel_uses == 0 and "cannot carry one patch" in out.error
    with pytest.raises(InputError):
        s.transmit(torch.rand(1, 3, 30, 32), 10.0)
    with pytest.raises(InputError):
        s.transmit(torch.full((1, 3, 32, 32), float("nan")), 10.0)
    with pytest.raises(ConfigError):
        build_system(f"sesc:ckpt={ckpt},weights=nope")
    with pytest.raises(ConfigError):
        build_system(f"sesc:ckpt={ckpt},mu=2")
    with pytest.raises(ConfigError):
        build_system(f"sesc:ckpt={ckpt},mu0=-0.1")


def test_budget_mode_starts_from_mu0(ckpt):
    loose = build_system(f"sesc:ckpt={ckpt},weights=random,mu0=0.9", cbr=0.2)
    out = loose.transmit(_img(), 10.0, seed=0)
    assert out.extras["mu"] == 0.9 and out.extras["patches_sent"] < 16 and not out.extras["budget_binding"]


def test_cnn_weights_and_the_masked_cnn_codec_on_the_bench(tmp_path, monkeypatch):
    """weights=cnn (the learned relevance CNN) and a masked-CNN checkpoint behind the same system."""
    from semcom.experiments import sesc_common
    from semcom.models.sesc_relevance import RelevanceCNN

    torch.manual_seed(0)
    m = build_model("sesc_cnn", {"dim": 16, "dec_dim": 16, "enc_layers": 1, "dec_layers": 1, "symbols_per_patch": 4})
    p = tmp_path / "tiny_sesc_cnn.pt"
    torch.save(m.checkpoint_dict(), p)
    monkeypatch.setattr(sesc_common, "load_relevance", lambda: RelevanceCNN().eval())
    s = build_system(f"sesc:ckpt={p},weights=cnn,mu=0.0", channel="rayleigh_block")
    out = s.transmit(_img(), 10.0, seed=0)
    assert out.status == "ok" and out.extras["patches_sent"] == 16 and out.extras["weights"] == "cnn"
    b = build_system(f"sesc:ckpt={p},weights=cnn", channel="awgn", cbr=0.01)
    out = b.transmit(_img(), 10.0, seed=0)
    assert out.status == "ok" and out.channel_uses <= b.budget((1, 3, 32, 32))
