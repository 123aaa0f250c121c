"""``semcom sesc visual``: a visual example of SE-SC on the detection task (the paper's Fig. 4).

One face test scene sent at ``snr_db`` over slow Rayleigh fading with threshold ``mu``: the source
with its ground-truth boxes, the weight vector as a heat map, the sent patches (unsent ones greyed),
the reconstruction with the detector's boxes, and full-feature transmission for comparison. Writes a
PNG and a JSON with the numbers shown.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from semcom.experiments.results import Results, provenance
from semcom.utils import from_dict

NAME = "sesc_visual"


@dataclasses.dataclass
class VisualConfig:
    checkpoint: str = "sesc_rayleigh"  # committed name or .pt path of the SE-SC codec
    scene: str = "composite_1"
    mu: float = 0.2
    snr_db: float = 15.0
    weights: str = "task"
    n_composites: int = 16
    size: int = 256
    seed: int = 0


def run(config: VisualConfig | dict | None = None) -> tuple[Results, dict]:
    from semcom.data.face_scenes import face_scenes
    from semcom.errors import InputError
    from semcom.experiments.sesc_common import load_codec, scene_checksums, send, weight_fn
    from semcom.metrics import psnr
    from semcom.semantics.sesc import threshold_mask

    cfg = config if isinstance(config, VisualConfig) else from_dict(VisualConfig, config or {})
    codec = load_codec(cfg.checkpoint)
    scenes = [s for s in face_scenes(cfg.n_composites, cfg.size, cfg.seed) if s.name == cfg.scene]
    if not scenes:
        raise InputError(f"no scene {cfg.scene!r}")
    s = scenes[0]
    w = weight_fn(cfg.weights, codec, cfg.seed)(s.image, codec.config.patch_size)
    keep = threshold_mask(w, cfg.mu)
    part = send(codec, s.image, keep, cfg.snr_db, cfg.seed)
    full = send(codec, s.image, None, cfg.snr_db, cfg.seed)
    arrays = {"source": s.image, "weights": w, "keep": keep, "part": part, "full": full, "gt": s.boxes}
    data = {"scene": s.name, "sent": int(keep.sum()), "patches": int(keep.size), "channel_uses": part["channel_uses"],
            "channel_uses_full": full["channel_uses"], "side_bits": part["side_bits"],
            "psnr_db": float(psnr(s.image, part["image"])[0]), "psnr_full_db": float(psnr(s.image, full["image"])[0]),
            "detections": part["detections"].boxes.tolist(), "scores": part["detections"].scores.tolist(),
            "detections_full": full["detections"].boxes.tolist(), "ground_truth": s.boxes.tolist(),
            "codec": codec.metadata.get("name", cfg.checkpoint), "weights": cfg.weights}
    return Results(NAME, data, provenance(cfg, cfg.seed, scene_checksums([s]))), arrays


def plot(results: Results, arrays: dict, out_dir: str | Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from semcom.experiments.sesc_common import codec_tag
    from semcom.report.plots import save_figure

    d = results.data
    img = lambda t: t[0].permute(1, 2, 0).numpy()  # noqa: E731
    src = img(arrays["source"])
    h, w = src.shape[:2]
    g = int(np.sqrt(arrays["keep"].size * w / h))
    gh = arrays["keep"].size // g
    sent = src.copy()
    mask = np.kron(arrays["keep"].reshape(gh, g), np.ones((h // gh, w // g)))[..., None]
    sent = sent * mask + 0.5 * (1 - mask)
    panels = [("source + ground truth", src, arrays["gt"], None),
              (f"weight vector ({d['sent']}/{d['patches']} >= mu)", arrays["weights"].reshape(gh, g), None, "hot"),
              ("sent patches", sent, None, None),
              (f"SE-SC, {d['channel_uses']} uses", img(arrays["part"]["image"]), arrays["part"]["detections"].boxes, None),
              (f"full features, {d['channel_uses_full']} uses", img(arrays["full"]["image"]), arrays["full"]["detections"].boxes, None)]
    fig, axes = plt.subplots(1, 5, figsize=(17, 3.8))
    for ax, (title, im, boxes, cmap) in zip(axes, panels):
        ax.imshow(im, cmap=cmap, vmin=0, vmax=1)
        for b in (boxes if boxes is not None else []):
            ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, color="lime", lw=2))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    return [save_figure(fig, Path(out_dir) / f"{NAME}{codec_tag(d.get('codec', ''))}.png", dpi=100)]


def main(argv: Sequence[str] | None = None) -> int:
    from semcom import cliargs
    from semcom.experiments.sesc_common import WEIGHT_MODELS, codec_tag

    t = cliargs.typed
    ap = cliargs.ArgumentParser(prog="semcom sesc visual", description=__doc__.strip().split("\n\n")[0])
    ap.add_argument("--scene", default=None)
    ap.add_argument("--weights", default=None, choices=list(WEIGHT_MODELS), help="weight model: " + ", ".join(WEIGHT_MODELS))
    ap.add_argument("--mu", type=t(cliargs.parse_float, what="mu", lo=0.0, hi=1.0), default=None)
    ap.add_argument("--snr", type=t(cliargs.parse_snr), default=None)
    ap.add_argument("--checkpoint", default=None, help="SE-SC codec: sesc_rayleigh (default), sesc_cnn_rayleigh or a .pt file")
    ap.add_argument("--out", default="results/sesc")
    a = ap.parse_args(argv)
    cliargs.check_out_dir(a.out)
    d = {k: v for k, v in (("scene", a.scene), ("mu", a.mu), ("snr_db", a.snr), ("weights", a.weights),
                                            ("checkpoint", a.checkpoint)) if v is not None}
    res, arrays = run(d)
    path = res.save(a.out, f"{NAME}{codec_tag(res.data['codec'])}.json")
    plot(res, arrays, a.out)
    r = res.data
    print(f"{r['scene']}: {r['sent']}/{r['patches']} patches, {r['channel_uses']} uses (full {r['channel_uses_full']}), "
          f"PSNR {r['psnr_db']:.2f} dB (full {r['psnr_full_db']:.2f}), {len(r['detections'])} detections")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


def demo_section(report: Any, out_dir: str | Path) -> dict:
    """The demo's SE-SC section: the visual example (weights, sent patches, reconstruction,
    detections) on one composite scene with the committed codec; returns its numbers."""
    res, arrays = run({})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figs = plot(res, arrays, out)
    d = res.data
    report.heading("SE-SC: scalable extraction (masked transformer, task-relevance weights)")
    report.paragraph(
        f"{d['scene']}: {d['sent']} of {d['patches']} patches sent (weights >= mu), {d['channel_uses']} channel uses "
        f"against {d['channel_uses_full']} for every patch, PSNR {d['psnr_db']:.2f} dB (every patch: "
        f"{d['psnr_full_db']:.2f} dB). The CPU-trained codec and the paper's claims: docs/sesc.md.")
    for f in figs:
        report.image(f, "SE-SC visual example (Fig. 4)")
    return {k: d[k] for k in ("scene", "sent", "patches", "channel_uses", "channel_uses_full", "psnr_db", "psnr_full_db")}
