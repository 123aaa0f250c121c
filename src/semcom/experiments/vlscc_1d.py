"""``semcom vlscc 1d``: VL-SCC 1D against fixed-length SCC on a real 1D semantic source (paper Fig. 6).

The paper sends SMPL body parameters (85 values) and plots MPJPE versus SNR for VL-SCC, SCC at
the same mean symbol budget (SCC 2k) and SCC with twice the budget (SCC 4k), plus the "ideal"
(the source over a noiseless channel). SMPL cannot be had offline; the source here is the
face-landmark vector of :mod:`semcom.data.landmark_vectors` (FaceMesh run on synthetic
talking-head frames: d = 263, trained on one portrait's videos, tested on the other's), and the
task metric, the MPJPE analogue, is the mean landmark error in pixels of the 256 x 256 frame
(:func:`semcom.metrics.mean_landmark_error`).

What it measures, with the committed checkpoints (``configs/vlscc1d.json``, ``configs/scc1d*.json``):

* **Landmark error versus SNR** (AWGN by default) for VL-SCC 1D and SCC 1D at several fixed
  lengths, every test vector sent through :meth:`LearnedJSCC.transmit_many` (encode, channel per
  vector, decode), ``seeds`` noise seeds per SNR.
* **Channel uses actually sent** per vector, from the payloads: VL-SCC's kept symbols plus its
  side link (``log2 L`` = 4 bits per vector at 1 bit per channel use).
* **Ideal**, defined as each learned code over a noiseless channel (received = sent): the error
  its compression alone leaves, the floor its curve tends to at high SNR. The source itself over
  a noiseless channel (the paper's "ideal") has zero error by construction here, since the task
  metric compares with the landmarks that were sent; it is reported as 0. The **mean face**
  (the receiver outputs the training mean vector, nothing sent) is the no-information ceiling.
* **VL-SCC's rate allocation** on the test vectors: histogram of code lengths and the Spearman
  correlation between a vector's code length and its distance from the mean face.
* **The paper's claim** "VL-SCC outperforms SCC at the same mean symbol budget", checked at every
  SNR against SCC interpolated (linearly in channel uses) to VL-SCC's measured mean channel uses.

Results JSON (with provenance) and plots go to ``results/vlscc/`` (``vlscc1d.json``; with
``--channel rayleigh`` ``vlscc1d_rayleigh.json``: the AWGN-trained coders on block Rayleigh fading,
one coefficient per vector, perfect CSI, zero forcing).

Example:
    semcom vlscc 1d --out results/vlscc
"""

from __future__ import annotations

import argparse
import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from semcom.errors import ConfigError
from semcom.experiments.common import load_config_file
from semcom.experiments.results import Results, provenance
from semcom.utils import from_dict

NAME = "vlscc1d"
LABELS = {"vlscc1d": "VL-SCC 1D", "scc1d": "SCC 1D"}


@dataclasses.dataclass
class Vlscc1dConfig:
    """Experiment configuration.

    checkpoints: checkpoints per model (``vlscc1d``: one or more; ``scc1d``: one per fixed length): a
        committed checkpoint's name, or the path of a ``.pt`` written by ``semcom train`` (e.g. a
        replicate trained with another ``--seed``).
    snr_grid: SNRs in dB. channel: ``"awgn"`` or ``"rayleigh"`` (block, one coefficient per vector).
    seeds: channel-noise seeds per SNR. data: the :class:`LandmarkSourceConfig` (``{}``: default).
    """

    checkpoints: dict[str, list[str]] = dataclasses.field(default_factory=lambda: {
        "vlscc1d": ["vlscc1d_landmarks"],
        "scc1d": ["scc1d_landmarks_n16", "scc1d_landmarks_n32", "scc1d_landmarks_n64"]})
    snr_grid: list[float] = dataclasses.field(default_factory=lambda: [-5.0, -2.5, 0.0, 2.5, 5.0, 7.5, 10.0, 12.5, 15.0])
    channel: str = "awgn"
    seeds: list[int] = dataclasses.field(default_factory=lambda: [0, 1, 2])
    data: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.snr_grid or not self.seeds:
            raise ConfigError("snr_grid and seeds must be non-empty")
        if set(self.checkpoints) - set(LABELS):
            raise ConfigError(f"checkpoints keys must be among {sorted(LABELS)}, got {sorted(self.checkpoints)}")
        if self.channel not in ("awgn", "rayleigh"):
            raise ConfigError(f"channel must be 'awgn' or 'rayleigh', got {self.channel!r}")

    def quick(self) -> Vlscc1dConfig:
        """Three SNRs, one seed (:data:`QUICK`)."""
        return dataclasses.replace(self, **QUICK)


#: What the quick mode sets (``--quick``: only for the keys the user left unset).
QUICK = {"snr_grid": [-5.0, 5.0, 15.0], "seeds": [0]}


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def rate_analysis(model, data) -> dict:
    """VL-SCC's code lengths on the test vectors: histogram and rank correlation with the distance from the mean face."""
    x = data.vectors("test")
    k = model.kept(x).numpy()
    dist = x.norm(dim=1).numpy()
    vals, counts = np.unique(k, return_counts=True)
    return {"symbols_histogram": {int(v): int(c) for v, c in zip(vals, counts)},
            "mean_symbols": float(k.mean()), "side_channel_uses": model.side_channel_uses,
            "spearman_symbols_vs_distance_from_mean": _spearman(k.astype(float), dist)}


def run(config: Vlscc1dConfig | dict | None = None, *, progress: bool = True) -> Results:
    """Run the experiment; ``data = {"records", "summary", "ideal", "mean_face", "rate", "claims", "source"}``."""
    from tqdm import tqdm

    from semcom.data.landmark_vectors import load_landmark_vectors
    from semcom.models import load_checkpoint, load_pretrained
    from semcom.training.loop import evaluate_vectors

    cfg = config if isinstance(config, Vlscc1dConfig) else from_dict(Vlscc1dConfig, config or {})
    data = load_landmark_vectors(cfg.data, progress=progress)
    ckpts = [(m, c) for m, cs in cfg.checkpoints.items() for c in cs]
    models = {c: (load_checkpoint(c) if c.endswith(".pt") else load_pretrained(c)) for _, c in ckpts}
    for c, m in models.items():
        if m.config.dim != data.dim:
            raise ConfigError(f"checkpoint {c} codes vectors of {m.config.dim}, the source has {data.dim}")
    records, ideal = [], []
    bar = tqdm(total=len(ckpts) * len(cfg.snr_grid) * len(cfg.seeds), desc="vlscc 1d", disable=not progress)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SNRs outside a checkpoint's range are marked below
        for method, c in ckpts:
            m = models[c]
            ev = evaluate_vectors(m, data, noiseless=True)
            ideal.append({"method": method, "checkpoint": c, "landmark_error_px": ev["landmark_error_px"],
                          "landmark_error_norm": ev["landmark_error_norm"], "channel_uses": ev["channel_uses"]})
            lo, hi = m.config.snr_range_db
            for snr in cfg.snr_grid:
                for seed in cfg.seeds:
                    ev = evaluate_vectors(m, data, float(snr), seed=int(seed), channel=cfg.channel)
                    records.append({"method": method, "checkpoint": c, "channel": cfg.channel, "snr_db": float(snr),
                                    "seed": int(seed), "extrapolated": not (lo <= snr <= hi),
                                    **{k: ev[k] for k in ("landmark_error_px", "landmark_error_norm", "channel_uses",
                                                          "symbols_per_vector", "vector_mse")}})
                    bar.update(1)
    bar.close()
    summary = []
    for method, c in ckpts:
        for snr in cfg.snr_grid:
            rs = [r for r in records if r["checkpoint"] == c and r["snr_db"] == float(snr)]
            e = np.array([r["landmark_error_px"] for r in rs])
            summary.append({"method": method, "checkpoint": c, "label": f"{LABELS[method]} ({c})", "snr_db": float(snr),
                            "channel": cfg.channel, "landmark_error_px": float(e.mean()),
                            "landmark_error_px_std_over_seeds": float(e.std()),
                            "landmark_error_norm": float(e.mean()) / data.config.size,
                            "channel_uses": float(np.mean([r["channel_uses"] for r in rs])),
                            "symbols_per_vector": float(np.mean([r["symbols_per_vector"] for r in rs])),
                            "extrapolated": rs[0]["extrapolated"], "n": len(rs)})
    mean_face = float(data.landmark_error_px(torch.zeros(len(data.test_landmarks), data.dim), "test"))
    rate = {c: rate_analysis(models[c], data) for m_, c in ckpts if m_ == "vlscc1d"}
    out = {"source": {"description": data.describe(), "dim": data.dim, "frame_px": data.config.size,
                      "train_vectors": len(data.train_landmarks), "test_vectors": len(data.test_landmarks),
                      "config": dataclasses.asdict(data.config), "dropped_frames": data.info.get("dropped_frames"),
                      "metric": "mean landmark error (semcom.metrics.mean_landmark_error) in pixels of the frame"},
           "records": records, "summary": summary, "ideal": ideal,
           "ideal_source_noiseless_px": 0.0, "mean_face_px": mean_face, "rate": rate,
           "checkpoints": {c: {"method": m_, "config": dataclasses.asdict(models[c].config),
                               "metric": getattr(models[c], "metadata", {}).get("metric")} for m_, c in ckpts}}
    out["claims"] = check_claims(out)
    return Results(NAME if cfg.channel == "awgn" else f"{NAME}_{cfg.channel}", out, provenance(dataclasses.asdict(cfg), int(cfg.seeds[0]),
                                         {"landmark_vectors_sha256": data.checksum()}))


def check_claims(data: dict) -> dict:
    """"VL-SCC beats SCC at the same mean symbol budget": at each SNR, VL-SCC's error against SCC's
    interpolated linearly in channel uses to VL-SCC's measured mean channel uses (comparable only
    inside the range of SCC lengths)."""
    summ = data["summary"]
    claims = {}
    for c in sorted({r["checkpoint"] for r in summ if r["method"] == "vlscc1d"}):
        points = []
        for r in (r for r in summ if r["checkpoint"] == c):
            scc = sorted((s for s in summ if s["method"] == "scc1d" and s["snr_db"] == r["snr_db"]),
                         key=lambda s: s["channel_uses"])
            xs, ys = [s["channel_uses"] for s in scc], [s["landmark_error_px"] for s in scc]
            comparable = bool(xs) and xs[0] <= r["channel_uses"] <= xs[-1]
            at = float(np.interp(r["channel_uses"], xs, ys)) if comparable else None
            points.append({"snr_db": r["snr_db"], "vlscc_channel_uses": r["channel_uses"],
                           "vlscc_error_px": r["landmark_error_px"], "scc_error_px_at_uses": at,
                           "delta_px": None if at is None else r["landmark_error_px"] - at, "comparable": comparable})
        comp = [p for p in points if p["comparable"]]
        claims[c] = {"points": points, "wins": sum(p["delta_px"] < 0 for p in comp), "comparable": len(comp),
                     "holds": bool(comp and all(p["delta_px"] < 0 for p in comp))}
    return {"vlscc_beats_scc_at_equal_budget": claims}


def plot(results: Results | dict, out_dir: str | Path) -> list[Path]:
    """Landmark error versus SNR (log scale), each code's noiseless floor dashed, the mean face dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semcom.report.plots import save_figure

    data = results.data if isinstance(results, Results) else results["data"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ckpts = list(dict.fromkeys(r["checkpoint"] for r in data["summary"]))
    for i, c in enumerate(ckpts):
        rows = sorted((r for r in data["summary"] if r["checkpoint"] == c), key=lambda r: r["snr_db"])
        uses = np.mean([r["channel_uses"] for r in rows])
        lab = f"{LABELS[rows[0]['method']]}, {uses:.1f} ch. uses/vector"
        col = colors[i % len(colors)]
        ax.plot([r["snr_db"] for r in rows], [r["landmark_error_px"] for r in rows], "o-" if "vl" in rows[0]["method"]
                else "s--", color=col, label=lab, markersize=4)
        ideal = next(d["landmark_error_px"] for d in data["ideal"] if d["checkpoint"] == c)
        ax.axhline(ideal, color=col, linestyle=":", linewidth=1)
    ax.axhline(data["mean_face_px"], color="0.3", linestyle="-.", linewidth=1, label="mean face (nothing sent)")
    ax.set_yscale("log")
    ax.set_xlabel("SNR (Es/N0) [dB]")
    ax.set_ylabel(f"mean landmark error [px of {data['source']['frame_px']} px frame]")
    ax.set_title(f"Face-landmark vectors (d={data['source']['dim']}), {data['summary'][0]['channel'].upper()}\n"
                 "dotted: each code over a noiseless channel", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    tag = NAME if data["summary"][0]["channel"] == "awgn" else f"{NAME}_{data['summary'][0]['channel']}"
    paths = [save_figure(fig, out / f"{tag}_error_vs_snr.png")]
    if data["rate"]:
        fig, ax = plt.subplots(figsize=(5.2, 3.4))
        for c, r in data["rate"].items():
            ks = sorted(int(k) for k in r["symbols_histogram"])
            ax.bar(ks, [r["symbols_histogram"][str(k)] if str(k) in r["symbols_histogram"] else r["symbols_histogram"][k]
                        for k in ks], width=3, label=c)
            rho = r["spearman_symbols_vs_distance_from_mean"]
            ax.set_title(f"VL-SCC 1D code lengths on the test vectors (mean {r['mean_symbols']:.1f} + "
                         f"{r['side_channel_uses']} side)\nrank corr. with distance from the mean face: "
                         f"{'n/a' if rho is None else f'{rho:.2f}'}", fontsize=8)
        ax.set_xlabel("symbols sent per vector")
        ax.set_ylabel("vectors")
        paths.append(save_figure(fig, out / f"{tag}_code_lengths.png"))
    return paths


def demo_section(report, out_dir: str | Path, quick: bool = False) -> dict:
    """Add a "VL-SCC 1D" section to a :class:`semcom.report.html.HtmlReport`: the landmark error versus SNR
    of the committed 1D checkpoints (``quick``: 3 SNRs, one seed), its table, the claim and the figures.
    Returns ``{"available": bool, "results": path or None, "claims": {...}, "figures": [...]}``."""
    from semcom.models import list_pretrained

    cfg = Vlscc1dConfig()
    if quick:
        cfg = cfg.quick()
    report.heading("VL-SCC 1D: face-landmark vectors over AWGN")
    need = [c for cs in cfg.checkpoints.values() for c in cs]
    missing = sorted(set(need) - set(list_pretrained()))
    if missing:
        report.paragraph(f"Committed 1D checkpoints missing ({missing}): train them with "
                         "`semcom train vlscc1d --config configs/vlscc1d.json` (and scc1d).")
        return {"available": False, "results": None, "claims": {}, "figures": []}
    res = run(cfg, progress=False)
    out = Path(out_dir)
    path = res.save(out)
    figs = plot(res, out)
    d = res.data
    report.paragraph(
        "The paper's 1D experiment (Fig. 6, SMPL body parameters, MPJPE) with a source that exists offline: "
        f"{d['source']['description']}. Task metric: mean landmark error in pixels of the "
        f"{d['source']['frame_px']} px frame. Channel uses count VL-SCC's side link (4 bits per vector). "
        f"Sending nothing (the mean face) gives {d['mean_face_px']:.2f} px.")
    snrs = sorted({r["snr_db"] for r in d["summary"]})
    rows = []
    for c in dict.fromkeys(r["checkpoint"] for r in d["summary"]):
        rs = {r["snr_db"]: r for r in d["summary"] if r["checkpoint"] == c}
        ideal = next(i["landmark_error_px"] for i in d["ideal"] if i["checkpoint"] == c)
        rows.append([rs[snrs[0]]["label"], rs[snrs[0]]["channel_uses"]] + [rs[s]["landmark_error_px"] for s in snrs] + [ideal])
    report.table(["method", "channel uses / vector"] + [f"{s:g} dB" for s in snrs] + ["noiseless"], rows)
    for c, cl in d["claims"]["vlscc_beats_scc_at_equal_budget"].items():
        report.paragraph(f"Claim 'VL-SCC beats SCC at the same mean budget' ({c}): "
                         f"{'holds' if cl['holds'] else 'does not hold'} on this run "
                         f"(VL-SCC lower at {cl['wins']} of {cl['comparable']} comparable SNRs).")
    for f in figs:
        report.image(f, "Landmark error versus SNR" if "error" in f.stem else "VL-SCC 1D code lengths")
    return {"available": True, "results": str(path), "claims": d["claims"], "figures": [str(f) for f in figs]}


def build_parser() -> argparse.ArgumentParser:
    from semcom import cliargs

    p = cliargs.ArgumentParser(prog="semcom vlscc 1d", description=__doc__.strip().split("\n\n")[0])
    p.add_argument("--out", default="results/vlscc", help="output folder for the JSON and plots")
    p.add_argument("--config", default=None, help="JSON file with Vlscc1dConfig keys")
    p.add_argument("--quick", action="store_true", help="3 SNRs, one seed (values you give still apply)")
    p.add_argument("--snr", type=cliargs.typed(cliargs.parse_snr_list), default=None,
                   help="SNR grid: '0,5,10' or start:stop:step")
    p.add_argument("--channel", default=None, choices=["awgn", "rayleigh"],
                   help="awgn or rayleigh (block, one coefficient per vector)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from semcom import cliargs

    args = build_parser().parse_args(argv)
    d = load_config_file(args.config)
    if args.snr is not None:
        d["snr_grid"] = args.snr
    if args.channel is not None:
        d["channel"] = args.channel
    if args.quick:
        d = cliargs.fill_defaults(d, QUICK)
    cfg = from_dict(Vlscc1dConfig, d)
    cliargs.check_snr_values(cfg.snr_grid, what="snr_grid")
    cliargs.check_out_dir(args.out)
    res = run(cfg, progress=not args.no_progress)
    path = res.save(args.out)
    print(f"wrote {path}")
    for f in plot(res, args.out):
        print(f"wrote {f}")
    for r in res.data["summary"]:
        print(f"  {r['label']:40s} {r['snr_db']:6.1f} dB  {r['landmark_error_px']:7.3f} px  {r['channel_uses']:6.2f} uses")
    for c, cl in res.data["claims"]["vlscc_beats_scc_at_equal_budget"].items():
        print(f"  claim VL-SCC ({c}) beats SCC at equal budget: {'holds' if cl['holds'] else 'does not hold'} "
              f"({cl['wins']} of {cl['comparable']} comparable SNRs)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from semcom.cliargs import guarded

    raise SystemExit(guarded(main))
