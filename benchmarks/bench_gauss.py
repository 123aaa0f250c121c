"""Time per draw of the bit-true link's channel noise: torch (the default) against the compiled ziggurat.

Run: ``.venv/bin/python benchmarks/bench_gauss.py --out benchmarks/results`` (writes ``gauss.json``).

One draw is the AWGN of 16 slot-sized transport blocks, ``CN(0, no)`` of shape ``[16, 16280]``
complex64 (what ``NRLink`` draws for 16 QPSK payloads of one reference slot):

* ``torch``: :func:`semcom.link.base.complex_normal` (``torch.randn`` on a generator, one thread);
* ``fast``: :func:`semcom.link._gauss.complex_normal_fast` at 1 and 2 threads.

Also ``NRLink.transmit`` end to end for the same 16 payloads at a high SNR (the decoder stops after
a few iterations, so the noise draw is a visible share) with ``noise="torch"`` and ``"fast"``, at
1 and 2 threads. Each row has the minimum and the median of ``--repeat`` timed runs after one
warm-up. The machine is shared: the load average before and after is recorded.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
from _timing import times

ROWS, COLS = 16, 16280


def bench_draws(repeat: int) -> list[dict]:
    from semcom.link._gauss import complex_normal_fast
    from semcom.link.base import complex_normal

    gen = torch.Generator().manual_seed(0)
    rows = [{"case": "draw", "noise": "torch", "threads": 1, "shape": [ROWS, COLS],
             **times(lambda: complex_normal((ROWS, COLS), gen, 0.5), repeat)}]
    for threads in (1, 2):
        rows.append({"case": "draw", "noise": "fast", "threads": threads, "shape": [ROWS, COLS],
                     **times(lambda t=threads: complex_normal_fast((ROWS, COLS), 7, 0.5, threads=t), repeat)})
    return rows


def bench_link(repeat: int, snr_db: float) -> list[dict]:
    from semcom.link import MCS, NRLink
    from semcom.link.layout import default_max_tb_bits

    mcs = MCS.from_rate(2, 0.5)
    k = default_max_tb_bits(mcs)  # one reference slot per payload
    rows = []
    for threads in (1, 2):
        for noise in ("torch", "fast"):
            link = NRLink(mcs, noise=noise, num_threads=threads)
            bits = torch.randint(0, 2, (ROWS, k), generator=torch.Generator().manual_seed(1)).float()
            res = link.transmit(bits, snr_db, generator=1)
            rows.append({"case": "transmit", "noise": noise, "threads": threads, "mcs": str(mcs), "snr_db": snr_db,
                         "payload_bits": k, "items": ROWS, "num_re": link.plan(k).channel_uses,
                         "all_tb_ok": bool(res.tb_ok.all()),
                         **times(lambda lk=link, b=bits: lk.transmit(b, snr_db, generator=1), repeat)})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results", help="output folder (writes gauss.json)")
    p.add_argument("--repeat", type=int, default=200, help="timed draws per row")
    p.add_argument("--link-repeat", type=int, default=20, help="timed NRLink.transmit calls per row")
    p.add_argument("--snr", type=float, default=8.0, help="Es/N0 (dB) of the end-to-end rows")
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    from semcom.experiments.results import Results, cpu_model, provenance

    load_before = os.getloadavg()
    print("noise draws ...", file=sys.stderr, flush=True)
    rows = bench_draws(args.repeat)
    print("NRLink.transmit ...", file=sys.stderr, flush=True)
    rows += bench_link(args.link_repeat, args.snr)
    machine = {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "load_average_before": load_before,
               "load_average_after": os.getloadavg(), "torch_threads": 1}
    config = {"repeat": args.repeat, "link_repeat": args.link_repeat, "snr_db": args.snr}
    path = Results("gauss", {"machine": machine, "rows": rows}, provenance(config=config, seed=0)).save(args.out, "gauss.json")
    for r in rows:
        print(f"{r['case']:>8} {r['noise']:>5} {r['threads']} thr  min {r['min_ms']:.3f} ms  median {r['median_ms']:.3f} ms")
    print(f"load average before {load_before}, after {machine['load_average_after']}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
