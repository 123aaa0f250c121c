"""Fashion-MNIST (Zalando, MIT licence) from Debian's ``dataset-fashion-mnist`` IDX files.

70 000 labelled 28 x 28 greyscale images of clothing in 10 classes (:data:`FASHION_MNIST_CLASSES`):
60 000 for training, 10 000 for testing. The files are ``/usr/share/datasets/fashion-mnist/
{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``, found with ``dpkg -L dataset-fashion-mnist``.
"""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path

import numpy as np
import torch

from semcom.errors import InputError

from ._common import SETUP_HINT, DataError, DataUnavailableError, dpkg_files

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
_PREFIX = {"train": "train", "test": "t10k"}
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX file (plain or ``.gz``), the format of MNIST and Fashion-MNIST.

    Layout: two zero bytes, a type code (0x08 = uint8 ...), the number of dimensions ``d``, ``d``
    big-endian uint32 sizes, then the data. Raises :class:`DataError` on a malformed file.
    """
    path = str(path)
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path} is not an IDX file (bad magic {raw[:4].hex()})")
    ndim = raw[3]
    if ndim < 1 or len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    body = raw[4 + 4 * ndim :]
    if len(body) != expected:
        raise DataError(f"{path}: IDX body has {len(body)} bytes, header announces {expected} for shape {shape}")
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def fashion_mnist_dir() -> str | None:
    """The folder holding the Fashion-MNIST IDX files on this machine, or ``None``."""
    files = dpkg_files("dataset-fashion-mnist") or []
    for f in files:
        if f.endswith("train-images-idx3-ubyte.gz"):
            return os.path.dirname(f)
    return _DEFAULT_DIR if os.path.isfile(os.path.join(_DEFAULT_DIR, "train-images-idx3-ubyte.gz")) else None


@functools.lru_cache(maxsize=4)
def _load(root: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    prefix = _PREFIX[split]
    paths = {}
    for kind, idx in (("images", "idx3"), ("labels", "idx1")):
        base = Path(root) / f"{prefix}-{kind}-{idx}-ubyte"
        cand = [p for p in (base.with_name(base.name + ".gz"), base) if p.is_file()]
        if not cand:
            raise DataUnavailableError(f"Fashion-MNIST file {base}(.gz) not found")
        paths[kind] = cand[0]
    images, labels = read_idx(paths["images"]), read_idx(paths["labels"])
    if images.dtype != np.uint8 or images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"Fashion-MNIST {split} files disagree: images {images.shape}, labels {labels.shape}")
    if labels.size and int(labels.max()) >= len(FASHION_MNIST_CLASSES):
        raise DataError(f"Fashion-MNIST {split} labels out of range (max {int(labels.max())})")
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def fashion_mnist(split: str = "train", root: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Load Fashion-MNIST.

    Args:
        split: ``"train"`` (60 000 images) or ``"test"`` (10 000).
        root: folder with the four IDX files (``.gz`` or plain); default: Debian's package.

    Returns:
        ``(images, labels)``: uint8 ``[N, 28, 28]`` (0 = background) and int64 ``[N]`` class
        indices into :data:`FASHION_MNIST_CLASSES`. Fresh tensors (parsed files are cached).

    Raises:
        DataUnavailableError: the data set is not installed (run ``bash scripts/setup.sh``).
        DataError: a file is malformed. InputError: unknown split.

    Example:
        >>> images, labels = fashion_mnist("test")  # doctest: +SKIP
        >>> images.shape, images.dtype, labels.shape  # doctest: +SKIP
        (torch.Size([10000, 28, 28]), torch.uint8, torch.Size([10000]))
    """
    if split not in _PREFIX:
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    if root is None:
        root = fashion_mnist_dir()
        if root is None:
            raise DataUnavailableError(f"Fashion-MNIST is not installed (Debian package dataset-fashion-mnist); {SETUP_HINT}")
    images, labels = _load(str(root), split)
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))
