"""The bundled test photos: natural colour images shipped inside pip packages, usable offline.

The set, in its fixed order (:data:`TEST_IMAGE_NAMES`):

==================  ============  ==========================================================
name                size (HxW)    source
==================  ============  ==========================================================
astronaut           512 x 512     ``skimage.data.astronaut`` (Eileen Collins, NASA)
chelsea             300 x 451     ``skimage.data.chelsea`` (a cat)
coffee              400 x 600     ``skimage.data.coffee``
rocket              427 x 640     ``skimage.data.rocket``
hubble_deep_field   872 x 1000    ``skimage.data.hubble_deep_field``
retina              1411 x 1411   ``skimage.data.retina``
stereo_motorcycle   500 x 741     ``skimage.data.stereo_motorcycle`` (left image)
china               427 x 640     ``sklearn.datasets.load_sample_image("china.jpg")``
flower              427 x 640     ``sklearn.datasets.load_sample_image("flower.jpg")``
grace_hopper        600 x 512     ``matplotlib.cbook.get_sample_data("grace_hopper.jpg")``
==================  ============  ==========================================================

These are test photos only: :class:`semcom.data.TrainingCrops` never uses them.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import warnings
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from semcom.errors import InputError


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        out = getattr(skimage.data, name)()
        return out[0] if isinstance(out, tuple) else out

    return load


def _sklearn(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(filename)

    return load


def _matplotlib(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import matplotlib.cbook
        from PIL import Image

        with matplotlib.cbook.get_sample_data(filename) as f:
            return np.asarray(Image.open(f).convert("RGB"))

    return load


_LOADERS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage("astronaut"),
    "chelsea": _skimage("chelsea"),
    "coffee": _skimage("coffee"),
    "rocket": _skimage("rocket"),
    "hubble_deep_field": _skimage("hubble_deep_field"),
    "retina": _skimage("retina"),
    "stereo_motorcycle": _skimage("stereo_motorcycle"),
    "china": _sklearn("china.jpg"),
    "flower": _sklearn("flower.jpg"),
    "grace_hopper": _matplotlib("grace_hopper.jpg"),
}

#: Names of the bundled test photos, in the fixed order of :func:`test_images`.
TEST_IMAGE_NAMES: tuple[str, ...] = tuple(_LOADERS)
#: The ``subset="tiny"`` selection (3 photos, centre-cropped to 256 x 256 unless told otherwise).
TINY_NAMES: tuple[str, ...] = ("astronaut", "coffee", "chelsea")
TINY_SIZE = 256


@dataclasses.dataclass(frozen=True)
class NamedImage:
    """One test photo.

    Attributes:
        name: its name in :data:`TEST_IMAGE_NAMES`.
        image: ``[1, 3, H, W]`` float32 in [0, 1].
        sha256: hex SHA-256 of the uint8 pixels returned (``[H, W, 3]`` row-major, after any crop),
            for provenance.
    """

    name: str
    image: torch.Tensor
    sha256: str


@functools.lru_cache(maxsize=None)
def _load_uint8(name: str) -> np.ndarray:
    arr = np.asarray(_LOADERS[name]())
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"unexpected pixel array shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"unexpected pixel dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr[..., :3])
    arr.setflags(write=False)
    return arr


def center_crop(arr: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre crop an ``[H, W, ...]`` array to ``height x width`` (offsets rounded down)."""
    h, w = arr.shape[:2]
    if height > h or width > w:
        raise InputError(f"cannot crop a {h}x{w} image to {height}x{width}")
    top, left = (h - height) // 2, (w - width) // 2
    return arr[top : top + height, left : left + width]


def uint8_to_float(arr: np.ndarray) -> np.ndarray:
    """RGB uint8 ``[H, W, 3]`` -> float32 ``[3, H, W]`` in [0, 1] (numpy, new array)."""
    chw = np.ascontiguousarray(np.asarray(arr, dtype=np.uint8).transpose(2, 0, 1))
    return np.divide(chw, 255.0, dtype=np.float32)


def pixels_sha256(arr: np.ndarray) -> str:
    """Hex SHA-256 of uint8 pixels ``[H, W, 3]`` (row-major bytes)."""
    return hashlib.sha256(np.ascontiguousarray(arr, dtype=np.uint8).tobytes()).hexdigest()


def _wanted(names: Sequence[str] | str | None) -> list[str]:
    """The photos asked for, in the fixed order of :data:`TEST_IMAGE_NAMES`."""
    if names is None:
        return list(TEST_IMAGE_NAMES)
    if isinstance(names, str):
        names = [names]
    unknown = [n for n in names if n not in _LOADERS]
    if unknown:
        raise InputError(f"unknown test image(s) {unknown}; known: {list(TEST_IMAGE_NAMES)}")
    return [n for n in TEST_IMAGE_NAMES if n in set(names)]


def _crop(name: str, arr: np.ndarray, size: int | None, multiple_of: int | None) -> np.ndarray | None:
    """:func:`test_images`' centre crop of one photo, or None (with a warning) when it is too small."""
    h, w = arr.shape[:2]
    if size is not None:
        if size > min(h, w):
            warnings.warn(f"test image {name!r} ({h}x{w}) is smaller than size={size} and is skipped", stacklevel=3)
            return None
        return center_crop(arr, size, size)
    if multiple_of is not None:
        hh, ww = (h // multiple_of) * multiple_of, (w // multiple_of) * multiple_of
        if hh == 0 or ww == 0:
            warnings.warn(f"test image {name!r} ({h}x{w}) is smaller than multiple_of={multiple_of}; skipped",
                          stacklevel=3)
            return None
        return center_crop(arr, hh, ww)
    return arr


def test_images(
    names: Sequence[str] | None = None,
    size: int | None = None,
    multiple_of: int | None = None,
    subset: str | None = None,
) -> list[NamedImage]:
    """The bundled colour test photos as a named set in a fixed order.

    Args:
        names: which photos (any of :data:`TEST_IMAGE_NAMES`), returned in the fixed order;
            default all.
        size: centre-crop every photo to ``size x size`` pixels. A photo smaller than that is
            skipped with a warning.
        multiple_of: centre-crop every photo to the largest height and width that are multiples
            of this (e.g. 16 or 64 for learned models with that many downsamplings).
        subset: ``"tiny"``: the 3 photos of :data:`TINY_NAMES` centre-cropped to 256 x 256
            (unless ``size`` says otherwise), for fast tests and demos; ``"all"`` or ``None``: all.

    Returns:
        list of :class:`NamedImage` with ``image`` ``[1, 3, H, W]`` float32 in [0, 1]. A photo
        whose loader fails (e.g. a package data file missing) is skipped with a ``UserWarning``.

    Example:
        >>> imgs = test_images(subset="tiny")
        >>> [(im.name, tuple(im.image.shape)) for im in imgs]
        [('astronaut', (1, 3, 256, 256)), ('chelsea', (1, 3, 256, 256)), ('coffee', (1, 3, 256, 256))]
    """
    if subset not in (None, "all", "tiny"):
        raise InputError(f"subset must be None, 'all' or 'tiny', got {subset!r}")
    if subset == "tiny":
        if names is None:
            names = TINY_NAMES
        if size is None and multiple_of is None:
            size = TINY_SIZE
    wanted = _wanted(names)
    for label, v in (("size", size), ("multiple_of", multiple_of)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
            raise InputError(f"{label} must be a positive int, got {v!r}")
    if size is not None and multiple_of is not None:
        raise InputError("give either size or multiple_of, not both")
    out = []
    for name in wanted:
        try:
            arr = _load_uint8(name)
        except Exception as exc:  # noqa: BLE001 - a missing package file must not sink the set
            warnings.warn(f"test image {name!r} could not be loaded and is skipped: {exc}", stacklevel=2)
            continue
        arr = _crop(name, arr, size, multiple_of)
        if arr is None:
            continue
        arr = np.ascontiguousarray(arr)
        image = torch.from_numpy(uint8_to_float(arr)).unsqueeze(0)
        out.append(NamedImage(name, image, pixels_sha256(arr)))
    return out


def checksums(images: Iterable[NamedImage]) -> dict[str, str]:
    """``{name: sha256}`` of a set of :class:`NamedImage`, for the provenance block of results.

    Example:
        >>> sorted(checksums(test_images(subset="tiny")))
        ['astronaut', 'chelsea', 'coffee']
    """
    out = {}
    for im in images:
        if not isinstance(im, NamedImage):
            raise InputError(f"checksums expects NamedImage items, got {type(im).__name__}")
        out[im.name] = im.sha256
    return out


test_images.__test__ = False  # not a pytest test, despite its name
