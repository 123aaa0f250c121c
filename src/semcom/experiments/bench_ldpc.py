"""Fast 5G LDPC decoder versus Sionna's: throughput and BLER on identical LLRs (``semcom bench ldpc``).

For every code (rate 1/2 and 2/3, several ``k`` up to 8448; QPSK over AWGN) the benchmark

1. finds the operating point: the Eb/N0 (0.05 dB grid) at which the fast decoder's BLER is about
   ``target_bler`` (default 10 %), i.e. in the waterfall, so early stopping saves what it really
   saves there and no more;
2. draws random information bits, encodes them with ``LDPC5GEncoder``, maps them to QPSK,
   adds complex Gaussian noise and demaps (exact max-log);
3. decodes the same LLRs with ``sionna.phy.fec.ldpc.LDPC5GDecoder(encoder, num_iter)`` (its
   default: boxplus-phi, flooding) and with :class:`semcom.link.ldpc_fast.FastLDPC5GDecoder`
   (layered normalised min-sum, its default scaling by base graph and lifting size unless
   ``scaling`` is given) at every precision of ``precisions`` (float32, int16, int8), with early
   stopping and at a fixed ``iterations``, timing each decode (wall clock and process CPU time,
   information bits per second, after a warm-up call; the fast decoder's compile is excluded).

Reported per code: ``sionna_mbps``, ``fast_mbps``, ``speedup``, ``bler_sionna``, ``bler_fast``
(same LLRs), ``bler_fast_all`` (every codeword the fast decoder saw), ``fast_mbps_per_core``,
the fast decoder's mean iterations and its fixed-iteration throughput (``fast_*``: the default
precision), ``precisions`` (every precision's figures, :func:`bench_precision`), plus machine
information and the load average before and after. ``--parity`` adds, per code, every
precision's Eb/N0 gap to Sionna at equal BLER on identical LLRs (:func:`parity_gaps`).

Example:
    >>> from semcom.experiments.bench_ldpc import BenchConfig, run
    >>> res = run(BenchConfig(codes=[[200, 400]], codewords=32, sionna_codewords=4,
    ...                       calibration_codewords=32, repeats=1))
    >>> row = res.data["configs"][0]
    >>> row["k"], row["speedup"] > 1
    (200, True)
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any, Sequence

import numpy as np
import torch

from semcom.errors import ConfigError
from semcom.experiments.ldpc_common import block_errors, calibrate_ebno, qpsk_awgn_llrs, snr_at_bler  # noqa: F401
from semcom.experiments.results import Results, machine_info, provenance
from semcom.utils import from_dict, make_generator

NAME = "ldpc"

FULL_CODES = [[504, 1008], [504, 756], [2016, 4032], [2016, 3024], [8448, 16896], [8448, 12672]]
QUICK_CODES = [[504, 1008], [2016, 3024], [8448, 16896]]


@dataclasses.dataclass
class BenchConfig:
    """What ``run`` measures. ``codes``: ``[k, n]`` pairs; ``codewords``: codewords the fast decoder
    decodes per code (timed); ``sionna_codewords``: the first codewords of the same LLRs that
    Sionna decodes (timed, in batches of ``sionna_batch``, its fastest size for long codes; it is
    ~100x slower); ``iterations``: maximum iterations of both."""

    codes: list[list[int]] = dataclasses.field(default_factory=lambda: [list(c) for c in FULL_CODES])
    iterations: int = 20
    codewords: int = 2000
    sionna_codewords: int = 128
    sionna_batch: int = 16
    calibration_codewords: int = 400
    target_bler: float = 0.1
    repeats: int = 3
    scaling: float | None = None
    parity: bool = False
    parity_codewords: int = 400
    parity_points: int = 7
    precisions: list[str] = dataclasses.field(default_factory=lambda: ["float", "int16", "int8"])
    seed: int = 0

    def __post_init__(self) -> None:
        for c in self.codes:
            if not (isinstance(c, (list, tuple)) and len(c) == 2 and all(isinstance(v, int) for v in c)):
                raise ConfigError(f"codes must be [k, n] integer pairs, got {c!r}")
            if c[1] % 2:
                raise ConfigError(f"n must be even for QPSK, got {c!r}")
        for name in ("iterations", "codewords", "sionna_codewords", "sionna_batch", "calibration_codewords", "repeats",
                     "parity_codewords", "parity_points"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        if not 0.0 < self.target_bler < 1.0:
            raise ConfigError("target_bler must lie in (0, 1)")
        if not self.precisions or any(p not in ("float", "int16", "int8") for p in self.precisions):
            raise ConfigError(f"precisions must be a non-empty list of 'float', 'int16', 'int8', got {self.precisions!r}")


def _timed(fn, *args, repeats: int = 1):
    """``(result of the last call, median wall seconds)``."""
    times = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t0)
    return out, float(np.median(times))


def _timed_cpu(fn, *args, repeats: int = 1):
    """``(result of the last call, median wall seconds, median process CPU seconds)``.

    The CPU time sums every thread of this process, so ``bits / cpu seconds`` is the throughput per
    busy core: unlike the wall clock it does not count the time other jobs on a shared machine hold
    the cores (it still includes their cache and memory-bandwidth contention).
    """
    walls, cpus = [], []
    out = None
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn(*args)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return out, float(np.median(walls)), float(np.median(cpus))


def bench_precision(enc: Any, precision: str, llr: torch.Tensor, u: torch.Tensor, cfg: BenchConfig) -> dict:
    """Throughput and BLER of ``FastLDPC5GDecoder(precision=...)`` on ``llr`` (first ``cfg.codewords`` words).

    Fields (Mbit/s of information bits): ``mbps`` (all threads, early stopping), ``mbps_per_core``
    (that over the thread count), ``cpu_mbps_per_core`` (bits per process CPU second), the same three
    with early stopping off (``fixed_iter_*``, exactly ``cfg.iterations`` iterations), ``1thread_mbps``,
    ``mean_iterations``, ``bler`` (first ``cfg.sionna_codewords`` words, the ones Sionna decodes) and
    ``bler_all``.
    """
    from semcom.link.ldpc_fast import FastLDPC5GDecoder

    kw = {"num_iter": cfg.iterations, "scaling": cfg.scaling, "precision": precision}
    dec = FastLDPC5GDecoder(enc, **kw)
    fixed = FastLDPC5GDecoder(enc, early_stop=False, **kw)
    one = FastLDPC5GDecoder(enc, num_threads=1, **kw)
    threads = dec.num_threads or machine_info()["decoder_threads"]
    x = llr[: cfg.codewords]
    for d in (dec, fixed, one):
        d(llr[:2])  # compile / load the cached kernels
    bits = x.shape[0] * enc.k / 1e6
    u_hat, t_es, c_es = _timed_cpu(dec, x, repeats=cfg.repeats)
    mean_iter = float(dec.last_iterations.float().mean())
    _, t_fx, c_fx = _timed_cpu(fixed, x, repeats=cfg.repeats)
    _, t_1t, _ = _timed_cpu(one, x, repeats=cfg.repeats)
    err = block_errors(u_hat, u[: cfg.codewords])
    return {
        "precision": precision, "threads": threads,
        "mbps": bits / t_es, "mbps_per_core": bits / t_es / threads, "cpu_mbps_per_core": bits / c_es,
        "fixed_iter_mbps": bits / t_fx, "fixed_iter_mbps_per_core": bits / t_fx / threads,
        "fixed_iter_cpu_mbps_per_core": bits / c_fx, "1thread_mbps": bits / t_1t,
        "mean_iterations": mean_iter, "bler": float(err[: cfg.sionna_codewords].mean()), "bler_all": float(err.mean()),
    }


def bench_code(k: int, n: int, cfg: BenchConfig, seed: int) -> dict:
    """Measure one ``[k, n]`` code; see the module docstring for the fields.

    The ``fast_*`` fields are the default decoder (``FastLDPC5GDecoder``'s default precision);
    ``precisions`` holds :func:`bench_precision` for every precision in ``cfg.precisions``.
    """
    from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder

    from semcom.link.ldpc_fast import DEFAULT_PRECISION, FastLDPC5GDecoder

    enc = LDPC5GEncoder(k, n)
    sdec = LDPC5GDecoder(enc, hard_out=True, return_infobits=True, num_iter=cfg.iterations)
    fdec = FastLDPC5GDecoder(enc, num_iter=cfg.iterations, scaling=cfg.scaling)

    ebno = calibrate_ebno(enc, fdec, cfg.calibration_codewords, cfg.target_bler, seed + 1)
    u, llr, esno = qpsk_awgn_llrs(enc, max(cfg.codewords, cfg.sionna_codewords), ebno, make_generator(seed))
    precisions = {p: bench_precision(enc, p, llr, u, cfg) for p in dict.fromkeys([DEFAULT_PRECISION, *cfg.precisions])}
    ns = cfg.sionna_codewords

    def sionna_in_batches(x: torch.Tensor) -> torch.Tensor:
        # Sionna's per-bit speed drops for large batches of long codes (memory bound): batches of 16
        return torch.cat([sdec(x[i:i + cfg.sionna_batch]) for i in range(0, x.shape[0], cfg.sionna_batch)])

    # Sionna at its best thread count: with other processes on the cores, PyTorch's intra-op
    # threads can slow it down many times over, so one thread and all threads are both probed on a
    # few codewords and the faster setting decodes the timed batch.
    old_threads = torch.get_num_threads()
    try:
        probe = {}
        for nt in sorted({1, old_threads}):
            torch.set_num_threads(nt)
            sdec(llr[:2])  # warm-up
            probe[nt] = _timed(sdec, llr[: min(ns, 8)], repeats=1)[1]
        sio_threads = min(probe, key=probe.get)
        torch.set_num_threads(sio_threads)
        u_sio, t_sio, c_sio = _timed_cpu(sionna_in_batches, llr[:ns], repeats=1)
    finally:
        torch.set_num_threads(old_threads)

    err_sio = block_errors(u_sio, u[:ns])
    sio_mbps = ns * k / t_sio / 1e6
    for row in precisions.values():
        row["speedup"] = row["mbps"] / sio_mbps
    d = precisions[DEFAULT_PRECISION]
    return {
        "k": k, "n": n, "rate": k / n, "bg": enc._bg if hasattr(enc, "_bg") else None, "z": enc.z,
        "layers": fdec.num_layers, "scaling": fdec.scaling, "llr_clip": fdec.llr_clip, "precision": fdec.precision,
        "ebno_db": ebno, "esno_db": esno,
        "sionna_codewords": ns, "fast_codewords": cfg.codewords,
        "sionna_mbps": sio_mbps, "sionna_cpu_mbps": ns * k / c_sio / 1e6, "sionna_torch_threads": sio_threads,
        "fast_mbps": d["mbps"], "speedup": d["speedup"],
        "fast_mbps_per_core": d["mbps_per_core"], "fast_threads": d["threads"],
        "fast_1thread_mbps": d["1thread_mbps"], "fast_fixed_iter_mbps": d["fixed_iter_mbps"],
        "fast_mean_iterations": d["mean_iterations"],
        "bler_sionna": float(err_sio.mean()), "bler_fast": d["bler"], "bler_fast_all": d["bler_all"],
        "precisions": precisions,
    }


def parity_gaps(k: int, n: int, cfg: BenchConfig, seed: int) -> dict:
    """BLER parity of every precision with Sionna's decoder on identical LLRs, as an Eb/N0 gap.

    The method of ``semcom bench ldpc --tuning``: Sionna decodes ``parity_codewords`` random words
    once at ``eb0``, where the float decoder's BLER is about ``cfg.target_bler`` (30 % for
    ``k > 4100``, whose waterfall is too steep for a 10 % point on a 0.05 dB grid); each precision
    decodes the same words and noise realisation scaled to ``eb0 - 0.3 .. eb0 + 0.3`` dB. The gap
    is the Eb/N0 that precision needs to reach Sionna's BLER minus ``eb0`` (positive: worse than
    Sionna), with the standard error of the paired count noise.
    """
    from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder

    from semcom.experiments.ldpc_common import gap_se, qam_awgn_llrs, sionna_decode
    from semcom.link.ldpc_fast import FastLDPC5GDecoder

    enc = LDPC5GEncoder(k, n)
    target = 0.3 if k > 4100 else cfg.target_bler
    count = cfg.parity_codewords
    ref = FastLDPC5GDecoder(enc, num_iter=cfg.iterations, scaling=cfg.scaling, precision="float")
    eb0 = calibrate_ebno(enc, ref, min(count, 1000), target, seed + 1)
    grid = [round(eb0 + g, 3) for g in (-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3)]
    llrs = {}
    for eb in grid:
        u, llrs[eb] = qam_awgn_llrs(enc, count, eb, make_generator(seed))
    e_sio = block_errors(sionna_decode(LDPC5GDecoder(enc, num_iter=cfg.iterations), llrs[eb0], 500), u)
    out: dict[str, Any] = {"k": k, "n": n, "codewords": count, "ebno_db": eb0, "grid_db": grid,
                           "errors_sionna": int(e_sio.sum()), "bler_sionna": float(e_sio.mean()), "precisions": {}}
    for p in dict.fromkeys(["float", *cfg.precisions]):
        dec = FastLDPC5GDecoder(enc, num_iter=cfg.iterations, scaling=cfg.scaling, precision=p)
        curve = [float(block_errors(dec(llrs[eb]), u).mean()) for eb in grid]
        e = block_errors(dec(llrs[eb0]), u)
        at = snr_at_bler(grid, curve, float(e_sio.mean())) if e_sio.any() else None
        disc = int((e != e_sio).sum())
        out["precisions"][p] = {"errors": int(e.sum()), "discordant": disc, "bler_curve": curve,
                                "gap_db": None if at is None else round(at - eb0, 4),
                                "gap_se_db": gap_se(grid, curve, eb0, int(e_sio.sum()), disc)}
    return out


def parity_curve(k: int, n: int, cfg: BenchConfig, center_db: float, seed: int) -> dict:
    """BLER of both decoders on identical LLRs over ``parity_points`` Eb/N0 values around ``center_db``."""
    from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder

    from semcom.link.ldpc_fast import FastLDPC5GDecoder

    enc = LDPC5GEncoder(k, n)
    sdec = LDPC5GDecoder(enc, hard_out=True, return_infobits=True, num_iter=cfg.iterations)
    fdec = FastLDPC5GDecoder(enc, num_iter=cfg.iterations, scaling=cfg.scaling)
    step = 0.1 if k >= 2000 else 0.2
    grid = [round(center_db + step * (i - (cfg.parity_points - 1) // 2), 2) for i in range(cfg.parity_points)]
    bs, bf = [], []
    for i, eb in enumerate(grid):
        u, llr, _ = qpsk_awgn_llrs(enc, cfg.parity_codewords, eb, make_generator(seed + 100 + i))
        u_sio = torch.cat([sdec(llr[j:j + cfg.sionna_batch]) for j in range(0, llr.shape[0], cfg.sionna_batch)])
        bs.append(float(block_errors(u_sio, u).mean()))
        bf.append(float(block_errors(fdec(llr), u).mean()))
    s_sio = snr_at_bler(grid, bs, cfg.target_bler)
    s_fast = snr_at_bler(grid, bf, cfg.target_bler)
    return {"k": k, "n": n, "scaling": fdec.scaling, "ebno_db": grid, "bler_sionna": bs, "bler_fast": bf,
            "codewords": cfg.parity_codewords,
            "ebno_at_target_sionna": s_sio, "ebno_at_target_fast": s_fast,
            "gain_db": None if s_sio is None or s_fast is None else s_sio - s_fast}


def run(config: BenchConfig | dict | None = None) -> Results:
    """Run the benchmark; returns :class:`Results` named ``ldpc`` (see the module docstring)."""
    from semcom.link.ldpc_fast import DEFAULT_LLR_CLIP, DEFAULT_PRECISION

    cfg = config if isinstance(config, BenchConfig) else from_dict(BenchConfig, config or {})
    before = machine_info()
    load_before = before.pop("loadavg")
    rows, gaps = [], []
    for i, (k, n) in enumerate(cfg.codes):
        rows.append(bench_code(int(k), int(n), cfg, cfg.seed + 1000 * i))
        if cfg.parity:
            gaps.append(parity_gaps(int(k), int(n), cfg, cfg.seed + 1000 * i + 500))
    after = machine_info()
    data = {
        "configs": rows,
        "parity": gaps,
        "summary": {
            "min_speedup": min(r["speedup"] for r in rows),
            "max_fast_mbps_per_core": max(r["fast_mbps_per_core"] for r in rows),
            "fixed_iter_cpu_mbps_per_core": {p: [[r["k"], r["n"], r["precisions"][p]["fixed_iter_cpu_mbps_per_core"]]
                                                 for r in rows if p in r["precisions"]] for p in cfg.precisions},
            "published_simd_mbps_per_core": [30, 70],
        },
        "machine": {**before, "loadavg_before": load_before, "loadavg_after": after["loadavg"]},
        "modulation": "qpsk", "channel": "awgn", "iterations": cfg.iterations,
        "sionna_decoder": "LDPC5GDecoder(boxplus-phi, flooding, num_iter)",
        "fast_decoder": ("FastLDPC5GDecoder(layered normalised min-sum, scaling="
                         f"{'default_scaling(bg, Z)' if cfg.scaling is None else cfg.scaling}, "
                         f"llr_clip={DEFAULT_LLR_CLIP}, precision={DEFAULT_PRECISION}, early_stop)"),
    }
    return Results(name=NAME, data=data, provenance=provenance(cfg, cfg.seed))


#: What ``--quick`` sets, for the values the user did not give: three codes, few codewords, one repeat.
QUICK = {"codes": [list(c) for c in QUICK_CODES], "codewords": 200, "sionna_codewords": 8,
         "calibration_codewords": 100, "repeats": 1, "parity_codewords": 60}


def _parse_codes(text: str) -> list[list[int]]:
    """``"8448:16896,504:1008"`` -> ``[[8448, 16896], [504, 1008]]`` (a usage error otherwise)."""
    from semcom import cliargs

    out = []
    for part in text.split(","):
        kn = part.strip().split(":")
        if len(kn) != 2 or not all(v.strip().isdigit() for v in kn):
            raise cliargs.UsageError(f"codes must be k:n pairs separated by commas, got {text!r}")
        k, n = int(kn[0]), int(kn[1])
        if not 0 < k < n:
            raise cliargs.UsageError(f"each code needs 0 < k < n, got {part.strip()!r}")
        out.append([k, n])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``semcom bench ldpc [--out DIR] [--quick] [--codes k:n,..] [--iterations N] [--codewords N] [--parity]``.

    ``semcom bench ldpc --tuning [--out DIR]`` runs :mod:`semcom.experiments.ldpc_tuning` instead
    (the measurements behind the decoder's default scaling and LLR clipping).
    """
    argv = list(argv) if argv is not None else None
    args_in = argv if argv is not None else sys.argv[1:]
    if "--tuning" in args_in:
        from semcom.experiments import ldpc_tuning

        return ldpc_tuning.main([a for a in args_in if a != "--tuning"])
    from semcom import cliargs

    t = cliargs.typed
    p = cliargs.ArgumentParser(prog="semcom bench ldpc", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--out", default="results/bench", help="folder for ldpc.json")
    p.add_argument("--quick", action="store_true",
                   help="three codes, few codewords: about a minute (values you give still apply)")
    p.add_argument("--iterations", type=t(cliargs.parse_int, what="iterations", lo=1, hi=100), default=None,
                   help="maximum decoder iterations of both decoders, 1..100 (default 20)")
    p.add_argument("--codewords", type=t(cliargs.parse_int, what="codewords", lo=1, hi=20000), default=None,
                   help="codewords the fast decoder decodes per code, 1..20000")
    p.add_argument("--sionna-codewords", type=t(cliargs.parse_int, what="Sionna codewords", lo=1, hi=2000),
                   default=None, help="codewords Sionna decodes per code (at most --codewords)")
    p.add_argument("--parity", action="store_true",
                   help="also measure every precision's Eb/N0 gap to Sionna at equal BLER on identical LLRs")
    p.add_argument("--codes", type=t(_parse_codes), default=None,
                   help="codes to measure as k:n pairs, e.g. 8448:16896,504:1008 (default: six codes)")
    p.add_argument("--seed", type=t(cliargs.parse_seed), default=None)
    p.add_argument("--tuning", action="store_true", help="measure the default scaling and LLR clipping instead")
    args = p.parse_args(list(argv) if argv is not None else None)
    cfg: dict[str, Any] = cliargs.given(args, ("iterations", "codewords", "sionna_codewords", "seed", "codes"))
    if args.parity:
        cfg["parity"] = True
    if args.quick:
        cfg = cliargs.fill_defaults(cfg, QUICK)
    bench = from_dict(BenchConfig, cfg)  # checked here, before any work
    if bench.sionna_codewords > bench.codewords:
        raise cliargs.UsageError(f"Sionna decodes the first codewords of the fast decoder's: --sionna-codewords "
                                 f"{bench.sionna_codewords} exceeds --codewords {bench.codewords}")
    cliargs.check_out_dir(args.out)
    res = run(cfg)
    path = res.save(args.out, "ldpc.json")
    for r in res.data["configs"]:
        print(f"k={r['k']:5d} n={r['n']:5d} Eb/N0={r['ebno_db']:.2f} dB  sionna {r['sionna_mbps']:.3f} Mbit/s  "
              f"BLER sionna {r['bler_sionna']:.3f}")
        for p, d in r["precisions"].items():
            print(f"    {p:5s} {d['mbps']:6.2f} Mbit/s ({d['mbps_per_core']:.2f}/core, {d['cpu_mbps_per_core']:.2f}/CPU-s)"
                  f"  fixed {d['fixed_iter_mbps']:6.2f} ({d['fixed_iter_cpu_mbps_per_core']:.2f}/CPU-s)"
                  f"  x{d['speedup']:.0f}  BLER {d['bler']:.3f}")
    for g in res.data["parity"]:
        print(f"parity k={g['k']} n={g['n']} Eb/N0={g['ebno_db']:.2f} Sionna errors {g['errors_sionna']}: "
              + ", ".join(f"{p} gap {d['gap_db']} dB (s.e. {d['gap_se_db']})" for p, d in g["precisions"].items()))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from semcom.cliargs import guarded

    raise SystemExit(guarded(main))
