"""``semcom compare``: any set of systems on the same link, images, SNR grid and channel-use budget.

    semcom compare --systems deepjscc seb separation:codec=heif,link=adaptive separation:codec=heif,link=capacity \\
        --images tiny --snr 0:10:5 --channel awgn --cbr match:deepjscc --out results/compare
    semcom compare --quick --out DIR
    semcom compare --plugin examples/my_system.py --systems mysystem deepjscc --cbr match:deepjscc

Writes ``DIR/compare.json`` (provenance; ``data.systems`` = ``[{name, spec, points: [{snr_db, psnr,
ms_ssim, channel_uses, cbr, status_counts, ...}]}]``) and plots: quality versus SNR, quality versus
channel uses, and a reconstruction strip (one image at one SNR, every system). The core is
:func:`semcom.systems.compare`.

``--quick`` fills every option the user did not give with a small default set (DeepJSCC, the seb
codec, HEIF + 5G LDPC with the adapted MCS, HEIF + capacity, at DeepJSCC's channel uses, the tiny
images, SNR 0, 5, 10 dB); an option given on the command line is never overridden.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from semcom.errors import ConfigError
from semcom.experiments.common import parse_floats

QUICK = {
    "systems": ["deepjscc", "seb", "separation:codec=heif,link=adaptive", "separation:codec=heif,link=capacity"],
    "images": "tiny",
    "snr": "0,5,10",
    "channel": "awgn",
    "cbr": "match:deepjscc",
}
DEFAULTS = {"images": "tiny", "snr": "0:10:5", "channel": "awgn", "cbr": None}
IMAGE_ALIASES = {"test": "all-256"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="semcom compare", description=__doc__.strip().split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--systems", nargs="+", action="extend", default=None, metavar="SPEC",
                   help="system specs, e.g. deepjscc seb separation:codec=heif,link=adaptive mymodule:MySystem")
    p.add_argument("--images", default=None, help="tiny, test (every bundled photo, 256x256 crops), all, or a folder")
    p.add_argument("--snr", default=None, help="SNR grid in dB: A:B:STEP (B included) or a comma list")
    p.add_argument("--channel", default=None, help="awgn, rayleigh_block or rayleigh_fast (add :csi=estimated,csi_error_var=0.01)")
    p.add_argument("--cbr", default=None, help="the budget: a CBR for every system, or match:NAME (the channel uses NAME spends)")
    p.add_argument("--crop", type=int, default=None, help="centre-crop every image to multiples of this size")
    p.add_argument("--seeds", type=int, default=1, help="transmissions per image and SNR")
    p.add_argument("--seed", type=int, default=0, help="base seed")
    p.add_argument("--plugin", action="append", default=[], help="module or .py file registering models/systems (repeatable)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (0: one per core)")
    p.add_argument("--cluster", default=None, help="Dask scheduler address (tcp://host:8786)")
    p.add_argument("--out", default="results/compare", help="output folder")
    p.add_argument("--quick", action="store_true", help="a small default comparison (fills options not given)")
    p.add_argument("--no-plots", action="store_true", help="write the JSON only")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def _join_negative_values(argv: Sequence[str]) -> list[str]:
    """``--snr -2:6:1`` -> ``--snr=-2:6:1`` (argparse would read a value starting with '-' as an option)."""
    out: list[str] = []
    it = iter(argv)
    for a in it:
        if a in ("--snr", "--cbr"):
            nxt = next(it, None)
            out.append(a if nxt is None else f"{a}={nxt}")
        else:
            out.append(a)
    return out


def config_from_args(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`semcom.systems.compare` from the parsed command line."""
    given = {k: getattr(args, k) for k in ("systems", "images", "snr", "channel", "cbr")}
    fill = QUICK if args.quick else DEFAULTS
    vals = {k: (v if v is not None else fill.get(k)) for k, v in given.items()}
    if not vals["systems"]:
        raise ConfigError("give --systems SPEC ... (or --quick for the default set)")
    images = IMAGE_ALIASES.get(vals["images"], vals["images"])
    cbr = vals["cbr"]
    if cbr is not None and not str(cbr).startswith("match:"):
        try:
            cbr = float(cbr)
        except ValueError:
            raise ConfigError(f"--cbr must be a number or match:NAME, got {cbr!r}") from None
    for name in ("seeds", "workers"):
        if getattr(args, name) is not None and getattr(args, name) < (1 if name == "seeds" else 0):
            raise ConfigError(f"--{name} must be >= {1 if name == 'seeds' else 0}")
    return dict(systems=list(vals["systems"]), images=images, snr_db=parse_floats(vals["snr"]),
                channel=vals["channel"], budget=cbr, seeds=args.seeds, seed=args.seed, crop=args.crop,
                plugins=list(args.plugin))


def plot(results, out_dir: str | Path, strip: dict | None = None) -> list[Path]:
    """Quality versus SNR, quality versus channel uses (from the JSON), and the reconstruction strip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semcom.report.plots import _STYLES, image_grid, metric_vs_snr

    out = Path(out_dir)
    data = results.data if hasattr(results, "data") else results["data"]
    rows = [{"system": s["name"], **p} for s in data["systems"] for p in s["points"]]
    ch = data["channel"]["name"]
    paths = [metric_vs_snr(rows, m, label, out / f"compare_{m}_vs_snr.png", series=["system"], title=f"{ch}")
             for m, label in (("psnr", "PSNR [dB]"), ("ms_ssim", "MS-SSIM")) if any(r.get(m) is not None for r in rows)]
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, s in enumerate(data["systems"]):
        pts = [(p["channel_uses"], p["psnr"], p["snr_db"]) for p in s["points"] if p.get("psnr") is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], _STYLES[i % len(_STYLES)][-1], label=s["name"])
            for x, y, snr in pts:
                ax.annotate(f"{snr:g}", (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
    ax.set_xlabel("channel uses per image (mean)")
    ax.set_ylabel("PSNR [dB]")
    ax.set_title(f"quality versus channel uses ({ch}; labels: SNR in dB)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(out / "compare_psnr_vs_channel_uses.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    if strip and strip.get("original") is not None and strip["systems"]:
        items = [("original", strip["original"] / 255.0)]
        items += [(name, img / 255.0) for name, img in strip["systems"].items()]
        paths.append(image_grid([(f"{strip['image']} at {strip['snr_db']:g} dB", items)], out / "compare_strip.png"))
    return paths


def print_table(results) -> None:
    """One line per system and SNR: PSNR, MS-SSIM, channel uses, statuses."""
    def f(v, fmt):
        return format(v, fmt) if v is not None else "-"

    print(f"{'system':44s} {'SNR':>5s} {'PSNR':>7s} {'MS-SSIM':>8s} {'uses':>8s} {'CBR':>7s}  status")
    for s in results.data["systems"]:
        for p in s["points"]:
            print(f"{s['name'][:44]:44s} {p['snr_db']:5.1f} {f(p['psnr'], '7.2f')} {f(p['ms_ssim'], '8.4f')} "
                  f"{f(p['channel_uses'], '8.0f')} {f(p['cbr'], '7.4f')}  {p['status_counts']}")


def main(argv: Sequence[str] | None = None) -> int:
    from semcom.systems.comparison import compare

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(_join_negative_values(argv))
    kw = config_from_args(args)
    res = compare(**kw, workers=args.workers, cluster=args.cluster, progress=not args.no_progress)
    results = res.to_results()
    path = results.save(args.out)
    if not args.no_plots:
        plot(results, args.out, res.strip)
    print_table(results)
    print(f"-> {path} ({results.provenance['wall_time_s']:.1f} s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
