"""The main job (``semcom demo``): classical baselines over a bit-true 5G NR link, as an HTML report.

What it runs (defaults sized for a 2-core laptop CPU, a few minutes):

0. Every image system of semcom (DeepJSCC, SCC, VL-SCC, seb, HEIF / JPEG2000 + 5G LDPC with the adapted
   MCS, HEIF + capacity) on the same photos, SNRs and channel uses, by the compare core
   (:func:`semcom.systems.compare`): the report opens with that figure and a one-table summary.
1. The link: code-block error rate versus SNR for QPSK at code rates 1/2 and 2/3, bit-true LDPC
   beside the BLER-table abstraction (:mod:`semcom.experiments.link_bler`).
2. The separation baseline on the bundled test photos (:mod:`semcom.experiments.separation_sweep`):
   JPEG2000 and HEIF (HEVC-intra, the BPG stand-in) over the bit-true link with a fixed MCS
   (QPSK, rate 1/2), over the bit-true link with the MCS adapted to the SNR, and over a
   capacity-achieving code, AWGN and block Rayleigh, PSNR and MS-SSIM versus SNR at one CBR.
3. Reconstructions side by side at a few SNRs.
4. Learned JSCC (VL-SCC, SCC, DeepJSCC from the committed checkpoints) against HEIF + 5G LDPC at the
   same SPP (:func:`semcom.experiments.vlscc_sweep.demo_section`), VL-SCC 1D against SCC 1D on
   face-landmark vectors (:func:`semcom.experiments.vlscc_1d.demo_section`), and a Seb section (reconstruction,
   importance and fine/coarse maps, :func:`semcom.experiments.seb_sweep.demo_section`), the SE-SC
   visual example (:func:`semcom.experiments.sesc_visual.demo_section`) and LSCI's rate-perception
   against the classical codecs (:func:`semcom.experiments.lsci.demo_section`);
   ``learned=False`` skips both.
5. Keypoint video conferencing (prt): a strip of frames of the talking-head clip at 0 %, 50 % and
   90 % code-block error rate, the semantic stream (CIDH + error concealer + warping synthesiser)
   beside strict H.265 and error-resilient H.264 (slices sized to the code blocks, intra refresh,
   decoder concealment) at the same bit rate over the same code blocks
   (:func:`semcom.experiments.prt_sweep.demo_section`).

Everything lands in ``results/demo/`` (``--out`` to change): ``index.html`` (self-contained),
``demo.json`` with provenance and every number in the page, and the PNG plots.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path


from semcom import cliargs
from semcom.experiments import link_bler, separation_sweep
from semcom.experiments.common import add_common_arguments, load_config_file, load_image_set
from semcom.experiments.results import Results, provenance
from semcom.utils import from_dict

NAME = "demo"

#: every system of semcom that works on images, at the channel uses DeepJSCC spends (the demo's first figure)
COMPARE_SYSTEMS = (
    "deepjscc", "scc", "vlscc2d", "seb",
    "separation:codec=heif,link=adaptive", "separation:codec=jpeg2000,link=adaptive",
    "separation:codec=heif,link=capacity",
)


@dataclasses.dataclass
class DemoConfig:
    images: str = "tiny"
    cbr: float = 1 / 12
    snr_db: list[float] = dataclasses.field(default_factory=lambda: [-2.0, 0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0])
    codecs: list[str] = dataclasses.field(default_factory=lambda: ["jpeg2000", "heif"])
    channels: list[str] = dataclasses.field(default_factory=lambda: ["awgn", "rayleigh"])
    seeds: int = 2
    link_snr_db: list[float] = dataclasses.field(default_factory=lambda: [-1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    link_num_blocks: int = 100
    recon_snr_db: list[float] = dataclasses.field(default_factory=lambda: [0.0, 4.0, 8.0])
    seed: int = 0
    decoder: str = "fast"
    learned: bool = True
    link: dict = dataclasses.field(default_factory=dict)
    quick: bool = False
    compare_systems: list = dataclasses.field(default_factory=lambda: list(COMPARE_SYSTEMS))
    compare_snr_db: list = dataclasses.field(default_factory=lambda: [0.0, 4.0, 8.0])

    def shrink(self) -> "DemoConfig":
        """A tiny version for tests: same code paths, fewer points (:data:`QUICK`)."""
        return dataclasses.replace(self, **QUICK)


#: What ``--quick`` sets, for the keys the user left unset (on the command line and in ``--config``).
QUICK = {"snr_db": [0.0, 8.0], "seeds": 1, "link_snr_db": [0.0, 3.0], "link_num_blocks": 10, "recon_snr_db": [8.0],
         "channels": ["awgn", "rayleigh"], "quick": True,
         "compare_snr_db": [4.0]}


def run(config: DemoConfig | dict | None = None, *, workers: int = 1, cluster: str | None = None,
        progress: bool = True, out_dir: str | Path | None = None) -> Results:
    cfg = config if isinstance(config, DemoConfig) else from_dict(DemoConfig, config or {})
    t0 = time.perf_counter()
    timings = {}

    t = time.perf_counter()
    link_res = link_bler.run(dict(mcs=["2:0.5", "2:0.667"], snr_db=cfg.link_snr_db, channels=["awgn"],
                                  fidelities=["bittrue", "bler_table"], payload_bits=3000,
                                  num_blocks=cfg.link_num_blocks, seed=cfg.seed, decoder=cfg.decoder,
                                  link=dict(cfg.link)),
                             workers=workers, cluster=cluster, progress=progress)
    timings["link_s"] = time.perf_counter() - t

    t = time.perf_counter()
    base_cfg = dict(codecs=cfg.codecs, snr_db=cfg.snr_db, channels=cfg.channels, fidelities=["bittrue", "adaptive", "capacity"],
                    cbr=cfg.cbr, images=cfg.images, seeds=cfg.seeds, seed=cfg.seed, decoder=cfg.decoder,
                    link=dict(cfg.link))
    base_res = separation_sweep.run(base_cfg, workers=workers, cluster=cluster, progress=progress)
    timings["baseline_s"] = time.perf_counter() - t

    cross = None
    if cfg.learned and cfg.compare_systems:
        t = time.perf_counter()
        cross = _cross_system(cfg, workers, cluster, progress, out_dir)
        timings["compare_s"] = time.perf_counter() - t

    t = time.perf_counter()
    recon = _reconstructions(cfg, out_dir)
    timings["reconstructions_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0

    images = load_image_set(cfg.images)
    data = {
        "link": link_res.data,
        "baseline": base_res.data,
        "reconstructions": recon,
        "timings": timings,
    }
    if cross is not None:
        data["compare"] = cross
    return Results(NAME, data, provenance(cfg, seed=cfg.seed, data_checksums={n: s for n, _, s in images}))


def _cross_system(cfg: DemoConfig, workers, cluster, progress, out_dir) -> dict:
    """Every image system on the same photos, SNRs and channel uses (DeepJSCC's), by the compare core."""
    from semcom.experiments import compare as compare_cli
    from semcom.systems import compare

    res = compare(cfg.compare_systems, cfg.images, cfg.compare_snr_db, channel="awgn", budget="match:deepjscc",
                  seed=cfg.seed, workers=workers, cluster=cluster, progress=progress)
    results = res.to_results()
    figures = []
    if out_dir is not None:
        figures = [p.name for p in compare_cli.plot(results, out_dir, res.strip)]
    return {**results.data, "provenance": {k: results.provenance[k] for k in ("config", "plugins", "wall_time_s")},
            "figures": figures}


def _cross_system_section(rep, data: dict, out_dir: Path) -> None:
    """The report's opening: the cross-system figure and a one-table summary."""
    snrs = sorted({p["snr_db"] for s in data["systems"] for p in s["points"]})
    rep.heading("Every system on the same link, photos and channel uses")
    rep.paragraph("DeepJSCC, SCC, VL-SCC, the seb codec, HEIF / JPEG2000 over the bit-true 5G link with the MCS "
                  "adapted to the SNR, and HEIF over a capacity-achieving code, each given the channel uses DeepJSCC "
                  "spends on the photo (semcom compare --cbr match:deepjscc; learned models spend what their "
                  "architecture spends, VL-SCC varies per photo). AWGN; PSNR is the mean of per-image PSNR.")
    for name in data.get("figures", []):
        if name.endswith(("_vs_snr.png", "_strip.png")) and "ms_ssim" not in name:
            rep.image(out_dir / name, name.removesuffix(".png").replace("_", " "))
    rows = []
    for s in data["systems"]:
        pts = {p["snr_db"]: p for p in s["points"]}
        uses = [p["channel_uses"] for p in s["points"] if p.get("channel_uses") is not None]
        fails = sum(v for p in s["points"] for k, v in p["status_counts"].items() if k in ("failed", "no_fit", "error"))
        rows.append([s["name"], round(sum(uses) / len(uses)) if uses else None]
                    + [pts[x]["psnr"] if x in pts else None for x in snrs] + [fails])
    rep.table(["system", "channel uses"] + [f"PSNR at {x:g} dB" for x in snrs] + ["lost images"], rows)


def _reconstructions(cfg: DemoConfig, out_dir) -> dict:
    """Reconstructions of the first test image, per codec over the bit-true link at a few SNRs (AWGN)."""
    from semcom import metrics
    from semcom.baselines import SeparationSystem
    from semcom.report.plots import image_grid

    name, img, _ = load_image_set(cfg.images)[0]
    rows, table = [], []
    for codec in cfg.codecs:
        items = [("original", img[0].permute(1, 2, 0).numpy())]
        system = SeparationSystem(dict(codec=codec, cbr=cfg.cbr, fidelity="bittrue", channel="awgn",
                                       decoder=cfg.decoder, link=dict(cfg.link)))
        for snr in cfg.recon_snr_db:
            out = system.transmit(img, snr, seed=cfg.seed)
            p = float(metrics.psnr(img, out.image)[0])
            items.append((f"{snr:g} dB: {out.status}, {p:.1f} dB, {out.bpp:.3f} bpp", out.image[0].permute(1, 2, 0).numpy()))
            table.append(dict(codec=codec, snr_db=snr, status=out.status, psnr=p, bpp=out.bpp,
                              cb_failed=out.num_cb_failed, num_cb=out.num_cb))
        rows.append((f"{codec} + LDPC (QPSK 1/2)", items))
    grid = None
    if out_dir is not None:
        grid = str(image_grid(rows, Path(out_dir) / "reconstructions.png").name)
    return {"image": name, "table": table, "grid_png": grid}


def write_report(res: Results, out_dir: str | Path) -> Path:
    """Plots from the JSON and the self-contained ``index.html``."""
    from semcom.report.html import HtmlReport

    out_dir = Path(out_dir)
    link_plots = link_bler.plot(Results("link", res.data["link"], res.provenance), out_dir)
    base_plots = separation_sweep.plot(Results("baseline", res.data["baseline"], res.provenance), out_dir)
    prov = res.provenance
    cfg = prov["config"]
    rep = HtmlReport("semcom demo: classical baselines over a bit-true 5G NR link")
    rep.paragraph(
        f"semcom {prov['version']} (commit {prov['git_commit']}), {prov['date']}. SNR is Es/N0 per complex symbol; "
        f"CBR {cfg['cbr']:.4f} complex channel uses per real source value; PSNR is the mean of per-image PSNR; "
        f"images: {cfg['images']} ({len(prov['data_checksums'])} photos). Runtime {res.data['timings']['total_s']:.0f} s."
    )
    if res.data.get("compare"):
        _cross_system_section(rep, res.data["compare"], out_dir)
    rep.heading("1. The link: code-block error rate versus SNR")
    rep.paragraph("Bit-true 5G NR chain (TB CRC24A, code-block segmentation with CRC24B, LDPC with rate matching, "
                  "QAM, AWGN, max-log demapping, LDPC decoding) beside the BLER-table abstraction.")
    for p in link_plots:
        rep.image(p, p.stem)
    rows = [[c["mcs"], c["channel"], c["fidelity"], "n/a" if c["snr_db"] is None else round(c["snr_db"], 2)]
            for c in res.data["link"]["snr_at_10pct_cbler"]]
    rep.table(["MCS (Qm:rate)", "channel", "link model", "SNR at 10% CBLER [dB]"], rows)
    rep.heading("2. Separation baselines: codec + 5G LDPC + QAM, and codec + capacity-achieving code")
    rep.paragraph("Each photo is coded at the largest stream the CBR allows through the link (headers, CRCs and "
                  "rate matching counted); lost code blocks corrupt the stream as in a receiver; undecodable "
                  "streams are scored with a mid-grey fallback and counted as failures. 'bittrue' uses one MCS "
                  "(QPSK, rate 1/2) at every SNR; 'adaptive' picks the 38.214 MCS per SNR from the BLER tables "
                  "(target 10% CBLER); 'capacity' is a capacity-achieving code in the same channel uses.")
    for p in base_plots:
        rep.image(p, p.stem)
    summ = res.data["baseline"]["summary"]
    rep.table(["codec", "channel", "link", "SNR", "PSNR", "MS-SSIM", "bpp", "failure rate"],
              [[s["codec"], s["channel"], s["fidelity"], s["snr_db"], s["psnr"], s["ms_ssim"], s["bpp"], s["failure_rate"]]
               for s in summ])
    rec = res.data["reconstructions"]
    rep.heading(f"3. Reconstructions ({rec['image']}, AWGN, bit-true link)")
    if rec.get("grid_png"):
        rep.image(out_dir / rec["grid_png"], "original and reconstructions at each SNR")
    if cfg.get("learned", True):
        from semcom.experiments import vlscc_sweep

        t = time.perf_counter()
        info = vlscc_sweep.demo_section(rep, out_dir / "vlscc", quick=bool(cfg.get("quick")))
        res.data["learned_jscc"] = {k: v for k, v in info.items() if k != "figures"}
        from semcom.experiments import vlscc_1d

        res.data["vlscc1d"] = vlscc_1d.demo_section(rep, out_dir / "vlscc", quick=bool(cfg.get("quick")))
        res.data["timings"]["learned_jscc_s"] = time.perf_counter() - t
        res.data["timings"]["total_s"] += res.data["timings"]["learned_jscc_s"]

        from semcom.experiments import seb_sweep

        t = time.perf_counter()
        res.data["seb"] = seb_sweep.demo_section(rep, out_dir / "seb", quick=bool(cfg.get("quick")))
        res.data["timings"]["seb_s"] = time.perf_counter() - t
        res.data["timings"]["total_s"] += res.data["timings"]["seb_s"]
        _sesc_lsci_sections(rep, res, out_dir)
    from semcom.experiments import prt_sweep

    t = time.perf_counter()
    res.data["prt"] = prt_sweep.demo_section(rep, out_dir / "prt", quick=bool(cfg.get("quick")))
    res.data["timings"]["prt_s"] = time.perf_counter() - t
    res.data["timings"]["total_s"] += res.data["timings"]["prt_s"]
    return rep.write(out_dir / "index.html")


def _sesc_lsci_sections(rep, res, out_dir: Path) -> None:
    """The SE-SC visual example and the LSCI rate-perception sections (about 25 s together)."""
    from semcom.experiments import lsci, sesc_visual

    for key, fn in (("sesc", sesc_visual.demo_section), ("lsci", lsci.demo_section)):
        t = time.perf_counter()
        res.data[key] = fn(rep, out_dir / key)
        res.data["timings"][f"{key}_s"] = time.perf_counter() - t
        res.data["timings"]["total_s"] += res.data["timings"][f"{key}_s"]


def add_arguments(p) -> None:
    add_common_arguments(p, default_out=f"results/{NAME}", workers_default=0)  # the demo uses every core
    p.add_argument("--images", type=cliargs.typed(cliargs.parse_image_set), default=None,
                   help="'tiny' (3 photos, 256x256), 'all-256', 'all', or a folder")
    p.add_argument("--quick", action="store_true",
                   help="a much smaller run (a smoke test); values you give still apply")
    p.add_argument("--no-learned", action="store_true", help="skip the learned-JSCC section")
    p.add_argument("--decoder", default=None, choices=["sionna", "fast"], help="LDPC decoder of the bit-true link")


def config_from_args(args) -> DemoConfig:
    """The config file, the options given written over it, then (``--quick``) the quick values for
    the keys still unset; the SNR lists and the CBR checked like command-line values."""
    d = load_config_file(args.config)
    d.update(cliargs.given(args, ("images", "decoder", "seed")))
    if args.no_learned:
        d["learned"] = False
    if args.quick:
        d = cliargs.fill_defaults(d, QUICK)
    cfg = from_dict(DemoConfig, d)
    for key in ("snr_db", "link_snr_db", "recon_snr_db"):
        cliargs.check_snr_values(getattr(cfg, key), what=key)
    cliargs.check_cbr_value(cfg.cbr)
    return cfg


def main_from_args(args) -> int:
    cfg = config_from_args(args)
    cliargs.check_common(args, workers_default=0)
    out = Path(args.out)
    res = run(cfg, workers=args.workers, cluster=args.cluster, progress=not args.no_progress, out_dir=out)
    page = write_report(res, out)
    path = res.save(out)
    t = res.data["timings"]
    print(f"demo finished in {t['total_s']:.1f} s (link {t['link_s']:.1f} s, baselines {t['baseline_s']:.1f} s, "
          f"all systems compared {t.get('compare_s', 0.0):.1f} s, "
          f"learned JSCC {t.get('learned_jscc_s', 0.0):.1f} s, seb {t.get('seb_s', 0.0):.1f} s, "
          f"SE-SC {t.get('sesc_s', 0.0):.1f} s, LSCI {t.get('lsci_s', 0.0):.1f} s, prt {t.get('prt_s', 0.0):.1f} s)")
    print(f"wrote {path} and {page}")
    return 0
