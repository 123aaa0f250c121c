"""The training loop of semcom's learned JSCC models: config, loss, checkpoints, resume, evaluation.

One :class:`TrainConfig` (a JSON file under ``configs/``) says which model, its hyper-parameters,
the data (random crops of the training photos, :mod:`semcom.training.data`), the loss and the
budget. :func:`train` runs it on a device, writes ``last.pt`` (everything needed to resume) every
``checkpoint_every`` steps, and at the end the model checkpoint ``<name>.pt`` (weights + config)
with ``<name>.json`` (metadata: config, data and checksums, seed, steps, time, the metric reached
on the test photos, the command, the commit, the parameter count and the file size).

Loss (paper Eq. 8, with the perceptual term selectable):

    L = l2(x, x_hat) + lambda * L_perc(x, x_hat) + gamma * L_r,   L_r = mean_{i,j} R(x)_{i,j}

``L_perc`` is ``1 - MS-SSIM`` (``perceptual="ms_ssim"``) or LPIPS (``"lpips"``, only where its
backbone weights exist locally; otherwise a ConfigError). The paper tunes ``gamma`` by hand to
reach a mean symbol budget; with ``target_spp`` set, ``gamma`` is adapted instead by dual ascent,
``gamma <- gamma * exp(gamma_step * (spp - target_spp) / target_spp)`` after every step, which
does the same tuning automatically. The learning rate follows a cosine from ``lr`` to
``lr * lr_final_ratio`` over the budget (steps or ``max_minutes``, whichever ends first).

Example (a tiny run, a few seconds):
    >>> from semcom.training import TrainConfig, train
    >>> cfg = TrainConfig(model="deepjscc", model_config={"hidden_channels": 8, "latent_channels": 4},
    ...                   crop_size=32, batch_size=2, steps=2, eval_images="tiny", eval_size=64)
    >>> out = train(cfg, "runs/doc-train", progress=False)     # doctest: +SKIP
    >>> sorted(out["metric"])                                          # doctest: +SKIP
    ['ms_ssim', 'psnr_db', 'spp']
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from semcom.errors import CheckpointError, ConfigError, InputError
from semcom.models.checkpoint_io import load_state, load_verified, require, save_checkpoint, write_metadata
from semcom.training.runtime import RunOptions, Throughput, compiled, resolve_device
from semcom.utils import from_dict, make_generator

PERCEPTUAL = ("ms_ssim", "lpips")


@dataclasses.dataclass
class LossConfig:
    """Loss weights: ``lambda_perceptual`` (lambda), ``perceptual`` ("ms_ssim" | "lpips"),
    ``gamma`` (rate weight, initial value when ``target_spp`` is set), ``target_spp`` (mean SPP
    the dual ascent steers to; None: fixed gamma), ``gamma_step`` (dual-ascent step),
    ``rate_warmup`` (fraction of the budget trained without the rate term and, for VL-SCC, with
    random per-location rate levels instead of the RAN's map, so that the coder learns to order
    its symbols and use them before the RAN allocates; without it the rate map of a fresh model
    collapses to zero: at initialisation the decoder cannot use the symbols yet, so the Eq. 5
    gradient says "send fewer")."""

    lambda_perceptual: float = 0.0
    perceptual: str = "ms_ssim"
    gamma: float = 0.0
    target_spp: float | None = None
    gamma_step: float = 0.02
    rate_warmup: float = 0.0

    def __post_init__(self) -> None:
        if self.perceptual not in PERCEPTUAL:
            raise ConfigError(f"perceptual must be one of {PERCEPTUAL}, got {self.perceptual!r}")
        if self.lambda_perceptual < 0 or self.gamma < 0:
            raise ConfigError("lambda_perceptual and gamma must be >= 0")
        if self.target_spp is not None and self.target_spp <= 0:
            raise ConfigError("target_spp must be positive")
        if not 0 <= self.rate_warmup < 1:
            raise ConfigError("rate_warmup must be in [0, 1)")


@dataclasses.dataclass
class TrainConfig:
    """A training run (see the module docstring); every key of a JSON config maps to a field here.

    model / model_config: registry name and hyper-parameters (:func:`semcom.models.build_model`).
    crop_size, batch_size: training crops (pixels) and batch. steps, max_minutes: budget (whichever
    ends first). lr, lr_final_ratio: Adam learning rate and its cosine end point. seed: crops,
    channel noise and initialisation. eval_images / eval_size / eval_seed: the test set of the
    recorded metric (``"tiny"``: 3 bundled photos, centre crops of ``eval_size``). threads: torch
    CPU threads (0: leave torch's default). name: checkpoint file stem (default: the model name).
    data: the 1D coders' source (``input_kind == "vector"``): a
    :class:`semcom.data.landmark_vectors.LandmarkSourceConfig` dict (``{}``: its defaults); the
    image models train on :class:`semcom.data.TrainingCrops` and take no ``data`` keys. For the 1D
    coders ``crop_size`` and ``eval_images``/``eval_size`` are unused: the metric is the mean
    landmark error on the test split at the training SNR. augment: the 1D coders' shape-augmentation
    strength (:func:`semcom.data.landmark_vectors.augment_shapes`; 0: none).
    train_images: a folder of the user's training images (any sizes and formats, searched
    recursively; :class:`semcom.training.data.FolderCrops`) instead of the bundled photos.
    eval_images may also be a folder (``--test-images``): its images centre-cropped to ``eval_size``.
    eval_every_minutes: when > 0, the recorded metric is also measured every that many minutes of
    training (evaluation time excluded) and kept as the run's training curve (``curve`` in the
    metadata and ``log.jsonl``; the last point is the final metric); 0: only at the end.
    """

    model: str = "deepjscc"
    model_config: dict = dataclasses.field(default_factory=dict)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    crop_size: int = 128
    batch_size: int = 8
    steps: int = 2000
    max_minutes: float = 18.0
    lr: float = 1e-3
    lr_final_ratio: float = 0.05
    seed: int = 0
    eval_images: str = "tiny"
    eval_size: int = 256
    eval_seed: int = 0
    log_every: int = 25
    checkpoint_every: int = 100
    threads: int = 0
    name: str | None = None
    data: dict = dataclasses.field(default_factory=dict)
    augment: float = 0.0
    train_images: str | None = None
    eval_every_minutes: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.loss, dict):
            self.loss = from_dict(LossConfig, self.loss)
        if not isinstance(self.data, dict):
            raise ConfigError(f"data must be a dict, got {type(self.data).__name__}")
        for k in ("crop_size", "batch_size", "steps", "log_every", "checkpoint_every", "eval_size"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{k} must be a positive int, got {v!r}")
        if isinstance(self.augment, bool) or not isinstance(self.augment, (int, float)) or not 0 <= self.augment < 10:
            raise ConfigError(f"augment must be a number in [0, 10), got {self.augment!r}")
        for k in ("train_images", "eval_images"):
            v = getattr(self, k)
            if not (isinstance(v, str) and v) and not (k == "train_images" and v is None):
                raise ConfigError(f"{k} must be a non-empty string (a folder, or 'tiny'/'all' for eval_images), got {v!r}")
        if not (self.lr > 0 and 0 < self.lr_final_ratio <= 1 and self.max_minutes > 0):
            raise ConfigError("lr > 0, 0 < lr_final_ratio <= 1 and max_minutes > 0 are required")
        if not (isinstance(self.eval_every_minutes, (int, float)) and 0 <= self.eval_every_minutes < 1e6):
            raise ConfigError(f"eval_every_minutes must be a number >= 0, got {self.eval_every_minutes!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return from_dict(cls, d)

    def shrink(self) -> "TrainConfig":
        """The same config at a tiny size (for tests of every real config)."""
        mc = dict(self.model_config)
        tiny = {"deepjscc": {"hidden_channels": 8}, "adjscc": {"hidden_channels": 8},
                "scc": {"semantic_channels": 8, "sce_channels": 8},
                "vlscc2d": {"semantic_channels": 8, "sce_channels": 8, "ran_channels": 4},
                "vlscc1d": {"hidden": 8}, "scc1d": {"hidden": 8},
                "sesc": {"dim": 16, "dec_dim": 16, "enc_layers": 1, "dec_layers": 1, "heads": 2, "dec_heads": 2},
                "sesc_cnn": {"dim": 16, "dec_dim": 16, "enc_layers": 1, "dec_layers": 2}}.get(self.model, {})
        mc.update(tiny)
        if "n_symbols" in mc:
            mc["n_symbols"] = min(mc["n_symbols"], 8)
        return dataclasses.replace(self, model_config=mc, crop_size=32, batch_size=2, steps=2, eval_size=64,
                                   checkpoint_every=1, log_every=1)


# --------------------------------------------------------------------------- loss
def perceptual_loss(kind: str, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``1 - MS-SSIM`` (mean over the batch) or LPIPS (where its weights exist)."""
    if kind == "ms_ssim":
        from semcom.metrics import ms_ssim

        return 1.0 - ms_ssim(x_hat.clamp(0, 1), x).mean()
    from semcom.metrics import lpips
    from semcom.metrics.lpips import MetricUnavailable

    try:
        return lpips(x_hat, x).mean()
    except MetricUnavailable as exc:
        raise ConfigError(f"perceptual='lpips' needs the LPIPS backbone weights: {exc}") from None


def jscc_loss(out: dict, x: torch.Tensor, loss: LossConfig, gamma: float) -> tuple[torch.Tensor, dict]:
    """Eq. 8: ``l2 + lambda * perceptual + gamma * mean(R)``; returns (loss, logged terms)."""
    l2 = F.mse_loss(out["x_hat"], x)
    total = l2
    terms = {"l2": float(l2.detach())}
    if loss.lambda_perceptual > 0:
        p = perceptual_loss(loss.perceptual, out["x_hat"], x)
        total = total + loss.lambda_perceptual * p
        terms["perceptual"] = float(p.detach())
    if out.get("rate") is not None:
        lr_ = out["rate"].mean()
        total = total + gamma * lr_
        terms["rate"] = float(lr_.detach())
    return total, terms


# --------------------------------------------------------------------------- evaluation
def folder_test_images(folder: str | Path, size: int) -> list:
    """The images under ``folder`` (recursive, sorted by relative path; e.g. Kodak) as
    :class:`semcom.data.NamedImage`, centre-cropped to ``size x size``; smaller ones are skipped.

    Raises:
        InputError: not a folder, no image file, or none at least ``size`` on both sides.
        DataError: a file cannot be decoded (named in the message).
    """
    from semcom.data import NamedImage
    from semcom.data.folder import ImageFolder, read_image
    from semcom.data.photos import center_crop, pixels_sha256, uint8_to_float

    folder_ds = ImageFolder(folder, recursive=True)
    out = []
    for name, path in zip(folder_ds.names, folder_ds.paths):
        arr = read_image(path)
        if min(arr.shape[:2]) < size:
            continue
        arr = center_crop(arr, size, size)
        out.append(NamedImage(name, torch.from_numpy(uint8_to_float(arr)).unsqueeze(0), pixels_sha256(arr)))
    if not out:
        raise InputError(f"no image under {folder} is at least {size}x{size} (lower eval_size)")
    return out


def _eval_set_name(images: str) -> str:
    if images in ("tiny", "all"):
        return f"semcom.data.test_images {images!r}"
    return f"the images under {Path(images).name}/ (semcom.training.loop.folder_test_images)"


def evaluate(model, images: str = "tiny", size: int | None = 256, snr_db: float | None = None, seed: int = 0,
             channel: str | None = None) -> dict:
    """Mean PSNR (dB, mean of per-image PSNR), MS-SSIM and SPP of ``model.transmit`` over a test set.

    ``images``: ``"tiny"`` (3 bundled photos), ``"all"``, or a folder (:func:`folder_test_images`),
    centre-cropped to ``size`` (photos smaller than ``size`` are skipped); ``size=None`` (bundled
    photos only): each whole photo, centre-cropped to the largest multiples of the model's
    ``input_multiple``. ``snr_db`` defaults to the training SNR (the mid-point for a range).
    Each image uses seed ``seed + index``.
    """
    import warnings

    from semcom.data import checksums, test_images
    from semcom.metrics import ms_ssim, psnr

    if images in ("tiny", "all"):
        multiple = None if size is not None else int(getattr(model, "input_multiple", 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            imgs = test_images(subset=images if images == "tiny" else None, size=size, multiple_of=multiple)
    elif size is None:
        raise InputError("size=None (whole photos) applies to the bundled test photos only, not to a folder")
    else:
        imgs = folder_test_images(images, size)
    if not imgs:
        raise InputError(f"no test image of size {size} in set {images!r}")
    if snr_db is None:
        s = model.config.snr_db
        snr_db = float(sum(s) / 2) if isinstance(s, (list, tuple)) else float(s)
    ps, ms, spps = [], [], []
    dev = next(model.parameters()).device
    for i, im in enumerate(imgs):
        out = model.transmit(im.image.to(dev), snr_db, seed=seed + i, channel=channel)
        x_hat = out.image.cpu().clamp(0, 1)
        ps.append(float(psnr(im.image, x_hat)[0]))
        ms.append(float(ms_ssim(im.image, x_hat)[0]))
        spps.append(out.spp)
    n = len(imgs)
    return {"psnr_db": sum(ps) / n, "ms_ssim": sum(ms) / n, "spp": sum(spps) / n,
            "per_image": {im.name: {"psnr_db": p, "ms_ssim": m, "spp": s} for im, p, m, s in zip(imgs, ps, ms, spps)},
            "images": images, "size": size, "snr_db": snr_db, "seed": seed, "channel": channel or model.config.channel,
            "checksums": checksums(imgs)}


def evaluate_snrs(models: dict, snrs_db, images: str = "tiny", size: int | None = 256, seed: int = 0) -> list[dict]:
    """:func:`evaluate` of several models at each SNR of ``snrs_db``: one row per SNR with each
    model's mean PSNR and MS-SSIM (e.g. an SNR-adaptive model against single-SNR models).

    Example:
        >>> from semcom.models import load_pretrained
        >>> rows = evaluate_snrs({"deepjscc": load_pretrained("deepjscc_awgn5_spp0125")}, [0, 10])        # doctest: +SKIP
        >>> sorted(rows[0])                                                                         # doctest: +SKIP
        ['deepjscc', 'snr_db']
    """
    import warnings

    from semcom.models.deepjscc import SNROutOfRangeWarning

    rows = []
    for snr in snrs_db:
        row: dict = {"snr_db": float(snr)}
        for name, model in models.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SNROutOfRangeWarning)
                m = evaluate(model, images, size, snr_db=float(snr), seed=seed)
            row[name] = {"psnr_db": m["psnr_db"], "ms_ssim": m["ms_ssim"], "spp": m["spp"]}
        rows.append(row)
    return rows


def evaluate_vectors(model, data, snr_db: float | None = None, seed: int = 0, channel: str | None = None,
                     split: str = "test", noiseless: bool = False) -> dict:
    """Task metric of a 1D coder on the landmark vectors ``data`` (:class:`LandmarkVectors`).

    Every vector of ``split`` goes through :meth:`LearnedJSCC.transmit_many` at ``snr_db``
    (default: the training SNR, the mid-point for a range; ``noiseless=True``: no channel noise)
    with the generator seeded by ``seed``. Returns the mean landmark error in pixels of the frame
    (``landmark_error_px``, :func:`semcom.metrics.mean_landmark_error`) and in frame units
    (``landmark_error_norm``, divided by the frame side), the mean channel uses per vector (side
    link included; ``symbols_per_vector`` without it) and the MSE of the standardised vector.
    """
    import warnings

    from semcom.models.deepjscc import SNROutOfRangeWarning

    if snr_db is None and not noiseless:
        s = model.config.snr_db
        snr_db = float(sum(s) / 2) if isinstance(s, (list, tuple)) else float(s)
    x = data.vectors(split)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SNROutOfRangeWarning)
        x_hat, payloads = model.transmit_many(x, None if noiseless else snr_db, seed=seed, channel=channel)
    err = float(data.landmark_error_px(x_hat, split))
    n = len(payloads)
    return {"landmark_error_px": err, "landmark_error_norm": err / data.config.size,
            "channel_uses": sum(p.channel_uses for p in payloads) / n,
            "symbols_per_vector": sum(p.symbol_uses for p in payloads) / n,
            "vector_mse": float(((x_hat - x) ** 2).mean()),
            "split": split, "vectors": n, "snr_db": None if noiseless else snr_db, "seed": seed,
            "channel": channel or model.config.channel, "frame_px": data.config.size,
            "checksums": {"landmark_vectors_sha256": data.checksum()}}


VECTOR_METRIC = ("landmark_error_px", "landmark_error_norm", "channel_uses")
IMAGE_METRIC = ("psnr_db", "ms_ssim", "spp")


def _record(model, cfg: "TrainConfig", data) -> tuple[dict, dict]:
    """(metric, eval details) of the run's recorded evaluation."""
    if model.input_kind == "vector":
        m = evaluate_vectors(model, data, seed=cfg.eval_seed)
        keys = VECTOR_METRIC
    else:
        m = evaluate(model, cfg.eval_images, cfg.eval_size, seed=cfg.eval_seed)
        keys = IMAGE_METRIC
    return {k: m[k] for k in keys}, {k: v for k, v in m.items() if k not in keys}


def _curve_point(model, cfg: "TrainConfig", data, step: int, elapsed: float) -> dict:
    """One point of the training curve: the recorded metric on the test set after ``elapsed``
    seconds of training (evaluation time excluded), in eval mode, then back to train mode."""
    model.eval()
    with torch.no_grad():
        metric, _ = _record(model, cfg, data)
    model.train()
    return {"step": step, "minutes": round(elapsed / 60, 3), **metric}


# --------------------------------------------------------------------------- resume state
RESUME_BUDGET = ("steps", "max_minutes", "log_every", "checkpoint_every", "threads", "eval_every_minutes")


def _load_resume_state(path: Path, cfg_dict: dict, dev: torch.device) -> dict:
    """The resume state ``last.pt`` (safely loaded, checked against ``last.json``'s SHA-256), with
    its keys type-checked and its config equal to ``cfg_dict`` except for the budget."""
    st, _ = load_verified(path, dev)
    require(st, path, "training resume state", config=dict, model=dict, optimizer=dict, noise_rng=torch.Tensor,
            step=int, elapsed_s=(int, float), gamma=(int, float), history=list)
    # a key the saved config predates (a field added later) counts at its default
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}
    saved = {**{k: v for k, v in defaults.items() if k not in st["config"]}, **st["config"]}
    if {k: v for k, v in saved.items() if k not in RESUME_BUDGET} != \
            {k: v for k, v in cfg_dict.items() if k not in RESUME_BUDGET}:
        raise ConfigError(f"{path} was written by a different config (only the budget may change on "
                          "resume); remove it or drop --resume")
    return st


def _restore(path: Path, st: dict, model, opt, sampler, noise_gen: torch.Generator) -> None:
    """Load weights, optimizer state (shapes checked against the parameters), sampler and noise RNG
    state from a resume state; anything that does not fit is a CheckpointError."""
    load_state(path, model, st["model"])
    try:
        opt.load_state_dict(st["optimizer"])
        params = [p for g in opt.param_groups for p in g["params"]]
        for p in params:
            for k, v in opt.state.get(p, {}).items():
                if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape != p.shape:
                    raise CheckpointError(f"optimizer state {k} has shape {tuple(v.shape)}, the parameter {tuple(p.shape)}")
        sampler.load_state(st.get("sampler_state"))
        if st.get("noise_rng_device", "cpu") == noise_gen.device.type:  # a CUDA state does not fit a CPU generator
            noise_gen.set_state(st["noise_rng"].to(noise_gen.get_state().device))
    except Exception as exc:  # any part of an untrusted resume state that does not fit
        raise CheckpointError(f"{path} does not fit this run: {type(exc).__name__}: "
                              f"{str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}") from exc


# --------------------------------------------------------------------------- training
def _lr_at(cfg: TrainConfig, progress: float) -> float:
    progress = min(max(progress, 0.0), 1.0)
    lo = cfg.lr * cfg.lr_final_ratio
    return lo + 0.5 * (cfg.lr - lo) * (1 + math.cos(math.pi * progress))


def _build_data(cfg: TrainConfig, progress: bool, cache_dir: str | None):
    """(cfg with the vector dim filled in, the 1D coders' data or None, the batch stream)."""
    from semcom.models import MODELS
    from semcom.training.data import CropBatches, FolderCrops, VectorBatches

    if cfg.model not in MODELS:
        raise ConfigError(f"unknown model {cfg.model!r}; known: {sorted(MODELS)}")
    if MODELS[cfg.model].input_kind == "vector":
        from semcom.data.landmark_vectors import load_landmark_vectors

        if cfg.loss.lambda_perceptual > 0:
            raise ConfigError("the 1D coders train on the vector MSE: lambda_perceptual must be 0")
        if cfg.train_images is not None:
            raise ConfigError(f"{cfg.model} codes landmark vectors; train_images is for the image models")
        data = load_landmark_vectors(cfg.data, progress=progress)
        mc = dict(cfg.model_config)
        if mc.setdefault("dim", data.dim) != data.dim:
            raise ConfigError(f"model_config dim {mc['dim']} differs from the source's {data.dim}")
        cfg = dataclasses.replace(cfg, model_config=mc)
        return cfg, data, VectorBatches(data, seed=cfg.seed, augment=cfg.augment)
    if cfg.data or cfg.augment:
        raise ConfigError(f"{cfg.model} trains on image crops and takes no data or augment keys")
    folder = None
    if cfg.train_images is not None:
        folder = FolderCrops(cfg.train_images, cfg.crop_size, seed=cfg.seed, cache_dir=cache_dir)
    return cfg, None, CropBatches(cfg.crop_size, seed=cfg.seed, dataset=folder)


def _noise_generator(cfg: TrainConfig, ctx, dev: torch.device, step: int = 0) -> torch.Generator:
    """Rank ``r``'s channel-noise generator: seed ``seed + 1 + r * stride`` (rank 0: the single-process
    one); on a resume whose saved state does not fit (another rank count or device type), seeded
    by ``[that seed, step]`` instead."""
    seed = ctx.noise_seed(cfg.seed)
    if step:
        seed = int(np.random.SeedSequence([seed, step]).generate_state(1, np.uint64)[0] >> 1)
    return make_generator(seed, device=dev)


def _sync_terms(ctx, terms: dict, elapsed: float) -> tuple[dict, float]:
    """Loss terms and elapsed time averaged over ranks (the same values on every rank)."""
    keys = sorted(terms)
    vals = ctx.mean([terms[k] for k in keys] + [elapsed])
    return dict(zip(keys, vals[:-1])), vals[-1]


def train(config: TrainConfig | dict, out_dir: str | Path, *, device: str = "cpu", resume: bool = False,
          progress: bool = True, command: str | None = None, export_dir: str | Path | None = None,
          options: RunOptions | dict | None = None) -> dict | None:
    """Train one model; returns the metadata dict (also written to ``<out_dir>/<name>.json``).

    Args:
        config: a :class:`TrainConfig` or its dict.
        out_dir: folder for ``last.pt`` (resume state), ``<name>.pt``, ``<name>.json`` and ``log.jsonl``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``... (under torchrun, ``"cuda"`` is ``cuda:LOCAL_RANK``).
        resume: continue from ``<out_dir>/last.pt`` when it exists. The config must be the same except
            for the budget (``steps``, ``max_minutes``, logging, threads), which may be raised to train longer;
            the cosine learning rate then follows the new budget. The state loads on any device
            (``map_location``) and with any world size.
        progress: show a tqdm progress bar.
        command: the command line recorded in the metadata.
        export_dir: also copy ``<name>.pt`` / ``<name>.json`` there (e.g. ``src/semcom/checkpoints``).
        options: execution options (:class:`semcom.training.runtime.RunOptions`: precision,
            compile, DataLoader workers, channels-last, decoded-image cache).

    Data parallel: when the environment describes a process group (torchrun, or
    :func:`semcom.training.distributed.launch`), every process calls this function; the rule
    (global batch, sharding, seeds, rank 0 writes) is in :mod:`semcom.training.distributed`.
    Ranks other than 0 return None.
    """
    from semcom.training import distributed

    opts = options if isinstance(options, RunOptions) else RunOptions(**(options or {}))
    ctx, device = distributed.setup(device)
    try:
        return _train(config, out_dir, device, resume, progress, command, export_dir, opts, ctx)
    finally:
        ctx.close()


def _train(config, out_dir, device: str, resume: bool, progress: bool, command, export_dir, opts: RunOptions,
           ctx) -> dict | None:
    run = _Run(config, out_dir, device, opts, ctx, progress)
    if resume:
        run.resume()
    run.loop(progress)
    if not ctx.is_main:
        return None
    meta = run.finish(command)
    if export_dir is not None:
        _export(run.ck_path, export_dir)
    return meta


def _write_line(log_f, record: dict) -> None:
    if log_f is not None:  # only rank 0 logs
        log_f.write(json.dumps(record) + "\n")
        log_f.flush()


def _export(ck_path: Path, export_dir) -> None:
    """Copy ``<name>.pt`` and ``<name>.json`` to ``export_dir`` (e.g. ``src/semcom/checkpoints``)."""
    import shutil

    ed = Path(export_dir)
    ed.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ck_path, ed / ck_path.name)
    shutil.copyfile(ck_path.with_suffix(".json"), ed / ck_path.with_suffix(".json").name)


class _Run:
    """One training run: its objects (model, optimizer, data, noise generator, precision) and its
    state (step, training seconds, rate weight ``gamma``, log history, quality curve). :func:`_train`
    builds it, resumes it, runs :meth:`loop` and, on rank 0, :meth:`finish`."""

    def __init__(self, config, out_dir, device: str, opts: RunOptions, ctx, progress: bool) -> None:
        from semcom.models import build_model
        from semcom.training.precision import Precision

        cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.name = cfg.name or cfg.model
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        self.dev = resolve_device(device)
        self.prec = Precision.resolve(opts.precision, self.dev)
        self.opts, self.ctx = opts, ctx
        ctx.local_batch(cfg.batch_size)  # the global batch must split over the ranks
        self.cfg, self.data, self.sampler = _build_data(cfg, progress, opts.cache_dir)
        torch.manual_seed(self.cfg.seed)  # parameter initialisation (the same on every rank)
        model = build_model(self.cfg.model, self.cfg.model_config).to(self.dev)
        self.channels_last = opts.channels_last_on(self.dev) and model.input_kind == "image"
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.opt = torch.optim.Adam(model.parameters(), lr=self.cfg.lr)
        self.noise_gen = _noise_generator(self.cfg, ctx, self.dev)
        self.step, self.elapsed, self.gamma, self.history, self.curve = 0, 0.0, float(self.cfg.loss.gamma), [], []
        self.cfg_dict = dataclasses.asdict(self.cfg)
        self.state_path = self.out / "last.pt"
        self.ck_path = self.out / f"{self.name}.pt"
        self.meter = Throughput(skip=1)
        self.wall_t0 = time.time()

    def resume(self) -> None:
        """Continue from ``last.pt`` when it exists (see :func:`train`)."""
        if not self.state_path.is_file():
            return
        st = _load_resume_state(self.state_path, self.cfg_dict, self.dev)
        _restore(self.state_path, st, self.model, self.opt, self.sampler, self.noise_gen)
        self.step, self.elapsed, self.gamma = st["step"], float(st["elapsed_s"]), float(st["gamma"])
        self.history, self.curve = st["history"], list(st.get("curve") or [])
        self.prec.load_state_dict(st.get("scaler"))
        same = st.get("world_size", 1) == self.ctx.world_size and st.get("noise_rng_device", "cpu") == self.dev.type
        if not (same and self.ctx.is_main):  # the saved noise state is rank 0's on the saved device type
            self.noise_gen = _noise_generator(self.cfg, self.ctx, self.dev, self.step)

    def save_state(self) -> None:
        """Write the resume state ``last.pt`` (rank 0 only)."""
        if not self.ctx.is_main:
            return
        cfg, ctx = self.cfg, self.ctx
        save_checkpoint({"config": self.cfg_dict, "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                         "sampler_state": self.sampler.state(), "noise_rng": self.noise_gen.get_state(),
                         "noise_rng_device": self.dev.type, "world_size": ctx.world_size,
                         "scaler": self.prec.state_dict(), "step": self.step, "elapsed_s": self.elapsed,
                         "gamma": self.gamma, "history": self.history, "curve": self.curve},
                        self.state_path, {"name": self.state_path.stem, "kind": "resume state of semcom.training.train",
                                          "model": cfg.model, "steps": self.step, "world_size": ctx.world_size})

    def loop(self, progress: bool) -> None:
        """Train until the step or time budget ends; log every ``log_every`` steps, evaluate every
        ``eval_every_minutes`` (rank 0), save the resume state every ``checkpoint_every`` steps and
        at the end. Evaluation and checkpoint writing are not training time."""
        from tqdm import tqdm

        from semcom.training import distributed

        cfg, ctx = self.cfg, self.ctx
        fwd = distributed.wrap(self.model, ctx, self.dev, find_unused=self.model.random_rate_warmup)
        fwd = compiled(fwd, self.opts.compile)
        budget_s = cfg.max_minutes * 60
        start_step, self.wall_t0 = self.step, time.time()
        log_f = open(self.out / "log.jsonl", "a") if ctx.is_main else None
        bar = tqdm(total=cfg.steps, initial=self.step, desc=f"train {self.name}",
                   disable=not (progress and ctx.is_main), dynamic_ncols=True)
        batches = self.sampler.batches(cfg.batch_size, ctx.rank, ctx.world_size, workers=self.opts.workers,
                                       pin_memory=self.dev.type == "cuda")
        self.meter = Throughput(skip=1)
        self.model.train()
        t0 = time.time() - self.elapsed
        acc: dict[str, float] = {}
        try:
            while self.step < cfg.steps and self.elapsed < budget_s:
                lr, terms = self._step(fwd, batches, t0, first=self.step == start_step)
                for k, v in terms.items():
                    acc[k] = acc.get(k, 0.0) + v
                acc["_n"] = acc.get("_n", 0) + 1
                bar.update(1)
                if self.step % cfg.log_every == 0:
                    self._log(acc, lr, log_f, bar)
                    acc = {}
                t0 += self._evaluate_when_due(log_f)  # evaluation is not training time
                if self.step % cfg.checkpoint_every == 0:
                    self.save_state()
                    self.meter.start()  # checkpoint writing is not training time
        finally:
            batches.close()
            bar.close()
            if log_f is not None:
                log_f.close()
        self.save_state()

    def _step(self, fwd, batches, t0: float, first: bool) -> tuple[float, dict]:
        """One optimisation step at the scheduled learning rate; returns it and the step's loss
        terms averaged over the ranks (with the PSNR of the mean squared error)."""
        from semcom.models import check_forward_output

        cfg = self.cfg
        prog = max(self.step / cfg.steps, self.elapsed / (cfg.max_minutes * 60))
        lr = _lr_at(cfg, prog)
        warm = prog < cfg.loss.rate_warmup
        for g in self.opt.param_groups:
            g["lr"] = lr
        x = next(batches).to(self.dev, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.prec.autocast():
            if warm and self.model.random_rate_warmup:
                res = fwd(x, generator=self.noise_gen, random_rate=True)
            else:
                res = fwd(x, generator=self.noise_gen)
        res = {**res, "x_hat": res["x_hat"].float()}  # the loss in float32 whatever the precision
        if first:
            check_forward_output(self.model, res, x)  # a broken contract fails now, not after minutes
        loss, terms = jscc_loss(res, x, cfg.loss, 0.0 if warm else self.gamma)
        terms.update(loss=float(loss.detach()), spp=float(res["spp"].float().mean()))
        terms, elapsed = _sync_terms(self.ctx, terms, time.time() - t0)
        if not math.isfinite(terms["loss"]):
            raise InputError(f"training diverged at step {self.step} (loss {terms['loss']})")
        self.opt.zero_grad(set_to_none=True)
        self.prec.step(loss, self.opt)
        if cfg.loss.target_spp is not None and res.get("rate") is not None and not warm:
            self.gamma *= math.exp(cfg.loss.gamma_step * (terms["spp"] - cfg.loss.target_spp) / cfg.loss.target_spp)
            self.gamma = min(max(self.gamma, 1e-7), 10.0)
        self.step += 1
        self.meter.tick(cfg.batch_size)
        self.elapsed = elapsed
        terms.update(psnr=-10 * math.log10(max(terms["l2"], 1e-10)))
        return lr, terms

    def _log(self, acc: dict, lr: float, log_f, bar) -> None:
        """One log record: the terms averaged over the steps since the last one."""
        rec = {k: v / acc["_n"] for k, v in acc.items() if k != "_n"}
        rec.update(step=self.step, elapsed_s=round(self.elapsed, 1), lr=lr, gamma=self.gamma,
                   images_per_s=round(self.meter.interval(), 2))
        self.history.append(rec)
        _write_line(log_f, rec)
        bar.set_postfix(psnr=f"{rec['psnr']:.2f}", spp=f"{rec['spp']:.3f}", gamma=f"{self.gamma:.2g}",
                        img_s=f"{rec['images_per_s']:.1f}")

    def _evaluate_when_due(self, log_f) -> float:
        """Add a point to the quality curve every ``eval_every_minutes`` of training (rank 0);
        returns the seconds it took."""
        cfg = self.cfg
        due = self.ctx.is_main and cfg.eval_every_minutes > 0 and \
            self.elapsed >= 60 * cfg.eval_every_minutes * (len(self.curve) + 1)
        if not due:
            return 0.0
        te = time.time()
        self.curve.append(_curve_point(self.model, cfg, self.data, self.step, self.elapsed))
        _write_line(log_f, {"curve": self.curve[-1]})
        spent = time.time() - te
        self.meter.start()
        return spent

    def finish(self, command: str | None) -> dict:
        """Save ``<name>.pt``, measure its metric on what was saved, write ``<name>.json``."""
        from semcom.models import load_checkpoint

        self.model.eval()
        save_checkpoint(self.model.checkpoint_dict(), self.ck_path,
                        {"name": self.name, "model": self.cfg.model, "config": self.cfg_dict})
        reloaded = load_checkpoint(self.ck_path, map_location=self.dev)  # the metric is measured on what was saved
        metric, details = _record(reloaded, self.cfg, self.data)
        return write_metadata(self.ck_path, self._metadata(metric, details, command))  # adds file_bytes and sha256

    def _metadata(self, metric: dict, details: dict, command: str | None) -> dict:
        from semcom.experiments.results import git_commit

        cfg, ctx, model = self.cfg, self.ctx, self.model
        vector = model.input_kind == "vector"
        eval_desc = (f"test split of the landmark vectors at the training SNR, seed {cfg.eval_seed}" if vector else
                     f"{_eval_set_name(cfg.eval_images)} centre crops {cfg.eval_size}x{cfg.eval_size}")
        return {
            "name": self.name,
            "model": cfg.model,
            "config": self.cfg_dict,
            "data": {"train": self.sampler.describe(), "train_checksums": self.sampler.checksums(),
                     "sampler": f"semcom.training.data.{type(self.sampler).__name__}", "eval": eval_desc},
            "seed": cfg.seed,
            "steps": self.step,
            "train_minutes": round(self.elapsed / 60, 2),
            "device": str(self.dev),
            "world_size": ctx.world_size,
            "runtime": {**dataclasses.asdict(self.opts), "cache_dir": self.opts.cache_dir is not None,
                        "channels_last": self.channels_last, "backend": ctx.backend, "torch": torch.__version__,
                        "threads_per_rank": torch.get_num_threads()},
            "throughput": self._throughput(),
            "final_gamma": self.gamma,
            "metric": metric,
            "eval": details,
            "history_tail": self.history[-5:],
            "curve": self.curve + [{"step": self.step, "minutes": round(self.elapsed / 60, 3), **metric}],
            "command": command or "semcom train " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
            "git_commit": git_commit(),
            "parameters": model.num_parameters(),
            **model_provenance(model, self.wall_t0),
        }

    def _throughput(self) -> dict:
        rate, meter = self.meter.images_per_s, self.meter
        return {"images_per_s": None if rate is None else round(rate, 2),
                "images_per_s_per_rank": None if rate is None else round(rate / self.ctx.world_size, 2),
                "steps_timed": max(meter.steps - meter.skip, 0),
                "note": "this session's training steps only (first step, evaluation and checkpoint "
                        "writing excluded), over all ranks"}


def model_provenance(model: Any, wall_t0: float | None = None) -> dict:
    """What a checkpoint's metadata records about the model's code: ``module:qualname``, the SHA-256 of
    its source file, the full resolved model config (defaults included) and this run's wall time."""
    import hashlib
    import inspect

    cls = type(model)
    try:
        src = inspect.getsourcefile(cls)
        digest = hashlib.sha256(Path(src).read_bytes()).hexdigest() if src else None
    except (TypeError, OSError):
        digest = None
    plugin = getattr(sys.modules.get(cls.__module__), "__semcom_plugin__", None)
    out = {"model_class": f"{cls.__module__}:{cls.__qualname__}", "model_plugin": plugin or cls.__module__,
           "model_source_sha256": digest,
           "model_config_resolved": dataclasses.asdict(model.config)}
    if wall_t0 is not None:
        out["wall_time_s"] = round(time.time() - wall_t0, 3)
    return out


def reevaluate(checkpoint: str | Path, **config_changes: Any) -> dict:
    """Change inference-only config fields of a saved checkpoint (e.g. ``tile=64``), save it, re-measure
    its metric with the evaluation its metadata records, and update the metadata JSON.

    The metadata keeps the previous metric under ``post_training`` with the changes and the command,
    so the checkpoint's history stays visible. Weights are never touched.

    Example:
        >>> reevaluate("runs/scc_long/scc_awgn10_spp0125_long.pt", tile=64)   # doctest: +SKIP
    """
    from semcom.models import load_checkpoint

    path = Path(checkpoint)
    allowed = {"tile", "snr_range_db", "side_bits_per_symbol"}
    bad = set(config_changes) - allowed
    if bad:
        raise ConfigError(f"only inference fields {sorted(allowed)} may change after training, not {sorted(bad)}")
    ck, old_meta = load_verified(path)
    require(ck, path, "semcom model checkpoint", config=dict)
    ck["config"].update(config_changes)
    save_checkpoint(ck, path, old_meta)
    model = load_checkpoint(path)
    meta = dict(model.metadata)
    ev = meta["eval"]
    metric = evaluate(model, ev["images"], ev["size"], snr_db=ev["snr_db"], seed=ev["seed"])
    args = ", ".join(f"{k}={v!r}" for k, v in config_changes.items())
    meta.setdefault("post_training", []).append({
        "changes": config_changes, "metric_before": meta["metric"],
        "command": f"python -c \"from semcom.training import reevaluate; reevaluate('{path.name}', {args})\""
                   " (run in the checkpoint's folder)"})
    meta["config"]["model_config"].update(config_changes)
    meta["metric"] = {k: metric[k] for k in ("psnr_db", "ms_ssim", "spp")}
    meta["eval"] = {k: v for k, v in metric.items() if k not in ("psnr_db", "ms_ssim", "spp")}
    return write_metadata(path, meta)  # file_bytes and sha256 of the re-saved file
