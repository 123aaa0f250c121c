"""Throughput of the 5G NR link: information Mbit/s per component and end to end.

Run: ``.venv/bin/python benchmarks/bench_link.py --out benchmarks/results`` (writes ``link.json``).

Bit-true link (Sionna's BP decoder, 20 iterations; this is the baseline a faster decoder must
beat), QPSK r=1/2 and 16QAM r=2/3, AWGN at an SNR where every block decodes, transport blocks of
one reference slot (the default ``max_tb_bits``):

* ``tb_encode``: CRCs, segmentation, LDPC encoding, rate matching, interleaving, scrambling;
* ``map_channel_demap``: QAM mapping, AWGN, APP soft demapping;
* ``decode_crc``: descrambling, de-interleaving, LDPC decoding, CB and TB CRC checks;
* ``end_to_end``: ``NRLink.transmit`` (all of the above plus bookkeeping).

Also the abstracted links' ``transmit`` (erasure, BLER table, capacity) and the bit-true link with
``decoder="fast"`` on Sionna's chain and on the compiled chain (``chain="fast"``). The side-by-side
comparison of the two chains at 1 and 2 threads is ``semcom bench link``
(``semcom.experiments.bench_link``), whose stage timing this script reuses.
Throughput counts payload (information) bits. Each measurement is the median of ``--repeat``
runs after one warm-up. The machine is shared: its load average is recorded with the numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys

import torch

from semcom.utils import wall_times


_THREADS = 1


def _median_time(fn, repeat: int) -> float:
    """Median of ``repeat`` calls after a warm-up (builds and caches encoders/decoders); the thread
    setting re-applied before every call (Numba's threading layer may reset it)."""
    return statistics.median(wall_times(fn, repeat, before=lambda: torch.set_num_threads(_THREADS)))


def bench_bittrue(mcs, snr_db: float, items: int, repeat: int, decoder: str = "sionna", chain: str = "sionna") -> dict:
    """Stages of the bit-true link (see ``semcom.experiments.bench_link``), on ``_THREADS`` threads."""
    from semcom.experiments.bench_link import BenchLinkConfig, bench_row

    if decoder != "fast":  # Sionna's BP decoder: time its stages with the same layout, decoder alone included
        return _bench_sionna_decoder(mcs, snr_db, items, repeat, chain)
    cfg = BenchLinkConfig(cases=[[mcs.modulation_order, mcs.code_rate]], snr_db=[[snr_db]], items=items,
                          repeats=repeat, threads=[_THREADS], chains=[chain])
    row = bench_row(mcs, snr_db, chain, _THREADS, cfg)
    row.update(link="bittrue", decoder=decoder)
    return row


def _bench_sionna_decoder(mcs, snr_db: float, items: int, repeat: int, chain: str) -> dict:
    from semcom.link import NRLink
    from semcom.link.base import complex_normal, noise_variance

    link = NRLink(mcs, decoder="sionna", num_iter=20, chain=chain, demapper="app" if chain == "sionna" else "maxlog")
    plan = link.plan(_slot_bits(link))
    k = plan.k
    gen = torch.Generator().manual_seed(0)
    bits = torch.randint(0, 2, (items, k), generator=gen).float()
    lay = plan.tbs[0]
    codec = link._codec(lay)
    u = torch.nn.functional.pad(bits, (0, lay.tbs - k))  # one TB per item (k = one slot's TBS)
    no = noise_variance(snr_db)
    coded = codec.coded(u)

    def channel():
        sym = codec.map(coded)
        return codec.llrs(sym + complex_normal(tuple(sym.shape), gen, no), torch.tensor(no))

    llr = channel()
    info = items * k
    t_enc = _median_time(lambda: codec.coded(u), repeat)
    t_ch = _median_time(channel, repeat)
    t_dec = _median_time(lambda: codec.decode(llr), repeat)
    t_e2e = _median_time(lambda: link.transmit(bits, snr_db, generator=1), repeat)
    res = link.transmit(bits, snr_db, generator=1)
    seconds = {"tb_encode": t_enc, "map_channel_demap": t_ch, "decode_crc": t_dec, "end_to_end": t_e2e}
    return {
        "link": "bittrue", "decoder": "sionna", "chain": chain, "num_iter": 20, "mcs": str(mcs),
        "modulation_order": mcs.modulation_order, "code_rate": mcs.code_rate, "snr_db": snr_db,
        "payload_bits": k, "items": items, "tbs": lay.tbs, "num_cb_per_tb": lay.num_cb, "cb_size": lay.cb_size,
        "channel_uses": plan.channel_uses, "cbler_at_snr": res.cbler(),
        "seconds": seconds, "mbit_per_s": {name: info / t / 1e6 for name, t in seconds.items()},
    }


def _slot_bits(link) -> int:
    from semcom.link import default_max_tb_bits

    return default_max_tb_bits(link.mcs)


def bench_abstract(fidelity: str, mcs, snr_db: float, items: int, repeat: int, **kw) -> dict:
    from semcom.link import make_link

    link = make_link(fidelity, mcs=mcs, **kw)
    k = _slot_bits(link) if fidelity != "capacity" else 16_000
    bits = torch.randint(0, 2, (items, k), generator=torch.Generator().manual_seed(0)).float()
    t = _median_time(lambda: link.transmit(bits, snr_db, generator=1), repeat)
    return {"link": fidelity, "mcs": str(mcs), "snr_db": snr_db, "payload_bits": k, "items": items, "extra": kw,
            "seconds": {"end_to_end": t}, "mbit_per_s": {"end_to_end": items * k / t / 1e6}}


def machine_info() -> dict:
    import numpy

    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover
        load = None
    from semcom.experiments.results import cpu_model

    cpu = cpu_model()
    return {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "load_average_1_5_15min": load,
            "python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results", help="output folder (writes link.json)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--items", type=int, default=8, help="payload items (one slot-sized TB each) per call")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 is fastest on a shared machine)")
    p.add_argument("--no-fast", action="store_true", help="skip the fast decoder even if available")
    args = p.parse_args(argv)
    global _THREADS
    _THREADS = args.threads
    torch.set_num_threads(args.threads)

    from semcom.experiments.results import Results, provenance
    from semcom.link import MCS

    cases = [(MCS.from_rate(2, 0.5), 4.0), (MCS.from_rate(4, 2 / 3), 12.0)]
    rows = []
    load_before = os.getloadavg()
    for mcs, snr in cases:
        print(f"bit-true {mcs} sionna ...", file=sys.stderr, flush=True)
        rows.append(bench_bittrue(mcs, snr, args.items, args.repeat, "sionna"))
        if not args.no_fast:
            for chain in ("sionna", "fast"):
                print(f"bit-true {mcs} fast decoder, {chain} chain ...", file=sys.stderr, flush=True)
                rows.append(bench_bittrue(mcs, snr, args.items, args.repeat, "fast", chain))
        for fid, kw in [("erasure", {"cbler": 0.1}), ("bler_table", {}), ("bler_table", {"channel": "rayleigh"}),
                        ("capacity", {})]:
            rows.append(bench_abstract(fid, mcs, snr, 64, args.repeat, **kw))
    torch.set_num_threads(args.threads)
    info = machine_info()
    info["load_average_before"] = load_before
    config = {"repeat": args.repeat, "items": args.items, "threads": args.threads}
    res = Results("link", {"machine": info, "rows": rows}, provenance(config=config, seed=0))
    path = res.save(args.out, "link.json")
    for r in rows:
        mb = ", ".join(f"{k}={v:.4f}" for k, v in r["mbit_per_s"].items())
        print(f"{r['link']:>10} {r.get('decoder', ''):>6} {r.get('chain', ''):>6} {r['mcs']:<28} {mb}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
