"""Code-block and transport-block error rate versus SNR over the 5G NR link (``semcom link``).

For each MCS x channel x link fidelity x SNR, random payloads are sent through
:func:`semcom.link.make_link` until ``num_blocks`` code blocks have been observed. Reported per
point: CBLER, TBLER, the payload error rate (a payload is lost when any of its code blocks is),
the goodput in delivered information bits per complex channel use, and the capacity bound at that
SNR. ``--fidelity bittrue,bler_table`` puts the bit-true link and its table abstraction side by
side. ``--bg1-repetition`` (config ``link: {"bg1_repetition": true}``) lays TBs out as 38.212
does where the default caps them (:mod:`semcom.link.layout`); run once with and once without it
to compare the two layouts.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch

from semcom import cliargs
from semcom.errors import ConfigError, InputError
from semcom.experiments.common import add_common_arguments, load_config_file
from semcom.experiments.executor import map_tasks
from semcom.experiments.results import Results, provenance
from semcom.utils import from_dict, make_generator

NAME = "link"


@dataclasses.dataclass
class LinkSweepConfig:
    mcs: list[str | int] = dataclasses.field(default_factory=lambda: ["2:0.5", "2:0.667", "4:0.5"])
    snr_db: list[float] = dataclasses.field(default_factory=lambda: [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    channels: list[str] = dataclasses.field(default_factory=lambda: ["awgn"])
    fidelities: list[str] = dataclasses.field(default_factory=lambda: ["bittrue", "bler_table"])
    payload_bits: int = 4000
    num_blocks: int = 200
    fading: str = "per_cb"
    csi: str = "perfect"
    cbler: float = 0.1
    decoder: str = "fast"
    seed: int = 0
    link: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.payload_bits < 8 or self.num_blocks < 1:
            raise ConfigError("payload_bits must be >= 8 and num_blocks >= 1")
        for m in self.mcs:
            parse_mcs(m)


def parse_mcs(spec):
    """``"2:0.5"`` / ``"2:1/2"`` (modulation order : code rate), ``"idx9"`` or an int (38.214
    table-1 index) -> :class:`semcom.link.MCS`; a malformed or unsupported spec is a ConfigError."""
    from semcom.cliargs import parse_mcs as parse

    try:
        return parse(spec)
    except InputError as exc:
        raise ConfigError(str(exc)) from None


def run_task(task: dict) -> dict:
    from semcom.link import make_link

    mcs = parse_mcs(task["mcs"])
    kw = cliargs.bit_true_only(dict(task["link"]), task["fidelity"])
    kw["mcs"] = mcs
    kw["channel"] = task["channel"]
    if task["channel"] != "awgn":
        kw.setdefault("fading", task["fading"])
        kw.setdefault("csi", task["csi"])
    if task["fidelity"] == "erasure":
        kw.setdefault("cbler", task["cbler"])
    if task["fidelity"] == "bittrue":
        kw.setdefault("decoder", task["decoder"])
    link = make_link(fidelity=task["fidelity"], **kw)
    gen = make_generator(task["seed"])
    k = task["payload_bits"]
    plan = link.plan(k)
    per_payload = max(1, plan.num_cb)
    batch = max(1, math.ceil(task["num_blocks"] / per_payload))
    bits = torch.randint(0, 2, (batch, k), generator=gen).float()
    res = link.transmit(bits, task["snr_db"], generator=gen)
    cb_ok = res.cb_ok.reshape(batch, -1)
    tb_ok = res.tb_ok.reshape(batch, -1)
    delivered = float(res.delivered_mask.float().sum()) / batch
    from semcom.link import capacity_bits

    return {
        "mcs": str(task["mcs"]), "modulation_order": mcs.modulation_order, "code_rate": mcs.code_rate,
        "channel": task["channel"], "fidelity": task["fidelity"], "snr_db": task["snr_db"],
        "num_cb": int(cb_ok.numel()), "num_tb": int(tb_ok.numel()),
        "cbler": float((~cb_ok).float().mean()), "tbler": float((~tb_ok).float().mean()),
        "payload_error": float((~cb_ok).any(dim=1).float().mean()), "num_payloads": batch,
        "bg1_repetition": bool(getattr(link, "bg1_repetition", False)),
        "noise": getattr(link, "noise", None),
        "bit_errors_in_passed_cb": int(((res.bits != bits) & res.delivered_mask).sum()),
        "channel_uses": int(res.channel_uses),
        "goodput_bits_per_use": delivered / res.channel_uses,
        "capacity_bits_per_use": capacity_bits(1, task["snr_db"]),
    }


def run(config: LinkSweepConfig | dict | None = None, *, workers: int = 1, cluster: str | None = None,
        progress: bool = True) -> Results:
    cfg = config if isinstance(config, LinkSweepConfig) else from_dict(LinkSweepConfig, config or {})
    tasks = []
    for mi, m in enumerate(cfg.mcs):
        for channel in cfg.channels:
            for fid in cfg.fidelities:
                for si, snr in enumerate(cfg.snr_db):
                    tasks.append(dict(mcs=m, channel=channel, fidelity=fid, snr_db=float(snr), link=dict(cfg.link),
                                      payload_bits=cfg.payload_bits, num_blocks=cfg.num_blocks, fading=cfg.fading,
                                      csi=cfg.csi, cbler=cfg.cbler, decoder=cfg.decoder, seed=cfg.seed + 7919 * mi + 101 * si))
    records = map_tasks(run_task, tasks, workers=workers, cluster=cluster, desc="link", progress=progress)
    return Results(NAME, {"records": records, "snr_at_10pct_cbler": snr_at_target(records, 0.1)},
                   provenance(cfg, seed=cfg.seed))


def snr_at_target(records: list[dict], target: float) -> list[dict]:
    """SNR where the CBLER curve crosses ``target`` (log-linear interpolation), per curve."""
    out = []
    keys = sorted({(r["mcs"], r["channel"], r["fidelity"]) for r in records})
    for mcs, ch, fid in keys:
        pts = sorted((r["snr_db"], r["cbler"]) for r in records if (r["mcs"], r["channel"], r["fidelity"]) == (mcs, ch, fid))
        out.append({"mcs": mcs, "channel": ch, "fidelity": fid, "snr_db": crossing(pts, target)})
    return out


def crossing(points: list[tuple[float, float]], target: float) -> float | None:
    """First SNR where a decreasing error-rate curve falls to ``target`` (interpolated in log10)."""
    for (s0, b0), (s1, b1) in zip(points, points[1:]):
        if b0 >= target >= b1 and b0 != b1:
            l0, l1, lt = (math.log10(max(v, 1e-6)) for v in (b0, b1, target))
            return s0 + (s1 - s0) * (l0 - lt) / (l0 - l1) if l0 != l1 else s0
    return None


def plot(results: Results, out_dir) -> list[Path]:
    from semcom.report.plots import metric_vs_snr

    recs = results.data["records"]
    return [
        metric_vs_snr(recs, "cbler", "code-block error rate", Path(out_dir) / "link_cbler.png",
                      series=("mcs", "fidelity"), panels="channel", logy=True),
        metric_vs_snr(recs, "goodput_bits_per_use", "delivered bits / channel use", Path(out_dir) / "link_goodput.png",
                      series=("mcs", "fidelity"), panels="channel"),
    ]


CHANNELS = ("awgn", "rayleigh")
FIDELITIES = ("bittrue", "bler_table", "erasure", "capacity")


def add_arguments(p) -> None:
    add_common_arguments(p, default_out=f"results/{NAME}")
    p.add_argument("--mcs", type=cliargs.typed(cliargs.parse_mcs_list), default=None,
                   help="comma-separated MCS: 'Qm:rate' (e.g. 2:1/2,4:2/3) or 'idxN' (38.214 table 1)")
    p.add_argument("--snr", type=cliargs.typed(cliargs.parse_snr_list), default=None,
                   help="SNR values in dB: '0,1,2' or start:stop:step (e.g. -2:6:1)")
    p.add_argument("--channels", type=cliargs.typed(cliargs.parse_choice_list, choices=CHANNELS, what="channel"),
                   default=None, help="comma-separated: awgn, rayleigh")
    p.add_argument("--fidelity", type=cliargs.typed(cliargs.parse_choice_list, choices=FIDELITIES, what="fidelity"),
                   default=None, help="comma-separated: bittrue, bler_table, erasure, capacity")
    p.add_argument("--payload-bits", type=cliargs.typed(cliargs.parse_int, what="payload bits", lo=8, hi=1_000_000),
                   default=None, help="information bits per payload, 8..1000000 (sets the TB/CB layout)")
    p.add_argument("--num-blocks", type=cliargs.typed(cliargs.parse_int, what="code blocks", lo=1, hi=10_000),
                   default=None, help="code blocks observed per point, 1..10000")
    p.add_argument("--fading", default=None, choices=["per_cb", "per_tb"],
                   help="Rayleigh coefficient per code block or per transport block (rayleigh channel only)")
    p.add_argument("--csi", default=None, choices=["perfect", "estimated", "none"],
                   help="receiver CSI model (rayleigh channel only)")
    p.add_argument("--cbler", type=cliargs.typed(cliargs.parse_float, what="CBLER", lo=0.0, hi=1.0), default=None,
                   help="code-block error rate of the erasure link, in [0, 1]")
    p.add_argument("--decoder", default=None, choices=["sionna", "fast"], help="LDPC decoder of the bit-true link")
    cliargs.add_bg1_repetition_argument(p)
    cliargs.add_noise_argument(p)


def config_from_args(args) -> LinkSweepConfig:
    """The config file, the options given written over it, and the check that each given option
    applies to the sweep (``--cbler`` needs the erasure link, ``--decoder`` the bit-true one,
    ``--fading``/``--csi`` a Rayleigh channel)."""
    d = load_config_file(args.config)
    d.update(cliargs.given(args, ("mcs", "channels", "payload_bits", "num_blocks", "fading", "csi", "cbler",
                                  "decoder", "seed")))
    if args.snr is not None:
        d["snr_db"] = args.snr
    if args.fidelity is not None:
        d["fidelities"] = args.fidelity
    cfg = from_dict(LinkSweepConfig, cliargs.link_options_given(d, args))
    cliargs.check_snr_values(cfg.snr_db)
    fids, chans = set(cfg.fidelities), set(cfg.channels)
    cliargs.check_applies("--cbler", args.cbler is not None, "erasure" in fids, "only the erasure link (--fidelity erasure) has a set CBLER")
    cliargs.check_applies("--decoder", args.decoder is not None, "bittrue" in fids, "only the bit-true link (--fidelity bittrue) decodes LDPC")
    cliargs.check_applies("--noise", "noise" in cfg.link, "bittrue" in fids,
                          "only the bit-true link (--fidelity bittrue) draws channel noise")
    for flag in ("fading", "csi"):
        cliargs.check_applies(f"--{flag}", getattr(args, flag) is not None, "rayleigh" in chans,
                              "it sets the Rayleigh channel (--channels rayleigh)")
    return cfg


def main_from_args(args) -> int:
    cfg = config_from_args(args)
    cliargs.check_common(args)
    res = run(cfg, workers=args.workers, cluster=args.cluster, progress=not args.no_progress)
    path = res.save(args.out)
    plot(res, args.out)
    print(f"{'MCS':9s} {'channel':9s} {'fidelity':10s} {'SNR':>6s} {'CBLER':>7s} {'TBLER':>7s} {'payload':>7s} "
          f"{'bits/use':>8s}")
    for r in res.data["records"]:
        print(f"{r['mcs']:9s} {r['channel']:9s} {r['fidelity']:10s} {r['snr_db']:6.1f} {r['cbler']:7.3f} "
              f"{r['tbler']:7.3f} {r['payload_error']:7.3f} {r['goodput_bits_per_use']:8.3f}")
    for c in res.data["snr_at_10pct_cbler"]:
        s = "n/a" if c["snr_db"] is None else f"{c['snr_db']:.2f} dB"
        print(f"10% CBLER: {c['mcs']} {c['channel']} {c['fidelity']}: {s}")
    print(f"wrote {path}")
    return 0
