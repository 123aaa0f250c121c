"""``semcom lsci ...``: the LSCI experiments (Dong et al., JSAC 2022) on the committed checkpoints.

Verbs (each a ``run_<verb>(config) -> Results`` writing ``results/lsci/<verb>.json`` and a plot):

* ``train`` / ``train-slice``: train the base model (base or GAN stage) / a slice model.
* ``rate``: rate-perception (Fig. 6): PSNR, MS-SSIM and SS vs bpp of LSCI against JPEG, JPEG2000
  and HEIF on the test photos; the bit-rate saving at equal PSNR / MS-SSIM.
* ``transmit``: LSCI with channel slices vs LSCI + 5G LDPC (adapted MCS) vs DeepJSCC vs
  JPEG2000 / HEIF + LDPC at the slice's channel uses, through the compare core (AWGN, block Rayleigh).
* ``propagation``: slice models as payload (Fig. 10): quality vs quantisation bits and sparsity,
  the package's bits and channel uses over the bit-true link, a corrupted and a foreign slice refused.
* ``enhance``: enhancement slices (Fig. 8): foreground vs background enhancement on person photos.
* ``timing``: CPU running times of source and channel coding (Tables IV-V).

Example:
    semcom lsci rate --images all-256
    semcom lsci transmit --channel rayleigh_block --snr=-2,0,2,4,6,8,10
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import torch

from semcom.errors import ConfigError
from semcom.experiments.results import Results, provenance

OUT = Path("results") / "lsci"
CODECS = ("jpeg", "jpeg2000", "heif")
#: bundled test photos that show a person: SS (person segmentation) is scored on these only; on the
#: others the selfie segmenter's "person" mask is spurious (it marked large areas of the cat, the
#: coffee cup and the flower in our runs)
PERSON_PHOTOS = ("astronaut", "grace_hopper")
BPP_GRID = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8)


def _images(spec: str):
    from semcom.experiments.common import load_image_set

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return load_image_set(spec)


def _quality(x, y, with_ss: bool) -> dict:
    from semcom.metrics import ms_ssim, psnr

    q = {"psnr_db": float(psnr(x, y)[0]), "ms_ssim": float(ms_ssim(x, y)[0])}
    if with_ss:
        from semcom.metrics.ss import semantic_service

        q["ss"] = semantic_service(x, y)["ss"]
    return q


# --------------------------------------------------------------------------- rate-perception
def _interp_bpp(curve: list[tuple[float, float]], target: float) -> float | None:
    """bpp at which a (bpp, quality) curve reaches ``target`` (linear between points; None outside)."""
    pts = sorted(curve)
    for (b0, q0), (b1, q1) in zip(pts, pts[1:]):
        if min(q0, q1) <= target <= max(q0, q1) and q1 != q0:
            return b0 + (target - q0) * (b1 - b0) / (q1 - q0)
    return None


def run_rate(images: str = "all-256", bases: Sequence[str] = ("lsci_base", "lsci_gan"),
             bpps: Sequence[float] = BPP_GRID, codecs: Sequence[str] = CODECS) -> Results:
    """Rate-perception of the base model(s) against the classical codecs (see module doc)."""
    from semcom.codecs import CodecBudgetError, get_codec
    from semcom.models.lsci import checkpoint_path, load_pretrained_base

    imgs = _images(images)
    models = {b: load_pretrained_base(b) for b in bases if checkpoint_path(b).is_file()}
    if not models:
        raise ConfigError(f"none of the base checkpoints {list(bases)} is committed")
    rows = []
    for name, x, _ in imgs:
        person = name in PERSON_PHOTOS
        for b, m in models.items():
            data = m.encode(x)
            rows.append({"image": name, "method": b, "bpp": 8 * len(data) / (x.shape[-2] * x.shape[-1]),
                         **_quality(x, m.decode(data), person)})
        for c in codecs:
            codec = get_codec(c, isolate=False)
            for bpp in bpps:
                try:
                    data = codec.encode(x, bpp=bpp)
                except CodecBudgetError:
                    continue
                rows.append({"image": name, "method": c, "target_bpp": bpp,
                             "bpp": 8 * len(data) / (x.shape[-2] * x.shape[-1]), **_quality(x, codec.decode(data), person)})
    savings = {}
    for b in models:
        for c in codecs:
            for metric in ("psnr_db", "ms_ssim"):
                per = []
                for name, _, _ in imgs:
                    own = [r for r in rows if r["image"] == name and r["method"] == b][0]
                    need = _interp_bpp([(r["bpp"], r[metric]) for r in rows if r["image"] == name and r["method"] == c],
                                       own[metric])
                    if need is not None:
                        per.append(1 - own["bpp"] / need)
                savings[f"{b}_vs_{c}_{metric}"] = {"mean_saving": sum(per) / len(per) if per else None,
                                                   "images": len(per)}
    summary = {}
    for meth in list(models) + list(codecs):
        rs = [r for r in rows if r["method"] == meth]
        summary[meth] = {k: sum(r[k] for r in rs) / len(rs) for k in ("bpp", "psnr_db", "ms_ssim")} if rs else {}
    cfg = {"images": images, "bases": list(models), "bpps": list(bpps), "codecs": list(codecs)}
    res = Results("rate", {"rows": rows, "bitrate_saving": savings, "mean_of_lsci_points": summary,
                           "paper": {"saving_vs_jpeg": 0.10, "saving_vs_jpeg2000": 0.02}},
                  provenance(cfg, 0, {n: d for n, _, d in imgs}))
    return res


def plot_rate(res: Results, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semcom.report.plots import save_figure

    rows = res.data["rows"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, metric in zip(axes, ("psnr_db", "ms_ssim", "ss")):
        for meth in sorted({r["method"] for r in rows}):
            pts = {}
            for r in rows:
                if r["method"] == meth and r.get(metric) is not None:
                    key = r.get("target_bpp", "lsci")
                    pts.setdefault(key, []).append((r["bpp"], r[metric]))
            xy = sorted((sum(p[0] for p in v) / len(v), sum(p[1] for p in v) / len(v)) for v in pts.values())
            if xy:
                ax.plot(*zip(*xy), "o-" if len(xy) > 1 else "*", label=meth, markersize=5 if len(xy) > 1 else 12)
        ax.set_xlabel("bpp (from bytes)")
        ax.set_ylabel({"psnr_db": "PSNR (dB)", "ms_ssim": "MS-SSIM", "ss": "SS (person photos)"}[metric])
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return save_figure(fig, out / "rate.png")


# --------------------------------------------------------------------------- transmission
def run_transmit(channel: str = "awgn", snrs: Sequence[float] = (-2, 0, 2, 4, 6, 8, 10, 12), images: str = "tiny",
                 deepjscc: str = "deepjscc_awgn5_spp0125", codecs: Sequence[str] = ("jpeg2000", "heif")) -> Results:
    """The compare core on LSCI (slice, LDPC), DeepJSCC and codec + LDPC at the slice's channel uses."""
    from semcom.systems import compare

    systems = ["lsci:mode=slice,label=LSCI+slice", "lsci:mode=ldpc,label=LSCI+LDPC",
               f"learned:ckpt={deepjscc},label=DeepJSCC"]
    systems += [f"separation:codec={c},link=adaptive,label={c.upper()}+LDPC" for c in codecs]
    res = compare(systems, images, list(snrs), channel=channel, budget="match:LSCI+slice", seeds=1, crop=64)
    out = res.to_results()
    out.name = f"transmit_{channel}"
    return out


def plot_transmit(res: Results, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semcom.report.plots import save_figure

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for s in res.data["systems"]:
        pts = [(p["snr_db"], p.get("psnr_db", p.get("psnr"))) for p in s["points"]]
        pts = [(a, b) for a, b in pts if b is not None]
        if pts:
            ax.plot(*zip(*pts), "o-", label=s["name"])
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(res.data["channel"]["name"] if isinstance(res.data["channel"], dict) else str(res.data["channel"]))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, out / f"{res.name}.png")


# --------------------------------------------------------------------------- propagation
def _psnr_with_slice(base, sl, imgs, snr_db: float) -> float:
    from semcom.metrics import psnr

    vals = []
    with torch.no_grad():
        for i, (_, x, _) in enumerate(imgs):
            wq = base(x, "hard")["wq"]
            w_hat, _ = sl(wq, snr_db, generator=torch.Generator().manual_seed(i))
            vals.append(float(psnr(x, base.synthesise(w_hat, x.shape[-2:]).clamp(0, 1))[0]))
    return sum(vals) / len(vals)


def run_propagation(slice_name: str = "lsci_channel_awgn", base_name: str = "lsci_base", snr_db: float = 10.0,
                    bits: Sequence[int] = (2, 3, 4, 6, 8, 12, 16), sparsities: Sequence[float] = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9),
                    link_snr_db: float = 10.0, mcs: int = 9, images: str = "tiny") -> Results:
    """Fig. 10 on a channel slice, and one propagation of its package over the bit-true link."""
    from semcom.link import make_link
    from semcom.models.lsci import checkpoint_path, load_blob, load_pretrained_base
    from semcom.models.lsci_slices import ChannelSlice
    from semcom.semantics.slices import (
        SliceCorruptError, SliceMissingError, SliceReceiver, SliceServer, SliceVersionError, send_over_link, unpack_slice,
    )

    base = load_pretrained_base(base_name)
    cfg, sd, _ = load_blob(checkpoint_path(slice_name), "lsci_channel_slice")
    ref = ChannelSlice(cfg)
    ref.load_state_dict(sd)
    ref.eval()
    imgs = _images(images)
    server = SliceServer(base.version())
    rows = [{"bits": 32, "sparsity": 0.0, "package_bytes": None, "psnr_db": _psnr_with_slice(base, ref, imgs, snr_db)}]
    for b, s in [(b, 0.0) for b in bits] + [(8, s) for s in sparsities if s > 0]:
        pkg = server.add(f"{slice_name}-b{b}-s{s}", ref, ref.kind, cfg, bits=b, sparsity=s)
        m = ChannelSlice(cfg)
        m.load_state_dict(unpack_slice(pkg, base_version=base.version())[0])
        rows.append({"bits": b, "sparsity": s, "package_bytes": len(pkg),
                     "psnr_db": _psnr_with_slice(base, m.eval(), imgs, snr_db)})
    # one propagation: the receiver lacks the slice, asks, receives over the bit-true link, installs
    rx = SliceReceiver(base.version(), {ref.kind: ChannelSlice})
    events = []
    try:
        rx.get(slice_name)
    except SliceMissingError as exc:
        events.append({"event": "missing -> request", "request": exc.request.name})
        server.add(slice_name, ref, ref.kind, cfg, bits=8, sparsity=0.5)
        link = make_link("bittrue", mcs=mcs)
        t0 = time.time()
        got = send_over_link(server.serve(exc.request), link, link_snr_db, generator=0)
        events.append({"event": "sent", "bits": got.bits, "channel_uses": got.channel_uses, "cb_failed": got.cb_failed,
                       "snr_db": link_snr_db, "mcs": mcs, "seconds": round(time.time() - t0, 2)})
        rx.receive(got.received)
        events.append({"event": "installed", "psnr_db": _psnr_with_slice(base, rx.get(slice_name), imgs, snr_db)})
        bad = send_over_link(server.packages[slice_name], link, -2.0, generator=1)
        try:
            rx.receive(bad.received)
            events.append({"event": "low-SNR copy accepted", "cb_failed": bad.cb_failed})
        except SliceCorruptError as err:
            events.append({"event": "corrupted copy refused", "cb_failed": bad.cb_failed, "error": str(err)})
        other = SliceServer("0" * 64)
        try:
            rx.receive(other.add(slice_name, ref, ref.kind, cfg))
        except SliceVersionError as err:
            events.append({"event": "foreign base version refused", "error": str(err)[:80]})
    conf = {"slice": slice_name, "base": base_name, "snr_db": snr_db, "bits": list(bits), "sparsities": list(sparsities),
            "link_snr_db": link_snr_db, "mcs": mcs, "images": images}
    return Results("propagation", {"rows": rows, "events": events}, provenance(conf, 0, {n: d for n, _, d in imgs}))


def plot_propagation(res: Results, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semcom.report.plots import save_figure

    rows = res.data["rows"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    qb = sorted((r["bits"], r["psnr_db"]) for r in rows if r["sparsity"] == 0 and r["package_bytes"])
    qs = sorted((r["sparsity"], r["psnr_db"]) for r in rows if r["bits"] == 8)
    axes[0].plot(*zip(*qb), "o-")
    axes[0].set_xlabel("quantisation bits")
    axes[1].plot(*zip(*qs), "o-")
    axes[1].set_xlabel("sparsity (8 bits)")
    for ax in axes:
        ax.set_ylabel("PSNR (dB) with the compressed slice")
        ax.axhline(rows[0]["psnr_db"], ls="--", c="grey", label="float32 slice")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, out / "propagation.png")


# --------------------------------------------------------------------------- enhancement
def run_enhance(base_name: str = "lsci_base", sr_name: str = "lsci_sr", images: Sequence[str] = ("astronaut",),
                size: int = 256, pool: int = 2, bpp: float = 0.5) -> Results:
    """Fig. 8: the enhancement slice on the person (foreground) or on the rest (background)."""
    from semcom.data import test_images
    from semcom.metrics import psnr
    from semcom.models.lsci import checkpoint_path, load_blob, load_pretrained_base
    from semcom.models.lsci_slices import EnhancementSlice, SRNet, selfie_mask

    base = load_pretrained_base(base_name)
    sr = None
    if checkpoint_path(sr_name).is_file():
        cfg, sd, _ = load_blob(checkpoint_path(sr_name), "lsci_sr")
        sr = SRNet(cfg["width"])
        sr.load_state_dict(sd)
        sr.eval()
    rows = []
    for im in test_images(list(images), size=size):
        x = im.image
        xb = base.decode(base.encode(x))
        base_bits = 8 * len(base.encode(x))
        fg = selfie_mask(xb, "foreground")
        for region in ("foreground", "background"):
            m = fg if region == "foreground" else 1 - fg
            for use_sr in ([False, True] if sr is not None else [False]):
                sl = EnhancementSlice(sr if use_sr else None, pool, bpp)
                data = sl.encode(x, xb, m)
                xe = sl.decode(data, xb, m)
                row = {"image": im.name, "region": region, "sr": use_sr, "enh_bits": 8 * len(data),
                       "base_bits": base_bits, "pixels": x.shape[-1] * x.shape[-2]}
                for part, pm in (("fg", fg), ("bg", 1 - fg)):
                    idx = pm[0, 0] > 0.5
                    mse_b = float(((x - xb) ** 2)[..., idx].mean())
                    mse_e = float(((x - xe) ** 2)[..., idx].mean())
                    row[f"psnr_{part}_base"] = -10 * math.log10(max(mse_b, 1e-10))
                    row[f"psnr_{part}_enhanced"] = -10 * math.log10(max(mse_e, 1e-10))
                row["psnr_all_enhanced"] = float(psnr(x, xe)[0])
                rows.append(row)
    conf = {"base": base_name, "sr": sr_name if sr is not None else None, "images": list(images), "size": size,
            "pool": pool, "bpp": bpp}
    return Results("enhance", {"rows": rows}, provenance(conf, 0))


# --------------------------------------------------------------------------- timing
def _time(fn, repeat: int = 3) -> float:
    """The fastest of ``repeat`` calls after one warm-up call, in seconds."""
    from semcom.utils import wall_times

    return min(wall_times(fn, repeat))


def run_timing(base_name: str = "lsci_base", slice_name: str = "lsci_channel_awgn", size: int = 256,
               snrs: Sequence[float] = (0.0, 5.0, 10.0), mcs: int = 9) -> Results:
    """CPU seconds on one ``size x size`` photo (Tables IV-V; min of 3 runs, torch at its thread setting)."""
    from semcom.codecs import get_codec
    from semcom.data import test_images
    from semcom.link import make_link
    from semcom.semantics.slices import bytes_to_bits
    from semcom.systems.lsci import _slice
    from semcom.models.lsci import load_pretrained_base

    base = load_pretrained_base(base_name)
    x = test_images(["astronaut"], size=size)[0].image
    data = base.encode(x)
    src = {"lsci_encode": _time(lambda: base.encode(x)), "lsci_decode": _time(lambda: base.decode(data))}
    for c in ("jpeg", "jpeg2000"):
        codec = get_codec(c, isolate=False)
        s = codec.encode(x, quality=codec.default_quality)
        src[f"{c}_encode"] = _time(lambda codec=codec: codec.encode(x, quality=codec.default_quality))
        src[f"{c}_decode"] = _time(lambda codec=codec, s=s: codec.decode(s))
    sl = _slice(slice_name, base_name)
    wq = base(x, "hard")["wq"]
    with torch.no_grad():
        chan = {"channel_slice": _time(lambda: sl(wq, 5.0, generator=torch.Generator().manual_seed(0)))}
    link = make_link("bittrue", mcs=mcs)
    bits = bytes_to_bits(data)
    for s in snrs:
        chan[f"ldpc_bittrue_snr{s:g}"] = _time(lambda s=s: link.transmit(bits, s, generator=0), repeat=1)
    conf = {"base": base_name, "slice": slice_name, "size": size, "snrs": list(snrs), "mcs": mcs,
            "threads": torch.get_num_threads(), "bitstream_bits": 8 * len(data)}
    paper = {"lsci_cpu_s": 2.705, "jpeg2000_s": 0.090, "jpeg_s": 0.011, "channel_slice_cpu_s": 0.00977,
             "ldpc_awgn0_s": 22.3, "ldpc_awgn5_s": 0.119, "ldpc_awgn10_s": 0.0776}
    return Results("timing", {"source_s": src, "channel_s": chan, "paper": paper}, provenance(conf, 0))


# --------------------------------------------------------------------------- CLI
def _save(res: Results, out: Path, plot=None) -> None:
    res.provenance["command_line"] = ["semcom", "lsci", *sys.argv[1:]] if sys.argv[1:2] != ["lsci"] else \
        ["semcom", *sys.argv[1:]]     # the command, without this machine's path to the interpreter or module
    path = res.save(out)
    extra = f", plot {plot(res, out)}" if plot is not None else ""
    print(f"wrote {path}{extra}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbs = ("train", "train-slice", "rate", "transmit", "propagation", "enhance", "timing")
    from semcom import cliargs

    if not argv or argv[0] not in verbs:
        raise cliargs.UsageError(f"lsci: give one of {', '.join(verbs)} (usage: semcom lsci VERB [options])")
    verb, rest = argv[0], argv[1:]
    if verb == "train":
        from semcom.experiments.lsci_train import main as train_main

        return train_main(rest)
    if verb == "train-slice":
        from semcom.experiments.lsci_train import slice_main

        return slice_main(rest)
    t = cliargs.typed
    p = cliargs.ArgumentParser(prog=f"semcom lsci {verb}")
    p.add_argument("--out", default=str(OUT), help="output folder")
    p.add_argument("--images", type=t(cliargs.parse_image_set), default=None, help="tiny, all, all-N or a folder")
    p.add_argument("--channel", default="awgn", choices=["awgn", "rayleigh_block", "rayleigh"],
                   help="the channel of transmit")
    p.add_argument("--snr", type=t(cliargs.parse_snr_list), default=None, help="SNRs in dB: a comma list or A:B:STEP")
    p.add_argument("--threads", type=t(cliargs.parse_int, what="threads", lo=1, hi=1024), default=1)
    a = p.parse_args(rest)
    cliargs.check_applies("--snr", a.snr is not None, verb == "transmit", "only transmit sweeps the SNR")
    cliargs.check_applies("--channel", "--channel" in " ".join(rest), verb == "transmit", "only transmit uses a channel")
    cliargs.check_out_dir(a.out)
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    kw = {"images": a.images} if a.images else {}
    if verb == "rate":
        _save(run_rate(**kw), out, plot_rate)
    elif verb == "transmit":
        if a.snr:
            kw["snrs"] = a.snr
        _save(run_transmit(channel=a.channel, **kw), out, plot_transmit)
    elif verb == "propagation":
        _save(run_propagation(**kw), out, plot_propagation)
    elif verb == "enhance":
        _save(run_enhance(), out)
    else:
        _save(run_timing(), out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def demo_section(report: Any, out_dir: str | Path) -> dict:
    """The demo's LSCI section: rate-perception of the committed base model against JPEG,
    JPEG2000 and HEIF on the tiny photos (bpp counted from the arithmetic-coded bytes)."""
    res = run_rate(images="tiny", bases=("lsci_base",))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig = plot_rate(res, out)
    m = res.data["mean_of_lsci_points"]
    report.heading("LSCI: layered image codec (learned-centre quantiser, arithmetic-coded bytes)")
    report.paragraph(
        "Mean over the tiny photos at each method's points near the LSCI rate: "
        + "; ".join(f"{k} {v['bpp']:.3f} bpp, {v['psnr_db']:.2f} dB, MS-SSIM {v['ms_ssim']:.3f}" for k, v in m.items())
        + ". The CPU-scale base model needs more bits than the classical codecs here (docs/lsci.md).")
    report.image(fig, "LSCI rate-perception against JPEG, JPEG2000 and HEIF (Fig. 6)")
    return {"mean_of_lsci_points": m, "bitrate_saving": res.data["bitrate_saving"]}
