"""LSCI as a bench system: both modes transmit a test photo with honest accounting; bad input refused."""

import pytest
import torch

from semcom.data import test_images
from semcom.errors import ConfigError, InputError
from semcom.systems import build_system, available_systems
from semcom.systems.base import System


@pytest.fixture(scope="module")
def photo():
    return test_images(["astronaut"], size=64)[0].image


def test_registered_and_protocol():
    assert "lsci" in available_systems()
    s = build_system("lsci")
    assert isinstance(s, System) and s.describe()["mode"] == "slice"


@pytest.mark.parametrize("channel", ["awgn", "rayleigh_block"])
def test_slice_mode(photo, channel):
    s = build_system("lsci:mode=slice", channel=channel)
    out = s.transmit(photo, 10.0, seed=0)
    assert out.status == "ok" and out.reconstruction.shape == photo.shape
    assert out.channel_uses == s.budget(photo.shape) > 0 and out.bits_sent == 0
    again = s.transmit(photo, 10.0, seed=0)
    assert torch.equal(out.reconstruction, again.reconstruction)      # same seed, same result
    clean = ((s.transmit(photo, 30.0, seed=1).reconstruction - photo) ** 2).mean()
    noisy = ((s.transmit(photo, -5.0, seed=1).reconstruction - photo) ** 2).mean()
    assert clean < noisy


def test_ldpc_mode_counts_the_real_stream(photo):
    from semcom.models.lsci import load_pretrained_base

    s = build_system("lsci:mode=ldpc")
    out = s.transmit(photo, 20.0, seed=0)
    base = load_pretrained_base()
    assert out.bits_sent == 8 * len(base.encode(photo))
    assert out.status == "ok" and torch.allclose(out.reconstruction, base.decode(base.encode(photo)))
    low = s.transmit(photo, -8.0, seed=0)
    assert low.status in ("failed", "no_fit") and float((low.reconstruction - 0.5).abs().max()) == 0.0


def test_bad_input(photo):
    s = build_system("lsci")
    with pytest.raises(InputError):
        s.transmit(photo.repeat(2, 1, 1, 1), 10.0)
    with pytest.raises(InputError):
        s.transmit(torch.full_like(photo, float("nan")), 10.0)
    with pytest.raises(InputError):
        s.transmit(photo, float("nan"))
    with pytest.raises(ConfigError):
        build_system("lsci:mode=other")
    with pytest.raises(ConfigError):
        build_system("lsci:mode=slice", cbr=0.1)
