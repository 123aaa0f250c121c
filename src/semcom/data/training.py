"""Training photos from Debian's wallpaper packages and random crops of them.

The corpus: the photographs (not the vector or abstract art) of ``mate-backgrounds``
(``/usr/share/backgrounds/mate/nature/*.jpg``, 12 photos, GPL-2+) and of
``plasma-workspace-wallpapers`` (12 photographic wallpapers, largest variant of each, 2560 x 1600
to 5120 x 2880; licences in the package's copyright file). Installed by ``scripts/setup.sh``.
None of them is a test photo of :func:`semcom.data.test_images`.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from semcom.errors import InputError
from semcom.utils import make_generator, numpy_rng

from ._common import SETUP_HINT, DataError, DataUnavailableError, dpkg_files

#: Debian packages holding the training photos.
TRAINING_PACKAGES = ("mate-backgrounds", "plasma-workspace-wallpapers")
#: Plasma wallpapers that are photographs (the others are illustrations or renders).
PLASMA_PHOTOS = (
    "BytheWater",
    "ColdRipple",
    "ColorfulCups",
    "DarkestHour",
    "EveningGlow",
    "FallenLeaf",
    "Grey",
    "Kite",
    "OneStandsOut",
    "Path",
    "Volna",
    "summer_1am",
)
_MATE_DIR = "/usr/share/backgrounds/mate/nature"
_PLASMA_DIR = "/usr/share/wallpapers"
_SIZE_RE = re.compile(r"^(\d+)x(\d+)\.(jpe?g|png)$", re.IGNORECASE)


def _pick_photos(files: Sequence[str]) -> list[str]:
    mate = sorted(f for f in files if f.startswith(_MATE_DIR + "/") and f.lower().endswith((".jpg", ".jpeg")))
    best: dict[str, tuple[int, str]] = {}
    for f in files:
        parts = f.split("/")
        # /usr/share/wallpapers/<Name>/contents/images/<W>x<H>.jpg (not images_dark, not screenshots)
        if len(parts) != 8 or not f.startswith(_PLASMA_DIR + "/") or parts[5:7] != ["contents", "images"]:
            continue
        name, m = parts[4], _SIZE_RE.match(parts[7])
        if name not in PLASMA_PHOTOS or not m:
            continue
        area = int(m.group(1)) * int(m.group(2))
        if name not in best or area > best[name][0]:
            best[name] = (area, f)
    plasma = [best[n][1] for n in sorted(best)]
    return [f for f in mate + plasma if os.path.isfile(f)]


def training_photo_paths() -> list[str]:
    """Paths of the training photographs installed on this machine, sorted (mate first, then plasma).

    Files are found with ``dpkg -L`` on :data:`TRAINING_PACKAGES` (falling back to the packages'
    standard folders without dpkg); only photographs are kept, one (the largest) variant per
    plasma wallpaper. Empty when neither package is installed.

    Example:
        >>> paths = training_photo_paths()
        >>> all(p.endswith((".jpg", ".jpeg")) for p in paths)
        True
    """
    files: list[str] = []
    found_dpkg = False
    for pkg in TRAINING_PACKAGES:
        listed = dpkg_files(pkg)
        if listed is not None:
            found_dpkg = True
            files += listed
    if not found_dpkg:  # no dpkg (e.g. another distribution with the same folders)
        for root in (_MATE_DIR, _PLASMA_DIR):
            if os.path.isdir(root):
                files += [str(p) for p in Path(root).rglob("*") if p.is_file()]
    return _pick_photos(files)


@functools.lru_cache(maxsize=64)
def _load_downscaled(path: str, mtime_ns: int, max_side: int) -> np.ndarray:
    """Decode a photo once, downscaled so its longer side is at most ``max_side`` (uint8 HWC)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
            scale = min(1.0, max_side / max(w, h))
            tw, th = max(1, round(w * scale)), max(1, round(h * scale))
            im.draft("RGB", (tw, th))  # JPEG: decode at 1/2, 1/4 or 1/8 size directly when possible
            im = im.convert("RGB")
            if im.size != (tw, th):
                im = im.resize((tw, th), Image.Resampling.LANCZOS, reducing_gap=3.0)
            arr = np.asarray(im, dtype=np.uint8).copy()
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read training photo {path}: {exc}") from None
    arr.setflags(write=False)
    return arr


class TrainingCrops(Dataset):
    """Random square crops of the training photographs, as a deterministic ``torch`` Dataset.

    Each photo is decoded once and kept in memory downscaled to a longer side of ``max_side``
    pixels (shared between instances in this process). Item ``i`` is a crop drawn with a
    generator seeded by ``(seed, i)``: uniformly chosen photo, uniformly chosen position,
    horizontal flip with probability 1/2 (and vertical flip when ``vflip``), so the same
    ``(seed, i)`` always gives the same crop, whatever the order of access or the worker.

    Args:
        size: crop side in pixels.
        count: number of items (the epoch length).
        seed: int or ``torch.Generator`` (a generator is turned into an int seed once).
        max_side: longer side of the in-memory copies (downscaling also removes JPEG noise).
        hflip, vflip: random horizontal / vertical flips.
        paths: photo files to use instead of :func:`training_photo_paths`.

    Items are ``[3, size, size]`` float32 in [0, 1] (a ``DataLoader`` batches them to ``[B, 3, H, W]``).

    Raises:
        DataUnavailableError: no training photo is installed (run ``bash scripts/setup.sh``).

    Example:
        >>> ds = TrainingCrops(size=64, count=10, seed=0)  # doctest: +SKIP
        >>> ds[3].shape, torch.equal(ds[3], TrainingCrops(size=64, count=10, seed=0)[3])  # doctest: +SKIP
        (torch.Size([3, 64, 64]), True)
    """

    def __init__(
        self,
        size: int = 256,
        count: int = 10000,
        seed: int | torch.Generator = 0,
        max_side: int = 1280,
        hflip: bool = True,
        vflip: bool = False,
        paths: Sequence[str | os.PathLike] | None = None,
    ):
        for label, v in (("size", size), ("count", count), ("max_side", max_side)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise InputError(f"{label} must be a positive int, got {v!r}")
        if size > max_side:
            raise InputError(f"size {size} exceeds max_side {max_side}")
        if isinstance(seed, torch.Generator):
            seed = int(torch.randint(0, 2**62, (1,), generator=make_generator(seed)).item())
        elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise InputError(f"seed must be an int or a torch.Generator, got {type(seed).__name__}")
        if paths is None:
            paths = training_photo_paths()
            if not paths:
                raise DataUnavailableError(
                    "no training photos found: the Debian packages "
                    f"{' and '.join(TRAINING_PACKAGES)} are not installed; {SETUP_HINT}"
                )
        paths = [str(p) for p in paths]
        if not paths:
            raise InputError("paths is empty")
        self.size, self.count, self.seed = int(size), int(count), int(seed)
        self.max_side, self.hflip, self.vflip = int(max_side), bool(hflip), bool(vflip)
        photos, kept = [], []
        for p in paths:
            if not os.path.isfile(p):
                raise DataUnavailableError(f"training photo {p} does not exist")
            arr = _load_downscaled(p, os.stat(p).st_mtime_ns, self.max_side)
            if min(arr.shape[:2]) >= self.size:
                photos.append(arr)
                kept.append(p)
        if not photos:
            raise InputError(f"no training photo is at least {size}x{size} after downscaling to max_side={max_side}")
        self.paths: list[str] = kept
        self._photos = photos

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> torch.Tensor:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise InputError(f"index must be an int, got {type(index).__name__}")
        if index < 0:
            index += self.count
        if not 0 <= index < self.count:
            raise IndexError(f"index {index} out of range for {self.count} crops")
        rng = numpy_rng(np.random.default_rng([self.seed, int(index)]))
        photo = self._photos[int(rng.integers(len(self._photos)))]
        h, w = photo.shape[:2]
        top = int(rng.integers(0, h - self.size + 1))
        left = int(rng.integers(0, w - self.size + 1))
        crop = photo[top : top + self.size, left : left + self.size]
        flip_h, flip_v = bool(rng.integers(2)), bool(rng.integers(2))
        if self.hflip and flip_h:
            crop = crop[:, ::-1]
        if self.vflip and flip_v:
            crop = crop[::-1]
        chw = np.ascontiguousarray(crop.transpose(2, 0, 1))
        # numpy, not torch, for the conversion: torch's intra-op threads cost more than the work here
        return torch.from_numpy(np.divide(chw, 255.0, dtype=np.float32))
