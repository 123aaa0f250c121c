"""Throughput of torch's normal draws, the bit-true link's default channel noise, on one and two torch threads.

Run: ``.venv/bin/python benchmarks/bench_torch_noise.py --out benchmarks/results`` (writes
``torch_noise.json``).

One draw is what ``NRLink`` (``noise="torch"``) draws for 16 slot-sized transport blocks:
:func:`semcom.link.base.normal_pairs`, ``torch.randn((16, N_RE, 2))`` float32 on a
``torch.Generator`` (the in-phase and quadrature N(0, 1) pairs of complex64 noise), for QPSK
R = 1/2 (``N_RE`` = 16 280) and 16QAM R = 2/3 (11 010). Rows:

* ``whole``: one draw, with ``torch.set_num_threads`` 1 and 2;
* ``chunks``: the same values drawn in the row chunks of the link's two-thread pipeline
  (:func:`semcom.link._pipeline.draw_bounds`), one thread: what splitting the draw costs.

Each row has the minimum and median of ``--repeat`` timed draws after one warm-up, and the
throughput in million floats per second at the median. The machine may be shared: the load
average before and after is recorded.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
from _timing import times

ROWS = 16
CASES = {"QPSK R=1/2": 16280, "16QAM R=2/3": 11010}  # REs of one slot-sized TB (106 PRB, 156 data REs each)


def _draws(num_re: int, gen: torch.Generator) -> dict:
    """The two ways to draw the noise of ``ROWS`` TBs of ``num_re`` REs: one draw, and the pipeline's chunks."""
    from semcom.link._pipeline import draw_bounds
    from semcom.link.base import normal_pairs

    z = torch.empty((ROWS, num_re, 2))
    bounds = draw_bounds(ROWS, num_re)

    def chunks() -> None:
        for a, b in bounds:
            normal_pairs((b - a, num_re), gen, out=z[a:b])

    return {"whole": lambda: normal_pairs((ROWS, num_re), gen), "chunks": chunks, "num_chunks": len(bounds)}


def bench(repeat: int) -> list[dict]:
    rows = []
    for case, num_re in CASES.items():
        draws = _draws(num_re, torch.Generator().manual_seed(0))
        floats = ROWS * num_re * 2
        for kind, threads in (("whole", 1), ("whole", 2), ("chunks", 1)):
            torch.set_num_threads(threads)
            t = times(draws[kind], repeat)
            rows.append({"case": case, "draw": kind, "torch_threads": threads, "shape": [ROWS, num_re, 2],
                         "chunks": draws["num_chunks"] if kind == "chunks" else 1, "floats": floats,
                         "mfloats_per_s": floats / t["median_ms"] / 1e3, **t})
    torch.set_num_threads(1)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results", help="output folder (writes torch_noise.json)")
    p.add_argument("--repeat", type=int, default=200, help="timed draws per row")
    args = p.parse_args(argv)

    from semcom.experiments.results import Results, cpu_model, provenance

    load_before = os.getloadavg()
    rows = bench(args.repeat)
    machine = {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "load_average_before": load_before,
               "load_average_after": os.getloadavg(), "torch_capability": torch.backends.cpu.get_cpu_capability()}
    path = Results("torch_noise", {"machine": machine, "rows": rows},
                   provenance(config={"repeat": args.repeat, "rows": ROWS}, seed=0)).save(args.out, "torch_noise.json")
    for r in rows:
        print(f"{r['case']:<12} {r['draw']:>6} ({r['chunks']}) torch threads {r['torch_threads']}  min {r['min_ms']:.3f} ms"
              f"  median {r['median_ms']:.3f} ms  {r['mfloats_per_s']:.0f} Mfloat/s")
    print(f"load average before {load_before}, after {machine['load_average_after']}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
