"""Corrupted, truncated and random streams never crash or hang the caller; the guard survives crashes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from semcom.codecs import DecodeGuard, get_codec
from semcom.data import test_images
from semcom.errors import CodecError

ALL = ["jpeg", "jpeg2000", "webp", "avif", "heif"]
SHAPE = (64, 96)


def corrupt(stream: bytes, kind: int, rng: np.random.Generator) -> bytes:
    """One of five corruptions: bit flips, byte overwrite, truncation, random bytes, empty."""
    b = bytearray(stream)
    if kind == 0:
        for _ in range(int(rng.integers(1, 9))):
            j = int(rng.integers(len(b) * 8))
            b[j // 8] ^= 1 << (j % 8)
    elif kind == 1:
        n = int(rng.integers(1, 33))
        p = int(rng.integers(0, max(1, len(b) - n)))
        b[p : p + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    elif kind == 2:
        b = b[: int(rng.integers(0, len(b)))]
    elif kind == 3:
        b = bytearray(rng.integers(0, 256, int(rng.integers(1, 4096)), dtype=np.uint8).tobytes())
    else:
        b = bytearray()
    return bytes(b)


def run_corruptions(name: str, count: int, seed: int, shape: tuple[int, int] = SHAPE) -> dict:
    """Decode ``count`` corrupted streams of a ``shape`` crop of a photo; return the status counts."""
    codec = get_codec(name)
    x = test_images(names=["rocket"])[0].image[..., 100 : 100 + shape[0], 200 : 200 + shape[1]]
    streams = [codec.encode(x, bpp=b) for b in (1.0, 3.0)]
    rng = np.random.default_rng(seed)
    counts: dict = {"ok": 0, "recovered": 0, "failed": 0}
    t0 = time.monotonic()
    for i in range(count):
        data = corrupt(streams[i % 2], i % 5, rng)
        out = codec.decode_robust(data, shape=shape, damaged=True)  # no exception may escape
        assert out.status in ("recovered", "failed")  # damaged=True never reports "ok"
        assert out.image.shape == (1, 3, *shape) and out.image.dtype == torch.float32
        assert torch.isfinite(out.image).all() and 0 <= float(out.image.min()) and float(out.image.max()) <= 1
        if out.status == "failed":
            assert out.error
        counts[out.status] += 1
        # decode() on the same stream either returns an image or raises CodecError, nothing else.
        if i % 10 == 0:
            try:
                y = codec.decode(data)
                assert y.dim() == 4 and y.shape[1] == 3
            except CodecError:
                pass
    counts["seconds"] = time.monotonic() - t0
    return counts


@pytest.mark.timeout(600)  # a hang fails the test instead of blocking the run
@pytest.mark.parametrize("name", ALL)
def test_100_corruptions_per_codec(name):
    counts = run_corruptions(name, 100, seed=1)
    assert counts["failed"] >= 40  # random bytes and empty streams always fail: 40 of 100
    # The codec still works afterwards.
    codec = get_codec(name)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert codec.decode_robust(codec.encode(x), shape=(16, 16)).status == "ok"


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("name", ALL)
def test_1000_corruptions_per_codec(name):
    counts = run_corruptions(name, 1000, seed=2, shape=(256, 384))
    assert counts["failed"] >= 400
    assert counts["ok"] == 0


def test_absurd_size_is_refused_before_decoding():
    # A PNG-free way to announce a huge image: a JPEG stream whose SOF says 60000 x 60000.
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    s = bytearray(get_codec("jpeg").encode(x))
    i = s.find(b"\xff\xc0")
    if i < 0:
        i = s.find(b"\xff\xc2")
    assert i > 0
    s[i + 5 : i + 9] = (60000).to_bytes(2, "big") + (60000).to_bytes(2, "big")
    with pytest.raises(CodecError, match="refusing"):
        get_codec("jpeg").decode(bytes(s))
    guard = DecodeGuard(max_pixels=32)
    with pytest.raises(CodecError, match="refusing"):
        guard.decode(bytes(get_codec("jpeg").encode(x)), "JPEG")  # 64 px > 32
    guard.close()


class _CrashingGuard(DecodeGuard):
    """A guard whose worker dies (abort, like a segfaulting decoder) while decoding."""

    def _start(self):
        code = "import os, sys; sys.stdin.buffer.read(4); os.abort()"
        self._proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL)
        self._owner_pid = os.getpid()
        self.starts += 1


class _HangingGuard(DecodeGuard):
    """A guard whose worker never answers, like a decoder stuck in a loop."""

    def _start(self):
        code = "import time, sys; sys.stdin.buffer.read(4); time.sleep(60)"
        self._proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL)
        self._owner_pid = os.getpid()
        self.starts += 1


def test_guard_survives_a_crashing_decoder():
    guard = _CrashingGuard()
    for k in range(3):
        with pytest.raises(CodecError, match="crashed"):
            guard.decode(b"\xff\xd8\xff" * 10, "JPEG")
        assert guard.starts == k + 1  # restarted for every call
    guard.close()


def test_guard_survives_a_hanging_decoder():
    guard = _HangingGuard(timeout_s=0.5)
    t0 = time.monotonic()
    with pytest.raises(CodecError, match="did not finish"):
        guard.decode(b"\xff\xd8\xff" * 10, "JPEG")
    assert time.monotonic() - t0 < 5.0
    guard.close()


def test_guard_restarts_after_worker_is_killed():
    guard = DecodeGuard()
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    s = get_codec("jpeg").encode(x)
    a, _ = guard.decode(s, "JPEG")
    os.kill(guard._proc.pid, 9)
    guard._proc.wait()
    b, _ = guard.decode(s, "JPEG")
    assert guard.starts == 2 and np.array_equal(a, b)
    guard.close()
