"""Train the Seb extractor f_SE and decoder f_TP jointly (``semcom train seb``), seb paper Sec. IV-A.

Data: random crops of the training photographs (:class:`semcom.data.TrainingCrops`, never the test
photos). Each ``4 p x 4 p`` crop gives 16 fine ``p x p`` patches at full resolution and 4 coarse
``2p x 2p`` regions 2x average-pooled to ``p x p``, so f_SE learns the one feature space both
granularities share. Loss: MSE between patches and ``f_TP(f_SE(patch))``. Adam with a cosine
learning-rate decay (the paper's 1e-4 / 1e-5 / 1e-6 schedule is for 50 000 ImageNet images over
several epochs; a 15-minute CPU budget needs a larger start, ``lr``).

The checkpoint holds the architecture, the weights and metadata: config, steps, wall time, the
held-out patch PSNR it reached (``val_psnr_db`` on crops drawn with another seed), commit and
training-photo paths. A test reloads it and checks it still reaches that PSNR.

Example (tiny run)::

    >>> res = run({"steps": 2, "batch": 2, "channels": 8, "dim": 8, "val_crops": 2, "out": None})  # doctest: +SKIP
    >>> res.data["steps"]  # doctest: +SKIP
    2
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F

from semcom.experiments.common import load_config_file
from semcom.experiments.results import Results, provenance
from semcom.models.seb import SebAutoencoder
from semcom.semantics.seb import image_to_patches
from semcom.utils import from_dict, make_generator

NAME = "seb_train"
DEFAULT_CHECKPOINT = "results/seb/seb_autoencoder.pt"


@dataclasses.dataclass
class SebTrainConfig:
    """Training configuration (see module docstring)."""

    steps: int = 4000
    batch: int = 16
    lr: float = 2e-3
    patch: int = 16
    channels: int = 64
    dim: int = 64
    seed: int = 0
    val_crops: int = 64
    threads: int = 1
    out: str | None = DEFAULT_CHECKPOINT
    log_every: int = 200


def crop_patches(crops: torch.Tensor, patch: int) -> torch.Tensor:
    """Crops ``[B, 3, 4p, 4p]`` -> training patches: fine ``p x p`` ones and pooled coarse ones, ``[N, 3, p, p]``."""
    fine = image_to_patches(crops, patch)
    coarse = F.avg_pool2d(image_to_patches(crops, 2 * patch), 2)
    return torch.cat([fine, coarse])


def psnr_db(x: torch.Tensor, y: torch.Tensor) -> float:
    mse = float(F.mse_loss(x, y))
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def run(config: SebTrainConfig | Mapping[str, Any] | None = None) -> Results:
    """Train and (unless ``out`` is None) save the checkpoint; returns the training record."""
    from semcom.data import TrainingCrops

    cfg = config if isinstance(config, SebTrainConfig) else from_dict(SebTrainConfig, config or {})
    torch.set_num_threads(max(1, cfg.threads))
    torch.manual_seed(cfg.seed)  # parameter init only; data draws use their own seeded generators
    model = SebAutoencoder(cfg.patch, cfg.channels, cfg.dim)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.steps), eta_min=cfg.lr * 0.01)
    crop = 4 * cfg.patch
    data = TrainingCrops(size=crop, count=cfg.steps * cfg.batch, seed=cfg.seed)
    val = TrainingCrops(size=crop, count=cfg.val_crops, seed=cfg.seed + 10_000)
    val_patches = crop_patches(torch.stack([val[i] for i in range(len(val))]), cfg.patch)
    log = []
    t0 = time.time()
    g = make_generator(cfg.seed)
    order = torch.randperm(len(data), generator=g)
    for step in range(cfg.steps):
        idx = order[step * cfg.batch : (step + 1) * cfg.batch].tolist()
        x = crop_patches(torch.stack([data[i] for i in idx]), cfg.patch)
        loss = F.mse_loss(model(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            with torch.no_grad():
                model.eval()
                v = psnr_db(model(val_patches), val_patches)
                model.train()
            log.append({"step": step + 1, "train_mse": float(loss.detach()), "val_psnr_db": v, "seconds": time.time() - t0})
            print(f"step {step + 1}: train mse {float(loss.detach()):.5f} val psnr {v:.2f} dB ({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    with torch.no_grad():
        val_psnr = psnr_db(model(val_patches), val_patches)
    meta = {
        "recipe": "seb: f_SE/f_TP patch autoencoder, MSE on fine and 2x-pooled coarse patches",
        "val_psnr_db": val_psnr,
        "val_seed": cfg.seed + 10_000,
        "val_crops": cfg.val_crops,
        "steps": cfg.steps,
        "train_seconds": time.time() - t0,
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "training_photos": [Path(p).name for p in data.paths],
        "provenance": provenance(cfg, seed=cfg.seed),
    }
    if cfg.out:
        out = Path(cfg.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"model": dataclasses.asdict(model.config), "state_dict": model.state_dict(), "metadata": meta}, out)
    return Results(NAME, {"log": log, **{k: v for k, v in meta.items() if k != "provenance"}}, provenance(cfg, seed=cfg.seed))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="semcom train seb", description=__doc__.split("\n")[0])
    p.add_argument("--config", default=None, help="JSON file with SebTrainConfig keys")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--out", default=None, help=f"checkpoint path (default {DEFAULT_CHECKPOINT})")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args(argv)
    cfg = load_config_file(a.config)
    for key in ("steps", "out", "seed", "threads"):
        if getattr(a, key) is not None:
            cfg[key] = getattr(a, key)
    res = run(cfg)
    res.save(Path(cfg.get("out") or DEFAULT_CHECKPOINT).parent, "seb_train.json")
    print(f"val PSNR {res.data['val_psnr_db']:.2f} dB after {res.data['steps']} steps")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
