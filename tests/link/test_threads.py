"""The shared worker pool of the compiled link kernels (semcom.link._threads)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
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
    """A kernel that itself splits work over the pool it runs on finishes (no deadlock); on a pool
    worker the nested call runs inline."""
    out = []
    both = threading.Barrier(2, timeout=30)  # the two outer parts run at once: one on the pool's worker

    def inner(outer_thread, a, b):
        out.append((outer_thread, threading.current_thread().name))

    def outer(a, b):
        both.wait()
        me = threading.current_thread().name
        _threads.run_parts(inner, [(0, 1), (1, 2)], 2, lambda x, y: (me, x, y))

    done = threading.Event()

    def run():
        _threads.run_parts(outer, [(0, 1), (1, 2)], 2, lambda a, b: (a, b))
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(60), "nested run_parts hung"
    on_worker = [(o, t) for o, t in out if o.startswith("semcom-link")]
    assert len(out) == 4 and len(on_worker) == 2 and all(o == t for o, t in on_worker)


def test_the_caller_does_the_parts_a_busy_helper_does_not_take():
    """With the pool's workers held elsewhere, the call finishes on the calling thread alone (the
    queued helper is cancelled, not waited for)."""
    release = threading.Event()
    pool = _threads._pool(1)
    held = [pool.submit(release.wait, 60) for _ in range(_threads._POOLS[_threads._PREFIX][1])]  # every worker
    try:
        names = []
        _threads.run_parts(lambda a, b: names.append((a, threading.current_thread().name)),
                           [(0, 1), (1, 2), (2, 3)], 2, lambda a, b: (a, b))
        assert names == [(0, "MainThread"), (1, "MainThread"), (2, "MainThread")]
    finally:
        release.set()
        for h in held:
            h.result()


def test_an_error_in_a_part_is_raised():
    def kernel(a, b):
        if a == 2:
            raise ValueError("part 2")

    with pytest.raises(ValueError, match="part 2"):
        _threads.run_parts(kernel, [(0, 1), (1, 2), (2, 3), (3, 4)], 2, lambda a, b: (a, b))


def test_decoder_threads_agree_and_reuse_the_pool():
    enc = LDPC5GEncoder(500, 1000)
    g = torch.Generator().manual_seed(0)
    c = enc(torch.randint(0, 2, (24, 500), generator=g).float())
    llr = (2 * c - 1) * 2.0 + torch.randn(c.shape, generator=g) * 1.2  # logits of the sent bits, noisy
    ref = FastLDPC5GDecoder(enc, num_threads=1)(llr)
    two = FastLDPC5GDecoder(enc, num_threads=2)
    for _ in range(3):  # the same persistent pool each call
        assert torch.equal(two(llr), ref)
    assert _threads._POOLS[_threads._PREFIX][1] >= 1  # the caller is the other thread
    assert np.isfinite(ref.numpy()).all()
