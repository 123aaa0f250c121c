"""Train the Seb extractor f_SE and decoder f_TP jointly (``semcom train seb``), seb paper Sec. IV-A.

Data: random crops of the training photographs (:class:`semcom.data.TrainingCrops`, never the test
photos). Each ``4 p x 4 p`` crop gives 16 fine ``p x p`` patches at full resolution and 4 coarse
``2p x 2p`` regions 2x average-pooled to ``p x p``, so f_SE learns the one feature space both
granularities share. Loss: MSE between patches and ``f_TP(f_SE(patch))``. Adam with a cosine
learning-rate decay (the paper's 1e-4 / 1e-5 / 1e-6 schedule is for 50 000 ImageNet images over
several epochs; a 15-minute CPU budget needs a larger start, ``lr``).

The checkpoint holds the architecture, the weights and metadata: config, steps, wall time, the
held-out patch PSNR it reached (``val_psnr_db`` on crops drawn with another seed), commit and
training-photo paths. By default it is written to ``runs/seb/seb_autoencoder.pt`` (not committed);
``--install`` (``install=True``) also copies it with a metadata JSON (:func:`write_metadata`) into
the package, ``semcom/checkpoints/seb_autoencoder.{pt,json}``, the checkpoint the experiments and
the demo load by default. A test reloads the committed one and checks it still reaches its PSNR.

Example (tiny run)::

    >>> res = run({"steps": 2, "batch": 2, "channels": 8, "dim": 8, "val_crops": 2, "out": None})  # doctest: +SKIP
    >>> res.data["steps"]  # doctest: +SKIP
    2
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F

from semcom.errors import CheckpointError
from semcom.experiments.common import config_with_overrides
from semcom.experiments.results import Results, provenance
from semcom.models.checkpoint_io import build_and_load, metadata_path, require, safe_load, save_checkpoint
from semcom.models.checkpoint_io import write_metadata as save_metadata
from semcom.models.seb import SebAutoencoder
from semcom.semantics.seb import image_to_patches
from semcom.utils import from_dict, make_generator

NAME = "seb_train"
DEFAULT_CHECKPOINT = "runs/seb/seb_autoencoder.pt"


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
    install: bool = False
    log_every: int = 200


def crop_patches(crops: torch.Tensor, patch: int) -> torch.Tensor:
    """Crops ``[B, 3, 4p, 4p]`` -> training patches: fine ``p x p`` ones and pooled coarse ones, ``[N, 3, p, p]``."""
    fine = image_to_patches(crops, patch)
    coarse = F.avg_pool2d(image_to_patches(crops, 2 * patch), 2)
    return torch.cat([fine, coarse])


def photo_label(path: str | Path) -> str:
    """A machine-independent name for a training photo: ``Aqua.jpg`` or ``Autumn/2560x1600.jpg``
    (a wallpaper's folder name when the file sits in ``<name>/contents/images/``)."""
    p = Path(path)
    if p.parent.name == "images" and p.parent.parent.name == "contents":
        return f"{p.parents[2].name}/{p.name}"
    return p.name


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
        "training_photos": [photo_label(p) for p in data.paths],
        "provenance": provenance(cfg, seed=cfg.seed),
    }
    if cfg.out:
        out = Path(cfg.out)
        # plain JSON types only (e.g. the torch version is a str subclass), so it loads with weights_only=True
        save_checkpoint({"model": dataclasses.asdict(model.config), "state_dict": model.state_dict(),
                         "metadata": json.loads(json.dumps(meta))}, out)
        write_metadata(out)
        if cfg.install:
            install(out)
    return Results(NAME, {"log": log, **{k: v for k, v in meta.items() if k != "provenance"}}, provenance(cfg, seed=cfg.seed))


def write_metadata(checkpoint: str | Path, command: str | None = None) -> Path:
    """Write ``<stem>.json`` beside a Seb checkpoint, like the other committed checkpoints' metadata:
    name, model config, training config, data, seed, steps, the metric reached, command, commit,
    parameter count, file size and SHA-256 (recomputed from the file).

    The checkpoint is loaded safely (``weights_only=True``) but its old metadata JSON, if any, is
    not checked: this function writes a new one for the file as it is.
    """
    ck = Path(checkpoint)
    blob = safe_load(ck)
    require(blob, ck, "Seb checkpoint", model=dict, state_dict=dict)
    model = build_and_load(ck, lambda: SebAutoencoder(**blob["model"]), blob["state_dict"])
    meta = _dict(blob.get("metadata"), ck)
    prov = _dict(meta.get("provenance"), ck)
    train_cfg = _dict(prov.get("config"), ck)
    photos = meta.get("training_photos") or []
    if not isinstance(photos, list) or not all(isinstance(p, str) for p in photos):
        raise CheckpointError(f"{ck}: 'training_photos' must be a list of str")
    if len(set(photos)) < len(photos):  # older checkpoints stored ambiguous bare file names
        from semcom.data import TrainingCrops

        paths = TrainingCrops(size=4 * model.patch, count=1, seed=train_cfg.get("seed", 0)).paths
        photos = [photo_label(p) for p in paths]
    info = {
        "name": ck.stem,
        "model": "seb_autoencoder",
        "model_config": blob["model"],
        "config": train_cfg,
        "recipe": meta.get("recipe"),
        "data": {
            "train": f"random {4 * model.patch}x{4 * model.patch} crops of the training "
                     "photographs (semcom.data.TrainingCrops): fine patches and 2x-pooled coarse patches",
            "training_photos": photos,
            "val": f"{meta.get('val_crops')} crops drawn with seed {meta.get('val_seed')} (held out)",
        },
        "seed": train_cfg.get("seed"),
        "steps": meta.get("steps"),
        "train_seconds": meta.get("train_seconds"),
        "metric": {"val_psnr_db": meta.get("val_psnr_db")},
        "val_psnr_db": meta.get("val_psnr_db"),
        "val_seed": meta.get("val_seed"),
        "val_crops": meta.get("val_crops"),
        "command": command or f"semcom train seb --steps {meta.get('steps')} --install",
        "git_commit": prov.get("git_commit"),
        "num_parameters": sum(p.numel() for p in model.parameters()),
    }
    save_metadata(ck, info)  # adds file_bytes and sha256
    return metadata_path(ck)


def _dict(value: Any, ck: Path) -> dict:
    """``value`` when it is a dict, ``{}`` when absent; anything else is a CheckpointError."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CheckpointError(f"{ck}: expected a dict in its metadata, got a {type(value).__name__}")
    return value


def install(checkpoint: str | Path) -> Path:
    """Copy a trained checkpoint into the package (``semcom/checkpoints/seb_autoencoder.pt``) and
    write its metadata JSON; returns the installed path."""
    from semcom.models.seb import pretrained_seb_path

    dst = pretrained_seb_path()
    if Path(checkpoint).resolve() != dst.resolve():
        shutil.copyfile(checkpoint, dst)
    stale = dst.with_suffix(".json")
    if stale.is_file():
        stale.unlink()
    write_metadata(dst)
    return dst


def main(argv: Sequence[str] | None = None) -> int:
    from semcom import cliargs
    from semcom.models.seb import pretrained_seb_path

    t = cliargs.typed
    p = cliargs.ArgumentParser(prog="semcom train seb", description=__doc__.split("\n")[0])
    p.add_argument("--config", default=None, help="JSON file with SebTrainConfig keys")
    p.add_argument("--steps", type=t(cliargs.parse_int, what="steps", lo=1, hi=10**9), default=None)
    p.add_argument("--out", default=None, help=f"checkpoint path (default {DEFAULT_CHECKPOINT})")
    p.add_argument("--install", action="store_true",
                   help="also install the checkpoint (+ metadata JSON) as the package's default, semcom/checkpoints/seb_autoencoder.pt")
    p.add_argument("--seed", type=t(cliargs.parse_seed), default=None)
    p.add_argument("--threads", type=t(cliargs.parse_int, what="threads", lo=1, hi=1024), default=None)
    a = p.parse_args(argv)
    cfg = from_dict(SebTrainConfig, config_with_overrides(a))
    cliargs.check_applies("--install", a.install, bool(cfg.out), "the config's out is null, so no checkpoint is saved")
    cliargs.check_out_file(cfg.out or DEFAULT_CHECKPOINT)  # the checkpoint and seb_train.json beside it
    if cfg.install:
        cliargs.check_out_dir(pretrained_seb_path().parent, what="the package's checkpoint folder")
    res = run(cfg)
    res.save(Path(cfg.out or DEFAULT_CHECKPOINT).parent, "seb_train.json")
    print(f"val PSNR {res.data['val_psnr_db']:.2f} dB after {res.data['steps']} steps")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from semcom.cliargs import guarded

    raise SystemExit(guarded(main))
