"""A checkpoint's recorded metric, re-measured the way its run measured it, and float16 storage of its
weights where that metric holds.

    python -m semcom.experiments.checkpoint_metric check deepjscc_awgn5_spp0125
    python -m semcom.experiments.checkpoint_metric half deepjscc_awgn5_spp0125 scc1d_landmarks_n16
    python -m semcom.experiments.checkpoint_metric half runs/adjscc/adjscc.pt        # any checkpoint file

A name is a committed checkpoint (``semcom/checkpoints/<name>.pt``); a path ending in ``.pt`` is a
file with its metadata JSON beside it. The checkpoint tests (``tests/models/test_jscc_checkpoints.py``,
``test_seb.py``, ``test_concealer.py``) call the same :func:`measure` and :func:`compare`.

What :func:`measure` runs, by the metadata's ``model``:

* a registered JSCC model of images (``deepjscc``, ``scc``, ``vlscc2d``, ``adjscc``, ``sesc``, a
  plugin's): :func:`semcom.training.evaluate` on ``metadata["eval"]`` (test photos, crop size, SNR,
  seed) -> ``psnr_db``, ``ms_ssim``, ``spp``;
* a JSCC model of vectors (``vlscc1d``, ``scc1d``): :func:`semcom.training.loop.evaluate_vectors` on
  the landmark vectors of its config, at the recorded SNR, seed and channel -> ``landmark_error_px``,
  ``landmark_error_norm``, ``channel_uses``;
* ``seb_autoencoder``: PSNR of the patch autoencoder on its held-out crops -> ``val_psnr_db``;
* ``prt_concealer``: mean landmark error of the concealers on the held-out face clip at each drop
  rate (needs MediaPipe) -> ``{rate: {concealer: {ald_px, ald_missing_px, missing_share}}}``.

The test data must be the recorded one (its checksums are compared), else :class:`CheckpointError`.
:data:`TOLERANCES` are the checkpoint tests' tolerances (float arithmetic differs slightly across
CPUs; the channel noise is seeded).

:func:`half` stores a float32 checkpoint's weights in float16 (:func:`semcom.models.checkpoint_io.half_state`;
the loaders cast back to float32) only when the float16 file still reaches the recorded metric
within :data:`TOLERANCES` and stays within them of the float32 file measured now. The recorded
``metric`` is kept (it is the training run's); ``post_training`` gets the float32 and float16
metrics, the tolerances, the previous SHA-256 and size and the command, ``weights_dtype`` the
storage, and ``sha256`` / ``file_bytes`` are those of the new file (:func:`write_metadata`). When
float16 does not hold, the file is kept and the attempt is recorded the same way. The check is the
checkpoint's own metric: committed results of an experiment that its tests reproduce exactly (the
prt concealer's ``results/prt/sweep.json``, to 1e-5) move too, so run those tests after a
conversion and re-run those results or keep the checkpoint in float32.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

import torch

from semcom.errors import CheckpointError, InputError
from semcom.models.checkpoint_io import (
    half_state, load_verified, package_checkpoint_dir, require, save_checkpoint, weights_dtype, write_metadata)

#: Absolute tolerance per metric key (the checkpoint tests').
TOLERANCES = {"psnr_db": 0.1, "ms_ssim": 0.005, "spp": 0.002, "channel_uses": 0.05, "val_psnr_db": 0.05,
              "ald_px": 0.05, "ald_missing_px": 0.1}
#: Relative tolerance per metric key.
RELATIVE_TOLERANCES = {"landmark_error_px": 0.01}
IMAGE_KEYS = ("psnr_db", "ms_ssim", "spp")
VECTOR_KEYS = ("landmark_error_px", "landmark_error_norm", "channel_uses")


def resolve(name_or_path: str | Path) -> Path:
    """A committed checkpoint's path by name, or a ``.pt`` path. Raises InputError when there is none."""
    s = str(name_or_path)
    path = Path(s) if s.endswith(".pt") else package_checkpoint_dir() / f"{s}.pt"
    if not path.is_file() or (not s.endswith(".pt") and ("/" in s or "\\" in s)):
        raise InputError(f"no checkpoint {s!r} (give a committed checkpoint's name or a path to a .pt file)")
    return path


def _require_same(what: str, got: Any, recorded: Any, path: Path) -> None:
    if got != recorded:
        raise CheckpointError(f"{path}: the {what} differ from those its metric was recorded on, so the "
                              "metric cannot be re-measured")


def _jscc(path: Path, meta: dict) -> dict:
    from semcom.models import load_checkpoint

    model = load_checkpoint(path)
    ev = meta["eval"]
    if model.input_kind == "vector":
        from semcom.data.landmark_vectors import load_landmark_vectors
        from semcom.training.loop import evaluate_vectors

        data = load_landmark_vectors(meta["config"]["data"], build_missing=False)
        got = evaluate_vectors(model, data, ev["snr_db"], seed=ev["seed"], channel=ev["channel"])
        keys = VECTOR_KEYS
    else:
        from semcom.training import evaluate

        got = evaluate(model, ev["images"], ev["size"], snr_db=ev["snr_db"], seed=ev["seed"])
        keys = IMAGE_KEYS
    _require_same("test data", got["checksums"], ev["checksums"], path)
    return {k: got[k] for k in keys}


def _seb(path: Path, meta: dict) -> dict:
    from semcom.data import TrainingCrops
    from semcom.experiments.seb_train import crop_patches, psnr_db
    from semcom.models.seb import load_seb_model

    model, m = load_seb_model(path)
    val = TrainingCrops(size=4 * model.patch, count=m["val_crops"], seed=m["val_seed"])
    x = crop_patches(torch.stack([val[i] for i in range(len(val))]), model.patch)
    with torch.no_grad():
        return {"val_psnr_db": psnr_db(model(x), x)}


def _concealer(path: Path, meta: dict) -> dict:
    from semcom.experiments.prt_concealer import evaluate_concealers, landmark_clips
    from semcom.models.concealer import load_concealer_net
    from semcom.semantics.keypoint import FCConcealer, HoldLastConcealer, KeypointExtractor, ZeroMotionConcealer

    net = load_concealer_net(path)
    ev = meta["eval"]
    lms = landmark_clips(ev["portrait"], [ev["seed"]], [1.0], ev["frames"], ev["size"], mirror=False)[0]
    return evaluate_concealers(
        {"fc": lambda e: FCConcealer(e, net), "hold_last": HoldLastConcealer, "zero_motion": ZeroMotionConcealer},
        lambda ref: KeypointExtractor(reference=ref), lms, ev["drop_rates"], ev["mask_seeds"], ev["size"],
    )["by_drop_rate"]


#: Measurement of the learned parts that are not JSCC models, by the metadata's ``model``.
OTHER_KINDS = {"seb_autoencoder": _seb, "prt_concealer": _concealer}


def measure(path: str | Path) -> dict:
    """Re-measure the metric recorded in the metadata of the checkpoint at ``path`` (a dict shaped
    like ``metadata["metric"]``), through its loader (SHA-256 checked, float16 weights cast back).

    Raises:
        InputError: no file. CheckpointError: no metadata, a model with no known measurement, or
            test data other than the recorded one.
    """
    from semcom.models import MODELS

    path = Path(path)
    _, meta = load_verified(path)
    model = meta.get("model")
    if model in OTHER_KINDS:
        return OTHER_KINDS[model](path, meta)
    if model in MODELS and isinstance(meta.get("eval"), dict):
        return _jscc(path, meta)
    raise CheckpointError(f"{path}: no known way to measure the metric of model {model!r} (known: the "
                          f"registered JSCC models with an 'eval' in their metadata, {sorted(OTHER_KINDS)})")


def compare(got: dict, recorded: dict, where: str = "") -> list[str]:
    """The metric keys (nested ones as ``a/b/key``) where ``got`` is outside :data:`TOLERANCES` /
    :data:`RELATIVE_TOLERANCES` of ``recorded``; keys without a tolerance are not compared, a key
    missing from ``got`` is a difference. Empty: the metric holds."""
    out = []
    for key, rec in recorded.items():
        name = f"{where}{key}"
        if isinstance(rec, dict):
            sub = got.get(key)
            out += compare(sub, rec, f"{name}/") if isinstance(sub, dict) else [name]
            continue
        tol = TOLERANCES.get(key)
        rel = RELATIVE_TOLERANCES.get(key)
        if tol is None and rel is None:
            continue
        value = got.get(key)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            out.append(name)
        elif abs(value - rec) > (tol if tol is not None else rel * abs(rec)):
            out.append(name)
    return out


def _tolerances(recorded: dict) -> dict:
    keys: set[str] = set()
    stack = [recorded]
    while stack:
        d = stack.pop()
        for k, v in d.items():
            stack.append(v) if isinstance(v, dict) else keys.add(k)
    out = {k: {"abs": TOLERANCES[k]} for k in sorted(keys) if k in TOLERANCES}
    out.update({k: {"rel": RELATIVE_TOLERANCES[k]} for k in sorted(keys) if k in RELATIVE_TOLERANCES})
    return out


def half(name_or_path: str | Path, command: str | None = None, commit: str | None = None) -> dict:
    """Store a checkpoint's weights in float16 where its recorded metric holds (module docstring).

    ``command`` and ``commit`` (default: this checkout's, :func:`semcom.experiments.results.git_commit`)
    are recorded in ``post_training``.

    Returns ``{"name", "weights_dtype", "kept_float16", "metric_float32", "metric_float16",
    "file_bytes_before", "file_bytes"}`` (``kept_float16`` is None when the weights were float16 already).

    Raises:
        InputError / CheckpointError: as :func:`measure`; a weight beyond float16's range.
    """
    from semcom.experiments.results import git_commit

    path = resolve(name_or_path)
    blob, meta = load_verified(path)
    require(blob, path, "checkpoint", state_dict=dict)
    if "metric" not in meta or not isinstance(meta["metric"], dict):
        raise CheckpointError(f"{path}: its metadata records no metric, so float16 cannot be checked")
    before_bytes = path.stat().st_size
    summary = {"name": path.stem, "file_bytes_before": before_bytes, "file_bytes": before_bytes}
    dtype = weights_dtype(blob["state_dict"])
    if dtype in ("float16", None):
        return {**summary, "weights_dtype": dtype, "kept_float16": None, "metric_float32": None, "metric_float16": None}
    m32 = measure(path)
    blob16 = {**blob, "state_dict": half_state(blob["state_dict"], str(path))}
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / path.name
        save_checkpoint(blob16, trial, meta)   # the float16 file, measured through the real loader
        m16 = measure(trial)
        keep = not compare(m16, meta["metric"]) and not compare(m16, m32)
        if keep:
            os.replace(trial, path)
    entry = {"changes": {"weights_dtype": "float16"} if keep else
             "none: float16 weights were measured and not kept (the metric moved beyond the tolerances)",
             "metric_float32": m32, "metric_float16": m16, "tolerances": _tolerances(meta["metric"]),
             "previous_sha256": meta.get("sha256"), "previous_file_bytes": before_bytes,
             "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             "git_commit": commit or git_commit(),
             "command": command or "python -m semcom.experiments.checkpoint_metric half " + shlex.quote(str(name_or_path))}
    meta = {**meta, "weights_dtype": "float16" if keep else dtype,
            "post_training": [*meta.get("post_training", []), entry]}
    written = write_metadata(path, meta)
    return {**summary, "weights_dtype": written["weights_dtype"], "kept_float16": keep, "metric_float32": m32,
            "metric_float16": m16, "file_bytes": written["file_bytes"]}


def main(argv: Sequence[str] | None = None) -> int:
    """``check NAME...`` prints each metric against the recorded one; ``half NAME...`` converts."""
    import json

    ap = argparse.ArgumentParser(prog="python -m semcom.experiments.checkpoint_metric",
                                 description=__doc__.strip().split("\n\n")[0])
    ap.add_argument("action", choices=["check", "half"])
    ap.add_argument("checkpoints", nargs="+", help="committed checkpoint names or .pt paths")
    a = ap.parse_args(argv)
    from semcom.experiments.results import git_commit

    torch.set_num_threads(1)
    commit = git_commit()  # before the first file changes the tree
    bad = 0
    for name in a.checkpoints:
        if a.action == "half":
            cmd = "python -m semcom.experiments.checkpoint_metric half " + shlex.quote(name)
            print(json.dumps(half(name, command=cmd, commit=commit), indent=1))
            continue
        path = resolve(name)
        _, meta = load_verified(path)
        got = measure(path)
        diff = compare(got, meta.get("metric", {}))
        bad += bool(diff)
        print(json.dumps({"name": path.stem, "metric": got, "recorded": meta.get("metric"),
                          "outside_tolerance": diff}, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":  # pragma: no cover
    from semcom.cliargs import guarded

    sys.exit(guarded(main))
