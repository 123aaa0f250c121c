"""prt Figs. 2-4: keypoint video conferencing over lossy code blocks, against H.265.

Griessel et al., "Importance-Driven Semantic Resilience for Challenging Future 6G Channels",
Sec. V. For a talking-head video (default: the synthetic clip of the TEST portrait,
:func:`semcom.data.talking_head.talking_head_video`; ``--video PATH`` for the user's file), every
frame runs the whole chain of Fig. 1::

    frame --E (FaceMesh keypoints -> N symbols)--> --P (importance)--> --C (allocator: FFH, SIDH,
    CIDH, optimal; grant of Table I test k)--> K code blocks --link (erasure with a CBLER, or the
    bit-true NR link at an SNR)--> blocks + CRC --C^-1--> --R (FC concealer from the committed
    checkpoint; hold-last as an ablation)--> --Syn (warp of the portrait)--> output frame
      --> re-detected landmarks -> ALD against the original frame's landmarks; PSNR, SSIM
          (LPIPS only with local weights, else reported unavailable)

and the baseline, :class:`semcom.baselines.video_cb.H265OverCodeBlocks`: H.265 (x265, CBR, low
delay) at the bit rate the same grant carries, through the same code blocks (lost blocks
removed, frame freeze on failure). Outputs (``results/prt/sweep.json`` + plots):

* ``semantic``: mean ALD / PSNR / SSIM vs CBLER per allocator and test (Fig. 2), seeds = link draws;
* ``h265``: the same metrics of H.265 at the matched rate of each test vs CBLER (Fig. 3);
* ``resilient``: the error-resilient H.264/H.265 baselines
  (:class:`semcom.baselines.video_resilient.ResilientVideoOverCodeBlocks`: slices sized to the code
  blocks, intra refresh, decoder concealment, optional XOR FEC) at each test's rate through the same
  code blocks and link draws, with ``resilient_accounting``; ``claims.usable_up_to`` and
  ``claims.headline`` give per system the highest CBLER with usable quality (``usable`` thresholds);
* ``rate``: quality vs bit rate, CIDH (tests of ``rate_tests``) and clean H.265 (Fig. 4);
* ``reference_source_frame``: the scores of showing the source frame for every frame (what both
  receivers could show with no data at all), and for H.265 the ``*_srcfb`` metrics with the source
  frame instead of mid-grey before its first decoded frame (the same prior knowledge as the
  keypoint receiver, which holds the source frame before the call).

Choices (where the paper is silent):

* The grant of Table I test k: K blocks of ``C = m * n`` bits (``m`` symbols per block, ``n`` the
  largest symbol size of the extractor). The erasure link is built with ``max_tb_bits = C`` so
  every block is its own transport block with its own CRC; its layout is checked against the grant.
* E, P and C do not depend on the channel, so the T frames are encoded first and sent through the
  link as one ``[T, sum C_j]`` batch; C^-1, R and Syn then run frame by frame in order (R keeps its
  history). This is the per-frame chain of :class:`semcom.semantics.symbols.SemanticPipeline`.
* Bit rates: a grant of ``B = sum_j C_j`` bits per frame is ``B * fps`` bit/s for both systems (the
  semantic stream's padding counts, as H.265's framing and padding do).
* ALD is measured on *re-detected* landmarks of the output frame (FaceMesh, 478 points, mean
  Euclidean distance in pixels of the frame), averaged over the scored frames in which a face is
  found; the fraction of frames without a face (e.g. H.265's mid-grey fallback before its first
  decoded frame) is reported beside it as ``no_face`` (ALD is None when no frame has a face).
  PSNR and SSIM score every frame, fallback frames included.

Example:
    >>> cfg = {"frames": 4, "size": 128, "cblers": [0.0, 1.0], "allocators": ["cidh"], "tests": [2],
    ...        "concealers": ["hold_last"], "seeds": 1, "h265": False, "rate_tests": []}
    >>> res = run(cfg)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
from pathlib import Path
from typing import Any, Sequence, Literal

import numpy as np
import torch

from semcom.errors import ConfigError, InputError
from semcom.experiments.common import add_common_arguments, load_config_file
from semcom.experiments.executor import map_tasks
from semcom.experiments.results import Results, provenance
from semcom.semantics.symbols import CodeBlockGrant
from semcom.utils import from_dict

__all__ = ["SweepConfig", "TABLE1_TESTS", "table1_grant", "semantic_chain", "run", "plot", "main", "demo_section",
           "format_summary", "format_markdown", "claims"]

#: Table I tests: number -> (K code blocks, symbols per block m).
TABLE1_TESTS: dict[int, tuple[int, int]] = {
    1: (1, 2), 2: (3, 2), 3: (5, 2), 4: (1, 4), 5: (3, 4), 6: (5, 4), 7: (1, 9), 8: (3, 9), 9: (5, 9),
}
ALLOCATOR_NAMES = ("ffh", "sidh", "cidh", "optimal")
CONCEALER_NAMES = ("fc", "hold_last")
LINKS = ("erasure", "bittrue")
METRICS = ("ald", "psnr", "ssim")
#: Error-resilient video baselines: name -> (standard, with FEC across code blocks).
RESILIENT_VARIANTS: dict[str, tuple[str, bool]] = {
    "h264": ("h264", False), "h265": ("h265", False), "h264_fec": ("h264", True), "h265_fec": ("h265", True),
}
#: Default "usable quality" thresholds (ALD at most, PSNR and SSIM at least).
USABLE = {"ald": 2.0, "psnr": 25.0, "ssim": 0.80}


@dataclasses.dataclass
class SweepConfig:
    """Configuration of :func:`run` (unknown keys are refused).

    Attributes:
        video: path of the user's video, or None for the synthetic talking head (TEST portrait).
        frames: T frames used (first T of the file).
        size: frame side in pixels (square frames).
        video_seed: seed of the synthetic clip's motion.
        fps: frame rate (bit rates are bits per frame times fps).
        cblers: code-block error rates of the erasure link.
        link: ``"erasure"`` or ``"bittrue"`` (NR link at ``snr_db``; x-axis SNR, CBLER measured).
        snr_db: SNRs of the bit-true link (Es/N0, dB).
        mcs: MCS index (38.214 table 1) of the bit-true link.
        allocators: subset of FFH, SIDH, CIDH, optimal.
        tests: Table I tests (1-9) swept against CBLER.
        concealers: ``"fc"`` (committed checkpoint) and/or ``"hold_last"``.
        ablation_allocators: allocators also run with every concealer but the first (others: first only).
        seeds: link draws per point (seed ``seed + s``).
        h265: run the H.265 baseline at each test's matched rate.
        h265_preset: x265 speed preset.
        gop: H.265 key-frame interval (frames; default one second).
        rate_tests: tests whose CIDH quality (CBLER 0) is set against clean H.265 (Fig. 4).
        rate_kbps: extra H.265 rates (kbit/s) for the quality-vs-rate curve.
        resilient: error-resilient baselines (:data:`RESILIENT_VARIANTS`:
            :class:`semcom.baselines.video_resilient.ResilientVideoOverCodeBlocks`) at each test's rate.
        resilient_preset: their encoder speed preset.
        resilient_scale: their coded-size divisor (1, 2, 4) or ``"auto"`` (the sender picks the best).
        refresh: their intra-refresh period in frames (default one second).
        fec_group: the ``*_fec`` variants send one XOR parity block per ``fec_group`` blocks.
        usable: quality thresholds ``{"ald": max px, "psnr": min dB, "ssim": min}``; the claims report,
            per system, the highest CBLER up to which every metric meets them.
        eval_every: synthesise and score every n-th frame (the chain runs on every frame).
        seed: base seed.
    """

    video: str | None = None
    frames: int = 40
    size: int = 256
    video_seed: int = 0
    fps: float = 25.0
    cblers: list[float] = dataclasses.field(default_factory=lambda: [round(0.1 * i, 1) for i in range(11)])
    link: str = "erasure"
    snr_db: list[float] = dataclasses.field(default_factory=list)
    mcs: int = 9
    allocators: list[str] = dataclasses.field(default_factory=lambda: list(ALLOCATOR_NAMES))
    tests: list[int] = dataclasses.field(default_factory=lambda: [1, 2, 3])
    concealers: list[str] = dataclasses.field(default_factory=lambda: list(CONCEALER_NAMES))
    ablation_allocators: list[str] = dataclasses.field(default_factory=lambda: ["cidh"])
    seeds: int = 2
    h265: bool = True
    h265_preset: str = "medium"
    gop: int | None = None
    rate_tests: list[int] = dataclasses.field(default_factory=lambda: [1, 2, 3, 5, 6, 9])
    rate_kbps: list[float] = dataclasses.field(default_factory=lambda: [400.0])
    resilient: list[str] = dataclasses.field(default_factory=lambda: ["h264", "h265", "h264_fec"])
    resilient_preset: str = "medium"
    resilient_scale: int | Literal["auto"] = "auto"
    refresh: int | None = None
    fec_group: int = 4
    usable: dict = dataclasses.field(default_factory=lambda: dict(USABLE))
    eval_every: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        def ints(name, lo, hi=None):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
                raise ConfigError(f"SweepConfig.{name} must be an integer >= {lo}, got {v!r}")

        ints("frames", 1)
        ints("size", 64)
        ints("seeds", 1)
        ints("eval_every", 1)
        ints("mcs", 0, 28)
        if self.gop is not None:
            ints("gop", 1)
        if self.refresh is not None:
            ints("refresh", 2)
        ints("fec_group", 2)
        if not isinstance(self.resilient, (list, tuple)) or any(v not in RESILIENT_VARIANTS for v in self.resilient) \
                or len(set(self.resilient)) != len(self.resilient):
            raise ConfigError(f"SweepConfig.resilient must be a list from {tuple(RESILIENT_VARIANTS)}, got {self.resilient!r}")
        if self.resilient_scale not in ("auto", 1, 2, 4) or isinstance(self.resilient_scale, bool):
            raise ConfigError(f"SweepConfig.resilient_scale must be 1, 2, 4 or 'auto', got {self.resilient_scale!r}")
        u = self.usable
        if not isinstance(u, dict) or set(u) != set(USABLE) or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) for v in u.values()):
            raise ConfigError(f"SweepConfig.usable must give numbers for exactly {sorted(USABLE)}, got {u!r}")
        if not isinstance(self.seed, int) or not isinstance(self.video_seed, int):
            raise ConfigError("SweepConfig.seed and video_seed must be integers")
        if self.size % 2:
            raise ConfigError(f"SweepConfig.size must be even (4:2:0 video), got {self.size}")
        if isinstance(self.fps, bool) or not isinstance(self.fps, (int, float)) or not self.fps > 0:
            raise ConfigError(f"SweepConfig.fps must be positive, got {self.fps!r}")
        if self.link not in LINKS:
            raise ConfigError(f"SweepConfig.link must be one of {LINKS}, got {self.link!r}")
        for name, known in (("allocators", ALLOCATOR_NAMES), ("concealers", CONCEALER_NAMES),
                            ("ablation_allocators", ALLOCATOR_NAMES)):
            vals = getattr(self, name)
            if not isinstance(vals, (list, tuple)) or any(v not in known for v in vals):
                raise ConfigError(f"SweepConfig.{name} must be a list from {known}, got {vals!r}")
        if not self.allocators or not self.concealers:
            raise ConfigError("SweepConfig needs at least one allocator and one concealer")
        for name in ("tests", "rate_tests"):
            vals = getattr(self, name)
            if not isinstance(vals, (list, tuple)) or any(v not in TABLE1_TESTS for v in vals):
                raise ConfigError(f"SweepConfig.{name} must be Table I test numbers 1-9, got {vals!r}")
        if not self.tests:
            raise ConfigError("SweepConfig.tests must not be empty")
        c = np.asarray(self.cblers, dtype=float) if isinstance(self.cblers, (list, tuple)) else None
        if c is None or c.ndim != 1 or (self.link == "erasure" and c.size == 0) or not np.all((c >= 0) & (c <= 1)):
            raise ConfigError(f"SweepConfig.cblers must be a list of values in [0, 1], got {self.cblers!r}")
        if self.link == "bittrue":
            s = np.asarray(self.snr_db, dtype=float) if isinstance(self.snr_db, (list, tuple)) else None
            if s is None or s.ndim != 1 or s.size == 0 or not np.all(np.isfinite(s)):
                raise ConfigError("SweepConfig.snr_db must be a non-empty list of SNRs for link='bittrue'")
        if not isinstance(self.rate_kbps, (list, tuple)) or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0 for v in self.rate_kbps):
            raise ConfigError(f"SweepConfig.rate_kbps must be a list of positive rates, got {self.rate_kbps!r}")

    @classmethod
    def from_dict(cls, data: dict | None) -> "SweepConfig":
        return from_dict(cls, {} if data is None else data)

    @property
    def channel_points(self) -> list[float]:
        """The x-axis values: CBLERs (erasure) or SNRs in dB (bit-true)."""
        return [float(v) for v in (self.cblers if self.link == "erasure" else self.snr_db)]


QUICK = {"frames": 8, "size": 128, "cblers": [0.0, 0.5, 1.0], "seeds": 1, "tests": [2], "allocators": ["ffh", "cidh"],
         "rate_tests": [2], "rate_kbps": [], "eval_every": 2, "h265_preset": "ultrafast", "resilient": ["h264", "h265"],
         "resilient_preset": "veryfast"}


# --------------------------------------------------------------------------------------------
# The application (built once per process and config)
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Context:
    frames: np.ndarray  # uint8 [T, H, W, 3]
    video_tensor: torch.Tensor  # [T, 3, H, W] float
    landmarks: np.ndarray  # [T, 478, 2] of the original frames
    mean_landmarks: np.ndarray  # [478, 2]
    semantic: list  # SemanticFrame per frame (E then P)
    symbol_bits: int
    app: Any
    checksum: str
    scores: dict = dataclasses.field(default_factory=dict)  # (t, output hash) -> (ALD, PSNR, SSIM)


def _video_frames(cfg: SweepConfig) -> tuple[np.ndarray, str]:
    if cfg.video is None:
        from semcom.data.talking_head import TEST_PORTRAIT, talking_head_video

        frames = talking_head_video(n_frames=cfg.frames, size=cfg.size, seed=cfg.video_seed, portrait=TEST_PORTRAIT)
    else:
        from semcom.data.talking_head import load_video

        frames = load_video(cfg.video, size=cfg.size, max_frames=cfg.frames)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[0] == 0:
        raise InputError(f"the video has no frames (shape {frames.shape})")
    return frames, hashlib.sha256(frames.tobytes()).hexdigest()


def _check_faces(frames: np.ndarray, landmarker: Any) -> tuple[np.ndarray, int]:
    from semcom.data.faces import NoFaceError, detect_video

    lms, found = detect_video(frames, landmarker)
    if not found.any():
        raise NoFaceError(f"no face found in any of the {len(frames)} frames of the video: "
                          "the keypoint application needs a head-and-shoulders video")
    first = int(np.argmax(found))
    lms[:first] = lms[first]  # before the first face: the first face's landmarks
    return lms, first


@functools.lru_cache(maxsize=4)
def _context(cfg_json: str) -> _Context:
    cfg = SweepConfig.from_dict(json.loads(cfg_json))
    frames, checksum = _video_frames(cfg)
    return context_from_frames(frames, checksum)


def context_from_frames(frames: np.ndarray, checksum: str) -> _Context:
    """The keypoint application's context (landmarks, roles, semantic frames) of ``frames`` uint8 ``[T, H, W, 3]``."""
    from semcom.data.faces import FaceLandmarker

    landmarker = FaceLandmarker(static=True)
    lms, source = _check_faces(frames, landmarker)
    app = _App(frames, landmarker, source, lms[source])
    semantic = app.extract_all(lms)
    tens = torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2))).float() / 255.0
    return _Context(frames, tens, lms, lms.mean(0), semantic, max(semantic[0].sizes), app, checksum)


class _App:
    """The keypoint application's roles (E, P, R, Syn) and the landmark detector, built once.

    The source frame (FOMM's source image, which Syn warps) is the first frame with a face; the
    receiver is assumed to hold it before the call (it is not counted in the bit rates).
    """

    def __init__(self, frames: np.ndarray, landmarker: Any, source: int, source_landmarks: np.ndarray):
        from semcom.semantics import keypoint as kp

        self.kp = kp
        self.landmarker = landmarker
        self.source = source
        roles = kp.keypoint_roles(frames[source], source_landmarks, concealer="hold", landmarker=landmarker)
        self.extractor, self.importance, self.synthesizer = roles.extractor, roles.importance, roles.synthesizer
        self._detect_cache: dict[bytes, np.ndarray | None] = {}

    def extract_all(self, landmarks: np.ndarray) -> list:
        """E then P on every frame (E from the detected landmarks, so FaceMesh runs once per frame)."""
        if hasattr(self.importance, "reset"):
            self.importance.reset()
        out = []
        for t, lm in enumerate(landmarks):
            frame = self.extractor.extract(lm, index=t)
            out.append(self.importance(frame, lm))
        return out

    def concealer(self, name: str):
        if name == "fc":
            return self.kp.load_concealer(self.extractor)
        return self.kp.HoldLastConcealer(self.extractor)

    def detect(self, img_u8: np.ndarray) -> np.ndarray | None:
        """Landmarks of an output frame (None: no face); cached by content."""
        from semcom.data.faces import NoFaceError

        key = hashlib.blake2b(img_u8.tobytes(), digest_size=16).digest()
        if key not in self._detect_cache:
            try:
                self._detect_cache[key] = self.landmarker(img_u8)
            except NoFaceError:
                self._detect_cache[key] = None
            if len(self._detect_cache) > 20000:
                self._detect_cache.clear()
        return self._detect_cache[key]


def _ald(pred: np.ndarray, true: np.ndarray, size: int) -> float:
    """Average landmark distance in pixels (mean Euclidean distance over the 478 points)."""
    try:
        from semcom.metrics.landmarks import average_landmark_distance

        return float(average_landmark_distance(pred, true, size))
    except (ImportError, TypeError):
        return float(np.linalg.norm((pred - true) * size, axis=-1).mean())


def _score(ctx: _Context, outputs: dict[int, np.ndarray]) -> dict:
    """Mean ALD (pixels, frames with a face), no-face rate, PSNR, SSIM of output frames ``{t: uint8 [H, W, 3]}``.

    Per-frame values are cached by (frame index, output content): repeated outputs (a frozen or
    grey H.265 frame, identical concealed frames across allocators) are scored once.
    """
    from semcom.metrics import psnr, ssim

    idx = sorted(outputs)
    size = ctx.frames.shape[1]
    keys = {t: (t, hashlib.blake2b(outputs[t].tobytes(), digest_size=16).digest()) for t in idx}
    todo = [t for t in idx if keys[t] not in ctx.scores]
    for a in range(0, len(todo), 16):
        chunk = todo[a : a + 16]
        x = torch.from_numpy(np.ascontiguousarray(np.stack([outputs[t] for t in chunk]).transpose(0, 3, 1, 2))).float() / 255.0
        y = ctx.video_tensor[chunk]
        ps_, ss_ = psnr(x, y).tolist(), ssim(x, y).tolist()
        for t, p_, s_ in zip(chunk, ps_, ss_):
            lm = ctx.app.detect(outputs[t])
            ald = None if lm is None else _ald(lm, ctx.landmarks[t], size)
            ctx.scores[keys[t]] = (ald, float(p_), float(s_))
    if len(ctx.scores) > 200_000:  # pragma: no cover - bound the cache on very long runs
        ctx.scores.clear()
    vals = [ctx.scores.get(keys[t]) for t in idx]
    alds = [v[0] for v in vals if v[0] is not None]
    return {"ald": float(np.mean(alds)) if alds else None, "no_face": 1.0 - len(alds) / len(idx),
            "psnr": float(np.mean([v[1] for v in vals])), "ssim": float(np.mean([v[2] for v in vals])),
            "frames_scored": len(idx)}


def _to_u8(img: Any) -> np.ndarray:
    arr = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    if arr.ndim == 4:
        arr = arr[0]
    if arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(1, 2, 0)
    if arr.dtype != np.uint8:
        arr = np.clip(np.rint(arr.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


# --------------------------------------------------------------------------------------------
# Links and grants
# --------------------------------------------------------------------------------------------


def table1_grant(test: int, symbol_bits: int) -> CodeBlockGrant:
    """The grant of Table I test ``test``: K blocks of ``m * symbol_bits`` bits."""
    k, m = TABLE1_TESTS[test]
    return CodeBlockGrant.uniform(k, m * symbol_bits)


def _make_link(cfg: SweepConfig, point: float, block_bits: int):
    from semcom.link import make_link

    if cfg.link == "erasure":
        return make_link("erasure", mcs=cfg.mcs, cbler=point, max_tb_bits=block_bits), 0.0
    return make_link("bittrue", mcs=cfg.mcs, max_tb_bits=block_bits), point


def _send(cfg: SweepConfig, point: float, grant: CodeBlockGrant, payload: torch.Tensor, seed: int):
    """``payload [T, B]`` through the link: (bits [T, B], cb_ok [T, K]); the layout must equal the grant."""
    link, snr = _make_link(cfg, point, grant.capacities[0])
    res = link.transmit(payload, snr, generator=seed)
    if CodeBlockGrant.from_ranges(res.cb_ranges) != grant:
        raise InputError(f"link layout {res.cb_ranges} does not match the grant {grant.capacities}")
    return res.bits, res.cb_ok


# --------------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------------


def semantic_chain(ctx: _Context, cfg: SweepConfig, test: int, allocator: str, concealer: str, point: float,
                   seed: int) -> dict:
    """The keypoint chain over every frame of the context's video for one channel draw.

    E and P are the context's (computed once per video); C = :class:`AllocatingEncoder` with
    ``allocator`` on Table I test ``test``'s grant; the link at ``point`` (CBLER or SNR) carries the
    ``[T, sum C_j]`` payload; C^-1 = :class:`CodeBlockDecoder`; R = ``concealer`` with its history;
    Syn on every ``cfg.eval_every``-th frame. Returns the outputs ``{t: uint8 [H, W, 3]}``, the
    link's ``cb_ok [T, K]``, the per-frame decision matrices and received symbol indices.
    """
    from semcom.semantics.allocation import AllocatingEncoder, get_allocator
    from semcom.semantics.symbols import CodeBlockDecoder

    grant = table1_grant(test, ctx.symbol_bits)
    encoder = AllocatingEncoder(get_allocator(allocator), generator=seed)
    encoded = [encoder.encode(f, grant) for f in ctx.semantic]
    bits, ok = _send(cfg, point, grant, torch.stack([e.bits for e in encoded]), seed + 7919)
    decoder, conc = CodeBlockDecoder(), ctx.app.concealer(concealer)
    history: list = []
    outputs: dict[int, np.ndarray] = {}
    received = []
    for t, enc in enumerate(encoded):
        rec = decoder.decode(grant.split(bits[t]), ok[t], enc)
        received.append(rec.received)
        frame = conc.conceal(tuple(history), rec)
        history.append(frame)
        del history[:-8]
        if t % cfg.eval_every == 0 or t == len(encoded) - 1:
            outputs[t] = _to_u8(ctx.app.synthesizer.synthesize(frame))
    return {"outputs": outputs, "cb_ok": ok, "assignments": [e.assignment for e in encoded], "received": received,
            "sent": [e.bits for e in encoded], "grant": grant}


def _semantic_task(task: dict) -> dict:
    """One (test, allocator, concealer, channel point, seed): the chain over all frames, scored."""
    torch.set_num_threads(1)
    cfg = SweepConfig.from_dict(json.loads(task["cfg"]))
    ctx = _context(task["cfg"])
    out = semantic_chain(ctx, cfg, task["test"], task["allocator"], task["concealer"], task["point"], int(task["seed"]))
    score = _score(ctx, {t: o for t, o in out["outputs"].items() if t % cfg.eval_every == 0})
    n = len(out["received"])
    w_rho = [float(ctx.semantic[t].importance[list(r)].sum()) if r else 0.0 for t, r in enumerate(out["received"])]
    score.update(cbler_measured=float((~out["cb_ok"]).float().mean()),
                 symbols_received=float(np.mean([len(r) for r in out["received"]])), w_rho=float(np.mean(w_rho)),
                 mu_n=float(np.mean([a.any(axis=1).sum() for a in out["assignments"]])), frames=n)
    return {k: task[k] for k in ("test", "allocator", "concealer", "point", "seed")} | score


@functools.lru_cache(maxsize=16)
def _packed(cfg_json: str, bits_per_frame: int, n_blocks: int):
    from semcom.baselines.video_cb import H265OverCodeBlocks

    cfg = SweepConfig.from_dict(json.loads(cfg_json))
    ctx = _context(cfg_json)
    grant = CodeBlockGrant.uniform(n_blocks, bits_per_frame // n_blocks)
    tx = H265OverCodeBlocks(grant, fps=cfg.fps, gop=cfg.gop, preset=cfg.h265_preset)
    return tx, tx.pack(ctx.video_tensor)


def _source_fallback(ctx: _Context, outputs: dict[int, np.ndarray], decoded: torch.Tensor) -> dict[int, np.ndarray]:
    """H.265's outputs with the source frame (which the keypoint receiver holds) instead of mid-grey
    before the first decoded frame: the same prior knowledge for both systems."""
    first = int(torch.argmax(decoded.to(torch.int8))) if bool(decoded.any()) else len(decoded)
    return {t: (ctx.frames[ctx.app.source] if t < first else o) for t, o in outputs.items()}


def _h265_task(task: dict) -> dict:
    """H.265 at the matched rate of a test through the same code blocks (or clean at a given rate)."""
    torch.set_num_threads(1)
    cfg = SweepConfig.from_dict(json.loads(task["cfg"]))
    ctx = _context(task["cfg"])
    if task.get("kbps") is not None:  # quality vs rate: one block per frame interval, no loss
        bits_per_frame = int(round(task["kbps"] * 1000 / cfg.fps / 8)) * 8
        k = 1
    else:
        grant = table1_grant(task["test"], ctx.symbol_bits)
        bits_per_frame, k = grant.total_bits, grant.n_blocks
    from semcom.codecs.base import CodecBudgetError

    try:
        tx, packed = _packed(task["cfg"], bits_per_frame, k)
    except CodecBudgetError:  # the rate is below x265's smallest stream: nothing decodable is sent
        return _no_fit_row(ctx, cfg, task, bits_per_frame)
    if task.get("kbps") is not None:
        bits, ok = packed.blocks, torch.ones(packed.blocks.shape[0], 1, dtype=torch.bool)
    else:
        bits, ok = _send(cfg, task["point"], tx.grant, packed.blocks, int(task["seed"]) + 7919)
    rx = tx.unpack(bits, ok, packed)
    score = _score_video(ctx, cfg, rx)
    acc = packed.accounting()
    return ({k2: task.get(k2) for k2 in ("test", "point", "seed", "kbps")} | score
            | {"decoded": rx.success_rate, "cbler_measured": float((~ok).float().mean()), "no_fit": False,
               "kbps_matched": acc["matched_kbps"], "kbps_stream": acc["stream_kbps"], "accounting": acc})


def _score_video(ctx: _Context, cfg: SweepConfig, rx: Any) -> dict:
    """The metrics of a received video baseline (every ``eval_every``-th frame), and the same with
    the source frame shown where no frame decoded (the ``*_srcfb`` metrics)."""
    outputs = {t: _to_u8(rx.frames[t]) for t in range(0, rx.frames.shape[0], cfg.eval_every)}
    score = _score(ctx, outputs)
    return score | {f"{k}_srcfb": v for k, v in _score(ctx, _source_fallback(ctx, outputs, rx.decoded)).items()
                    if k in METRICS + ("no_face",)}


def _no_fit_row(ctx: _Context, cfg: SweepConfig, task: dict, bits_per_frame: int) -> dict:
    """The row of a video baseline whose smallest stream does not fit the grant: mid-grey (or the
    source frame with the ``*_srcfb`` metrics) for every frame."""
    t = len(ctx.frames)
    grey = {i: np.full(ctx.frames.shape[1:], 128, np.uint8) for i in range(0, t, cfg.eval_every)}
    out = {k2: task.get(k2) for k2 in ("variant", "test", "point", "seed", "kbps") if k2 in task} | _score(ctx, grey)
    src = {i: ctx.frames[ctx.app.source] for i in grey}
    out |= {f"{k}_srcfb": v for k, v in _score(ctx, src).items() if k in METRICS + ("no_face",)}
    return out | {"decoded": 0.0, "no_fit": True, "kbps_matched": bits_per_frame * cfg.fps / 1000}


@functools.lru_cache(maxsize=16)
def _resilient_packed(cfg_json: str, variant: str, bits_per_frame: int, n_blocks: int):
    from semcom.baselines.video_resilient import ResilientVideoOverCodeBlocks

    cfg = SweepConfig.from_dict(json.loads(cfg_json))
    ctx = _context(cfg_json)
    standard, fec = RESILIENT_VARIANTS[variant]
    grant = CodeBlockGrant.uniform(n_blocks, bits_per_frame // n_blocks)
    tx = ResilientVideoOverCodeBlocks(grant, fps=cfg.fps, standard=standard, refresh=cfg.refresh,
                                      fec_group=cfg.fec_group if fec else 0, scale=cfg.resilient_scale,
                                      preset=cfg.resilient_preset)
    return tx, tx.pack(ctx.video_tensor)


def _resilient_task(task: dict) -> dict:
    """An error-resilient video baseline at the matched rate of a test through the same code blocks
    (the same link draw as the semantic stream and the strict H.265 at this point and seed)."""
    torch.set_num_threads(1)
    cfg = SweepConfig.from_dict(json.loads(task["cfg"]))
    ctx = _context(task["cfg"])
    grant = table1_grant(task["test"], ctx.symbol_bits)
    from semcom.codecs.base import CodecBudgetError

    try:
        tx, packed = _resilient_packed(task["cfg"], task["variant"], grant.total_bits, grant.n_blocks)
    except CodecBudgetError:
        return _no_fit_row(ctx, cfg, task, grant.total_bits) | {"concealed": 0.0, "complete": 0.0}
    bits, ok = _send(cfg, task["point"], tx.grant, packed.blocks, int(task["seed"]) + 7919)
    rx = tx.unpack(bits, ok, packed)
    score = _score_video(ctx, cfg, rx)
    acc = packed.accounting()
    return ({k2: task[k2] for k2 in ("variant", "test", "point", "seed")} | score
            | {"decoded": rx.success_rate, "concealed": rx.concealed_rate, "complete": float(rx.complete.float().mean()),
               "blocks_repaired": rx.blocks_repaired, "cbler_measured": float((~ok).float().mean()), "no_fit": False,
               "kbps_matched": acc["matched_kbps"], "kbps_stream": acc["stream_kbps"], "accounting": acc})


# --------------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------------


def _mean_rows(rows: list[dict], keys: Sequence[str]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    out = []
    for key, rs in groups.items():
        rec = dict(zip(keys, key))
        for m in ("ald", "psnr", "ssim", "no_face", "cbler_measured", "w_rho", "mu_n", "symbols_received", "decoded",
                  "ald_srcfb", "psnr_srcfb", "ssim_srcfb", "no_face_srcfb", "concealed", "complete", "blocks_repaired"):
            vals = [r[m] for r in rs if r.get(m) is not None]
            if vals:
                rec[m] = float(np.mean(vals))
                if m in METRICS and len(vals) > 1:
                    rec[m + "_std"] = float(np.std(vals))
        for m in ("kbps_matched", "kbps_stream", "no_fit"):
            if m in rs[0]:
                rec[m] = rs[0][m]
        rec["seeds"] = len(rs)
        out.append(rec)
    return out


def _rate_point(cfg: SweepConfig) -> float:
    """The channel point of the rate curve: no loss (CBLER 0) or the highest SNR."""
    return 0.0 if cfg.link == "erasure" else max(cfg.channel_points)


def _semantic_tasks(cfg: SweepConfig, cfg_json: str) -> list[dict]:
    """One task per test, allocator, concealer (all of them for the ablation allocators), channel
    point and seed; then the rate tests the sweep does not already run at the rate point."""
    points = cfg.channel_points
    tasks = []
    for test in cfg.tests:
        for alloc in cfg.allocators:
            concs = cfg.concealers if alloc in cfg.ablation_allocators else cfg.concealers[:1]
            for conc in concs:
                for p in points:
                    for s in range(cfg.seeds):
                        tasks.append({"cfg": cfg_json, "test": test, "allocator": alloc, "concealer": conc,
                                      "point": p, "seed": cfg.seed + s})
    rate_sem = [t for t in cfg.rate_tests
                if not (t in cfg.tests and "cidh" in cfg.allocators and (cfg.link != "erasure" or 0.0 in points))]
    for test in rate_sem:
        for s in range(cfg.seeds):
            tasks.append({"cfg": cfg_json, "test": test, "allocator": "cidh", "concealer": cfg.concealers[0],
                          "point": _rate_point(cfg), "seed": cfg.seed + s})
    return tasks


def _h265_tasks(cfg: SweepConfig, cfg_json: str, ctx) -> list[dict]:
    """H.265 at every test's grant and channel point, then without loss at every rate of the rate curve."""
    tasks = [{"cfg": cfg_json, "test": test, "point": p, "seed": cfg.seed + s}
             for test in cfg.tests for p in cfg.channel_points for s in range(cfg.seeds)]
    rate_h = sorted({table1_grant(t, ctx.symbol_bits).total_bits * cfg.fps / 1000 for t in cfg.rate_tests}
                    | {float(v) for v in cfg.rate_kbps})
    return tasks + [{"cfg": cfg_json, "test": None, "point": None, "seed": cfg.seed, "kbps": k} for k in rate_h]


def _grants(cfg: SweepConfig, ctx) -> dict:
    """Table 1's grant of every test the sweep ran: blocks, symbols per block, bits, rate."""
    out = {}
    for t in sorted(set(cfg.tests) | set(cfg.rate_tests)):
        g = table1_grant(t, ctx.symbol_bits)
        out[str(t)] = {"K": TABLE1_TESTS[t][0], "m": TABLE1_TESTS[t][1], "block_bits": g.capacities[0],
                       "bits_per_frame": g.total_bits, "kbps": g.total_bits * cfg.fps / 1000}
    return out


def _rate(cfg: SweepConfig, ctx, sem_rows: list[dict], h_rows: list[dict]) -> dict:
    """Fig. 4's rows: CIDH + the first concealer at the rate point per rate test, H.265 per rate."""
    rate_sem_rows = [r for r in sem_rows if r["test"] in cfg.rate_tests and r["allocator"] == "cidh"
                     and r["concealer"] == cfg.concealers[0] and r["point"] == _rate_point(cfg)]
    rate = {"cidh": sorted(_mean_rows(rate_sem_rows, ("test",)), key=lambda r: r["test"]),
            "h265": sorted(_mean_rows([r for r in h_rows if r.get("kbps") is not None], ("kbps",)), key=lambda r: r["kbps"])}
    for r in rate["cidh"]:
        r["kbps"] = table1_grant(r["test"], ctx.symbol_bits).total_bits * cfg.fps / 1000
    return rate


def run(config: dict | SweepConfig | None = None, progress: bool = True, workers: int = 1,
        cluster: str | None = None) -> Results:
    """Run the sweep; returns :class:`Results` named ``sweep`` (see the module docstring)."""
    cfg = config if isinstance(config, SweepConfig) else SweepConfig.from_dict(config)
    cfg_json = json.dumps(dataclasses.asdict(cfg), sort_keys=True)
    t0 = time.time()
    ctx = _context(cfg_json)  # checks the video (faces, frames) before any task is sent out
    from semcom.metrics import lpips_status

    lpips_ok, lpips_why = lpips_status()
    points = cfg.channel_points
    sem_rows = map_tasks(_semantic_task, _semantic_tasks(cfg, cfg_json), workers=workers, cluster=cluster,
                         desc="prt semantic", start_method="spawn", progress=progress)
    h_rows: list[dict] = []
    if cfg.h265:
        h_rows = map_tasks(_h265_task, _h265_tasks(cfg, cfg_json, ctx), workers=workers, cluster=cluster,
                           desc="prt h265", progress=progress, start_method="spawn")
    r_tasks = [{"cfg": cfg_json, "variant": v, "test": test, "point": p, "seed": cfg.seed + s}
               for v in cfg.resilient for test in cfg.tests for p in points for s in range(cfg.seeds)]
    r_rows = map_tasks(_resilient_task, r_tasks, workers=workers, cluster=cluster, desc="prt resilient video", start_method="spawn",
                       progress=progress) if r_tasks else []
    semantic = _mean_rows([r for r in sem_rows if r["test"] in cfg.tests], ("test", "allocator", "concealer", "point"))
    for r in semantic:
        r["kbps"] = table1_grant(r["test"], ctx.symbol_bits).total_bits * cfg.fps / 1000
    h265 = _mean_rows([r for r in h_rows if r.get("kbps") is None], ("test", "point"))
    data = {
        "x_axis": "cbler" if cfg.link == "erasure" else "snr_db",
        "video": {"source": cfg.video or "synthetic talking head (TEST portrait)", "frames": len(ctx.frames),
                  "size": int(ctx.frames.shape[1]), "fps": cfg.fps, "sha256": ctx.checksum},
        "symbols": {"n": ctx.semantic[0].n_symbols, "bits": list(ctx.semantic[0].sizes)},
        "grants": _grants(cfg, ctx),
        "lpips": {"available": lpips_ok, "status": lpips_why, "values": None},
        "reference_source_frame": _score(ctx, {t: ctx.frames[ctx.app.source] for t in range(0, len(ctx.frames), cfg.eval_every)}),
        "semantic": semantic,
        "h265": h265,
        "rate": _rate(cfg, ctx, sem_rows, h_rows),
        "runs": {"semantic": sem_rows, "h265": [{k: v for k, v in r.items() if k != "accounting"} for r in h_rows],
                 "resilient": [{k: v for k, v in r.items() if k != "accounting"} for r in r_rows]},
        "h265_accounting": {str(r["test"]): r["accounting"] for r in h_rows if r.get("accounting") and r.get("kbps") is None},
        "resilient": _mean_rows(r_rows, ("variant", "test", "point")),
        "resilient_accounting": {v: {str(r["test"]): r["accounting"] for r in r_rows if r["variant"] == v and r.get("accounting")}
                                 for v in cfg.resilient},
        "usable_thresholds": dict(cfg.usable),
        "runtime_s": round(time.time() - t0, 1),
    }
    data["claims"] = claims(data)
    return Results("sweep", data, provenance(config=cfg, seed=cfg.seed, data_checksums={"video": ctx.checksum}))


def claims(data: dict) -> dict:
    """The numbers behind the paper's claims, from the sweep's data (stored in the JSON as ``claims``).

    * ``allocators``: per test and allocator (first concealer), the mean over the channel points
      of ALD, PSNR, SSIM and the measured W_rho (importance share received), and at how many points
      CIDH is the best of FFH/SIDH/CIDH per metric (ties count for CIDH).
    * ``high_cbler``: per test, at every point above 0.75 (erasure link), CIDH's metrics beside
      H.265's (fraction of frames decoded, metrics with the grey and with the source-frame fallback),
      the resilient baselines' and the source-frame-only reference.
    * ``usable_up_to`` (erasure link): per test and system (CIDH with the first concealer, strict
      H.265, each resilient baseline), per metric and for all three together, the highest CBLER up
      to which quality meets ``usable_thresholds`` at every swept point (None: not even at the
      first). ALD counts as met only when at most 5 % of the scored frames lack a face.
    * ``headline``: per test, whether "usable above 75 % CBLER where the video baselines fail" holds:
      CIDH usable (all metrics) at a point above 0.75 and no video baseline usable there.
    """
    sem, first = data["semantic"], None
    if sem:
        concs = [r["concealer"] for r in sem]
        first = "fc" if "fc" in concs else concs[0]
    out: dict = {"concealer": first, "allocators": {}, "high_cbler": {}}
    higher = {"psnr": True, "ssim": True, "w_rho": True, "ald": False}
    for test in sorted({r["test"] for r in sem}):
        rows = [r for r in sem if r["test"] == test and r["concealer"] == first]
        per: dict = {}
        for a in sorted({r["allocator"] for r in rows}):
            ra = [r for r in rows if r["allocator"] == a]
            per[a] = {m: (float(np.mean([r[m] for r in ra if r.get(m) is not None]))
                          if any(r.get(m) is not None for r in ra) else None) for m in ("ald", "psnr", "ssim", "w_rho")}
        wins: dict = {}
        heur = [a for a in ("ffh", "sidh", "cidh") if a in per]
        if "cidh" in per and len(heur) > 1:
            pts = sorted({r["point"] for r in rows})
            for m, hi in higher.items():
                n = 0
                for p in pts:
                    vals = {a: next((r.get(m) for r in rows if r["allocator"] == a and r["point"] == p), None) for a in heur}
                    if any(v is None for v in vals.values()):
                        continue
                    best = max(vals.values()) if hi else min(vals.values())
                    n += int(vals["cidh"] == best)
                wins[m] = f"{n}/{len(pts)}"
        out["allocators"][str(test)] = {"mean_over_points": per, "cidh_best_of_heuristics_at": wins}
        if data["x_axis"] == "cbler":
            hi_rows = []
            for p in sorted({r["point"] for r in rows if r["point"] > 0.75}):
                c = next((r for r in rows if r["allocator"] == "cidh" and r["point"] == p), None)
                h = next((r for r in data["h265"] if r["test"] == test and r["point"] == p), None)
                hi_rows.append({"cbler": p,
                                "cidh": None if c is None else {m: c.get(m) for m in ("ald", "psnr", "ssim", "no_face")},
                                "h265": None if h is None else {m: h.get(m) for m in
                                                                ("decoded", "ald", "psnr", "ssim", "no_face", "ald_srcfb",
                                                                 "psnr_srcfb", "ssim_srcfb")}})
            for row in hi_rows:
                row["resilient"] = {r["variant"]: {m: r.get(m) for m in ("decoded", "concealed", "ald", "psnr", "ssim", "no_face")}
                                    for r in data.get("resilient", []) if r["test"] == test and r["point"] == row["cbler"]}
            out["high_cbler"][str(test)] = hi_rows
    out["reference_source_frame"] = data.get("reference_source_frame")
    if data["x_axis"] == "cbler":
        out["usable_up_to"], out["headline"] = _usable_claims(data, first)
    return out


def _meets(r: dict, m: str, thr: dict) -> bool:
    if m == "all":
        return all(_meets(r, k, thr) for k in METRICS)
    v = r.get(m)
    if v is None:
        return False
    if m == "ald":
        return v <= thr["ald"] and (r.get("no_face") or 0.0) <= 0.05
    return v >= thr[m]


def _usable_up_to(rows: list[dict], thr: dict) -> dict:
    """Per metric (and ``all``) the highest point up to which every swept point meets ``thr``."""
    rows = sorted(rows, key=lambda r: r["point"])
    out = {}
    for m in METRICS + ("all",):
        best = None
        for r in rows:
            if not _meets(r, m, thr):
                break
            best = r["point"]
        out[m] = best
    return out


def _usable_claims(data: dict, concealer: str | None) -> tuple[dict, dict]:
    thr = data.get("usable_thresholds") or USABLE
    usable: dict = {}
    headline: dict = {}
    for test in sorted({r["test"] for r in data["semantic"]}):
        systems = {"cidh": [r for r in data["semantic"] if r["test"] == test and r["allocator"] == "cidh"
                            and r["concealer"] == concealer]}
        systems["h265_strict"] = [r for r in data["h265"] if r["test"] == test]
        for v in sorted({r["variant"] for r in data.get("resilient", [])}):
            systems[f"{v}_resilient"] = [r for r in data["resilient"] if r["test"] == test and r["variant"] == v]
        usable[str(test)] = {name: _usable_up_to(rows, thr) for name, rows in systems.items() if rows}
        u = usable[str(test)]
        if "cidh" not in u:
            continue
        base = {k: v["all"] for k, v in u.items() if k != "cidh"}
        best = max(base, key=lambda k: -1.0 if base[k] is None else base[k]) if base else None
        c = u["cidh"]["all"]
        headline[str(test)] = {"cidh_usable_up_to": c, "best_video_baseline": best,
                               "baseline_usable_up_to": None if best is None else base[best],
                               "holds": bool(c is not None and c > 0.75 and all(b is None or b < c for b in base.values())
                                             and all(b is None or b <= 0.75 for b in base.values()))}
    return usable, headline


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------


_LABELS = {"ald": "ALD [px] (lower is better)", "psnr": "PSNR [dB]", "ssim": "SSIM (higher is better)"}


def plot(results: Results | dict, out_dir: str | Path) -> list[Path]:
    """Fig. 2 (metrics vs CBLER per allocator, one column per test), Fig. 3 (CIDH vs H.265), Fig. 4
    (quality vs bit rate), drawn from the results JSON."""
    import matplotlib

    matplotlib.use("Agg")

    data = results.data if isinstance(results, Results) else results
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    xlab = "CBLER" if data["x_axis"] == "cbler" else "SNR (Es/N0) [dB]"
    paths = [_plot_allocators(data, out, xlab)]
    if data["h265"]:
        paths.append(_plot_vs_h265(data, out, xlab))
    if data.get("resilient"):
        paths.append(_plot_resilient(data, out, xlab))
    if data["rate"]["cidh"] or data["rate"]["h265"]:
        paths.append(_plot_rate(data, out))
    return paths


def _save(fig, path: Path) -> Path:
    """The sweep's figures at 100 dpi, through :func:`semcom.report.plots.save_figure`."""
    from semcom.report.plots import save_figure

    return save_figure(fig, path, dpi=100)


def _finish_axes(ax, xlab: str, m: str) -> None:
    ax.set_xlabel(xlab)
    ax.set_ylabel(_LABELS[m])
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)


def _plot_allocators(data: dict, out: Path, xlab: str) -> Path:
    """Fig. 2: each metric against the x axis per allocator (and concealer), one column per test."""
    import matplotlib.pyplot as plt

    sem = data["semantic"]
    tests = sorted({r["test"] for r in sem})
    styles = {"ffh": "-o", "sidh": "--s", "cidh": "-^", "optimal": ":D"}
    fig, axes = plt.subplots(3, len(tests), figsize=(4.2 * len(tests), 9), squeeze=False)
    for ci, test in enumerate(tests):
        g = data["grants"][str(test)]
        for ri, m in enumerate(METRICS):
            ax = axes[ri][ci]
            for key in sorted({(r["allocator"], r["concealer"]) for r in sem if r["test"] == test}):
                pts = sorted((r["point"], r[m]) for r in sem if r["test"] == test and (r["allocator"], r["concealer"]) == key
                             and r.get(m) is not None)
                if pts:
                    xs, ys = zip(*pts)
                    lab = key[0].upper() + ("" if key[1] == "fc" else f" ({key[1]})")
                    ax.plot(xs, ys, styles.get(key[0], "-") if key[1] == "fc" else ":", label=lab, markersize=4,
                            alpha=1.0 if key[1] == "fc" else 0.6)
            if ri == 0:
                ax.set_title(f"test {test}: K={g['K']}, {g['m']} symbols/block ({g['kbps']:.1f} kbit/s)", fontsize=9)
            _finish_axes(ax, xlab, m)
    return _save(fig, out / "sweep_allocators.png")


def _plot_vs_h265(data: dict, out: Path, xlab: str) -> Path:
    """Fig. 3: CIDH + FC against H.265 at the same bit rate over the same code blocks."""
    import matplotlib.pyplot as plt

    sem = data["semantic"]
    tests = sorted({r["test"] for r in sem})
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, m in zip(axes, METRICS):
        for i, test in enumerate(tests):
            pts = sorted((r["point"], r[m]) for r in sem if r["test"] == test and r["allocator"] == "cidh"
                         and r["concealer"] == "fc" and r.get(m) is not None)
            if pts:
                ax.plot(*zip(*pts), "-^", color=f"C{i}", label=f"CIDH+FC test {test}", markersize=4)
            hp = sorted((r["point"], r[m]) for r in data["h265"] if r["test"] == test and r.get(m) is not None)
            if hp:
                ax.plot(*zip(*hp), "--x", color=f"C{i}", label=f"H.265 test {test} rate", markersize=4)
            hs = sorted((r["point"], r[m + "_srcfb"]) for r in data["h265"] if r["test"] == test
                        and r.get(m + "_srcfb") is not None)
            if hs and hs != hp:
                ax.plot(*zip(*hs), ":", color=f"C{i}", label=f"H.265 test {test}, source-frame fallback", alpha=0.7)
        ref = data.get("reference_source_frame", {}).get(m)
        if ref is not None:
            ax.axhline(ref, color="0.5", lw=0.8, ls="-.", label="source frame only")
        _finish_axes(ax, xlab, m)
    fig.suptitle("semantic stream (CIDH) vs H.265 at the same bit rate over the same code blocks", fontsize=10)
    return _save(fig, out / "sweep_vs_h265.png")


def _plot_rate(data: dict, out: Path) -> Path:
    """Fig. 4: quality against bit rate without loss, CIDH + FC and H.265."""
    import matplotlib.pyplot as plt

    rate = data["rate"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, m in zip(axes, METRICS):
        c = sorted((r["kbps"], r[m]) for r in rate["cidh"] if r.get(m) is not None)
        h = sorted((r["kbps"], r[m]) for r in rate["h265"] if r.get(m) is not None)
        if c:
            ax.plot(*zip(*c), "-^", label="CIDH+FC (no loss)")
        if h:
            ax.plot(*zip(*h), "--x", label="H.265 (no loss)")
        ax.set_xscale("log")
        _finish_axes(ax, "bit rate [kbit/s]", m)
    return _save(fig, out / "sweep_rate.png")


def _plot_resilient(data: dict, out: Path, xlab: str) -> Path:
    """Metrics vs CBLER per test: CIDH + concealer, strict H.265, the resilient baselines, with the
    usable-quality thresholds as dotted lines."""
    import matplotlib.pyplot as plt

    tests = sorted({r["test"] for r in data["resilient"]})
    conc = (data.get("claims") or {}).get("concealer")
    thr = data.get("usable_thresholds") or {}
    fig, axes = plt.subplots(3, len(tests), figsize=(4.2 * len(tests), 9), squeeze=False)
    for ci, test in enumerate(tests):
        systems = [("CIDH+" + _CONC.get(conc, str(conc)), "-^", "C0", [r for r in data["semantic"] if r["test"] == test
                                                                    and r["allocator"] == "cidh" and r["concealer"] == conc]),
                   ("H.265 strict", "--x", "C1", [r for r in data["h265"] if r["test"] == test])]
        for i, v in enumerate(RESILIENT_VARIANTS):
            systems.append((f"{_VARIANT_LABEL.get(v, v)} resilient", ":o" if "fec" in v else "-.s", f"C{i + 2}",
                            [r for r in data["resilient"] if r["test"] == test and r["variant"] == v]))
        for ri, m in enumerate(METRICS):
            ax = axes[ri][ci]
            for label, style, color, rows in systems:
                pts = sorted((r["point"], r[m]) for r in rows if r.get(m) is not None)
                if pts:
                    ax.plot(*zip(*pts), style, color=color, label=label, markersize=4)
            if m in thr:
                ax.axhline(thr[m], color="0.4", lw=0.8, ls=":")
            ax.set_xlabel(xlab)
            ax.set_ylabel(_LABELS[m])
            ax.grid(True, alpha=0.3)
            if ri == 0:
                g = data["grants"][str(test)]
                ax.set_title(f"test {test}: K={g['K']} blocks of {g['block_bits']} bits ({g['kbps']:.1f} kbit/s)", fontsize=9)
            ax.legend(fontsize=6)
    fig.suptitle("keypoint stream vs strict and error-resilient video at the same rate over the same code blocks", fontsize=10)
    return _save(fig, out / "sweep_vs_resilient.png")


_VARIANT_LABEL = {"h264": "H.264", "h265": "H.265", "h264_fec": "H.264+FEC", "h265_fec": "H.265+FEC"}


# --------------------------------------------------------------------------------------------
# CLI and demo
# --------------------------------------------------------------------------------------------


def build_parser():
    from semcom import cliargs

    t = cliargs.typed
    p = cliargs.ArgumentParser(prog="semcom prt sweep", description=__doc__.split("\n")[0])
    add_common_arguments(p, default_out="results/prt")
    p.add_argument("--video", type=t(cliargs.parse_existing_file, what="video"), default=None,
                   help="the user's head-and-shoulders video (default: synthetic)")
    p.add_argument("--frames", type=t(cliargs.parse_int, what="frames", lo=1, hi=2000), default=None,
                   help="frames used, 1..2000")
    p.add_argument("--size", type=t(cliargs.parse_int, what="frame size", lo=64, hi=1024), default=None,
                   help="frame side in pixels (even), 64..1024")
    p.add_argument("--cbler", type=t(cliargs.parse_number_list, what="CBLER", lo=0.0, hi=1.0), default=None,
                   help="CBLER list of the erasure link, e.g. 0,0.5,1 or 0:1:0.1")
    p.add_argument("--link", default=None, choices=list(LINKS))
    p.add_argument("--snr", type=t(cliargs.parse_snr_list), default=None,
                   help="SNR list of the bit-true link (--link bittrue), e.g. -2:4:1")
    p.add_argument("--tests", type=t(cliargs.parse_number_list, what="Table I test", lo=1, hi=9, integer=True),
                   default=None, help="Table I tests, e.g. 1,2,3")
    p.add_argument("--allocators", type=t(cliargs.parse_choice_list, choices=ALLOCATOR_NAMES, what="allocator"),
                   default=None, help="e.g. ffh,sidh,cidh,optimal")
    p.add_argument("--seeds", type=t(cliargs.parse_int, what="seeds", lo=1, hi=100), default=None,
                   help="link draws per point, 1..100")
    p.add_argument("--no-h265", action="store_true", help="skip the H.265 baseline")
    p.add_argument("--resilient", type=t(cliargs.parse_choice_list, choices=tuple(RESILIENT_VARIANTS),
                                         what="resilient baseline"), default=None,
                   help="error-resilient video baselines, e.g. h264,h265,h264_fec (default h264,h265,h264_fec)")
    p.add_argument("--no-resilient", action="store_true", help="skip the error-resilient video baselines")
    p.add_argument("--quick", action="store_true", help="a CI-sized run (values you give still apply)")
    return p


def config_from_args(a) -> SweepConfig:
    """The config file, the options given written over it, then (``--quick``) :data:`QUICK` for the
    keys still unset. ``--snr`` needs the bit-true link and ``--cbler`` the erasure link."""
    from semcom import cliargs

    cfg = load_config_file(a.config)
    cfg.update(cliargs.given(a, ("video", "frames", "size", "link", "seeds", "allocators", "tests", "seed")))
    if a.cbler is not None:
        cfg["cblers"] = a.cbler
    if a.snr is not None:
        cfg["snr_db"] = a.snr
    if a.no_h265:
        cfg["h265"] = False
    cliargs.check_exclusive(("--resilient", a.resilient is not None), ("--no-resilient", a.no_resilient))
    if a.resilient is not None:
        cfg["resilient"] = a.resilient
    if a.no_resilient:
        cfg["resilient"] = []
    if a.quick:
        cfg = cliargs.fill_defaults(cfg, QUICK)
    checked = SweepConfig.from_dict(cfg)
    cliargs.check_applies("--snr", a.snr is not None, checked.link == "bittrue", "only the bit-true link (--link bittrue) sweeps the SNR")
    cliargs.check_applies("--cbler", a.cbler is not None, checked.link == "erasure", "only the erasure link (--link erasure) sweeps the CBLER")
    if checked.link == "bittrue":
        cliargs.check_snr_values(checked.snr_db)
    return checked


def main(argv: Sequence[str] | None = None) -> int:
    """``semcom prt sweep``: run, write ``<out>/sweep.json`` and the plots, print a summary."""
    from semcom import cliargs

    a = build_parser().parse_args(argv)
    cfg = config_from_args(a)
    cliargs.check_common(a)
    res = run(cfg, progress=not a.no_progress, workers=a.workers, cluster=a.cluster)
    path = res.save(a.out, "sweep.json")
    plot(res, a.out)
    print(format_summary(res))
    print(f"wrote {path}")
    return 0


def format_markdown(res: Results | dict) -> str:
    """Markdown tables of the sweep (the tables of docs/prt.md are made with this from the JSON)."""
    d = res.data if isinstance(res, Results) else res
    f = lambda v, n=2: "–" if v is None else f"{v:.{n}f}"  # noqa: E731
    cl = d.get("claims") or claims(d)
    lines = [f"Concealer: {cl['concealer']}. Mean over the {len({r['point'] for r in d['semantic']})} channel points "
             "(ALD [px] / PSNR [dB] / SSIM / measured W_rho); CIDH best of FFH, SIDH, CIDH at how many points.", "",
             "| test | K | kbit/s | FFH | SIDH | CIDH | optimal | CIDH best (ALD, PSNR, SSIM, W_rho) |",
             "|---|---|---|---|---|---|---|---|"]
    for t, a in cl["allocators"].items():
        g = d["grants"][t]
        cell = lambda x: "–" if x is None else f"{f(x['ald'])} / {f(x['psnr'], 1)} / {f(x['ssim'], 3)} / {f(x['w_rho'], 3)}"  # noqa: E731
        per = a["mean_over_points"]
        w = a["cidh_best_of_heuristics_at"]
        lines.append(f"| {t} | {g['K']} | {g['kbps']:.1f} | {cell(per.get('ffh'))} | {cell(per.get('sidh'))} | "
                     f"{cell(per.get('cidh'))} | {cell(per.get('optimal'))} | "
                     f"{', '.join(w.get(m, '–') for m in ('ald', 'psnr', 'ssim', 'w_rho'))} |")
    if cl["high_cbler"]:
        lines += ["", "| test | CBLER | CIDH ALD / PSNR / SSIM | H.265 frames decoded | H.265 PSNR / SSIM (grey fallback) | "
                  "H.265 ALD / PSNR / SSIM (source-frame fallback) |", "|---|---|---|---|---|---|"]
        for t, rows in cl["high_cbler"].items():
            for r in rows:
                c, h = r["cidh"] or {}, r["h265"] or {}
                lines.append(f"| {t} | {r['cbler']:.1f} | {f(c.get('ald'))} / {f(c.get('psnr'), 1)} / {f(c.get('ssim'), 3)} | "
                             f"{f(h.get('decoded'))} | {f(h.get('psnr'), 1)} / {f(h.get('ssim'), 3)} | "
                             f"{f(h.get('ald_srcfb'))} / {f(h.get('psnr_srcfb'), 1)} / {f(h.get('ssim_srcfb'), 3)} |")
    ref = d.get("reference_source_frame")
    if ref:
        lines += ["", f"Source frame shown for every frame: ALD {f(ref['ald'])} px, PSNR {f(ref['psnr'], 1)} dB, "
                      f"SSIM {f(ref['ssim'], 3)}."]
    if d["rate"]["cidh"] or d["rate"]["h265"]:
        lines += ["", "| system | kbit/s | ALD [px] | PSNR [dB] | SSIM |", "|---|---|---|---|---|"]
        for r in d["rate"]["cidh"]:
            lines.append(f"| CIDH, test {r['test']} (no loss) | {r['kbps']:.1f} | {f(r.get('ald'))} | {f(r['psnr'], 1)} | "
                         f"{f(r['ssim'], 3)} |")
        for r in d["rate"]["h265"]:
            note = " (smallest stream does not fit: grey)" if r.get("no_fit") else ""
            lines.append(f"| H.265{note} | {r['kbps']:.1f} | {f(r.get('ald'))} | {f(r['psnr'], 1)} | {f(r['ssim'], 3)} |")
    if d.get("resilient"):
        lines += _resilient_markdown(d, cl)
    return "\n".join(lines)


def _resilient_markdown(d: dict, cl: dict) -> list[str]:
    """The tables of the resilient baselines: usable CBLER per system, metrics vs CBLER, accounting."""
    f = lambda v, n=2: "–" if v is None else f"{v:.{n}f}"  # noqa: E731
    thr = d.get("usable_thresholds") or USABLE
    variants = sorted({r["variant"] for r in d["resilient"]}, key=list(RESILIENT_VARIANTS).index)
    lines = ["", f"Usable quality: ALD <= {thr['ald']:g} px (face found in >= 95 % of the scored frames), "
             f"PSNR >= {thr['psnr']:g} dB, SSIM >= {thr['ssim']:g}. Highest CBLER up to which every swept point "
             "meets the threshold (– : not even at CBLER 0):", "",
             "| test | system | ALD | PSNR | SSIM | all three |", "|---|---|---|---|---|---|"]
    for test, per in (cl.get("usable_up_to") or {}).items():
        for name, u in per.items():
            lines.append(f"| {test} | {name} | {' | '.join(f(u[m], 1) for m in METRICS + ('all',))} |")
    for test, h in (cl.get("headline") or {}).items():
        lines.append("")
        lines.append(f"Test {test}: CIDH usable up to CBLER {f(h['cidh_usable_up_to'], 1)}; best video baseline "
                     f"{h['best_video_baseline']} up to {f(h['baseline_usable_up_to'], 1)}; "
                     f"\"usable above 75 % CBLER where the video baselines fail\": **{'holds' if h['holds'] else 'does not hold'}**.")
    cell = lambda r: "–" if r is None else f"{f(r.get('ald'))} / {f(r.get('psnr'), 1)} / {f(r.get('ssim'), 3)}"  # noqa: E731
    lines += ["", "ALD [px] / PSNR [dB] / SSIM; resilient baselines also (frames decoded, of which concealed).", "",
              "| test | CBLER | CIDH | H.265 strict | " + " | ".join(f"{_VARIANT_LABEL.get(v, v)} resilient" for v in variants) + " |",
              "|---|---|---|---|" + "---|" * len(variants)]
    conc = cl.get("concealer")
    for test in sorted({r["test"] for r in d["resilient"]}):
        for p in sorted({r["point"] for r in d["resilient"] if r["test"] == test}):
            c = next((r for r in d["semantic"] if r["test"] == test and r["allocator"] == "cidh"
                      and r["concealer"] == conc and r["point"] == p), None)
            h = next((r for r in d["h265"] if r["test"] == test and r["point"] == p), None)
            vs = []
            for v in variants:
                r = next((r for r in d["resilient"] if r["test"] == test and r["variant"] == v and r["point"] == p), None)
                vs.append("no fit" if r and r.get("no_fit") else
                          f"{cell(r)} ({f(r.get('decoded'))}, {f(r.get('concealed'))})" if r else "–")
            lines.append(f"| {test} | {p:.1f} | {cell(c)} | {cell(h)} | {' | '.join(vs)} |")
    lines += ["", "| baseline | test | coded size | stream kbit/s | framing | FEC | padding | slices | fragmented | largest slice [B] |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for v, per in (d.get("resilient_accounting") or {}).items():
        for test, a in per.items():
            ch = a["channel_bits"]
            lines.append(f"| {_VARIANT_LABEL.get(v, v)} | {test} | {a['coded_size'][0]}x{a['coded_size'][1]} | "
                         f"{a['stream_kbps']:.1f} of {a['matched_kbps']:.1f} | {100 * a['framing_bits'] / ch:.1f} % | "
                         f"{100 * a['fec_bits'] / ch:.1f} % | {100 * a['padding_bits'] / ch:.1f} % | {a['slices']} | "
                         f"{a['fragmented_slices']} | {a['max_slice_bytes']} |")
    return lines


def _fmt(v: float | None) -> str:
    return "   n/a" if v is None else f"{v:6.2f}"


def format_summary(res: Results) -> str:
    """A short text table: per test and allocator, ALD/PSNR/SSIM at each channel point (FC concealer)."""
    d = res.data
    lines = [f"x = {d['x_axis']}; ALD [px] / PSNR [dB] / SSIM"]
    for r in sorted(d["semantic"], key=lambda r: (r["test"], r["allocator"], r["concealer"], r["point"])):
        lines.append(f"test {r['test']} {r['allocator']:>7} {r['concealer']:>9} x={r['point']:<5g} "
                     f"{_fmt(r.get('ald'))} {r['psnr']:6.2f} {r['ssim']:.3f}")
    for r in sorted(d["h265"], key=lambda r: (r["test"], r["point"])):
        lines.append(f"test {r['test']}    h265           x={r['point']:<5g} {_fmt(r.get('ald'))} {r['psnr']:6.2f} "
                     f"{r['ssim']:.3f} decoded {r['decoded']:.2f} no face {r['no_face']:.2f}")
    for r in sorted(d.get("resilient", []), key=lambda r: (r["variant"], r["test"], r["point"])):
        lines.append(f"test {r['test']} {r['variant']:>8} resilient x={r['point']:<5g} {_fmt(r.get('ald'))} {r['psnr']:6.2f} "
                     f"{r['ssim']:.3f} decoded {r['decoded']:.2f} concealed {r.get('concealed', 0.0):.2f}")
    for test, h in (d.get("claims") or {}).get("headline", {}).items():
        lines.append(f"test {test}: CIDH usable up to CBLER {h['cidh_usable_up_to']}, best video baseline "
                     f"{h['best_video_baseline']} up to {h['baseline_usable_up_to']}; headline claim holds: {h['holds']}")
    return "\n".join(lines)


_CONC = {"fc": "FC", "hold_last": "hold-last"}


def fc_available() -> bool:
    """Whether the FC concealer's committed checkpoint can be found."""
    try:
        from semcom.models.concealer import pretrained_concealer_path

        return pretrained_concealer_path().is_file()
    except Exception:  # the keypoint application is not in this checkout, or no checkpoint
        return False


def _na(v: float | None) -> Any:
    return "no face" if v is None else v


def _cell(score: dict) -> str:
    ald = "no face" if score["ald"] is None else f"ALD {score['ald']:.1f} px"
    return f"{ald}, {score['psnr']:.1f} dB"


def demo_section(report: Any, out_dir: str | Path, quick: bool = False) -> dict:
    """Add a prt section to ``report`` (an :class:`semcom.report.html.HtmlReport`).

    A strip of frames of the talking-head clip: the original, CIDH + FC concealer (Table I test 3),
    strict H.265 and error-resilient H.264 (slices sized to the code blocks, intra refresh, decoder
    concealment) at the same bit rate over the same code blocks, at CBLER 0 %, 50 % and 90 % (one
    link draw, seed 0, the same for all three); the hold-last concealer stands in when the FC
    checkpoint is absent. ``quick`` uses 8 frames of 128x128 and fast encoder presets. Returns the
    numbers shown (per-cell ALD / PSNR of the shown frame).
    """
    import matplotlib

    matplotlib.use("Agg")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    conc = "fc" if fc_available() else "hold_last"
    cfg = SweepConfig(frames=8 if quick else 24, size=128 if quick else 256, h265_preset="ultrafast" if quick else "medium",
                      tests=[3], allocators=["cidh"], concealers=[conc], seeds=1, rate_tests=[], eval_every=1,
                      resilient=["h264"], resilient_preset="veryfast" if quick else "medium")
    ctx = _context(json.dumps(dataclasses.asdict(cfg), sort_keys=True))
    shown = len(ctx.frames) - 1
    cells, info, coded = _demo_cells(cfg, ctx, conc, shown)
    path = _demo_strip([("original", ctx.frames[shown], None)] + cells, out / "prt_demo.png")
    report.heading("Importance-driven resilience (prt): keypoint video call vs H.265")
    report.paragraph(
        f"Frame {shown} of a {len(ctx.frames)}-frame synthetic talking head ({cfg.size}x{cfg.size}): the original, the "
        f"keypoint stream (CIDH allocation, {_CONC[conc]} concealer, warp synthesis), strict H.265 (one slice per "
        f"picture, key frames) and error-resilient H.264 (slices sized to the code blocks, intra refresh, decoder "
        f"concealment; coded at {coded[0]}x{coded[1]}) at the same "
        f"{info['kbps']:.1f} kbit/s over the same code blocks (Table I test 3: 5 blocks per frame), at CBLER 0, 50 and "
        f"90 % (one link draw). The sweep over CBLER, allocators, tests and baselines is `semcom prt sweep`.")
    report.image(path, f"original | CIDH+{_CONC[conc]} | strict H.265 | resilient H.264, each at CBLER 0/50/90 %")
    report.table(["CBLER", "CIDH ALD [px]", "CIDH PSNR [dB]", "H.265 ALD [px]", "H.265 PSNR [dB]", "H.265 frames decoded",
                  "H.264 res. ALD [px]", "H.264 res. PSNR [dB]", "H.264 res. frames decoded (concealed)"],
                 [[c["cbler"], _na(c["cidh"]["ald"]), c["cidh"]["psnr"], _na(c["h265"]["ald"]), c["h265"]["psnr"],
                   c["h265"]["decoded"], _na(c["h264_resilient"]["ald"]), c["h264_resilient"]["psnr"],
                   f"{c['h264_resilient']['decoded']:.2f} ({c['h264_resilient']['concealed']:.2f})"] for c in info["cells"]])
    return info


def _demo_cells(cfg: SweepConfig, ctx, conc: str, shown: int) -> tuple[list, dict, tuple[int, int]]:
    """The demo's frames (title, image, scores) of CIDH + ``conc``, strict H.265 and resilient H.264
    at CBLER 0, 50 and 90 % (one link draw, the same blocks lost for both videos), the numbers
    shown, and the resilient video's coded size."""
    cfg_json = json.dumps(dataclasses.asdict(cfg), sort_keys=True)
    grant = table1_grant(3, ctx.symbol_bits)
    sem_cells, h_cells, r_cells = [], [], []
    tx, packed = _packed(cfg_json, grant.total_bits, grant.n_blocks)
    rtx, rpacked = _resilient_packed(cfg_json, "h264", grant.total_bits, grant.n_blocks)
    info: dict = {"concealer": conc, "frame": shown, "test": 3, "kbps": grant.total_bits * cfg.fps / 1000, "cells": []}
    for c in (0.0, 0.5, 0.9):
        cfg_c = dataclasses.replace(cfg, cblers=[c])
        img = semantic_chain(ctx, cfg_c, 3, "cidh", conc, c, 0)["outputs"][shown]
        s = _score(ctx, {shown: img})
        sem_cells.append((f"CIDH+{_CONC[conc]}, CBLER {int(100 * c)} %\n{_cell(s)}", img, s))
        hb, hok = _send(cfg_c, c, tx.grant, packed.blocks, 7919)
        rx = tx.unpack(hb, hok, packed)
        himg = _to_u8(rx.frames[shown])
        hs = _score(ctx, {shown: himg})
        h_cells.append((f"H.265, CBLER {int(100 * c)} %\n{_cell(hs)}", himg, hs))
        rb, rok = _send(cfg_c, c, rtx.grant, rpacked.blocks, 7919)  # the same draw: the same blocks lost
        rrx = rtx.unpack(rb, rok, rpacked)
        rimg = _to_u8(rrx.frames[shown])
        rs = _score(ctx, {shown: rimg})
        r_cells.append((f"H.264 resilient, {int(100 * c)} %\n{_cell(rs)}", rimg, rs))
        info["cells"].append({"cbler": c, "cidh": s, "h265": hs | {"decoded": rx.success_rate},
                              "h264_resilient": rs | {"decoded": rrx.success_rate, "concealed": rrx.concealed_rate}})
    return sem_cells + h_cells + r_cells, info, (rpacked.coded_shape[1], rpacked.coded_shape[2])


def _demo_strip(cells: list, path: Path) -> Path:
    """One row of titled frames."""
    import matplotlib.pyplot as plt

    from semcom.report.plots import save_figure

    fig, axes = plt.subplots(1, len(cells), figsize=(1.9 * len(cells), 2.4))
    for ax, (title, img, _) in zip(axes, cells):
        ax.imshow(img)
        ax.set_title(title, fontsize=6)
        ax.axis("off")
    return save_figure(fig, path)

if __name__ == "__main__":  # pragma: no cover
    from semcom.cliargs import guarded

    raise SystemExit(guarded(main))
