import dataclasses

import numpy as np
import pytest
import torch

from semcom.errors import ConfigError, InputError
from semcom.utils import check_finite, check_image, from_dict, make_generator, numpy_rng


@dataclasses.dataclass
class Inner:
    a: int = 1


@dataclasses.dataclass
class Outer:
    x: float = 0.5
    inner: Inner = dataclasses.field(default_factory=Inner)


def test_from_dict_builds_nested_and_refuses_unknown_keys():
    cfg = from_dict(Outer, {"x": 2.0, "inner": {"a": 3}})
    assert cfg.x == 2.0 and cfg.inner.a == 3
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(Outer, {"y": 1})
    with pytest.raises(ConfigError, match="Outer.inner"):
        from_dict(Outer, {"inner": {"b": 1}})


def test_generators_are_deterministic():
    a = torch.rand(5, generator=make_generator(7))
    b = torch.rand(5, generator=make_generator(7))
    assert torch.equal(a, b)
    g = make_generator(3)
    assert make_generator(g) is g
    assert numpy_rng(5).integers(0, 1000) == numpy_rng(5).integers(0, 1000)
    with pytest.raises(InputError):
        make_generator("seed")


def test_input_checks():
    with pytest.raises(InputError, match="NaN"):
        check_finite(torch.tensor([1.0, float("nan")]))
    with pytest.raises(InputError, match="NaN"):
        check_finite(np.array([np.inf]))
    assert check_image(torch.rand(3, 8, 8)).shape == (1, 3, 8, 8)
    with pytest.raises(InputError, match="\\[B, 3, H, W\\]"):
        check_image(torch.rand(1, 1, 8, 8))
    with pytest.raises(InputError, match="\\[0, 1\\]"):
        check_image(torch.rand(1, 3, 8, 8) * 2)
    with pytest.raises(InputError, match="float"):
        check_image(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
