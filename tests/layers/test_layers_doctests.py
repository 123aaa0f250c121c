"""The docstring examples of the layers, models and training modules run and hold."""

import doctest
import importlib

import pytest

MODULES = ["semcom.layers.gdn", "semcom.layers.quantize", "semcom.layers.mask", "semcom.layers.power",
           "semcom.models", "semcom.models.deepjscc", "semcom.models.vlscc", "semcom.training.loop",
           "semcom.training.data"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    res = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert res.failed == 0
