"""Every docstring example in semcom.channel runs and gives the printed result."""

import doctest
import importlib

import pytest

MODULES = ["utils", "awgn", "fading", "factory"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    mod = importlib.import_module(f"semcom.channel.{name}")
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0
    assert res.failed == 0
