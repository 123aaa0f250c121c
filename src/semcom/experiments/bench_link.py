"""Throughput of the bit-true link, Sionna's chain beside the compiled chain (``semcom bench link``).

For each case (default QPSK R=1/2 and 16QAM R=2/3, AWGN), one slot-sized transport block per item
(the link's default ``max_tb_bits``), the same fast LDPC decoder (``FastLDPC5GDecoder``, at most
``iterations`` = 20 layered iterations with early stopping) and each thread count (default 1 and
2), both chains of :class:`~semcom.link.nr.NRLink` are timed stage by stage on the same payload:

* ``tb_encode``: TB CRC, segmentation, CB CRC, LDPC encoding, rate matching, interleaving, scrambling;
* ``map_channel_demap``: QAM mapping, AWGN, demapping, descrambling, de-interleaving,
  de-rate-matching, up to the decoder's input. With the compiled chain, for QPSK and max-log
  16QAM, ``NRLink.transmit`` runs a fused AWGN kernel and this stage times it (the row's
  ``fused_awgn`` says so): with ``noise="fast"``
  :meth:`~semcom.link.chain_fast.FastTBChain.awgn_llrs` (noise, mapping and demapping in one pass
  per TB), with ``noise="torch"`` torch's N(0, 1) draws then
  :meth:`~semcom.link.chain_fast.FastTBChain.noisy_llrs` (scaling them, mapping, adding and
  demapping in one pass per TB). (``transmit`` runs the compiled noise's kernel with the encoding
  in it, :meth:`~semcom.link.chain_fast.FastTBChain.encode_awgn_llrs`, and on two or more threads
  torch's draws in chunks beside the receiver, :mod:`semcom.link._pipeline`: the stages are timed
  apart, ``end_to_end`` as ``transmit`` runs them);
* ``decode_crc``: LDPC decoding and the CB and TB CRC checks;
* ``end_to_end``: ``NRLink.transmit`` (all of the above plus bookkeeping);
* ``decoder_alone``: the LDPC decoder on the same LLRs, and ``end_to_end / decoder_alone``
  (throughputs, i.e. the decoder's time over ``transmit``'s). These two are timed in alternation,
  one call of each per round, so that both see the same machine state; the row keeps each round's
  ratio (``end_to_end_over_decoder_alone_per_round``).

The decoding stages are timed on the LLRs of one noise draw; a row's operating point (``cbler``,
``mean_iterations``) is measured on :data:`OPERATING_POINT_DRAWS` draws of the same TBs, each from
a generator of its own, so it does not depend on ``repeats``.

Sionna's chain is ``chain="sionna"`` (``TBEncoder``, ``Mapper``, ``Demapper``, descrambler,
CRC decoders; its exact APP demapper, as the link used before), the compiled chain
``chain="fast"`` (max-log, the link's default). Throughput counts information (payload) bits per
second of wall clock (``mbit_per_s``) and per second of this process's CPU time (``cpu_mbit_per_s``,
all its threads; robust to other jobs on shared cores), the median of ``repeats`` runs after a
warm-up call. ``threads`` sets the
worker threads of the decoder and of the compiled kernels; torch (the channel's noise, Sionna's
blocks) runs on one thread, as the project's tests and sweeps do (on shared cores torch's
intra-op threads made Sionna's blocks 10-20x slower); with 2 threads or more, the compiled chain's
link draws that noise in chunks while a side thread sends the chunks drawn. The compiled chain is timed with each
noise source of ``noises``: torch's (the link's default, the same draws as Sionna's chain) and the
compiled ziggurat of ``NRLink(noise="fast")`` (on the kernel threads). The machine's load average is recorded
before and after every row: on shared cores the numbers move with it.

Example:
    >>> from semcom.experiments.bench_link import BenchLinkConfig, run
    >>> res = run(BenchLinkConfig(cases=[[2, 0.5]], snr_db=[[4.0]], items=2, repeats=1, threads=[1],
    ...                           max_tb_bits=3000))
    >>> [(r["chain"], r["noise"], r["threads"], r["bits_ok"]) for r in res.data["rows"]]
    [('sionna', 'torch', 1, True), ('fast', 'torch', 1, True), ('fast', 'fast', 1, True)]
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import time
from typing import Any, Sequence

import torch

from semcom.errors import ConfigError
from semcom.experiments.results import Results, provenance
from semcom.link.nr import NOISES  # the link's noise sources (NRLink(noise=...))
from semcom.utils import from_dict

NAME = "link"

#: The issue's goals for the compiled chain (2 cores, 20 iterations with early stopping).
GOALS = {"end_to_end_over_decoder_alone": 0.6, "end_to_end_mbps_2_threads": 10.0}
#: Default operating points (Es/N0 dB) per ``(Qm, R)``: in the waterfall (CBLER about 3-7 %, about 15 mean
#: iterations with the max-log chain) and where every block decodes (about 3-4 iterations).
DEFAULT_SNR_DB = {(2, 0.5): [1.2, 4.0], (4, 0.6667): [9.0, 12.0]}


@dataclasses.dataclass
class BenchLinkConfig:
    """What ``run`` measures: ``cases`` ``[Qm, R]`` pairs, each at the SNRs ``snr_db[i]`` (``None``:
    :data:`DEFAULT_SNR_DB`, a waterfall point and a point where every block decodes), ``items``
    slot-sized TBs per call, ``chains`` and ``threads`` to compare, ``repeats`` timed runs per stage (median);
    ``noises``: the channel's noise sources for the compiled chain (``NRLink(noise=...)``; Sionna's
    chain always draws torch's, the link's default)."""

    cases: list[list[float]] = dataclasses.field(default_factory=lambda: [[2, 0.5], [4, 2 / 3]])
    snr_db: list[list[float]] | None = None
    items: int = 16
    chains: list[str] = dataclasses.field(default_factory=lambda: ["sionna", "fast"])
    sionna_demapper: str = "app"
    threads: list[int] = dataclasses.field(default_factory=lambda: [1, 2])
    noises: list[str] = dataclasses.field(default_factory=lambda: ["torch", "fast"])
    iterations: int = 20
    repeats: int = 3
    max_tb_bits: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for c in self.cases:
            if not (isinstance(c, (list, tuple)) and len(c) == 2 and c[0] in (2, 4, 6, 8)):
                raise ConfigError(f"cases must be [Qm, R] pairs with Qm in 2, 4, 6, 8, got {c!r}")
        if self.snr_db is not None and (len(self.snr_db) != len(self.cases) or not all(self.snr_db)):
            raise ConfigError("snr_db needs a non-empty list of SNRs per case")
        if self.snr_db is None and any(_case_key(c) not in DEFAULT_SNR_DB for c in self.cases):
            raise ConfigError(f"give snr_db for cases other than {sorted(DEFAULT_SNR_DB)}")
        if not self.chains or any(c not in ("sionna", "fast") for c in self.chains):
            raise ConfigError(f"chains must be among 'sionna', 'fast', got {self.chains!r}")
        if not self.noises or any(n not in NOISES for n in self.noises):
            raise ConfigError(f"noises must be among {NOISES}, got {self.noises!r}")
        if self.sionna_demapper not in ("app", "maxlog"):
            raise ConfigError("sionna_demapper must be 'app' or 'maxlog'")
        if not self.threads or any(isinstance(t, bool) or not isinstance(t, int) or t < 1 for t in self.threads):
            raise ConfigError(f"threads must be positive ints, got {self.threads!r}")
        for name in ("items", "iterations", "repeats"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")


def _case_key(case: Sequence[float]) -> tuple[int, float]:
    return int(case[0]), round(float(case[1]), 4)


def _timed(fn) -> tuple[Any, float, float]:
    """``(result, wall seconds, process CPU seconds)`` of one call of ``fn`` on one torch thread
    (re-applied every call: other libraries' thread layers may reset it)."""
    torch.set_num_threads(1)
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def _median_time(fn, repeats: int) -> tuple[Any, float, float]:
    """``(last result, median wall seconds, median process CPU seconds)`` of ``repeats`` calls after a warm-up.

    Torch runs on one thread. The CPU time (all threads of this process) is what the work cost;
    on shared cores the wall clock also counts the time other processes held the cores.
    """
    out = _timed(fn)[0]  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        out, w, c = _timed(fn)
        wall.append(w)
        cpu.append(c)
    return out, statistics.median(wall), statistics.median(cpu)


def _paired_times(fns: dict[str, Any], repeats: int) -> tuple[dict[str, tuple[float, float]], list[float]]:
    """Time the calls of ``fns`` (name -> callable) in alternation, one of each per round, ``repeats``
    rounds after a warm-up round: ``({name: (median wall s, median CPU s)}, per-round wall ratios of
    the first callable over the second)``.

    Alternating puts both under the same machine state: timed one after the other, in separate
    stages, a drift of this VM's speed between the stages moved their ratio by up to 0.25.
    """
    names = list(fns)
    for n in names:  # warm-up round
        _timed(fns[n])
    rounds = [{n: _timed(fns[n])[1:] for n in names} for _ in range(repeats)]
    ratios = [r[names[0]][0] / r[names[1]][0] for r in rounds] if len(names) == 2 else []
    return {n: (statistics.median(r[n][0] for r in rounds), statistics.median(r[n][1] for r in rounds))
            for n in names}, ratios


def _load() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


#: Noise draws of the ``items`` TBs from which a row's CBLER and mean iterations are measured.
OPERATING_POINT_DRAWS = 8


def _channel_demap(link, codec, no: float, fused: bool):
    """``(coded bits, generator) -> decoder LLRs``: what ``transmit`` runs between encoding and decoding."""
    from semcom.link.base import normal_pairs

    no_t = torch.tensor(no, dtype=torch.float32)

    def run(c, gen):
        if fused and link.noise == "fast":  # one seed from the generator, then the fused kernel
            return codec.awgn_llrs(c, link._fast_noise_seed(gen), no)
        if fused:  # torch's N(0, 1) draws, then the fused kernel scales and adds them
            return codec.noisy_llrs(c, normal_pairs((c.shape[0], codec.lay.num_re), gen), no)
        sym = codec.map(c)
        return codec.llrs(sym + link._draw_noise(tuple(sym.shape), gen, no), no_t)

    return run


def _operating_point(codec, coded, channel_demap, seed: int) -> tuple[torch.Tensor, float, float]:
    """The LLRs the decoding stages are timed on (draw 0), and the code-block error rate and mean
    decoder iterations over :data:`OPERATING_POINT_DRAWS` noise draws, each from its own generator
    seeded ``seed + 1 + i``: the same for every ``repeats`` (a noise source's own draws, so the
    two sources' figures agree only within their statistics)."""
    llrs, errors, iterations = [], [], []
    for i in range(OPERATING_POINT_DRAWS):
        llr = channel_demap(coded, torch.Generator().manual_seed(seed + 1 + i))
        errors.append(~codec.decode(llr)[1].reshape(-1))  # decodes the whole batch in one decoder call
        iterations.append(codec.decoder.last_iterations.reshape(-1).float())
        llrs.append(llr)
    return llrs[0], float(torch.cat(errors).float().mean()), float(torch.cat(iterations).mean())


def bench_row(mcs: Any, snr_db: float, chain: str, threads: int, cfg: BenchLinkConfig, noise: str = "torch") -> dict:
    """Time one (MCS, chain, threads, noise source) combination; see the module docstring for the stages."""
    from semcom.link import NRLink, default_max_tb_bits
    from semcom.link.base import noise_variance

    load_before = _load()
    demapper = cfg.sionna_demapper if chain == "sionna" else "maxlog"
    link = NRLink(mcs, max_tb_bits=cfg.max_tb_bits, chain=chain, demapper=demapper, decoder="fast",
                  num_iter=cfg.iterations, num_threads=threads, noise=noise)
    k = cfg.max_tb_bits or default_max_tb_bits(mcs)
    plan = link.plan(k)
    if plan.num_tb != 1:
        raise ConfigError(f"internal: {k} payload bits do not fit one TB")  # pragma: no cover
    lay = plan.tbs[0]
    codec = link._codec(lay)
    gen = torch.Generator().manual_seed(cfg.seed)
    bits = torch.randint(0, 2, (cfg.items, k), generator=gen).float()
    u = torch.nn.functional.pad(bits, (0, lay.tbs - k))
    no = noise_variance(snr_db)

    fused = link._fuses_awgn(codec)
    channel_demap = _channel_demap(link, codec, no, fused)
    stages = {}
    coded, *stages["tb_encode"] = _median_time(lambda: codec.coded(u), cfg.repeats)
    _, *stages["map_channel_demap"] = _median_time(lambda: channel_demap(coded, gen), cfg.repeats)
    llr, cbler, mean_iter = _operating_point(codec, coded, channel_demap, cfg.seed)
    (u_hat, _, _), *stages["decode_crc"] = _median_time(lambda: codec.decode(llr), cfg.repeats)
    flat = llr.reshape(cfg.items * lay.num_cb, -1)
    paired, ratios = _paired_times({"decoder_alone": lambda: codec.decoder(flat),
                                    "end_to_end": lambda: link.transmit(bits, snr_db, generator=1)}, cfg.repeats)
    stages.update(paired)
    info = cfg.items * k
    seconds = {name: w for name, (w, _) in stages.items()}
    cpu = {name: c for name, (_, c) in stages.items()}
    mbps = {name: info / t / 1e6 for name, t in seconds.items()}
    return {
        "chain": chain, "demapper": demapper, "noise": noise, "fused_awgn": fused, "threads": threads, "mcs": str(mcs),
        "modulation_order": mcs.modulation_order, "code_rate": mcs.code_rate, "snr_db": snr_db,
        "payload_bits": k, "items": cfg.items, "tbs": lay.tbs, "num_cb_per_tb": lay.num_cb, "cb_size": lay.cb_size,
        "channel_uses": plan.channel_uses, "num_iter": cfg.iterations, "early_stop": True,
        "mean_iterations": mean_iter, "cbler": cbler, "operating_point_draws": OPERATING_POINT_DRAWS,
        "bits_ok": bool(torch.equal(u_hat[:, :k], bits)),
        "seconds": seconds, "mbit_per_s": mbps, "cpu_seconds": cpu,
        "cpu_mbit_per_s": {name: info / t / 1e6 for name, t in cpu.items() if t > 0},
        "end_to_end_over_decoder_alone": seconds["decoder_alone"] / seconds["end_to_end"],
        "end_to_end_over_decoder_alone_per_round": ratios,
        "cpu_end_to_end_over_decoder_alone": cpu["decoder_alone"] / cpu["end_to_end"] if cpu["end_to_end"] else None,
        "load_average_before": load_before, "load_average_after": _load(),
    }


def _range(values: list[float] | None) -> list[float] | None:
    """``[min, median, max]`` of ``values`` (``None`` for none)."""
    return [min(values), statistics.median(values), max(values)] if values else None


def _summary(rows: list[dict]) -> list[dict]:
    """Per case, SNR, thread count and noise source: the compiled chain against the goals, and its
    speedup over Sionna's chain at the same thread count."""
    out = []
    for mcs, snr, threads, noise in dict.fromkeys((r["mcs"], r["snr_db"], r["threads"], r.get("noise", "torch"))
                                                  for r in rows if r["chain"] == "fast"):
        same = [r for r in rows if r["mcs"] == mcs and r["snr_db"] == snr and r["threads"] == threads]
        fast = next(r for r in same if r["chain"] == "fast" and r.get("noise", "torch") == noise)
        sio = next((r for r in same if r["chain"] == "sionna"), None)
        e2e = fast["mbit_per_s"]["end_to_end"]
        out.append({
            "mcs": mcs, "snr_db": snr, "threads": threads, "noise": noise, "mean_iterations": fast["mean_iterations"],
            "cbler": fast["cbler"], "fast_end_to_end_mbps": e2e,
            "fast_decoder_alone_mbps": fast["mbit_per_s"]["decoder_alone"],
            "fast_end_to_end_over_decoder_alone": fast["end_to_end_over_decoder_alone"],
            "fast_ratio_per_round_range": _range(fast.get("end_to_end_over_decoder_alone_per_round")),
            "fast_cpu_end_to_end_over_decoder_alone": fast["cpu_end_to_end_over_decoder_alone"],
            "sionna_end_to_end_mbps": sio["mbit_per_s"]["end_to_end"] if sio else None,
            "end_to_end_speedup": e2e / sio["mbit_per_s"]["end_to_end"] if sio else None,
            "goal_ratio_met": fast["end_to_end_over_decoder_alone"] >= GOALS["end_to_end_over_decoder_alone"],
            "goal_mbps_met": (e2e >= GOALS["end_to_end_mbps_2_threads"]) if threads >= 2 else None,
        })
    return out


def run(config: BenchLinkConfig | dict | None = None) -> Results:
    """Run the benchmark; returns :class:`Results` named ``link`` (see the module docstring)."""
    from semcom.experiments.results import machine_info
    from semcom.link import MCS

    cfg = config if isinstance(config, BenchLinkConfig) else from_dict(BenchLinkConfig, config or {})
    old_threads = torch.get_num_threads()
    before = machine_info()
    rows = []
    try:
        for i, (qm, rate) in enumerate(cfg.cases):
            mcs = MCS.from_rate(int(qm), float(rate))
            snrs = cfg.snr_db[i] if cfg.snr_db is not None else DEFAULT_SNR_DB[_case_key((qm, rate))]
            for snr in snrs:
                for threads in cfg.threads:
                    for chain, noise in [(c, n) for c in cfg.chains for n in (cfg.noises if c == "fast" else ["torch"])]:
                        print(f"bench link: {mcs} {snr} dB chain={chain} noise={noise} threads={threads} ...",
                              file=sys.stderr, flush=True)
                        rows.append(bench_row(mcs, float(snr), chain, threads, cfg, noise))
    finally:
        torch.set_num_threads(old_threads)
    data = {
        "rows": rows,
        "summary": _summary(rows),
        "goals": GOALS,
        "machine": {**{k: v for k, v in before.items() if k != "loadavg"}, "loadavg_before": before["loadavg"],
                    "loadavg_after": _load()},
        "channel": "awgn", "decoder": f"FastLDPC5GDecoder(num_iter={cfg.iterations}, early_stop=True)",
    }
    return Results(name=NAME, data=data, provenance=provenance(cfg, cfg.seed))


#: What ``--quick`` sets, for the values the user did not give.
QUICK = {"items": 4, "repeats": 1}


def main(argv: Sequence[str] | None = None) -> int:
    """``semcom bench link [--out DIR] [--quick] [--items N] [--repeats N] [--threads 1,2] [--chains sionna,fast]``."""
    from semcom import cliargs

    t = cliargs.typed
    p = cliargs.ArgumentParser(prog="semcom bench link", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--out", default="results/bench", help="folder for link.json")
    p.add_argument("--quick", action="store_true", help="few TBs, one repeat (values you give still apply)")
    p.add_argument("--items", type=t(cliargs.parse_int, what="items", lo=1, hi=512), default=None,
                   help="slot-sized TBs per call, 1..512 (default 16)")
    p.add_argument("--repeats", type=t(cliargs.parse_int, what="repeats", lo=1, hi=50), default=None,
                   help="timed runs per stage, 1..50 (default 3; the median is reported)")
    p.add_argument("--iterations", type=t(cliargs.parse_int, what="iterations", lo=1, hi=100), default=None,
                   help="maximum decoder iterations, 1..100 (default 20, early stopping on)")
    p.add_argument("--threads", type=t(cliargs.parse_number_list, what="threads", lo=1, hi=cliargs.MAX_WORKERS,
                                        integer=True), default=None, help="thread counts to compare, e.g. 1,2 (default)")
    p.add_argument("--chains", type=t(cliargs.parse_choice_list, choices=("sionna", "fast"), what="chain"),
                   default=None, help="chains to compare: sionna,fast (default both)")
    p.add_argument("--noises", type=t(cliargs.parse_choice_list, choices=NOISES, what="noise source"),
                   default=None, help="the compiled chain's noise sources: torch,fast (default both)")
    p.add_argument("--seed", type=t(cliargs.parse_seed), default=None)
    args = p.parse_args(list(argv) if argv is not None else None)
    cfg: dict[str, Any] = cliargs.given(args, ("items", "repeats", "iterations", "threads", "chains", "noises", "seed"))
    if args.quick:
        cfg = cliargs.fill_defaults(cfg, QUICK)
    from_dict(BenchLinkConfig, cfg)  # checked here, before any work
    cliargs.check_out_dir(args.out)
    res = run(cfg)
    path = res.save(args.out, "link.json")
    for r in res.data["rows"]:
        mb = "  ".join(f"{k} {v:.2f}" for k, v in r["mbit_per_s"].items())
        print(f"{r['mcs']:<16} {r['snr_db']:4.1f} dB {r['chain']:>6} {r['noise']:>5} {r['threads']} thr  {mb}  e2e/dec {r['end_to_end_over_decoder_alone']:.2f}"
              f"  it {r['mean_iterations']:.1f}  load {r['load_average_before'][0]:.1f}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from semcom.cliargs import guarded

    raise SystemExit(guarded(main))
