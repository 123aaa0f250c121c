"""Training batches for the learned JSCC models, drawn from the shared datasets of :mod:`semcom.data`.

* :class:`CropBatches` (images): consecutive items of :class:`semcom.data.TrainingCrops`, random
  crops with random horizontal flips of the photographs of Debian's ``mate-backgrounds`` and
  ``plasma-workspace-wallpapers`` (never a test photo of :func:`semcom.data.test_images`).
  Item ``i`` is fixed by ``(seed, i)``, so the batch sequence is reproducible and resuming only
  needs the position.
* :class:`VectorBatches` (1D coders): random rows (with replacement) of the training split of the
  face-landmark vectors (:mod:`semcom.data.landmark_vectors`), drawn with a seeded generator.

Both have ``batch(n)``, ``describe()``, ``checksums()`` (provenance) and ``state()`` /
``load_state()`` (resume).

The committed 2D checkpoints of semcom (``deepjscc_*``, ``scc_*``, ``vlscc2d_*``) were trained
before :class:`semcom.data.TrainingCrops` existed, with a sampler of this module that decoded 28
photos at shorter sides 512 and 1024; their metadata records it (``data.sampler``). Retraining
them with the current trainer uses :class:`CropBatches`. ``CropSampler`` stays as an alias.

Example:
    >>> from semcom.training.data import CropBatches
    >>> s = CropBatches(size=64, seed=0)            # doctest: +SKIP
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
from torch.utils.data import Dataset, Sampler

from semcom.errors import InputError
from semcom.utils import make_generator

#: epoch length given to TrainingCrops (items are drawn by index; the trainer never wraps around)
_COUNT = 10**15


def _file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class CropBatches:
    """Batches ``[B, 3, S, S]`` of :class:`semcom.data.TrainingCrops` items, in index order.

    Args:
        size: crop side in pixels.
        seed: seed of the crops (the same seed gives the same crop sequence).
        max_side: longer side of the in-memory photos (:class:`TrainingCrops`).
    """

    def __init__(self, size: int, seed: int = 0, max_side: int = 1280, dataset=None) -> None:
        from semcom.data import TrainingCrops

        if isinstance(size, bool) or not isinstance(size, int) or size < 8:
            raise InputError(f"crop size must be an int >= 8, got {size!r}")
        self.size, self.seed = size, seed
        self.crops = dataset if dataset is not None else \
            TrainingCrops(size=size, count=_COUNT, seed=seed, max_side=max(max_side, size))
        self.position = 0

    def batch(self, n: int) -> torch.Tensor:
        out = torch.stack([self.crops[self.position + i] for i in range(n)])
        self.position += n
        return out

    def state(self) -> dict:
        return {"position": self.position}

    def load_state(self, state) -> None:
        if not isinstance(state, dict) or "position" not in state:
            raise InputError("this resume state was written by another sampler (retrain or drop --resume)")
        self.position = int(state["position"])

    def batches(self, global_batch: int, rank: int = 0, world_size: int = 1, workers: int = 0,
                pin_memory: bool = False):
        """Endless iterator of this rank's slices ``[global_batch / world_size, 3, S, S]`` of the
        global batches, loaded by a ``DataLoader`` with ``workers`` processes (0: in this process)
        and pinned memory when asked; :attr:`position` advances by ``global_batch`` per batch
        yielded (see :class:`ShardedBatchSampler`)."""
        from torch.utils.data import DataLoader

        sampler = ShardedBatchSampler(self.position, global_batch, rank, world_size)
        loader = DataLoader(self.crops, batch_sampler=sampler, num_workers=workers, pin_memory=pin_memory,
                            prefetch_factor=4 if workers else None)
        for x in loader:
            self.position += global_batch
            yield x

    def checksums(self) -> dict[str, str]:
        """``{photo file: sha256}`` of the photos used."""
        if hasattr(self.crops, "checksums"):
            return self.crops.checksums()
        return {"/".join(Path(p).parts[-4:]) if "wallpapers" in p else Path(p).name: _file_sha256(p)
                for p in self.crops.paths}

    def describe(self) -> str:
        if hasattr(self.crops, "describe"):
            return self.crops.describe()
        return (f"semcom.data.TrainingCrops: random {self.size}x{self.size} crops with horizontal flips of "
                f"{len(self.crops.paths)} photos (mate-backgrounds nature + plasma-workspace-wallpapers photographs), "
                f"longer side {self.crops.max_side} px, seed {self.seed}")


#: the name of the sampler before it moved onto :class:`semcom.data.TrainingCrops`
CropSampler = CropBatches


class VectorBatches:
    """Random training vectors ``[B, d]`` of a :class:`semcom.data.landmark_vectors.LandmarkVectors`.

    ``augment > 0``: each drawn face is first deformed by
    :func:`semcom.data.landmark_vectors.augment_shapes` at that strength (identity-like shape
    changes, so that a coder trained on one person's faces codes other people's too).
    """

    def __init__(self, data, seed: int = 0, augment: float = 0.0) -> None:
        self.data = data
        self.vectors = data.vectors("train")
        self.generator = make_generator(seed)
        self.augment = float(augment)

    def batch(self, n: int) -> torch.Tensor:
        from semcom.data.landmark_vectors import augment_shapes

        idx = torch.randint(len(self.vectors), (n,), generator=self.generator)
        if self.augment <= 0:
            return self.vectors[idx]
        pts = augment_shapes(self.data.train_landmarks[idx.numpy()], self.generator, self.augment)
        return torch.from_numpy(self.data.vectorizer.to_vectors(pts))

    def batches(self, global_batch: int, rank: int = 0, world_size: int = 1, **_):
        """Endless iterator of this rank's slices of the global batches: every rank draws the same
        global batch (the vectors are tiny) and keeps its slice, so the data do not depend on the
        world size."""
        lb = global_batch // world_size
        while True:
            yield self.batch(global_batch)[rank * lb:(rank + 1) * lb]

    def state(self) -> torch.Tensor:
        return self.generator.get_state()

    def load_state(self, state) -> None:
        if not isinstance(state, torch.Tensor):
            raise InputError("this resume state was written by another sampler (retrain or drop --resume)")
        self.generator.set_state(state)

    def checksums(self) -> dict[str, str]:
        return {"landmark_vectors_sha256": self.data.checksum()}

    def describe(self) -> str:
        aug = f"; shape augmentation strength {self.augment:g} (augment_shapes)" if self.augment > 0 else ""
        return self.data.describe() + aug


class ShardedBatchSampler(Sampler):
    """Endless batch sampler of one rank's slice of consecutive global batches.

    Global batch ``k`` holds the stream items ``[start + k G, start + (k + 1) G)`` (``G`` the
    global batch); rank ``r`` of ``world_size`` gets its ``r``-th ``G / world_size`` items. The
    union over ranks is exactly the single-process batch, whatever the world size.
    """

    def __init__(self, start: int, global_batch: int, rank: int = 0, world_size: int = 1) -> None:
        if global_batch % world_size or not 0 <= rank < world_size:
            raise InputError(f"global batch {global_batch} does not split over {world_size} ranks (rank {rank})")
        self.start, self.global_batch, self.rank = int(start), int(global_batch), int(rank)
        self.local = global_batch // world_size

    def __iter__(self):
        pos = self.start + self.rank * self.local
        while True:
            yield list(range(pos, pos + self.local))
            pos += self.global_batch


#: at most this many files are hashed one by one for the provenance of a user's folder
MAX_HASHED_FILES = 256


@functools.lru_cache(maxsize=16)
def _decode_at_least(path: str, mtime_ns: int, size: int) -> np.ndarray:
    """Decode ``path`` to RGB uint8 ``[H, W, 3]``; a side shorter than ``size`` is scaled up to it."""
    from PIL import Image

    from semcom.data.folder import read_image

    arr = read_image(path)
    h, w = arr.shape[:2]
    if min(h, w) < size:
        scale = size / min(h, w)
        th, tw = max(size, round(h * scale)), max(size, round(w * scale))
        arr = np.asarray(Image.fromarray(arr).resize((tw, th), Image.Resampling.BICUBIC), dtype=np.uint8)
    return arr


class FolderCrops(Dataset):
    """Random square crops of every image under a folder (``--train-images DIR``), in any size and format.

    The folder is searched recursively for the extensions of :data:`semcom.data.folder.IMAGE_EXTENSIONS`
    (hidden files skipped); DIV2K, CLIC or ImageNet folders work as they are, sub-folders
    (ImageNet's classes) included. Every file's header is read once (PIL, no decoding): files
    that cannot be opened are left out and listed in :attr:`skipped`. Item ``i`` is fixed by
    ``(seed, i)``: a uniformly chosen image, a uniformly placed ``size x size`` crop, a
    horizontal flip with probability 1/2. An image whose shorter side is below ``size`` is
    first scaled up (bicubic) so that it is exactly ``size``.

    Decoding: each item decodes its image (the 16 most recent stay in memory per process), so
    use DataLoader workers for large images. With ``cache_dir``, each image is decoded once into
    ``cache_dir`` as a ``.npy`` array (uint8, a few MB per DIV2K image) that later items
    memory-map, reading only the crop's rows: the cache trades disk space for decoding time and
    is shared by workers, ranks and runs (the file name hashes the image's path, size and
    modification time, so an edited image is decoded again).

    Raises:
        InputError: the folder does not exist, holds no image file, or none of them can be read.
    """

    def __init__(self, root: str | os.PathLike, size: int, seed: int = 0, count: int = _COUNT,
                 cache_dir: str | os.PathLike | None = None, hflip: bool = True) -> None:
        from PIL import Image

        from semcom.data.folder import IMAGE_EXTENSIONS

        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"training image folder {self.root} does not exist or is not a folder")
        files = sorted((p for p in self.root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                        and not p.name.startswith(".")), key=lambda p: p.relative_to(self.root).as_posix())
        if not files:
            raise InputError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) under {self.root}")
        self.paths: list[str] = []
        self.skipped: list[str] = []
        for p in files:
            try:
                with Image.open(p) as im:
                    im.size  # noqa: B018 - the header is read
                self.paths.append(str(p))
            except Exception:  # noqa: BLE001 - any unreadable file is left out
                self.skipped.append(p.relative_to(self.root).as_posix())
        if not self.paths:
            raise InputError(f"none of the {len(files)} image files under {self.root} can be read "
                             f"(first: {self.skipped[0]})")
        self.size, self.seed, self.count, self.hflip = int(size), int(seed), int(count), bool(hflip)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return self.count

    def _pixels(self, path: str) -> np.ndarray:
        st = os.stat(path)
        if self.cache_dir is None:
            return _decode_at_least(path, st.st_mtime_ns, self.size)
        key = hashlib.sha256(f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{self.size}".encode()).hexdigest()
        cached = self.cache_dir / f"{key[:32]}.npy"
        if not cached.is_file():
            tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                np.save(f, _decode_at_least(path, st.st_mtime_ns, self.size))
            os.replace(tmp, cached)  # atomic: workers and ranks may race on the same image
        return np.load(cached, mmap_mode="r")

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, int(index)])
        arr = self._pixels(self.paths[int(rng.integers(len(self.paths)))])
        h, w = arr.shape[:2]
        top, left = int(rng.integers(0, h - self.size + 1)), int(rng.integers(0, w - self.size + 1))
        crop = np.asarray(arr[top:top + self.size, left:left + self.size])
        if self.hflip and rng.integers(2):
            crop = crop[:, ::-1]
        chw = np.ascontiguousarray(crop.transpose(2, 0, 1))
        return torch.from_numpy(np.divide(chw, 255.0, dtype=np.float32))

    def checksums(self) -> dict[str, str]:
        """``{relative path: file SHA-256}`` for up to :data:`MAX_HASHED_FILES` files; for larger
        folders ``{"files": n, "manifest_sha256": ...}``, a hash of the sorted relative paths and sizes."""
        rel = [Path(p).relative_to(self.root).as_posix() for p in self.paths]
        if len(self.paths) <= MAX_HASHED_FILES:
            return {r: _file_sha256(p) for r, p in zip(rel, self.paths)}
        lines = "\n".join(f"{r}\t{os.path.getsize(p)}" for r, p in zip(rel, self.paths))
        return {"files": str(len(rel)), "manifest_sha256": hashlib.sha256(lines.encode()).hexdigest()}

    def describe(self) -> str:
        skipped = f"; {len(self.skipped)} unreadable files left out" if self.skipped else ""
        return (f"semcom.training.data.FolderCrops: random {self.size}x{self.size} crops with horizontal flips of "
                f"{len(self.paths)} images under {self.root.name}/ (recursive), seed {self.seed}{skipped}")
