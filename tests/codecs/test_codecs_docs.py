"""Docstring examples run, the benchmark helpers work, codecs survive pickling."""

from __future__ import annotations

import doctest
import importlib
import pickle

import pytest
import torch

from semcom.codecs import get_codec

MODULES = [
    "semcom.codecs",
    "semcom.codecs.base",
    "semcom.codecs.guard",
    "semcom.codecs.image",
    "semcom.codecs.registry",
    "semcom.codecs.video",
    "semcom.data.photos",
    "semcom.data.folder",
    "semcom.data.training",
    "semcom.data.fashion",
    "semcom.data.video",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    mod = importlib.import_module(name)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_bench_helpers_run_small():
    from semcom.codecs.bench import corruption_outcomes, guard_overhead

    x = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    g = guard_overhead(x, repeats=2)
    assert g["worker_start_s"] > 0 and set(g["codecs"]) >= {"jpeg", "jpeg2000", "heif"}
    assert all(v["guarded_s"] > 0 for v in g["codecs"].values())
    c = corruption_outcomes(x, count=10)
    assert all(v["ok"] + v["recovered"] + v["failed"] == 10 for v in c.values())


def test_codec_with_own_guard_pickles_and_decodes():
    codec = get_codec("jpeg", timeout_s=3.0)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    s = codec.encode(x)
    codec.decode(s)  # starts its worker
    clone = pickle.loads(pickle.dumps(codec))
    assert torch.equal(clone.decode(s), codec.decode(s))
