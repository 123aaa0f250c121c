"""Training of the LSCI base model (Sec. III-A): the distortion stage, then the WGAN-GP stage.

``stage="base"``: encoder, quantiser and generator on Eq. 8's distortion only (the non-GAN codec).
``stage="gan"``: from a base checkpoint (``init``), the multi-scale PatchGAN critic and the codec
are trained jointly with WGAN-GP (Eq. 11-14): the critic maximises ``E[D(x)] - E[D(x')]`` minus
``gp_weight`` times the gradient penalty; the codec minimises ``-adv_weight * E[D(x')] + lambda * d``
(lambda = 10 as in the paper). ``f`` and ``g`` of Eq. 12-13 sum the patch outputs; we average them
(a constant factor per crop size).

The JSCC trainer of :mod:`semcom.training` is built around models with a channel and a symbol
budget (``transmit``, SPP, rate weight); the base model has neither, so it has this short loop that
reuses the same data (:class:`semcom.training.data.CropBatches`: random crops of the training
photos, never a test photo), the learning-rate schedule and the perceptual-loss switch.

The checkpoint (fp16 weights, ``kind="lsci_base"``) and its metadata JSON (config, data and
checksums, seed, steps, minutes, metric reached on the test photos from the real bitstream,
command, commit, SHA-256) are written to ``out``.

Example (seconds):
    >>> from semcom.experiments.lsci_train import run
    >>> cfg = {"model_config": {"enc_channels": [8] * 6, "gen_channels": [8] * 4, "res_blocks": 1},
    ...        "steps": 2, "crop_size": 32, "batch_size": 2, "eval_size": 64}
    >>> meta = run(cfg, "runs/doc-lsci")                 # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from semcom.errors import ConfigError, InputError
from semcom.utils import from_dict


@dataclasses.dataclass
class LSCITrainConfig:
    """One training run (every key of the JSON config is a field)."""

    stage: str = "base"
    model_config: dict = dataclasses.field(default_factory=dict)
    init: str | None = None
    name: str = "lsci_base"
    crop_size: int = 64
    batch_size: int = 8
    steps: int = 6000
    max_minutes: float = 45.0
    lr: float = 1e-3
    lr_final_ratio: float = 0.05
    seed: int = 0
    threads: int = 1
    alpha: float = 0.01
    beta: float = 0.001
    perceptual: str = "ms_ssim"
    lam: float = 10.0
    adv_weight: float = 1.0
    gp_weight: float = 10.0
    disc_channels: Sequence[int] = (32, 64, 128)
    disc_lr: float = 1e-4
    eval_size: int = 256
    log_every: int = 50
    checkpoint_every: int = 200

    def __post_init__(self) -> None:
        if self.stage not in ("base", "gan"):
            raise ConfigError(f"stage must be base or gan, got {self.stage!r}")
        if self.stage == "gan" and not self.init:
            raise ConfigError("the gan stage starts from a base checkpoint: set init")
        for k in ("crop_size", "batch_size", "steps", "eval_size", "log_every", "checkpoint_every"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{k} must be a positive int, got {v!r}")
        if not (self.lr > 0 and self.max_minutes > 0 and 0 < self.lr_final_ratio <= 1):
            raise ConfigError("lr > 0, max_minutes > 0 and 0 < lr_final_ratio <= 1 are required")
        self.disc_channels = tuple(int(c) for c in self.disc_channels)


# --------------------------------------------------------------------------- critic
class PatchCritic(nn.Module):
    """PatchGAN critic: stride-2 3x3 convolutions with LeakyReLU, a 1x1 convolution to one score
    per patch (Table I, narrowed); no normalisation (WGAN-GP penalises per-sample gradients)."""

    def __init__(self, channels: Sequence[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for c in channels:
            layers += [nn.Conv2d(cin, c, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            cin = c
        layers.append(nn.Conv2d(cin, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MultiScaleCritic(nn.Module):
    """Three identical critics on the image at full, 1/2 and 1/4 resolution (average pooling);
    the score is the sum of each critic's mean patch score (the "fusion decision")."""

    def __init__(self, channels: Sequence[int], scales: int = 3) -> None:
        super().__init__()
        self.critics = nn.ModuleList(PatchCritic(channels) for _ in range(scales))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = 0
        for i, d in enumerate(self.critics):
            xi = F.avg_pool2d(x, 2 ** i) if i else x
            total = total + d(xi).mean(dim=(1, 2, 3))
        return total


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """WGAN-GP: ``E[(||grad D(x_tilde)||_2 - 1)^2]`` on random interpolates (Gulrajani et al.)."""
    eps = torch.rand(real.shape[0], 1, 1, 1, generator=gen)
    xt = (eps * real + (1 - eps) * fake).requires_grad_(True)
    g, = torch.autograd.grad(critic(xt).sum(), xt, create_graph=True)
    return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()


# --------------------------------------------------------------------------- evaluation
def evaluate_base(model, size: int = 256, subset: str | None = "tiny") -> dict:
    """PSNR, MS-SSIM, bpp from the real bitstream, and the Eq. 5 bound, on the test photos.

    Each photo goes ``encode -> bytes -> decode``; bpp = 8 * len(bytes) / pixels.
    """
    import warnings

    from semcom.data import checksums, test_images
    from semcom.metrics import ms_ssim, psnr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        imgs = test_images(subset=subset, size=size)
    if not imgs:
        raise InputError(f"no test photo of size {size}")
    per = {}
    for im in imgs:
        data = model.encode(im.image)
        x_hat = model.decode(data)
        h, w = im.image.shape[-2:]
        per[im.name] = {"psnr_db": float(psnr(im.image, x_hat)[0]), "ms_ssim": float(ms_ssim(im.image, x_hat)[0]),
                        "bpp": 8 * len(data) / (h * w), "bound_bpp": model.bound_bits(h, w) / (h * w)}
    keys = ("psnr_db", "ms_ssim", "bpp", "bound_bpp")
    mean = {k: sum(p[k] for p in per.values()) / len(per) for k in keys}
    return {**mean, "per_image": per, "images": subset or "all", "size": size, "checksums": checksums(imgs)}


# --------------------------------------------------------------------------- loop
def _lr(cfg: LSCITrainConfig, base_lr: float, prog: float) -> float:
    lo = base_lr * cfg.lr_final_ratio
    return lo + 0.5 * (base_lr - lo) * (1 + math.cos(math.pi * min(max(prog, 0.0), 1.0)))


def _build(cfg: LSCITrainConfig):
    from semcom.models.lsci import LSCIBase, load_base

    if cfg.stage == "gan":
        model = load_base(cfg.init)
        model.train()
        return model
    return LSCIBase(cfg.model_config)


def run(config: LSCITrainConfig | dict, out_dir: str | Path, *, command: str | None = None,
        progress: bool = False) -> dict:
    """Train one stage; returns the metadata (also written to ``<out>/<name>.json``)."""
    from semcom.experiments.results import git_commit
    from semcom.models.lsci import distortion, save_module
    from semcom.training.data import CropBatches

    cfg = config if isinstance(config, LSCITrainConfig) else from_dict(LSCITrainConfig, config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model = _build(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    critic = MultiScaleCritic(cfg.disc_channels) if cfg.stage == "gan" else None
    dopt = torch.optim.Adam(critic.parameters(), lr=cfg.disc_lr, betas=(0.0, 0.9)) if critic is not None else None
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    sampler = CropBatches(cfg.crop_size, seed=cfg.seed)
    log_f = open(out / "log.jsonl", "a")
    t0, step, acc, history = time.time(), 0, {}, []
    budget = cfg.max_minutes * 60
    try:
        while step < cfg.steps and time.time() - t0 < budget:
            prog = max(step / cfg.steps, (time.time() - t0) / budget)
            for g in opt.param_groups:
                g["lr"] = _lr(cfg, cfg.lr, prog)
            x = sampler.batch(cfg.batch_size)
            terms = _step(cfg, model, opt, critic, dopt, x, gen, distortion)
            step += 1
            for k, v in terms.items():
                acc[k] = acc.get(k, 0.0) + v
            if step % cfg.log_every == 0:
                rec = {k: v / cfg.log_every for k, v in acc.items()}
                rec.update(step=step, elapsed_s=round(time.time() - t0, 1), psnr=-10 * math.log10(max(rec["mse"], 1e-10)))
                history.append(rec)
                log_f.write(json.dumps(rec) + "\n")
                log_f.flush()
                acc = {}
            if step % cfg.checkpoint_every == 0:
                save_module(model, dataclasses.asdict(model.config), out / "last.pt", "lsci_base")
    finally:
        log_f.close()
    minutes = (time.time() - t0) / 60
    model.eval()
    pt = out / f"{cfg.name}.pt"
    sha = save_module(model, dataclasses.asdict(model.config), pt, "lsci_base")
    meta = {"name": cfg.name, "model": "lsci_base", "stage": cfg.stage, "config": dataclasses.asdict(cfg),
            "model_config": dataclasses.asdict(model.config),
            "data": {"train": sampler.describe(), "train_checksums": sampler.checksums(),
                     "eval": f"semcom.data.test_images 'tiny' centre crops {cfg.eval_size}x{cfg.eval_size}, "
                             "encode -> bytes -> decode"},
            "seed": cfg.seed, "steps": step, "train_minutes": round(minutes, 2), "history_tail": history[-5:],
            "command": command or "python -m semcom.experiments.lsci_train " + " ".join(map(shlex.quote, sys.argv[1:])),
            "git_commit": git_commit(), "parameters": model.num_parameters(), "weights": "float16",
            "sha256": sha, "file_bytes": pt.stat().st_size}
    (out / f"{cfg.name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    from semcom.models.lsci import load_base

    ev = evaluate_base(load_base(pt), cfg.eval_size)   # measured on what was saved (fp16 weights)
    meta["metric"] = {k: ev[k] for k in ("psnr_db", "ms_ssim", "bpp", "bound_bpp")}
    meta["eval"] = {k: v for k, v in ev.items() if k not in meta["metric"]}
    (out / f"{cfg.name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _step(cfg, model, opt, critic, dopt, x, gen, distortion) -> dict:
    """One optimisation step (a critic step first in the GAN stage); returns logged terms."""
    terms = {}
    if critic is not None:
        with torch.no_grad():
            fake = model(x)["x_hat"].clamp(0, 1)
        d_loss = critic(fake).mean() - critic(x).mean()
        gp = gradient_penalty(critic, x, fake, gen)
        dopt.zero_grad(set_to_none=True)
        (d_loss + cfg.gp_weight * gp).backward()
        dopt.step()
        terms.update(critic_gap=float(-d_loss.detach()), gp=float(gp.detach()))
    out = model(x)
    d, dt = distortion(out["x_hat"], x, cfg.alpha, cfg.beta, cfg.perceptual)
    loss = d
    if critic is not None:
        adv = -critic(out["x_hat"]).mean()
        loss = cfg.lam * d + cfg.adv_weight * adv
        terms["adv"] = float(adv.detach())
    if not torch.isfinite(loss):
        raise InputError(f"training diverged (loss {float(loss)})")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    terms.update(dt, loss=float(loss.detach()))
    return terms


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="semcom lsci train", description="train the LSCI base model (base or gan stage)")
    p.add_argument("--config", required=True, help="JSON config (configs/lsci/lsci_*.json)")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--max-minutes", type=float, default=None)
    a = p.parse_args(argv)
    from semcom.experiments.common import load_config_file

    cfg = load_config_file(a.config)
    if a.steps is not None:
        cfg["steps"] = a.steps
    if a.max_minutes is not None:
        cfg["max_minutes"] = a.max_minutes
    words = list(argv) if argv is not None else sys.argv[1:]
    meta = run(cfg, a.out, command="semcom lsci train " + " ".join(map(shlex.quote, words)))
    m = meta["metric"]
    print(f"{meta['name']}: {meta['steps']} steps, {meta['train_minutes']} min; PSNR {m['psnr_db']:.2f} dB, "
          f"MS-SSIM {m['ms_ssim']:.4f}, {m['bpp']:.4f} bpp (bound {m['bound_bpp']:.4f})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


# --------------------------------------------------------------------------- slice models
@dataclasses.dataclass
class SliceTrainConfig:
    """Training of a slice model on a frozen base checkpoint ``base``.

    kind: ``"channel"`` (:class:`ChannelSlice`, ``slice_config`` its config) or ``"sr"``
    (:class:`SRNet` of an enhancement slice with ``pool`` and JPEG2000 ``bpp``; the mask is all
    ones in training: the training photos hold no people).
    """

    kind: str = "channel"
    base: str = ""
    name: str = "lsci_channel_awgn"
    slice_config: dict = dataclasses.field(default_factory=dict)
    pool: int = 2
    bpp: float = 0.5
    sr_width: int = 16
    crop_size: int = 64
    batch_size: int = 8
    steps: int = 3000
    max_minutes: float = 15.0
    lr: float = 1e-3
    lr_final_ratio: float = 0.05
    seed: int = 0
    threads: int = 1
    log_every: int = 50

    def __post_init__(self) -> None:
        if self.kind not in ("channel", "sr"):
            raise ConfigError(f"kind must be channel or sr, got {self.kind!r}")
        if not self.base:
            raise ConfigError("base (the frozen base checkpoint) is required")


def _j2k_round_trip(img: torch.Tensor, bpp: float) -> torch.Tensor:
    """JPEG2000 (OpenJPEG via Pillow, the settings of semcom.codecs' ``jpeg2000``: 9/7 wavelet,
    colour transform, rate by compression ratio) encode + decode of ``[3, H, W]`` in one pass,
    without the codec's rate tightening (training speed). Returns ``[1, 3, H, W]``."""
    import io

    import numpy as np
    from PIL import Image

    arr = (img.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG2000", quality_mode="rates", quality_layers=[24.0 / bpp],
                              irreversible=True, mct=1)
    buf.seek(0)
    out = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255
    return torch.from_numpy(out).permute(2, 0, 1)[None]


def _slice_batch(cfg, base, x, slice_model, gen):
    """Loss of one batch for a channel slice (Eq. 23) or an SR model (Eq. 19)."""
    from semcom.models.lsci_slices import channel_slice_loss

    with torch.no_grad():
        out = base(x, "hard")
    if cfg.kind == "channel":
        lo, hi = slice_model.config.snr_range_db
        snr = lo + (hi - lo) * torch.rand(x.shape[0], generator=gen)
        w_hat, _ = slice_model(out["wq"], snr, generator=gen)
        return channel_slice_loss(w_hat, out["wq"], x, base.generator, x.shape[-2:])
    r = x - out["x_hat"].clamp(0, 1)
    small = F.avg_pool2d(r, cfg.pool) if cfg.pool > 1 else r
    dec = torch.cat([_j2k_round_trip((s + 1) / 2, cfg.bpp * cfg.pool ** 2) * 2 - 1 for s in small])
    up = F.interpolate(dec, size=x.shape[-2:], mode="bilinear", align_corners=False)
    rc = slice_model(up)
    loss = F.mse_loss(rc, r)
    return loss, {"mse": float(loss.detach()), "upsampled_mse": float(F.mse_loss(up, r))}


def run_slice(config: SliceTrainConfig | dict, out_dir: str | Path, *, command: str | None = None) -> dict:
    """Train one slice model on a frozen base; writes ``<name>.pt`` (fp16) + ``<name>.json``."""
    from semcom.experiments.results import git_commit
    from semcom.models.lsci import load_base, save_module
    from semcom.models.lsci_slices import ChannelSlice, SRNet
    from semcom.training.data import CropBatches

    cfg = config if isinstance(config, SliceTrainConfig) else from_dict(SliceTrainConfig, config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    base = load_base(cfg.base)
    for p in base.parameters():
        p.requires_grad_(False)
    if cfg.kind == "channel":
        sc = {**cfg.slice_config, "latent_channels": base.config.latent_channels, "base_version": base.version()}
        model = ChannelSlice(sc)
        mcfg = dataclasses.asdict(model.config)
    else:
        model = SRNet(cfg.sr_width)
        mcfg = {"width": cfg.sr_width, "pool": cfg.pool, "bpp": cfg.bpp, "base_version": base.version()}
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    sampler = CropBatches(cfg.crop_size, seed=cfg.seed + 100)
    t0, step, acc, history = time.time(), 0, {}, []
    budget = cfg.max_minutes * 60
    with open(out / f"{cfg.name}.log.jsonl", "a") as log_f:
        while step < cfg.steps and time.time() - t0 < budget:
            prog = max(step / cfg.steps, (time.time() - t0) / budget)
            lo = cfg.lr * cfg.lr_final_ratio
            for g in opt.param_groups:
                g["lr"] = lo + 0.5 * (cfg.lr - lo) * (1 + math.cos(math.pi * min(prog, 1.0)))
            loss, terms = _slice_batch(cfg, base, sampler.batch(cfg.batch_size), model, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            for k, v in terms.items():
                acc[k] = acc.get(k, 0.0) + v
            if step % cfg.log_every == 0:
                rec = {k: v / cfg.log_every for k, v in acc.items()}
                rec.update(step=step, elapsed_s=round(time.time() - t0, 1))
                history.append(rec)
                log_f.write(json.dumps(rec) + "\n")
                log_f.flush()
                acc = {}
    pt = out / f"{cfg.name}.pt"
    sha = save_module(model, mcfg, pt, model.kind)
    meta = {"name": cfg.name, "model": model.kind, "config": dataclasses.asdict(cfg), "model_config": mcfg,
            "base": Path(cfg.base).stem, "base_version": base.version(),
            "data": {"train": sampler.describe(), "train_checksums": sampler.checksums()},
            "seed": cfg.seed, "steps": step, "train_minutes": round((time.time() - t0) / 60, 2),
            "history_tail": history[-5:], "command": command or "", "git_commit": git_commit(),
            "parameters": sum(p.numel() for p in model.parameters()), "weights": "float16",
            "sha256": sha, "file_bytes": pt.stat().st_size}
    (out / f"{cfg.name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    meta["metric"] = evaluate_slice(pt)
    (out / f"{cfg.name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


SLICE_EVAL_SNRS = (0.0, 5.0, 10.0)


def evaluate_slice(path: str | Path, size: int = 256) -> dict:
    """The recorded metric of a slice checkpoint (its base is read from the metadata's ``config.base``).

    Channel slice: mean PSNR on the "tiny" test photos (``size`` crops) at 0, 5 and 10 dB, image
    ``i`` with noise seed ``i``. SR slice: mean PSNR of the base decode and of the enhanced image
    (mask all ones, the slice's pooling and JPEG2000 bpp) on the same photos.
    """
    import warnings

    from semcom.data import test_images
    from semcom.metrics import psnr
    from semcom.models.lsci import load_base, load_blob
    from semcom.models.lsci_slices import ChannelSlice, EnhancementSlice, SRNet

    path = Path(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    # the base beside the slice (committed checkpoints), else the path the run was given
    base_path = path.parent / Path(meta["config"]["base"]).name
    if not base_path.is_file():
        base_path = Path(meta["config"]["base"])
    base = load_base(base_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        imgs = test_images(subset="tiny", size=size)
    if meta["model"] == "lsci_channel_slice":
        cfg, sd, _ = load_blob(path, "lsci_channel_slice")
        m = ChannelSlice(cfg)
        m.load_state_dict(sd)
        m.eval()
        res = {}
        with torch.no_grad():
            for snr in SLICE_EVAL_SNRS:
                vals = []
                for i, im in enumerate(imgs):
                    w_hat, _ = m(base(im.image, "hard")["wq"], snr, generator=torch.Generator().manual_seed(i))
                    vals.append(float(psnr(im.image, base.synthesise(w_hat, im.image.shape[-2:]).clamp(0, 1))[0]))
                res[f"psnr_db_snr{snr:g}"] = sum(vals) / len(vals)
        lh, lw = base.latent_shape(size, size)[1:]
        res["channel_uses"] = m.uses(lh, lw)
        return res
    cfg, sd, _ = load_blob(path, "lsci_sr")
    sr = SRNet(cfg["width"])
    sr.load_state_dict(sd)
    sr.eval()
    sl = EnhancementSlice(sr, cfg["pool"], cfg["bpp"])
    pb, pe, bits = [], [], []
    for im in imgs:
        xb = base.decode(base.encode(im.image))
        ones = torch.ones(1, 1, size, size)
        data = sl.encode(im.image, xb, ones)
        pb.append(float(psnr(im.image, xb)[0]))
        pe.append(float(psnr(im.image, sl.decode(data, xb, ones))[0]))
        bits.append(8 * len(data))
    n = len(imgs)
    return {"psnr_db_base": sum(pb) / n, "psnr_db_enhanced": sum(pe) / n, "enhancement_bpp": sum(bits) / n / size ** 2}


def slice_main(argv: Sequence[str] | None = None) -> int:
    """``semcom lsci train-slice --config configs/lsci/lsci_channel_awgn.json --out DIR``."""
    p = argparse.ArgumentParser(prog="semcom lsci train-slice", description="train an LSCI slice model on a frozen base")
    p.add_argument("--config", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--base", default=None, help="base checkpoint (overrides the config's)")
    p.add_argument("--max-minutes", type=float, default=None)
    a = p.parse_args(argv)
    from semcom.experiments.common import load_config_file

    cfg = load_config_file(a.config)
    if a.base:
        cfg["base"] = a.base
    if a.max_minutes is not None:
        cfg["max_minutes"] = a.max_minutes
    words = list(argv) if argv is not None else sys.argv[1:]
    meta = run_slice(cfg, a.out, command="semcom lsci train-slice " + " ".join(map(shlex.quote, words)))
    print(f"{meta['name']}: {meta['steps']} steps, {meta['train_minutes']} min; last {meta['history_tail'][-1:]}")
    return 0
