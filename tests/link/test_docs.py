"""Every docstring example of semcom.link runs and prints what it says."""

import doctest
import importlib

import pytest
import torch

MODULES = ["mcs", "layout", "result", "ldpc", "nr", "abstract", "capacity", "factory", "tables", "adaptation", "decodability"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        mod = importlib.import_module(f"semcom.link.{name}")
        res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    finally:
        torch.set_num_threads(n)
    assert res.failed == 0
    assert res.attempted > 0
