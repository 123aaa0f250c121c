"""The prt keypoint video-conferencing application: E, P, R and Syn for face landmarks.

Griessel et al., "Importance-Driven Semantic Resilience for Challenging Future 6G Channels"
(``prt``), Sec. V. The paper drives a First Order Motion Model (FOMM): its keypoint detector is
E, a weighted mix of landmark motion and an emotion classifier's gradient is P, a small FC
network is R and FOMM's generator is Syn. Neither FOMM's weights nor an emotion classifier can
be had offline, so this module implements the same roles with what runs here:

* **E** (:class:`KeypointExtractor`): MediaPipe FaceMesh landmarks (:mod:`semcom.data.faces`)
  of a frame, a subset of P = 120 of the 478 points grouped into N = 10 symbols of 12 points
  (:data:`SYMBOL_GROUPS`), every coordinate uniformly quantised to 8 bits, so each symbol is
  12 x 2 x 8 = **192 bits**, the symbol size of Table I (``semcom prt table1``: a code block of
  m in {2, 4, 9} symbols carries ``192 m`` bits). With a ``reference`` (the source frame's
  landmarks, which the receiver holds since its synthesiser warps that frame) the coordinates
  are displacements from it, quantised over [-0.15, 0.15] (step 0.3/255 = 0.0012 of the frame
  width, 0.3 px at 256x256); without one, absolute coordinates over [0, 1] (step 1/255).
* **P** (:class:`KeypointImportance`): per symbol, ``w_m`` x landmark motion since the previous
  frame (mean displacement of its points) plus ``w_e`` x its effect on the synthesised frame
  (mean absolute pixel change of Syn when that symbol alone is held at its previous value,
  i.e. what losing it and concealing by hold-last would cost), each term normalised over the
  frame, plus a small floor so no symbol has zero weight; defaults ``w_m = w_e = 0.5``. The
  effect term stands in for the paper's emotion-classifier gradient (no such weights here).
* **R**: :class:`FCConcealer` (the paper's FC net, :mod:`semcom.models.concealer`, trained by
  ``semcom prt train-concealer``; :func:`load_concealer` loads the committed checkpoint) and
  two baselines, :class:`HoldLastConcealer` (a missing symbol keeps its last value) and
  :class:`ZeroMotionConcealer` (a missing symbol takes its position in the source frame: zero
  motion relative to the frame Syn warps). Received symbols always pass through bit-exactly.
* **Syn** (:class:`WarpSynthesizer`): the source frame warped piecewise-affinely so that its
  landmarks move to the received ones (the warp of :mod:`semcom.data.talking_head`). FOMM's
  generator weights cannot be had offline; Syn is pluggable (any :class:`Synthesizer`).

One frame through the whole chain (Fig. 1)::

    >>> import torch
    >>> from semcom.data.talking_head import talking_head_video
    >>> from semcom.data.faces import detect_video
    >>> from semcom.semantics.allocation import AllocatingEncoder, CyclicImportance
    >>> from semcom.semantics.symbols import CodeBlockDecoder, CodeBlockGrant, SemanticPipeline
    >>> video = talking_head_video(n_frames=2, size=128)
    >>> lms, _ = detect_video(video)
    >>> roles = keypoint_roles(video[0], lms[0], concealer="hold")
    >>> pipe = SemanticPipeline(roles.extractor, roles.importance, AllocatingEncoder(CyclicImportance()),
    ...                         CodeBlockDecoder(), roles.concealer, roles.synthesizer)
    >>> grant = CodeBlockGrant.uniform(3, 4 * 192)           # Table I test 5: K = 3, m = 4
    >>> lossy = lambda bits, g: (bits, torch.tensor([True, False, True]))  # block 1 lost
    >>> out = pipe.step(lms[1], grant, lossy)                # source: a frame or its landmarks
    >>> out.shape, out.dtype
    ((128, 128, 3), dtype('uint8'))
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from semcom.data import faces
from semcom.errors import ConfigError, InputError
from semcom.semantics.symbols import (
    ErrorConcealer,
    ImportanceFunction,
    ReceivedFrame,
    SemanticExtractor,
    SemanticFrame,
    Synthesizer,
)

__all__ = [
    "SYMBOL_GROUPS",
    "SYMBOL_NAMES",
    "SYMBOL_BITS",
    "KeypointExtractor",
    "KeypointImportance",
    "WarpSynthesizer",
    "LandmarkConcealer",
    "HoldLastConcealer",
    "ZeroMotionConcealer",
    "FCConcealer",
    "load_concealer",
    "KeypointRoles",
    "keypoint_roles",
]

#: The N = 10 symbols: name and the 12 MediaPipe landmark indices each carries (120 in all,
#: disjoint). Eyes: the lid contour without the lid mid-points (those travel with the irises);
#: brows: the 10 brow points and 2 forehead points above; irises: both irises (centre + 4) and
#: the two upper-lid mid-points (gaze and eye opening); head pose: rigid points (forehead
#: midline and sides, cheekbones, cheeks, face sides, chin) that carry the global head motion.
SYMBOL_GROUPS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("face_oval", faces.FACE_OVAL[::3]),
    ("right_eye", (33, 246, 161, 160, 158, 157, 173, 133, 155, 153, 144, 163)),
    ("left_eye", (263, 466, 388, 387, 385, 384, 398, 362, 382, 380, 373, 390)),
    ("right_brow", faces.RIGHT_BROW + (104, 69)),
    ("left_brow", faces.LEFT_BROW + (333, 299)),
    ("lips_outer", (61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91)),
    ("lips_inner", (78, 80, 82, 13, 312, 310, 308, 318, 317, 14, 87, 88)),
    ("nose", (168, 6, 197, 195, 5, 4, 1, 2, 98, 327, 64, 294)),
    ("irises", faces.RIGHT_IRIS + faces.LEFT_IRIS + (159, 386)),
    ("head_pose", (151, 9, 8, 108, 337, 116, 345, 50, 280, 234, 454, 199)),
)
SYMBOL_NAMES: tuple[str, ...] = tuple(name for name, _ in SYMBOL_GROUPS)
#: Payload bits of every symbol with the default 8 bits per coordinate (the Table I size).
SYMBOL_BITS = 192

_DEFAULT_OFFSET_RANGE = (-0.15, 0.15)


def _as_points(x: Any, n: int, name: str) -> np.ndarray:
    """``[n, 2]`` float64 landmarks (checked finite)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a numeric array [{n}, 2]: {exc}") from None
    if arr.shape != (n, 2):
        raise InputError(f"{name} must be shaped [{n}, 2], got {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"{name} contains NaN or Inf")
    return arr


def _bits_of(codes: np.ndarray, bits: int) -> torch.Tensor:
    """Unsigned integer codes ``[k]`` to MSB-first bits ``[k * bits]`` (float 0/1)."""
    shifts = np.arange(bits - 1, -1, -1)
    return torch.from_numpy(((codes[:, None] >> shifts) & 1).reshape(-1).astype(np.float32))


def _codes_of(payload: torch.Tensor, bits: int) -> np.ndarray:
    b = payload.detach().cpu().numpy().astype(np.int64).reshape(-1, bits)
    return (b << np.arange(bits - 1, -1, -1)).sum(1)


class KeypointExtractor(SemanticExtractor):
    """E: a frame (or its 478 landmarks) -> N = 10 symbols of quantised landmark coordinates.

    Args:
        reference: float ``[478, 2]`` landmarks of the source frame; when given, symbols carry
            displacements from it (the receiver holds it). ``None``: absolute coordinates.
        bits: bits per coordinate (default 8, so a symbol is 192 bits).
        value_range: ``(lo, hi)`` of the uniform quantiser; default ``(-0.15, 0.15)`` with a
            reference, ``(0, 1)`` without. Values outside are clipped.
        groups: the symbols as ``(name, indices)`` pairs (default :data:`SYMBOL_GROUPS`); all
            groups must have the same number of points, so all symbols have the same size.
        landmarker: detector used when ``extract`` gets a frame (default: created on first use).

    The payload of symbol i is its points' (x, y) codes, point by point, each code MSB first.
    Code ``q`` in ``[0, 2^b - 1]`` stands for ``lo + q (hi - lo) / (2^b - 1)``: the error inside
    the range is at most half a step, ``(hi - lo) / (2 (2^b - 1))``.

    Example:
        >>> import numpy as np
        >>> e = KeypointExtractor()
        >>> lm = np.random.default_rng(0).uniform(0.2, 0.8, (478, 2))
        >>> f = e.extract(lm)
        >>> f.n_symbols, set(f.sizes)
        (10, {192})
        >>> bool(np.abs(e.dequantise(f) - lm[e.indices]).max() <= e.step / 2 + 1e-12)
        True
    """

    def __init__(self, reference: Any = None, bits: int = 8, value_range: tuple[float, float] | None = None,
                 groups: Sequence[tuple[str, Sequence[int]]] = SYMBOL_GROUPS,
                 landmarker: faces.FaceLandmarker | None = None) -> None:
        if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 16:
            raise ConfigError(f"bits must be an integer in [1, 16], got {bits!r}")
        self.bits = int(bits)
        self.reference = None if reference is None else _as_points(reference, faces.N_LANDMARKS, "reference")
        if value_range is None:
            value_range = _DEFAULT_OFFSET_RANGE if self.reference is not None else (0.0, 1.0)
        try:
            lo, hi = (float(v) for v in value_range)
        except (TypeError, ValueError):
            raise ConfigError(f"value_range must be (lo, hi), got {value_range!r}") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            raise ConfigError(f"value_range must have finite lo < hi, got {value_range!r}")
        self.value_range = (lo, hi)
        try:
            self.groups = tuple((str(n), tuple(int(i) for i in idx)) for n, idx in groups)
        except (TypeError, ValueError):
            raise ConfigError("groups must be (name, indices) pairs") from None
        if not self.groups:
            raise ConfigError("groups must not be empty")
        sizes = {len(idx) for _, idx in self.groups}
        if len(sizes) != 1 or 0 in sizes:
            raise ConfigError(f"every group must have the same (non-zero) number of points, got {sorted(sizes)}")
        flat = [i for _, idx in self.groups for i in idx]
        if len(set(flat)) != len(flat) or min(flat) < 0 or max(flat) >= faces.N_LANDMARKS:
            raise ConfigError("group indices must be distinct landmark indices in [0, 478)")
        self.indices = np.asarray(flat, dtype=np.int64)
        self.points_per_symbol = sizes.pop()
        self._landmarker = landmarker

    # ---- sizes -------------------------------------------------------------------------
    @property
    def n_symbols(self) -> int:
        """N."""
        return len(self.groups)

    @property
    def n_points(self) -> int:
        """P, the transmitted landmarks (``N x points_per_symbol``)."""
        return int(self.indices.size)

    @property
    def symbol_bits(self) -> int:
        """n_i of every symbol: ``points_per_symbol x 2 x bits``."""
        return self.points_per_symbol * 2 * self.bits

    @property
    def sizes(self) -> tuple[int, ...]:
        """(n_1, ..., n_N)."""
        return (self.symbol_bits,) * self.n_symbols

    @property
    def step(self) -> float:
        """Quantiser step (normalised coordinate units)."""
        lo, hi = self.value_range
        return (hi - lo) / (2**self.bits - 1)

    def symbol_slice(self, i: int) -> slice:
        """Rows of symbol i in the ``[P, 2]`` point array."""
        k = self.points_per_symbol
        return slice(i * k, (i + 1) * k)

    # ---- landmarks ---------------------------------------------------------------------
    def landmarks(self, source: Any) -> np.ndarray:
        """478 landmarks ``[478, 2]`` of a source: given directly, or detected on a frame ``[H, W, 3]``."""
        if isinstance(source, torch.Tensor):
            source = source.detach().cpu().numpy()
        arr = np.asarray(source) if not isinstance(source, np.ndarray) else source
        if arr.shape == (faces.N_LANDMARKS, 2):
            return _as_points(arr, faces.N_LANDMARKS, "landmarks")
        if arr.ndim == 3 and arr.shape[-1] == 3:
            if self._landmarker is None:
                self._landmarker = faces.FaceLandmarker()
            return self._landmarker(arr).astype(np.float64)
        raise InputError(f"a keypoint source is a frame [H, W, 3] or landmarks [478, 2], got shape {arr.shape}")

    def select(self, landmarks: Any) -> np.ndarray:
        """The transmitted subset ``[P, 2]`` (in symbol order) of 478 landmarks."""
        return _as_points(landmarks, faces.N_LANDMARKS, "landmarks")[self.indices]

    def _origin(self) -> np.ndarray:
        return np.zeros((self.n_points, 2)) if self.reference is None else self.reference[self.indices]

    # ---- quantiser ---------------------------------------------------------------------
    def quantise(self, points: Any) -> np.ndarray:
        """Integer codes ``[P, 2]`` of the transmitted points ``[P, 2]`` (absolute coordinates)."""
        pts = _as_points(points, self.n_points, "points")
        lo, hi = self.value_range
        z = (pts - self._origin() - lo) / (hi - lo) * (2**self.bits - 1)
        return np.clip(np.round(z), 0, 2**self.bits - 1).astype(np.int64)

    def codes_to_points(self, codes: np.ndarray) -> np.ndarray:
        """Absolute coordinates ``[P, 2]`` of integer codes ``[P, 2]``."""
        lo, _ = self.value_range
        return self._origin() + lo + np.asarray(codes, dtype=np.float64) * self.step

    def payloads(self, points: Any) -> list[torch.Tensor]:
        """The N symbol payloads (``[n_i]`` bits) of the transmitted points ``[P, 2]``."""
        codes = self.quantise(points)
        return [_bits_of(codes[self.symbol_slice(i)].reshape(-1), self.bits) for i in range(self.n_symbols)]

    def encode_points(self, points: Any, index: int = 0) -> SemanticFrame:
        """A frame (equal importance) from the transmitted points ``[P, 2]``."""
        return SemanticFrame.from_payloads(self.payloads(points), index=index)

    def extract(self, source: Any, index: int = 0) -> SemanticFrame:
        """E(I): the frame of symbols of a video frame ``[H, W, 3]`` or of its landmarks ``[478, 2]``.

        Raises:
            NoFaceError: a frame without a face. InputError: malformed input.
        """
        return self.encode_points(self.select(self.landmarks(source)), index=index)

    def decode_symbol(self, payload: Any) -> np.ndarray:
        """Codes of one symbol payload -> its points' codes ``[points_per_symbol, 2]``."""
        p = torch.as_tensor(payload, dtype=torch.float32).reshape(-1)
        if p.numel() != self.symbol_bits:
            raise InputError(f"a symbol payload has {self.symbol_bits} bits, got {p.numel()}")
        return _codes_of(p, self.bits).reshape(self.points_per_symbol, 2)

    def dequantise(self, frame: SemanticFrame | ReceivedFrame | Sequence[Any] | dict) -> np.ndarray:
        """Transmitted points ``[P, 2]`` (absolute, normalised) from a frame's payloads.

        Accepts a :class:`SemanticFrame`, a :class:`ReceivedFrame` (missing symbols give NaN rows),
        a list of N payloads, or a ``{i: payload}`` dict (absent symbols give NaN rows).
        """
        if isinstance(frame, SemanticFrame):
            payloads: dict = dict(enumerate(frame.payloads))
        elif isinstance(frame, ReceivedFrame):
            payloads = dict(frame.payloads)
        elif isinstance(frame, dict):
            payloads = dict(frame)
        elif isinstance(frame, (list, tuple)):
            payloads = dict(enumerate(frame))
        else:
            raise InputError(f"cannot dequantise a {type(frame).__name__}")
        if any(not isinstance(i, (int, np.integer)) or not 0 <= i < self.n_symbols for i in payloads):
            raise InputError(f"symbol indices must lie in [0, {self.n_symbols})")
        codes = np.zeros((self.n_points, 2), dtype=np.int64)
        known = np.zeros(self.n_points, dtype=bool)
        for i, p in payloads.items():
            sl = self.symbol_slice(int(i))
            codes[sl] = self.decode_symbol(p)
            known[sl] = True
        pts = self.codes_to_points(codes)
        pts[~known] = np.nan
        return pts

    def neutral_points(self) -> np.ndarray:
        """The rest pose ``[P, 2]``: the reference's points, or the frame centre without a reference."""
        if self.reference is not None:
            return self.codes_to_points(self.quantise(self.reference[self.indices]))
        return self.codes_to_points(self.quantise(np.full((self.n_points, 2), 0.5)))

    def full_landmarks(self, points: Any) -> np.ndarray:
        """478 landmarks with the transmitted ones replaced by ``points`` ``[P, 2]``.

        The others come from the reference (or are NaN without one): the receiver knows only P.
        """
        pts = _as_points(points, self.n_points, "points")
        out = np.full((faces.N_LANDMARKS, 2), np.nan) if self.reference is None else self.reference.copy()
        out[self.indices] = pts
        return out


# --------------------------------------------------------------------------------------------
# Syn
# --------------------------------------------------------------------------------------------


class WarpSynthesizer(Synthesizer):
    """Syn: the source frame warped so that its landmarks move to the received ones.

    FOMM's generator (the paper's Syn) needs weights that cannot be had offline; this is a
    piecewise-affine warp (:func:`semcom.data.talking_head.piecewise_affine_warp`) of the source
    frame, with control points: the P transmitted landmarks, a ring around the face (1.35 x the
    face oval) that follows the similarity transform fitted to the rigid points (head pose and
    face oval symbols), and fixed points on the frame border. When the lips part further than in
    the source frame, the inside of the mouth is drawn dark (a warp alone can only stretch the
    closed lips). Syn is pluggable: any :class:`Synthesizer` can replace it.

    Args:
        source_frame: uint8 ``[H, W, 3]``, the frame sent once at the start (FOMM's source image).
        source_landmarks: float ``[478, 2]`` detected on it.
        extractor: the :class:`KeypointExtractor` whose symbols are synthesised (default: one
            with ``reference=source_landmarks``).

    ``synthesize`` takes a :class:`SemanticFrame` (dequantised with the extractor), the
    transmitted points ``[P, 2]`` or full landmarks ``[478, 2]``; it returns uint8 ``[H, W, 3]``.
    The source landmarks give back the source frame exactly.
    """

    def __init__(self, source_frame: Any, source_landmarks: Any, extractor: KeypointExtractor | None = None) -> None:
        self.frame = faces.check_frame(source_frame, "source_frame")
        self.source_landmarks = _as_points(source_landmarks, faces.N_LANDMARKS, "source_landmarks")
        self.extractor = extractor if extractor is not None else KeypointExtractor(reference=self.source_landmarks)
        h, w = self.frame.shape[:2]
        self._scale = np.array([w, h], dtype=np.float64)
        from semcom.data.talking_head import border_anchors

        src_pts = self.source_landmarks[self.extractor.indices] * self._scale
        full = self.source_landmarks * self._scale
        oval = full[list(faces.FACE_OVAL)]
        centre = oval.mean(0)
        self._ring = np.clip(centre + 1.35 * (oval - centre), 1.0, np.array([w - 2.0, h - 2.0]))
        self._border = border_anchors(h, w, 6)
        self._src = np.concatenate([src_pts, self._ring, self._border])
        rigid = {"head_pose", "face_oval"}
        rows = [np.arange(self.extractor.symbol_slice(i).start, self.extractor.symbol_slice(i).stop)
                for i, (name, _) in enumerate(self.extractor.groups) if name in rigid]
        self._rigid = np.concatenate(rows) if rows else np.arange(self.extractor.n_points)
        self._src_gap = self._lip_gap(self.extractor.select(self.source_landmarks))

    def _lip_gap(self, pts: np.ndarray) -> float | None:
        """Inner-lip opening (normalised by mouth width) of the points ``[P, 2]``, if the lips are sent."""
        pos = {int(j): k for k, j in enumerate(self.extractor.indices)}
        if not all(i in pos for i in (13, 14, 78, 308)):
            return None
        width = np.linalg.norm((pts[pos[308]] - pts[pos[78]]) * self._scale)
        return float(np.linalg.norm((pts[pos[14]] - pts[pos[13]]) * self._scale) / max(width, 1e-6))

    def resized(self, size: int) -> "WarpSynthesizer":
        """The same synthesiser on a ``size x size`` copy of the source frame (for cheap previews)."""
        from PIL import Image

        small = np.asarray(Image.fromarray(self.frame).resize((int(size), int(size)), Image.Resampling.BILINEAR))
        return WarpSynthesizer(small, self.source_landmarks, self.extractor)

    def points_of(self, frame: Any) -> np.ndarray:
        """The transmitted points ``[P, 2]`` from a frame, points or full landmarks."""
        if isinstance(frame, (SemanticFrame, ReceivedFrame)):
            pts = self.extractor.dequantise(frame)
            if not np.isfinite(pts).all():
                raise InputError("cannot synthesise a frame with missing symbols: conceal it first")
            return pts
        if isinstance(frame, torch.Tensor):
            frame = frame.detach().cpu().numpy()
        arr = np.asarray(frame, dtype=np.float64)
        if arr.shape == (faces.N_LANDMARKS, 2):
            return self.extractor.select(arr)
        return _as_points(arr, self.extractor.n_points, "points")

    def synthesize(self, frame: Any) -> np.ndarray:
        """Syn: uint8 ``[H, W, 3]``."""
        from semcom.data.talking_head import piecewise_affine_warp

        pts = self.points_of(frame)
        dst_pts = pts * self._scale
        src_pts = self._src[: self.extractor.n_points]
        # the ring follows the similarity transform of the rigid points (least squares)
        a, b = src_pts[self._rigid], dst_pts[self._rigid]
        ma, mb = a.mean(0), b.mean(0)
        ac, bc = a - ma, b - mb
        denom = (ac**2).sum()
        if denom > 1e-9:
            s_cos = (ac * bc).sum() / denom
            s_sin = (ac[:, 0] * bc[:, 1] - ac[:, 1] * bc[:, 0]).sum() / denom
        else:  # pragma: no cover - degenerate reference
            s_cos, s_sin = 1.0, 0.0
        rot = np.array([[s_cos, -s_sin], [s_sin, s_cos]])
        h, w = self.frame.shape[:2]
        ring = np.clip(mb + (self._ring - ma) @ rot.T, 1.0, np.array([w - 2.0, h - 2.0]))
        dst = np.concatenate([np.clip(dst_pts, 0.0, np.array([w - 1.0, h - 1.0])), ring, self._border])
        out = piecewise_affine_warp(self.frame, self._src, dst)
        gap = self._lip_gap(pts)
        if gap is not None and self._src_gap is not None and gap > self._src_gap + 0.02:
            out = self._darken_mouth(out, pts, min(1.0, (gap - self._src_gap) / 0.25))
        return out

    def _darken_mouth(self, img: np.ndarray, pts: np.ndarray, amount: float) -> np.ndarray:
        from skimage.draw import polygon

        pos = {int(j): k for k, j in enumerate(self.extractor.indices)}
        ring = [i for i in (78, 80, 82, 13, 312, 310, 308, 318, 317, 14, 87, 88) if i in pos]
        if len(ring) < 3:
            return img
        poly = pts[[pos[i] for i in ring]] * self._scale
        rr, cc = polygon(poly[:, 1], poly[:, 0], shape=img.shape[:2])
        alpha = 0.75 * amount
        out = img.copy()
        out[rr, cc] = np.round((1 - alpha) * out[rr, cc] + alpha * np.array([45.0, 18.0, 22.0])).astype(np.uint8)
        return out


# --------------------------------------------------------------------------------------------
# P
# --------------------------------------------------------------------------------------------


class KeypointImportance(ImportanceFunction):
    """P: importance of each landmark symbol from its motion and its effect on the synthesised frame.

    ``rho_i ∝ w_m m_i / sum_k m_k + w_e e_i / sum_k e_k + floor / N`` where

    * ``m_i``: mean displacement (normalised units) of symbol i's points since the previous frame;
    * ``e_i``: mean absolute pixel difference between Syn(this frame) and Syn(this frame with
      symbol i held at its previous value), computed on a ``effect_size`` x ``effect_size`` copy
      of the source frame (cheap; N + 1 warps per frame). It stands in for the paper's
      emotion-classifier gradient, which needs weights that do not exist here: both ask "how
      much does the receiver's picture suffer if this symbol is lost".

    A term whose sum is zero (e.g. no motion) contributes uniform weights. The first frame (or a
    frame with ``index == 0``, which restarts the clip) has no previous frame: motion is measured
    from the extractor's reference when it has one, else the weights are uniform.

    Args:
        extractor: the :class:`KeypointExtractor` that made the frames (for dequantising).
        synthesizer: a :class:`WarpSynthesizer` for the effect term (``None``: motion only).
        motion_weight, effect_weight: ``w_m``, ``w_e`` (defaults 0.5, 0.5).
        effect_size: resolution of the effect term's warps.
        floor: share of uniform weight mixed in so every symbol has positive importance.
    """

    def __init__(self, extractor: KeypointExtractor, synthesizer: WarpSynthesizer | None = None,
                 motion_weight: float = 0.5, effect_weight: float = 0.5, effect_size: int = 64,
                 floor: float = 0.02) -> None:
        if not isinstance(extractor, KeypointExtractor):
            raise ConfigError(f"extractor must be a KeypointExtractor, got {type(extractor).__name__}")
        w = []
        for name, v in (("motion_weight", motion_weight), ("effect_weight", effect_weight), ("floor", floor)):
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise ConfigError(f"{name} must be a number, got {v!r}") from None
            if not (np.isfinite(v) and v >= 0):
                raise ConfigError(f"{name} must be finite and non-negative, got {v}")
            w.append(v)
        self.motion_weight, self.effect_weight, self.floor = w
        if self.motion_weight + self.effect_weight + self.floor <= 0:
            raise ConfigError("the importance weights are all zero")
        self.extractor = extractor
        self.synthesizer = synthesizer
        self._small = synthesizer.resized(effect_size) if (synthesizer is not None and self.effect_weight > 0) else None
        self._prev: np.ndarray | None = None
        self.last_terms: dict[str, np.ndarray] = {}

    def reset(self) -> None:
        """Forget the previous frame (a new clip starts)."""
        self._prev = None

    @staticmethod
    def _share(x: np.ndarray) -> np.ndarray:
        s = float(x.sum())
        return x / s if s > 0 else np.full(x.size, 1.0 / x.size)

    def terms(self, points: np.ndarray, previous: np.ndarray | None) -> dict[str, np.ndarray]:
        """The raw motion ``m [N]`` and effect ``e [N]`` terms for points ``[P, 2]`` given the previous ones."""
        e = self.extractor
        n = e.n_symbols
        if previous is None:
            return {"motion": np.zeros(n), "effect": np.zeros(n)}
        disp = np.linalg.norm(points - previous, axis=1)
        motion = np.array([disp[e.symbol_slice(i)].mean() for i in range(n)])
        effect = np.zeros(n)
        if self._small is not None and motion.sum() > 0:
            ref = self._small.synthesize(points).astype(np.float32)
            for i in range(n):
                if motion[i] == 0:
                    continue
                held = points.copy()
                held[e.symbol_slice(i)] = previous[e.symbol_slice(i)]
                effect[i] = np.abs(self._small.synthesize(held).astype(np.float32) - ref).mean()
        return {"motion": motion, "effect": effect}

    def importance(self, frame: SemanticFrame, source: Any = None) -> torch.Tensor:
        if not isinstance(frame, SemanticFrame) or frame.n_symbols != self.extractor.n_symbols:
            raise InputError(f"importance needs a SemanticFrame of {self.extractor.n_symbols} symbols")
        points = self.extractor.dequantise(frame)
        if frame.index == 0:
            self._prev = None
        previous = self._prev
        if previous is None and self.extractor.reference is not None:
            previous = self.extractor.neutral_points()
        t = self.terms(points, previous)
        n = self.extractor.n_symbols
        rho = (self.motion_weight * self._share(t["motion"]) + self.effect_weight * self._share(t["effect"])
               + self.floor / n)
        self._prev = points
        self.last_terms = t
        return torch.as_tensor(rho / rho.sum(), dtype=torch.float64)


# --------------------------------------------------------------------------------------------
# R
# --------------------------------------------------------------------------------------------


class LandmarkConcealer(ErrorConcealer):
    """Base of the keypoint concealers: works on points, re-quantises only the missing symbols.

    Subclasses implement :meth:`conceal_points`. :meth:`conceal` dequantises the history and the
    received symbols, asks for the points, and builds the frame: received payloads are copied
    bit-exactly, missing symbols are quantised from the concealed points.
    """

    def __init__(self, extractor: KeypointExtractor) -> None:
        if not isinstance(extractor, KeypointExtractor):
            raise ConfigError(f"extractor must be a KeypointExtractor, got {type(extractor).__name__}")
        self.extractor = extractor

    def conceal_points(self, history: Sequence[np.ndarray], points: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Concealed points ``[P, 2]``.

        Args:
            history: previous concealed points ``[P, 2]`` each, oldest first (may be empty).
            points: this frame's points ``[P, 2]``; rows of missing symbols are NaN.
            mask: bool ``[N]``, True where the symbol was received.
        """
        raise NotImplementedError

    def _check_points(self, history: Sequence[Any], points: Any, mask: Any) -> tuple[list, np.ndarray, np.ndarray]:
        e = self.extractor
        m = np.asarray(mask, dtype=bool).reshape(-1)
        if m.size != e.n_symbols:
            raise InputError(f"mask must have {e.n_symbols} entries, got {m.size}")
        pts = np.array(points, dtype=np.float64)
        if pts.shape != (e.n_points, 2):
            raise InputError(f"points must be [{e.n_points}, 2], got {pts.shape}")
        rows = np.repeat(m, e.points_per_symbol)
        if not np.isfinite(pts[rows]).all():
            raise InputError("received points contain NaN or Inf")
        pts[~rows] = np.nan
        hist = [_as_points(h, e.n_points, "history entry") for h in history]
        return hist, pts, m

    def conceal(self, history: Sequence[SemanticFrame], received: ReceivedFrame) -> SemanticFrame:
        e = self.extractor
        if not isinstance(received, ReceivedFrame) or received.n_symbols != e.n_symbols:
            raise InputError(f"received must be a ReceivedFrame of {e.n_symbols} symbols")
        mask = received.mask.numpy()
        points = e.dequantise(received)
        hist = [e.dequantise(h) for h in history]
        out = self.conceal_points(hist, points, mask)
        if not np.isfinite(out).all():  # pragma: no cover - subclasses fill every row
            raise InputError("the concealer left points undefined")
        filled = e.payloads(out)
        payloads = [received.payloads[i] if i in received.payloads else filled[i] for i in range(e.n_symbols)]
        return SemanticFrame.from_payloads(payloads, index=received.frame_index)


class HoldLastConcealer(LandmarkConcealer):
    """R baseline: a missing symbol keeps its value from the last concealed frame.

    That value is the last one received (or, before anything was received, the rest pose:
    :meth:`KeypointExtractor.neutral_points`).
    """

    def conceal_points(self, history: Sequence[np.ndarray], points: np.ndarray, mask: np.ndarray) -> np.ndarray:
        hist, pts, m = self._check_points(history, points, mask)
        last = hist[-1] if hist else self.extractor.neutral_points()
        rows = np.repeat(m, self.extractor.points_per_symbol)
        pts[~rows] = last[~rows]
        return pts


class ZeroMotionConcealer(LandmarkConcealer):
    """R baseline: a missing symbol takes its rest pose, the source frame's landmarks.

    Zero motion relative to the frame the synthesiser warps: a lost eye is drawn as it is in the
    source frame (:meth:`KeypointExtractor.neutral_points`, which needs the extractor's reference
    for a meaningful pose).
    """

    def conceal_points(self, history: Sequence[np.ndarray], points: np.ndarray, mask: np.ndarray) -> np.ndarray:
        _, pts, m = self._check_points(history, points, mask)
        rows = np.repeat(m, self.extractor.points_per_symbol)
        pts[~rows] = self.extractor.neutral_points()[~rows]
        return pts


class FCConcealer(LandmarkConcealer):
    """R: the paper's FC concealer (:class:`semcom.models.concealer.ConcealerNet`).

    The network works on displacements from the extractor's reference (the source frame's
    landmarks), so the extractor must have a reference. The history is the last ``H`` concealed
    frames (padded with the rest pose, zero displacement, at the start of a clip).

    Args:
        extractor: :class:`KeypointExtractor` with a reference (or ``None`` and :meth:`bind` later,
            e.g. once the source frame is known).
        net: a trained :class:`ConcealerNet` (default: the committed checkpoint).
    """

    def __init__(self, extractor: KeypointExtractor | None = None, net: Any = None) -> None:
        if net is None:
            from semcom.models.concealer import load_concealer_net

            net = load_concealer_net()
        self.net = net.eval()
        self.extractor = None
        if extractor is not None:
            self.bind(extractor)

    def bind(self, extractor: KeypointExtractor) -> "FCConcealer":
        """Use ``extractor`` (with a reference) for dequantising and re-quantising; returns self."""
        if not isinstance(extractor, KeypointExtractor):
            raise ConfigError(f"extractor must be a KeypointExtractor, got {type(extractor).__name__}")
        if extractor.reference is None:
            raise ConfigError("FCConcealer needs an extractor with a reference (the source frame's landmarks)")
        cfg = self.net.config
        if cfg.n_symbols != extractor.n_symbols or cfg.dim != 2 * extractor.n_points:
            raise ConfigError(f"the concealer net expects {cfg.n_symbols} symbols / {cfg.dim} values, "
                              f"the extractor makes {extractor.n_symbols} / {2 * extractor.n_points}")
        self.extractor = extractor
        return self

    def _check_points(self, history: Sequence[Any], points: Any, mask: Any) -> tuple[list, np.ndarray, np.ndarray]:
        if self.extractor is None:
            raise ConfigError("this FCConcealer has no extractor yet: call bind(extractor) first")
        return super()._check_points(history, points, mask)

    def conceal(self, history: Sequence[SemanticFrame], received: ReceivedFrame) -> SemanticFrame:
        if self.extractor is None:
            raise ConfigError("this FCConcealer has no extractor yet: call bind(extractor) first")
        return super().conceal(history, received)

    def conceal_points(self, history: Sequence[np.ndarray], points: np.ndarray, mask: np.ndarray) -> np.ndarray:
        hist, pts, m = self._check_points(history, points, mask)
        e = self.extractor
        origin = e.reference[e.indices]
        h = self.net.config.history
        hist = ([origin] * max(0, h - len(hist)) + hist)[-h:]
        hv = torch.tensor(np.stack([x - origin for x in hist]).reshape(1, h, -1), dtype=torch.float32)
        rv = torch.tensor(np.nan_to_num(pts - origin).reshape(1, -1), dtype=torch.float32)
        mv = torch.tensor(m.reshape(1, -1), dtype=torch.float32)
        out = self.net.conceal(hv, rv, mv)[0].double().numpy().reshape(-1, 2) + origin
        rows = np.repeat(m, e.points_per_symbol)
        pts[~rows] = out[~rows]
        return pts


def load_concealer(extractor: KeypointExtractor | None = None, path: str | Path | None = None) -> FCConcealer:
    """The FC concealer with the committed checkpoint (or the one at ``path``).

    Without an extractor the concealer is returned unbound: call ``.bind(extractor)`` before use.
    The checkpoint's metadata (config, data, metric, command) is ``concealer.net.metadata``.

    Raises:
        InputError: no checkpoint. ConfigError: the extractor has no reference or another layout.
    """
    from semcom.models.concealer import load_concealer_net

    return FCConcealer(extractor, load_concealer_net(path))


# --------------------------------------------------------------------------------------------
# All roles at once
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class KeypointRoles:
    """The application's four roles for one source frame (plug into :class:`SemanticPipeline`)."""

    extractor: KeypointExtractor
    importance: KeypointImportance
    concealer: LandmarkConcealer
    synthesizer: WarpSynthesizer


def keypoint_roles(source_frame: Any, source_landmarks: Any = None, concealer: str | LandmarkConcealer = "fc",
                   bits: int = 8, motion_weight: float = 0.5, effect_weight: float = 0.5,
                   landmarker: faces.FaceLandmarker | None = None) -> KeypointRoles:
    """E, P, R and Syn sharing one source frame (its landmarks are the reference of every role).

    Args:
        source_frame: uint8 ``[H, W, 3]``, sent once at the start (FOMM's source image).
        source_landmarks: ``[478, 2]`` of the source frame (detected when ``None``).
        concealer: ``"fc"`` (committed checkpoint), ``"hold"``, ``"zero"``, or an instance.
        bits: bits per coordinate (8: 192-bit symbols as in Table I).
        motion_weight, effect_weight: P's weights.
        landmarker: detector for frames handed to E (default: created on first use).
    """
    if source_landmarks is None:
        with faces.FaceLandmarker() as fl:
            source_landmarks = fl(source_frame)
    e = KeypointExtractor(reference=source_landmarks, bits=bits, landmarker=landmarker)
    syn = WarpSynthesizer(source_frame, source_landmarks, e)
    p = KeypointImportance(e, syn, motion_weight=motion_weight, effect_weight=effect_weight)
    if isinstance(concealer, LandmarkConcealer):
        r = concealer
    elif concealer == "fc":
        r = load_concealer(e)
    elif concealer == "hold":
        r = HoldLastConcealer(e)
    elif concealer == "zero":
        r = ZeroMotionConcealer(e)
    else:
        raise ConfigError(f"concealer must be 'fc', 'hold', 'zero' or a LandmarkConcealer, got {concealer!r}")
    return KeypointRoles(e, p, r, syn)
