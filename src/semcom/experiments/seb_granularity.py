"""Seb granularity (seb paper Fig. 10): fine-Seb ratio -> CBR, reconstruction quality, classification accuracy.

``semcom seb granularity``. Task data: Fashion-MNIST (the paper uses ImageNet + ResNet-50, neither
available offline). Images are 28x28 grey, zero-padded to 32x32 and replicated to RGB, so with
``fine_patch = 8`` an image has 4 coarse regions of 16x16. The KB is built (Eq. 1-4) from
``kb_images`` training images; a small CNN classifier is trained here on ``clf_train`` training
images (clean), and evaluated on the reconstructions of ``test_images`` test images. Following
the paper, transmission uses uniform LDPC 1/2 + QPSK at an SNR where it is error-free, so the CBR
is the channel uses of the whole ``s_idx`` (header included) at that MCS over ``32*32*3`` real
values per image; the link's CRC and coding are counted through :meth:`Link.plan`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semcom.experiments.common import add_common_arguments, load_config_file
from semcom.experiments.results import Results, provenance
from semcom.experiments.seb_common import image_features, make_extractor, make_link
from semcom.semantics.kb import KnowledgeBase
from semcom.semantics.seb import SebCodec, SebCodecConfig
from semcom.utils import from_dict

NAME = "seb_granularity"


@dataclasses.dataclass
class SebGranularityConfig:
    ratios: list[float] = dataclasses.field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])
    fine_patch: int = 8
    kb_sizes: list[int] = dataclasses.field(default_factory=lambda: [512, 128])
    kb_images: int = 2000
    clf_train: int = 20000
    clf_epochs: int = 2
    test_images: int = 1000
    fidelity: str = "bittrue"
    seed: int = 0


def fashion_rgb(split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` Fashion-MNIST images of ``split`` as ``[n, 3, 32, 32]`` in [0, 1] and labels ``[n]``."""
    from semcom.data import fashion_mnist

    x, y = fashion_mnist(split)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(x.shape[0], generator=g)[:n]
    x = x[idx].float().reshape(-1, 1, 28, 28)
    if x.max() > 1.5:
        x = x / 255.0
    return F.pad(x, (2, 2, 2, 2)).repeat(1, 3, 1, 1), y[idx].long()


class SmallClassifier(nn.Module):
    """Task model trained here: two conv blocks and a linear layer on ``[B, 3, 32, 32]``."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 8 * 8, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def train_classifier(x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int) -> SmallClassifier:
    torch.manual_seed(seed)  # parameter init; batches use their own generator
    model = SmallClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=g)
        for i in range(0, x.shape[0], 128):
            b = order[i : i + 128]
            loss = F.cross_entropy(model(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def run(config: SebGranularityConfig | Mapping[str, Any] | None = None) -> Results:
    from semcom.metrics import psnr

    cfg = config if isinstance(config, SebGranularityConfig) else from_dict(SebGranularityConfig, config or {})
    ext = make_extractor("pixel", cfg.fine_patch)
    xk, _ = fashion_rgb("train", cfg.kb_images, cfg.seed)
    feats, imp = image_features(xk, ext, cfg.fine_patch)
    kb = KnowledgeBase.build(feats, importance=imp, sizes=list(cfg.kb_sizes), seed=cfg.seed)
    xc, yc = fashion_rgb("train", cfg.clf_train, cfg.seed + 1)
    clf = train_classifier(xc, yc, cfg.clf_epochs, cfg.seed)
    xt, yt = fashion_rgb("test", cfg.test_images, cfg.seed + 2)
    with torch.no_grad():
        clean_acc = float((clf(xt).argmax(1) == yt).float().mean())
    link = make_link(cfg.fidelity, 2, 0.5)
    rows = []
    for ratio in cfg.ratios:
        codec = SebCodec(kb, ext, SebCodecConfig(cfg.fine_patch, 2 * cfg.fine_patch, float(ratio), 1.0, "none"))
        recon, uses, bits = [], [], []
        for i in range(xt.shape[0]):
            m = codec.encode(xt[i : i + 1])
            recon.append(codec.decode(m.header_bits, m.class_bits))
            uses.append(link.plan(m.num_bits).channel_uses)
            bits.append(m.num_bits)
        y = torch.cat(recon)
        with torch.no_grad():
            acc = float((clf(y).argmax(1) == yt).float().mean())
        rows.append({"fine_ratio": float(ratio), "cbr": float(np.mean(uses)) / (3 * 32 * 32),
                     "bits_per_image": float(np.mean(bits)), "psnr_db": float(psnr(y, xt).mean()),
                     "accuracy": acc})
    data = {"rows": rows, "clean_accuracy": clean_acc, "kb_sizes": kb.sizes,
            "index_bits": [kb.index_bits(0), kb.index_bits(1)], "mcs": "QPSK, LDPC 1/2 (error-free)"}
    return Results(NAME, data, provenance(cfg, seed=cfg.seed))


def plot(results: Results, out_dir: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semcom.report.plots import save_figure

    rows = results.data["rows"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.6))
    r = [x["fine_ratio"] for x in rows]
    for a, key, lab in zip(ax, ("cbr", "psnr_db", "accuracy"), ("CBR", "PSNR [dB]", "accuracy")):
        a.plot(r, [x[key] for x in rows], "o-")
        a.set_xlabel("fine-Seb ratio")
        a.set_ylabel(lab)
        a.grid(True, alpha=0.3)
    ax[2].axhline(results.data["clean_accuracy"], color="grey", ls="--", label="clean images")
    ax[2].legend()
    return save_figure(fig, out / "seb_granularity.png")


def main(argv: Sequence[str] | None = None) -> int:
    from semcom import cliargs

    p = cliargs.ArgumentParser(prog="semcom seb granularity", description=__doc__.split("\n")[0])
    add_common_arguments(p, default_out="results/seb", parallel=False, progress=False)
    a = p.parse_args(argv)
    cfg = load_config_file(a.config)
    cfg.update(cliargs.given(a, ("seed",)))
    checked = from_dict(SebGranularityConfig, cfg)
    cliargs.check_out_dir(a.out)
    res = run(checked)
    res.save(a.out, "seb_granularity.json")
    plot(res, a.out)
    for row in res.data["rows"]:
        print(row)
    print("clean accuracy", res.data["clean_accuracy"])
    return 0


if __name__ == "__main__":  # pragma: no cover
    from semcom.cliargs import guarded

    raise SystemExit(guarded(main))
