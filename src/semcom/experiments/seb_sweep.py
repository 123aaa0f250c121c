"""Quality versus SNR on AWGN: Seb codec with UEP, random UEP, no UEP, Seb-wise UEP, and baselines at equal CBR (seb paper Fig. 8).

``semcom seb sweep``. For every image x SNR x seed, the Seb codec (KB from training crops, fine
Sebs for the top ``fine_ratio`` regions) sends its ``s_idx`` over the 5G NR link (QPSK):

* ``ours_uep``: the 50 % most important regions' indices (and the header) at LDPC rate
  ``rates[0]`` (1/2), the rest at ``rates[1]`` (2/3);
* ``ours_random_uep``: the protected half chosen at random;
* ``ours_no_uep``: everything at ``rates[1]`` (2/3): **fewer** channel uses than UEP;
* ``ours_no_uep_eqcbr``: everything at one rate ``R_eq`` chosen per image so that it spends the
  **same** channel uses as ``ours_uep`` (the smallest rate on a 1/1024 grid whose channel uses do
  not exceed UEP's; about 0.57): the equal-CBR no-UEP comparison;
* ``ours_uep_sebwise`` / ``ours_no_uep_sebwise``: as ``ours_uep`` / ``ours_no_uep`` with Seb-wise
  UEP, the robust index assignment (``SebCodecConfig(index_map="robust")``).

Two deliveries (``deliveries``), each reported separately:

* ``"stack"`` (``--via-stack``, default on): through :mod:`semcom.stack` (SDAP QoS flow per
  importance class, PDCP SN + NIA2 MAC-I + NEA2, RLC UM, MAC multiplexing, one MCS per class;
  :func:`semcom.semantics.seb.send_over_stack`). The CBR counts every protocol header. A
  transport block whose CRC fails is dropped: its regions are concealed with the fallback Seb.
  Every transmission is its own PDCP session (:func:`transmission_session`: keys derived from
  the run seed, image index, seed, SNR, delivery and variant), so COUNT restarting at 0 in each
  fresh uplink never repeats a key stream.
* ``"corrupt"``: straight over the bit-true link (:func:`semcom.semantics.seb.send_over_link`),
  failed code blocks delivered as decoded, so bit errors reach the indices: the delivery on which
  Seb-wise UEP can act (over the stack a damaged block never reaches the decoder).

Equal-CBR baselines (``matched``): the classical codecs (JPEG2000, HEIF + LDPC 2/3 QPSK,
:class:`semcom.baselines.SeparationSystem`, corrupt policy) do not fit a stream into the Seb's
CBR (about 0.005), and the learned JSCC checkpoints have fixed CBRs. So every baseline is run at
its own CBR: for a classical codec the smallest CBR at which it fits a stream on that image
(bisection), for a learned checkpoint (``semcom.models.load_pretrained``) its trained CBR. At that
CBR the Seb codec gets the same budget (``ours_uep_matched``, corrupt delivery like the
baselines): the largest fine ratio of ``matched_fine_ratios`` whose UEP channel uses fit, then
both code rates scaled down by one factor (never below 1/5) to spend what is left on protection;
and the same with a finer KB (``matched_kb_sizes``, default 4096 / 1024 Sebs: 12-bit fine
indices), ``ours_uep_kb4096@<baseline>``, since a large budget is better spent on finer Sebs.
Every record and summary row states the CBR it actually spent (``cbr``) and, in the matched part,
the target (``cbr_target``); no comparison mixes CBRs silently.

CBR counts every channel use (header, indices, CRC, coding; with the stack every protocol header).
PSNR is the mean of per-image PSNR (``psnr_sem``: its standard error); MS-SSIM likewise. LPIPS is
not reported (no offline weights). The variants of one image, seed, SNR and delivery see the same
channel draws (common random numbers), so their differences are paired comparisons.
:func:`check_claims` condenses the comparisons the paper makes, per delivery, into ``claims``.

The default configuration (learned extractor, KB 1024 / 256 Sebs from 1600 crops, the 3 tiny
photos, 12 seeds, 7 SNRs, both deliveries, the equal-CBR baselines with both KBs) runs in about
10 minutes on one core.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from semcom.errors import ConfigError
from semcom.experiments.common import add_common_arguments, load_config_file, load_image_set
from semcom.experiments.results import Results, provenance
from semcom.experiments.seb_common import build_kb_from_crops, make_extractor
from semcom.semantics.seb import SebCodec, SebCodecConfig
from semcom.semantics.seb_link import (  # noqa: F401 - the sweep's names, kept importable from here
    MAX_RATE, MIN_RATE, RATE_GRID, SebLinks, matched_seb, planned_channel_uses, send_seb, smallest_rate_within)
from semcom.utils import from_dict

NAME = "seb_sweep"
VARIANTS = {
    "ours_uep": {"uep": "importance"},
    "ours_random_uep": {"uep": "random"},
    "ours_no_uep": {"uep": "none"},
    "ours_no_uep_eqcbr": {"uep": "none", "equal_cbr": True},
    "ours_uep_sebwise": {"uep": "importance", "index_map": "robust"},
    "ours_no_uep_sebwise": {"uep": "none", "index_map": "robust"},
}
DELIVERIES = ("stack", "corrupt")



@dataclasses.dataclass
class SebSweepConfig:
    images: str = "tiny"
    snr_db: list[float] = dataclasses.field(default_factory=lambda: [1.0, 2.0, 3.0, 3.5, 4.0, 5.0, 7.0])
    seeds: list[int] = dataclasses.field(default_factory=lambda: list(range(12)))
    variants: list[str] = dataclasses.field(default_factory=lambda: list(VARIANTS))
    deliveries: list[str] = dataclasses.field(default_factory=lambda: list(DELIVERIES))
    baselines: list[str] = dataclasses.field(default_factory=lambda: ["jpeg2000", "heif"])
    learned_baselines: list[str] = dataclasses.field(default_factory=lambda: ["deepjscc_awgn5_spp0125", "scc_awgn10_spp00625"])
    matched: bool = True
    matched_fine_ratios: list[float] = dataclasses.field(default_factory=lambda: [0.2, 0.4, 0.6, 0.8, 1.0])
    matched_kb_sizes: list[list[int]] = dataclasses.field(default_factory=lambda: [[4096, 1024]])
    extractor: str = "learned"
    checkpoint: str | None = None
    fine_patch: int = 16
    fine_ratio: float = 0.2
    protect_ratio: float = 0.5
    rates: list[float] = dataclasses.field(default_factory=lambda: [0.5, 2 / 3])
    kb_sizes: list[int] = dataclasses.field(default_factory=lambda: [1024, 256])
    kb_crops: int = 1600
    sdu_bytes: int = 64
    stack: dict = dataclasses.field(default_factory=dict)
    fidelity: str = "bittrue"
    channel: str = "awgn"
    progress: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.variants) - set(VARIANTS)
        if unknown:
            raise ConfigError(f"unknown variants {sorted(unknown)}; known: {list(VARIANTS)}")
        bad = set(self.deliveries) - set(DELIVERIES)
        if bad or not self.deliveries:
            raise ConfigError(f"deliveries must be a non-empty subset of {list(DELIVERIES)}, got {self.deliveries!r}")
        if (not isinstance(self.rates, (list, tuple)) or len(self.rates) != 2
                or not all(MIN_RATE <= float(r) <= MAX_RATE for r in self.rates)):
            raise ConfigError(f"rates must be two LDPC code rates in [205/1024, 948/1024], got {self.rates!r}")
        if not isinstance(self.stack, dict) or any(k in self.stack for k in ("mcs", "fidelity", "channel")):
            raise ConfigError("stack sets protocol options only; the MCS, fidelity and channel come from the sweep")
        from semcom.stack import StackConfig

        StackConfig.from_dict({"mcs": [[2, float(r)] for r in self.rates], **self.stack})  # unknown keys -> ConfigError


def _seed(*parts: Any) -> int:
    """A deterministic per-transmission seed (Python's hash() of strings varies between processes)."""
    return zlib.crc32("|".join(str(p) for p in parts).encode())


def _metrics(x: torch.Tensor, y: torch.Tensor) -> dict:
    from semcom.metrics import ms_ssim, psnr

    out = {"psnr_db": float(psnr(y, x))}
    try:
        out["ms_ssim"] = float(ms_ssim(y, x))
    except Exception:  # noqa: BLE001 - image too small for 5 scales
        out["ms_ssim"] = None
    return out


def transmission_session(cfg: SebSweepConfig, image_index: int, seed: int, snr: float, delivery: str,
                         variant: str) -> bytes:
    """The PDCP session identifier of one transmission: run seed, image index, seed, SNR, delivery
    and variant, injectively encoded (:func:`semcom.stack.security.session_id`). Every transmission
    of a run gets its own keys, deterministically, so restarting COUNT at 0 never repeats a key stream."""
    from semcom.stack.security import session_id

    return session_id("seb_sweep", cfg.seed, image_index, seed, float(snr), delivery, variant)


def _record(method: str, name: str, seed: int, snr: float, delivery: str, out: Any, img: torch.Tensor,
            rates: Sequence[float], **extra: Any) -> dict:
    return {"method": method, "delivery": delivery, "image": name, "seed": seed, "snr_db": float(snr),
            "cbr": out.channel_uses / img.numel(), "channel_uses": out.channel_uses, "bits": out.bits,
            "overhead_bits": out.overhead_bits, "rates": [float(r) for r in rates], "header_ok": out.header_ok,
            "ok_class0": out.class_cb_ok[0], "ok_class1": out.class_cb_ok[1], "regions_lost": out.regions_lost,
            "kb_mismatch": out.kb_mismatch, **extra, **_metrics(img, out.image)}


def smallest_fitting_cbr(system_cfg: dict, img: torch.Tensor, lo: float = 1e-4, hi: float = 0.5, steps: int = 16) -> float | None:
    """Smallest CBR (bisection on a log scale, ``steps`` halvings) at which the classical codec of
    ``system_cfg`` fits a stream (status other than ``no_fit``) with the configured MCS; None if not
    even at ``hi``. The probe uses the error-free erasure link, which has the bit-true link's
    TB/CB layout, so the payload budget is the same."""
    from semcom.baselines import SeparationConfig, SeparationSystem

    def fits(cbr: float) -> bool:
        probe = {**system_cfg, "cbr": cbr, "fidelity": "erasure", "link": {"cbler": 0.0}}
        probe.pop("decoder", None)
        sys_ = SeparationSystem(SeparationConfig.from_dict(probe))
        return sys_.transmit(img, 40.0, seed=0).status != "no_fit"

    if not fits(hi):
        return None
    a, b = math.log(lo), math.log(hi)
    for _ in range(steps):
        mid = 0.5 * (a + b)
        if fits(math.exp(mid)):
            b = mid
        else:
            a = mid
    return math.exp(b)


def run(config: SebSweepConfig | Mapping[str, Any] | None = None) -> Results:
    from tqdm import tqdm

    cfg = config if isinstance(config, SebSweepConfig) else from_dict(SebSweepConfig, config or {})
    ext = make_extractor(cfg.extractor, cfg.fine_patch, cfg.checkpoint)
    kb = build_kb_from_crops(ext, cfg.fine_patch, list(cfg.kb_sizes), cfg.kb_crops, cfg.seed)
    links = SebLinks(cfg)
    images = load_image_set(cfg.images)
    codecs = {v: SebCodec(kb, ext, SebCodecConfig(cfg.fine_patch, 2 * cfg.fine_patch, cfg.fine_ratio, cfg.protect_ratio,
                                                   VARIANTS[v]["uep"], VARIANTS[v].get("index_map", "identity")))
              for v in cfg.variants}
    ref_codec = SebCodec(kb, ext, SebCodecConfig(cfg.fine_patch, 2 * cfg.fine_patch, cfg.fine_ratio, cfg.protect_ratio))
    records: list[dict] = []
    total = len(images) * len(cfg.seeds) * len(cfg.snr_db) * len(cfg.variants) * len(cfg.deliveries)
    bar = tqdm(total=total, desc="seb sweep", disable=not cfg.progress)
    crops = []
    rates = [float(r) for r in cfg.rates]
    for index, (name, img, _) in enumerate(images):
        c = 2 * cfg.fine_patch
        h, w = img.shape[-2:]
        img = img[..., : h // c * c, : w // c * c].contiguous()
        crops.append((name, img))
        for seed in cfg.seeds:
            msgs = {v: codecs[v].encode(img, generator=seed) for v in cfg.variants}
            ref = ref_codec.encode(img, generator=seed)  # the importance-UEP message (what ours_uep sends)
            for delivery in cfg.deliveries:
                uep_uses = planned_channel_uses(ref_codec, ref, rates, delivery, cfg)
                for variant in cfg.variants:
                    codec, msg = codecs[variant], msgs[variant]
                    var_rates = rates
                    extra: dict = {}
                    if VARIANTS[variant].get("equal_cbr"):
                        r_eq = smallest_rate_within(uep_uses, lambda r, c=codec, m=msg, d=delivery:
                                                    planned_channel_uses(c, m, [rates[0], r], d, cfg))
                        if r_eq is None:
                            raise ConfigError(f"no code rate spends at most the UEP channel uses ({uep_uses}) on {name}")
                        var_rates = [rates[0], r_eq]
                        extra = {"matched_to": "ours_uep", "cbr_target": uep_uses / img.numel()}
                    for snr in cfg.snr_db:
                        # common random numbers: every variant sees the same channel draws (paired comparison)
                        session = transmission_session(cfg, index, seed, snr, delivery, variant)
                        out = send_seb(codec, msg, var_rates, delivery, links, snr, _seed(name, seed, snr, delivery), cfg,
                                    session)
                        records.append(_record(variant, name, seed, snr, delivery, out, img, var_rates, **extra))
                        bar.update(1)
    bar.close()
    kbs = {"ours_uep": kb}
    if cfg.matched:
        for sizes in cfg.matched_kb_sizes:  # finer KBs for the larger budgets of the baselines
            if list(sizes) != list(cfg.kb_sizes):
                kbs[f"ours_uep_kb{sizes[0]}"] = build_kb_from_crops(ext, cfg.fine_patch, list(sizes), cfg.kb_crops, cfg.seed)
    matched_records = run_matched(cfg, kbs, ext, crops, links) if cfg.matched else []
    summary = summarise(records)
    data = {"records": records, "summary": summary, "matched_records": matched_records,
            "matched_summary": summarise(matched_records, keys=("method", "snr_db")),
            "claims": check_claims(summary),
            "kb": {"sizes": kb.sizes, "index_bits": [kb.index_bits(0), kb.index_bits(1)], "version": kb.version}}
    checks = {n: s for n, _, s in images}
    return Results(NAME, data, provenance(cfg, seed=cfg.seed, data_checksums=checks))


def run_matched(cfg: SebSweepConfig, kbs: Mapping[str, Any], ext: Any, crops: list, links: SebLinks) -> list[dict]:
    """Baselines at the CBR where they can be measured, and the Seb codec at the same budget (module doc),
    once per KB of ``kbs`` (label -> KB; records are named ``<label>@<baseline>``). The baselines' points
    go through the compare core's point runner (:func:`semcom.systems.comparison.run_point`)."""
    from semcom.models import list_pretrained
    from semcom.systems.comparison import _system, reference_channel_uses, run_point
    from tqdm import tqdm

    records: list[dict] = []
    available = set(list_pretrained())
    learned = [n for n in cfg.learned_baselines if n in available]
    for n in set(cfg.learned_baselines) - available:
        records.append({"method": n, "error": "checkpoint not available"})
    total = len(crops) * (len(cfg.baselines) + len(learned)) * len(cfg.seeds) * len(cfg.snr_db) * (1 + len(kbs))
    bar = tqdm(total=total, desc="seb matched", disable=not cfg.progress)
    for index, (name, img) in enumerate(crops):
        n_values = img.numel()
        targets = []
        for codec_name in cfg.baselines:
            sys_cfg = {"codec": codec_name, "fidelity": cfg.fidelity, "modulation_order": 2, "code_rate": float(cfg.rates[1]),
                       "channel": cfg.channel, "loss_policy": "corrupt"}
            cbr = smallest_fitting_cbr(sys_cfg, img)
            if cbr is None:
                records.append({"method": codec_name, "image": name, "error": "does not fit at CBR 0.5"})
                continue
            spec = {"name": "separation", "options": {"config": {**sys_cfg, "cbr": cbr}}}
            targets.append((codec_name, _system(spec, cfg.channel, None).budget(img.shape), spec))
        for ck in learned:
            spec = {"name": "learned", "options": {"ckpt": ck}}
            targets.append((ck, reference_channel_uses(_system(spec, cfg.channel, None), img, 10.0), spec))
        for method, budget, spec in targets:
            target_cbr = budget / n_values
            sebs = {label: matched_seb(kb, ext, img, budget, cfg) for label, kb in kbs.items()}
            for seed in cfg.seeds:
                for snr in cfg.snr_db:
                    gen = _seed(name, seed, snr, "matched")
                    r = run_point(dict(spec=spec, label=method, channel=cfg.channel, source=img, image=name,
                                       snr_db=float(snr), seed=gen, raise_errors=True))
                    records.append({"method": method, "image": name, "seed": seed, "snr_db": float(snr),
                                    "cbr": r["cbr"], "cbr_target": target_cbr, "status": r["status"],
                                    "psnr_db": r["psnr"], "ms_ssim": r["ms_ssim"]})
                    bar.update(1)
                    for label, seb in sebs.items():
                        bar.update(1)
                        if seb is None:
                            records.append({"method": f"{label}@{method}", "image": name, "seed": seed, "snr_db": float(snr),
                                            "error": "no Seb configuration fits this budget"})
                            continue
                        codec, msg, rates, ratio = seb
                        out = send_seb(codec, msg, rates, "corrupt", links, snr, gen, cfg,
                                    transmission_session(cfg, index, seed, snr, "corrupt", f"{label}@{method}"))
                        records.append(_record(f"{label}@{method}", name, seed, snr, "corrupt", out, img, rates,
                                               cbr_target=target_cbr, fine_ratio=ratio, kb_sizes=list(codec.kb.sizes)))
    bar.close()
    return records


def summarise(records: list[dict], keys: Sequence[str] = ("method", "delivery", "snr_db")) -> list[dict]:
    """Mean PSNR / MS-SSIM / CBR per ``keys`` (default method, delivery, SNR); ``cbr_target`` when set;
    ``kb_mismatches``: transmissions whose header named another KB (failed, mid-grey image)."""
    out = []
    rows_all = [r for r in records if "snr_db" in r and "psnr_db" in r]
    groups = sorted({tuple(r.get(k) for k in keys) for r in rows_all}, key=lambda t: tuple(str(x) if not isinstance(x, float) else f"{x:09.3f}" for x in t))
    for g in groups:
        rows = [r for r in rows_all if tuple(r.get(k) for k in keys) == g]
        ms = [r["ms_ssim"] for r in rows if r.get("ms_ssim") is not None]
        row = dict(zip(keys, g))
        row.update({"n": len(rows), "psnr_db": float(np.mean([r["psnr_db"] for r in rows])),
                    "psnr_sem": float(np.std([r["psnr_db"] for r in rows], ddof=1) / math.sqrt(len(rows))) if len(rows) > 1 else None,
                    "ms_ssim": float(np.mean(ms)) if ms else None,
                    "cbr": float(np.mean([r["cbr"] for r in rows])),
                    "kb_mismatches": int(sum(bool(r.get("kb_mismatch")) for r in rows))})
        targets = [r["cbr_target"] for r in rows if r.get("cbr_target") is not None]
        if targets:
            row["cbr_target"] = float(np.mean(targets))
        if any("fine_ratio" in r for r in rows):
            row["fine_ratio"] = float(np.mean([r["fine_ratio"] for r in rows if "fine_ratio" in r]))
        out.append(row)
    return out


def check_claims(summary: list[dict]) -> dict:
    """The paper's Fig. 8 claims on this run, per delivery: mean PSNR over the SNRs below the
    error-free point, and the number of those SNRs at which each comparison holds."""
    out: dict = {}
    for delivery in sorted({r.get("delivery") for r in summary}):
        rows = {(r["method"], r["snr_db"]): r for r in summary if r.get("delivery") == delivery}
        methods = {m for m, _ in rows}
        snrs = sorted({s for _, s in rows})
        if "ours_uep" not in methods:
            continue
        ceiling = max(r["psnr_db"] for r in rows.values())
        below = [s for s in snrs if rows.get(("ours_uep", s)) and rows[("ours_uep", s)]["psnr_db"] < ceiling - 0.05]
        d: dict = {"snr_below_error_free": below}
        for a, b in (("ours_uep", "ours_random_uep"), ("ours_uep", "ours_no_uep"), ("ours_uep", "ours_no_uep_eqcbr"),
                     ("ours_uep_sebwise", "ours_uep"), ("ours_no_uep_sebwise", "ours_no_uep")):
            if a in methods and b in methods and below:
                diff = [rows[(a, s)]["psnr_db"] - rows[(b, s)]["psnr_db"] for s in below]
                d[f"{a}_vs_{b}"] = {"mean_gain_db": float(np.mean(diff)), "wins": int(sum(x > 0 for x in diff)),
                                    "of": len(diff), "cbr": [rows[(a, below[0])]["cbr"], rows[(b, below[0])]["cbr"]]}
        out[delivery] = d
    return out


def plot(results: Results, out_dir: str | Path) -> list[Path]:
    """PSNR and MS-SSIM versus SNR (one panel per delivery), and the equal-CBR comparison."""
    from semcom.report.plots import metric_vs_snr

    s = [{**r, "method": f"{r['method']} (CBR {r['cbr']:.4f})"} for r in results.data["summary"]]
    out = Path(out_dir)
    paths = [metric_vs_snr(s, "psnr_db", "PSNR [dB]", out / "seb_sweep_psnr.png", series=["method"], panels="delivery"),
             metric_vs_snr([r for r in s if r["ms_ssim"] is not None], "ms_ssim", "MS-SSIM",
                           out / "seb_sweep_msssim.png", series=["method"], panels="delivery")]
    m = results.data.get("matched_summary") or []
    if m:
        rows = [{**r, "method": f"{r['method'].split('@')[0]} (CBR {r['cbr']:.4f})",
                 "baseline": r["method"].split("@")[-1]} for r in m]
        paths.append(metric_vs_snr(rows, "psnr_db", "PSNR [dB]", out / "seb_sweep_matched_psnr.png", series=["method"],
                                   panels="baseline"))
    return paths


def demo_section(report: Any, out_dir: str | Path, quick: bool = False) -> dict:
    """Add a short Seb section to ``report`` (a :class:`semcom.report.html.HtmlReport`).

    One tiny test photo (centre ``128 x 128``, ``96 x 96`` when ``quick``) is encoded with the
    committed learned extractor (``semcom/checkpoints/seb_autoencoder.pt`` inside the package; the
    pixel extractor when it is absent) and a small KB built from training crops, and decoded error-free. The figure shows the
    original, the reconstruction, the region importance (saliency) and the fine/coarse map. Returns
    the section's numbers (PSNR, ``s_idx`` bits with the header, bpp); no channel is simulated here.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semcom import data
    from semcom.metrics import psnr
    from semcom.report.plots import save_figure

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from semcom.models.seb import pretrained_seb_path

    kind, patch = ("learned", 16) if pretrained_seb_path().is_file() else ("pixel", 8)
    ext = make_extractor(kind, patch)
    sizes, crops = ([128, 32], 120) if quick else ([256, 64], 300)
    kb = build_kb_from_crops(ext, patch, sizes, crops, seed=0)
    size = 96 if quick else 128
    im = data.test_images(subset="tiny", size=size)[0]
    img = im.image
    codec = SebCodec(kb, ext, SebCodecConfig(patch, 2 * patch, 0.2, 0.5, "importance"))
    with torch.no_grad():
        msg = codec.encode(img, generator=0)
        rec = codec.decode(msg.header_bits, msg.class_bits).clamp(0, 1)
    c = 2 * patch
    grid = (size // c, size // c)
    imp = msg.importance.reshape(grid).numpy()
    fine = msg.fine_mask.reshape(grid).float().numpy()
    value = float(psnr(rec, img))
    fig, ax = plt.subplots(1, 4, figsize=(10, 2.8))
    panels = [(img[0].permute(1, 2, 0).numpy(), "original", None),
              (rec[0].permute(1, 2, 0).numpy(), f"Seb reconstruction ({value:.1f} dB)", None),
              (imp, "region importance", "magma"), (fine, "fine (white) / coarse (black)", "gray")]
    for a, (arr, title, cmap) in zip(ax, panels):
        a.imshow(arr, cmap=cmap, interpolation="nearest", **({"vmin": 0, "vmax": 1} if cmap == "gray" else {}))
        a.set_title(title, fontsize=9)
        a.axis("off")
    path = save_figure(fig, out / "seb_demo.png", dpi=90)
    info = {"image": im.name, "size": size, "extractor": kind, "fine_patch": patch, "kb_sizes": kb.sizes,
            "psnr_db": value, "bits": msg.num_bits, "bpp": msg.num_bits / (size * size),
            "fine_regions": int(msg.fine_mask.sum()), "regions": msg.num_regions}
    report.heading("Explicit semantic bases (seb)")
    report.paragraph(f"{im.name} ({size}x{size}) coded as Seb indices from a KB of {kb.sizes} fine/coarse Sebs "
                     f"({kind} extractor): the 20 % most important regions get fine Sebs, the rest coarse ones. "
                     f"Error-free decoding; the channel sweep is `semcom seb sweep`.")
    report.image(path, "original, reconstruction, region importance (saliency), fine/coarse map")
    report.table(["extractor", "bits", "bpp", "fine regions", "PSNR [dB]"],
                 [[kind, msg.num_bits, info["bpp"], f"{info['fine_regions']} / {info['regions']}", value]])
    return info


def main(argv: Sequence[str] | None = None) -> int:
    from semcom import cliargs

    t = cliargs.typed
    p = cliargs.ArgumentParser(prog="semcom seb sweep", description=__doc__.split("\n")[0])
    add_common_arguments(p, default_out="results/seb", parallel=False)
    p.add_argument("--snr", type=t(cliargs.parse_snr_list), default=None, help="SNR list, e.g. 0,2,4 or 0:6:1")
    p.add_argument("--images", type=t(cliargs.parse_image_set), default=None,
                   help="'tiny', 'all', 'all-256' or a folder of your images")
    p.add_argument("--extractor", default=None, choices=["pixel", "learned"])
    p.add_argument("--fidelity", default=None, choices=["bittrue", "bler_table", "erasure", "capacity"],
                   help="link model (default bittrue)")
    p.add_argument("--checkpoint", type=t(cliargs.parse_existing_file, what="checkpoint"), default=None,
                   help="your own extractor checkpoint (learned extractor; default: the committed one)")
    p.add_argument("--via-stack", dest="via_stack", action="store_true", default=None,
                   help="send through the protocol stack (CBR with every header); on by default")
    p.add_argument("--no-via-stack", dest="via_stack", action="store_false",
                   help="only the direct bit-true link (corrupt delivery)")
    p.add_argument("--no-matched", action="store_true", help="skip the equal-CBR baselines")
    a = p.parse_args(argv)
    cfg = load_config_file(a.config)
    cfg.update(cliargs.given(a, ("images", "extractor", "fidelity", "checkpoint", "seed")))
    if a.snr is not None:
        cfg["snr_db"] = a.snr
    if a.via_stack is not None:
        cfg["deliveries"] = ["stack", "corrupt"] if a.via_stack else ["corrupt"]
    if a.no_matched:
        cfg["matched"] = False
    if a.no_progress:
        cfg["progress"] = False
    checked = from_dict(SebSweepConfig, cfg)
    cliargs.check_applies("--checkpoint", a.checkpoint is not None, checked.extractor == "learned",
                          "only the learned extractor loads a checkpoint (--extractor learned)")
    cliargs.check_snr_values(checked.snr_db)
    cliargs.check_out_dir(a.out)
    res = run(checked)
    tag = checked.extractor
    res.save(a.out, f"seb_sweep_{tag}.json")
    plot(res, Path(a.out) / tag)
    for r in res.data["summary"] + res.data["matched_summary"]:
        print(f"{r['method']:>36} {r.get('delivery') or 'corrupt':>7} {r['snr_db']:5.1f} dB  PSNR {r['psnr_db']:6.2f}  "
              f"MS-SSIM {r['ms_ssim'] or float('nan'):.3f}  CBR {r['cbr']:.4f}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from semcom.cliargs import guarded

    raise SystemExit(guarded(main))
