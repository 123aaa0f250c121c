"""``semcom train refine-curve``: what the transmitter's refinement buys per step (:mod:`semcom.models.refine`).

For one learned model (deepjscc, adjscc), at every SNR, assumed-SNR offset, learning rate and step
count: each image's symbols are refined with that many steps (0: the encoder's own) at the SNR the
transmitter assumes (the channel's SNR plus the offset: a wrong estimate), then sent over ``draws``
channel draws the search never saw (transmission seeds ``seed + 1000 i + d`` through
:func:`semcom.utils.make_generator`; the search draws from :func:`~semcom.models.refine.search_generator`)
at the channel's SNR, and decoded by the unchanged decoder. Reported per point: the PSNR averaged
over the draws and then over the images, the mean per-image gain over the encoder's symbols on the
same draws, and the search's cost (seconds per megapixel of image, this machine, one process).

Image sets: ``tiny``, ``all``, ``all-N`` (the bundled test photos, as ``snr-sweep``) and ``train-N``:
N 256 x 256 crops of the training corpus (:class:`semcom.data.TrainingCrops`, seed 1), where the
defaults of :class:`~semcom.models.refine.RefineConfig` were chosen, not on the test photos.

Writes ``refine_curve.json`` (:class:`~semcom.experiments.results.Results`) and
``refine_curve_psnr_gain_vs_steps.png`` into ``--out``.

Example:
    semcom train refine-curve --checkpoint deepjscc_awgn5_spp0125 --snr 0 5 --steps 0 25 50 100 \\
        --images tiny --out results/train/refine
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from semcom.errors import InputError
from semcom.experiments.results import Results, provenance

__all__ = ["refine_curve", "plot_refine_curve", "main"]

#: crop side and seed of the ``train-N`` image set
TRAIN_CROP, TRAIN_SEED = 256, 1


def load_images(spec: str, multiple: int) -> list[tuple[str, torch.Tensor]]:
    """``(name, [1,3,H,W])`` of an image set (see the module docstring)."""
    import warnings

    from semcom import cliargs
    from semcom.data import TrainingCrops, test_images
    from semcom.experiments.train_report import image_set

    s = str(spec).strip()
    if s.startswith("train-"):
        n = cliargs.parse_int(s[6:], what=f"image set {s!r}: crop count", lo=1, hi=10000)
        ds = TrainingCrops(size=TRAIN_CROP, count=n, seed=TRAIN_SEED)
        return [(f"train_crop_{i}", ds[i].unsqueeze(0)) for i in range(n)]
    which, size = image_set(s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ims = test_images(subset="tiny" if which == "tiny" else None, size=size, multiple_of=None if size else multiple)
    return [(im.name, im.image) for im in ims]


def _psnr_over_draws(model: Any, z: torch.Tensor, x: torch.Tensor, snr: float, seeds: Sequence[int]) -> float:
    from semcom.metrics import psnr
    from semcom.models import jscc_channel
    from semcom.utils import make_generator

    h, w = x.shape[-2:]
    vals = []
    with torch.no_grad():
        for s in seeds:
            y = jscc_channel(z.unsqueeze(0), snr, model.config.channel, make_generator(s))
            vals.append(float(psnr(model.reconstruct(y, h, w, snr).clamp(0, 1), x)))
    return sum(vals) / len(vals)


def _image_point(model: Any, x: torch.Tensor, snr: float, assumed: float, cfg: Any, seeds: Sequence[int],
                 ) -> tuple[float, float]:
    """(PSNR over the draws, search seconds) of one image refined with ``cfg`` at the assumed SNR."""
    from semcom.models.refine import refine_symbols

    z, log = refine_symbols(model, x, assumed, cfg)
    return _psnr_over_draws(model, z, x, snr, seeds), float(log["seconds"])


def _point(model: Any, images: list, snr: float, offset: float, lr: float, steps: int, samples: int,
           seeds_of: Any, base: dict, bar: Any) -> dict:
    from semcom.models.refine import RefineConfig

    cfg = RefineConfig(steps=int(steps), lr=float(lr), samples=int(samples))
    psnrs, gains, secs, pixels = [], [], 0.0, 0
    for i, (_, x) in enumerate(images):
        key = (snr, offset, i)
        if steps == 0 and key in base:  # the encoder's own symbols: the same for every learning rate
            p, s = base[key], 0.0
        else:
            p, s = _image_point(model, x, snr, snr + offset, cfg, seeds_of(i))
        base.setdefault(key, p)  # steps run in increasing order from 0, so 0 fills it first
        psnrs.append(p)
        gains.append(p - base[key])
        secs, pixels = secs + s, pixels + x.shape[-1] * x.shape[-2]
        bar.update(1)
    n = len(images)
    return {"snr_db": snr, "assumed_snr_db": snr + offset, "offset_db": offset, "lr": float(lr), "steps": int(steps),
            "samples": int(samples), "psnr_db": sum(psnrs) / n, "gain_db": sum(gains) / n,
            "per_image_psnr_db": psnrs, "search_seconds": round(secs, 3),
            "seconds_per_megapixel": round(secs / (pixels / 1e6), 3)}


def refine_curve(checkpoint: str, snrs_db: Sequence[float], steps: Sequence[int], lrs: Sequence[float] = (0.05,),
                 images: str = "tiny", offsets_db: Sequence[float] = (0.0,), samples: int = 1, draws: int = 4,
                 seed: int = 0, progress: bool = True) -> Results:
    """The refinement curve of one checkpoint (see the module docstring); returns ``refine_curve`` Results."""
    from tqdm.auto import tqdm

    from semcom.experiments.train_report import load_model
    from semcom.models.refine import supports_refinement

    label, model, source = load_model(str(checkpoint))
    if not supports_refinement(model):
        raise InputError(f"{checkpoint}: model {model.name!r} has no differentiable reconstruct() (deepjscc, adjscc)")
    steps = sorted({int(k) for k in steps} | {0})  # the encoder's own symbols are the reference
    if min(steps) < 0 or not snrs_db or not lrs or draws < 1:
        raise InputError("steps must be >= 0; give at least one SNR and one learning rate; draws >= 1")
    imgs = load_images(images, int(getattr(model, "input_multiple", 4)))
    model.eval()
    base: dict = {}
    t0, load0 = time.time(), os.getloadavg()[0]
    grid = [(float(s), float(o), float(lr), k) for s in snrs_db for o in offsets_db for lr in lrs for k in steps]
    with tqdm(total=len(grid) * len(imgs), desc="refine-curve", disable=not progress, leave=False) as bar:
        rows = [_point(model, imgs, s, o, lr, k, samples, lambda i: [seed + 1000 * i + d for d in range(draws)],
                       base, bar) for s, o, lr, k in grid]
    meta = getattr(model, "metadata", None) or {}
    data = {"checkpoint": source, "label": label, "model": model.name, "checkpoint_sha256": meta.get("sha256"),
            "images": images, "image_names": [n for n, _ in imgs], "draws": draws, "rows": rows,
            "wall_time_s": round(time.time() - t0, 1), "load_average": [round(load0, 2), round(os.getloadavg()[0], 2)],
            "torch_threads": torch.get_num_threads(),
            "note": "psnr_db: mean over images of the PSNR averaged over the draws; gain_db: mean per-image PSNR gain "
                    "over 0 steps on the same draws; seconds_per_megapixel: the search alone, this machine"}
    cfg = {"checkpoint": str(checkpoint), "snr_db": [float(s) for s in snrs_db], "steps": steps,
           "lr": [float(v) for v in lrs], "images": images, "offsets_db": [float(o) for o in offsets_db],
           "samples": samples, "draws": draws, "seed": seed}
    return Results("refine_curve", data, provenance(cfg, seed))


def plot_refine_curve(results: Results, out_dir: str | Path) -> Path:
    """PSNR gain over the encoder's symbols versus refinement steps, one line per (SNR, offset, lr)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semcom.report.plots import save_figure

    d = results.data
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    keys = sorted({(r["snr_db"], r["offset_db"], r["lr"]) for r in d["rows"]})
    for snr, off, lr in keys:
        pts = sorted((r["steps"], r["gain_db"]) for r in d["rows"] if (r["snr_db"], r["offset_db"], r["lr"]) == (snr, off, lr))
        extra = (f", assumed {off:+g} dB" if off else "") + (f", lr {lr:g}" if len({k[2] for k in keys}) > 1 else "")
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{snr:g} dB{extra}")
    ax.set_xscale("symlog", linthresh=10)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("refinement steps per image (decoder passes forward + backward)")
    ax.set_ylabel("PSNR gain over the encoder's symbols (dB)")
    ax.set_title(f"{d['label']} on {d['images']} ({len(d['image_names'])} images)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, Path(out_dir) / "refine_curve_psnr_gain_vs_steps.png")


def build_parser() -> argparse.ArgumentParser:
    from semcom import cliargs

    t = cliargs.typed
    p = cliargs.ArgumentParser(prog="semcom train refine-curve", description=__doc__.split("\n\n")[0].strip("`"))
    p.add_argument("--checkpoint", required=True, help="committed checkpoint name or .pt file (deepjscc, adjscc)")
    p.add_argument("--snr", nargs="+", required=True, type=t(cliargs.parse_float, what="SNR", lo=-30, hi=60), help="channel SNRs in dB")
    p.add_argument("--steps", nargs="+", default=[0, 10, 25, 50, 100, 200],
                   type=t(cliargs.parse_int, what="steps", lo=0, hi=100000), help="step counts (0 is always added)")
    p.add_argument("--lr", nargs="+", default=[0.05], type=t(cliargs.parse_float, what="lr", lo=0, lo_open=True),
                   help="learning rates")
    p.add_argument("--assumed-offset-db", nargs="+", default=[0.0], type=t(cliargs.parse_float, what="offset", lo=-30, hi=30),
                   help="the transmitter refines at SNR + offset (a wrong estimate); default 0")
    p.add_argument("--samples", type=t(cliargs.parse_int, what="samples", lo=1, hi=1024), default=1,
                   help="channel draws per search step")
    p.add_argument("--draws", type=t(cliargs.parse_int, what="draws", lo=1, hi=1000), default=4,
                   help="channel draws each refined image is evaluated on")
    p.add_argument("--images", default="tiny", help="tiny (default), all, all-N or train-N")
    p.add_argument("--seed", type=t(cliargs.parse_seed), default=0, help="transmission seeds seed + 1000 i + d")
    p.add_argument("--out", default="results/train/refine", help="output folder")
    p.add_argument("--no-plots", action="store_true", help="write the JSON only")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str]) -> int:
    """``semcom train refine-curve ...``."""
    from semcom import cliargs

    args = build_parser().parse_args(list(argv))
    cliargs.check_out_dir(args.out)
    res = refine_curve(args.checkpoint, args.snr, args.steps, args.lr, args.images, args.assumed_offset_db,
                       args.samples, args.draws, args.seed, progress=not args.no_progress)
    print(f"{'SNR':>5s} {'assumed':>7s} {'lr':>6s} {'steps':>6s} {'PSNR':>7s} {'gain':>6s} {'s/MP':>8s}")
    for r in res.data["rows"]:
        print(f"{r['snr_db']:5.1f} {r['assumed_snr_db']:7.1f} {r['lr']:6.3g} {r['steps']:6d} {r['psnr_db']:7.2f} "
              f"{r['gain_db']:+6.2f} {r['seconds_per_megapixel']:8.1f}")
    path = res.save(args.out)
    if not args.no_plots:
        plot_refine_curve(res, args.out)
    print(f"-> {path}")
    return 0
