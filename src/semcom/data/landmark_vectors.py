"""Face-landmark vectors: a real 1D semantic source for VL-SCC 1D (the stand-in for SMPL parameters).

The paper's 1D experiment (vlscc Sec. III-A, IV-A, Fig. 6) sends 85 SMPL parameters (camera,
pose, shape) estimated from photos and scores the receiver's joints (MPJPE). SMPL and its data
cannot be had offline; semcom's 1D source is the analogue for faces:

* **Frames**: synthetic talking-head videos (:func:`semcom.data.talking_head.talking_head_video`),
  one portrait for training (``"grace_hopper"``), the other for testing (``"astronaut"``; the same
  split as the prt concealer's), many seeds each; no frame is in both splits.
* **Semantic encoder**: MediaPipe FaceMesh (:class:`semcom.data.faces.FaceLandmarker`), run for
  real on every frame; frames without a detected face are dropped (counted in the cache).
* **Landmarks**: the subset :data:`SUBSET` of the 478 FaceMesh points: face oval (36), eyelids
  (2 x 16), eyebrows (2 x 10), outer and inner lips (40) and the two iris centres: ``K = 130``
  points, in pixels of the ``size x size`` frame.
* **Vector** (:class:`LandmarkVectorizer`, ``d = 3 + 2K = 263``): the face's centroid ``c`` (2)
  and RMS radius ``r`` (1), each times ``sqrt(K) / r_bar``, followed by the ``K`` points centred and
  scaled per face, ``u_k = (p_k - c) / r`` (``r_bar``: mean radius of the training faces). With
  this weighting the squared vector error approximates the summed squared landmark error in units
  of ``r_bar`` (to first order: ``sum_k |dp_k|^2 ~= r_bar^2 |dv|^2``), so an MSE loss on the vector
  trains for the task metric, and everything the receiver needs to place the landmarks in the
  frame (position, size, shape) travels in the vector: no side information. The vector is then
  standardised with the training split's mean vector and one global scale (so relative weights stay).
* **Task metric** (the MPJPE analogue): :func:`semcom.metrics.mean_landmark_error` between the
  landmarks decoded from the received vector and the detected ones, in **pixels of the frame**
  (``size`` = 256 px by default); divided by ``size`` it is in normalised frame units, as the
  paper's MPJPE footnote uses.

Video synthesis and detection take a few minutes; their output is cached (``.npz``, coordinates as
uint16 fixed point, 1/65535 of the frame) under :func:`cache_dir` (``$SEMCOM_CACHE_DIR`` or
``~/.cache/semcom``), keyed by the config, so training and experiments never re-run it.
``python -m semcom.data.landmark_vectors`` builds it; the default config's file is committed in
``semcom/data/assets/`` (built by that command; its ``info`` entry records config, mediapipe version,
dropped frames and build time), so the committed 1D checkpoints and their test need no mediapipe.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> pts = 100 + 20 * rng.standard_normal((5, 130, 2)).astype(np.float32)
    >>> vec = LandmarkVectorizer.fit(pts)
    >>> x = vec.to_vectors(pts)
    >>> x.shape, bool(np.allclose(vec.to_landmarks(x), pts, atol=1e-3))
    ((5, 263), True)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from semcom.errors import ConfigError, InputError
from semcom.utils import from_dict

from ._common import DataUnavailableError

__all__ = ["SUBSET", "LandmarkSourceConfig", "LandmarkVectorizer", "LandmarkVectors", "augment_shapes", "cache_dir", "load_landmark_vectors"]


def _subset() -> tuple[int, ...]:
    from semcom.data import faces as f

    groups = (f.FACE_OVAL, f.RIGHT_EYE_UPPER, f.RIGHT_EYE_LOWER, f.LEFT_EYE_UPPER, f.LEFT_EYE_LOWER, f.RIGHT_BROW,
              f.LEFT_BROW, f.LIPS_OUTER_UPPER, f.LIPS_OUTER_LOWER, f.LIPS_INNER_UPPER, f.LIPS_INNER_LOWER,
              (f.RIGHT_IRIS[0], f.LEFT_IRIS[0]))
    return tuple(sorted({i for g in groups for i in g}))


#: FaceMesh indices of the landmarks used (sorted): oval, eyelids, brows, lips, iris centres (130 points).
SUBSET: tuple[int, ...] = _subset()


def _regions() -> list[np.ndarray]:
    """Positions within :data:`SUBSET` of the face's parts (oval, each eye with its iris centre, each
    brow, the lips), for :func:`augment_shapes`."""
    from semcom.data import faces as f

    pos = {idx: k for k, idx in enumerate(SUBSET)}
    parts = (f.FACE_OVAL, f.RIGHT_EYE_UPPER + f.RIGHT_EYE_LOWER + f.RIGHT_IRIS[:1],
             f.LEFT_EYE_UPPER + f.LEFT_EYE_LOWER + f.LEFT_IRIS[:1], f.RIGHT_BROW, f.LEFT_BROW,
             f.LIPS_OUTER_UPPER + f.LIPS_OUTER_LOWER + f.LIPS_INNER_UPPER + f.LIPS_INNER_LOWER)
    return [np.array(sorted({pos[i] for i in part})) for part in parts]


def augment_shapes(pts: np.ndarray, generator: torch.Generator, strength: float = 1.0) -> np.ndarray:
    """Random identity-like deformations of faces ``[M, K, 2]`` (pixels), for training on few identities.

    The training split holds one person; the test split another. So that a coder learns to send
    face shapes in general rather than one person's, each training face is deformed at random (all
    scales are multiplied by ``strength``):

    * each part (oval, eyes with iris centres, brows, lips) is scaled about its centroid by
      ``1 + N(0, 0.06^2)`` per axis and shifted by ``N(0, (0.03 r)^2)`` per axis (``r``: the face's RMS radius);
    * the whole face gets a smooth quadratic warp, ``dp = r * sum_{i+j<=2} a_ij (x/r)^i (y/r)^j``
      (coordinates about the centroid), ``a_ij ~ N(0, 0.015^2)`` per axis.

    Pose and expression are left to the data. Returns a new array; ``strength = 0`` returns a copy.
    """
    pts = np.array(pts, dtype=np.float64, copy=True)
    if strength <= 0:
        return pts
    m = len(pts)
    c = pts.mean(axis=1, keepdims=True)
    r = np.sqrt(((pts - c) ** 2).sum(-1).mean(-1))[:, None, None]  # [M,1,1]

    def randn(*shape: int) -> np.ndarray:
        return torch.randn(*shape, generator=generator, dtype=torch.float64).numpy() * strength

    out = pts.copy()
    for idx in _REGIONS:
        part = pts[:, idx]
        pc = part.mean(axis=1, keepdims=True)
        out[:, idx] = pc + (part - pc) * (1 + 0.06 * randn(m, 1, 2)) + 0.03 * r * randn(m, 1, 2)
    q = (pts - c) / r
    x, y = q[..., 0], q[..., 1]
    basis = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)  # [M,K,6]
    a = 0.015 * randn(m, 6, 2)
    return out + r * np.einsum("mkb,mbd->mkd", basis, a)


_REGIONS = _regions()
_FIXED = 65535.0


def cache_dir() -> Path:
    """Folder of semcom's caches: ``$SEMCOM_CACHE_DIR`` or ``~/.cache/semcom``."""
    return Path(os.environ.get("SEMCOM_CACHE_DIR") or Path.home() / ".cache" / "semcom")


@dataclasses.dataclass
class LandmarkSourceConfig:
    """Which talking-head videos make the source.

    train_portrait / test_portrait: portraits of :func:`talking_head_video` (never the same).
    train_videos / test_videos: videos per split; video ``i`` of a split uses seed ``seed + i``
        (train) or ``seed + 10000 + i`` (test).
    frames: frames per video. size: frame side in pixels (the unit of the task metric).
    """

    train_portrait: str = "grace_hopper"
    test_portrait: str = "astronaut"
    train_videos: int = 60
    test_videos: int = 16
    frames: int = 48
    size: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        if self.train_portrait == self.test_portrait:
            raise ConfigError("train_portrait and test_portrait must differ (never test on training faces)")
        for k in ("train_videos", "test_videos", "frames", "size"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{k} must be a positive int, got {v!r}")

    def key(self) -> str:
        d = dataclasses.asdict(self)
        d["subset"] = list(SUBSET)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


@dataclasses.dataclass
class LandmarkVectorizer:
    """Landmarks ``[M, K, 2]`` (pixels) <-> standardised vectors ``[M, 3 + 2K]`` (see the module docstring).

    mean_radius: ``r_bar``. mean: the training mean of the unstandardised vector ``[d]``. scale:
    one global standard deviation (RMS over the training vectors and components).
    """

    mean_radius: float
    mean: np.ndarray
    scale: float

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    @staticmethod
    def _raw(pts: np.ndarray, mean_radius: float) -> np.ndarray:
        pts = np.asarray(pts, dtype=np.float64)
        if pts.ndim != 3 or pts.shape[-1] != 2 or pts.shape[1] < 2:
            raise InputError(f"landmarks must be shaped [M, K, 2], got {pts.shape}")
        if not np.isfinite(pts).all():
            raise InputError("landmarks contain NaN or Inf")
        k = pts.shape[1]
        c = pts.mean(axis=1)  # [M, 2]
        r = np.sqrt(((pts - c[:, None]) ** 2).sum(-1).mean(-1))  # [M]
        if (r <= 0).any():
            raise InputError("a face has all its landmarks at one point")
        u = (pts - c[:, None]) / r[:, None, None]
        w = np.sqrt(k) / mean_radius
        return np.concatenate([c * w, (r * w)[:, None], u.reshape(len(pts), -1)], axis=1)

    @classmethod
    def fit(cls, pts: np.ndarray) -> LandmarkVectorizer:
        """Fit ``r_bar``, the mean vector and the scale on training landmarks ``[M, K, 2]`` (pixels)."""
        pts = np.asarray(pts, dtype=np.float64)
        if pts.ndim != 3 or len(pts) < 2:
            raise InputError(f"fit needs at least two faces [M, K, 2], got {pts.shape}")
        c = pts.mean(axis=1, keepdims=True)
        rbar = float(np.sqrt(((pts - c) ** 2).sum(-1).mean(-1)).mean())
        raw = cls._raw(pts, rbar)
        mean = raw.mean(axis=0)
        scale = float(np.sqrt(((raw - mean) ** 2).mean()))
        return cls(rbar, mean, scale)

    def to_vectors(self, pts: np.ndarray) -> np.ndarray:
        """Landmarks ``[M, K, 2]`` (pixels) -> float32 vectors ``[M, 3 + 2K]``."""
        if np.asarray(pts).shape[1:] != ((self.dim - 3) // 2, 2):
            raise InputError(f"landmarks must be [M, {(self.dim - 3) // 2}, 2], got {np.asarray(pts).shape}")
        return ((self._raw(pts, self.mean_radius) - self.mean) / self.scale).astype(np.float32)

    def to_landmarks(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Vectors ``[M, d]`` -> landmarks ``[M, K, 2]`` in pixels (float64)."""
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise InputError(f"vectors must be [M, {self.dim}], got {x.shape}")
        v = x * self.scale + self.mean
        k = (self.dim - 3) // 2
        w = np.sqrt(k) / self.mean_radius
        c, r = v[:, :2] / w, v[:, 2] / w
        return c[:, None] + r[:, None, None] * v[:, 3:].reshape(len(v), k, 2)


@dataclasses.dataclass
class LandmarkVectors:
    """The cached source: detected landmarks of both splits, the vectoriser fitted on the training split.

    train_landmarks / test_landmarks: float64 ``[M, K, 2]`` in pixels of the ``size x size`` frame.
    train_ids / test_ids: ``[M, 2]`` (video index, frame index) of each vector.
    """

    config: LandmarkSourceConfig
    train_landmarks: np.ndarray
    test_landmarks: np.ndarray
    train_ids: np.ndarray
    test_ids: np.ndarray
    info: dict
    path: Path | None = None

    def __post_init__(self) -> None:
        self.vectorizer = LandmarkVectorizer.fit(self.train_landmarks)

    @property
    def dim(self) -> int:
        return self.vectorizer.dim

    def vectors(self, split: str) -> torch.Tensor:
        """Standardised vectors of ``"train"`` or ``"test"``, float32 ``[M, d]``."""
        if split not in ("train", "test"):
            raise InputError(f"split must be 'train' or 'test', got {split!r}")
        pts = self.train_landmarks if split == "train" else self.test_landmarks
        return torch.from_numpy(self.vectorizer.to_vectors(pts))

    def landmark_error_px(self, x_hat: torch.Tensor | np.ndarray, split: str = "test",
                          reduction: str = "mean") -> torch.Tensor:
        """The task metric: mean landmark error in pixels between the landmarks of ``x_hat`` (vectors of
        the whole ``split``, in order) and the detected ones (:func:`semcom.metrics.mean_landmark_error`)."""
        from semcom.metrics import mean_landmark_error

        ref = self.train_landmarks if split == "train" else self.test_landmarks
        pred = self.vectorizer.to_landmarks(x_hat)
        if pred.shape != ref.shape:
            raise InputError(f"{len(pred)} vectors given for a split of {len(ref)}")
        return mean_landmark_error(torch.from_numpy(pred), torch.from_numpy(ref), reduction=reduction)

    def checksum(self) -> str:
        """SHA-256 of the landmark arrays (both splits), for provenance."""
        h = hashlib.sha256()
        for a in (self.train_landmarks, self.test_landmarks):
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        return h.hexdigest()

    def describe(self) -> str:
        c = self.config
        return (f"FaceMesh landmark vectors (d={self.dim}, {len(SUBSET)} points) detected on synthetic talking-head "
                f"videos ({c.size}x{c.size}, {c.frames} frames): train {len(self.train_landmarks)} vectors from "
                f"{c.train_videos} '{c.train_portrait}' videos, test {len(self.test_landmarks)} from "
                f"{c.test_videos} '{c.test_portrait}' videos")


def _detect_split(portrait: str, n_videos: int, seed0: int, cfg: LandmarkSourceConfig, progress: bool):
    from tqdm import tqdm

    from semcom.data.faces import FaceLandmarker, detect_video
    from semcom.data.talking_head import talking_head_video

    pts, ids, dropped = [], [], 0
    with FaceLandmarker(static=True) as fl:
        for i in tqdm(range(n_videos), desc=f"landmarks {portrait}", disable=not progress):
            video = talking_head_video(n_frames=cfg.frames, size=cfg.size, portrait=portrait, seed=seed0 + i)
            lms, found = detect_video(video, landmarker=fl)
            dropped += int((~found).sum())
            for t in np.flatnonzero(found):
                pts.append(lms[t][list(SUBSET)])
                ids.append((i, int(t)))
    if not pts:
        raise InputError(f"FaceMesh found no face in the '{portrait}' videos")
    return np.stack(pts), np.asarray(ids, dtype=np.int32), dropped


def build(config: LandmarkSourceConfig | dict | None = None, path: str | Path | None = None,
          progress: bool = True) -> Path:
    """Run FaceMesh on the talking-head videos of both splits and write the cache ``.npz``; returns its path."""
    cfg = _config(config)
    path = Path(path) if path is not None else cache_dir() / f"landmark_vectors_{cfg.key()}.npz"
    t0 = time.time()
    tr, tr_ids, tr_drop = _detect_split(cfg.train_portrait, cfg.train_videos, cfg.seed, cfg, progress)
    te, te_ids, te_drop = _detect_split(cfg.test_portrait, cfg.test_videos, cfg.seed + 10000, cfg, progress)
    try:
        import mediapipe

        mp_version = mediapipe.__version__
    except ImportError:  # pragma: no cover
        mp_version = None
    info = {"config": dataclasses.asdict(cfg), "subset": list(SUBSET), "dropped_frames": {"train": tr_drop, "test": te_drop},
            "mediapipe": mp_version, "detector": "semcom.data.faces.FaceLandmarker(static=True)",
            "build_seconds": round(time.time() - t0, 1),
            "command": "python -m semcom.data.landmark_vectors"}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(tmp, train=np.round(tr * _FIXED).astype(np.uint16), test=np.round(te * _FIXED).astype(np.uint16),
                        train_ids=tr_ids, test_ids=te_ids, info=np.array(json.dumps(info)))
    tmp.replace(path)
    return path


def _config(config) -> LandmarkSourceConfig:
    if config is None:
        return LandmarkSourceConfig()
    if isinstance(config, LandmarkSourceConfig):
        return config
    if isinstance(config, dict):
        return from_dict(LandmarkSourceConfig, config)
    raise ConfigError(f"landmark source config must be a dict or LandmarkSourceConfig, got {type(config).__name__}")


def read(path: str | Path) -> LandmarkVectors:
    """Load a cache file written by :func:`build`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            info = json.loads(str(z["info"]))
            cfg = from_dict(LandmarkSourceConfig, info["config"])
            size = cfg.size
            tr = z["train"].astype(np.float64) / _FIXED * size
            te = z["test"].astype(np.float64) / _FIXED * size
            tr_ids, te_ids = z["train_ids"], z["test_ids"]
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"{path} is not a landmark-vector cache: {exc}") from None
    if tuple(info["subset"]) != SUBSET:
        raise InputError(f"{path} holds another landmark subset; rebuild it")
    return LandmarkVectors(cfg, tr, te, tr_ids, te_ids, info, path)


def _default_path(cfg: LandmarkSourceConfig) -> Path:
    """The packaged copy (``semcom/data/assets``, committed for the default config) or the cache dir."""
    name = f"landmark_vectors_{cfg.key()}.npz"
    packaged = Path(__file__).resolve().parent / "assets" / name
    return packaged if packaged.is_file() else cache_dir() / name


def load_landmark_vectors(config: LandmarkSourceConfig | dict | None = None, *, path: str | Path | None = None,
                          build_missing: bool = True, progress: bool = True) -> LandmarkVectors:
    """The landmark-vector source for ``config``: from ``path``, else the copy packaged with semcom
    (``semcom/data/assets/``, the default config's, about 1.5 MB), else the cache under
    :func:`cache_dir`, built on first use when ``build_missing`` (needs mediapipe: ``scripts/setup.sh``).

    Raises:
        DataUnavailableError: no cache and ``build_missing=False``.
    """
    cfg = _config(config)
    p = Path(path) if path is not None else _default_path(cfg)
    if not p.is_file():
        if not build_missing:
            raise DataUnavailableError(f"no landmark-vector cache at {p}; build it with `python -m semcom.data.landmark_vectors`")
        build(cfg, p, progress=progress)
    data = read(p)
    if data.config != cfg:
        raise InputError(f"{p} was built for {data.config}, not {cfg}")
    return data


def main(argv: list[str] | None = None) -> int:
    """``python -m semcom.data.landmark_vectors [--out FILE] [--train-videos N] ...``: build the cache."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m semcom.data.landmark_vectors", description=main.__doc__)
    ap.add_argument("--out", default=None, help="cache file (default: under the cache dir, keyed by the config)")
    for f in dataclasses.fields(LandmarkSourceConfig):
        ap.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=None)
    args = ap.parse_args(argv)
    over = {f.name: getattr(args, f.name) for f in dataclasses.fields(LandmarkSourceConfig) if getattr(args, f.name) is not None}
    cfg = LandmarkSourceConfig(**over)
    out = build(cfg, args.out)
    d = read(out)
    print(f"{out}: {d.describe()}; dropped frames {d.info['dropped_frames']}; {d.info['build_seconds']} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.exit(main())
