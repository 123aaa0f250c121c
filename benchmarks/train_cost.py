"""Training cost of the paper-scale configs: measured FLOPs and parameters, expected time per epoch on one GPU.

Run: ``.venv/bin/python benchmarks/train_cost.py --out benchmarks/results`` (writes ``train_cost.json``).

For each config (``configs/gpu/*.json``, and the CPU configs for comparison) the model is built
at its config and one training step (forward, loss, backward) on a batch of crops of the
config's ``crop_size`` is run under ``torch.utils.flop_counter.FlopCounterMode``, which counts
the FLOPs of the convolutions and matrix products (2 per multiply-add; element-wise operations,
GDN's square roots, the channel and the optimiser are not counted, they are memory-bound and
small in FLOPs). The result is per training image.

Expected time per epoch on one GPU:

    t_epoch = images_per_epoch * train_flops_per_image / (peak_flops * utilisation)

with stated assumptions (``ASSUMED_GPU``): an NVIDIA A100 (SXM) at its dense peak of 312 TFLOP/s
in bf16/fp16 and 19.5 TFLOP/s in fp32 without TF32, at 30 % utilisation (small convolutional
networks rarely exceed it: the element-wise layers and the data loading bound them). An epoch is
``images_per_epoch`` crops, one per training image of a reference set (MS-COCO 2014 train, 82,783
images, as the VL-SCC paper; scale linearly for another set: DIV2K 800, ImageNet 1,281,167). These
are estimates derived from measured FLOPs, not timings on a GPU (none was available). For the
small models (about 1 GFLOP per image) they are a lower bound: at that size a GPU step is bound
by kernel launches and by decoding and cropping the training images (``--workers``), not by FLOPs.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
ASSUMED_GPU = {"name": "NVIDIA A100 SXM (assumed, not measured)", "peak_tflops_bf16": 312.0,
               "peak_tflops_fp32": 19.5, "utilisation": 0.30}
IMAGES_PER_EPOCH = 82783  # MS-COCO 2014 train


def step_flops(cfg_dict: dict, batch: int = 2) -> tuple[float, float, int]:
    """(forward FLOPs per image, training-step FLOPs per image, parameter count) of a config."""
    from torch.utils.flop_counter import FlopCounterMode

    from semcom.models import build_model
    from semcom.training import TrainConfig, jscc_loss

    cfg = TrainConfig.from_dict(cfg_dict)
    model = build_model(cfg.model, cfg.model_config)
    x = torch.rand(batch, 3, cfg.crop_size, cfg.crop_size, generator=torch.Generator().manual_seed(0))
    fwd, total = FlopCounterMode(display=False), FlopCounterMode(display=False)
    with total:
        with fwd:
            out = model(x, generator=torch.Generator().manual_seed(1))
            loss, _ = jscc_loss(out, x, cfg.loss, 1e-3)
        loss.backward()
    return fwd.get_total_flops() / batch, total.get_total_flops() / batch, model.num_parameters()


def cost(path: Path) -> dict:
    cfg = json.loads(path.read_text())
    fwd, flops, params = step_flops(cfg)
    g = ASSUMED_GPU
    per_epoch = IMAGES_PER_EPOCH * flops
    t_bf16 = per_epoch / (g["peak_tflops_bf16"] * 1e12 * g["utilisation"])
    t_fp32 = per_epoch / (g["peak_tflops_fp32"] * 1e12 * g["utilisation"])
    steps_per_epoch = IMAGES_PER_EPOCH / cfg["batch_size"]
    return {"config": path.relative_to(ROOT).as_posix(), "model": cfg["model"], "crop_size": cfg["crop_size"],
            "batch_size": cfg["batch_size"], "parameters": params,
            "train_gflops_per_image": round(flops / 1e9, 4),
            "forward_gflops_per_image": round(fwd / 1e9, 4),
            "epoch_minutes_bf16": round(t_bf16 / 60, 3), "epoch_minutes_fp32": round(t_fp32 / 60, 3),
            "steps_per_epoch": round(steps_per_epoch),
            "config_steps_in_epochs": round(cfg["steps"] / steps_per_epoch, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    paths = sorted((ROOT / "configs" / "gpu").glob("*.json")) + \
        [ROOT / "configs" / f"{n}.json" for n in ("deepjscc", "scc", "vlscc2d", "adjscc")]
    rows = [cost(p) for p in paths]
    for r in rows:
        print(f"{r['config']:34s} {r['parameters']:>10,d} params {r['train_gflops_per_image']:9.3f} GFLOP/img "
              f"epoch {r['epoch_minutes_bf16']:7.3f} min bf16 {r['epoch_minutes_fp32']:8.3f} min fp32")
    from semcom.experiments.results import git_commit

    out = {"benchmark": "train_cost", "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__,
           "python": sys.version.split()[0], "machine": platform.machine(), "git_commit": git_commit(),
           "command": "python benchmarks/train_cost.py --out benchmarks/results",
           "method": "torch.utils.flop_counter.FlopCounterMode over one forward + loss + backward on a batch of "
                     "crop_size crops (convolutions and matmuls, 2 FLOPs per multiply-add); forward_gflops_per_image "
                     "counts the forward pass and loss alone",
           "assumed_gpu": ASSUMED_GPU, "images_per_epoch": IMAGES_PER_EPOCH,
           "epoch": "one crop per image of MS-COCO 2014 train (82,783); scale linearly for another set",
           "results": rows}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "train_cost.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
