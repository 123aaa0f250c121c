"""Peak memory of the image metrics (PSNR, SSIM, MS-SSIM via ``evaluate_images``) on large images.

Run: ``.venv/bin/python benchmarks/bench_metrics_memory.py --out benchmarks/results``
(writes ``metrics_memory.json``).

Each size runs in a fresh process: it builds a reference ``x`` and a noisy ``y`` (float32
``[1, 3, H, W]``, random content: memory does not depend on it), records the resident memory,
resets the kernel's peak-RSS counter (``/proc/self/clear_refs``, Linux), runs
``evaluate_images(x, y)`` (float64 copies, no gradients, as every experiment does) and reads the
peak (``VmHWM``). ``metric_peak_gb`` is what the metrics add on top of the two input images;
``process_peak_gb`` is the whole process. ``--one-pass`` rows set ``STRIP_ELEMENTS`` so high that
every map is computed in one piece: the behaviour before the metrics worked in strips (run only at
sizes this machine can hold).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

SIZES = [  # (label, width, height)
    ("2k", 1920, 1080),
    ("4k", 3840, 2160),
    ("8k", 7680, 4320),
    ("64Mpx", 8192, 8192),  # the largest image semcom.data.ImageFolder reads (MAX_PIXELS)
]
ONE_PASS = ("2k", "4k")  # the former one-pass behaviour needs ~0.6 GB per Mpx: not run at 8k


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


def measure(width: int, height: int, one_pass: bool) -> dict:
    """One measurement in this process (called in a child process by :func:`main`)."""
    import torch

    import semcom.metrics.image as im

    torch.set_num_threads(1)
    if one_pass:
        im.STRIP_ELEMENTS = 1 << 62
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, height, width, generator=g)
    y = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp_(0, 1)
    rss_before = _status_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset VmHWM to the current RSS
    t0 = time.perf_counter()
    r = im.evaluate_images(x, y)
    seconds = time.perf_counter() - t0
    peak = _status_kb("VmHWM")
    return {"width": width, "height": height, "megapixels": round(width * height / 1e6, 2), "one_pass": one_pass,
            "inputs_gb": round(2 * x.numel() * 4 / 2**30, 3), "rss_before_gb": round(rss_before / 2**20, 3),
            "process_peak_gb": round(peak / 2**20, 3), "metric_peak_gb": round((peak - rss_before) / 2**20, 3),
            "seconds": round(seconds, 1), "psnr": r["psnr"][0], "ssim": r["ssim"][0], "ms_ssim": r["ms_ssim"][0]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results", help="output folder")
    p.add_argument("--sizes", default=",".join(s[0] for s in SIZES), help="labels of the sizes to run")
    p.add_argument("--child", nargs=3, metavar=("W", "H", "ONE_PASS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(measure(int(args.child[0]), int(args.child[1]), args.child[2] == "1")))
        return 0
    from semcom.experiments.results import Results, provenance

    wanted = args.sizes.split(",")
    rows = []
    for label, w, h in SIZES:
        if label not in wanted:
            continue
        for one_pass in ((False, True) if label in ONE_PASS else (False,)):
            out = subprocess.run([sys.executable, __file__, "--child", str(w), str(h), "1" if one_pass else "0"],
                                 capture_output=True, text=True, check=False)
            if out.returncode != 0:
                rows.append({"label": label, "width": w, "height": h, "one_pass": one_pass,
                             "error": out.stderr.strip().splitlines()[-1:] or [f"exit {out.returncode}"]})
            else:
                rows.append({"label": label} | json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    import semcom.metrics.image as im

    info = {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch_threads": 1,
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "load_average_1_5_15min": list(os.getloadavg()), "strip_elements": im.STRIP_ELEMENTS}
    res = Results("metrics_memory", {"machine": info, "rows": rows},
                  provenance(config={"sizes": wanted}, seed=0))
    print(f"wrote {res.save(args.out, 'metrics_memory.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
