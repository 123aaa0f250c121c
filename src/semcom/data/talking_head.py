"""Synthetic talking-head video from a bundled portrait, and the user's own video files.

The prt paper (Griessel et al., Sec. V) evaluates its keypoint application on 512x512
head-and-shoulders video-conference clips (VoxCeleb2), which cannot be fetched here. This module
makes a stand-in that runs offline: a public-domain portrait shipped inside a pip package is
animated by warping it around its own face landmarks.

**The motion is synthetic.** It is not a recording of a person talking: the head moves by a
small in-plane rotation (about +-6 degrees), translation (about +-5 % of the frame) and scale
(about +-4 %), made of slow sinusoids with seeded random frequencies and phases; the eyes blink
(upper lids close over about 0.25 s, first blink within 1.5 s, then every 1.5-4 s); the mouth
opens and closes like speech (low-passed noise at syllable rate, about 4 Hz, gated by talk/pause
phrases; the jaw drops with it and the inside of the mouth is darkened); the eyebrows rise and
fall slowly. Each frame is the neutral portrait warped piecewise-affinely (:func:`piecewise_affine_warp`)
so that its detected landmarks move to the animated positions; a ring around the face (hair,
neck) moves with the head and the frame border stays fixed. The landmarks of the generated
frames are then *detected* again by :class:`semcom.data.faces.FaceLandmarker` wherever the
application needs them (the warp targets are returned as ``driving`` for reference only).

Portraits (:data:`PORTRAITS`): ``"astronaut"`` (``skimage.data.astronaut``, Eileen Collins, NASA,
public domain) and ``"grace_hopper"`` (matplotlib's ``grace_hopper.jpg``, US Navy, public
domain). The prt concealer is trained on ``grace_hopper`` clips and tested on ``astronaut``
clips (:data:`TRAIN_PORTRAIT`, :data:`TEST_PORTRAIT`), never the same.

Example:
    >>> video = talking_head_video(n_frames=8, size=128, seed=0)
    >>> video.shape, video.dtype
    ((8, 128, 128, 3), dtype('uint8'))
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial import Delaunay, QhullError

from semcom.errors import InputError
from semcom.utils import numpy_rng

from . import faces

__all__ = [
    "PORTRAITS",
    "TRAIN_PORTRAIT",
    "TEST_PORTRAIT",
    "FPS",
    "TalkingHead",
    "portrait_frame",
    "piecewise_affine_warp",
    "border_anchors",
    "talking_head_sequence",
    "talking_head_video",
    "load_video",
]

#: Bundled portraits usable as talking heads (name -> loader name in :mod:`semcom.data.photos`).
PORTRAITS: tuple[str, ...] = ("astronaut", "grace_hopper")
#: Portrait the prt concealer is trained on.
TRAIN_PORTRAIT = "grace_hopper"
#: Portrait the prt application is tested on (the default of :func:`talking_head_video`).
TEST_PORTRAIT = "astronaut"
#: Nominal frame rate of the synthetic clips (frames per second).
FPS = 25.0

# crop: the square around the face is this many face-box sizes wide (head and shoulders)
_CROP_FACTOR = 2.2


def _check_size(size: Any, name: str = "size", minimum: int = 32) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {size!r}")
    return int(size)


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    if img.shape[0] == size and img.shape[1] == size:
        return img
    return np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.LANCZOS))


@functools.lru_cache(maxsize=8)
def _portrait_cached(portrait: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    from .photos import _load_uint8

    full = _load_uint8(portrait)
    with faces.FaceLandmarker() as fl:
        lm = fl(full)
        h, w = full.shape[:2]
        oval = lm[list(faces.FACE_OVAL)] * np.array([w, h])
        (x0, y0), (x1, y1) = oval.min(0), oval.max(0)
        side = min(int(round(_CROP_FACTOR * max(x1 - x0, y1 - y0))), h, w)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.1 * (y1 - y0)  # a little below the face centre
        left = int(np.clip(round(cx - side / 2), 0, w - side))
        top = int(np.clip(round(cy - side / 2), 0, h - side))
        crop = np.ascontiguousarray(full[top : top + side, left : left + side])
        img = _resize(crop, size)
        lm_img = fl(img)
    img.setflags(write=False)
    lm_img.setflags(write=False)
    return img, lm_img


def portrait_frame(portrait: str = TEST_PORTRAIT, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The neutral frame of a talking head: the portrait cropped square around the face.

    Returns:
        ``(frame uint8 [size, size, 3], landmarks float32 [478, 2])``, landmarks normalised to
        [0, 1] and detected on the returned frame (read-only arrays; cached).

    Raises:
        InputError: unknown portrait or bad size.
    """
    if portrait not in PORTRAITS:
        raise InputError(f"unknown portrait {portrait!r}; choose one of {PORTRAITS}")
    return _portrait_cached(portrait, _check_size(size))


def border_anchors(height: int, width: int, per_side: int = 4) -> np.ndarray:
    """Fixed control points on the frame border, ``[4 * per_side, 2]`` (x, y) in pixels."""
    t = np.linspace(0.0, 1.0, per_side + 1)[:-1]
    w1, h1 = width - 1.0, height - 1.0
    top = np.stack([t * w1, np.zeros_like(t)], 1)
    right = np.stack([np.full_like(t, w1), t * h1], 1)
    bottom = np.stack([(1 - t) * w1, np.full_like(t, h1)], 1)
    left = np.stack([np.zeros_like(t), (1 - t) * h1], 1)
    return np.concatenate([top, right, bottom, left]).astype(np.float64)


def piecewise_affine_warp(image: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Warp ``image`` so that its points ``src`` move to ``dst`` (piecewise-affine, bilinear).

    The output plane is triangulated (Delaunay) on ``dst``; every output pixel (centre at integer
    coordinates) is mapped by the affine map taking its triangle onto the corresponding ``src``
    triangle and the image is sampled there bilinearly (inverse mapping, so there are no holes).
    Pixels outside the hull of ``dst`` are copied unchanged: include :func:`border_anchors` in
    both point sets to cover the frame.

    Args:
        image: uint8 ``[H, W, C]``.
        src: ``[P, 2]`` (x, y) pixel positions of the control points in ``image``.
        dst: ``[P, 2]`` where they go in the output (same order).

    Returns:
        uint8 ``[H, W, C]``.

    Raises:
        InputError: shapes disagree, NaN/Inf, fewer than 3 points or a degenerate point set.

    Example:
        >>> img = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
        >>> pts = border_anchors(4, 4, 2)
        >>> bool((piecewise_affine_warp(img, pts, pts) == img).all())
        True
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"image must be an array [H, W, C], got {getattr(image, 'shape', type(image))}")
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.ndim != 2 or src.shape[1] != 2 or src.shape != dst.shape or src.shape[0] < 3:
        raise InputError(f"src and dst must both be [P >= 3, 2], got {src.shape} and {dst.shape}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise InputError("warp control points contain NaN or Inf")
    h, w = image.shape[:2]
    try:
        tri = Delaunay(dst)
    except (QhullError, ValueError) as exc:
        raise InputError(f"cannot triangulate the warp's control points: {exc}") from None
    index = _rasterise(tri.simplices, dst, h, w)  # [H, W] triangle index, -1 outside the hull
    yy, xx = np.mgrid[0:h, 0:w]
    x = xx.astype(np.float64)
    y = yy.astype(np.float64)
    inside = index >= 0
    s = index[inside]
    # per-triangle affine map dst -> src: [x_src, y_src] = A @ [x, y, 1]
    a = _affine_maps(dst, src, tri.simplices)[s]  # [n, 2, 3]
    xi, yi = x[inside], y[inside]
    x[inside] = a[:, 0, 0] * xi + a[:, 0, 1] * yi + a[:, 0, 2]
    y[inside] = a[:, 1, 0] * xi + a[:, 1, 1] * yi + a[:, 1, 2]
    return _bilinear(image, x, y)


def _rasterise(simplices: np.ndarray, pts: np.ndarray, h: int, w: int) -> np.ndarray:
    """Triangle index of every pixel centre (PIL polygon fill; -1 where no triangle covers it)."""
    from PIL import Image, ImageDraw

    canvas = Image.new("I", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    for k, tri in enumerate(simplices):
        draw.polygon([(float(pts[v, 0]), float(pts[v, 1])) for v in tri], fill=k + 1)
    return np.asarray(canvas, dtype=np.int64) - 1


def _affine_maps(dst: np.ndarray, src: np.ndarray, simplices: np.ndarray) -> np.ndarray:
    """``[n_tri, 2, 3]`` affine maps taking each dst triangle onto its src triangle."""
    d = np.concatenate([dst[simplices], np.ones(simplices.shape + (1,))], 2)  # [n, 3, 3] rows (x, y, 1)
    sv = src[simplices]  # [n, 3, 2]
    det = np.linalg.det(d)
    ok = np.abs(det) > 1e-9
    maps = np.zeros((len(simplices), 2, 3))
    maps[:, 0, 0] = maps[:, 1, 1] = 1.0  # degenerate triangles (never rasterised) map to identity
    if ok.any():
        maps[ok] = np.linalg.solve(d[ok], sv[ok]).transpose(0, 2, 1)
    return maps


def _bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample ``image`` at real positions (x, y) ``[H, W]``, bilinear, edge-clamped, rounded to the dtype."""
    h, w = image.shape[:2]
    x = np.clip(x, 0.0, w - 1.0)
    y = np.clip(y, 0.0, h - 1.0)
    x0 = np.minimum(np.floor(x).astype(np.int64), w - 2) if w > 1 else np.zeros(x.shape, np.int64)
    y0 = np.minimum(np.floor(y).astype(np.int64), h - 2) if h > 1 else np.zeros(y.shape, np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    img = image.astype(np.float32)
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bot = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    out = top * (1 - fy) + bot * fy
    return np.clip(np.round(out), 0, 255).astype(image.dtype)


@dataclasses.dataclass(frozen=True)
class TalkingHead:
    """A synthetic talking-head clip.

    Attributes:
        frames: uint8 ``[T, H, W, 3]``.
        driving: float32 ``[T, 478, 2]``: where the warp moved the portrait's landmarks
            (normalised to [0, 1]); the motion's ground truth, not a detection.
        base: uint8 ``[H, W, 3]``, the neutral portrait frame the clip is warped from.
        base_landmarks: float32 ``[478, 2]`` detected on ``base``.
        motion: per-frame parameters ``{name: float array [T]}``: ``rotation_deg``, ``scale``,
            ``tx``, ``ty`` (fractions of the frame), ``blink`` (0 open .. 1 closed), ``mouth``
            (0 closed .. 1 fully open), ``brow`` (0 .. 1 raised).
        portrait, seed, fps: how it was made.
    """

    frames: np.ndarray
    driving: np.ndarray
    base: np.ndarray
    base_landmarks: np.ndarray
    motion: dict
    portrait: str
    seed: int
    fps: float


def _smooth_noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    pad = int(4 * sigma) + 1
    x = gaussian_filter1d(rng.standard_normal(n + 2 * pad), sigma)[pad : pad + n]
    return x * math.sqrt(2.0 * math.sqrt(math.pi) * sigma)  # unit variance (stationary, not per clip)


def _motion(rng: np.random.Generator, n: int, fps: float, amplitude: float) -> dict[str, np.ndarray]:
    s = np.arange(n) / fps

    def wave(amps: tuple[float, ...], freqs: tuple[float, ...]) -> np.ndarray:
        out = np.zeros(n)
        for a, f in zip(amps, freqs, strict=True):
            out += a * np.sin(2 * np.pi * f * rng.uniform(0.8, 1.25) * s + rng.uniform(0, 2 * np.pi))
        return out

    rot = amplitude * wave((4.0, 2.0), (0.23, 0.61))
    tx = amplitude * wave((0.03, 0.015), (0.17, 0.53))
    ty = amplitude * wave((0.015, 0.008), (0.21, 0.71))
    scale = 1.0 + amplitude * wave((0.03, 0.01), (0.11, 0.43))
    # blinks: ~0.25 s closures, the first within 1.5 s, then every 1.5-4 s
    blink = np.zeros(n)
    dur = max(3, int(round(0.25 * fps)))
    start = rng.uniform(0.3, 1.5) * fps
    while start < n:
        i0 = int(start)
        u = (np.arange(i0, min(n, i0 + dur)) - i0 + 0.5) / dur
        blink[i0 : i0 + u.size] = np.maximum(blink[i0 : i0 + u.size], 0.95 * np.sin(np.pi * u) ** 0.7)
        start += rng.uniform(1.5, 4.0) * fps
    # speech: syllable-rate noise, rectified, gated by talk / pause phrases
    syll = _smooth_noise(rng, n, sigma=fps / 10.0)
    phrase = gaussian_filter1d((_smooth_noise(rng, n, sigma=fps * 0.6) > -0.4).astype(float), fps / 12.0)
    mouth = np.clip(0.35 + 0.45 * syll, 0.0, 1.0) * phrase
    brow = np.clip(0.5 * _smooth_noise(rng, n, sigma=fps * 0.5), 0.0, 1.0)
    return {"rotation_deg": rot, "scale": scale, "tx": tx, "ty": ty, "blink": blink,
            "mouth": mouth * min(1.0, amplitude), "brow": brow * min(1.0, amplitude)}


def _animate(base_px: np.ndarray, m: dict[str, float], size: int) -> np.ndarray:
    """Landmarks ``[478, 2]`` (pixels) of one animated frame."""
    p = base_px.copy()
    face_w = np.ptp(base_px[list(faces.FACE_OVAL), 0])
    face_h = np.linalg.norm(base_px[152] - base_px[10])
    # blink: the upper lids close onto the lower lids; the irises are squashed with them
    for upper, lower, iris in ((faces.RIGHT_EYE_UPPER, faces.RIGHT_EYE_LOWER, faces.RIGHT_IRIS),
                               (faces.LEFT_EYE_UPPER, faces.LEFT_EYE_LOWER, faces.LEFT_IRIS)):
        u, d = list(upper[1:-1]), list(lower[1:-1])
        c = m["blink"]
        p[u, 1] = base_px[u, 1] + c * 0.85 * (base_px[d, 1] - base_px[u, 1])
        p[d, 1] = base_px[d, 1] + c * 0.15 * (base_px[u, 1] - base_px[d, 1])
        y_meet = base_px[d, 1].mean() - 0.15 * (base_px[d, 1].mean() - base_px[u, 1].mean())
        i = list(iris)
        p[i, 1] = base_px[i, 1] + c * 0.85 * (y_meet - base_px[i, 1])
    # mouth: the jaw and lower lip drop, the upper lip lifts a little
    a = m["mouth"] * 0.3 * np.ptp(base_px[[61, 291], 0])
    corner_y = base_px[[61, 291, 78, 308], 1].mean()
    xc = base_px[[61, 291], 0].mean()
    below = base_px[:, 1] > corner_y + 1e-6
    weight = 0.85 * np.exp(-(((base_px[:, 0] - xc) / (0.5 * face_w)) ** 2))
    p[below, 1] += a * weight[below]
    lower_lips = list(set(faces.LIPS_INNER_LOWER[1:-1]) | set(faces.LIPS_OUTER_LOWER[1:-1]))
    p[lower_lips, 1] = base_px[lower_lips, 1] + a
    p[list(faces.LIPS_INNER_UPPER[1:-1]), 1] -= 0.1 * a
    p[[61, 291, 78, 308], 1] += 0.4 * a
    # eyebrows rise
    brows = list(faces.RIGHT_BROW + faces.LEFT_BROW)
    p[brows, 1] -= m["brow"] * 0.05 * face_h
    return p


def _similarity(points: np.ndarray, centre: np.ndarray, m: dict[str, float], size: int) -> np.ndarray:
    th = math.radians(m["rotation_deg"])
    rot = m["scale"] * np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    return centre + (points - centre) @ rot.T + size * np.array([m["tx"], m["ty"]])


def talking_head_sequence(n_frames: int = 64, size: int = 256, seed: int = 0, portrait: str = TEST_PORTRAIT,
                          amplitude: float = 1.0, fps: float = FPS) -> TalkingHead:
    """A synthetic talking-head clip with its motion parameters (see the module docstring).

    Args:
        n_frames: T >= 1.
        size: frame height and width in pixels (>= 64).
        seed: seeds the motion (the same seed gives the same clip).
        portrait: one of :data:`PORTRAITS`.
        amplitude: scales the head motion (1 = the documented ranges; 0 = a still, neutral face).
        fps: frame rate the motion is timed at.

    Returns:
        :class:`TalkingHead`.
    """
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
        raise InputError(f"n_frames must be a positive integer, got {n_frames!r}")
    size = _check_size(size, minimum=64)
    try:
        amplitude, fps = float(amplitude), float(fps)
    except (TypeError, ValueError):
        raise InputError(f"amplitude and fps must be numbers, got {amplitude!r}, {fps!r}") from None
    if not (np.isfinite(amplitude) and 0.0 <= amplitude <= 2.0):
        raise InputError(f"amplitude must lie in [0, 2], got {amplitude}")
    if not (np.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be positive, got {fps}")
    base, base_lm = portrait_frame(portrait, size)
    rng = numpy_rng(seed)
    motion = _motion(rng, int(n_frames), fps, amplitude)
    base_px = base_lm.astype(np.float64) * size
    centre = base_px[list(faces.FACE_OVAL)].mean(0)
    ring = centre + 1.35 * (base_px[list(faces.FACE_OVAL)] - centre)
    ring = np.clip(ring, 2.0, size - 3.0)
    border = border_anchors(size, size, 6)
    src = np.concatenate([base_px, ring, border])
    frames = np.empty((n_frames, size, size, 3), dtype=np.uint8)
    driving = np.empty((n_frames, faces.N_LANDMARKS, 2), dtype=np.float32)
    from skimage.draw import polygon

    mouth_ring = list(faces.LIPS_INNER_UPPER) + list(faces.LIPS_INNER_LOWER[::-1][1:-1])
    for t in range(n_frames):
        m = {k: float(v[t]) for k, v in motion.items()}
        local = _animate(base_px, m, size)
        moved = _similarity(np.concatenate([local, ring]), centre, m, size)
        moved[:, :] = np.clip(moved, 1.0, size - 2.0)
        dst = np.concatenate([moved, border])
        frame = piecewise_affine_warp(base, src, dst)
        if m["mouth"] > 0.05:  # the inside of the open mouth is dark
            pts = moved[mouth_ring]
            rr, cc = polygon(pts[:, 1], pts[:, 0], shape=frame.shape[:2])
            alpha = min(1.0, 1.5 * m["mouth"]) * 0.75
            dark = np.array([45.0, 18.0, 22.0])
            frame[rr, cc] = np.round((1 - alpha) * frame[rr, cc] + alpha * dark).astype(np.uint8)
        frames[t] = frame
        driving[t] = moved[: faces.N_LANDMARKS] / size
    return TalkingHead(frames=frames, driving=driving, base=np.array(base), base_landmarks=np.array(base_lm),
                       motion={k: v.astype(np.float32) for k, v in motion.items()}, portrait=portrait,
                       seed=int(seed), fps=fps)


def talking_head_video(n_frames: int = 64, size: int = 256, seed: int = 0, portrait: str = TEST_PORTRAIT,
                       amplitude: float = 1.0) -> np.ndarray:
    """A synthetic talking-head clip, uint8 ``[T, H, W, 3]`` (see :func:`talking_head_sequence`).

    A 64-frame 256x256 clip takes a few seconds on one CPU core.
    """
    return talking_head_sequence(n_frames, size, seed, portrait, amplitude).frames


def load_video(path: str | os.PathLike, size: int = 256, max_frames: int | None = None) -> np.ndarray:
    """The user's video file as square frames, uint8 ``[T, size, size, 3]``.

    Each frame is centre-cropped to a square and resized (Lanczos) to ``size``; decoding goes
    through :func:`semcom.data.read_video` (ffmpeg). Face landmarks are not checked here.

    Raises:
        DataError: missing or undecodable file. InputError: bad ``size`` or ``max_frames``.
    """
    from .photos import center_crop
    from .video import read_video

    size = _check_size(size)
    frames = read_video(path, max_frames=max_frames)  # [T, 3, H, W] float in [0, 1]
    arr = np.round(frames.numpy().transpose(0, 2, 3, 1) * 255.0).astype(np.uint8)
    side = min(arr.shape[1], arr.shape[2])
    return np.stack([_resize(np.ascontiguousarray(center_crop(f, side, side)), size) for f in arr])
