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

import torch
import torch.nn.functional as F

from semcom.errors import ConfigError, InputError
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
        if not (self.lr > 0 and 0 < self.lr_final_ratio <= 1 and self.max_minutes > 0):
            raise ConfigError("lr > 0, 0 < lr_final_ratio <= 1 and max_minutes > 0 are required")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return from_dict(cls, d)

    def shrink(self) -> "TrainConfig":
        """The same config at a tiny size (for tests of every real config)."""
        mc = dict(self.model_config)
        tiny = {"deepjscc": {"hidden_channels": 8},
                "scc": {"semantic_channels": 8, "sce_channels": 8},
                "vlscc2d": {"semantic_channels": 8, "sce_channels": 8, "ran_channels": 4},
                "vlscc1d": {"hidden": 8}, "scc1d": {"hidden": 8}}.get(self.model, {})
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
def evaluate(model, images: str = "tiny", size: int = 256, snr_db: float | None = None, seed: int = 0,
             channel: str | None = None) -> dict:
    """Mean PSNR (dB, mean of per-image PSNR), MS-SSIM and SPP of ``model.transmit`` over a test set.

    ``images``: ``"tiny"`` (3 bundled photos) or ``"all"``, centre-cropped to ``size`` (photos smaller
    than ``size`` are skipped). ``snr_db`` defaults to the training SNR (the mid-point for a range).
    Each image uses seed ``seed + index``.
    """
    import warnings

    from semcom.data import checksums, test_images
    from semcom.metrics import ms_ssim, psnr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        imgs = test_images(subset=images if images == "tiny" else None, size=size)
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


# --------------------------------------------------------------------------- training
def _lr_at(cfg: TrainConfig, progress: float) -> float:
    progress = min(max(progress, 0.0), 1.0)
    lo = cfg.lr * cfg.lr_final_ratio
    return lo + 0.5 * (cfg.lr - lo) * (1 + math.cos(math.pi * progress))


def train(config: TrainConfig | dict, out_dir: str | Path, *, device: str = "cpu", resume: bool = False,
          progress: bool = True, command: str | None = None, export_dir: str | Path | None = None) -> dict:
    """Train one model; returns the metadata dict (also written to ``<out_dir>/<name>.json``).

    Args:
        config: a :class:`TrainConfig` or its dict.
        out_dir: folder for ``last.pt`` (resume state), ``<name>.pt``, ``<name>.json`` and ``log.jsonl``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        resume: continue from ``<out_dir>/last.pt`` when it exists. The config must be the same except
            for the budget (``steps``, ``max_minutes``, logging, threads), which may be raised to train longer;
            the cosine learning rate then follows the new budget.
        progress: show a tqdm progress bar.
        command: the command line recorded in the metadata.
        export_dir: also copy ``<name>.pt`` / ``<name>.json`` there (e.g. ``src/semcom/checkpoints``).
    """
    from tqdm import tqdm

    from semcom.models import MODELS, build_model, check_forward_output
    from semcom.training.data import CropBatches, VectorBatches

    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = cfg.name or cfg.model
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    try:
        dev = torch.device(device)
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError) as exc:
        raise ConfigError(f"device {device!r} is not usable here: {exc}") from None

    if cfg.model not in MODELS:
        raise ConfigError(f"unknown model {cfg.model!r}; known: {sorted(MODELS)}")
    vector = MODELS[cfg.model].input_kind == "vector"
    data = None
    if vector:
        from semcom.data.landmark_vectors import load_landmark_vectors

        if cfg.loss.lambda_perceptual > 0:
            raise ConfigError("the 1D coders train on the vector MSE: lambda_perceptual must be 0")
        data = load_landmark_vectors(cfg.data, progress=progress)
        mc = dict(cfg.model_config)
        if mc.setdefault("dim", data.dim) != data.dim:
            raise ConfigError(f"model_config dim {mc['dim']} differs from the source's {data.dim}")
        cfg = dataclasses.replace(cfg, model_config=mc)
    elif cfg.data or cfg.augment:
        raise ConfigError(f"{cfg.model} trains on semcom.data.TrainingCrops and takes no data or augment keys")
    torch.manual_seed(cfg.seed)  # parameter initialisation
    model = build_model(cfg.model, cfg.model_config).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sampler = VectorBatches(data, seed=cfg.seed, augment=cfg.augment) if vector else CropBatches(cfg.crop_size, seed=cfg.seed)
    noise_gen = make_generator(cfg.seed + 1, device=dev)
    step, elapsed, gamma, history = 0, 0.0, float(cfg.loss.gamma), []
    cfg_dict = dataclasses.asdict(cfg)
    state_path = out / "last.pt"
    if resume and state_path.is_file():
        st = torch.load(state_path, map_location=dev, weights_only=False)
        budget = ("steps", "max_minutes", "log_every", "checkpoint_every", "threads")
        if {k: v for k, v in st["config"].items() if k not in budget} != {k: v for k, v in cfg_dict.items() if k not in budget}:
            raise ConfigError(f"{state_path} was written by a different config (only the budget may change on "
                              "resume); remove it or drop --resume")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        sampler.load_state(st.get("sampler_state"))
        noise_gen.set_state(st["noise_rng"].to(noise_gen.get_state().device) if hasattr(st["noise_rng"], "to") else st["noise_rng"])
        step, elapsed, gamma, history = st["step"], st["elapsed_s"], st["gamma"], st["history"]

    def save_state() -> None:
        tmp = state_path.with_suffix(".tmp")
        torch.save({"config": cfg_dict, "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "sampler_state": sampler.state(), "noise_rng": noise_gen.get_state(),
                    "step": step, "elapsed_s": elapsed, "gamma": gamma, "history": history}, tmp)
        tmp.replace(state_path)

    budget_s = cfg.max_minutes * 60
    start_step, wall_t0 = step, time.time()
    log_f = open(out / "log.jsonl", "a")
    bar = tqdm(total=cfg.steps, initial=step, desc=f"train {name}", disable=not progress, dynamic_ncols=True)
    model.train()
    t0 = time.time() - elapsed
    acc: dict[str, float] = {}
    try:
        while step < cfg.steps and elapsed < budget_s:
            prog = max(step / cfg.steps, elapsed / budget_s)
            lr = _lr_at(cfg, prog)
            warm = prog < cfg.loss.rate_warmup
            for g in opt.param_groups:
                g["lr"] = lr
            x = sampler.batch(cfg.batch_size).to(dev)
            if warm and model.random_rate_warmup:
                res = model(x, generator=noise_gen, random_rate=True)
            else:
                res = model(x, generator=noise_gen)
            if step == start_step:
                check_forward_output(model, res, x)  # a broken contract fails now, not after minutes
            loss, terms = jscc_loss(res, x, cfg.loss, 0.0 if warm else gamma)
            if not torch.isfinite(loss):
                raise InputError(f"training diverged at step {step} (loss {float(loss)})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            spp = float(res["spp"].mean())
            if cfg.loss.target_spp is not None and res.get("rate") is not None and not warm:
                gamma *= math.exp(cfg.loss.gamma_step * (spp - cfg.loss.target_spp) / cfg.loss.target_spp)
                gamma = min(max(gamma, 1e-7), 10.0)
            step += 1
            elapsed = time.time() - t0
            terms.update(loss=float(loss.detach()), spp=spp, psnr=-10 * math.log10(max(terms["l2"], 1e-10)))
            for k, v in terms.items():
                acc[k] = acc.get(k, 0.0) + v
            acc["_n"] = acc.get("_n", 0) + 1
            bar.update(1)
            if step % cfg.log_every == 0:
                rec = {k: v / acc["_n"] for k, v in acc.items() if k != "_n"}
                rec.update(step=step, elapsed_s=round(elapsed, 1), lr=lr, gamma=gamma)
                history.append(rec)
                log_f.write(json.dumps(rec) + "\n")
                log_f.flush()
                bar.set_postfix(psnr=f"{rec['psnr']:.2f}", spp=f"{rec['spp']:.3f}", gamma=f"{gamma:.2g}")
                acc = {}
            if step % cfg.checkpoint_every == 0:
                save_state()
    finally:
        bar.close()
        log_f.close()
    save_state()

    model.eval()
    ck_path = out / f"{name}.pt"
    torch.save(model.checkpoint_dict(), ck_path)
    from semcom.models import load_checkpoint

    reloaded = load_checkpoint(ck_path, map_location=dev)  # the metric is measured on what was saved
    metric, details = _record(reloaded, cfg, data)
    from semcom.experiments.results import git_commit

    eval_desc = (f"test split of the landmark vectors at the training SNR, seed {cfg.eval_seed}" if vector else
                 f"semcom.data.test_images {cfg.eval_images!r} centre crops {cfg.eval_size}x{cfg.eval_size}")

    meta = {
        "name": name,
        "model": cfg.model,
        "config": cfg_dict,
        "data": {"train": sampler.describe(), "train_checksums": sampler.checksums(),
                 "sampler": f"semcom.training.data.{type(sampler).__name__}", "eval": eval_desc},
        "seed": cfg.seed,
        "steps": step,
        "train_minutes": round(elapsed / 60, 2),
        "device": str(dev),
        "final_gamma": gamma,
        "metric": metric,
        "eval": details,
        "history_tail": history[-5:],
        "command": command or "semcom train " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "git_commit": git_commit(),
        "parameters": model.num_parameters(),
        **model_provenance(model, wall_t0),
        "file_bytes": ck_path.stat().st_size,
    }
    (out / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    if export_dir is not None:
        import shutil

        ed = Path(export_dir)
        ed.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ck_path, ed / ck_path.name)
        shutil.copyfile(out / f"{name}.json", ed / f"{name}.json")
    return meta


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
        >>> reevaluate("src/semcom/checkpoints/scc_awgn10_spp0125.pt", tile=64)   # doctest: +SKIP
    """
    from semcom.models import load_checkpoint

    path = Path(checkpoint)
    ck = torch.load(path, map_location="cpu", weights_only=False)
    allowed = {"tile", "snr_range_db", "side_bits_per_symbol"}
    bad = set(config_changes) - allowed
    if bad:
        raise ConfigError(f"only inference fields {sorted(allowed)} may change after training, not {sorted(bad)}")
    ck["config"].update(config_changes)
    torch.save(ck, path)
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
    meta["file_bytes"] = path.stat().st_size
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta
