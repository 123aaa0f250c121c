"""Test scenes for the face-detection task: bundled portraits and face composites with exact boxes.

The SE-SC experiments (Fu et al., Sec. V) need images with objects and their boxes. Offline, the
task is face detection (:class:`semcom.metrics.detection.FaceDetector`) on:

* **portraits**: the two bundled portraits of :func:`semcom.data.test_images` (``astronaut``,
  ``grace_hopper``), centre-cropped square and resized to ``size``. Their reference boxes are the
  detector's output on the clean full-resolution photo (``gt_kind="detector"``): no hand labels exist.
* **composites**: face crops of those two portraits (the face box the detector finds on the clean
  full-resolution photo, with a margin of ``margin`` box sides around it, randomly mirrored) pasted
  at random positions and scales (face box side ``face_px`` pixels) onto random crops of the
  training wallpapers (:class:`semcom.data.TrainingCrops`), 1 to 3 faces per scene, not
  overlapping. The pasted face box is known exactly (``gt_kind="exact"``), in the detector's own
  box convention. The crop is blended in with a feathered border.

Test photos are never used in training: the faces come from the test portraits; the backgrounds
are training photos (the codec has seen them, never these faces). Boxes are float ``[M, 4]``
``(x0, y0, x1, y1)`` in pixels of the scene.

Example:
    >>> scenes = face_scenes(n_composites=2, size=128, seed=0)     # doctest: +SKIP
    >>> [s.gt_kind for s in scenes]                                  # doctest: +SKIP
    ['detector', 'detector', 'exact', 'exact']
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import torch

from semcom.errors import InputError

PORTRAITS = ("astronaut", "grace_hopper")


@dataclasses.dataclass
class FaceScene:
    """One test scene: ``image [1,3,S,S]`` in [0,1], ``boxes [M,4]`` in pixels, and where they come from."""

    name: str
    image: torch.Tensor
    boxes: np.ndarray
    gt_kind: str  # "exact" (composites) or "detector" (portraits: the detector on the clean source)


def _resize(arr: np.ndarray, w: int, h: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(arr).resize((w, h), Image.Resampling.LANCZOS))


@functools.lru_cache(maxsize=4)
def _portrait(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 HWC full-resolution portrait, its face box from the detector on the clean photo)."""
    from semcom.data import test_images
    from semcom.metrics.detection import FaceDetector

    im = [i for i in test_images() if i.name == name]
    if not im:
        raise InputError(f"portrait {name!r} is not available")
    arr = np.round(im[0].image[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    with FaceDetector() as fd:
        d = fd(arr)
    if not len(d):
        raise InputError(f"no face found in portrait {name!r}")
    return arr, d.boxes[int(np.argmax(d.scores))]


def portrait_scene(name: str, size: int) -> FaceScene:
    """A bundled portrait, centre-cropped square, resized to ``size``; boxes from the clean source."""
    arr, box = _portrait(name)
    h, w = arr.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    img = _resize(arr[top:top + s, left:left + s], size, size)
    k = size / s
    b = np.array([[(box[0] - left) * k, (box[1] - top) * k, (box[2] - left) * k, (box[3] - top) * k]])
    return FaceScene(name, torch.from_numpy(img.astype(np.float32) / 255).permute(2, 0, 1)[None], b, "detector")


def _paste(canvas: np.ndarray, crop: np.ndarray, x: int, y: int, feather: int) -> None:
    h, w = crop.shape[:2]
    ramp = lambda n: np.clip(np.minimum(np.arange(n) + 1, n - np.arange(n)) / max(feather, 1), 0, 1)  # noqa: E731
    alpha = np.minimum(ramp(h)[:, None], ramp(w)[None, :])[..., None]
    region = canvas[y:y + h, x:x + w].astype(np.float64)
    canvas[y:y + h, x:x + w] = np.round(alpha * crop + (1 - alpha) * region).astype(np.uint8)


def composite_scene(index: int, size: int, seed: int, face_px: tuple[int, int], margin: float) -> FaceScene:
    """Scene ``index`` of the composite set (deterministic in ``(seed, index)``)."""
    from semcom.data import TrainingCrops

    rng = np.random.default_rng([seed, index, 7])
    bg = TrainingCrops(size=size, count=1 << 30, seed=seed + 1000, max_side=max(2 * size, 512))[int(index)]
    canvas = np.round(bg.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    boxes: list[list[float]] = []
    for _ in range(int(rng.integers(1, 4))):
        arr, fb = _portrait(PORTRAITS[int(rng.integers(len(PORTRAITS)))])
        side = float(rng.uniform(*face_px))
        k = side / max(fb[2] - fb[0], fb[3] - fb[1])
        m = margin * max(fb[2] - fb[0], fb[3] - fb[1])
        x0, y0 = max(int(fb[0] - m), 0), max(int(fb[1] - m), 0)
        x1, y1 = min(int(np.ceil(fb[2] + m)), arr.shape[1]), min(int(np.ceil(fb[3] + m)), arr.shape[0])
        cw, ch = max(int(round((x1 - x0) * k)), 2), max(int(round((y1 - y0) * k)), 2)
        if cw >= size or ch >= size:
            continue
        crop = _resize(arr[y0:y1, x0:x1], cw, ch)
        kx, ky = cw / (x1 - x0), ch / (y1 - y0)
        fx0, fy0, fx1, fy1 = (fb[0] - x0) * kx, (fb[1] - y0) * ky, (fb[2] - x0) * kx, (fb[3] - y0) * ky
        if rng.integers(2):
            crop = crop[:, ::-1]
            fx0, fx1 = cw - fx1, cw - fx0
        for _try in range(20):
            px, py = int(rng.integers(0, size - cw + 1)), int(rng.integers(0, size - ch + 1))
            cand = [px + fx0, py + fy0, px + fx1, py + fy1]
            if all(_disjoint(cand, b, pad=0.3 * side) for b in boxes):
                _paste(canvas, crop, px, py, feather=max(2, int(0.15 * min(cw, ch))))
                boxes.append(cand)
                break
    img = torch.from_numpy(canvas.astype(np.float32) / 255).permute(2, 0, 1)[None]
    return FaceScene(f"composite_{index}", img, np.asarray(boxes, dtype=np.float64).reshape(-1, 4), "exact")


def _disjoint(a: list[float], b: list[float], pad: float) -> bool:
    return a[2] + pad <= b[0] or b[2] + pad <= a[0] or a[3] + pad <= b[1] or b[3] + pad <= a[1]


def face_scenes(n_composites: int = 16, size: int = 256, seed: int = 0, face_px: tuple[int, int] = (40, 110),
                margin: float = 0.6, portraits: bool = True) -> list[FaceScene]:
    """The test scenes: the portraits (when ``portraits``) then ``n_composites`` composites."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 64:
        raise InputError(f"size must be an int >= 64, got {size!r}")
    if isinstance(n_composites, bool) or not isinstance(n_composites, int) or n_composites < 0:
        raise InputError(f"n_composites must be an int >= 0, got {n_composites!r}")
    if not 0 < face_px[0] <= face_px[1] < size:
        raise InputError(f"face_px must satisfy 0 < low <= high < size, got {face_px}")
    out = [portrait_scene(n, size) for n in PORTRAITS] if portraits else []
    out += [composite_scene(i, size, seed, face_px, margin) for i in range(n_composites)]
    return out


__all__ = ["FaceScene", "face_scenes", "portrait_scene", "composite_scene", "PORTRAITS"]
