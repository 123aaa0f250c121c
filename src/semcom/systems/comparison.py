"""The compare core: any set of systems on the same images, SNR grid, channel and channel-use budget.

    compare(["deepjscc", "seb", "separation:codec=heif,link=adaptive"], "tiny", [0, 5, 10],
            channel="awgn", budget="match:deepjscc")  ->  CompareResult

Budget (``budget``):

* ``None``: every system at its own budget (a separation system at its default CBR).
* a number: the CBR every system is built at (``cbr=`` of its factory); fixed-rate systems (the
  learned models) stay at their own and their points say what they spent.
* ``"match:NAME"``: the equal-budget search. ``NAME`` (a label or spec among ``systems``) is the
  reference; per image, its channel uses (:func:`reference_channel_uses`) become the CBR of every
  other system (:func:`cbr_for_channel_uses`), so a separation system is granted exactly that many
  channel uses. Every point records the channel uses it actually spent.

Images: ``"tiny"`` / ``"all"`` / ``"all-256"`` / a folder (:func:`semcom.experiments.common.load_image_set`),
or a list of ``[1,3,H,W]`` tensors (or ``(name, tensor)`` pairs). A system that needs H and W to be
multiples of ``m`` (its ``size_multiple``) refuses other sizes unless ``crop`` is given: every image is
then centre-cropped to multiples of ``crop`` (the same data for every system; recorded in the result).

Seeds. Point ``(image, SNR, seed index)`` draws from ``point_seed(base seed, image, SNR, index)``, the
same for every system (common random numbers: differences between systems are paired), and each task
carries its own seed, so the serial run, the process pool and Dask give identical results.

Metrics: PSNR is the mean of per-image PSNR (``psnr_sem`` its standard error); MS-SSIM likewise (``None``
for vector sources). A ``failed`` / ``no_fit`` point is scored with the system's fallback reconstruction.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import time
import zlib
from typing import Any, Sequence

import numpy as np
import torch

from semcom.errors import ConfigError, InputError, SemcomError
from semcom.systems.base import SystemSpec, build_system, parse_spec
from semcom.systems.channels import ChannelSpec
from semcom.systems.outcome import Outcome, source_size

__all__ = ["compare", "CompareConfig", "CompareResult", "point_seed", "cbr_for_channel_uses",
           "reference_channel_uses", "parse_budget", "centre_crop", "load_plugins"]

NAME = "compare"


@dataclasses.dataclass
class CompareConfig:
    """Everything a comparison depends on (stored in full in the result's provenance).

    systems: system specs (``name:key=val,...``, ``module:qualname``). images: an image-set name or folder.
    snr_db: the SNR grid (Es/N0 per complex symbol, dB). channel: ``awgn``, ``rayleigh_block``,
    ``rayleigh_fast`` (``:csi=...``). budget: ``None``, a CBR, or ``"match:NAME"``. seeds: transmissions
    per image and SNR. seed: base seed. crop: centre-crop multiple (``None``: no crop). plugins:
    modules imported first (in every worker too). strip_snr_db: SNR of the reconstruction strip
    (default: the middle of the grid).
    """

    systems: list = dataclasses.field(default_factory=list)
    images: str = "tiny"
    snr_db: list = dataclasses.field(default_factory=lambda: [0.0, 5.0, 10.0])
    channel: str = "awgn"
    budget: Any = None
    seeds: int = 1
    seed: int = 0
    crop: int | None = None
    plugins: list = dataclasses.field(default_factory=list)
    strip_snr_db: float | None = None

    def __post_init__(self) -> None:
        if not self.systems:
            raise ConfigError("compare needs at least one system")
        if not self.snr_db:
            raise ConfigError("compare needs at least one SNR")
        for s in self.snr_db:
            if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(float(s)):
                raise ConfigError(f"snr_db values must be finite numbers, got {s!r}")
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise ConfigError(f"seeds must be a positive int, got {self.seeds!r}")
        if self.crop is not None and (isinstance(self.crop, bool) or not isinstance(self.crop, int) or self.crop < 1):
            raise ConfigError(f"crop must be a positive int, got {self.crop!r}")
        parse_budget(self.budget)
        ChannelSpec.parse(self.channel)


# ------------------------------------------------------------------ helpers (public)
def point_seed(base: int, image: str, snr_db: float, index: int) -> int:
    """The seed of one point, the same for every system (Python's ``hash`` varies between processes)."""
    return zlib.crc32(f"{int(base)}|{image}|{float(snr_db):.6f}|{int(index)}".encode())


def cbr_for_channel_uses(channel_uses: int, source_shape: Sequence[int]) -> float:
    """The CBR that grants exactly ``channel_uses`` to a source of ``source_shape``
    (``ceil(cbr * values) == channel_uses``)."""
    if isinstance(channel_uses, bool) or int(channel_uses) != channel_uses or channel_uses < 1:
        raise InputError(f"channel_uses must be a positive integer, got {channel_uses!r}")
    return int(channel_uses) / source_size(source_shape)[0]


def reference_channel_uses(system: Any, source: torch.Tensor, snr_db: float, seed: int = 0) -> int:
    """Channel uses the reference ``system`` spends on ``source``: its ``budget`` when it states one,
    else what one transmission at ``snr_db`` actually spent (content-dependent systems)."""
    b = system.budget(tuple(source.shape))
    if b is None:
        b = system.transmit(source, snr_db, seed=seed).channel_uses
    if int(b) < 1:
        raise ConfigError(f"the reference system spends {b} channel uses: nothing to match")
    return int(b)


def parse_budget(budget: Any) -> tuple[str, Any]:
    """``None`` -> ("own", None); a number -> ("cbr", float); ``"match:NAME"`` -> ("match", NAME)."""
    if budget is None or budget == "own":
        return "own", None
    if isinstance(budget, str) and budget.startswith("match:"):
        name = budget[len("match:"):]
        if not name:
            raise ConfigError("budget match: needs a system name, e.g. match:deepjscc")
        return "match", name
    try:
        cbr = float(budget)
    except (TypeError, ValueError):
        raise ConfigError(f"budget must be a CBR, 'match:NAME' or None, got {budget!r}") from None
    if not (cbr > 0 and math.isfinite(cbr)):
        raise ConfigError(f"the CBR must be positive and finite, got {budget!r}")
    return "cbr", cbr


def centre_crop(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """Centre crop ``[..., H, W]`` to the largest multiples of ``multiple``."""
    h, w = image.shape[-2:]
    hh, ww = h // multiple * multiple, w // multiple * multiple
    if hh < 1 or ww < 1:
        raise InputError(f"a {h}x{w} image has no {multiple}x{multiple} crop")
    top, left = (h - hh) // 2, (w - ww) // 2
    return image[..., top:top + hh, left:left + ww].contiguous()


def load_plugins(modules: Sequence[str]) -> list[dict]:
    """Import each plugin module (which registers its models and systems); returns their provenance."""
    from semcom.systems.plugins import load_plugin

    return [load_plugin(m) for m in modules]


# ------------------------------------------------------------------ images
def _images(spec: Any, crop: int | None) -> list[tuple[str, torch.Tensor, str | None]]:
    if isinstance(spec, str):
        from semcom.experiments.common import load_image_set

        items = list(load_image_set(spec))
    else:
        items = []
        for i, it in enumerate(spec):
            name, img = it if isinstance(it, tuple) else (f"image{i}", it)
            items.append((name, img, None))
        if not items:
            raise InputError("compare needs at least one image")
    out = []
    for name, img, digest in items:
        if not isinstance(img, torch.Tensor):
            raise InputError(f"image {name!r} must be a tensor, got {type(img).__name__}")
        out.append((name, centre_crop(img, crop) if crop else img, digest))
    return out


# ------------------------------------------------------------------ one point (module level: picklable)
def _system(spec: str | dict, channel: str, cbr: float | None) -> Any:
    """The system of ``spec`` (a spec string, or ``{"name": ..., "options": {...}}`` whose options may be
    nested, as the recipe sweeps give them), built once per process."""
    import json

    return _cached_system(spec if isinstance(spec, str) else json.dumps(spec, sort_keys=True), channel, cbr)


@functools.lru_cache(maxsize=64)
def _cached_system(spec: str, channel: str, cbr: float | None) -> Any:
    if spec.startswith("{"):
        import json

        d = json.loads(spec)
        spec = SystemSpec(d["name"], dict(d.get("options", {})), d.get("label", d["name"]))
    return build_system(spec, channel=channel, cbr=cbr)


def _scalar_extras(extras: dict) -> dict:
    """The JSON-able scalars (and short lists of numbers) of an outcome's extras."""
    out = {}
    for k, v in extras.items():
        if isinstance(v, (bool, int, float, str)) or v is None:
            out[k] = v
        elif isinstance(v, (list, tuple)) and len(v) <= 16 and all(isinstance(x, (int, float)) for x in v):
            out[k] = list(v)
    return out


def _metrics(x: torch.Tensor, y: torch.Tensor) -> dict:
    from semcom import metrics

    if x.dim() != 4:  # vectors: mean squared error only
        return {"psnr": None, "ms_ssim": None, "mse": float(torch.mean((x - y) ** 2))}
    y = y.clamp(0, 1)
    return {"psnr": float(metrics.psnr(x, y).mean()), "ssim": float(metrics.ssim(x, y).mean()),
            "ms_ssim": float(metrics.ms_ssim(x, y).mean())}


def _source(task: dict) -> torch.Tensor:
    """The task's source: given inline (``source``), or by image-set name and image name (cached per process)."""
    if task.get("source") is not None:
        return task["source"]
    from semcom.experiments.common import load_image_set

    img = {n: im for n, im, _ in load_image_set(task["images"])}[task["image"]]
    return centre_crop(img, task["crop"]) if task.get("crop") else img


def run_point(task: dict) -> dict:
    """Send one source through one system at one SNR; the record of :func:`compare` (module level, picklable).

    ``task``: ``spec`` (string or ``{"name", "options"}``), ``label``, ``channel``, ``cbr``, ``image``
    with ``source`` (a tensor) or ``images`` (an image-set name, loaded in the worker), ``snr_db``,
    ``seed``, ``index``; optional ``plugins``, ``crop``, ``keep`` (return the reconstruction).
    The recipe sweeps call it for their points too.
    """
    if task.get("plugins"):
        load_plugins(task["plugins"])
    img = _source(task)
    rec = {"system": task["label"], "image": task["image"], "snr_db": task["snr_db"], "seed_index": task.get("index", 0)}
    try:
        system = _system(task["spec"], task.get("channel", "awgn"), task.get("cbr"))
        out = system.transmit(img, task["snr_db"], seed=task["seed"])
        if not isinstance(out, Outcome):
            raise ConfigError(f"system {task['label']!r} returned {type(out).__name__}, not an Outcome")
        if tuple(out.reconstruction.shape) != tuple(img.shape):
            raise ConfigError(f"system {task['label']!r} returned a reconstruction of shape"
                              f" {tuple(out.reconstruction.shape)} for a source of shape {tuple(img.shape)}")
    except SemcomError as exc:
        if task.get("raise_errors"):
            raise
        return {**rec, "status": "error", "error": f"{type(exc).__name__}: {exc}"}
    r = out.rates(img.shape)
    rec.update(status=out.status, channel_uses=out.channel_uses, channel_uses_budget=out.channel_uses_budget,
               cbr=r.cbr, spp=r.spp, bpp=r.bpp, bits_sent=out.bits_sent, side_info_bits=out.side_info_bits,
               num_cb=out.num_cb, num_cb_failed=out.num_cb_failed, error=out.error,
               extras=_scalar_extras(out.extras), **_metrics(img, out.reconstruction))
    if task.get("keep"):
        rec["reconstruction"] = (out.reconstruction.clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return rec


# ------------------------------------------------------------------ result
@dataclasses.dataclass
class CompareResult:
    """What :func:`compare` returns: per-system summaries, all records, the strip, and the config."""

    config: CompareConfig
    systems: list  # [{name, spec, describe, cbr, points: [...]}]
    records: list
    strip: dict  # {"snr_db", "image", "original", "systems": {name: uint8 HxWx3}}
    provenance_extra: dict

    def point(self, system: str, snr_db: float) -> dict:
        """The summary point of ``system`` at ``snr_db``."""
        for s in self.systems:
            if s["name"] == system:
                for p in s["points"]:
                    if p["snr_db"] == float(snr_db):
                        return p
        raise KeyError(f"no point {system!r} at {snr_db} dB")

    def to_results(self):
        """A :class:`semcom.experiments.results.Results` with provenance (``compare.json``)."""
        from semcom.experiments.results import Results, provenance

        prov = provenance(self.config, seed=self.config.seed, data_checksums=self.provenance_extra.get("data_checksums"))
        prov.update({k: v for k, v in self.provenance_extra.items() if k != "data_checksums"})
        data = {"systems": self.systems, "records": self.records, "channel": self.provenance_extra["channel"],
                "budget": self.provenance_extra["budget"], "crop": self.config.crop}
        return Results(NAME, data, prov)


def _summarise(records: list[dict]) -> list[dict]:
    points = []
    for snr in sorted({r["snr_db"] for r in records}):
        rows = [r for r in records if r["snr_db"] == snr]
        ok = [r for r in rows if r["status"] != "error"]
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        p = {"snr_db": snr, "n": len(rows), "status_counts": counts}
        for key in ("psnr", "ms_ssim", "mse", "channel_uses", "cbr", "spp", "bpp"):
            vals = [r[key] for r in ok if r.get(key) is not None]
            p[key] = float(np.mean(vals)) if vals else None
        ps = [r["psnr"] for r in ok if r.get("psnr") is not None]
        p["psnr_sem"] = float(np.std(ps, ddof=1) / math.sqrt(len(ps))) if len(ps) > 1 else None
        errors = sorted({r["error"] for r in rows if r["status"] == "error"})
        if errors:
            p["errors"] = errors
        points.append(p)
    return points


# ------------------------------------------------------------------ the core
def _resolve_cbr(kind: str, value: Any, specs: list[SystemSpec], images: list, channel: str, snrs: list) -> dict:
    """Per (label, image name): the CBR the system is built at (None: its own)."""
    cbrs: dict[tuple[str, str], float | None] = {}
    if kind == "match":
        ref = next((s for s in specs if value in (s.label, s.name)), None)
        ref_spec = ref if ref is not None else parse_spec(value)
        system = _system(_spec_text(ref_spec), channel, None)
        mid = float(sorted(snrs)[len(snrs) // 2])
        for name, img, _ in images:
            cbr = cbr_for_channel_uses(reference_channel_uses(system, img, mid), img.shape)
            for s in specs:
                cbrs[(s.label, name)] = None if s is ref else cbr
    else:
        for name, _, _ in images:
            for s in specs:
                cbrs[(s.label, name)] = value
    return cbrs


def _spec_text(spec: SystemSpec) -> str:
    opts = ",".join(f"{k}={v}" for k, v in spec.options.items())
    return spec.name + (f":{opts}" if opts else "")


def compare(systems: Sequence[str], images: Any = "tiny", snr_db: Sequence[float] = (0.0, 5.0, 10.0), *,
            channel: str = "awgn", budget: Any = None, seeds: int = 1, seed: int = 0, crop: int | None = None,
            plugins: Sequence[str] = (), workers: int | None = 1, cluster: Any = None, progress: bool = False,
            strip_snr_db: float | None = None) -> CompareResult:
    """Run every system on every image, SNR and seed (see the module docstring); returns a :class:`CompareResult`."""
    from semcom.experiments.executor import map_tasks

    t0 = time.time()
    cfg = CompareConfig(list(systems), images if isinstance(images, str) else "<tensors>", [float(s) for s in snr_db],
                        str(channel), budget, seeds, seed, crop, list(plugins), strip_snr_db)
    plugin_info = load_plugins(cfg.plugins)
    ch = ChannelSpec.parse(cfg.channel)
    specs = [parse_spec(s) for s in cfg.systems]
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"two systems share a label: {labels} (add label=... to a spec)")
    imgs = _images(images, crop)
    kind, value = parse_budget(budget)
    cbrs = _resolve_cbr(kind, value, specs, imgs, str(ch), cfg.snr_db)
    strip_snr = cfg.strip_snr_db if cfg.strip_snr_db is not None else sorted(cfg.snr_db)[len(cfg.snr_db) // 2]
    described = _check_systems(specs, imgs, cbrs, str(ch))
    tasks = [dict(spec=_spec_text(s), label=s.label, channel=str(ch), cbr=cbrs[(s.label, name)], image=name,
                  source=img, snr_db=snr, index=k, seed=point_seed(seed, name, snr, k), plugins=list(cfg.plugins),
                  keep=(name == imgs[0][0] and snr == strip_snr and k == 0))
             for s in specs for name, img, _ in imgs for snr in cfg.snr_db for k in range(seeds)]
    records = map_tasks(run_point, tasks, workers=workers, cluster=cluster, desc="compare", progress=progress)
    strip = {"snr_db": strip_snr, "image": imgs[0][0],
             "original": (imgs[0][1].clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
             if imgs[0][1].dim() == 4 else None, "systems": {}}
    for r in records:
        if "reconstruction" in r:
            strip["systems"][r["system"]] = r.pop("reconstruction")
    out_systems = []
    for s in specs:
        rows = [r for r in records if r["system"] == s.label]
        fixed = described[s.label].get("fixed_budget", False)
        own = [] if fixed else sorted({c for (lab, _), c in cbrs.items() if lab == s.label and c is not None})
        out_systems.append({"name": s.label, "spec": _spec_text(s), "cbr_target": own or None,
                            "matched_to": value if kind == "match" and own else None,
                            "describe": described[s.label], "points": _summarise(rows)})
    extra = {"channel": ch.describe(), "budget": {"kind": kind, "value": value}, "plugins": plugin_info,
             "command_line": list(sys.argv), "wall_time_s": round(time.time() - t0, 3),
             "data_checksums": {n: d for n, _, d in imgs if d}}
    return CompareResult(cfg, out_systems, records, strip, extra)


def _check_systems(specs: list[SystemSpec], imgs: list, cbrs: dict, channel: str) -> dict:
    """Build each system once here (errors surface before the sweep), check image sizes, describe them."""
    from semcom.experiments.results import to_jsonable

    described = {}
    for s in specs:
        system = _system(_spec_text(s), channel, cbrs[(s.label, imgs[0][0])])
        m = int(getattr(system, "size_multiple", 1) or 1)
        for name, img, _ in imgs:
            if img.dim() == 4 and (img.shape[-2] % m or img.shape[-1] % m):
                raise InputError(f"system {s.label!r} needs H and W to be multiples of {m}; image {name!r} is"
                                 f" {img.shape[-2]}x{img.shape[-1]}: pass crop={m} (--crop {m}) to centre-crop every image")
        try:
            d = to_jsonable(system.describe())
        except SemcomError as exc:
            raise ConfigError(f"system {s.label!r}: describe() failed: {exc}") from None
        if not isinstance(d, dict):
            raise ConfigError(f"system {s.label!r}: describe() must return a dict, got {type(d).__name__}")
        from semcom.systems.adapters import source_hash

        d.setdefault("class", f"{type(system).__module__}:{type(system).__qualname__}")
        d.setdefault("source_sha256", source_hash(system))
        d["fixed_budget"] = bool(getattr(system, "fixed_budget", False))
        described[s.label] = d
    return described
