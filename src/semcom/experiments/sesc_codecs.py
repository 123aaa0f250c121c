"""``semcom sesc codecs``: the two scalable semantic codecs of Table I at equal keep ratios.

The masked transformer (:class:`semcom.models.sesc.SESC`, checkpoint ``sesc_rayleigh``) and the
masked CNN (:class:`semcom.models.sesc_cnn.SESCCNN`, ``sesc_cnn_rayleigh``) send the same patches:

* image quality: PSNR and MS-SSIM on the bundled test photos (``tiny``, 256x256) with a random
  subset of a fraction ``f`` of the patches (the same subset for both codecs, seeded per image);
* task quality: face-detection AP@0.5 and mAP@0.5:0.95 (MediaPipe, ``detector_range``) on the face
  test scenes with each scene's ``f`` most relevant patches under the weight model ``weights``;

both over slow Rayleigh fading at ``snr_db`` (one channel draw per image). Also the parameters and the
encoder + decoder time per 256x256 image on this machine (one thread, its load average recorded:
the machine is shared, so the times are indicative only).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from semcom.experiments.results import Results, provenance
from semcom.utils import from_dict

NAME = "sesc_codecs"


@dataclasses.dataclass
class CodecsConfig:
    checkpoints: list = dataclasses.field(default_factory=lambda: ["sesc_rayleigh", "sesc_cnn_rayleigh"])
    fractions: list = dataclasses.field(default_factory=lambda: [0.25, 0.5, 0.75, 1.0])
    snr_db: float = 10.0
    weights: str = "task"
    n_composites: int = 10
    size: int = 256
    seed: int = 0
    detector_range: str = "full"


def _random_keep(n: int, k: int, seed: int, i: int) -> np.ndarray:
    keep = np.zeros(n, dtype=bool)
    keep[np.random.default_rng([seed, i, 17]).permutation(n)[:k]] = True
    return keep


def _image_rows(codec, name: str, cfg: CodecsConfig, photos) -> list[dict]:
    from semcom.experiments.sesc_common import send
    from semcom.metrics import ms_ssim, psnr

    n = codec.n_patches(cfg.size, cfg.size)
    rows = []
    for f in cfg.fractions:
        k = max(1, int(round(f * n)))
        ps, ss = [], []
        for i, ph in enumerate(photos):
            r = send(codec, ph.image, _random_keep(n, k, cfg.seed, i), cfg.snr_db, cfg.seed + i, detector_range=cfg.detector_range)
            ps.append(float(psnr(ph.image, r["image"])[0]))
            ss.append(float(ms_ssim(ph.image, r["image"])[0]))
        rows.append({"codec": name, "fraction": f, "k": k, "psnr_db": float(np.mean(ps)), "ms_ssim": float(np.mean(ss))})
    return rows


def _task_rows(codec, name: str, cfg: CodecsConfig, scenes, weights) -> list[dict]:
    from semcom.experiments.sesc_common import send
    from semcom.metrics.detection import detection_qos
    from semcom.semantics.sesc import top_k_mask

    n = codec.n_patches(cfg.size, cfg.size)
    rows = []
    for f in cfg.fractions:
        k = max(1, int(round(f * n)))
        dets = [send(codec, s.image, top_k_mask(w, k), cfg.snr_db, cfg.seed + i, detector_range=cfg.detector_range)["detections"]
                for i, (s, w) in enumerate(zip(scenes, weights))]
        q = detection_qos(dets, [s.boxes for s in scenes])
        rows.append({"codec": name, "fraction": f, "k": k, "ap50": q["ap50"], "map": q["map"]})
    return rows


def _timing(codec, size: int, repeats: int = 3) -> dict:
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    codec.transmit(x, 10.0, seed=0)  # warm-up
    t0 = time.perf_counter()
    for r in range(repeats):
        codec.transmit(x, 10.0, seed=r)
    return {"ms_per_image": 1000 * (time.perf_counter() - t0) / repeats, "load_avg_1min": os.getloadavg()[0],
            "threads": torch.get_num_threads()}


def run(config: CodecsConfig | dict | None = None) -> Results:
    from semcom.data import test_images
    from semcom.data.face_scenes import face_scenes
    from semcom.experiments.sesc_common import load_codec, scene_checksums, weight_fn

    cfg = config if isinstance(config, CodecsConfig) else from_dict(CodecsConfig, config or {})
    photos = test_images(subset="tiny", size=cfg.size)
    scenes = face_scenes(cfg.n_composites, cfg.size, cfg.seed)
    image_rows, task_rows, info = [], [], {}
    for name in cfg.checkpoints:
        codec = load_codec(name)
        wf = weight_fn(cfg.weights, codec, cfg.seed, cfg.detector_range)
        weights = [wf(s.image, codec.config.patch_size) for s in scenes]
        image_rows += _image_rows(codec, name, cfg, photos)
        task_rows += _task_rows(codec, name, cfg, scenes, weights)
        meta = getattr(codec, "metadata", {}) or {}
        info[name] = {"model": type(codec).__name__, "parameters": codec.num_parameters(),
                      "train_steps": meta.get("steps"), "train_minutes": meta.get("train_minutes"),
                      **_timing(codec, cfg.size)}
    data = {"image": image_rows, "task": task_rows, "codecs": info, "detector_range": cfg.detector_range}
    return Results(NAME, data, provenance(cfg, cfg.seed, scene_checksums(scenes)))


def plot(results: Results, out_dir: str | Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semcom.experiments.sesc_common import save_figure

    d = results.data
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax, ylab in (("image", axes[0], "psnr_db"), ("task", axes[1], "ap50")):
        for name in dict.fromkeys(r["codec"] for r in d[key]):
            rr = [r for r in d[key] if r["codec"] == name]
            ax.plot([r["fraction"] for r in rr], [r[ylab] for r in rr], marker="o", label=name)
        ax.set_xlabel("fraction of patches sent")
        ax.set_ylabel({"psnr_db": "PSNR (dB), random subsets, test photos", "ap50": "face AP@0.5, relevant patches"}[ylab])
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return [save_figure(fig, results, out_dir, NAME)]


def main(argv: Sequence[str] | None = None) -> int:
    from semcom import cliargs

    t = cliargs.typed
    ap = cliargs.ArgumentParser(prog="semcom sesc codecs", description=__doc__.strip().split("\n\n")[0])
    ap.add_argument("--snr", type=t(cliargs.parse_snr), default=None)
    ap.add_argument("--composites", type=t(cliargs.parse_int, what="composites", lo=0, hi=1000), default=None)
    ap.add_argument("--detector", default=None, choices=["full", "short"], help="MediaPipe face-detection model range")
    ap.add_argument("--out", default="results/sesc")
    a = ap.parse_args(argv)
    cliargs.check_out_dir(a.out)
    d = {k: v for k, v in (("snr_db", a.snr), ("n_composites", a.composites), ("detector_range", a.detector)) if v is not None}
    torch.set_num_threads(1)
    res = run(d)
    path = res.save(a.out, f"{NAME}_short.json" if res.data["detector_range"] != "full" else None)
    plot(res, a.out)
    for r, q in zip(res.data["image"], res.data["task"]):
        print(f"{r['codec']:20s} f={r['fraction']:.2f} PSNR {r['psnr_db']:.2f} dB MS-SSIM {r['ms_ssim']:.3f} "
              f"AP50 {q['ap50']:.3f} mAP {q['map']:.3f}")
    for name, i in res.data["codecs"].items():
        print(f"{name}: {i['parameters']} parameters, {i['ms_per_image']:.0f} ms per image (load {i['load_avg_1min']:.1f})")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
