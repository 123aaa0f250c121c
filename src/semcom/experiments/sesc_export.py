"""Export a trained SE-SC run as a committed checkpoint: inference settings, fp16 weights, the task
metric, the entropy model and SHA-256s in the metadata.

    python -m semcom.experiments.sesc_export runs/sesc_rayleigh/sesc_rayleigh.pt --tile 128 --out src/semcom/checkpoints
    python -m semcom.experiments.sesc_export runs/sesc_cnn_rayleigh/sesc_cnn_rayleigh.pt --tile 0 --out src/semcom/checkpoints

Steps: (1) set the inference-only ``tile`` and store the weights in float16 when the recorded
image metric (PSNR on the "tiny" test photos, :func:`semcom.training.evaluate`) stays within
``fp16_tolerance_db`` of float32 (otherwise float32 is kept); (2) measure the task metric
(:func:`task_metric`: face-detection AP@0.5 and mAP on the face test scenes at 15 dB slow Rayleigh,
full features and ``mu = 0.2``); (3) fit the entropy model of the codec's patch embeddings on
training crops (:func:`semcom.semantics.sesc_weights.fit_entropy_model`); (4) write
``<name>.pt``, ``<name>.json`` (the run's metadata plus ``post_training``, ``task_metric``,
``sha256``, ``entropy_model``) and ``<name>_entropy.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import shlex
import sys
from pathlib import Path
from typing import Sequence

import torch

TASK_EVAL = {"n_composites": 8, "size": 256, "scene_seed": 0, "snr_db": 15.0, "seed": 0, "mu": 0.2}


def task_metric(model, cfg: dict = TASK_EVAL) -> dict:
    """AP@0.5 and mAP@0.5:0.95 of the face detector on reconstructions of the face test scenes at
    ``snr_db`` over slow Rayleigh fading: full features and the ``mu`` threshold with task weights."""
    from semcom.data.face_scenes import face_scenes
    from semcom.experiments.sesc_common import detector, send, weight_fn
    from semcom.metrics.detection import detection_qos
    from semcom.semantics.sesc import threshold_mask

    scenes = face_scenes(cfg["n_composites"], cfg["size"], cfg["scene_seed"])
    gts = [s.boxes for s in scenes]
    wf = weight_fn("task", model)
    out = {}
    for label, mu in (("full", None), (f"mu{cfg['mu']}", cfg["mu"])):
        dets, uses = [], []
        for i, s in enumerate(scenes):
            keep = None if mu is None else threshold_mask(wf(s.image, model.config.patch_size), mu)
            r = send(model, s.image, keep, cfg["snr_db"], cfg["seed"] + i)
            dets.append(r["detections"])
            uses.append(r["channel_uses"])
        q = detection_qos(dets, gts)
        out[label] = {"ap50": q["ap50"], "map": q["map"], "channel_uses": sum(uses) / len(uses)}
    out["clean"] = detection_qos([detector()(s.image) for s in scenes], gts)
    return out


def _psnr(model, ev: dict) -> dict:
    from semcom.training import evaluate

    m = evaluate(model, ev["images"], ev["size"], snr_db=ev["snr_db"], seed=ev["seed"])
    return {k: m[k] for k in ("psnr_db", "ms_ssim", "spp")}


def export(run_pt: str | Path, out_dir: str | Path, tile: int = 128, fp16_tolerance_db: float = 0.05,
           entropy_crops: int = 256, command: str | None = None) -> dict:
    from semcom.models import build_model
    from semcom.models.checkpoint_io import half_state
    from semcom.semantics.sesc_weights import fit_entropy_model

    run_pt, out = Path(run_pt), Path(out_dir)
    meta = json.loads(run_pt.with_suffix(".json").read_text())
    ck = torch.load(run_pt, map_location="cpu", weights_only=True)
    kind = ck.get("model", "sesc")  # "sesc" (masked transformer) or "sesc_cnn" (masked CNN; tile unused)
    cfg = dict(ck["config"], tile=int(tile))
    model = build_model(kind, cfg)
    model.load_state_dict(ck["state_dict"])
    model.eval()
    before = _psnr(model, meta["eval"])
    half = half_state(ck["state_dict"], str(run_pt))
    model16 = build_model(kind, cfg)
    model16.load_state_dict(half)
    model16.eval()
    after = _psnr(model16, meta["eval"])
    use16 = abs(after["psnr_db"] - before["psnr_db"]) <= fp16_tolerance_db
    final = model16 if use16 else model
    name = meta["name"]
    pt = out / f"{name}.pt"
    torch.save({"model": kind, "config": dataclasses.asdict(final.config),
                "state_dict": half if use16 else ck["state_dict"]}, pt)
    em = fit_entropy_model(final, n_crops=entropy_crops)
    ent = out / f"{name}_entropy.json"
    em.save(ent)
    meta.setdefault("post_training", []).append({
        "changes": {"tile": int(tile), "weights_dtype": "float16" if use16 else "float32"},
        "metric_before": meta["metric"], "metric_float32_tiled": before,
        "command": command or "python -m semcom.experiments.sesc_export " + " ".join(map(shlex.quote, sys.argv[1:]))})
    meta["config"]["model_config"]["tile"] = int(tile)
    meta["metric"] = after if use16 else before
    meta["task_metric"] = task_metric(final)
    meta["task_eval"] = dict(TASK_EVAL, weights="task", channel=final.config.channel,
                             scenes="semcom.data.face_scenes.face_scenes (portraits + composites)",
                             detector="mediapipe 0.10.21 face detection, full range")
    meta["entropy_model"] = {"file": ent.name, "sha256": hashlib.sha256(ent.read_bytes()).hexdigest(), **em.meta}
    meta["file_bytes"] = pt.stat().st_size
    meta["sha256"] = hashlib.sha256(pt.read_bytes()).hexdigest()
    pt.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m semcom.experiments.sesc_export", description=__doc__.strip().split("\n\n")[0])
    ap.add_argument("run_pt", help="the training run's <name>.pt (its <name>.json beside it)")
    ap.add_argument("--out", default="src/semcom/checkpoints")
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--entropy-crops", type=int, default=256)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    meta = export(a.run_pt, a.out, a.tile, entropy_crops=a.entropy_crops)
    print(json.dumps({k: meta[k] for k in ("metric", "task_metric", "sha256", "file_bytes")}, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
