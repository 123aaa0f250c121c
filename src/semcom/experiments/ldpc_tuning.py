"""Tuning the fast 5G LDPC decoder against Sionna's: normalisation per code, input LLR clipping.

``semcom bench ldpc --tuning`` (or ``python -m semcom.experiments.ldpc_tuning``) writes
``ldpc_tuning.json`` with two studies; the defaults of
:class:`semcom.link.ldpc_fast.FastLDPC5GDecoder` (``scaling=None`` -> :func:`default_scaling`,
``llr_max``) are read from it.

1. **Scaling.** For every code (base graph 1 and 2, ``k`` from 40 to 8448, QPSK over AWGN): find
   the Eb/N0 where the fast decoder's BLER is about ``target_bler``, draw ``codewords`` words
   there and decode the same LLRs with Sionna's ``LDPC5GDecoder(encoder, num_iter)``
   (boxplus-phi, flooding) once. The fast decoder, for every candidate scaling, decodes the same
   information bits and noise realisation scaled to a grid of Eb/N0 values around that point
   (common random numbers, so the curve is smooth). The gap of a scaling is the Eb/N0 its curve
   needs to reach Sionna's measured BLER minus the Eb/N0 Sionna needed (positive: the fast
   decoder is worse). Its standard error comes from the paired (same LLRs) error counts:
   ``sqrt(discordant) / errors_sionna / ln 10`` decades, divided by the curve's slope in decades
   per dB.
2. **Clipping.** (a) Overconfident LLRs: correct bits at ``|LLR| = 3`` and one wrong information
   bit at ``|LLR| = 50``, the words still wrong after decoding for each ``llr_max`` (and Sionna
   with its default ``llr_max = 20``). (b) Normal operation: block errors on identical LLRs at the
   10 % point of several codes and modulations (QPSK to 256-QAM), with correctly scaled LLRs and
   with LLRs 10x overconfident (noise variance underestimated 10x), for each ``llr_max``.

Example:
    >>> from semcom.experiments.ldpc_tuning import TuningConfig, run
    >>> res = run(TuningConfig(codes=[[100, 200, None]], scalings=[0.7, 0.8], codewords=[[1000, 60]],
    ...                        clip_values=["none", "rel:4"], overconfident_codes=[100], clip_codes=[]))
    >>> sorted(res.data["scaling"][0]["gap_db"])
    ['0.7', '0.8']
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import torch

from semcom.errors import ConfigError
from semcom.experiments.ldpc_common import (block_errors, calibrate_ebno, gap_se, qam_awgn_llrs,  # noqa: F401
                                           sionna_decode, snr_at_bler)
from semcom.experiments.results import Results, provenance
from semcom.utils import from_dict, make_generator

NAME = "ldpc_tuning"

# [k, n, base graph or None (3GPP's choice)]: BG2 from the smallest 5G code block up, BG1 forced
# down to the same sizes (its real use starts at k ~ 300, rate > 2/3), rates 1/2 and 1/3 or 2/3
TUNING_CODES = [
    [40, 80, None], [40, 120, None], [56, 112, None], [100, 200, None], [100, 300, None],
    [200, 400, None], [504, 1008, None], [504, 756, None], [1000, 2000, None], [2016, 4032, None],
    [3840, 7680, None],
    [40, 80, "bg1"], [100, 200, "bg1"], [100, 300, "bg1"], [320, 400, None], [500, 1000, "bg1"],
    [1000, 1250, None], [2000, 4000, "bg1"], [4000, 8000, None], [8448, 16896, None], [8448, 12672, None],
]
# codewords per code: [up to this k, codewords] (Sionna's decoder decodes each of them once)
CODEWORDS = [[200, 4000], [1100, 1500], [4100, 600], [8448, 300]]
# (k, n, bits per symbol) for the clipping study at normal SNR
CLIP_CODES = [[100, 200, 2], [2016, 3024, 2], [1200, 1300, 2], [3000, 4500, 4], [3000, 4504, 8]]
# input saturation variants: "none", "abs:X" (llr_max=X, Sionna's kind), "rel:X" (llr_clip=X times the
# word's mean |LLR|)
CLIP_VALUES = ["none", "abs:8", "abs:12", "abs:20", "abs:30", "rel:2", "rel:3", "rel:4", "rel:6"]


@dataclasses.dataclass
class TuningConfig:
    """What :func:`run` measures; see the module docstring."""

    codes: list = dataclasses.field(default_factory=lambda: [list(c) for c in TUNING_CODES])
    scalings: list = dataclasses.field(default_factory=lambda: [0.65, 0.7, 0.75, 0.8, 0.85, 0.9])
    codewords: list = dataclasses.field(default_factory=lambda: [list(c) for c in CODEWORDS])
    grid_db: list = dataclasses.field(default_factory=lambda: [-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3])
    iterations: int = 20
    target_bler: float = 0.1
    # the scaling of the decoder whose target_bler point Sionna decodes at (the study's fixed reference)
    calibration_scaling: float = 0.75
    clip_values: list = dataclasses.field(default_factory=lambda: list(CLIP_VALUES))
    overconfident_codes: list = dataclasses.field(default_factory=lambda: [100, 1000, 8448])
    overconfident_words: int = 64
    clip_codes: list = dataclasses.field(default_factory=lambda: [list(c) for c in CLIP_CODES])
    clip_codewords: int = 2000
    sionna_batch: int = 500
    # the fast decoder's arithmetic (FastLDPC5GDecoder's precision); the committed study is float32
    precision: str = "float"
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.scalings or any(not 0.0 < float(s) <= 1.0 for s in [*self.scalings, self.calibration_scaling]):
            raise ConfigError("scalings and calibration_scaling must be numbers in (0, 1]")
        if 0.0 not in [float(g) for g in self.grid_db]:
            raise ConfigError("grid_db must contain 0.0 (the point Sionna decodes)")
        for spec in self.clip_values:
            clip_kwargs(spec)
        if self.iterations < 1 or self.overconfident_words < 1 or self.clip_codewords < 1 or self.sionna_batch < 1:
            raise ConfigError("iterations, overconfident_words, clip_codewords and sionna_batch must be >= 1")
        if not 0.0 < self.target_bler < 1.0:
            raise ConfigError("target_bler must lie in (0, 1)")
        if self.precision not in ("float", "int16", "int8"):
            raise ConfigError(f"precision must be 'float', 'int16' or 'int8', got {self.precision!r}")


def codewords_for(k: int, table: Sequence[Sequence[int]]) -> int:
    """Codewords per code from a ``[[up to k, codewords], ...]`` table (the last row beyond it)."""
    for kmax, count in table:
        if k <= kmax:
            return int(count)
    return int(table[-1][1])


def scaling_point(k: int, n: int, bg: str | None, cfg: TuningConfig, seed: int) -> dict:
    """One code of the scaling study: Sionna's BLER at one point, the fast decoder's curves, the gaps."""
    from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder

    from semcom.link.ldpc_fast import FastLDPC5GDecoder

    enc = LDPC5GEncoder(k, n, bg=bg)
    count = codewords_for(k, cfg.codewords)
    ref = FastLDPC5GDecoder(enc, num_iter=cfg.iterations, scaling=cfg.calibration_scaling, precision=cfg.precision)
    eb0 = calibrate_ebno(enc, ref, min(count, 1000), cfg.target_bler, seed + 1)
    grid = [round(eb0 + float(g), 3) for g in cfg.grid_db]
    llrs = {}
    for eb in grid:
        u, llrs[eb] = qam_awgn_llrs(enc, count, eb, make_generator(seed))
    e_sio = block_errors(sionna_decode(LDPC5GDecoder(enc, num_iter=cfg.iterations), llrs[eb0], cfg.sionna_batch), u)
    bler_sio = float(e_sio.mean())
    out: dict[str, Any] = {"k": k, "n": n, "bg": enc._bg, "z": int(enc.z), "codewords": count, "ebno_db": eb0,
                           "grid_db": grid, "errors_sionna": int(e_sio.sum()), "bler_sionna": bler_sio,
                           "errors_fast": {}, "discordant": {}, "bler_fast_curve": {}, "gap_db": {}, "gap_se_db": {}}
    for s in cfg.scalings:
        dec = FastLDPC5GDecoder(enc, num_iter=cfg.iterations, scaling=float(s), precision=cfg.precision)
        curve = [float(block_errors(dec(llrs[eb]), u).mean()) for eb in grid]
        e_fast = block_errors(dec(llrs[eb0]), u)
        key = str(s)
        out["errors_fast"][key] = int(e_fast.sum())
        out["discordant"][key] = int((e_fast != e_sio).sum())
        out["bler_fast_curve"][key] = curve
        at = snr_at_bler(grid, curve, bler_sio) if bler_sio > 0 else None
        out["gap_db"][key] = None if at is None else round(at - eb0, 4)
        out["gap_se_db"][key] = gap_se(grid, curve, eb0, int(e_sio.sum()), out["discordant"][key])
    return out


def overconfident_llrs(encoder: Any, words: int, generator: torch.Generator, good: float = 3.0,
                       bad: float = 50.0) -> tuple:
    """Info bits ``[B, k]`` and logits: every bit correct at ``|LLR| = good``, except one transmitted
    information bit per word (random position) with the wrong sign at ``|LLR| = bad``."""
    k = encoder.k
    u = torch.randint(0, 2, (words, k), generator=generator).to(torch.float32)
    c = encoder(u)
    llr = good * (2.0 * c - 1.0)
    pos = torch.randint(0, k - 2 * int(encoder.z), (words,), generator=generator)
    rows = torch.arange(words)
    llr[rows, pos] = -bad * (2.0 * c[rows, pos] - 1.0)
    return u, llr


def clip_kwargs(spec: str) -> dict:
    """``FastLDPC5GDecoder`` keyword arguments of a clipping variant ``"none"``, ``"abs:X"`` or ``"rel:X"``."""
    kind, _, val = str(spec).partition(":")
    try:
        if kind == "none" and not val:
            return {"llr_clip": None, "llr_max": None}
        if kind in ("abs", "rel") and float(val) > 0:
            return {"llr_clip": None, "llr_max": float(val)} if kind == "abs" else {"llr_clip": float(val)}
    except ValueError:
        pass
    raise ConfigError(f"clip variant must be 'none', 'abs:X' or 'rel:X' with X > 0, got {spec!r}")


def clip_study(cfg: TuningConfig) -> dict:
    """Both parts of the clipping study (see the module docstring)."""
    from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder

    from semcom.link.ldpc_fast import FastLDPC5GDecoder

    over = []
    for i, k in enumerate(cfg.overconfident_codes):
        enc = LDPC5GEncoder(int(k), 2 * int(k))
        u, llr = overconfident_llrs(enc, cfg.overconfident_words, make_generator(cfg.seed + 50 + i))
        row: dict[str, Any] = {"k": int(k), "n": 2 * int(k), "words": cfg.overconfident_words,
                               "sionna_wrong": int(block_errors(sionna_decode(LDPC5GDecoder(enc, num_iter=20),
                                                                               llr, cfg.sionna_batch), u).sum())}
        for iters in (20, 200):
            row[f"fast_wrong_{iters}it"] = {
                c: int(block_errors(FastLDPC5GDecoder(enc, num_iter=iters, precision=cfg.precision, **clip_kwargs(c))(llr), u).sum())
                for c in cfg.clip_values}
        over.append(row)
    normal = []
    for i, (k, n, m) in enumerate(cfg.clip_codes):
        enc = LDPC5GEncoder(int(k), int(n), num_bits_per_symbol=int(m))
        ref = FastLDPC5GDecoder(enc, num_iter=cfg.iterations, precision=cfg.precision, **clip_kwargs("none"))
        eb0 = _calibrate_qam(enc, ref, int(m), cfg, cfg.seed + 70 + i)
        u, llr = qam_awgn_llrs(enc, cfg.clip_codewords, eb0, make_generator(cfg.seed + 90 + i), int(m))
        row = {"k": int(k), "n": int(n), "bits_per_symbol": int(m), "ebno_db": eb0, "codewords": cfg.clip_codewords,
               "llr_abs_percentiles_50_90_99": [float(v) for v in np.percentile(llr.abs().numpy(), [50, 90, 99])]}
        for name, factor in (("errors", 1.0), ("errors_llr_x10", 10.0)):
            row[name] = {c: int(block_errors(FastLDPC5GDecoder(enc, num_iter=cfg.iterations, precision=cfg.precision,
                                                           **clip_kwargs(c))(
                factor * llr), u).sum()) for c in cfg.clip_values}
        normal.append(row)
    return {"overconfident": over, "normal": normal}


def _calibrate_qam(enc: Any, dec: Any, m: int, cfg: TuningConfig, seed: int) -> float:
    """Eb/N0 (0.1 dB grid) at which ``dec``'s BLER first drops to ``target_bler`` (bisection, 500 words)."""
    lo, hi = -1.0, 30.0
    while hi - lo > 0.1 + 1e-9:
        mid = round((lo + hi) / 2, 1)
        u, llr = qam_awgn_llrs(enc, 500, mid, make_generator(seed), m)
        if float(block_errors(dec(llr), u).mean()) > cfg.target_bler:
            lo = mid
        else:
            hi = mid
    return round(hi, 1)


def run(config: TuningConfig | dict | None = None, progress: bool = False) -> Results:
    """Run both studies; returns :class:`Results` named ``ldpc_tuning`` (``progress``: a line per code)."""
    cfg = config if isinstance(config, TuningConfig) else from_dict(TuningConfig, config or {})
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # Sionna's many small ops: one intra-op thread is fastest on shared cores
    try:
        points = []
        for i, (k, n, bg) in enumerate(cfg.codes):
            points.append(scaling_point(int(k), int(n), bg, cfg, cfg.seed + 1000 * i))
            p = points[-1]
            if progress:
                print(f"k={k} n={n} {p['bg']} Z={p['z']} Eb/N0={p['ebno_db']} sionna {p['errors_sionna']}/"
                      f"{p['codewords']}  gap " + " ".join(f"{s}:{g}" for s, g in p["gap_db"].items()), flush=True)
        clip = clip_study(cfg)
    finally:
        torch.set_num_threads(torch_threads)
    data = {"scaling": points, "clip": clip, "iterations": cfg.iterations, "modulation": "qpsk (scaling study)",
            "channel": "awgn", "sionna_decoder": "LDPC5GDecoder(boxplus-phi, flooding, llr_max=20, num_iter)"}
    return Results(name=NAME, data=data, provenance=provenance(cfg, cfg.seed))


def main(argv: Sequence[str] | None = None) -> int:
    """``semcom bench ldpc --tuning [--out DIR]``: both studies, written to ``DIR/ldpc_tuning.json``."""
    from semcom import cliargs

    p = cliargs.ArgumentParser(prog="semcom bench ldpc --tuning", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--out", default="results/bench", help="folder for ldpc_tuning.json")
    p.add_argument("--seed", type=cliargs.typed(cliargs.parse_seed), default=0)
    args = p.parse_args(list(argv) if argv is not None else None)
    cliargs.check_out_dir(args.out)
    res = run({"seed": args.seed}, progress=True)
    print(f"wrote {res.save(args.out, NAME + '.json')}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
