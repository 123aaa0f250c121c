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
from semcom import cliargs

QUICK = {
    "systems": ["deepjscc", "seb", "separation:codec=heif,link=adaptive", "separation:codec=heif,link=capacity"],
    "images": "tiny",
    "snr": "0,5,10",
    "channel": "awgn",
    "cbr": "match:deepjscc",
}
DEFAULTS = {"images": "tiny", "snr": "0:10:5", "channel": "awgn", "cbr": None}
IMAGE_ALIASES = {"test": "all-256"}


def _parse_budget(text: str) -> str | float:
    """``--cbr``: a CBR in (0, 1] for every system, or ``match:NAME``."""
    s = str(text).strip()
    if s.startswith("match:"):
        if not s[len("match:"):].strip():
            raise cliargs.UsageError("--cbr match:NAME needs the name of one of the --systems")
        return s
    return cliargs.parse_cbr(s)


def _parse_images(text: str) -> str:
    """``--images``: tiny, test (every bundled photo at 256 x 256), all, all-N or a folder."""
    s = str(text).strip()
    return cliargs.parse_image_set(IMAGE_ALIASES.get(s, s))


def _parse_channel(text: str) -> str:
    """``--channel``: a registered channel name with its options (checked now, not mid-run)."""
    from semcom.systems.channels import ChannelSpec

    try:
        return str(ChannelSpec.parse(text))
    except (ConfigError, ValueError, TypeError) as exc:
        raise cliargs.UsageError(f"--channel {text!r}: {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    t = cliargs.typed
    p = cliargs.ArgumentParser(prog="semcom compare", description=__doc__.strip().split("\n\n")[0],
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--systems", nargs="+", action="extend", default=None, metavar="SPEC",
                   help="system specs, e.g. deepjscc seb separation:codec=heif,link=adaptive mymodule:MySystem")
    p.add_argument("--images", type=t(_parse_images), default=None,
                   help="tiny, test (every bundled photo, 256x256 crops), all, all-N, or a folder")
    p.add_argument("--snr", type=t(cliargs.parse_snr_list), default=None,
                   help="SNR grid in dB: A:B:STEP (B included) or a comma list; negative values need no '='")
    p.add_argument("--channel", type=t(_parse_channel), default=None,
                   help="awgn, rayleigh_block or rayleigh_fast (add :csi=estimated,csi_error_var=0.01)")
    p.add_argument("--cbr", type=t(_parse_budget), default=None,
                   help="the budget: a CBR for every system, or match:NAME (the channel uses NAME spends)")
    p.add_argument("--crop", type=t(cliargs.parse_int, what="--crop", lo=1, hi=4096), default=None,
                   help="centre-crop every image to multiples of this size")
    p.add_argument("--seeds", type=t(cliargs.parse_int, what="--seeds", lo=1, hi=1000), default=1,
                   help="transmissions per image and SNR")
    p.add_argument("--plugin", action="append", default=[], help="module or .py file registering models/systems (repeatable)")
    p.add_argument("--quick", action="store_true", help="a small default comparison (fills options not given)")
    p.add_argument("--no-plots", action="store_true", help="write the JSON only")
    cliargs.add_common_arguments(p, default_out="results/compare")
    return p


def config_from_args(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`semcom.systems.compare` from the parsed command line. ``--quick``
    fills only what the user left unset."""
    if args.config is not None:
        raise cliargs.UsageError("semcom compare takes no --config: give --systems, --images, --snr, --channel, --cbr")
    vals = cliargs.fill_defaults(cliargs.given(args, ("systems", "images", "snr", "channel", "cbr")),
                                 QUICK if args.quick else DEFAULTS)
    if not vals.get("systems"):
        raise ConfigError("give --systems SPEC ... (or --quick for the default set)")
    snr = vals["snr"] if isinstance(vals["snr"], list) else cliargs.parse_snr_list(vals["snr"])
    images = _parse_images(vals["images"])
    return dict(systems=list(vals["systems"]), images=images, snr_db=snr, channel=vals["channel"],
                budget=vals.get("cbr"), seeds=args.seeds, seed=args.seed if args.seed is not None else 0,
                crop=args.crop, plugins=list(args.plugin))


def plot(results, out_dir: str | Path, strip: dict | None = None) -> list[Path]:
    """Quality versus SNR, quality versus channel uses (from the JSON), and the reconstruction strip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semcom.report.plots import _STYLES, image_grid, metric_vs_snr, save_figure

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
    paths.append(save_figure(fig, out / "compare_psnr_vs_channel_uses.png"))
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
    args = build_parser().parse_args(argv)
    kw = config_from_args(args)
    cliargs.check_common(args)
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
