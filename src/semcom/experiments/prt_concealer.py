"""Train and evaluate the prt FC concealer R (``semcom prt train-concealer``).

Griessel et al., "Importance-Driven Semantic Resilience for Challenging Future 6G Channels",
Sec. V: R is "a simple fully connected network with two hidden layers of 80 neurons each, ReLU
activation, and min-max normalized input and output", trained "with a uniform distribution of
drop rates between 0 and 1" (on 1.6 million VoxCeleb frames, which cannot be had here).

Data (all made here, offline):

* **train**: synthetic talking-head clips of the *training* portrait
  (:data:`semcom.data.talking_head.TRAIN_PORTRAIT`, matplotlib's ``grace_hopper.jpg``), several
  motion seeds and amplitudes, each also mirrored left-right; landmarks *detected* by MediaPipe
  on every frame; the source frame of a clip is its frame 0.
* **test**: a clip of the *test* portrait (:data:`semcom.data.talking_head.TEST_PORTRAIT`,
  ``skimage.data.astronaut``), never seen in training.

A sample is one frame: the history (the previous ``H`` *concealed* vectors), the received
symbols (8-bit quantised displacements from the source frame, as the extractor sends them) and
the symbol mask. Every 32-frame segment of a clip draws its drop rate from U[0, 1] and drops
each symbol of each frame independently with that rate (frame 0, the source frame, is always
known). Histories come from rolling the concealer itself over the clip (refreshed every
``refresh_every`` steps; at first, and for a share of clips that decays to ``min_hold_share``,
from hold-last concealment), so the network learns from the inputs it will see at run time.
The loss is the mean squared error of the missing coordinates, min-max normalised.

Evaluation: the mean landmark error in pixels (of a ``size`` x ``size`` frame) between the
concealed and the detected positions of the 120 transmitted landmarks, over all of them and
over the missing ones, for the FC concealer, hold-last and zero-motion, at drop rates
``eval_drop_rates`` (i.i.d. per symbol and frame, ``eval_mask_seeds`` draws). The concealers
run through :meth:`semcom.semantics.keypoint.LandmarkConcealer.conceal` on real received
frames (bits in, bits out), as in the pipeline.

Writes ``<out>/concealer.json`` (Results with provenance); with ``--install`` also the
checkpoint ``semcom/checkpoints/prt_concealer.pt`` and its metadata ``prt_concealer.json``.

Example:
    >>> res = run({"train_seeds": [0], "train_frames": 24, "test_frames": 16, "steps": 20, "size": 128,
    ...            "eval_mask_seeds": 1, "refresh_every": 10, "progress": False, "out": None})
    >>> sorted(res.data["eval"]["by_drop_rate"]["0.5"])
    ['fc', 'hold_last', 'zero_motion']
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from semcom.data import faces
from semcom.data.talking_head import TEST_PORTRAIT, TRAIN_PORTRAIT, talking_head_sequence
from semcom.errors import ConfigError
from semcom.experiments.common import config_with_overrides
from semcom.experiments.results import Results, git_commit, provenance
from semcom.models.checkpoint_io import save_checkpoint, write_metadata
from semcom.models.concealer import ConcealerConfig, ConcealerNet, pretrained_concealer_path
from semcom.semantics.keypoint import (
    FCConcealer,
    HoldLastConcealer,
    KeypointExtractor,
    ZeroMotionConcealer,
)
from semcom.semantics.symbols import CodeBlockGrant, unpack_code_blocks
from semcom.utils import from_dict

__all__ = ["ConcealerTrainConfig", "landmark_clips", "evaluate_concealers", "run", "main", "DEFAULT_OUT"]

DEFAULT_OUT = "results/prt"
COMMAND = "python -m semcom.experiments.prt_concealer --install --no-progress  (semcom prt train-concealer --install)"


@dataclasses.dataclass
class ConcealerTrainConfig:
    """Configuration of :func:`run` (unknown keys are refused).

    Attributes:
        train_portrait, test_portrait: portraits of :mod:`semcom.data.talking_head` (must differ).
        train_seeds: motion seeds of the training clips (each also mirrored).
        train_amplitudes: motion amplitudes, cycled over the seeds.
        train_frames, test_frames: frames per clip.
        test_seed: motion seed of the test clip.
        size: frame size in pixels (errors are reported in pixels of this size).
        history, hidden: the network's H and hidden width (the paper: 80).
        relative: the network sees the received values relative to the last concealed vector and
            outputs a correction to it (see
            :class:`semcom.models.concealer.ConcealerConfig`).
        val_seeds: motion seeds of held-out *training-portrait* clips (amplitude 1) used to pick
            the best weights (closed-loop error of the missing landmarks at ``eval_drop_rates``).
        steps, batch_size, lr: Adam steps (cosine decay to ``lr / 20``), batch, learning rate.
        refresh_every: steps between redrawing the masks (and re-rolling the histories).
        mask_draws: mask realisations per clip at every refresh.
        augment_scale, augment_rotation_deg: at every refresh each clip's displacements are
            scaled by a factor drawn from ``augment_scale`` and rotated by an angle drawn from
            +-``augment_rotation_deg`` (as if the face were framed larger, smaller or tilted), so
            the network does not learn one face's geometry; ``[1, 1]`` and ``0`` turn it off.
        augment_jitter_px: standard deviation (pixels of ``size``) of independent noise added to
            every symbol (a shift per symbol and frame, plus as much per landmark), so the network
            does not learn the detector's jitter correlations on the training face.
        validate_every: steps between validations.
        min_hold_share: final share of clips whose training histories come from hold-last
            concealment (1.0: always, the default; lower values mix in histories rolled out by
            the network itself, decaying linearly over the first half of training).
        segment: frames sharing one drop rate ~ U[0, 1].
        eval_drop_rates, eval_mask_seeds: evaluation drop rates and mask draws per rate.
        seed, threads: training seed, torch threads.
        progress: show a progress bar.
        out: results folder (``None``: do not write); install: write the package checkpoint.
    """

    train_portrait: str = TRAIN_PORTRAIT
    test_portrait: str = TEST_PORTRAIT
    train_seeds: list[int] = dataclasses.field(default_factory=lambda: list(range(12)))
    train_amplitudes: list[float] = dataclasses.field(default_factory=lambda: [0.6, 1.0, 1.4])
    train_frames: int = 200
    test_frames: int = 128
    test_seed: int = 1000
    size: int = 256
    history: int = 1
    hidden: int = 80
    relative: bool = True
    val_seeds: list[int] = dataclasses.field(default_factory=lambda: [900, 901])
    steps: int = 30000
    batch_size: int = 512
    lr: float = 1e-3
    refresh_every: int = 500
    mask_draws: int = 4
    augment_scale: list[float] = dataclasses.field(default_factory=lambda: [0.8, 1.25])
    augment_rotation_deg: float = 15.0
    augment_jitter_px: float = 0.0
    validate_every: int = 1000
    min_hold_share: float = 1.0
    segment: int = 32
    eval_drop_rates: list[float] = dataclasses.field(default_factory=lambda: [0.1, 0.5, 0.9])
    eval_mask_seeds: int = 3
    seed: int = 0
    threads: int = 1
    progress: bool = True
    out: str | None = DEFAULT_OUT
    install: bool = False

    def __post_init__(self) -> None:
        if self.train_portrait == self.test_portrait:
            raise ConfigError("train_portrait and test_portrait must differ (never test on training data)")
        for key in ("train_frames", "test_frames", "size", "history", "hidden", "steps", "batch_size",
                    "refresh_every", "segment", "eval_mask_seeds", "threads", "mask_draws", "validate_every"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"ConcealerTrainConfig.{key} must be a positive integer, got {v!r}")
        if self.train_frames < 2 or self.test_frames < 2:
            raise ConfigError("clips need at least 2 frames")
        for key in ("train_seeds", "val_seeds"):
            v = getattr(self, key)
            if not v or not all(isinstance(s, int) and not isinstance(s, bool) for s in v):
                raise ConfigError(f"{key} must be a non-empty list of integers, got {v!r}")
        if set(self.val_seeds) & set(self.train_seeds):
            raise ConfigError("val_seeds must differ from train_seeds")
        if not self.train_amplitudes or not all(0 <= float(a) <= 2 for a in self.train_amplitudes):
            raise ConfigError(f"train_amplitudes must be values in [0, 2], got {self.train_amplitudes!r}")
        if not all(0 <= float(r) <= 1 for r in self.eval_drop_rates) or not self.eval_drop_rates:
            raise ConfigError(f"eval_drop_rates must be values in [0, 1], got {self.eval_drop_rates!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ConfigError(f"lr must be positive, got {self.lr!r}")
        sc = self.augment_scale
        if not (isinstance(sc, (list, tuple)) and len(sc) == 2 and 0 < float(sc[0]) <= float(sc[1])):
            raise ConfigError(f"augment_scale must be [lo, hi] with 0 < lo <= hi, got {sc!r}")
        if not 0 <= float(self.augment_rotation_deg) <= 90:
            raise ConfigError(f"augment_rotation_deg must lie in [0, 90], got {self.augment_rotation_deg!r}")
        if not 0 <= float(self.min_hold_share) <= 1:
            raise ConfigError(f"min_hold_share must lie in [0, 1], got {self.min_hold_share!r}")


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def landmark_clips(portrait: str, seeds: Sequence[int], amplitudes: Sequence[float], n_frames: int, size: int,
                   mirror: bool, progress: bool = False) -> list[np.ndarray]:
    """Detected landmarks ``[T, 478, 2]`` of synthetic clips (and their mirror images when ``mirror``).

    Frames without a detected face hold the last detection (the synthetic clips have none).
    """
    from tqdm import tqdm

    out = []
    jobs = [(s, float(amplitudes[k % len(amplitudes)])) for k, s in enumerate(seeds)]
    with faces.FaceLandmarker() as fl:
        for seed, amp in tqdm(jobs, desc=f"clips {portrait}", disable=not progress):
            frames = talking_head_sequence(n_frames, size, seed, portrait, amplitude=amp).frames
            variants = [frames] + ([np.ascontiguousarray(frames[:, :, ::-1])] if mirror else [])
            for v in variants:
                lms, found = faces.detect_video(v, landmarker=fl)
                if not found[0]:
                    raise ConfigError(f"no face in frame 0 of the {portrait} clip (seed {seed})")
                out.append(lms)
    return out


def _offsets(clips: Sequence[np.ndarray], extractor: KeypointExtractor) -> np.ndarray:
    """``[S, T, D]`` quantised displacements of the transmitted points from each clip's frame 0."""
    lo, hi = extractor.value_range
    step = extractor.step
    out = []
    for lms in clips:
        d = lms[:, extractor.indices].astype(np.float64) - lms[0, extractor.indices]
        q = lo + np.clip(np.round((d - lo) / step), 0, 2**extractor.bits - 1) * step
        out.append(q.reshape(q.shape[0], -1))
    return np.stack(out).astype(np.float32)


def _drop_masks(rng: np.random.Generator, s: int, t: int, n: int, segment: int) -> np.ndarray:
    """Symbol masks ``[S, T, N]`` (1 = received) with a drop rate ~ U[0, 1] per ``segment`` frames."""
    n_seg = math.ceil(t / segment)
    rates = np.repeat(rng.uniform(0, 1, (s, n_seg)), segment, axis=1)[:, :t]
    mask = (rng.uniform(0, 1, (s, t, n)) >= rates[..., None]).astype(np.float32)
    mask[:, 0] = 1.0
    return mask


def _augment(rng: np.random.Generator, x: torch.Tensor, scale: Sequence[float], rotation_deg: float,
             bounds: tuple[float, float], jitter: float = 0.0, n_symbols: int = 1) -> torch.Tensor:
    """Each clip's displacements ``[S, T, D]`` scaled and rotated by its own random similarity,
    plus independent jitter (std ``jitter``) per symbol and per landmark (frame 0 stays exact)."""
    s = x.shape[0]
    k = torch.from_numpy(rng.uniform(float(scale[0]), float(scale[1]), s)).float()
    th = torch.from_numpy(np.deg2rad(rng.uniform(-rotation_deg, rotation_deg, s))).float()
    rot = torch.stack([torch.stack([th.cos(), -th.sin()], -1), torch.stack([th.sin(), th.cos()], -1)], -2)
    pts = x.reshape(s, x.shape[1], -1, 2)
    out = torch.einsum("sij,stpj->stpi", rot * k[:, None, None], pts)
    if jitter > 0:
        p = out.shape[2]
        per_symbol = rng.normal(0, jitter, (s, out.shape[1], n_symbols, 1, 2)).repeat(p // n_symbols, axis=3)
        noise = per_symbol.reshape(s, out.shape[1], p, 2) + rng.normal(0, jitter, out.shape)
        noise[:, 0] = 0.0
        out = out + torch.from_numpy(noise).float()
    return out.reshape(x.shape).clamp(*bounds)


def _rollout(net: ConcealerNet | None, x: torch.Tensor, mask: torch.Tensor, history: int,
             hold: torch.Tensor) -> torch.Tensor:
    """Concealed vectors ``[S, T, D]``: hold-last for clips with ``hold``, else the network."""
    s, t, d = x.shape
    full = mask.repeat_interleave(d // mask.shape[-1], dim=-1) > 0
    out = torch.zeros_like(x)
    out[:, 0] = x[:, 0]
    with torch.no_grad():
        for k in range(1, t):
            held = torch.where(full[:, k], x[:, k], out[:, k - 1])
            if net is None or bool(hold.all()):
                out[:, k] = held
                continue
            idx = [max(0, j) for j in range(k - history, k)]
            pred = net(out[:, idx], torch.where(full[:, k], x[:, k], torch.zeros_like(x[:, k])), mask[:, k])
            pred = torch.where(full[:, k], x[:, k], pred)
            out[:, k] = torch.where(hold[:, None], held, pred)
    return out


def _samples(x: torch.Tensor, mask: torch.Tensor, concealed: torch.Tensor, history: int) -> tuple[torch.Tensor, ...]:
    """Training samples of frames 1..T-1: history ``[M, H, D]``, received, mask, target."""
    s, t, d = x.shape
    idx = torch.tensor([[max(0, j) for j in range(k - history, k)] for k in range(1, t)])  # [T-1, H]
    hist = concealed[:, idx]  # [S, T-1, H, D]
    full = mask.repeat_interleave(d // mask.shape[-1], dim=-1)
    rec = x * full
    return (hist.reshape(-1, history, d), rec[:, 1:].reshape(-1, d), mask[:, 1:].reshape(-1, mask.shape[-1]),
            x[:, 1:].reshape(-1, d))


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def evaluate_concealers(concealers: dict[str, Any], extractor_factory: Any, lms: np.ndarray,
                        drop_rates: Sequence[float], mask_seeds: int, size: int) -> dict:
    """Mean landmark error (pixels) of each concealer over a clip at each drop rate.

    Args:
        concealers: ``{name: factory(extractor) -> LandmarkConcealer}``.
        extractor_factory: ``reference [478, 2] -> KeypointExtractor``.
        lms: detected landmarks of the clip ``[T, 478, 2]``; frame 0 is the source frame.
        drop_rates: symbol drop rates (i.i.d. per symbol and frame; frame 0 always received).
        mask_seeds: mask draws per rate (seeds 0 .. mask_seeds - 1).
        size: frame size for pixel units.

    Returns:
        ``{"by_drop_rate": {str(rate): {name: {"ald_px", "ald_missing_px", "missing_share"}}}}``.
    """
    e = extractor_factory(lms[0])
    truth = lms[:, e.indices].astype(np.float64)
    t_len = lms.shape[0]
    grant = CodeBlockGrant.uniform(e.n_symbols, e.symbol_bits)
    eye = np.eye(e.n_symbols, dtype=int)
    frames = [e.extract(lms[t], index=t) for t in range(t_len)]
    out: dict = {}
    for rate in drop_rates:
        per: dict = {}
        for name, make in concealers.items():
            errs, miss_errs, n_missing = [], [], 0
            for ms in range(mask_seeds):
                rng = np.random.default_rng(10_000 * ms + int(round(rate * 1000)))
                masks = rng.uniform(0, 1, (t_len, e.n_symbols)) >= rate
                masks[0] = True
                r = make(e)
                history: list = []
                for t in range(t_len):
                    f = frames[t]
                    rec = unpack_code_blocks(list(f.payloads), masks[t], eye, f.sizes, grant, t)
                    c = r.conceal(tuple(history), rec)
                    history = (history + [c])[-8:]
                    pts = e.dequantise(c)
                    d = np.linalg.norm((pts - truth[t]) * size, axis=1)
                    rows = ~np.repeat(masks[t], e.points_per_symbol)
                    errs.append(d.mean())
                    if rows.any():
                        miss_errs.append(d[rows])
                        n_missing += int(rows.sum())
            per[name] = {
                "ald_px": float(np.mean(errs)),
                "ald_missing_px": float(np.concatenate(miss_errs).mean()) if miss_errs else 0.0,
                "missing_share": n_missing / (mask_seeds * t_len * e.n_points),
            }
        out[str(rate)] = per
    return {"by_drop_rate": out}


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def _closed_loop_px(net: ConcealerNet | None, x: torch.Tensor, masks: dict, history: int, size: int) -> dict:
    """Mean pixel error of the missing landmarks, the network concealing from its own history
    (``net=None``: hold-last)."""
    out = {}
    s, t, d = x.shape
    if net is not None:
        net.eval()
    for rate, mask in masks.items():
        hold = torch.full((s,), net is None, dtype=torch.bool)
        c = _rollout(net, x, mask, history, hold)
        miss = 1.0 - mask.repeat_interleave(d // mask.shape[-1], dim=-1).reshape(s, t, -1, 2)[..., 0]
        err = (c - x).reshape(s, t, -1, 2).norm(dim=-1) * size
        out[rate] = float((err * miss).sum() / miss.sum().clamp(min=1.0))
    if net is not None:
        net.train()
    return out


def _train(cfg: ConcealerTrainConfig, x: torch.Tensor, val: torch.Tensor, n_symbols: int) -> tuple[ConcealerNet, dict]:
    """Train on ``x [S, T, D]``; keep the weights with the lowest closed-loop error on ``val``."""
    from tqdm import tqdm

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    s, t, d = x.shape
    net = ConcealerNet(ConcealerConfig(n_symbols=n_symbols, dim=d, history=cfg.history, hidden=cfg.hidden,
                                         relative=cfg.relative))
    net.fit_normalisation(x.reshape(-1, d))
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps, eta_min=cfg.lr / 20)
    # validation: held-out clips of the training portrait, fixed i.i.d. masks at the eval rates
    vrng = np.random.default_rng(cfg.seed + 1)
    vmasks = {}
    for rate in cfg.eval_drop_rates:
        m = (vrng.uniform(0, 1, (val.shape[0], val.shape[1], n_symbols)) >= rate).astype(np.float32)
        m[:, 0] = 1.0
        vmasks[str(rate)] = torch.from_numpy(m)
    log: list = []
    best = (math.inf, None, 0)
    data = None
    running = 0.0
    lo_v, hi_v = float(x.min()), float(x.max())
    bar = tqdm(total=cfg.steps, desc="train concealer", disable=not cfg.progress, dynamic_ncols=True)
    for step in range(cfg.steps):
        if step % cfg.refresh_every == 0:
            xs = _augment(rng, x.repeat(cfg.mask_draws, 1, 1), cfg.augment_scale, cfg.augment_rotation_deg,
                          (lo_v, hi_v), cfg.augment_jitter_px / cfg.size, n_symbols)
            mask = torch.from_numpy(_drop_masks(rng, xs.shape[0], t, n_symbols, cfg.segment))
            share = 1.0 if step == 0 else max(cfg.min_hold_share, 1.0 - step / (0.5 * cfg.steps))
            hold = torch.from_numpy(rng.uniform(0, 1, xs.shape[0]) < share)
            net.eval()
            concealed = _rollout(net if step else None, xs, mask, cfg.history, hold)
            net.train()
            data = _samples(xs, mask, concealed, cfg.history)
        hist, rec, m, target = data
        idx = torch.from_numpy(rng.integers(0, hist.shape[0], cfg.batch_size))
        h, r, mb, tg = hist[idx], rec[idx], m[idx], target[idx]
        pred = net(h, r, mb)
        missing = 1.0 - net.expand_mask(mb)
        err = (net.normalise(pred) - net.normalise(tg)) ** 2 * missing
        loss = err.sum() / missing.sum().clamp(min=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        if (step + 1) % cfg.validate_every == 0 or step + 1 == cfg.steps:
            v = _closed_loop_px(net, val, vmasks, cfg.history, cfg.size)
            score = float(np.mean(list(v.values())))
            log.append({"step": step + 1, "loss": running, "lr": sched.get_last_lr()[0], "val_missing_px": v})
            if score < best[0]:
                best = (score, {k: w.detach().clone() for k, w in net.state_dict().items()}, step + 1)
            bar.set_postfix(loss=f"{running:.2e}", val=f"{score:.3f}")
        bar.update(1)
    bar.close()
    net.load_state_dict(best[1])
    net.eval()
    return net, {"log": log, "best_step": best[2], "best_val_missing_px": best[0],
                 "val_hold_last_missing_px": _closed_loop_px(None, val, vmasks, cfg.history, cfg.size)}


def run(config: ConcealerTrainConfig | dict | None = None) -> Results:
    """Build the data, train the FC concealer, evaluate it against hold-last and zero-motion.

    Returns:
        ``Results("concealer", data, provenance)``; ``data`` holds ``eval`` (see
        :func:`evaluate_concealers`), ``train`` (samples, loss log, minutes), ``data`` (what was
        trained and tested on), ``parameters`` and, with ``install``, ``checkpoint``.
    """
    cfg = config if isinstance(config, ConcealerTrainConfig) else from_dict(ConcealerTrainConfig, config or {})
    torch.set_num_threads(cfg.threads)
    t0 = time.time()
    probe = KeypointExtractor(reference=np.zeros((faces.N_LANDMARKS, 2)))
    train_clips = landmark_clips(cfg.train_portrait, cfg.train_seeds, cfg.train_amplitudes, cfg.train_frames,
                                 cfg.size, mirror=True, progress=cfg.progress)
    val_clips = landmark_clips(cfg.train_portrait, cfg.val_seeds, [1.0], cfg.train_frames, cfg.size, mirror=False)
    test_clip = landmark_clips(cfg.test_portrait, [cfg.test_seed], [1.0], cfg.test_frames, cfg.size,
                               mirror=False)[0]
    data_minutes = (time.time() - t0) / 60
    x = torch.from_numpy(_offsets(train_clips, probe))
    t1 = time.time()
    val = torch.from_numpy(_offsets(val_clips, probe))
    net, fit = _train(cfg, x, val, probe.n_symbols)
    train_minutes = (time.time() - t1) / 60
    ev = evaluate_concealers(
        {"fc": lambda e: FCConcealer(e, net), "hold_last": HoldLastConcealer, "zero_motion": ZeroMotionConcealer},
        lambda ref: KeypointExtractor(reference=ref), test_clip, cfg.eval_drop_rates, cfg.eval_mask_seeds, cfg.size)
    data_desc = {
        "train": (f"{len(train_clips)} synthetic talking-head clips of '{cfg.train_portrait}' "
                  f"(motion seeds {cfg.train_seeds}, amplitudes {cfg.train_amplitudes}, each also mirrored), "
                  f"{cfg.train_frames} frames at {cfg.size}x{cfg.size}, MediaPipe landmarks"),
        "validation": (f"{len(val_clips)} clips of '{cfg.train_portrait}' (motion seeds {cfg.val_seeds}), "
                       "used only to pick the best weights"),
        "test": (f"1 synthetic clip of '{cfg.test_portrait}' (motion seed {cfg.test_seed}), {cfg.test_frames} "
                 f"frames at {cfg.size}x{cfg.size}, MediaPipe landmarks"),
        "train_frames_total": int(x.shape[0] * x.shape[1]),
    }
    data = {
        "eval": ev,
        "eval_setup": {"portrait": cfg.test_portrait, "seed": cfg.test_seed, "frames": cfg.test_frames,
                       "size": cfg.size, "drop_rates": cfg.eval_drop_rates, "mask_seeds": cfg.eval_mask_seeds,
                       "metric": "mean landmark error in pixels over the 120 transmitted landmarks (concealed "
                                 "vs detected), all and missing-only"},
        "train": {"samples_per_mask_draw": int(x.shape[0] * (x.shape[1] - 1)), "train_minutes": round(train_minutes, 2),
                  "data_minutes": round(data_minutes, 2)} | fit,
        "data": data_desc,
        "parameters": net.num_parameters(),
    }
    if cfg.install:
        data["checkpoint"] = str(_install(net, cfg, data))
    res = Results("concealer", data, provenance(cfg, cfg.seed))
    if cfg.out:
        res.save(cfg.out)
    return res


def _install(net: ConcealerNet, cfg: ConcealerTrainConfig, data: dict) -> Path:
    path = pretrained_concealer_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint({"model": "prt_concealer", "config": dataclasses.asdict(net.config),
                     "state_dict": net.state_dict(), "extra": {"value": "displacement from the source frame's landmarks"}},
                    path, {"name": path.stem, "model": "prt_concealer"})
    meta = {
        "name": path.stem,
        "model": "prt_concealer",
        "config": dataclasses.asdict(cfg) | {"out": None},
        "model_config": dataclasses.asdict(net.config),
        "data": data["data"],
        "seed": cfg.seed,
        "steps": cfg.steps,
        "train_minutes": data["train"]["train_minutes"],
        "eval": data["eval_setup"],
        "metric": data["eval"]["by_drop_rate"],
        "command": COMMAND,
        "git_commit": git_commit(),
        "parameters": net.num_parameters(),
    }
    write_metadata(path, meta)  # adds file_bytes and sha256
    return Path("src/semcom/checkpoints") / path.name


def main(argv: Sequence[str] | None = None) -> int:
    from semcom import cliargs

    t = cliargs.typed
    p = cliargs.ArgumentParser(prog="semcom prt train-concealer", description=__doc__.split("\n")[0])
    p.add_argument("--config", default=None, help="JSON file with ConcealerTrainConfig keys")
    p.add_argument("--steps", type=t(cliargs.parse_int, what="steps", lo=1, hi=10**9), default=None)
    p.add_argument("--out", default=None, help=f"results folder (default {DEFAULT_OUT})")
    p.add_argument("--seed", type=t(cliargs.parse_seed), default=None)
    p.add_argument("--threads", type=t(cliargs.parse_int, what="threads", lo=1, hi=1024), default=None)
    p.add_argument("--install", action="store_true",
                   help="write the checkpoint (+ metadata JSON) as the package's default, "
                        "semcom/checkpoints/prt_concealer.pt")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    cfg = config_with_overrides(a)
    if a.no_progress:
        cfg["progress"] = False
    checked = from_dict(ConcealerTrainConfig, cfg)  # a bad config fails before any work
    if checked.out:
        cliargs.check_out_dir(checked.out)
    if checked.install:
        cliargs.check_out_dir(pretrained_concealer_path().parent, what="the package's checkpoint folder")
    res = run(cfg)
    for rate, per in res.data["eval"]["by_drop_rate"].items():
        print(f"drop {rate}: " + ", ".join(f"{k} {v['ald_px']:.3f} px (missing {v['ald_missing_px']:.3f})"
                                           for k, v in per.items()))
    if "checkpoint" in res.data:
        print(f"checkpoint {res.data['checkpoint']}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from semcom.cliargs import guarded

    raise SystemExit(guarded(main))
