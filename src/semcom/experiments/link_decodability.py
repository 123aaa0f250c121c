"""Which code-block layouts of the link belief propagation can never decode (``semcom link decodability``).

For every MCS of 38.214 tables 1 and 2 and every TB of ``--min-tb``
to ``--max-tb`` payload bits (default 24..400, one TB each, laid out as the link lays it out:
:func:`semcom.link.layout.plan_payload`), decide with :func:`semcom.link.decodability.peel` whether
iterative LDPC decoding recovers the code block at infinite SNR. Writes ``<out>/decodability.json``
(default ``results/link``): the counts, every undecodable code-block layout ``(K', E, base graph)``
with the MCSs and TB sizes that produce it, and per code-block size ``K'`` of the scan the highest
code-block rate ``K'/E`` that decodes and the lowest that does not, over every ``E`` with a rate of
at least 0.8 up to the link's limit 0.95 on the base graph the encoder picks (the link's own layouts
use a few of these ``E``).
"""

from __future__ import annotations

import math
import sys
import time
import json
from pathlib import Path
from typing import Sequence

NAME = "decodability"
DEFAULT_OUT = "results/link"
#: Code-block rates checked per size (besides the link's layouts): from this one up to 0.95.
MIN_RATE = 0.8


def scan(min_tb: int = 24, max_tb: int = 400) -> dict:
    """The scan of the module docstring as a JSON-able dict (without provenance)."""
    from semcom.link.adaptation import table_mcs_candidates
    from semcom.link.decodability import peel
    from semcom.link.layout import plan_payload

    layouts: dict[tuple[int, int, int], list[tuple[int, int, int]]] = {}
    total = 0
    for table in (1, 2):
        for mcs in table_mcs_candidates(table):
            for k in range(min_tb, max_tb + 1):
                lay = plan_payload(k, mcs, k).tbs[0]
                total += 1
                for e in sorted(set(lay.cw_lengths)):
                    layouts.setdefault((lay.cb_size, e, lay.base_graph), []).append((table, mcs.index, k))
    bad, max_rounds = [], 0
    for (kp, e, bg), uses in sorted(layouts.items()):
        p = peel(kp, e, bg)
        if p.decodable:
            max_rounds = max(max_rounds, p.rounds)
            continue
        mcs_rows: dict[tuple[int, int], list[int]] = {}
        for table, idx, k in uses:
            mcs_rows.setdefault((table, idx), []).append(k)
        bad.append({"cb_size": kp, "cw_length": e, "base_graph": bg, "z": p.z, "rate": round(kp / e, 4),
                    "unresolved_info_bits": p.unresolved, "punctured_bits": 2 * p.z,
                    "uses": [{"table": t, "mcs_index": i, "tb_payload": [min(ks), max(ks)], "count": len(ks)}
                             for (t, i), ks in sorted(mcs_rows.items())]})
    sizes = sorted({kp for kp, _, _ in layouts})
    return {
        "what": "code-block layouts (K', E, base graph) of one TB of 24..400 payload bits at every 38.214 table 1 "
                "and 2 MCS that belief-propagation decoding cannot decode at any SNR (erasure peeling)",
        "tb_payload_bits": [min_tb, max_tb],
        "tb_layouts": total,
        "undecodable_tb_layouts": sum(u["count"] for b in bad for u in b["uses"]),
        "code_block_layouts": len(layouts),
        "undecodable_code_block_layouts": len(bad),
        "max_peeling_rounds_decodable": max_rounds,
        "undecodable": bad,
        "by_size": [_size_extent(kp) for kp in sizes],
    }


def _size_extent(kp: int) -> dict:
    """Per ``K'``: over ``E`` from ``K'/0.95`` to ``K'/MIN_RATE`` (on the base graph the encoder picks), the
    highest decodable and the lowest undecodable code-block rate, and the undecodable ``E``."""
    from semcom.link.decodability import bp_decodable
    from semcom.link.layout import code_block_base_graph

    fails, max_ok, bgs = [], None, set()
    for e in range(math.ceil(kp / 0.95), math.floor(kp / MIN_RATE) + 1):
        bg = code_block_base_graph(kp, e)
        bgs.add(bg)
        if bp_decodable(kp, e, bg):
            max_ok = max(max_ok or 0.0, kp / e)
        else:
            fails.append(e)
    return {"cb_size": kp, "base_graph": sorted(bgs)[0] if len(bgs) == 1 else sorted(bgs),
            "max_decodable_rate": None if max_ok is None else round(max_ok, 4),
            "min_undecodable_rate": round(kp / max(fails), 4) if fails else None,
            "undecodable_cw_lengths": fails}


def main(argv: Sequence[str] | None = None) -> int:
    """``semcom link decodability [--out DIR] [--min-tb N] [--max-tb N]``."""
    from semcom import cliargs
    from semcom.experiments.results import provenance, to_jsonable

    argv = list(sys.argv[1:] if argv is None else argv)
    t = cliargs.typed
    p = cliargs.ArgumentParser(prog="semcom link decodability", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--out", default=DEFAULT_OUT, help=f"folder for {NAME}.json (default {DEFAULT_OUT})")
    p.add_argument("--min-tb", type=t(cliargs.parse_int, what="smallest TB", lo=1, hi=8448), default=24,
                   help="smallest TB payload in bits (default 24)")
    p.add_argument("--max-tb", type=t(cliargs.parse_int, what="largest TB", lo=1, hi=8448), default=400,
                   help="largest TB payload in bits (default 400)")
    args = p.parse_args(argv)
    if args.max_tb < args.min_tb:
        raise cliargs.UsageError(f"--max-tb ({args.max_tb}) must be at least --min-tb ({args.min_tb})")
    t0 = time.perf_counter()
    data = scan(args.min_tb, args.max_tb)
    data["provenance"] = provenance({"min_tb": args.min_tb, "max_tb": args.max_tb})
    data["provenance"]["command"] = "semcom link decodability" + ("" if not argv else " " + " ".join(argv))
    data["provenance"]["seconds"] = round(time.perf_counter() - t0, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{NAME}.json").write_text(json.dumps(to_jsonable(data), indent=1) + "\n")
    print(f"{data['undecodable_tb_layouts']} of {data['tb_layouts']} TB layouts ({data['undecodable_code_block_layouts']} "
          f"of {data['code_block_layouts']} code-block layouts) cannot be decoded by belief propagation")
    for b in data["undecodable"]:
        rows = ", ".join(f"t{u['table']} idx{u['mcs_index']} TB {u['tb_payload'][0]}-{u['tb_payload'][1]}" for u in b["uses"])
        print(f"  K'={b['cb_size']:4d} E={b['cw_length']:4d} BG{b['base_graph']} rate {b['rate']:.3f}: {rows}")
    print(f"wrote {out / (NAME + '.json')}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from semcom.cliargs import guarded

    sys.exit(guarded(main))
