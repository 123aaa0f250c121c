"""Quality versus SNR on AWGN: Seb codec with UEP, random UEP, no UEP, and classical baselines (seb paper Fig. 8).

``semcom seb sweep``. For every image x SNR x seed, the Seb codec (KB from training crops, fine
Sebs for the top ``fine_ratio`` regions) sends its ``s_idx`` over the 5G NR link:

* ``ours_uep``: the 50 % most important regions' indices (and the header) with LDPC 1/2 + QPSK, the
  rest with 2/3 + QPSK;
* ``ours_random_uep``: the protected half chosen at random;
* ``ours_no_uep``: everything at 2/3 + QPSK.

Baselines (``baselines``, e.g. ``["jpeg2000", "heif"]``) run through
:class:`semcom.baselines.SeparationSystem` over LDPC 2/3 + QPSK at the mean CBR ``ours_uep``
used on that image (equal CBR). CBR counts every channel use (header, indices, CRC, coding).
PSNR is the mean of per-image PSNR; MS-SSIM likewise. LPIPS is not reported (no offline weights).
"""

from __future__ import annotations

import argparse
import dataclasses
import zlib
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from semcom.errors import ConfigError
from semcom.experiments.common import add_common_arguments, load_config_file, load_image_set, parse_floats
from semcom.experiments.results import Results, provenance
from semcom.experiments.seb_common import build_kb_from_crops, make_extractor, make_link
from semcom.semantics.seb import SebCodec, SebCodecConfig, send_over_link
from semcom.utils import from_dict

NAME = "seb_sweep"
VARIANTS = {"ours_uep": "importance", "ours_random_uep": "random", "ours_no_uep": "none"}


@dataclasses.dataclass
class SebSweepConfig:
    images: str = "tiny"
    snr_db: list = dataclasses.field(default_factory=lambda: [-1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 6.0])
    seeds: list = dataclasses.field(default_factory=lambda: [0, 1])
    variants: list = dataclasses.field(default_factory=lambda: list(VARIANTS))
    baselines: list = dataclasses.field(default_factory=lambda: ["jpeg2000", "heif"])
    extractor: str = "pixel"
    checkpoint: str | None = None
    fine_patch: int = 8
    fine_ratio: float = 0.2
    protect_ratio: float = 0.5
    kb_sizes: list = dataclasses.field(default_factory=lambda: [1024, 256])
    kb_crops: int = 400
    fidelity: str = "bittrue"
    channel: str = "awgn"
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.variants) - set(VARIANTS)
        if unknown:
            raise ConfigError(f"unknown variants {sorted(unknown)}; known: {list(VARIANTS)}")


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


def run(config: SebSweepConfig | Mapping[str, Any] | None = None) -> Results:
    cfg = config if isinstance(config, SebSweepConfig) else from_dict(SebSweepConfig, config or {})
    ext = make_extractor(cfg.extractor, cfg.fine_patch, cfg.checkpoint)
    kb = build_kb_from_crops(ext, cfg.fine_patch, list(cfg.kb_sizes), cfg.kb_crops, cfg.seed)
    links = [make_link(cfg.fidelity, 2, 0.5, cfg.channel), make_link(cfg.fidelity, 2, 2 / 3, cfg.channel)]
    images = load_image_set(cfg.images)
    records = []
    for name, img, _ in images:
        h, w = img.shape[-2:]
        c = 2 * cfg.fine_patch
        img = img[..., : h // c * c, : w // c * c].contiguous()
        n_values = img.numel()
        cbr_ref = []
        for variant in cfg.variants:
            codec = SebCodec(kb, ext, SebCodecConfig(cfg.fine_patch, 2 * cfg.fine_patch, cfg.fine_ratio,
                                                     cfg.protect_ratio, VARIANTS[variant]))
            for seed in cfg.seeds:
                msg = codec.encode(img, generator=seed)
                for snr in cfg.snr_db:
                    out = send_over_link(codec, msg, links, snr, generator=_seed(seed, snr, variant))
                    rec = {"method": variant, "image": name, "seed": seed, "snr_db": float(snr),
                           "cbr": out.channel_uses / n_values, "bits": out.bits, "header_ok": out.header_ok,
                           "cb_ok_class0": out.class_cb_ok[0], "cb_ok_class1": out.class_cb_ok[1],
                           **_metrics(img, out.image)}
                    records.append(rec)
                    if variant == "ours_uep":
                        cbr_ref.append(rec["cbr"])
        if cfg.baselines:
            from semcom.baselines import SeparationSystem

            cbr = float(np.mean(cbr_ref)) if cbr_ref else None
            for codec_name in cfg.baselines:
                try:
                    system = SeparationSystem({"codec": codec_name, "cbr": cbr, "fidelity": cfg.fidelity,
                                               "modulation_order": 2, "code_rate": 2 / 3, "channel": cfg.channel})
                except Exception as exc:  # noqa: BLE001 - record why a baseline could not run
                    records.append({"method": codec_name, "image": name, "error": f"{type(exc).__name__}: {exc}"})
                    continue
                for seed in cfg.seeds:
                    for snr in cfg.snr_db:
                        o = system.transmit(img, snr, seed=_seed(seed, snr, codec_name))
                        records.append({"method": codec_name, "image": name, "seed": seed, "snr_db": float(snr),
                                        "cbr": o.channel_uses / n_values, "status": o.status, **_metrics(img, o.image)})
    summary = summarise(records)
    data = {"records": records, "summary": summary, "kb": {"sizes": kb.sizes, "index_bits": [kb.index_bits(0), kb.index_bits(1)],
                                                           "version": kb.version}}
    checks = {n: s for n, _, s in images}
    return Results(NAME, data, provenance(cfg, seed=cfg.seed, data_checksums=checks))


def summarise(records: list[dict]) -> list[dict]:
    """Mean PSNR / MS-SSIM / CBR per (method, SNR)."""
    out = []
    keys = sorted({(r["method"], r["snr_db"]) for r in records if "snr_db" in r})
    for method, snr in keys:
        rows = [r for r in records if r.get("method") == method and r.get("snr_db") == snr]
        ms = [r["ms_ssim"] for r in rows if r.get("ms_ssim") is not None]
        out.append({"method": method, "snr_db": snr, "n": len(rows),
                    "psnr_db": float(np.mean([r["psnr_db"] for r in rows])),
                    "ms_ssim": float(np.mean(ms)) if ms else None,
                    "cbr": float(np.mean([r["cbr"] for r in rows]))})
    return out


def plot(results: Results, out_dir: str | Path) -> list[Path]:
    from semcom.report.plots import metric_vs_snr

    s = results.data["summary"]
    out = Path(out_dir)
    return [metric_vs_snr(s, "psnr_db", "PSNR [dB]", out / "seb_sweep_psnr.png", series=["method"]),
            metric_vs_snr([r for r in s if r["ms_ssim"] is not None], "ms_ssim", "MS-SSIM",
                          out / "seb_sweep_msssim.png", series=["method"])]


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
    fig.tight_layout()
    path = out / "seb_demo.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
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
    p = argparse.ArgumentParser(prog="semcom seb sweep", description=__doc__.split("\n")[0])
    add_common_arguments(p, default_out="results/seb")
    p.add_argument("--snr", default=None, help="SNR list, e.g. 0,2,4 or 0:6:1")
    p.add_argument("--images", default=None)
    p.add_argument("--extractor", default=None, choices=["pixel", "learned"])
    p.add_argument("--fidelity", default=None)
    p.add_argument("--checkpoint", default=None, help="your own extractor checkpoint (default: the committed one)")
    a = p.parse_args(argv)
    cfg = load_config_file(a.config)
    if a.snr:
        cfg["snr_db"] = parse_floats(a.snr)
    for key in ("images", "extractor", "fidelity", "checkpoint"):
        if getattr(a, key) is not None:
            cfg[key] = getattr(a, key)
    cfg.setdefault("seed", a.seed)
    res = run(cfg)
    tag = cfg.get("extractor", "pixel")
    res.save(a.out, f"seb_sweep_{tag}.json")
    plot(res, Path(a.out) / tag)
    for r in res.data["summary"]:
        print(f"{r['method']:>16} {r['snr_db']:5.1f} dB  PSNR {r['psnr_db']:6.2f}  MS-SSIM {r['ms_ssim'] or float('nan'):.3f}  CBR {r['cbr']:.4f}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
