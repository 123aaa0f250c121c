"""Matplotlib plots made from results JSON (headless Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

_STYLES = ["-o", "--s", "-.^", ":v", "-D", "--x", "-.P", ":*"]


def save_figure(fig: Any, path: str | Path, *, dpi: int = 110, tight: bool = True) -> Path:
    """Write ``fig`` to ``path`` as every plot here ends: create the parent folder, apply
    ``fig.tight_layout()`` when ``tight`` (off for a caller that laid the figure out itself), save at
    ``dpi``, close the figure so that a long sweep does not keep it in pyplot's memory, and return the
    path as a :class:`~pathlib.Path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _label(rec: dict, keys: Sequence[str]) -> str:
    return " / ".join(str(rec[k]) for k in keys)


def metric_vs_snr(summary: list[dict], metric: str, ylabel: str, path: str | Path, *,
                  series: Sequence[str], panels: str | None = None, logy: bool = False,
                  title: str | None = None) -> Path:
    """One line per ``series`` key combination, one panel per value of ``panels``."""
    panel_vals = sorted({r[panels] for r in summary}) if panels else [None]
    fig, axes = plt.subplots(1, len(panel_vals), figsize=(5.2 * len(panel_vals), 4), squeeze=False)
    for ax, pv in zip(axes[0], panel_vals):
        rows = [r for r in summary if panels is None or r[panels] == pv]
        labels = sorted({_label(r, series) for r in rows})
        for i, lab in enumerate(labels):
            pts = sorted((r["snr_db"], r[metric]) for r in rows if _label(r, series) == lab and r[metric] is not None)
            if not pts:
                continue
            xs, ys = zip(*pts)
            if logy:
                ys = [max(y, 1e-4) for y in ys]
            ax.plot(xs, ys, _STYLES[i % len(_STYLES)], label=lab, markersize=4)
        ax.set_xlabel("SNR (Es/N0) [dB]")
        ax.set_ylabel(ylabel)
        if logy:
            ax.set_yscale("log")
            ax.text(0.01, 0.01, "points with no error drawn at 1e-4", transform=ax.transAxes, fontsize=7, color="0.4")
        ax.grid(True, alpha=0.3)
        ax.set_title(title or (f"{panels}: {pv}" if panels else ""))
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def image_grid(rows: Iterable[tuple[str, list[tuple[str, np.ndarray]]]], path: str | Path) -> Path:
    """A grid of images: each row is ``(row_title, [(caption, HxWx3 array in [0,1]), ...])``."""
    rows = list(rows)
    ncol = max(len(r[1]) for r in rows)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(2.6 * ncol, 2.9 * len(rows)), squeeze=False)
    for ri, (title, items) in enumerate(rows):
        for ci in range(ncol):
            ax = axes[ri][ci]
            ax.axis("off")
            if ci < len(items):
                cap, img = items[ci]
                ax.imshow(np.clip(img, 0, 1))
                ax.set_title(cap, fontsize=7)
        axes[ri][0].text(-0.08, 0.5, title, transform=axes[ri][0].transAxes, rotation=90,
                         va="center", ha="right", fontsize=8)
    return save_figure(fig, path, dpi=100)
