"""``semcom sesc similarity``: semantic similarity versus the number L of sent features (the paper's Fig. 2).

Fu et al., Sec. III: the similarity rises with L in the semantic-parsing (SP) region and saturates
beyond ``L_opt`` (the semantic-explicit, SE, region). Here the L most important patches (weight
model ``weights``, default ``task``; and a random order as a control) of each face test scene are
sent by the committed SE-SC codec over slow Rayleigh fading at ``snr_db``.

Feature space of the similarity: the task model's output space. MediaPipe's face detector exposes no
embedding, so the semantic similarity of a reconstruction is the mean, over the faces the detector
finds on the clean source, of the IoU between that detection and the best-matching detection on the
reconstruction (0 when none matches): 1 when the task model sees the same faces at the same
places. PSNR and MS-SSIM (pixel space) are recorded beside it. ``L_opt`` is the smallest L whose mean
similarity reaches ``plateau`` (default 98 %) of the largest mean over L.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np

from semcom.errors import ConfigError
from semcom.experiments.results import Results, provenance
from semcom.utils import from_dict

NAME = "sesc_similarity"


@dataclasses.dataclass
class SimilarityConfig:
    checkpoint: str = "sesc_rayleigh"  # committed name or .pt path of the SE-SC codec
    fractions: list = dataclasses.field(default_factory=lambda: [1 / 64, 1 / 32, 1 / 16, 1 / 8, 3 / 16, 1 / 4,
                                                                 3 / 8, 1 / 2, 5 / 8, 3 / 4, 7 / 8, 1.0])
    orders: list = dataclasses.field(default_factory=lambda: ["task", "random"])
    snr_db: float = 15.0
    n_composites: int = 16
    size: int = 256
    seeds: int = 1
    seed: int = 0
    plateau: float = 0.98
    detector_range: str = "full"  # the task model: MediaPipe's full-range (default) or short-range detector

    def __post_init__(self) -> None:
        if not self.fractions or any(not 0 < f <= 1 for f in self.fractions):
            raise ConfigError("fractions must lie in (0, 1]")
        if not 0 < self.plateau <= 1:
            raise ConfigError("plateau must lie in (0, 1]")


def similarity(ref, det) -> float:
    """Mean over reference detections of the best IoU with a detection of the reconstruction."""
    from semcom.metrics.detection import iou

    if len(ref) == 0:
        return float("nan")
    if len(det) == 0:
        return 0.0
    return float(iou(ref.boxes, det.boxes).max(axis=1).mean())


def run(config: SimilarityConfig | dict | None = None, progress: bool = True) -> Results:
    from tqdm import tqdm

    from semcom.data.face_scenes import face_scenes
    from semcom.experiments.sesc_common import detector, load_codec, scene_checksums, send, weight_fn
    from semcom.metrics import ms_ssim, psnr
    from semcom.semantics.sesc import top_k_mask

    cfg = config if isinstance(config, SimilarityConfig) else from_dict(SimilarityConfig, config or {})
    codec = load_codec(cfg.checkpoint)
    p = codec.config.patch_size
    scenes = face_scenes(cfg.n_composites, cfg.size, cfg.seed)
    n = codec.n_patches(cfg.size, cfg.size)
    ls = sorted({max(1, int(round(f * n))) for f in cfg.fractions})
    refs = [detector(cfg.detector_range)(s.image) for s in scenes]
    rows = []
    bar = tqdm(total=len(cfg.orders) * len(ls) * len(scenes) * cfg.seeds, desc="sesc similarity", disable=not progress)
    for order in cfg.orders:
        wf = weight_fn(order, codec, cfg.seed, cfg.detector_range)
        ws = [wf(s.image, p) for s in scenes]
        for L in ls:
            sims, ps, ms, uses = [], [], [], []
            for sd in range(cfg.seeds):
                for i, s in enumerate(scenes):
                    r = send(codec, s.image, top_k_mask(ws[i], L), cfg.snr_db, cfg.seed + 1000 * sd + i,
                             detector_range=cfg.detector_range)
                    sims.append(similarity(refs[i], r["detections"]))
                    ps.append(float(psnr(s.image, r["image"])[0]))
                    ms.append(float(ms_ssim(s.image, r["image"])[0]))
                    uses.append(r["channel_uses"])
                    bar.update(1)
            rows.append({"order": order, "L": L, "similarity": float(np.nanmean(sims)), "psnr_db": float(np.mean(ps)),
                         "ms_ssim": float(np.mean(ms)), "channel_uses": float(np.mean(uses))})
    bar.close()
    lopt = {}
    for order in cfg.orders:
        rr = [r for r in rows if r["order"] == order]
        top = max(r["similarity"] for r in rr)
        lopt[order] = min(r["L"] for r in rr if r["similarity"] >= cfg.plateau * top)
    data = {"rows": rows, "L_tot": n, "L_opt": lopt, "feature_space": "face-detector output (IoU with the clean source's detections)",
            "detector": detector(cfg.detector_range).describe(), "detector_range": cfg.detector_range, "codec": codec.metadata.get("name", cfg.checkpoint)}
    return Results(NAME, data, provenance(cfg, cfg.seed, scene_checksums(scenes)))


def plot(results: Results, out_dir: str | Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = results.data
    fig, ax = plt.subplots(figsize=(6, 4))
    for order in dict.fromkeys(r["order"] for r in d["rows"]):
        rr = [r for r in d["rows"] if r["order"] == order]
        ax.plot([r["L"] for r in rr], [r["similarity"] for r in rr], marker="o", label=f"{order} order")
        ax.axvline(d["L_opt"][order], ls="--", alpha=0.5, color=ax.lines[-1].get_color())
    ax.set_xlabel(f"L, sent features (of L_tot = {d['L_tot']})")
    ax.set_ylabel("semantic similarity (detector IoU)")
    ax.set_title("SP region left of L_opt, SE region right")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    from semcom.experiments.sesc_common import codec_tag, save_figure

    return [save_figure(fig, results, out_dir, NAME + codec_tag(results.data.get("codec", "")))]


def main(argv: Sequence[str] | None = None) -> int:
    from semcom import cliargs
    from semcom.experiments.sesc_common import WEIGHT_MODELS, codec_tag

    t = cliargs.typed
    ap = cliargs.ArgumentParser(prog="semcom sesc similarity", description=__doc__.strip().split("\n\n")[0])
    ap.add_argument("--snr", type=t(cliargs.parse_snr), default=None)
    ap.add_argument("--orders", type=t(cliargs.parse_choice_list, choices=WEIGHT_MODELS, what="order"), default=None,
                    help="comma-separated weight models giving the sending orders: " + ", ".join(WEIGHT_MODELS))
    ap.add_argument("--composites", type=t(cliargs.parse_int, what="composites", lo=0, hi=1000), default=None)
    ap.add_argument("--seeds", type=t(cliargs.parse_int, what="seeds", lo=1, hi=1000), default=None)
    ap.add_argument("--detector", default=None, choices=["full", "short"], help="MediaPipe face-detection model range")
    ap.add_argument("--checkpoint", default=None, help="SE-SC codec: sesc_rayleigh (default), sesc_cnn_rayleigh or a .pt file")
    ap.add_argument("--out", default="results/sesc")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    cliargs.check_out_dir(a.out)
    d = {k: v for k, v in (("snr_db", a.snr), ("n_composites", a.composites), ("seeds", a.seeds),
                           ("detector_range", a.detector), ("orders", a.orders), ("checkpoint", a.checkpoint))
         if v is not None}
    res = run(d, progress=not a.no_progress)
    short = res.data["detector_range"] != "full"
    path = res.save(a.out, f"{NAME}{codec_tag(res.data['codec'])}{'_short' if short else ''}.json")
    plot(res, a.out)
    for r in res.data["rows"]:
        print(f"{r['order']:7s} L={r['L']:5d} similarity {r['similarity']:.3f} PSNR {r['psnr_db']:.2f} MS-SSIM {r['ms_ssim']:.3f}")
    print("L_opt:", res.data["L_opt"], "of", res.data["L_tot"])
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
