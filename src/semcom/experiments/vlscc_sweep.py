"""``semcom vlscc sweep``: learned JSCC (VL-SCC, SCC, DeepJSCC) against HEIF + 5G LDPC (paper Figs. 8-9).

What it measures, on the bundled test photos (``images``, default the 3 "tiny" 256x256 crops),
with the committed checkpoints (:func:`semcom.models.load_pretrained`):

* **PSNR and MS-SSIM versus SPP at 10 dB AWGN** (Fig. 8 and the MS-SSIM stand-in for Fig. 9's
  LPIPS, whose backbone weights do not exist offline): VL-SCC, SCC and DeepJSCC (one trained
  operating point each), HEIF + 5G LDPC with 16QAM rate 2/3 over the bit-true link, and HEIF
  over the capacity bound, at every SPP of ``spp_grid``. VL-SCC's SPP counts its side link
  (4 bits per 16x16 block at 1 bit per channel use).
* **PSNR versus SNR** for DeepJSCC (the first checkpoint of its list, by default trained at 5 dB AWGN; evaluated on AWGN and on block
  Rayleigh with one coefficient per image and perfect CSI) and HEIF + LDPC at the same SPP
  (one fading coefficient per transport block = per image): the separation baseline's cliff and
  DeepJSCC's graceful degradation.
* **Rate maps**: VL-SCC's symbols per 16x16 block next to the photo, and the Spearman rank
  correlation between a block's symbol count and its detail (mean luminance-gradient magnitude).
* **The paper's claims** checked on these runs: VL-SCC beats SCC at (about) equal SPP; the rate
  map spends more symbols on detailed regions.

PSNR is the mean of per-image PSNR. Results JSON (with provenance) and plots go to
``results/vlscc/``. :func:`demo_section` adds a learned-JSCC section to the demo report.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from semcom.errors import ConfigError
from semcom.experiments.common import load_config_file, load_image_set
from semcom.experiments.executor import map_tasks
from semcom.experiments.results import Results, provenance
from semcom.utils import from_dict

NAME = "vlscc"
LABELS = {"vlscc2d": "VL-SCC", "scc": "SCC", "deepjscc": "DeepJSCC",
          "deepjscc_rayleigh": "DeepJSCC (trained on block Rayleigh)",
          "heif+ldpc": "HEIF + 5G LDPC (16QAM, 2/3)", "heif+bler_table": "HEIF + 5G LDPC (16QAM, 2/3; BLER-table link)",
          "heif+erasure": "HEIF + 5G LDPC (16QAM, 2/3; erasure link)", "heif+capacity": "HEIF over capacity",
          "vlscc2d_earlier": "VL-SCC (earlier: lr 1e-4, 18 min)", "scc_earlier": "SCC (earlier: lr 1e-4, 18 min)",
          "vlscc2d_long_earlier": "VL-SCC (earlier: lr 5e-4, 12 min)", "scc_long_earlier": "SCC (earlier: lr 5e-4, 12 min)",
          "deepjscc_earlier": "DeepJSCC (earlier: 4000 steps)",
          "deepjscc_long_earlier": "DeepJSCC (earlier: 15 min at 10 dB)"}
#: the learned models the sweep knows by name
MODELS = ("vlscc2d", "scc", "deepjscc")


@dataclasses.dataclass
class VlsccSweepConfig:
    """Sweep configuration.

    images: image-set spec (``"tiny"``, ``"all-256"``...; learned models need sides that are multiples of 16).
    snr_db: SNR of the SPP comparison (paper: 10 dB AWGN).
    spp_grid: SPP points of the HEIF baselines.
    snr_grid, channels: the PSNR-versus-SNR sweep.
    checkpoints: checkpoints per learned model (a name or a list: one operating point each; an empty
        list skips the model). A name is a committed checkpoint; a path ending in ``.pt`` is a user's
        checkpoint file (loaded with :func:`semcom.models.load_checkpoint`: ``weights_only``, and its
        SHA-256 checked when its metadata JSON is beside it), under the method name given, which may
        be a model of the user's own (``--checkpoint mymodel=run/mymodel.pt`` with ``--plugin``).
    earlier: more checkpoints per learned model, trained with an earlier recipe, reported in the
        SPP comparison as method ``<key>_earlier`` (a curve of their own; not in the claims, the
        pictures or the PSNR-versus-SNR sweep). A key is the model (``scc``) or, for a second
        earlier recipe, the model and a tag (``scc_long``): one curve per recipe, so that points
        of different trainings are not joined into one line. A shipped one is run; a retired one
        (no longer shipped: superseded by a longer run) is not: its records are read from
        ``earlier_results``.
    earlier_results: the results JSON of an earlier run of this sweep holding the retired
        checkpoints' records (default: ``results/vlscc/vlscc.json`` of the current folder or of the
        source checkout; without one, the retired curves are left out with a warning). Its records
        are used only when that run had the same images, SNR and seed; each carries its ``source``
        (file, commit and date of the run that measured it).
    codec, modulation_order, code_rate, fidelity, fading, link: the separation baseline
        (:class:`semcom.baselines.SeparationConfig`), 16QAM rate 2/3 bit-true as in the paper.
    snr_spp: SPP of the PSNR-versus-SNR sweep (default: DeepJSCC's).
    snr_checkpoints: more DeepJSCC checkpoints for the PSNR-versus-SNR sweep (e.g. one trained on
        block Rayleigh), reported as method ``deepjscc_<training channel>``.
    """

    images: str = "tiny"
    snr_db: float = 10.0
    spp_grid: list[float] = dataclasses.field(default_factory=lambda: [0.0625, 0.09375, 0.125, 0.1875, 0.25])
    snr_grid: list[float] = dataclasses.field(default_factory=lambda: [-2.0, 0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 20.0])
    channels: list[str] = dataclasses.field(default_factory=lambda: ["awgn", "rayleigh"])
    checkpoints: dict[str, str | list[str]] = dataclasses.field(default_factory=lambda: {
        "vlscc2d": ["vlscc2d_awgn10_105min"], "scc": ["scc_awgn10_spp0125_105min"],
        "deepjscc": ["deepjscc_awgn5_spp0125"]})
    earlier: dict[str, str | list[str]] = dataclasses.field(default_factory=lambda: {
        "vlscc2d": ["vlscc2d_awgn10", "vlscc2d_awgn10_low"], "scc": ["scc_awgn10_spp0125", "scc_awgn10_spp00625"],
        "deepjscc": ["deepjscc_awgn10_spp0125"],
        "vlscc2d_long": ["vlscc2d_awgn10_long", "vlscc2d_awgn10_low_long"], "scc_long": ["scc_awgn10_spp0125_long"],
        "deepjscc_long": ["deepjscc_awgn10_spp0125_long"]})
    earlier_results: str | None = None
    codec: str = "heif"
    modulation_order: int = 4
    code_rate: float = 2 / 3
    fidelity: str = "bittrue"
    fading: str = "per_tb"
    link: dict = dataclasses.field(default_factory=dict)
    snr_spp: float | None = None
    snr_checkpoints: list[str] = dataclasses.field(default_factory=list)
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.spp_grid or not self.snr_grid or not self.channels:
            raise ConfigError("spp_grid, snr_grid and channels must be non-empty")
        for v in list(self.spp_grid) + list(self.snr_grid) + [self.snr_db]:
            if not math.isfinite(float(v)):
                raise ConfigError("SNR and SPP values must be finite")
        if any(float(s) <= 0 for s in self.spp_grid):
            raise ConfigError("spp_grid values must be positive")
        for field in ("checkpoints", "earlier"):
            value = getattr(self, field)
            if not isinstance(value, dict):
                raise ConfigError(f"{field} must map a learned model to checkpoint names")
            known = (lambda m: m in MODELS) if field == "checkpoints" else (lambda m: model_of(f"{m}_earlier") in MODELS)
            unknown = {m for m, c in value.items() if not known(m)
                       and not all(_is_file_ckpt(x) for x in ([c] if isinstance(c, str) else list(c or [])))}
            if unknown:
                raise ConfigError(f"unknown learned model(s) {sorted(unknown)}")
            setattr(self, field, {m: ([c] if isinstance(c, str) else list(c or [])) for m, c in value.items()})
        if not isinstance(self.snr_checkpoints, list) or not all(isinstance(c, str) for c in self.snr_checkpoints):
            raise ConfigError("snr_checkpoints must be a list of checkpoint names")
        if self.earlier_results is not None and not isinstance(self.earlier_results, str):
            raise ConfigError("earlier_results must be the path of a results JSON or null")

    def learned(self) -> list[tuple[str, str]]:
        """``(method, checkpoint)`` pairs of the learned operating points (``earlier`` ones as ``<model>_earlier``)."""
        return [(m, c) for m, cs in self.checkpoints.items() for c in cs] + \
            [(f"{m}_earlier", c) for m, cs in self.earlier.items() for c in cs]

    def quick(self) -> "VlsccSweepConfig":
        """A small version (the demo's quick mode): fewer points, the BLER-table link instead of
        bit-true LDPC (:data:`QUICK`)."""
        return dataclasses.replace(self, **QUICK)

    def method(self, fidelity: str) -> str:
        return f"{self.codec}+{'ldpc' if fidelity == 'bittrue' else fidelity}"

    def separation(self, spp: float, channel: str, fidelity: str) -> dict:
        return dict(codec=self.codec, cbr=spp / 3, fidelity=fidelity, modulation_order=self.modulation_order,
                    code_rate=self.code_rate, channel=channel, fading=self.fading, link=dict(self.link))


#: What the quick mode sets (``--quick``: only for the keys the user left unset).
QUICK = {"spp_grid": [0.0625, 0.125, 0.25], "snr_grid": [0.0, 6.0, 10.0, 16.0], "fidelity": "bler_table"}


def model_of(method: str) -> str:
    """The learned model of a method: ``scc_long_earlier`` and ``scc_earlier`` -> ``scc``; any other method
    is its model (an earlier key of a model of the user's own is returned without ``_earlier``)."""
    if not method.endswith("_earlier"):
        return method
    key = method.removesuffix("_earlier")
    return next((m for m in MODELS if key == m or key.startswith(m + "_")), key)


def _is_file_ckpt(name: str) -> bool:
    """A user's checkpoint file (a path ending in ``.pt``) rather than a committed checkpoint's name."""
    return isinstance(name, str) and name.endswith(".pt")


def split_retired(cfg: VlsccSweepConfig, available: set[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(pairs to run, retired earlier pairs)`` of ``cfg.learned()``: an ``earlier`` checkpoint that is
    neither shipped (in ``available``) nor an existing ``.pt`` file is retired (read from results)."""
    def runnable(c: str) -> bool:
        return c in available or (_is_file_ckpt(c) and Path(c).is_file())

    retired = [(m, c) for m, c in cfg.learned() if m.endswith("_earlier") and not runnable(c)]
    return [p for p in cfg.learned() if p not in retired], retired


#: Where the retired checkpoints' records are looked up by default (in the current folder, then in
#: the source checkout).
EARLIER_RESULTS = "results/vlscc/vlscc.json"


def _earlier_results_path(cfg: VlsccSweepConfig) -> tuple[Path | None, str]:
    """(the earlier results file or None, the name recorded as its source: never a path of this machine
    for the default)."""
    if cfg.earlier_results is not None:
        p = Path(cfg.earlier_results)
        if not p.is_file():
            raise ConfigError(f"earlier_results {cfg.earlier_results!r} is not a file")
        return p, cfg.earlier_results
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if (base / EARLIER_RESULTS).is_file():
            return base / EARLIER_RESULTS, EARLIER_RESULTS
    return None, EARLIER_RESULTS


def retired_records(cfg: VlsccSweepConfig, retired: list[tuple[str, str]],
                    checksums: dict[str, str]) -> tuple[list[dict], dict, str | None]:
    """``(records, models, note)`` of the retired earlier checkpoints, read from the earlier run's
    results (see ``earlier_results``) instead of re-running weights that are no longer shipped.

    ``note`` (also warned) says why they are left out: no results file, or one measured on other
    images, SNR or seed than this run (``checksums``: this run's image checksums).

    Raises:
        ConfigError: the file is not a results JSON of this sweep, or a retired checkpoint is not in it.
    """
    if not retired:
        return [], {}, None
    path, name = _earlier_results_path(cfg)
    names = sorted(c for _, c in retired)
    if path is None:
        note = f"earlier checkpoints {names} are not shipped and no {EARLIER_RESULTS} holds their records: left out"
        warnings.warn(note, stacklevel=2)
        return [], {}, note
    try:
        src = Results.load(path)
        known, rows, prov = src.data["models"], src.data["spp"]["records"], src.provenance
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"earlier_results {name}: not a results JSON of this sweep ({type(exc).__name__}: {exc})") from None
    unknown = [c for c in names if c not in known]
    if unknown:
        raise ConfigError(f"earlier checkpoint(s) {unknown} are neither shipped, nor .pt files, nor in {name}")
    pc = prov.get("config", {})
    if (pc.get("images"), pc.get("snr_db"), pc.get("seed"), prov.get("data_checksums")) != \
            (cfg.images, float(cfg.snr_db), cfg.seed, checksums):
        note = (f"earlier checkpoints {names} are not shipped and {name} measured them on other images, SNR or "
                "seed than this run: left out")
        warnings.warn(note, stacklevel=2)
        return [], {}, note
    source = {"results": name, "git_commit": prov.get("git_commit"), "date": prov.get("date")}
    records, models = [], {}
    for method, c in retired:
        records += [{**r, "method": method, "source": r.get("source", source)} for r in rows
                    if r.get("checkpoint") == c and r.get("channel") == "awgn"]
        models[c] = {**known[c], "model": model_of(method), "retired": True,
                     "source": known[c].get("source", source)}
    return records, models, None


@functools.lru_cache(maxsize=8)
def _model(name: str):
    from semcom.models import load_checkpoint, load_pretrained

    return load_checkpoint(Path(name)) if _is_file_ckpt(name) else load_pretrained(name)


def learned_task(task: dict) -> dict:
    """One image through a committed learned model, by the compare core's point runner
    (:func:`semcom.systems.comparison.run_point`); module level: picklable for pools."""
    from semcom.systems.comparison import run_point

    r = run_point(dict(spec={"name": "learned", "options": {"ckpt": task["checkpoint"]}}, label=task["method"],
                       channel=task["channel"], images=task["images"], image=task["image"], snr_db=task["snr_db"],
                       seed=task["seed"], raise_errors=True))
    return {"method": task["method"], "checkpoint": task["checkpoint"], "channel": task["channel"],
            "snr_db": task["snr_db"], "image": task["image"], "seed": task["seed"], "status": r["status"],
            "psnr": r["psnr"], "ms_ssim": r["ms_ssim"], "spp": r["spp"], "channel_uses": r["channel_uses"],
            "side_bits": r["side_info_bits"], "extrapolated": r["extras"]["extrapolated"]}


def separation_task(task: dict) -> dict:
    """One image through the separation baseline: :func:`semcom.experiments.separation_sweep.run_task`,
    its record renamed to this sweep's fields (module level: picklable)."""
    from semcom.experiments.separation_sweep import run_task

    r = run_task(task)
    return {"method": task["method"], "channel": r["channel"], "snr_db": r["snr_db"], "image": r["image"],
            "seed": r["seed"], "status": r["status"], "psnr": r["psnr"], "ms_ssim": r["ms_ssim"],
            "spp": task["system"]["cbr"] * 3, "spp_spent": 3 * r["cbr_spent"], "bpp": r["bpp"]}


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def summarise(records: list[dict], keys: Sequence[str]) -> list[dict]:
    """Mean PSNR, MS-SSIM and SPP per group of ``keys``; failure rate for the separation baseline."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for key, rs in sorted(groups.items(), key=lambda kv: tuple(str(v) for v in kv[0])):
        row = dict(zip(keys, key))
        row.update(n=len(rs), psnr=_mean(rs, "psnr"), ms_ssim=_mean(rs, "ms_ssim"), spp=_mean(rs, "spp"),
                   failure_rate=float(np.mean([r["status"] in ("failed", "no_fit") for r in rs])))
        row["label"] = LABELS.get(row["method"], row["method"])
        out.append(row)
    return out


def block_detail(image: torch.Tensor, block: int = 16) -> np.ndarray:
    """Mean luminance-gradient magnitude per ``block x block`` block of ``[1,3,H,W]`` -> ``[H/b, W/b]``."""
    lum = (0.299 * image[0, 0] + 0.587 * image[0, 1] + 0.114 * image[0, 2]).double()
    gx = torch.zeros_like(lum)
    gy = torch.zeros_like(lum)
    gx[:, :-1] = (lum[:, 1:] - lum[:, :-1]).abs()
    gy[:-1, :] = (lum[1:, :] - lum[:-1, :]).abs()
    g = (gx + gy).reshape(lum.shape[0] // block, block, lum.shape[1] // block, block)
    return g.mean(dim=(1, 3)).numpy()


def rate_map_analysis(checkpoint: str, images: str) -> dict:
    """Symbols per 16x16 block for each image, block detail, and their Spearman correlation (over
    all blocks, and over the interior blocks: the outer ring is affected by the convolutions' zero
    padding)."""
    from scipy.stats import spearmanr

    model = _model(checkpoint)
    out = {}
    for name, img, _ in load_image_set(images):
        _, k = model.rate_map(img)
        k = k[0].numpy()
        d = block_detail(img)
        rho = rho_in = None
        if k.std() > 0:
            rho = float(spearmanr(k.ravel(), d.ravel()).statistic)
        ki, di = k[1:-1, 1:-1], d[1:-1, 1:-1]  # without the outer ring of blocks (zero-padding effects)
        if ki.size > 2 and ki.std() > 0:
            rho_in = float(spearmanr(ki.ravel(), di.ravel()).statistic)
        out[name] = {"symbols_per_block": k.tolist(), "detail": d.tolist(), "spearman": rho,
                     "spearman_interior": rho_in,
                     "spp_symbols": float(k.sum()) / (img.shape[-2] * img.shape[-1])}
    return out


def run(config: VlsccSweepConfig | dict | None = None, *, workers: int = 1, cluster: str | None = None,
        progress: bool = True) -> Results:
    """Run the sweep; ``data = {"spp": {records, summary}, "snr": {records, summary}, "rate_maps",
    "claims", "models"}``."""
    from semcom.models import list_pretrained

    cfg = config if isinstance(config, VlsccSweepConfig) else from_dict(VlsccSweepConfig, config or {})
    imgs = load_image_set(cfg.images)
    names = [n for n, _, _ in imgs]
    available = set(list_pretrained())
    pairs, retired = split_retired(cfg, available)
    missing = sorted(c for c in [c for _, c in pairs] + list(cfg.snr_checkpoints)
                     if c not in available and not (_is_file_ckpt(c) and Path(c).is_file()))
    if missing:
        raise ConfigError(f"checkpoint(s) {missing} are neither committed nor existing .pt files; committed: "
                          f"{sorted(available)}")
    old_records, old_models, earlier_note = retired_records(cfg, retired, {n: s for n, _, s in imgs})
    models = {c: {"model": model_of(m), "metadata_metric": _model(c).metadata.get("metric"),
                  "trained_snr_db": _model(c).config.snr_db, "train_channel": _model(c).config.channel}
              for m, c in pairs}
    for c in cfg.snr_checkpoints:
        models[c] = {"model": "deepjscc", "metadata_metric": _model(c).metadata.get("metric"),
                     "trained_snr_db": _model(c).config.snr_db, "train_channel": _model(c).config.channel}
    models.update(old_models)
    ckpts = {m: cs[0] for m, cs in cfg.checkpoints.items() if cs}  # first checkpoint: SNR sweep, pictures

    # PSNR / MS-SSIM versus SPP at snr_db AWGN
    learned = [dict(method=m, checkpoint=c, images=cfg.images, image=n, snr_db=float(cfg.snr_db), channel="awgn",
                    seed=cfg.seed + i) for m, c in pairs for i, n in enumerate(names)]
    sep = [dict(method=cfg.method(fid), system=cfg.separation(float(s), "awgn", fid),
                images=cfg.images, image=n, snr_db=float(cfg.snr_db), seed=cfg.seed + i)
           for fid in (cfg.fidelity, "capacity") for s in cfg.spp_grid for i, n in enumerate(names)]
    spp_records = [learned_task(t) for t in learned] + old_records
    spp_records += map_tasks(separation_task, sep, workers=workers, cluster=cluster, desc="vlscc spp", progress=progress)

    # PSNR versus SNR: DeepJSCC and HEIF + LDPC, AWGN and block Rayleigh
    snr_records: list[dict] = []
    if "deepjscc" in ckpts:
        spp_snr = cfg.snr_spp if cfg.snr_spp is not None else _model(ckpts["deepjscc"]).spp
        lt = [dict(method="deepjscc", checkpoint=ckpts["deepjscc"], images=cfg.images, image=n, snr_db=float(s),
                   channel=ch, seed=cfg.seed + i) for ch in cfg.channels for s in cfg.snr_grid for i, n in enumerate(names)]
        st = [dict(method=cfg.method(cfg.fidelity), system=cfg.separation(float(spp_snr), ch, cfg.fidelity), images=cfg.images,
                   image=n, snr_db=float(s), seed=cfg.seed + i)
              for ch in cfg.channels for s in cfg.snr_grid for i, n in enumerate(names)]
        for c in cfg.snr_checkpoints:
            lt += [dict(method=f"deepjscc_{_model(c).config.channel}", checkpoint=c, images=cfg.images, image=n,
                        snr_db=float(s), channel=ch, seed=cfg.seed + i)
                   for ch in cfg.channels for s in cfg.snr_grid for i, n in enumerate(names)]
        snr_records = [learned_task(t) for t in lt]
        snr_records += map_tasks(separation_task, st, workers=workers, cluster=cluster, desc="vlscc snr", progress=progress)

    rate_maps = rate_map_analysis(ckpts["vlscc2d"], cfg.images) if "vlscc2d" in ckpts else {}
    # one operating point per learned model (its SPP varies per image for VL-SCC); the
    # separation baselines are grouped per SPP of the grid
    learned_methods = {m for m, _ in cfg.learned()}
    spp_summary = summarise([r for r in spp_records if r["method"] in learned_methods], ("method", "checkpoint")) + \
        summarise([r for r in spp_records if r["method"] not in learned_methods], ("method", "spp"))
    data = {
        "spp": {"snr_db": cfg.snr_db, "records": spp_records, "summary": spp_summary},
        "snr": {"records": snr_records, "summary": summarise(snr_records, ("method", "channel", "snr_db"))},
        "rate_maps": rate_maps,
        "models": models,
        "images": cfg.images,
    }
    if earlier_note:
        data["earlier_note"] = earlier_note
    data["claims"] = check_claims(data)
    return Results(NAME, data, provenance(cfg, seed=cfg.seed, data_checksums={n: s for n, _, s in imgs}))


def check_claims(data: dict) -> dict:
    """The paper's claims on this run.

    ``vlscc_beats_scc_at_equal_spp``: each VL-SCC point against SCC at the same SPP (PSNR linearly
    interpolated between SCC's points; below SCC's smallest SPP, against that point, which spends
    more symbols; above its largest, against that point only if VL-SCC's PSNR is lower - SCC then
    does better with fewer symbols - and otherwise not comparable). ``rate_follows_detail``: mean Spearman
    correlation of symbols per block with block detail is positive.
    """
    summ = data["spp"]["summary"]
    v = sorted((r for r in summ if r["method"] == "vlscc2d"), key=lambda r: r["spp"])
    s = sorted((r for r in summ if r["method"] == "scc"), key=lambda r: r["spp"])
    claims = {}
    if v and s:
        xs, ys, ms = [r["spp"] for r in s], [r["psnr"] for r in s], [r["ms_ssim"] for r in s]
        points = []
        for r in v:
            above = r["spp"] > xs[-1] * 1.02
            if above and r["psnr"] >= ys[-1]:
                points.append({"checkpoint": r["checkpoint"], "vlscc_spp": r["spp"], "comparable": False})
                continue
            scc_psnr = float(np.interp(r["spp"], xs, ys))
            scc_ms = float(np.interp(r["spp"], xs, ms))
            points.append({"checkpoint": r["checkpoint"], "vlscc_spp": r["spp"], "vlscc_psnr": r["psnr"],
                           "scc_spp_used": min(max(r["spp"], xs[0]), xs[-1]), "vlscc_ms_ssim": r["ms_ssim"], "scc_psnr_at_spp": scc_psnr, "scc_ms_ssim_at_spp": scc_ms,
                           "delta_psnr_db": r["psnr"] - scc_psnr, "comparable": True})
        comp = [p for p in points if p["comparable"]]
        claims["vlscc_beats_scc_at_equal_spp"] = {
            "points": points, "scc_points": [{"checkpoint": r["checkpoint"], "spp": r["spp"], "psnr": r["psnr"],
                                              "ms_ssim": r["ms_ssim"]} for r in s],
            "holds": bool(comp and all(p["delta_psnr_db"] > 0 for p in comp)),
        }
    rhos = [m["spearman"] for m in data["rate_maps"].values() if m["spearman"] is not None]
    rhos_in = [m["spearman_interior"] for m in data["rate_maps"].values() if m.get("spearman_interior") is not None]
    if data["rate_maps"]:
        claims["rate_follows_detail"] = {
            "spearman_per_image": {k: m["spearman"] for k, m in data["rate_maps"].items()},
            "spearman_interior_per_image": {k: m.get("spearman_interior") for k, m in data["rate_maps"].items()},
            "mean_spearman": float(np.mean(rhos)) if rhos else None,
            "mean_spearman_interior": float(np.mean(rhos_in)) if rhos_in else None,
            "holds": bool(rhos and np.mean(rhos) > 0),
        }
    return claims


# ------------------------------------------------------------------------------------------ plots
def plot(results: Results | dict, out_dir: str | Path) -> list[Path]:
    """PSNR/MS-SSIM versus SPP, PSNR versus SNR, the rate maps; PNGs made from the results JSON."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semcom.report.plots import metric_vs_snr, save_figure

    data = results.data if isinstance(results, Results) else results["data"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    summ = data["spp"]["summary"]
    for metric, label in (("psnr", "PSNR [dB]"), ("ms_ssim", "MS-SSIM")):
        fig, ax = plt.subplots(figsize=(5.6, 4))
        for method in sorted({r["method"] for r in summ}):
            rows = sorted((r for r in summ if r["method"] == method), key=lambda r: r["spp"])
            xs, ys = [r["spp"] for r in rows], [r[metric] for r in rows]
            style = ("o--" if method.endswith("_earlier") else "o-") if len(rows) > 1 else "*"
            ax.plot(xs, ys, style, markersize=6 if len(rows) > 1 else 13, label=LABELS.get(method, method),
                    alpha=0.6 if method.endswith("_earlier") else 1.0)
        ax.set_xlabel("SPP (complex symbols per pixel)")
        ax.set_ylabel(label)
        ax.set_title(f"{label} vs SPP, AWGN {data['spp']['snr_db']:g} dB")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        paths.append(save_figure(fig, out / f"{NAME}_{metric}_vs_spp.png"))
    if data["snr"]["summary"]:
        rows = [dict(r, method=LABELS.get(r["method"], r["method"])) for r in data["snr"]["summary"]]
        paths.append(metric_vs_snr(rows, "psnr", "PSNR [dB]", out / f"{NAME}_psnr_vs_snr.png",
                                   series=("method",), panels="channel"))
    if data["rate_maps"]:
        paths.append(plot_rate_maps(data["rate_maps"], data["images"], out / f"{NAME}_rate_maps.png"))
    return paths


def plot_rate_maps(rate_maps: dict, images: str, path: Path) -> Path:
    """Each photo beside VL-SCC's symbols per 16x16 block."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semcom.report.plots import save_figure

    names = list(rate_maps)
    imgs = {n: img for n, img, _ in load_image_set(images) if n in rate_maps}
    fig, axes = plt.subplots(len(names), 2, figsize=(6.4, 3.1 * len(names)), squeeze=False)
    for row, n in zip(axes, names):
        k = np.asarray(rate_maps[n]["symbols_per_block"])
        row[0].imshow(imgs[n][0].permute(1, 2, 0).numpy())
        row[0].set_title(n, fontsize=9)
        im = row[1].imshow(k, cmap="viridis", vmin=0)
        rho, rho_in = rate_maps[n]["spearman"], rate_maps[n].get("spearman_interior")
        fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
        row[1].set_title(f"symbols per 16x16 block\nrank corr. with detail {fmt(rho)} (interior {fmt(rho_in)})",
                         fontsize=8)
        fig.colorbar(im, ax=row[1], fraction=0.046)
        for a in row:
            a.axis("off")
    return save_figure(fig, path, dpi=100)


def reconstructions(cfg: VlsccSweepConfig, out_dir: str | Path, image_index: int = 0) -> Path:
    """One photo sent by every method at about the same SPP (HEIF at VL-SCC's SPP), side by side."""
    from semcom.metrics import psnr
    from semcom.report.plots import image_grid
    from semcom.systems.comparison import _system

    name, img, _ = load_image_set(cfg.images)[image_index]
    items = [("original", img[0].permute(1, 2, 0).numpy())]
    spp_ref = None
    for method in ("vlscc2d", "scc", "deepjscc"):
        cs = cfg.checkpoints.get(method)
        if not cs:
            continue
        c = cs[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = _model(c).transmit(img, cfg.snr_db, seed=cfg.seed, channel="awgn")
        spp_ref = spp_ref or out.spp
        y = out.image.clamp(0, 1)
        items.append((f"{LABELS[method]}\nSPP {out.spp:.3f}, {float(psnr(img, y)[0]):.2f} dB", y[0].permute(1, 2, 0).numpy()))
    spp = spp_ref or 0.125
    sys = _system({"name": "separation", "options": {"config": cfg.separation(spp, "awgn", cfg.fidelity)}}, "awgn", None)
    o = sys.transmit(img, cfg.snr_db, seed=cfg.seed)
    items.append((f"{LABELS.get(cfg.method(cfg.fidelity), cfg.method(cfg.fidelity))}\nSPP {spp:.3f}, {float(psnr(img, o.image)[0]):.2f} dB ({o.status})",
                  o.image[0].permute(1, 2, 0).numpy()))
    return image_grid([(f"{name}, AWGN {cfg.snr_db:g} dB", items)], Path(out_dir) / f"{NAME}_reconstructions.png")


# ------------------------------------------------------------------------------------------ report
def demo_section(report, out_dir: str | Path, quick: bool = False) -> dict:
    """Add the learned-JSCC section to a :class:`semcom.report.html.HtmlReport`.

    Runs the sweep (``quick``: fewer SPP/SNR points) with the committed checkpoints, writes its
    JSON and plots to ``out_dir`` and adds headings, a table, the claims and the figures. Returns
    ``{"available": bool, "results": path or None, "claims": {...}, "figures": [...]}``.
    """
    from semcom.models import list_pretrained

    cfg = VlsccSweepConfig()
    if quick:
        cfg = cfg.quick()
    report.heading("Learned JSCC: VL-SCC, SCC and DeepJSCC")
    need = [c for m, c in cfg.learned() if not m.endswith("_earlier")]  # retired earlier ones come from results
    have = set(list_pretrained())
    if not all(c in have for c in need):
        report.paragraph(f"Committed checkpoints missing ({sorted(set(need) - have)}): train them with "
                         "`semcom train <model> --config configs/<model>.json`.")
        return {"available": False, "results": None, "claims": {}, "figures": []}
    res = run(cfg, progress=False)
    out = Path(out_dir)
    path = res.save(out)
    figs = plot(res, out)
    figs.append(reconstructions(cfg, out))
    d = res.data
    report.paragraph(
        "Images sent over an analog AWGN channel at 10 dB by learned joint source-channel coders trained here "
        f"on 2 CPU cores, against HEIF + 5G LDPC (16QAM, rate 2/3, {cfg.fidelity} link) and HEIF over the capacity "
        "bound. SPP counts every channel use, VL-SCC's side link included. SCC and VL-SCC were trained for 105 "
        "minutes each on one CPU thread, DeepJSCC for 105 minutes at 5 dB, the earlier (dashed) checkpoints for 10-22 "
        "minutes; see docs/vlscc.md and docs/training.md for how far that is from converged.")
    rows = [[r["label"] + (f" ({r['checkpoint']})" if "checkpoint" in r else ""), r["spp"], r["psnr"], r["ms_ssim"],
             r["failure_rate"]] for r in d["spp"]["summary"]]
    report.table(["method", "SPP", "PSNR [dB]", "MS-SSIM", "failure rate"], rows)
    for key, c in d["claims"].items():
        if key == "vlscc_beats_scc_at_equal_spp":
            detail = "; ".join(f"VL-SCC {p['vlscc_psnr']:.2f} dB vs SCC {p['scc_psnr_at_spp']:.2f} dB at SPP {p['vlscc_spp']:.3f}"
                               for p in c["points"] if p["comparable"])
        else:
            detail = f"mean Spearman correlation of symbols per block with block detail: {c['mean_spearman']}"
        report.paragraph(f"Claim '{key}': {'holds' if c['holds'] else 'does not hold'} on this run ({detail}).")
    captions = {"psnr_vs_spp": "PSNR versus SPP at 10 dB AWGN", "ms_ssim_vs_spp": "MS-SSIM versus SPP at 10 dB AWGN",
                "psnr_vs_snr": "PSNR versus SNR: DeepJSCC degrades gracefully, HEIF + LDPC falls off a cliff",
                "rate_maps": "VL-SCC rate maps: symbols per 16x16 block",
                "reconstructions": "Reconstructions at about the same SPP"}
    for f in figs:
        cap = next((v for k, v in captions.items() if f.stem.endswith(k)), f.stem)
        report.image(f, cap)
    return {"available": True, "results": str(path), "claims": d["claims"], "figures": [str(f) for f in figs]}


# ------------------------------------------------------------------------------------------ CLI
def build_parser() -> argparse.ArgumentParser:
    from semcom import cliargs
    from semcom.experiments.common import add_common_arguments

    t = cliargs.typed
    p = cliargs.ArgumentParser(prog="semcom vlscc sweep", description=__doc__.strip().split("\n\n")[0])
    add_common_arguments(p, default_out=f"results/{NAME}")
    p.add_argument("--quick", action="store_true", help="fewer SPP and SNR points (values you give still apply)")
    p.add_argument("--images", type=t(cliargs.parse_image_set), default=None,
                   help="'tiny', 'all-256' or a folder (sides multiples of 16)")
    p.add_argument("--snr", type=t(cliargs.parse_snr_list), default=None,
                   help="SNR grid of the PSNR-versus-SNR sweep: '0,5,10' or start:stop:step")
    p.add_argument("--fidelity", default=None, choices=["bittrue", "bler_table", "erasure"], help="separation link")
    p.add_argument("--checkpoint", action="append", default=[], metavar="METHOD=FILE.pt",
                   help="add a checkpoint file as an operating point of METHOD (deepjscc, scc, vlscc2d, or a "
                        "name of your own for a model a --plugin registers); repeatable")
    return p


def _checkpoint_option(items: Sequence[str], checkpoints: dict) -> dict:
    """``checkpoints`` with the ``--checkpoint METHOD=FILE.pt`` operating points added."""
    from semcom import cliargs

    out = {m: ([c] if isinstance(c, str) else list(c)) for m, c in checkpoints.items()}
    for item in items:
        method, sep, path = item.partition("=")
        if not sep or not method.strip() or not path.endswith(".pt"):
            raise cliargs.UsageError(f"--checkpoint {item!r}: give METHOD=FILE.pt")
        cliargs.parse_existing_file(path, what="--checkpoint file")
        out.setdefault(method.strip(), []).append(path)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from semcom import cliargs

    args = build_parser().parse_args(argv)
    d = load_config_file(args.config)
    d.update(cliargs.given(args, ("images", "fidelity", "seed")))
    if args.snr is not None:
        d["snr_grid"] = args.snr
    if args.quick:
        d = cliargs.fill_defaults(d, QUICK)
    if args.checkpoint:
        d["checkpoints"] = _checkpoint_option(args.checkpoint, d.get("checkpoints", VlsccSweepConfig().checkpoints))
    cfg = from_dict(VlsccSweepConfig, d)
    cliargs.check_snr_values(cfg.snr_grid, what="snr_grid")
    cliargs.check_snr_values([cfg.snr_db], what="snr_db")
    cliargs.check_common(args)
    res = run(cfg, workers=args.workers, cluster=args.cluster, progress=not args.no_progress)
    path = res.save(args.out)
    figs = plot(res, args.out)
    figs.append(reconstructions(cfg, args.out))
    print(f"wrote {path}")
    for f in figs:
        print(f"wrote {f}")
    for r in res.data["spp"]["summary"]:
        print(f"  {r['label'] + ' ' + r.get('checkpoint', ''):48s} SPP {r['spp']:.4f}  PSNR {r['psnr']:6.2f} dB  MS-SSIM {r['ms_ssim']:.4f}")
    for k, c in res.data["claims"].items():
        print(f"  claim {k}: {'holds' if c['holds'] else 'does not hold'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from semcom.cliargs import guarded

    raise SystemExit(guarded(main))
