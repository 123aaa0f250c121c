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

import hashlib
from pathlib import Path

import torch

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

    def __init__(self, size: int, seed: int = 0, max_side: int = 1280) -> None:
        from semcom.data import TrainingCrops

        if isinstance(size, bool) or not isinstance(size, int) or size < 8:
            raise InputError(f"crop size must be an int >= 8, got {size!r}")
        self.size, self.seed = size, seed
        self.crops = TrainingCrops(size=size, count=_COUNT, seed=seed, max_side=max(max_side, size))
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

    def checksums(self) -> dict[str, str]:
        """``{photo file: sha256}`` of the photos used."""
        return {"/".join(Path(p).parts[-4:]) if "wallpapers" in p else Path(p).name: _file_sha256(p)
                for p in self.crops.paths}

    def describe(self) -> str:
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
