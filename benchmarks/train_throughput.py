"""CPU training throughput (images/s) of the learned image models per precision, with the real trainer.

Run: ``.venv/bin/python benchmarks/train_throughput.py --out benchmarks/results`` (writes
``train_throughput.json``; about 10 minutes on a busy 2-core machine).

Each (model, precision) runs the trainer (:func:`semcom.experiments.train.run`) on the model's CPU
config (``configs/<model>.json``; each row records its crop size and batch) for ``--steps`` steps on one torch thread
(``--fp16-steps`` for fp16) and reports the trainer's own measurement
(``metadata["throughput"]["images_per_s"]``: training steps only, the first step excluded, all
processes together). ``--two-cores`` adds fp32 and bf16 runs on two cores: one process of two torch
threads, and two data-parallel processes of one thread (``--nproc 2``, gloo, the same global batch). The machine's load average is recorded before and after each
run: on a shared machine the numbers are lower bounds of what an idle core gives.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("deepjscc", "adjscc", "scc", "vlscc2d")
PRECISIONS = ("fp32", "bf16", "fp16")


def measure(model: str, precision: str, steps: int, threads: int = 1, nproc: int = 1) -> dict:
    """One run of the trainer: ``nproc`` data-parallel processes (gloo; the config's global batch
    split over them) of ``threads`` torch threads each."""
    from semcom.experiments.train import run
    from semcom.training import RunOptions, TrainConfig

    cfg = json.loads((ROOT / "configs" / f"{model}.json").read_text())
    cfg.update(steps=steps, max_minutes=60.0, log_every=steps, checkpoint_every=10 * steps, threads=threads,
               eval_size=64)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        meta = run(TrainConfig.from_dict(cfg), out_dir=d, progress=False, options=RunOptions(precision=precision),
                   nproc=nproc).data
    return {"model": model, "precision": precision, "threads": threads, "processes": nproc,
            "images_per_s": meta["throughput"]["images_per_s"],
            "steps_timed": meta["throughput"]["steps_timed"], "crop_size": cfg["crop_size"],
            "batch_size": cfg["batch_size"], "parameters": meta["parameters"],
            "load_avg_1min_before": round(load, 2), "load_avg_1min_after": round(os.getloadavg()[0], 2)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--fp16-steps", type=int, default=4, help="steps of the fp16 runs (emulated on most CPUs: slow)")
    p.add_argument("--models", nargs="*", default=list(MODELS))
    p.add_argument("--two-cores", action="store_true",
                   help="also fp32 and bf16 on two cores: one process of two threads, and two data-parallel processes")
    p.add_argument("--note", default="", help="what the machine was doing while measured (recorded)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    runs = [(prec, 1, 1) for prec in PRECISIONS]
    if args.two_cores:
        runs += [(prec, threads, nproc) for prec in ("fp32", "bf16") for threads, nproc in ((2, 1), (1, 2))]
    for m in args.models:
        for prec, threads, nproc in runs:
            r = measure(m, prec, args.fp16_steps if prec == "fp16" else args.steps, threads, nproc)
            print(f"{m:9s} {prec:5s} {nproc} x {threads} thread(s) {r['images_per_s']:7.2f} images/s "
                  f"(load {r['load_avg_1min_before']})", flush=True)
            rows.append(r)
    from semcom.experiments.results import git_commit

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    out = {"benchmark": "train_throughput", "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__,
           "python": sys.version.split()[0], "cpu": cpu, "cores": os.cpu_count(),
           "git_commit": git_commit(),
           "command": shlex.join(["python", "benchmarks/train_throughput.py", *(sys.argv[1:] if argv is None else argv)]),
           "note": args.note, "results": rows}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "train_throughput.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
