"""Code-block and transport-block error rate versus SNR over the 5G NR link (``semcom link``).

For each MCS x channel x link fidelity x SNR, random payloads are sent through
:func:`semcom.link.make_link` until ``num_blocks`` code blocks have been observed. Reported per
point: CBLER, TBLER, the goodput in delivered information bits per complex channel use, and the
capacity bound at that SNR. ``--fidelity bittrue,bler_table`` puts the bit-true link and its
table abstraction side by side.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch

from semcom.errors import ConfigError
from semcom.experiments.common import add_common_arguments, load_config_file, parse_floats
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
    """``"2:0.5"`` (modulation order : code rate) or ``"idx9"`` / an int (38.214 table-1 index)."""
    from semcom.link import MCS

    if isinstance(spec, int):
        return MCS.from_table(spec)
    s = str(spec).strip()
    if s.startswith("idx"):
        return MCS.from_table(int(s[3:]))
    if ":" in s:
        q, r = s.split(":", 1)
        return MCS.from_rate(int(q), float(eval_fraction(r)))
    raise ConfigError(f"MCS spec must be 'Qm:rate' or 'idxN', got {spec!r}")


def eval_fraction(text: str) -> float:
    if "/" in text:
        a, b = text.split("/", 1)
        return float(a) / float(b)
    return float(text)


def run_task(task: dict) -> dict:
    from semcom.link import make_link

    mcs = parse_mcs(task["mcs"])
    kw = dict(task["link"])
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


def add_arguments(p) -> None:
    add_common_arguments(p, default_out=f"results/{NAME}")
    p.add_argument("--mcs", default=None, help="comma-separated MCS: 'Qm:rate' (e.g. 2:1/2,4:2/3) or 'idxN' (38.214 table 1)")
    p.add_argument("--snr", default=None, help="SNR values in dB: '0,1,2' or start:stop:step")
    p.add_argument("--channels", default=None, help="comma-separated: awgn, rayleigh")
    p.add_argument("--fidelity", default=None, help="comma-separated: bittrue, bler_table, erasure, capacity")
    p.add_argument("--payload-bits", type=int, default=None, help="information bits per payload (sets the TB/CB layout)")
    p.add_argument("--num-blocks", type=int, default=None, help="code blocks observed per point")
    p.add_argument("--fading", default=None, choices=["per_cb", "per_tb"], help="Rayleigh coefficient per code block or per transport block")
    p.add_argument("--csi", default=None, choices=["perfect", "estimated", "none"], help="receiver CSI model")
    p.add_argument("--cbler", type=float, default=None, help="code-block error rate of the erasure link")
    p.add_argument("--decoder", default=None, choices=["sionna", "fast"], help="LDPC decoder of the bit-true link")


def main_from_args(args) -> int:
    d = load_config_file(args.config)
    for key, val in (("mcs", args.mcs), ("channels", args.channels), ("fidelities", args.fidelity)):
        if val:
            d[key] = [v.strip() for v in val.split(",") if v.strip()]
    if args.snr:
        d["snr_db"] = parse_floats(args.snr)
    for key in ("payload_bits", "num_blocks", "fading", "csi", "cbler"):
        if getattr(args, key) is not None:
            d[key] = getattr(args, key)
    if args.decoder:
        d["decoder"] = args.decoder
    d["seed"] = args.seed
    cfg = from_dict(LinkSweepConfig, d)
    res = run(cfg, workers=args.workers, cluster=args.cluster, progress=not args.no_progress)
    path = res.save(args.out)
    plot(res, args.out)
    print(f"{'MCS':9s} {'channel':9s} {'fidelity':10s} {'SNR':>6s} {'CBLER':>7s} {'TBLER':>7s} {'bits/use':>8s}")
    for r in res.data["records"]:
        print(f"{r['mcs']:9s} {r['channel']:9s} {r['fidelity']:10s} {r['snr_db']:6.1f} {r['cbler']:7.3f} "
              f"{r['tbler']:7.3f} {r['goodput_bits_per_use']:8.3f}")
    for c in res.data["snr_at_10pct_cbler"]:
        s = "n/a" if c["snr_db"] is None else f"{c['snr_db']:.2f} dB"
        print(f"10% CBLER: {c['mcs']} {c['channel']} {c['fidelity']}: {s}")
    print(f"wrote {path}")
    return 0
