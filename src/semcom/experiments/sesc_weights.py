"""``semcom sesc weights``: the two semantic-aware models of Table I compared at equal symbols.

(a) ``task``: relevance from the face detector's output on the source
(:class:`semcom.semantics.sesc_weights.TaskRelevance`); (a, learned) ``cnn``: the relevance CNN
trained here (:class:`CNNRelevance`, checkpoint ``sesc_relevance``); (b) ``entropy``: information content under a
Gaussian-mixture model of the codec's patch embeddings (:class:`EntropyWeights`); ``random``: a
control. For each fraction of the full feature count, every model sends exactly the same number K
of patches (its K most important ones: equal analog symbols; the mask codes differ and are reported)
over slow Rayleigh fading at each SNR; the task metric is face-detection AP@0.5 and mAP@0.5:0.95
over the face test scenes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np

from semcom.experiments.results import Results, provenance
from semcom.utils import from_dict

NAME = "sesc_weights"


@dataclasses.dataclass
class WeightsConfig:
    checkpoint: str = "sesc_rayleigh"  # committed name or .pt path of the SE-SC codec
    fractions: list = dataclasses.field(default_factory=lambda: [0.1, 0.2, 0.3, 0.5])
    models: list = dataclasses.field(default_factory=lambda: ["task", "cnn", "entropy", "random"])
    snr_db: list = dataclasses.field(default_factory=lambda: [5.0, 15.0])
    n_composites: int = 16
    size: int = 256
    seeds: int = 1
    seed: int = 0
    detector_range: str = "full"  # the task model: MediaPipe's full-range (default) or short-range detector


def run(config: WeightsConfig | dict | None = None, progress: bool = True) -> Results:
    from tqdm import tqdm

    from semcom.data.face_scenes import face_scenes
    from semcom.experiments.sesc_common import load_codec, scene_checksums, send, weight_fn
    from semcom.metrics.detection import detection_qos
    from semcom.semantics.sesc import top_k_mask

    cfg = config if isinstance(config, WeightsConfig) else from_dict(WeightsConfig, config or {})
    codec = load_codec(cfg.checkpoint)
    p = codec.config.patch_size
    scenes = face_scenes(cfg.n_composites, cfg.size, cfg.seed)
    n = codec.n_patches(cfg.size, cfg.size)
    gts = [s.boxes for s in scenes] * cfg.seeds
    rows = []
    bar = tqdm(total=len(cfg.models) * len(cfg.fractions) * len(cfg.snr_db), desc="sesc weights", disable=not progress)
    for model in cfg.models:
        wf = weight_fn(model, codec, cfg.seed, cfg.detector_range)
        ws = [wf(s.image, p) for s in scenes]
        for f in cfg.fractions:
            k = max(1, int(round(f * n)))
            masks = [top_k_mask(w, k) for w in ws]
            for snr in cfg.snr_db:
                dets, side, sym = [], [], []
                for sd in range(cfg.seeds):
                    for i, s in enumerate(scenes):
                        r = send(codec, s.image, masks[i], snr, cfg.seed + 1000 * sd + i, detector_range=cfg.detector_range)
                        dets.append(r["detections"])
                        side.append(r["side_bits"])
                        sym.append(r["symbols"])
                q = detection_qos(dets, gts)
                rows.append({"model": model, "fraction": f, "k": k, "snr_db": snr, **q,
                             "symbols": float(np.mean(sym)), "side_bits": float(np.mean(side))})
                bar.update(1)
    bar.close()
    return Results(NAME, {"rows": rows, "patches": n, "detector_range": cfg.detector_range, "codec": codec.metadata.get("name", cfg.checkpoint)},
                   provenance(cfg, cfg.seed, scene_checksums(scenes)))


def plot(results: Results, out_dir: str | Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results.data["rows"]
    snrs = sorted({r["snr_db"] for r in rows})
    fig, axes = plt.subplots(1, len(snrs), figsize=(5 * len(snrs), 4), squeeze=False)
    for ax, snr in zip(axes[0], snrs):
        for m in dict.fromkeys(r["model"] for r in rows):
            rr = [r for r in rows if r["model"] == m and r["snr_db"] == snr]
            ax.plot([r["fraction"] for r in rr], [r["ap50"] for r in rr], marker="o", label=m)
        ax.set_xlabel("fraction of patches sent (equal symbols per model)")
        ax.set_ylabel("AP@0.5")
        ax.set_title(f"{snr:g} dB, slow Rayleigh")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    from semcom.experiments.sesc_common import codec_tag, save_figure

    return [save_figure(fig, results, out_dir, NAME + codec_tag(results.data["codec"]))]


def main(argv: Sequence[str] | None = None) -> int:
    from semcom import cliargs
    from semcom.experiments.sesc_common import WEIGHT_MODELS, codec_tag

    t = cliargs.typed
    ap = cliargs.ArgumentParser(prog="semcom sesc weights", description=__doc__.strip().split("\n\n")[0])
    ap.add_argument("--snr", type=t(cliargs.parse_snr_list), default=None, help="SNRs in dB: a comma list or A:B:STEP")
    ap.add_argument("--composites", type=t(cliargs.parse_int, what="composites", lo=0, hi=1000), default=None)
    ap.add_argument("--seeds", type=t(cliargs.parse_int, what="seeds", lo=1, hi=1000), default=None)
    ap.add_argument("--models", type=t(cliargs.parse_choice_list, choices=WEIGHT_MODELS, what="weight model"), default=None,
                    help="comma-separated weight models: " + ", ".join(WEIGHT_MODELS))
    ap.add_argument("--detector", default=None, choices=["full", "short"], help="MediaPipe face-detection model range")
    ap.add_argument("--checkpoint", default=None, help="SE-SC codec: sesc_rayleigh (default), sesc_cnn_rayleigh or a .pt file")
    ap.add_argument("--out", default="results/sesc")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    cliargs.check_out_dir(a.out)
    d: dict = {k: v for k, v in (("n_composites", a.composites), ("seeds", a.seeds), ("detector_range", a.detector),
                                 ("models", a.models), ("checkpoint", a.checkpoint))
               if v is not None}
    if a.snr:
        d["snr_db"] = a.snr
    res = run(d, progress=not a.no_progress)
    short = "_short" if res.data["detector_range"] != "full" else ""
    path = res.save(a.out, f"{NAME}{codec_tag(res.data['codec'])}{short}.json")
    plot(res, a.out)
    for r in res.data["rows"]:
        print(f"{r['model']:8s} {r['fraction']:.2f} {r['snr_db']:5.1f} dB AP50 {r['ap50']:.3f} mAP {r['map']:.3f} side {r['side_bits']:.0f} bits")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
