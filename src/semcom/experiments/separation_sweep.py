"""PSNR / MS-SSIM versus SNR for classical codecs over the 5G NR link (``semcom baseline``).

For every codec x channel x link fidelity x SNR x image x seed, one image is sent through
:class:`semcom.baselines.SeparationSystem` at the same channel bandwidth ratio. ``fidelity`` selects
the bit-true link with one fixed MCS (``bittrue``), the bit-true link with the MCS adapted to the SNR
(``adaptive``: the 38.214 table MCS that maximises the image's expected PSNR over the channel's fading,
:mod:`semcom.link.adaptation`), the BLER-table or
erasure abstraction, or the capacity-achieving code (``capacity``, the ideal separation bound). Results JSON (records + per-point summary) and plots go to
``results/baseline/`` by default.

PSNR is the mean of per-image PSNR (:func:`semcom.metrics.psnr`); a failed or unsent image is scored
with the fallback image (mid-grey), so failures pull the mean down as they would for a user.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from semcom import cliargs
from semcom.errors import ConfigError, SemcomError
from semcom.experiments.common import add_common_arguments, load_config_file, load_image_set
from semcom.experiments.executor import map_tasks
from semcom.experiments.results import Results, provenance
from semcom.utils import from_dict

NAME = "baseline"


@dataclasses.dataclass
class BaselineConfig:
    codecs: list[str] = dataclasses.field(default_factory=lambda: ["jpeg2000", "heif"])
    snr_db: list[float] = dataclasses.field(default_factory=lambda: [-2.0, 0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0])
    channels: list[str] = dataclasses.field(default_factory=lambda: ["awgn", "rayleigh"])
    fidelities: list[str] = dataclasses.field(default_factory=lambda: ["bittrue", "capacity"])
    cbr: float = 1 / 12
    modulation_order: int = 2
    code_rate: float = 0.5
    mcs_index: int | None = None
    mcs_table: int = 1
    fading: str = "per_cb"
    csi: str = "perfect"
    loss_policy: str = "corrupt"
    images: str = "tiny"
    seeds: int = 1
    seed: int = 0
    decoder: str = "fast"
    downscale: int = 1
    link: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.codecs or not self.snr_db or not self.channels or not self.fidelities:
            raise ConfigError("codecs, snr_db, channels and fidelities must be non-empty lists")
        if int(self.seeds) < 1:
            raise ConfigError("seeds must be >= 1")
        for s in self.snr_db:
            if not math.isfinite(float(s)):
                raise ConfigError(f"snr_db values must be finite, got {s}")

    def system_config(self, codec: str, channel: str, fidelity: str) -> dict:
        adaptive = fidelity == "adaptive"
        return dict(
            codec=codec, cbr=self.cbr, fidelity="bittrue" if adaptive else fidelity, link_adaptation=adaptive, modulation_order=self.modulation_order,
            code_rate=self.code_rate, mcs_index=self.mcs_index, mcs_table=self.mcs_table, channel=channel,
            fading=self.fading, csi=self.csi, loss_policy=self.loss_policy, decoder=self.decoder,
            downscale=self.downscale, link=cliargs.bit_true_only(dict(self.link), "bittrue" if adaptive else fidelity),
        )


def run_task(task: dict) -> dict:
    """One transmission through the compare core's point runner (:func:`semcom.systems.comparison.run_point`),
    renamed to this sweep's record; module level so that process pools and Dask can pickle it."""
    from semcom.systems.comparison import run_point

    sys_cfg = task["system"]
    r = run_point(dict(spec={"name": "separation", "options": {"config": sys_cfg}}, label="separation",
                       images=task["images"], image=task["image"], snr_db=task["snr_db"], seed=task["seed"],
                       raise_errors=True))
    return {
        "codec": sys_cfg["codec"],
        "channel": sys_cfg["channel"],
        "fidelity": "adaptive" if sys_cfg.get("link_adaptation") else sys_cfg["fidelity"],
        "mcs": r["extras"].get("mcs"),
        "downscale": r["extras"].get("downscale", 1),
        "bg1_repetition": bool(sys_cfg.get("link", {}).get("bg1_repetition", False)),
        "noise": sys_cfg.get("link", {}).get("noise", "torch") if sys_cfg["fidelity"] == "bittrue" else None,
        "snr_db": task["snr_db"],
        "image": task["image"],
        "seed": task["seed"],
        "status": r["status"],
        "psnr": r["psnr"],
        "ssim": r["ssim"],
        "ms_ssim": r["ms_ssim"],
        "bpp": r["bpp"],
        "stream_bits": r["bits_sent"],
        "payload_capacity_bits": r["extras"].get("payload_capacity_bits"),
        "channel_uses": r["channel_uses"],
        "channel_uses_budget": r["channel_uses_budget"],
        "cbr_spent": r["cbr"],
        "num_cb": r["num_cb"],
        "num_cb_failed": r["num_cb_failed"],
    }


def make_tasks(cfg: BaselineConfig) -> list[dict]:
    names = [name for name, _, _ in load_image_set(cfg.images)]
    tasks = []
    for codec in cfg.codecs:
        for channel in cfg.channels:
            for fidelity in cfg.fidelities:
                sys_cfg = cfg.system_config(codec, channel, fidelity)
                for snr in cfg.snr_db:
                    for i, name in enumerate(names):
                        for s in range(int(cfg.seeds)):
                            seed = cfg.seed + 1000 * s + i
                            tasks.append(dict(system=sys_cfg, images=cfg.images, image=name, snr_db=float(snr), seed=seed))
    return tasks


def summarise(records: list[dict]) -> list[dict]:
    """Mean metrics per (codec, channel, fidelity, snr) point, with the failure rate."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["codec"], r["channel"], r["fidelity"], r["snr_db"]), []).append(r)
    out = []
    for (codec, channel, fidelity, snr), rs in sorted(groups.items()):
        out.append(dict(
            codec=codec, channel=channel, fidelity=fidelity, snr_db=snr, n=len(rs),
            psnr=float(np.mean([r["psnr"] for r in rs])),
            ssim=float(np.mean([r["ssim"] for r in rs])),
            ms_ssim=float(np.mean([r["ms_ssim"] for r in rs])),
            bpp=float(np.mean([r["bpp"] for r in rs])),
            cbr_spent=float(np.mean([r["cbr_spent"] for r in rs])),
            failure_rate=float(np.mean([r["status"] in ("failed", "no_fit") for r in rs])),
            damaged_rate=float(np.mean([r["status"] != "ok" for r in rs])),
        ))
    return out


def run(config: BaselineConfig | dict | None = None, *, workers: int = 1, cluster: str | None = None,
        progress: bool = True) -> Results:
    """Run the sweep and return :class:`Results` (``data = {"records": [...], "summary": [...]}``)."""
    cfg = config if isinstance(config, BaselineConfig) else from_dict(BaselineConfig, config or {})
    images = load_image_set(cfg.images)
    tasks = make_tasks(cfg)
    records = map_tasks(run_task, tasks, workers=workers, cluster=cluster, desc="baseline", progress=progress)
    data = {"records": records, "summary": summarise(records)}
    return Results(NAME, data, provenance(cfg, seed=cfg.seed, data_checksums={n: s for n, _, s in images}))


def plot(results: Results, out_dir: str | Path) -> list[Path]:
    """PSNR and MS-SSIM versus SNR, one panel per channel; PNGs made from the results JSON."""
    from semcom.report.plots import metric_vs_snr

    summary = results.data["summary"]
    paths = []
    for metric, label in (("psnr", "PSNR [dB]"), ("ms_ssim", "MS-SSIM")):
        paths.append(metric_vs_snr(summary, metric, label, Path(out_dir) / f"{NAME}_{metric}.png",
                                   series=("codec", "fidelity"), panels="channel"))
    return paths


CHANNELS = ("awgn", "rayleigh")
FIDELITIES = ("bittrue", "adaptive", "bler_table", "erasure", "capacity")


def add_arguments(p) -> None:
    t = cliargs.typed
    add_common_arguments(p, default_out=f"results/{NAME}")
    p.add_argument("--codecs", default=None, help="comma-separated codecs (jpeg, jpeg2000, webp, avif, heif)")
    p.add_argument("--snr", type=t(cliargs.parse_snr_list), default=None,
                   help="SNR values in dB: '0,5,10' or start:stop:step (e.g. -2:12:2)")
    p.add_argument("--channels", type=t(cliargs.parse_choice_list, choices=CHANNELS, what="channel"), default=None,
                   help="comma-separated: awgn, rayleigh")
    p.add_argument("--fidelity", type=t(cliargs.parse_choice_list, choices=FIDELITIES, what="fidelity"), default=None,
                   help="comma-separated link models: bittrue (fixed MCS), adaptive (bit-true, MCS per SNR), "
                        "bler_table, erasure, capacity")
    p.add_argument("--cbr", type=t(cliargs.parse_cbr), default=None,
                   help=f"channel bandwidth ratio (complex uses per real value), in (0, {cliargs.MAX_CBR:g}]")
    p.add_argument("--modulation-order", type=int, choices=[2, 4, 6, 8], default=None,
                   help="bits per QAM symbol of the fixed MCS: 2, 4, 6, 8")
    p.add_argument("--code-rate", type=t(cliargs.parse_float, what="code rate", lo=30 / 1024, hi=948 / 1024),
                   default=None, help="LDPC code rate of the fixed MCS, in [30/1024, 948/1024]")
    p.add_argument("--mcs-index", type=t(cliargs.parse_int, what="MCS index", lo=0, hi=31), default=None,
                   help="38.214 MCS index of the fixed MCS (table 1: 0..28), instead of modulation and rate")
    p.add_argument("--images", type=t(cliargs.parse_image_set), default=None,
                   help="'tiny', 'all', 'all-256' or a folder of your images")
    p.add_argument("--seeds", type=t(cliargs.parse_int, what="seeds", lo=1, hi=1000), default=None,
                   help="channel realisations per image and SNR, 1..1000")
    p.add_argument("--loss-policy", default=None, choices=["corrupt", "truncate"], help="what a lost code block does to the stream")
    p.add_argument("--decoder", default=None, choices=["sionna", "fast"], help="LDPC decoder of the bit-true link")
    p.add_argument("--downscale", type=int, choices=[1, 2, 4, 8], default=None,
                   help="largest factor by which the sender may lower the resolution when that does better (default 1: never)")
    cliargs.add_bg1_repetition_argument(p)
    cliargs.add_noise_argument(p)


def config_from_args(args) -> BaselineConfig:
    """The config file with the given options written over it, checked: codecs usable here, a fixed
    MCS (``--modulation-order``/``--code-rate``/``--mcs-index``) only when a link uses one, and
    ``--decoder`` only with a bit-true link."""
    d = load_config_file(args.config)
    if args.codecs is not None:
        d["codecs"] = cliargs.split_names(args.codecs)
    if args.snr is not None:
        d["snr_db"] = args.snr
    if args.fidelity is not None:
        d["fidelities"] = args.fidelity
    d.update(cliargs.given(args, ("channels", "cbr", "modulation_order", "code_rate", "mcs_index", "images",
                                  "seeds", "loss_policy", "decoder", "seed", "downscale")))
    cfg = from_dict(BaselineConfig, cliargs.link_options_given(d, args))
    _check_applies(args, cfg)
    return cfg


def _check_applies(args, cfg: BaselineConfig) -> None:
    from semcom.codecs import get_codec

    for codec in cfg.codecs:
        get_codec(codec)  # unknown or unavailable here -> ConfigError, before any work
    cliargs.check_snr_values(cfg.snr_db)
    cliargs.check_cbr_value(cfg.cbr)
    try:
        from semcom.link import MCS

        if cfg.mcs_index is not None:
            MCS.from_table(cfg.mcs_index, table=cfg.mcs_table)
        else:
            MCS.from_rate(cfg.modulation_order, cfg.code_rate)
    except SemcomError as exc:
        raise ConfigError(f"the fixed MCS: {exc}") from None
    fids = set(cfg.fidelities)
    fixed = bool(fids & {"bittrue", "bler_table", "erasure"}) or ("capacity" in fids and "rayleigh" in cfg.channels)
    cliargs.check_exclusive(("--mcs-index", args.mcs_index is not None),
                            ("--modulation-order/--code-rate", args.modulation_order is not None or args.code_rate is not None))
    for flag in ("modulation_order", "code_rate", "mcs_index"):
        cliargs.check_applies("--" + flag.replace("_", "-"), getattr(args, flag) is not None, fixed,
                              "no link of this sweep uses a fixed MCS (adaptive picks it per SNR; capacity over AWGN has none)")
    cliargs.check_applies("--decoder", args.decoder is not None, bool(fids & {"bittrue", "adaptive"}),
                          "only the bit-true links (bittrue, adaptive) decode LDPC")
    cliargs.check_applies("--bg1-repetition", bool(args.bg1_repetition), bool(fids - {"capacity"}),
                          "only links with an MCS lay out transport blocks (capacity has no base graph)")
    cliargs.check_applies("--noise", "noise" in cfg.link, bool(fids & {"bittrue", "adaptive"}),
                          "only the bit-true links (bittrue, adaptive) draw channel noise")


def main_from_args(args) -> int:
    cfg = config_from_args(args)
    cliargs.check_common(args)
    res = run(cfg, workers=args.workers, cluster=args.cluster, progress=not args.no_progress)
    path = res.save(args.out)
    plots = plot(res, args.out)
    _print_summary(res.data["summary"])
    print(f"wrote {path} and {len(plots)} plots")
    return 0


def _print_summary(summary: list[dict]) -> None:
    print(f"{'codec':9s} {'channel':9s} {'fidelity':10s} {'SNR':>6s} {'PSNR':>7s} {'MS-SSIM':>8s} {'bpp':>6s} {'fail':>5s}")
    for s in summary:
        print(f"{s['codec']:9s} {s['channel']:9s} {s['fidelity']:10s} {s['snr_db']:6.1f} {s['psnr']:7.2f} "
              f"{s['ms_ssim']:8.4f} {s['bpp']:6.3f} {s['failure_rate']:5.2f}")
