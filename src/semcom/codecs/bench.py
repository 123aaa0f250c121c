"""Measure the codecs: rate accuracy, PSNR, encode/decode time, decode-guard overhead, corruption outcomes.

Run ``python -m semcom.codecs.bench [--out FILE.json] [--quick]``; the numbers in
``docs/codecs.md`` come from this command. Times are wall-clock on the machine it runs on.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import numpy as np
import torch

from semcom.data import checksums, test_images

from . import available_codecs, get_codec
from .base import CodecBudgetError
from .guard import DecodeGuard, decode_inprocess


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def rate_distortion(images, rates=(0.1, 0.25, 0.5, 1.0, 2.0)) -> dict:
    """Per codec and target bpp: mean achieved bpp / target, mean PSNR (dB), encode and decode time (s)."""
    out = {}
    for name in available_codecs():
        codec = get_codec(name)
        rows = []
        for bpp in rates:
            ratios, psnrs, enc, dec, misses = [], [], [], [], 0
            for im in images:
                x = im.image
                t0 = time.perf_counter()
                try:
                    s = codec.encode(x, bpp=bpp)
                except CodecBudgetError:
                    misses += 1
                    continue
                enc.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                y = codec.decode(s)
                dec.append(time.perf_counter() - t0)
                ratios.append(8 * len(s) / (x.shape[-1] * x.shape[-2]) / bpp)
                psnrs.append(_psnr(y, x))
            rows.append(
                {
                    "target_bpp": bpp,
                    "images": len(ratios),
                    "below_min_size": misses,
                    "bpp_over_target_mean": statistics.fmean(ratios) if ratios else None,
                    "bpp_over_target_min": min(ratios) if ratios else None,
                    "bpp_over_target_max": max(ratios) if ratios else None,
                    "psnr_db_mean": statistics.fmean(psnrs) if psnrs else None,
                    "encode_s_mean": statistics.fmean(enc) if enc else None,
                    "decode_s_mean": statistics.fmean(dec) if dec else None,
                }
            )
        out[name] = rows
    return out


def guard_overhead(image: torch.Tensor, repeats: int = 20) -> dict:
    """Median decode time in-process vs through the guarded worker (s), per codec, and the worker start time."""
    guard = DecodeGuard()
    t0 = time.perf_counter()
    guard.decode(get_codec("jpeg").encode(image[..., :16, :16]), "JPEG")
    start_s = time.perf_counter() - t0
    res = {"worker_start_s": start_s, "image": list(image.shape[-2:]), "codecs": {}}
    for name in available_codecs():
        codec = get_codec(name)
        s = codec.encode(image, bpp=1.0)
        inproc, guarded = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            decode_inprocess(s, codec.fmt)
            inproc.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            guard.decode(s, codec.fmt)
            guarded.append(time.perf_counter() - t0)
        a, b = statistics.median(inproc), statistics.median(guarded)
        res["codecs"][name] = {"inprocess_s": a, "guarded_s": b, "overhead_s": b - a}
    guard.close()
    return res


def corruption_outcomes(image: torch.Tensor, count: int = 1000, seed: int = 0) -> dict:
    """Status counts of ``decode_robust`` over ``count`` corrupted streams per codec (5 corruption kinds)."""
    rng = np.random.default_rng(seed)
    h, w = image.shape[-2:]
    out = {}
    for name in available_codecs():
        codec = get_codec(name)
        s = codec.encode(image, bpp=1.0)
        counts = {"ok": 0, "recovered": 0, "failed": 0}
        t0 = time.perf_counter()
        for i in range(count):
            b = bytearray(s)
            kind = i % 5
            if kind == 0:  # bit flips
                for _ in range(int(rng.integers(1, 9))):
                    j = int(rng.integers(len(b) * 8))
                    b[j // 8] ^= 1 << (j % 8)
            elif kind == 1:  # byte overwrite
                n = int(rng.integers(1, 33))
                p = int(rng.integers(0, max(1, len(b) - n)))
                b[p : p + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
            elif kind == 2:  # truncation
                b = b[: int(rng.integers(0, len(b)))]
            elif kind == 3:  # random bytes
                b = bytearray(rng.integers(0, 256, int(rng.integers(1, 4096)), dtype=np.uint8).tobytes())
            else:  # empty
                b = bytearray()
            counts[codec.decode_robust(bytes(b), shape=(h, w), damaged=True).status] += 1
        counts["seconds"] = time.perf_counter() - t0
        out[name] = counts
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m semcom.codecs.bench", description=__doc__.splitlines()[0])
    p.add_argument("--out", help="write the results JSON here")
    p.add_argument("--quick", action="store_true", help="tiny subset only, fewer corruptions")
    p.add_argument("--names", nargs="+", help="test photos to use (default: all ten; see semcom.data)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.quick:
        images = test_images(subset="tiny")
    else:
        images = test_images(names=args.names, multiple_of=16)
    probe = test_images(names=["astronaut"])[0].image  # 512 x 512
    crop = probe[..., 128:384, 128:384]
    res = {
        "images": checksums(images),
        "rate_distortion": rate_distortion(images),
        "guard_overhead": guard_overhead(probe),
        "corruption": corruption_outcomes(crop, count=200 if args.quick else 1000),
    }
    text = json.dumps(res, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
