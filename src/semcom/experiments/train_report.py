"""``semcom train curves`` and ``semcom train snr-sweep``: report trained image checkpoints.

``curves`` reads the held-out training curve of each run (quality versus training minutes) and
plots them together, so that a reader sees what more compute would buy:

    semcom train curves runs/deepjscc_spp025 src/semcom/checkpoints/deepjscc_awgn5_spp0125.json --out results/train

An item is a checkpoint metadata JSON (``<name>.json``), its ``<name>.pt`` (the JSON beside it is
read), a committed checkpoint name (:func:`semcom.models.list_pretrained`) or a run folder: its
finished checkpoint's metadata when there is one, else the ``{"curve": ...}`` lines of its
``log.jsonl`` (a run still training). A checkpoint trained with ``eval_every_minutes`` carries its
curve (``curve`` in the metadata: ``{step, minutes, psnr_db, ms_ssim, spp}``, the last point being
the final metric); an older one only its final metric, drawn as one marker at its training minutes.
Every point is the metric the trainer records: the checkpoint's own evaluation set (``"tiny"``:
3 bundled photos, 256x256 centre crops) at its evaluation SNR (the training SNR, the middle of
the range for an SNR-adaptive model), which the legend states. Writes ``train_curves.json`` and
``train_curves_<metric>_vs_minutes.png``.

``snr-sweep`` evaluates several checkpoints at each SNR of a grid
(:func:`semcom.training.evaluate_snrs`: the real ``encode`` -> AWGN -> ``decode`` path, image
``i`` with seed ``seed + i``, the same for every model), e.g. one SNR-adaptive ADJSCC checkpoint
against single-SNR DeepJSCC models:

    semcom train snr-sweep --checkpoint adjscc_awgn_m2to20_spp0125 deepjscc_awgn5_spp0125 \\
        --snr -2 0 2 5 10 15 20 --images all --out results/train

``--images all`` (default) is every bundled test photo whole, centre-cropped to the largest
multiples of each model's input multiple (4 for DeepJSCC and ADJSCC); ``all-N`` their N x N
centre crops; ``tiny`` the 3 photos of the trainer's metric. Writes ``train_snr_sweep.json``
(per SNR and model: PSNR, MS-SSIM, SPP; per SNR-adaptive model its gap to each single-SNR model)
and ``train_snr_sweep_psnr_vs_snr.png`` (a star marks each single-SNR model's training SNR).

``gaps`` reads ``semcom compare`` results (``compare.json``) and puts every learned system beside
two references given by label (default ``heif_capacity`` and ``heif_ldpc_adapted``, the labels
of ``scripts/report_training.sh``): per SNR its PSNR gap to the capacity bound and its margin over
the 5G LDPC link, and whether the goals hold (gap at most 4.5 dB at 0 and 5 dB; margin at least
3 dB at every SNR below 0 dB). Writes ``train_gaps.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Sequence

from semcom.errors import InputError
from semcom.experiments.results import Results, provenance

#: the sub-commands of ``semcom train`` this module runs
VERBS = ("curves", "snr-sweep", "gaps")
#: one line per verb, for its --help
DESCRIPTIONS = {
    "curves": "plot held-out quality versus training minutes of runs and checkpoints (JSON + plot)",
    "snr-sweep": "evaluate checkpoints at each SNR of a grid on the test photos (JSON + plot)",
    "gaps": "the learned systems of semcom compare results against HEIF + capacity and HEIF + 5G LDPC (JSON)",
}
#: the goals of the CPU models (docs/training.md): at most this gap to HEIF + capacity at these SNRs ...
GOAL_CAPACITY_GAP_DB, GOAL_CAPACITY_SNRS = 4.5, (0.0, 5.0)
#: ... and at least this margin over HEIF + 5G LDPC with the adapted MCS below 0 dB
GOAL_LDPC_MARGIN_DB = 3.0
#: the metrics a curve may be plotted in
CURVE_METRICS = {"psnr_db": "PSNR [dB]", "ms_ssim": "MS-SSIM"}


# ------------------------------------------------------------------ curves: reading
def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from None


def _checkpoint_metadata(item: str) -> tuple[dict, str]:
    """The metadata dict of a checkpoint named by ``item`` (a ``.json``, a ``.pt`` or a committed
    name) and the file it came from."""
    path = Path(item)
    if path.suffix == ".pt":
        path = path.with_suffix(".json")
    elif path.suffix != ".json":
        from semcom.models import checkpoint_dir, list_pretrained

        if item not in list_pretrained():
            raise InputError(f"{item!r} is neither a checkpoint .json/.pt, a run folder nor a committed "
                             f"checkpoint ({', '.join(list_pretrained())})")
        path = checkpoint_dir() / f"{item}.json"
    if not path.is_file():
        raise InputError(f"no checkpoint metadata {path}")
    meta = _read_json(path)
    if not isinstance(meta, dict):
        raise InputError(f"{path} is not a checkpoint's metadata (a JSON object)")
    return meta, str(path)


def _point(p: Any, where: str) -> dict:
    """One curve point, checked: ``{step, minutes, psnr_db, ms_ssim, spp}`` with finite numbers."""
    keys = ("step", "minutes", "psnr_db", "ms_ssim", "spp")
    if not isinstance(p, dict) or any(not isinstance(p.get(k), (int, float)) or isinstance(p.get(k), bool)
                                      or not math.isfinite(p[k]) for k in keys):
        raise InputError(f"{where}: a curve point must hold finite numbers {', '.join(keys)}; got {str(p)[:200]}")
    return {k: float(p[k]) if k != "step" else int(p[k]) for k in keys}


def _spp_of(meta: dict, points: list[dict]) -> float | None:
    spp = (meta.get("metric") or {}).get("spp")
    return float(spp) if isinstance(spp, (int, float)) else (points[-1]["spp"] if points else None)


def curve_from_metadata(meta: dict, source: str) -> dict:
    """One model's entry of ``train_curves.json`` from its checkpoint metadata: the curve when the
    metadata has two points or more (``kind: "curve"``), else the final metric at the training
    minutes (``kind: "final"``)."""
    metric = meta.get("metric") or {}
    if not isinstance(metric.get("psnr_db"), (int, float)):
        raise InputError(f"{source}: no PSNR in the metadata's metric (curves are for the image models)")
    curve = meta.get("curve")
    if isinstance(curve, list) and len(curve) >= 2:
        points, kind = [_point(p, source) for p in curve], "curve"
    else:
        minutes = meta.get("train_minutes")
        if not isinstance(minutes, (int, float)):
            raise InputError(f"{source}: the metadata records no train_minutes")
        points = [_point({"step": meta.get("steps", 0), "minutes": minutes, **metric}, source)]
        kind = "final"
    ev = meta.get("eval") or {}
    return {"label": str(meta.get("name") or Path(source).stem), "model": meta.get("model"), "source": Path(source).name,
            "kind": kind, "running": False, "spp": _spp_of(meta, points), "eval_snr_db": ev.get("snr_db"),
            "eval_images": ev.get("images"), "eval_size": ev.get("size"), "steps": meta.get("steps"),
            "train_minutes": meta.get("train_minutes"), "points": points}


def merge_logged_points(records: list[dict], where: str) -> list[dict]:
    """The curve of a ``log.jsonl``: its ``{"curve": point}`` records in file order. A resumed run
    appends to the same file; when it resumed from a state older than points already logged, its
    new points supersede those at or after their step (the run's curve is what the last session
    trained)."""
    out: list[dict] = []
    for rec in records:
        if isinstance(rec, dict) and "curve" in rec:
            p = _point(rec["curve"], where)
            while out and out[-1]["step"] >= p["step"]:
                out.pop()
            out.append(p)
    return out


def curve_from_run(folder: Path) -> dict:
    """A run folder's entry: its finished checkpoint's metadata when there is exactly one
    (``<name>.json`` beside ``<name>.pt``), else the curve logged so far (``running: true``)."""
    finished = [p for p in sorted(folder.glob("*.json")) if p.name != "last.json" and p.with_suffix(".pt").is_file()]
    if len(finished) > 1:
        raise InputError(f"run folder {folder} holds several checkpoints ({', '.join(p.name for p in finished)}); name one")
    if finished:
        meta, source = _checkpoint_metadata(str(finished[0]))
        return curve_from_metadata(meta, source)
    log = folder / "log.jsonl"
    if not log.is_file():
        raise InputError(f"run folder {folder} has neither a finished checkpoint nor a log.jsonl")
    records = []
    for i, line in enumerate(log.read_text().splitlines()):
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                raise InputError(f"{log}, line {i + 1}: not JSON") from None
    points = merge_logged_points(records, str(log))
    if not points:
        raise InputError(f"{log} holds no curve point yet (the run logs one every eval_every_minutes)")
    state = folder / "last.json"
    model = _read_json(state).get("model") if state.is_file() else None
    return {"label": folder.name, "model": model, "source": f"{folder.name}/log.jsonl", "kind": "curve",
            "running": True, "spp": points[-1]["spp"], "eval_snr_db": None, "eval_images": None, "eval_size": None,
            "steps": points[-1]["step"], "train_minutes": points[-1]["minutes"], "points": points}


def read_curve(item: str) -> dict:
    """One model's curve from a metadata JSON, a ``.pt``, a committed checkpoint name or a run folder."""
    path = Path(item)
    if path.is_dir():
        return curve_from_run(path)
    meta, source = _checkpoint_metadata(item)
    return curve_from_metadata(meta, source)


def curves(items: Sequence[str], metric: str = "psnr_db") -> Results:
    """``train_curves``: the curves of ``items`` (see the module docstring), labels made unique."""
    if metric not in CURVE_METRICS:
        raise InputError(f"metric must be one of {sorted(CURVE_METRICS)}, got {metric!r}")
    if not items:
        raise InputError("give at least one checkpoint or run folder")
    entries = [read_curve(str(i)) for i in items]
    seen: dict[str, int] = {}
    for e in entries:
        n = seen[e["label"]] = seen.get(e["label"], 0) + 1
        if n > 1:
            e["label"] = f"{e['label']} ({e['source']})"
    data = {"metric": metric, "models": entries,
            "note": "each point is the checkpoint's recorded metric (its eval set at its eval SNR) after that many "
                    "training minutes (evaluation excluded); kind 'final': only the final metric is known"}
    return Results("train_curves", data, provenance({"items": [str(i) for i in items], "metric": metric}))


# ------------------------------------------------------------------ curves: plot
def _legend(e: dict) -> str:
    bits = [f"SPP {e['spp']:.3g}" if e.get("spp") is not None else None,
            f"eval {e['eval_snr_db']:g} dB" if isinstance(e.get("eval_snr_db"), (int, float)) else None,
            "running" if e.get("running") else None]
    return f"{e['label']} ({', '.join(b for b in bits if b)})"


def plot_curves(results: Results, out_dir: str | Path) -> Path:
    """One line per curve, one marker per final-only checkpoint: the metric versus training minutes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semcom.report.plots import _STYLES, save_figure

    data = results.data
    metric = data["metric"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    finals = "*Dph^v<>"
    for i, e in enumerate(data["models"]):
        xs, ys = [p["minutes"] for p in e["points"]], [p[metric] for p in e["points"]]
        if e["kind"] == "curve":
            ax.plot(xs, ys, _STYLES[i % len(_STYLES)], markersize=3, label=_legend(e))
        else:
            ax.plot(xs, ys, finals[i % len(finals)], markersize=9, linestyle="none", label=_legend(e) + ", final only")
    ax.set_xlabel("training minutes (evaluation excluded)")
    ax.set_ylabel(f"held-out {CURVE_METRICS[metric]}")
    ax.set_title("training curves: quality on the test crops versus training time")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, Path(out_dir) / f"train_curves_{metric}_vs_minutes.png")


# ------------------------------------------------------------------ SNR sweep
def load_model(item: str) -> tuple[str, Any, str]:
    """(label, model, source) from a committed checkpoint name, a ``.pt`` or its metadata ``.json``."""
    from semcom.models import list_pretrained, load_checkpoint, load_pretrained

    path = Path(item)
    if path.suffix in (".pt", ".json"):
        pt = path.with_suffix(".pt")
        if not pt.is_file():
            raise InputError(f"no checkpoint file {pt}")
        model, source = load_checkpoint(pt), pt.name
    elif item in list_pretrained():
        model, source = load_pretrained(item), item
    else:
        raise InputError(f"{item!r} is neither a .pt/.json checkpoint nor a committed checkpoint "
                         f"({', '.join(list_pretrained())})")
    if getattr(model, "input_kind", "image") != "image":
        raise InputError(f"{item}: the SNR sweep takes image models, not {getattr(model, 'name', '?')!r}")
    label = str((getattr(model, "metadata", None) or {}).get("name") or path.stem)
    return label, model, source


def image_set(text: str) -> tuple[str, int | None]:
    """``--images``: ``all`` (whole photos) -> ("all", None), ``all-N`` -> ("all", N), ``tiny`` -> ("tiny", 256)."""
    from semcom import cliargs

    s = str(text).strip()
    if s == "tiny":
        return "tiny", 256
    if s == "all":
        return "all", None
    if s.startswith("all-"):
        return "all", cliargs.parse_int(s[4:], what=f"image set {s!r}: crop size", lo=16, hi=4096)
    raise cliargs.UsageError(f"image set {s!r} must be 'all' (whole photos), 'all-N' (N x N crops) or 'tiny'")


def _images_note(images: str, size: int | None) -> str:
    if size is None:
        return "every bundled test photo, whole, centre-cropped to the largest multiples of the model's input multiple"
    if images == "tiny":
        return f"the 3 'tiny' bundled test photos, {size}x{size} centre crops (the trainer's metric set)"
    return f"every bundled test photo at least {size} pixels on both sides, {size}x{size} centre crops"


def _checksums(models: dict, images: str, size: int | None) -> dict:
    """SHA-256 of every evaluated image's pixels, per crop multiple (whole photos depend on the model)."""
    import warnings

    from semcom.data import checksums, test_images

    subset = "tiny" if images == "tiny" else None
    multiples = sorted({int(getattr(m, "input_multiple", 1)) for m in models.values()}) if size is None else [None]
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for mult in multiples:
            sums = checksums(test_images(subset=subset, size=size, multiple_of=mult))
            out.update(sums if mult is None else {f"{k}@x{mult}": v for k, v in sums.items()})
    return out


def _describe(label: str, model: Any, source: str) -> dict:
    meta = getattr(model, "metadata", None) or {}
    snr = model.config.snr_db
    adaptive = isinstance(snr, (list, tuple))
    return {"label": label, "checkpoint": source, "model": getattr(model, "name", None),
            "spp": (meta.get("metric") or {}).get("spp"), "train_snr_db": list(snr) if adaptive else float(snr),
            "snr_adaptive": adaptive, "snr_range_db": list(getattr(model.config, "snr_range_db", None) or []) or None,
            "steps": meta.get("steps"), "train_minutes": meta.get("train_minutes"),
            "sha256": meta.get("sha256")}


def gaps(rows: list[dict], described: list[dict]) -> list[dict]:
    """Per SNR, each SNR-adaptive model's PSNR minus each single-SNR model's (dB)."""
    adaptive = [d for d in described if d["snr_adaptive"]]
    single = [d for d in described if not d["snr_adaptive"]]
    return [{"snr_db": r["snr_db"], "adaptive": a["label"], "single_snr": s["label"],
             "psnr_gap_db": r[a["label"]]["psnr_db"] - r[s["label"]]["psnr_db"],
             "spp_adaptive": r[a["label"]]["spp"], "spp_single_snr": r[s["label"]]["spp"]}
            for r in rows for a in adaptive for s in single]


def snr_sweep(checkpoints: Sequence[str], snrs_db: Sequence[float], images: str = "all", seed: int = 0) -> Results:
    """``train_snr_sweep``: every checkpoint at every SNR (see the module docstring)."""
    from semcom.training import evaluate_snrs

    if not checkpoints:
        raise InputError("give at least one checkpoint")
    if not snrs_db:
        raise InputError("give at least one SNR")
    which, size = image_set(images)
    models, described = {}, []
    for item in checkpoints:
        label, model, source = load_model(str(item))
        if label in models:
            raise InputError(f"checkpoint {label!r} is given twice")
        models[label] = model.eval()
        described.append(_describe(label, model, source))
    t0, load0 = time.time(), os.getloadavg()[0]
    rows = evaluate_snrs(models, [float(s) for s in snrs_db], which, size, seed=seed)
    data = {"images": images, "images_note": _images_note(which, size), "snr_db": [float(s) for s in snrs_db],
            "models": described, "rows": rows, "gaps": gaps(rows, described),
            "wall_time_s": round(time.time() - t0, 1),
            "load_average": [round(load0, 2), round(os.getloadavg()[0], 2)],
            "note": "mean of per-image PSNR and MS-SSIM over the images; image i with seed seed+i for every model "
                    "and SNR; the load average (1 min) at the start and the end of the evaluation"}
    cfg = {"checkpoints": [str(c) for c in checkpoints], "snr_db": data["snr_db"], "images": images, "seed": seed}
    return Results("train_snr_sweep", data, provenance(cfg, seed, _checksums(models, which, size)))


def plot_snr_sweep(results: Results, out_dir: str | Path) -> Path:
    """PSNR versus SNR, one line per checkpoint; a star at each single-SNR model's training SNR."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semcom.report.plots import _STYLES, save_figure

    data = results.data
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, d in enumerate(data["models"]):
        xs = [r["snr_db"] for r in data["rows"]]
        ys = [r[d["label"]]["psnr_db"] for r in data["rows"]]
        trained = (f"trained {d['train_snr_db'][0]:g} to {d['train_snr_db'][1]:g} dB" if d["snr_adaptive"]
                   else f"trained at {d['train_snr_db']:g} dB")
        spp = f"SPP {d['spp']:.3g}, " if isinstance(d.get("spp"), (int, float)) else ""
        line, = ax.plot(xs, ys, _STYLES[i % len(_STYLES)], markersize=4, label=f"{d['label']} ({spp}{trained})")
        if not d["snr_adaptive"] and d["train_snr_db"] in xs:
            ax.plot([d["train_snr_db"]], [ys[xs.index(d["train_snr_db"])]], "*", markersize=12, color=line.get_color())
    ax.set_xlabel("SNR (Es/N0) [dB], AWGN")
    ax.set_ylabel("PSNR [dB]")
    shown = {"all": "the whole test photos", "tiny": "the 3 tiny test crops"}.get(
        data["images"], f"the test photos, {data['images'][4:]}x{data['images'][4:]} crops")
    ax.set_title(f"one SNR-adaptive checkpoint versus single-SNR models ({shown})", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, Path(out_dir) / "train_snr_sweep_psnr_vs_snr.png")


# ------------------------------------------------------------------ gaps to the references
def _psnr_by_snr(system: dict) -> dict[float, float]:
    return {float(p["snr_db"]): p["psnr"] for p in system["points"] if isinstance(p.get("psnr"), (int, float))}


def compare_gaps(paths: Sequence[str | Path], capacity: str = "heif_capacity", ldpc: str = "heif_ldpc_adapted") -> Results:
    """``train_gaps``: every learned system (``describe()["system"] == "learned"``) of each
    ``compare.json`` against the systems labelled ``capacity`` and ``ldpc`` of the same file."""
    rows, goals = [], []
    for path in paths:
        res = _read_json(Path(path))
        systems = res.get("data", {}).get("systems") if isinstance(res, dict) else None
        if not isinstance(systems, list):
            raise InputError(f"{path} is not a semcom compare result (no data.systems)")
        by = {s.get("name"): s for s in systems}
        for ref in (capacity, ldpc):
            if ref not in by:
                raise InputError(f"{path}: no system labelled {ref!r} (labels: {', '.join(map(str, by))})")
        cap, lin = _psnr_by_snr(by[capacity]), _psnr_by_snr(by[ldpc])
        for s in systems:
            if (s.get("describe") or {}).get("system") != "learned":
                continue
            own = _psnr_by_snr(s)
            mine = [{"file": str(path), "system": s["name"], "snr_db": snr, "psnr": v,
                     "capacity_psnr": cap.get(snr), "gap_to_capacity_db": None if snr not in cap else cap[snr] - v,
                     "ldpc_psnr": lin.get(snr), "margin_over_ldpc_db": None if snr not in lin else v - lin[snr]}
                    for snr, v in sorted(own.items())]
            rows += mine
            goals.append(_goals(s["name"], str(path), mine))
    if not goals:
        raise InputError("no learned system in the compare results")
    data = {"capacity": capacity, "ldpc": ldpc, "rows": rows, "goals": goals,
            "note": f"goals: gap to {capacity} <= {GOAL_CAPACITY_GAP_DB} dB at {list(GOAL_CAPACITY_SNRS)} dB; "
                    f"margin over {ldpc} >= {GOAL_LDPC_MARGIN_DB} dB at every SNR below 0 dB (None: not measured)"}
    return Results("train_gaps", data, provenance({"files": [str(p) for p in paths], "capacity": capacity, "ldpc": ldpc}))


def _goals(name: str, path: str, rows: list[dict]) -> dict:
    """Whether one system meets the goals (None when the compare has none of the SNRs a goal needs)."""
    cap = [r["gap_to_capacity_db"] for r in rows if r["snr_db"] in GOAL_CAPACITY_SNRS and r["gap_to_capacity_db"] is not None]
    low = [r["margin_over_ldpc_db"] for r in rows if r["snr_db"] < 0 and r["margin_over_ldpc_db"] is not None]
    return {"system": name, "file": path,
            "max_gap_to_capacity_db": max(cap) if cap else None,
            "capacity_goal_met": (max(cap) <= GOAL_CAPACITY_GAP_DB) if cap else None,
            "min_margin_over_ldpc_below_0_db": min(low) if low else None,
            "ldpc_goal_met": (min(low) >= GOAL_LDPC_MARGIN_DB) if low else None}


# ------------------------------------------------------------------ command line
def _snr_tokens(tokens: Sequence[Sequence[float]]) -> list[float]:
    """``--snr -2 0 2`` and ``--snr -2:20:2`` (or both) as one strictly increasing list."""
    from semcom import cliargs

    flat = [v for group in tokens for v in group]
    try:
        return cliargs.parse_snr_list(",".join(repr(v) for v in flat))
    except cliargs.UsageError as exc:
        raise cliargs.UsageError(f"snr-sweep: --snr {' '.join(f'{v:g}' for v in flat)}: {exc}") from None


def build_parser(verb: str) -> argparse.ArgumentParser:
    from semcom import cliargs

    t = cliargs.typed
    p = cliargs.ArgumentParser(prog=f"semcom train {verb}", description=DESCRIPTIONS[verb])
    if verb == "curves":
        p.add_argument("items", nargs="+", metavar="RUN_OR_CHECKPOINT",
                       help="checkpoint metadata .json, .pt, committed checkpoint name, or run folder")
        p.add_argument("--metric", default="psnr_db", choices=sorted(CURVE_METRICS), help="the plotted metric")
    elif verb == "gaps":
        p.add_argument("files", nargs="+", type=t(cliargs.parse_existing_file, what="compare result"),
                       metavar="COMPARE_JSON", help="compare.json files written by semcom compare")
        p.add_argument("--capacity", default="heif_capacity", help="label of the capacity reference (default heif_capacity)")
        p.add_argument("--ldpc", default="heif_ldpc_adapted", help="label of the 5G LDPC reference (default heif_ldpc_adapted)")
    else:
        p.add_argument("--checkpoint", nargs="+", action="extend", required=True, metavar="NAME_OR_FILE",
                       help="committed checkpoint names or .pt files (repeatable)")
        p.add_argument("--snr", nargs="+", action="extend", required=True, type=t(cliargs.parse_snr_list),
                       help="SNRs in dB: -2 0 2 5, or a range -2:20:2 (increasing)")
        p.add_argument("--images", default="all", type=t(image_set),
                       help="all (whole photos, default), all-N (N x N centre crops) or tiny")
        p.add_argument("--seed", type=t(cliargs.parse_seed), default=0, help="image i uses seed SEED + i")
    p.add_argument("--out", default="results/train", help="output folder (default results/train)")
    if verb != "gaps":
        p.add_argument("--no-plots", action="store_true", help="write the JSON only")
    return p


def main(argv: Sequence[str]) -> int:
    """``semcom train curves ...`` / ``semcom train snr-sweep ...`` (``argv[0]`` is the verb)."""
    from semcom import cliargs

    if not argv or argv[0] not in VERBS:
        raise cliargs.UsageError(f"give a report: {', '.join(VERBS)} (e.g. 'semcom train curves --help')")
    verb, rest = argv[0], list(argv[1:])
    args = build_parser(verb).parse_args(rest)
    cliargs.check_out_dir(args.out)
    if verb == "gaps":
        res = compare_gaps(args.files, args.capacity, args.ldpc)
        _print_gaps(res)
        print(f"-> {res.save(args.out)}")
        return 0
    if verb == "curves":
        res = curves(args.items, args.metric)
        for e in res.data["models"]:
            last = e["points"][-1]
            print(f"{e['label']:40s} {e['kind']:5s} {len(e['points']):3d} points; last: {last['minutes']:7.2f} min, "
                  f"step {last['step']}, {last[args.metric]:.4g}")
    else:
        which, size = args.images
        images = which if which == "tiny" else ("all" if size is None else f"all-{size}")
        res = snr_sweep(args.checkpoint, _snr_tokens(args.snr), images, args.seed)
        labels = [d["label"] for d in res.data["models"]]
        print(f"{'SNR':>5s} " + " ".join(f"{lab[:28]:>28s}" for lab in labels) + "   (PSNR dB)")
        for r in res.data["rows"]:
            print(f"{r['snr_db']:5.1f} " + " ".join(f"{r[lab]['psnr_db']:28.2f}" for lab in labels))
    path = res.save(args.out)
    if not args.no_plots:
        (plot_curves if verb == "curves" else plot_snr_sweep)(res, args.out)
    print(f"-> {path}")
    return 0


def _print_gaps(res: Results) -> None:
    d = res.data
    print(f"{'system':28s} {'SNR':>5s} {'PSNR':>7s} {'gap to ' + d['capacity']:>24s} {'margin over ' + d['ldpc']:>30s}")
    for r in d["rows"]:
        def f(v):
            return "-" if v is None else f"{v:.2f}"

        print(f"{r['system'][:28]:28s} {r['snr_db']:5.1f} {r['psnr']:7.2f} {f(r['gap_to_capacity_db']):>24s} "
              f"{f(r['margin_over_ldpc_db']):>30s}")
    for g in d["goals"]:
        print(f"{g['system']}: max gap to capacity at 0/5 dB {g['max_gap_to_capacity_db']} (goal met: "
              f"{g['capacity_goal_met']}); min margin over LDPC below 0 dB {g['min_margin_over_ldpc_below_0_db']} "
              f"(goal met: {g['ldpc_goal_met']})")


if __name__ == "__main__":  # pragma: no cover
    import sys

    from semcom.cliargs import guarded

    raise SystemExit(guarded(main, sys.argv[1:]))
