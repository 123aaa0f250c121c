"""``semcom sesc qos``: face-detection QoS versus SNR over slow Rayleigh fading (the paper's Fig. 5).

Fu et al., Sec. V: SE-SC at ``mu = 0.2`` and ``0.3``, full-feature transmission, and the classical
separation scheme (JPEG2000 + LDPC) compared on the task metric versus SNR. Here, on the face test
scenes (:func:`semcom.data.face_scenes.face_scenes`) with the MediaPipe face detector:

* ``sesc_mu0.2``, ``sesc_mu0.3``: the committed SE-SC codec; patches with weight below ``mu`` are
  masked (weights from the ``weights`` model, default ``task``); symbols over the analog slow
  Rayleigh channel (one coefficient per image, perfect CSI, MMSE); the mask code over the side link,
  counted.
* ``sesc_full``: every patch sent.
* ``jpeg2000_adaptive``: :class:`semcom.baselines.SeparationSystem`, JPEG2000 + 5G LDPC + QAM over the
  bit-true link with the MCS adapted to the average SNR (38.214 table, CBLER <= 10 % from the BLER
  tables), Rayleigh fading per transport block (one coefficient per image, as for SE-SC), at the
  same channel uses as ``sesc_mu0.2`` for each image.
* ``jpeg2000_capacity``: the same with a capacity-achieving code. Over slow fading the transmitter
  knows only the average SNR, so the ideal code runs at the 10 %-outage capacity
  ``R = log2(1 + snr ln(1/0.9))`` bits per channel use (the same 10 % target as the adapted MCS) and
  a block is lost when ``R > log2(1 + |h|^2 snr)`` (:class:`semcom.link.capacity.CapacityLink`).
* ``clean``: the detector on the source (the ceiling).

QoS: AP at IoU 0.5 and mAP at IoU 0.5:0.95 over all scenes x seeds (pooled), against exact boxes
(composites) or the detector's boxes on the clean source (portraits); also for the composites alone.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from semcom.errors import ConfigError
from semcom.experiments.results import Results, provenance
from semcom.utils import from_dict

NAME = "sesc_qos"


@dataclasses.dataclass
class QoSConfig:
    checkpoint: str = "sesc_rayleigh"  # committed name or .pt path of the SE-SC codec
    snr_db: list = dataclasses.field(default_factory=lambda: [0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0])
    mus: list = dataclasses.field(default_factory=lambda: [0.2, 0.3])
    weights: str = "task"
    baselines: list = dataclasses.field(default_factory=lambda: ["adaptive", "capacity"])
    codec: str = "jpeg2000"
    n_composites: int = 16
    size: int = 256
    seeds: int = 2
    seed: int = 0
    scene_seed: int = 0
    detector_range: str = "full"  # the task model: MediaPipe's full-range (default) or short-range detector

    def __post_init__(self) -> None:
        if not self.snr_db or not self.mus or self.seeds < 1:
            raise ConfigError("snr_db and mus must be non-empty and seeds >= 1")
        if any(not (math.isfinite(float(s))) for s in self.snr_db) or any(not 0 <= m <= 1 for m in self.mus):
            raise ConfigError("snr_db must be finite and mus in [0, 1]")
        if set(self.baselines) - {"adaptive", "capacity"}:
            raise ConfigError("baselines must be a subset of ['adaptive', 'capacity']")


OUTAGE = 0.1


def outage_rate(snr_db: float, outage: float = OUTAGE) -> float:
    """The ``outage``-capacity of Rayleigh block fading with average SNR ``snr_db``, bits per channel
    use: ``log2(1 + snr ln(1 / (1 - outage)))`` (``P(log2(1 + |h|^2 snr) < R) = outage``)."""
    return math.log2(1 + 10 ** (snr_db / 10) * math.log(1 / (1 - outage)))


def _separation(cbr: float, fidelity: str, codec: str, snr_db: float):
    from semcom.baselines import SeparationSystem

    cfg = {"codec": codec, "cbr": cbr, "channel": "rayleigh", "fading": "per_tb", "csi": "perfect"}
    if fidelity == "adaptive":
        cfg.update(fidelity="bittrue", link_adaptation=True, adaptation="target_bler", target_bler=OUTAGE)
    else:
        cfg.update(fidelity="capacity", link={"rate": outage_rate(snr_db)})
    return SeparationSystem(cfg)


def _score(recs: list[dict], gts: list[np.ndarray], kinds: list[str]) -> dict:
    from semcom.metrics.detection import detection_qos

    q = detection_qos([r["det"] for r in recs], gts)
    idx = [i for i, k in enumerate(kinds) if k == "exact"]
    qc = detection_qos([recs[i]["det"] for i in idx], [gts[i] for i in idx]) if idx else {"ap50": None, "map": None}
    return {"ap50": q["ap50"], "map": q["map"], "ap50_composites": qc["ap50"], "map_composites": qc["map"],
            "channel_uses": float(np.mean([r["uses"] for r in recs])),
            "symbols": float(np.mean([r.get("symbols", r["uses"]) for r in recs])),
            "failed": int(sum(r.get("failed", 0) for r in recs))}


def run(config: QoSConfig | dict | None = None, progress: bool = True) -> Results:
    """Run the sweep; returns Results with ``summary`` (one row per method and SNR) and ``symbols``."""
    from tqdm import tqdm

    from semcom.data.face_scenes import face_scenes
    from semcom.experiments.sesc_common import detector, load_codec, scene_checksums, send, weight_fn
    from semcom.semantics.sesc import threshold_mask

    cfg = config if isinstance(config, QoSConfig) else from_dict(QoSConfig, config or {})
    codec = load_codec(cfg.checkpoint)
    p = codec.config.patch_size
    scenes = face_scenes(cfg.n_composites, cfg.size, cfg.scene_seed)
    det = detector(cfg.detector_range)
    wf = weight_fn(cfg.weights, codec, cfg.seed, cfg.detector_range)
    weights = [wf(s.image, p) for s in scenes]
    masks = {f"sesc_mu{m}": [threshold_mask(w, m) for w in weights] for m in cfg.mus}
    masks["sesc_full"] = [None] * len(scenes)
    code_bits = _mask_code_costs({k: v for k, v in masks.items() if k != "sesc_full"}, codec.n_patches(cfg.size, cfg.size))
    ref_mu = f"sesc_mu{cfg.mus[0]}"
    rows: list[dict] = []
    per: dict = {}
    gts = [s.boxes for s in scenes] * cfg.seeds
    kinds = [s.gt_kind for s in scenes] * cfg.seeds
    clean = [{"det": det(s.image), "uses": 0} for s in scenes] * cfg.seeds
    rows.append({"method": "clean", "snr_db": None, **_score(clean, gts, kinds)})
    bar = tqdm(total=len(cfg.snr_db) * cfg.seeds * len(scenes), desc="sesc qos", disable=not progress)
    for snr in cfg.snr_db:
        recs: dict[str, list] = {}
        for sd in range(cfg.seeds):
            for i, s in enumerate(scenes):
                seed = cfg.seed + 1000 * sd + i
                for name, mk in masks.items():
                    r = send(codec, s.image, mk[i], snr, seed, detector_range=cfg.detector_range)
                    recs.setdefault(name, []).append({"det": r["detections"], "uses": r["channel_uses"],
                                                      "symbols": r["symbols"], "side_bits": r["side_bits"]})
                budget = recs[ref_mu][-1]["uses"]
                for fid in cfg.baselines:
                    sys_ = _separation(budget / (3 * cfg.size * cfg.size), fid, cfg.codec, snr)
                    o = sys_.transmit(s.image, snr, seed=seed)
                    recs.setdefault(f"{cfg.codec}_{fid}", []).append(
                        {"det": det(o.image.clamp(0, 1)), "uses": o.channel_uses_budget,
                         "failed": int(o.failed), "status": o.status})
                bar.update(1)
        for name, rr in recs.items():
            rows.append({"method": name, "snr_db": float(snr), **_score(rr, gts, kinds)})
            per.setdefault(name, []).append([r.get("side_bits", 0) for r in rr])
    bar.close()
    sym = {name: float(np.mean([r["symbols"] for r in rows if r["method"] == name])) for name in masks}
    data = {"summary": rows, "symbols_per_image": sym, "side_bits_per_image": {k: float(np.mean(v)) for k, v in per.items()},
            "saving_mu": _savings(sym, cfg.mus), "mask_code_bits": code_bits, "scenes": [{"name": s.name, "gt": s.gt_kind, "faces": len(s.boxes)} for s in scenes],
            "weights": cfg.weights, "detector_range": cfg.detector_range, "detector": det.describe(), "codec": codec.metadata.get("name", cfg.checkpoint)}
    return Results(NAME, data, provenance(cfg, cfg.seed, scene_checksums(scenes)))


def _mask_code_costs(masks: dict, n: int) -> dict:
    """Mean bits of each mask code (raw, run-length, enumerative; header included) and of the one sent
    (the shortest per mask), per mask set, plus the all-patches mask of full-feature transmission."""
    from semcom.semantics.sesc import encode_mask, mask_code_lengths

    out = {}
    for name, ms in list(masks.items()) + [("sesc_full", [np.ones(n, dtype=bool)])]:
        lens = [mask_code_lengths(m) for m in ms]
        out[name] = {k: float(np.mean([d[k] for d in lens])) for k in lens[0]}
        out[name]["sent"] = float(np.mean([len(encode_mask(m)) for m in ms]))
    return out


def _savings(sym: dict, mus: list) -> dict:
    full = sym["sesc_full"]
    out = {f"mu{m}_vs_full": 1 - sym[f"sesc_mu{m}"] / full for m in mus}
    if len(mus) >= 2:
        a, b = sym[f"sesc_mu{mus[0]}"], sym[f"sesc_mu{mus[1]}"]
        out[f"mu{mus[1]}_vs_mu{mus[0]}"] = 1 - b / a
    return out


def plot(results: Results, out_dir: str | Path) -> list[Path]:
    """AP@0.5 and mAP versus SNR, one line per method (PNG from the JSON)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results.data["summary"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in zip(axes, ("ap50", "map"), ("AP@0.5", "mAP@0.5:0.95")):
        for m in dict.fromkeys(r["method"] for r in rows):
            pts = [(r["snr_db"], r[key]) for r in rows if r["method"] == m]
            if m == "clean":
                ax.axhline(pts[0][1], color="k", ls=":", label="clean source")
                continue
            ax.plot([a for a, _ in pts], [b for _, b in pts], marker="o", label=m)
        ax.set_xlabel("SNR [dB] (slow Rayleigh)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    from semcom.experiments.sesc_common import codec_tag, save_figure

    return [save_figure(fig, results, out_dir, NAME + codec_tag(results.data.get("codec", "")))]


def _parse_baselines(text: str) -> list[str]:
    """``--baselines``: comma-separated ``adaptive``, ``capacity``; ``''`` for none."""
    from semcom import cliargs

    return [] if not text.strip() else cliargs.parse_choice_list(text, choices=("adaptive", "capacity"), what="baseline")


def main(argv: Sequence[str] | None = None) -> int:
    from semcom import cliargs
    from semcom.experiments.sesc_common import WEIGHT_MODELS, codec_tag

    t = cliargs.typed
    ap = cliargs.ArgumentParser(prog="semcom sesc qos", description=__doc__.strip().split("\n\n")[0])
    ap.add_argument("--snr", type=t(cliargs.parse_snr_list), default=None, help="SNRs in dB: a comma list or A:B:STEP")
    ap.add_argument("--mus", type=t(cliargs.parse_number_list, what="mu", lo=0.0, hi=1.0), default=None,
                    help="comma-separated thresholds in [0, 1]")
    ap.add_argument("--weights", default=None, choices=list(WEIGHT_MODELS), help="weight model: " + ", ".join(WEIGHT_MODELS))
    ap.add_argument("--composites", type=t(cliargs.parse_int, what="composites", lo=0, hi=1000), default=None, help="number of composite scenes")
    ap.add_argument("--seeds", type=t(cliargs.parse_int, what="seeds", lo=1, hi=1000), default=None, help="channel realisations per scene and SNR")
    ap.add_argument("--baselines", type=t(_parse_baselines), default=None, help="comma-separated: adaptive, capacity ('' for none)")
    ap.add_argument("--detector", default=None, choices=["full", "short"], help="MediaPipe face-detection model range")
    ap.add_argument("--checkpoint", default=None, help="SE-SC codec: sesc_rayleigh (default), sesc_cnn_rayleigh or a .pt file")
    ap.add_argument("--out", default="results/sesc")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    cliargs.check_out_dir(a.out)
    d: dict = {}
    if a.snr:
        d["snr_db"] = a.snr
    if a.mus:
        d["mus"] = a.mus
    if a.baselines is not None:
        d["baselines"] = a.baselines
    for k, v in (("weights", a.weights), ("n_composites", a.composites), ("seeds", a.seeds), ("detector_range", a.detector),
                 ("checkpoint", a.checkpoint)):
        if v is not None:
            d[k] = v
    res = run(d, progress=not a.no_progress)
    short = "" if res.data.get("detector_range", "full") == "full" else "_short"
    path = res.save(a.out, f"{NAME}{codec_tag(res.data.get('codec', ''))}{short}.json")
    plot(res, a.out)
    for r in res.data["summary"]:
        print(f"{r['method']:22s} {str(r['snr_db']):>5s} AP50 {r['ap50']:.3f} mAP {r['map']:.3f} uses {r['channel_uses']:.0f}")
    print("symbol savings:", {k: round(v, 3) for k, v in res.data["saving_mu"].items()})
    print("mask code bits:", res.data["mask_code_bits"])
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
