"""``semcom train <model> --config configs/<model>.json``: train a learned JSCC model.

Image models (``deepjscc``, ``vlscc2d``, ``scc``) train on random crops of the training photos
(:class:`semcom.data.TrainingCrops`, never the test photos); the 1D coders (``vlscc1d``, ``scc1d``)
on the training split of the face-landmark vectors (:mod:`semcom.data.landmark_vectors`; the
test split is another portrait). Training shows a progress bar, writes ``last.pt`` every few steps (``--resume``
continues from it), then the checkpoint ``<name>.pt`` and its metadata ``<name>.json`` (config,
data, seed, the metric reached on the test photos, the command). ``--export DIR`` copies both
there (the committed checkpoints live in ``src/semcom/checkpoints``). The same config runs on a
GPU with ``--device cuda`` and a larger ``--crop-size``.

Scale (docs/training.md): ``--precision bf16|fp16`` (autocast), ``--compile``, ``--workers N``
(DataLoader), ``--nproc N`` or ``torchrun --nproc-per-node N -m semcom train ...``
(DistributedDataParallel; ``batch_size`` is the global batch), ``--train-images DIR`` /
``--test-images DIR`` (the user's image folders).

Reports (:mod:`semcom.experiments.train_report`): ``semcom train curves RUN_OR_CHECKPOINT ...``
plots held-out quality versus training minutes; ``semcom train snr-sweep --checkpoint ... --snr ...``
evaluates checkpoints over an SNR grid on the test photos; ``semcom train gaps COMPARE_JSON ...``
puts the learned systems of ``semcom compare`` results beside HEIF + capacity and HEIF + 5G LDPC;
``semcom train refine-curve --checkpoint ... --snr ...`` (:mod:`semcom.experiments.refine_curve`)
measures what the transmitter's refinement of a model's symbols buys per step.

Example:
    semcom train deepjscc --config configs/deepjscc.json --out runs/deepjscc
    semcom train vlscc2d --config configs/vlscc2d.json --device cuda --crop-size 256 --steps 200000
    semcom train vlscc1d --config configs/vlscc1d.json --export src/semcom/checkpoints
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
from pathlib import Path
from typing import Sequence

from semcom.errors import ConfigError
from semcom.experiments.common import load_config_file
from semcom.experiments.results import Results, provenance
from semcom.training import RunOptions, TrainConfig, train
from semcom.training.precision import PRECISIONS
from semcom.training.runtime import CHANNELS_LAST


def run(config: TrainConfig | dict, *, out_dir: str | Path | None = None, device: str = "cpu", resume: bool = False,
        progress: bool = True, command: str | None = None, export_dir: str | Path | None = None,
        options: RunOptions | dict | None = None, nproc: int = 1) -> Results | None:
    """Train one model from a config (dict or :class:`TrainConfig`); returns Results whose data is
    the checkpoint metadata (see :func:`semcom.training.train`).

    ``nproc > 1``: spawn that many data-parallel processes on this host
    (:func:`semcom.training.distributed.launch`) and return rank 0's metadata. Under torchrun
    every process calls this; ranks other than 0 return None.
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    out = Path(out_dir) if out_dir is not None else Path("runs") / (cfg.name or cfg.model)
    kwargs = dict(config=cfg, out_dir=out, device=device, resume=resume, progress=progress, command=command,
                  export_dir=export_dir, options=options)
    if nproc > 1:
        from semcom.training.distributed import DistContext, launch

        DistContext(world_size=nproc).local_batch(cfg.batch_size)  # refused before any process starts
        launch(nproc, train, kwargs)
        meta = json.loads((out / f"{cfg.name or cfg.model}.json").read_text())
    else:
        meta = train(**kwargs)
    if meta is None:
        return None
    return Results(f"train_{cfg.name or cfg.model}", meta, provenance(dataclasses.asdict(cfg), cfg.seed,
                                                                        meta["eval"]["checksums"]))


def build_parser() -> argparse.ArgumentParser:
    from semcom import cliargs

    t = cliargs.typed
    p = cliargs.ArgumentParser(prog="semcom train", description=__doc__.strip().split("\n\n")[0],
                               epilog="reports: semcom train curves RUN_OR_CHECKPOINT ... --out DIR; "
                                      "semcom train snr-sweep --checkpoint NAME_OR_FILE ... --snr -2 0 5 ... --out DIR; "
                                      "semcom train gaps COMPARE_JSON ... --out DIR (each with --help)")
    p.add_argument("model", help="registry name: deepjscc, adjscc, vlscc2d, scc, vlscc1d, scc1d, or a model a --plugin "
                                 "registers; or a report: curves, snr-sweep, gaps")
    p.add_argument("--config", default=None, help="JSON training config (configs/<model>.json)")
    p.add_argument("--out", default=None, help="run folder (default runs/<name>)")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1 ...")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt when it exists")
    p.add_argument("--export", default=None, help="also copy <name>.pt/.json to this folder")
    p.add_argument("--steps", type=t(cliargs.parse_int, what="steps", lo=1, hi=10**9), default=None,
                   help="override the step budget")
    p.add_argument("--max-minutes", type=t(cliargs.parse_float, what="max minutes", lo=0.0, hi=10**6, lo_open=True),
                   default=None, help="override the wall-time budget")
    p.add_argument("--crop-size", type=t(cliargs.parse_int, what="crop size", lo=8, hi=4096), default=None,
                   help="override the training crop size (pixels)")
    p.add_argument("--batch-size", type=t(cliargs.parse_int, what="batch size", lo=1, hi=65536), default=None,
                   help="override the batch size")
    p.add_argument("--seed", type=t(cliargs.parse_seed), default=None, help="override the seed")
    p.add_argument("--threads", type=t(cliargs.parse_int, what="threads", lo=0, hi=1024), default=None,
                   help="torch CPU threads (0: torch's default)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--plugin", action="append", default=[], help="module or .py file registering the model (repeatable)")
    p.add_argument("--lr", type=t(cliargs.parse_float, what="learning rate", lo=0.0, hi=10.0, lo_open=True), default=None, help="override the learning rate (it belongs to the global batch)")
    p.add_argument("--precision", default="fp32", choices=PRECISIONS,
                   help="fp32, or bf16/fp16 mixed precision (torch.autocast; fp16 with a grad scaler)")
    p.add_argument("--compile", nargs="?", const="inductor", default=None, metavar="BACKEND",
                   help="torch.compile the model (backend: inductor unless given)")
    p.add_argument("--workers", type=t(cliargs.parse_workers), default=0, help="DataLoader worker processes per rank for the crops")
    p.add_argument("--channels-last", default="auto", choices=CHANNELS_LAST,
                   help="channels-last memory format (auto: on CUDA with bf16/fp16)")
    p.add_argument("--nproc", type=t(cliargs.parse_int, what="--nproc", lo=1, hi=cliargs.MAX_WORKERS), default=1,
                   help="data-parallel processes on this host (a torchrun shortcut: gloo on CPU, NCCL on CUDA)")
    p.add_argument("--train-images", type=t(cliargs.parse_image_folder), default=None, metavar="DIR",
                   help="train on random crops of the images under DIR (recursive, any size and format)")
    p.add_argument("--test-images", type=t(cliargs.parse_image_folder), default=None, metavar="DIR",
                   help="record the metric on the images under DIR (centre crops of eval_size)")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="decoded-image cache for --train-images (decode each image once, memory-map the crops)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``semcom train MODEL ...``; ``semcom train curves|snr-sweep ...`` run the reports
    (:mod:`semcom.experiments.train_report`), chosen by the first word."""
    import sys

    from semcom import cliargs
    from semcom.experiments import train_report

    words = list(argv) if argv is not None else sys.argv[1:]
    if words and words[0] in train_report.VERBS:
        return train_report.main(words)
    if words and words[0] == "refine-curve":
        from semcom.experiments import refine_curve

        return refine_curve.main(words[1:])
    args = build_parser().parse_args(words)
    from semcom.systems.plugins import load_plugin

    for plugin in args.plugin:
        load_plugin(plugin)
    cfg = load_config_file(args.config)
    if "model" in cfg and cfg["model"] != args.model:
        raise ConfigError(f"config {args.config} is for model {cfg['model']!r}, not {args.model!r}")
    cfg["model"] = args.model
    for key, val in (("steps", args.steps), ("max_minutes", args.max_minutes), ("crop_size", args.crop_size),
                     ("batch_size", args.batch_size), ("seed", args.seed), ("threads", args.threads),
                     ("lr", args.lr), ("train_images", args.train_images), ("eval_images", args.test_images)):
        if val is not None:
            cfg[key] = val
    tcfg = TrainConfig.from_dict(cfg)  # a bad config fails here, before the run folder is made
    from semcom.models import MODELS

    if tcfg.model not in MODELS:
        raise ConfigError(f"unknown model {tcfg.model!r}; known: {sorted(MODELS)}")
    cliargs.check_applies("--crop-size", args.crop_size is not None, MODELS[tcfg.model].input_kind != "vector",
                          f"{tcfg.model} trains on vectors, not image crops")
    cliargs.check_device(args.device)
    cliargs.check_out_dir(args.out or Path("runs") / (tcfg.name or tcfg.model))
    if args.export is not None:
        cliargs.check_out_dir(args.export, what="--export")
    if args.cache_dir is not None:
        cliargs.check_applies("--cache-dir", True, args.train_images is not None, "it caches the images of --train-images")
        cliargs.check_out_dir(args.cache_dir, what="--cache-dir")
    command = "semcom train " + " ".join(shlex.quote(a) for a in words)
    opts = RunOptions(precision=args.precision, compile=args.compile, workers=args.workers,
                      channels_last=args.channels_last, cache_dir=args.cache_dir)
    res = run(cfg, out_dir=args.out, device=args.device, resume=args.resume, progress=not args.no_progress,
              command=command, export_dir=args.export, options=opts, nproc=args.nproc)
    if res is None:  # a rank other than 0 under torchrun: rank 0 reports
        return 0
    m = res.data["metric"]
    if "psnr_db" in m:
        got = f"test PSNR {m['psnr_db']:.2f} dB, MS-SSIM {m['ms_ssim']:.4f}, SPP {m['spp']:.4f}"
    else:
        got = f"test landmark error {m['landmark_error_px']:.3f} px, {m['channel_uses']:.2f} channel uses per vector"
    rate = (res.data.get("throughput") or {}).get("images_per_s")
    got += f"; {rate:.1f} images/s" if rate else ""
    print(f"{res.data['name']}: {res.data['steps']} steps in {res.data['train_minutes']} min; {got} "
          f"-> {Path(args.out or Path('runs') / res.data['name']) / (res.data['name'] + '.pt')}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from semcom.cliargs import guarded

    raise SystemExit(guarded(main))
