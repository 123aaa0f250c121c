"""Training data for the learned image models: random crops of real photos that are not test photos.

The corpus is the set of photographic wallpapers Debian ships in ``mate-backgrounds``
(``/usr/share/backgrounds/mate/nature/*.jpg``, 12 nature photos) and
``plasma-workspace-wallpapers`` (``/usr/share/wallpapers/<Name>/contents/images/*.jpg``, the
JPEG photographs: Autumn, BytheWater, ColdRipple, ColorfulCups, DarkestHour, EveningGlow,
FallenLeaf, Grey, Kite, OneStandsOut, PastelHills, Path, SafeLanding, Shell, Volna, summer_1am);
``scripts/setup.sh`` installs both. None of them is one of the bundled test photos
(:func:`semcom.data.test_images`). Each photo is decoded once, at two scales (shorter side 512
and 1024 px, so that crops see textures at the scale of the test photos), and random crops with
random horizontal flips are drawn from it with a seeded generator.

When :class:`semcom.data.TrainingCrops` exists it is preferred (``source="semcom.data"``).

Example:
    >>> from semcom.training.data import CropSampler
    >>> s = CropSampler(size=64, seed=0)            # doctest: +SKIP
    >>> s.batch(4).shape                            # doctest: +SKIP
    torch.Size([4, 3, 64, 64])
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from semcom.errors import InputError
from semcom.utils import make_generator

MATE_DIR = Path("/usr/share/backgrounds/mate/nature")
PLASMA_DIR = Path("/usr/share/wallpapers")
#: plasma wallpapers that are renders, not photographs (left out)
_NOT_PHOTOS = {"Flow", "Honeywave"}
SCALES = (512, 1024)


def photo_files(extra_dirs: list[str] | None = None) -> list[Path]:
    """The training photos found on this machine (sorted, deterministic), one file per photo.

    For plasma wallpapers the largest JPEG of each wallpaper is used. ``extra_dirs`` (or the
    ``SEMCOM_TRAIN_DIRS`` environment variable, ``os.pathsep``-separated) adds folders of
    ``*.jpg``/``*.png`` photos of one's own.
    """
    files: list[Path] = []
    if MATE_DIR.is_dir():
        files += sorted(MATE_DIR.glob("*.jpg"))
    if PLASMA_DIR.is_dir():
        for d in sorted(PLASMA_DIR.iterdir()):
            if d.name in _NOT_PHOTOS:
                continue
            jpgs = list((d / "contents" / "images").glob("*.jpg"))
            if jpgs:
                def area(p: Path) -> int:
                    try:
                        w, h = p.stem.split("x")
                        return int(w) * int(h)
                    except ValueError:
                        return 0
                files.append(max(jpgs, key=area))
    dirs = list(extra_dirs or []) + [d for d in os.environ.get("SEMCOM_TRAIN_DIRS", "").split(os.pathsep) if d]
    for d in dirs:
        p = Path(d)
        if not p.is_dir():
            raise InputError(f"training folder {d} does not exist")
        files += sorted(list(p.glob("*.jpg")) + list(p.glob("*.png")))
    return files


@functools.lru_cache(maxsize=128)
def _load(path: Path, short: int) -> torch.Tensor:
    """Decode a photo scaled so that its shorter side is ``short`` (cached per process)."""
    from PIL import Image

    with Image.open(path) as im:
        im.draft("RGB", (short, short))  # JPEG: decode at a reduced DCT scale, much faster
        im = im.convert("RGB")
        w, h = im.size
        s = short / min(w, h)
        if s < 1:
            im = im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BICUBIC)
        arr = np.asarray(im, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()  # uint8 [3,H,W]


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class CropSampler:
    """Random ``size x size`` crops (random flips) of the training photos, as float ``[B,3,S,S]``.

    Args:
        size: crop side in pixels.
        seed: seed of the crop positions (the same seed gives the same crop sequence).
        scales: shorter-side sizes each photo is decoded at.
        files: photo files (default :func:`photo_files`).
    """

    def __init__(self, size: int, seed: int = 0, scales: tuple[int, ...] = SCALES, files: list[Path] | None = None):
        if not isinstance(size, int) or size < 8:
            raise InputError(f"crop size must be an int >= 8, got {size!r}")
        self.files = list(files) if files is not None else photo_files()
        if not self.files:
            raise InputError("no training photos found: install Debian's mate-backgrounds and "
                             "plasma-workspace-wallpapers (scripts/setup.sh does) or set SEMCOM_TRAIN_DIRS")
        self.size = size
        self.images = [im for f in self.files for im in (_load(f, s) for s in scales) if min(im.shape[1:]) >= size]
        if not self.images:
            raise InputError(f"no training photo is larger than the crop size {size}")
        self.generator = make_generator(seed)

    def checksums(self) -> dict[str, str]:
        """``{file name: sha256 of the file}`` for provenance."""
        return {f"{f.parent.parent.parent.name}/{f.name}" if "wallpapers" in f.parts else f.name: _file_sha256(f)
                for f in self.files}

    def describe(self) -> str:
        return (f"random {self.size}x{self.size} crops with horizontal flips of {len(self.files)} photos "
                f"(mate-backgrounds nature + plasma-workspace-wallpapers photographs) at shorter sides {SCALES}")

    def batch(self, n: int) -> torch.Tensor:
        g = self.generator
        s = self.size
        out = torch.empty(n, 3, s, s)
        for i in range(n):
            im = self.images[int(torch.randint(len(self.images), (1,), generator=g))]
            _, h, w = im.shape
            top = int(torch.randint(h - s + 1, (1,), generator=g))
            left = int(torch.randint(w - s + 1, (1,), generator=g))
            crop = im[:, top:top + s, left:left + s].float() / 255.0
            if bool(torch.rand(1, generator=g) < 0.5):
                crop = crop.flip(-1)
            out[i] = crop
        return out

