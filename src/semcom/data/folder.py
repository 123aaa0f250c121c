"""Images from any folder the user points to (their own Kodak, CLIC, photos ...)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from semcom.errors import InputError

from ._common import DataError
from .photos import pixels_sha256, uint8_to_float

#: File extensions :class:`ImageFolder` picks up (lower case).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

MAX_PIXELS = 64 * 1024 * 1024


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB uint8 ``[H, W, 3]`` (greyscale replicated, alpha dropped).

    Raises :class:`DataError` when the file cannot be decoded or announces more than 64 Mpx.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.size[0] * im.size[1] > MAX_PIXELS:
                raise DataError(f"{path}: {im.size[0]}x{im.size[1]} exceeds the {MAX_PIXELS}-pixel limit")
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit greyscale: keep the top 8 bits
                arr16 = np.asarray(im, dtype=np.uint32)
                g = (arr16 >> 8).astype(np.uint8) if arr16.max() > 255 else arr16.astype(np.uint8)
                return np.repeat(g[..., None], 3, axis=2)
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure names the file
        raise DataError(f"cannot read image {path}: {exc}") from None


class ImageFolder(Dataset):
    """All images of a folder, in sorted file-name order, as ``[3, H, W]`` float32 in [0, 1].

    Args:
        path: the folder.
        recursive: also look in sub-folders (paths sorted as relative POSIX paths).
        extensions: file extensions to pick (case-insensitive).
        transform: optional callable applied to each ``[3, H, W]`` item (e.g. a crop).

    Attributes:
        paths: the image files, in item order.

    Raises:
        InputError: the folder does not exist or holds no image. DataError (at access): a file
        cannot be decoded.

    Example:
        >>> folder = ImageFolder("my_photos")  # doctest: +SKIP
        >>> x = folder[0].unsqueeze(0)         # [1, 3, H, W], ready for a codec  # doctest: +SKIP
    """

    def __init__(
        self,
        path: str | os.PathLike,
        recursive: bool = False,
        extensions: tuple[str, ...] = IMAGE_EXTENSIONS,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        root = Path(path)
        if not root.is_dir():
            raise InputError(f"{root} is not a folder")
        exts = tuple(e.lower() for e in extensions)
        it = root.rglob("*") if recursive else root.iterdir()
        files = [p for p in it if p.is_file() and p.suffix.lower() in exts and not p.name.startswith(".")]
        files.sort(key=lambda p: p.relative_to(root).as_posix())
        if not files:
            raise InputError(f"no image files ({', '.join(exts)}) in {root}")
        self.root = root
        self.paths: list[Path] = files
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        x = torch.from_numpy(uint8_to_float(read_image(self.paths[index])))
        return self.transform(x) if self.transform is not None else x

    @property
    def names(self) -> list[str]:
        """File names relative to the folder, in item order."""
        return [p.relative_to(self.root).as_posix() for p in self.paths]

    def checksums(self) -> dict[str, str]:
        """``{relative name: sha256 of the RGB uint8 pixels}`` for provenance (decodes every file)."""
        return {n: pixels_sha256(read_image(p)) for n, p in zip(self.names, self.paths)}
