"""``semcom train <model> --config configs/<model>.json``: train a learned JSCC model.

Image models (``deepjscc``, ``vlscc2d``, ``scc``) train on random crops of the training photos
(:class:`semcom.data.TrainingCrops`, never the test photos); the 1D coders (``vlscc1d``, ``scc1d``)
on the training split of the face-landmark vectors (:mod:`semcom.data.landmark_vectors`; the
test split is another portrait). Training shows a progress bar, writes ``last.pt`` every few steps (``--resume``
continues from it), then the checkpoint ``<name>.pt`` and its metadata ``<name>.json`` (config,
data, seed, the metric reached on the test photos, the command). ``--export DIR`` copies both
there (the committed checkpoints live in ``src/semcom/checkpoints``). The same config runs on a
GPU with ``--device cuda`` and a larger ``--crop-size``.

Example:
    semcom train deepjscc --config configs/deepjscc.json --out runs/deepjscc
    semcom train vlscc2d --config configs/vlscc2d.json --device cuda --crop-size 256 --steps 200000
    semcom train vlscc1d --config configs/vlscc1d.json --export src/semcom/checkpoints
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
from pathlib import Path
from typing import Sequence

from semcom.errors import ConfigError
from semcom.experiments.common import load_config_file
from semcom.experiments.results import Results, provenance
from semcom.training import TrainConfig, train


def run(config: TrainConfig | dict, *, out_dir: str | Path | None = None, device: str = "cpu", resume: bool = False,
        progress: bool = True, command: str | None = None, export_dir: str | Path | None = None) -> Results:
    """Train one model from a config (dict or :class:`TrainConfig`); returns Results whose data is
    the checkpoint metadata (see :func:`semcom.training.train`)."""
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    out = Path(out_dir) if out_dir is not None else Path("runs") / (cfg.name or cfg.model)
    meta = train(cfg, out, device=device, resume=resume, progress=progress, command=command, export_dir=export_dir)
    return Results(f"train_{cfg.name or cfg.model}", meta, provenance(dataclasses.asdict(cfg), cfg.seed,
                                                                        meta["eval"]["checksums"]))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="semcom train", description=__doc__.strip().split("\n\n")[0])
    p.add_argument("model", help="registry name: deepjscc, vlscc2d, scc, vlscc1d, scc1d, or a model a --plugin registers")
    p.add_argument("--config", default=None, help="JSON training config (configs/<model>.json)")
    p.add_argument("--out", default=None, help="run folder (default runs/<name>)")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1 ...")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    p.add_argument("--export", default=None, help="also copy <name>.pt/.json to this folder")
    p.add_argument("--steps", type=int, default=None, help="override the step budget")
    p.add_argument("--max-minutes", type=float, default=None, help="override the wall-time budget")
    p.add_argument("--crop-size", type=int, default=None, help="override the training crop size")
    p.add_argument("--batch-size", type=int, default=None, help="override the batch size")
    p.add_argument("--seed", type=int, default=None, help="override the seed")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--plugin", action="append", default=[], help="module or .py file registering the model (repeatable)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from semcom.systems.plugins import load_plugin

    for plugin in args.plugin:
        load_plugin(plugin)
    cfg = load_config_file(args.config)
    if "model" in cfg and cfg["model"] != args.model:
        raise ConfigError(f"config {args.config} is for model {cfg['model']!r}, not {args.model!r}")
    cfg["model"] = args.model
    for key, val in (("steps", args.steps), ("max_minutes", args.max_minutes), ("crop_size", args.crop_size),
                     ("batch_size", args.batch_size), ("seed", args.seed), ("threads", args.threads)):
        if val is not None:
            cfg[key] = val
    import sys

    words = list(argv) if argv is not None else sys.argv[1:]
    command = "semcom train " + " ".join(shlex.quote(a) for a in words)
    res = run(cfg, out_dir=args.out, device=args.device, resume=args.resume, progress=not args.no_progress,
              command=command, export_dir=args.export)
    m = res.data["metric"]
    if "psnr_db" in m:
        got = f"test PSNR {m['psnr_db']:.2f} dB, MS-SSIM {m['ms_ssim']:.4f}, SPP {m['spp']:.4f}"
    else:
        got = f"test landmark error {m['landmark_error_px']:.3f} px, {m['channel_uses']:.2f} channel uses per vector"
    print(f"{res.data['name']}: {res.data['steps']} steps in {res.data['train_minutes']} min; {got} "
          f"-> {Path(args.out or Path('runs') / res.data['name']) / (res.data['name'] + '.pt')}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.exit(main())
