"""Fashion-MNIST from Debian's IDX files and the IDX parser."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from semcom.data import DataError, DataUnavailableError, fashion_mnist, fashion_mnist_dir, read_idx
from semcom.errors import InputError

installed = pytest.mark.skipif(fashion_mnist_dir() is None, reason="Debian package dataset-fashion-mnist not installed")


@installed
def test_train_and_test_splits():
    x, y = fashion_mnist("train")
    assert x.shape == (60000, 28, 28) and x.dtype == torch.uint8
    assert y.shape == (60000,) and y.dtype == torch.int64
    assert y[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]  # the published first labels
    assert torch.equal(y.bincount(), torch.full((10,), 6000))
    xt, yt = fashion_mnist("test")
    assert xt.shape == (10000, 28, 28) and torch.equal(yt.bincount(), torch.full((10,), 1000))
    assert 60 < float(xt.float().mean()) < 90  # mostly dark background
    x[0].zero_()
    assert int(fashion_mnist("train")[0][0].sum()) > 0  # fresh tensors


def _write_idx(path, arr, gz=True):
    code = {np.uint8: 0x08}[arr.dtype.type]
    head = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", s) for s in arr.shape)
    (gzip.open if gz else open)(path, "wb").write(head + arr.tobytes())


def test_custom_root_and_idx_parser(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([0, 9, 3, 3, 1], dtype=np.uint8)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", imgs)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels, gz=False)
    x, y = fashion_mnist("test", root=tmp_path)
    assert np.array_equal(x.numpy(), imgs) and y.tolist() == [0, 9, 3, 3, 1]
    with pytest.raises(DataUnavailableError):
        fashion_mnist("train", root=tmp_path)
    bad = tmp_path / "bad.gz"
    gzip.open(bad, "wb").write(b"\x00\x00\x08\x01" + struct.pack(">I", 10) + b"\x00" * 3)
    with pytest.raises(DataError, match="announces"):
        read_idx(bad)
    (tmp_path / "junk").write_bytes(b"PK\x03\x04")
    with pytest.raises(DataError, match="magic"):
        read_idx(tmp_path / "junk")


def test_bad_split_and_missing_dataset(monkeypatch):
    import semcom.data.fashion as fm

    with pytest.raises(InputError):
        fashion_mnist("validation")
    monkeypatch.setattr(fm, "fashion_mnist_dir", lambda: None)
    with pytest.raises(DataUnavailableError, match="setup.sh"):
        fashion_mnist("train")
