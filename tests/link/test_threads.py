"""The shared worker pool of the compiled link kernels (semcom.link._threads)."""

from __future__ import annotations

import threading

import numpy as np
import torch
from sionna.phy.fec.ldpc import LDPC5GEncoder

from semcom.link import _threads
from semcom.link.ldpc_fast import FastLDPC5GDecoder


def test_run_parts_calls_every_part_once():
    seen = []
    lock = threading.Lock()

    def kernel(a, b):
        with lock:
            seen.append((a, b))

    bounds = [(0, 3), (3, 5), (5, 9), (9, 10)]
    _threads.run_parts(kernel, bounds, 2, lambda a, b: (a, b))
    assert sorted(seen) == bounds
    seen.clear()
    _threads.run_parts(kernel, bounds, 1, lambda a, b: (a, b))  # inline, in order
    assert seen == bounds


def test_nested_call_from_a_worker_runs_inline():
    """A kernel that itself splits work over the pool it runs on finishes (no deadlock)."""
    out = []

    def inner(a, b):
        out.append(threading.current_thread().name)

    def outer(a, b):
        _threads.run_parts(inner, [(0, 1), (1, 2)], 2, lambda x, y: (x, y))

    done = threading.Event()

    def run():
        _threads.run_parts(outer, [(0, 1), (1, 2)], 2, lambda a, b: (a, b))
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(60), "nested run_parts hung"
    assert len(out) == 4 and all(name.startswith("semcom-link") for name in out)


def test_decoder_threads_agree_and_reuse_the_pool():
    enc = LDPC5GEncoder(500, 1000)
    g = torch.Generator().manual_seed(0)
    c = enc(torch.randint(0, 2, (24, 500), generator=g).float())
    llr = (2 * c - 1) * 2.0 + torch.randn(c.shape, generator=g) * 1.2  # logits of the sent bits, noisy
    ref = FastLDPC5GDecoder(enc, num_threads=1)(llr)
    two = FastLDPC5GDecoder(enc, num_threads=2)
    for _ in range(3):  # the same persistent pool each call
        assert torch.equal(two(llr), ref)
    assert _threads._POOLS[_threads._PREFIX][1] >= 2
    assert np.isfinite(ref.numpy()).all()
