"""``semcom sesc train-weights``: train the SE-SC relevance CNN (weight model (a), learned) and
export it as a committed checkpoint with its metric.

Training data (training photographs only, never the test portraits): composites built like the test
scenes of :mod:`semcom.data.face_scenes`, 256x256, from

* backgrounds: random crops of the training wallpapers (:class:`semcom.data.TrainingCrops`, seeds
  disjoint from the test composites');
* faces: the 1927 Solvay conference photograph of Debian's ``visp-images-data`` (GPL-2, black and
  white, 1280 px) with the package's face boxes (``faces/ground_truth_detection.txt``, 29 faces; its
  one box on an empty region is dropped). Every sixth face (by position) is held out for validation.

A scene has 0 to 3 faces (no face with probability 0.15), face box side uniform in
``face_px`` (40-110 px, as the test scenes), crop margin 0.3-0.6 box sides, random mirror, contrast,
brightness and blur jitter, feathered border. The target of each 8x8 patch is
:meth:`TaskRelevance.from_detections` of the exact boxes with score 1 (``sigma`` 0.5); the loss is
the binary cross-entropy per patch. Adam, cosine learning rate, a fixed number of steps (each
batch generated from ``(seed, step)``: the run is reproducible).

Metric (:func:`relevance_metric`): on a scene set, the ROC AUC of the predicted weights against the
labels "the patch centre lies in a face box", pooled over patches, and the recall of those face
patches among each image's 20 % highest-weighted patches. Recorded on the validation composites
(held-out faces) and on the SE-SC test scenes (test portraits: the numbers that matter).

Example (about 25 minutes on one CPU thread)::

    semcom sesc train-weights --config configs/sesc/relevance.json --out src/semcom/checkpoints
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from semcom.utils import from_dict

SOLVAY = "faces/1280px-Solvay_conference_1927.png"
SOLVAY_BOXES = "faces/ground_truth_detection.txt"


@dataclasses.dataclass
class RelevanceTrainConfig:
    name: str = "sesc_relevance"
    steps: int = 1200
    batch_size: int = 16
    lr: float = 2e-3
    size: int = 256
    face_px: tuple = (40, 110)
    sigma: float = 0.5
    seed: int = 0
    val_scenes: int = 96
    test_composites: int = 10
    fp16_tolerance_auc: float = 0.002
    log_every: int = 100


def solvay_faces() -> tuple[np.ndarray, np.ndarray]:
    """(the Solvay photograph as uint8 ``[H, W]``, its 29 face boxes ``[29, 4]`` x0, y0, x1, y1).

    Raises:
        DataUnavailableError: ``visp-images-data`` is not installed (``bash scripts/setup.sh``).
    """
    from PIL import Image

    from semcom.data._common import SETUP_HINT, DataUnavailableError, dpkg_files

    files = dpkg_files("visp-images-data") or []
    img = [f for f in files if f.endswith(SOLVAY)]
    txt = [f for f in files if f.endswith(SOLVAY_BOXES)]
    if not img or not txt:
        raise DataUnavailableError(f"the training faces need Debian's visp-images-data; {SETUP_HINT}")
    gray = np.asarray(Image.open(img[0]).convert("L"))
    return gray, _parse_boxes(Path(txt[0]).read_text())


def _parse_boxes(text: str) -> np.ndarray:
    """ViSP's format: ``detection_i`` then four corners as ``row col``. The file's one box on an
    empty region (``detection_0``, 79 px against 41-56 px for every face) is dropped by size: boxes
    more than 1.3 times the median side are not kept."""
    tok, boxes, i = text.split(), [], 0
    while i < len(tok):
        if tok[i].startswith("detection") and i + 8 < len(tok):
            v = np.array(tok[i + 1:i + 9], dtype=float)
            ys, xs = v[0::2], v[1::2]
            boxes.append([xs.min(), ys.min(), xs.max(), ys.max()])
            i += 9
        else:
            i += 1
    b = np.asarray(boxes, dtype=float).reshape(-1, 4)
    side = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    return b[side <= 1.3 * np.median(side)] if len(b) else b


def split_faces(boxes: np.ndarray) -> tuple[list[int], list[int]]:
    """Training and validation face indices: every sixth face in reading order is held out."""
    order = np.lexsort((boxes[:, 0], np.round(boxes[:, 1] / 40)))
    val = sorted(int(i) for i in order[3::6])
    return [i for i in range(len(boxes)) if i not in val], val


def _face_crop(gray: np.ndarray, boxes: np.ndarray, i: int, side: float, margin: float, rng: np.random.Generator):
    """A jittered crop around face ``i`` resized so that its box side is ``side``; (crop RGB, the
    boxes of every face at least half inside the crop, in crop pixels: neighbours are labelled too)."""
    from PIL import Image, ImageFilter

    box = boxes[i]
    bw = max(box[2] - box[0], box[3] - box[1])
    m = margin * bw
    x0, y0 = max(int(box[0] - m), 0), max(int(box[1] - m), 0)
    x1, y1 = min(int(np.ceil(box[2] + m)), gray.shape[1]), min(int(np.ceil(box[3] + m)), gray.shape[0])
    k = side / bw
    cw, ch = max(int(round((x1 - x0) * k)), 2), max(int(round((y1 - y0) * k)), 2)
    im = Image.fromarray(gray[y0:y1, x0:x1]).resize((cw, ch), Image.Resampling.LANCZOS)
    if rng.random() < 0.3:
        im = im.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.5))))
    a = np.asarray(im).astype(np.float64)
    a = np.clip((a - a.mean()) * rng.uniform(0.7, 1.3) + a.mean() + rng.uniform(-30, 30), 0, 255)
    ix0, iy0 = np.maximum(boxes[:, 0], x0), np.maximum(boxes[:, 1], y0)
    ix1, iy1 = np.minimum(boxes[:, 2], x1), np.minimum(boxes[:, 3], y1)
    inside = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    sel = np.stack([ix0, iy0, ix1, iy1], 1)[inside >= 0.5 * area]
    fb = (sel - [x0, y0, x0, y0]) * np.array([cw / (x1 - x0), ch / (y1 - y0)] * 2)
    if rng.random() < 0.5:
        a, fb = a[:, ::-1], np.stack([cw - fb[:, 2], fb[:, 1], cw - fb[:, 0], fb[:, 3]], 1)
    return np.repeat(a.round().astype(np.uint8)[..., None], 3, axis=2), fb


def training_scene(bg: torch.Tensor, gray: np.ndarray, boxes: np.ndarray, faces: Sequence[int],
                   rng: np.random.Generator, face_px: tuple = (40, 110)) -> tuple[np.ndarray, np.ndarray]:
    """A composite: Solvay faces ``faces`` pasted on background ``bg [3,S,S]``; (uint8 ``[S,S,3]``, boxes)."""
    from semcom.data.face_scenes import _disjoint, _paste

    size = bg.shape[-1]
    canvas = np.round(bg.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    out: list[list[float]] = []
    crops: list[list[float]] = []
    n = 0 if rng.random() < 0.15 else int(rng.integers(1, 4))
    for _ in range(n):
        side = float(rng.uniform(*face_px))
        i = faces[int(rng.integers(len(faces)))]
        crop, fbs = _face_crop(gray, boxes, i, side, rng.uniform(0.3, 0.6), rng)
        ch, cw = crop.shape[:2]
        if cw >= size or ch >= size:
            continue
        for _try in range(20):
            px, py = int(rng.integers(0, size - cw + 1)), int(rng.integers(0, size - ch + 1))
            cand = [px, py, px + cw, py + ch]
            if all(_disjoint(cand, b, pad=0) for b in crops):
                _paste(canvas, crop, px, py, feather=max(2, int(0.15 * min(cw, ch))))
                crops.append(cand)
                out += (fbs + [px, py, px, py]).tolist()
                break
    return canvas, np.asarray(out, dtype=np.float64).reshape(-1, 4)


def target(boxes: np.ndarray, size: int, sigma: float = 0.5) -> np.ndarray:
    """The per-patch target ``[size/8, size/8]``: box relevance with score 1 (module docstring)."""
    from semcom.semantics.sesc_weights import TaskRelevance

    g = size // 8
    return TaskRelevance(None, sigma).from_detections(boxes, np.ones(len(boxes)), (g, g), 8).reshape(g, g)


class SceneMaker:
    """Deterministic training and validation scenes from ``(seed, index)``."""

    def __init__(self, cfg: RelevanceTrainConfig) -> None:
        from semcom.data import TrainingCrops

        self.cfg = cfg
        self.gray, self.boxes = solvay_faces()
        self.train_faces, self.val_faces = split_faces(self.boxes)
        self.bgs = {"train": TrainingCrops(cfg.size, 1 << 30, seed=cfg.seed + 7000, max_side=512),
                    "val": TrainingCrops(cfg.size, 1 << 30, seed=cfg.seed + 9000, max_side=512)}

    def scene(self, split: str, index: int) -> tuple[torch.Tensor, np.ndarray]:
        rng = np.random.default_rng([self.cfg.seed, index, 11 if split == "train" else 13])
        faces = self.train_faces if split == "train" else self.val_faces
        img, boxes = training_scene(self.bgs[split][index], self.gray, self.boxes, faces, rng, tuple(self.cfg.face_px))
        return torch.from_numpy(img.astype(np.float32) / 255).permute(2, 0, 1), boxes

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for j in range(self.cfg.batch_size):
            x, b = self.scene("train", step * self.cfg.batch_size + j)
            xs.append(x)
            ys.append(torch.from_numpy(target(b, self.cfg.size, self.cfg.sigma)).float())
        return torch.stack(xs), torch.stack(ys)


def relevance_metric(weights: Sequence[np.ndarray], boxes: Sequence[np.ndarray], grid: int, top: float = 0.2) -> dict:
    """ROC AUC of per-patch weights against "patch centre in a face box", pooled, and the recall of
    face patches within each image's top ``top`` fraction of patches (module docstring)."""
    from sklearn.metrics import roc_auc_score

    labels = [(target(b, grid * 8, sigma=1e-9).reshape(-1) >= 1.0) for b in boxes]
    w = np.concatenate([np.asarray(x, float).reshape(-1) for x in weights])
    y = np.concatenate(labels)
    auc = float(roc_auc_score(y, w)) if 0 < y.sum() < y.size else float("nan")
    hit = tot = 0
    for wi, yi in zip(weights, labels):
        k = max(1, int(round(top * yi.size)))
        sel = np.argsort(-np.asarray(wi, float).reshape(-1), kind="stable")[:k]
        hit, tot = hit + int(yi[sel].sum()), tot + int(yi.sum())
    return {"auc": auc, f"recall_top{int(top * 100)}": hit / max(tot, 1), "face_patches": tot, "patches": int(y.size)}


def _predict(net, images: Sequence[torch.Tensor]) -> list[np.ndarray]:
    with torch.no_grad():
        return [net(x.reshape(1, *x.shape[-3:])).reshape(-1).double().numpy() for x in images]


def evaluate(net, cfg: RelevanceTrainConfig, maker: SceneMaker | None = None) -> dict:
    """The metric on the validation composites (held-out faces) and on the SE-SC test scenes."""

    out = {}
    if maker is not None:
        val = [maker.scene("val", i) for i in range(cfg.val_scenes)]
        out["val"] = relevance_metric(_predict(net, [x for x, _ in val]), [b for _, b in val], cfg.size // 8)
    out["test"] = scene_metric(net, cfg.test_composites, cfg.size)
    return out


def scene_metric(net, n_composites: int = 10, size: int = 256) -> dict:
    """The metric on :func:`semcom.data.face_scenes.face_scenes` (portraits + composites, seed 0)."""
    from semcom.data.face_scenes import face_scenes

    scenes = face_scenes(n_composites, size, 0)
    return relevance_metric(_predict(net, [s.image for s in scenes]), [s.boxes for s in scenes], size // 8)


def train(cfg: RelevanceTrainConfig, log=print) -> tuple[torch.nn.Module, dict]:
    """Train from scratch; returns the float32 network and a record (steps, minutes, losses)."""
    from semcom.models.sesc_relevance import RelevanceCNN

    torch.manual_seed(cfg.seed)
    maker = SceneMaker(cfg)
    net = RelevanceCNN()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    t0, run, curve = time.time(), 0.0, []
    for step in range(cfg.steps):
        net.train()
        x, y = maker.batch(step)
        loss = loss_fn(net.logits(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        run += float(loss.detach())
        if (step + 1) % cfg.log_every == 0:
            curve.append({"step": step + 1, "loss": run / cfg.log_every, "minutes": (time.time() - t0) / 60})
            log(json.dumps(curve[-1]))
            run = 0.0
    net.eval()
    return net, {"steps": cfg.steps, "train_minutes": (time.time() - t0) / 60, "curve": curve, "maker": maker}


def export(net, cfg: RelevanceTrainConfig, record: dict, out_dir: str | Path, command: str) -> dict:
    """Write ``<name>.pt`` (fp16 when the test AUC holds within ``fp16_tolerance_auc``) and its metadata."""
    from semcom.models.checkpoint_io import save_checkpoint
    from semcom.models.sesc_relevance import NAME, RelevanceCNN

    m32 = evaluate(net, cfg, record["maker"])
    half = {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    net16 = RelevanceCNN(net.config)
    net16.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})
    net16.eval()
    m16 = evaluate(net16, cfg, record["maker"])
    use16 = abs(m16["test"]["auc"] - m32["test"]["auc"]) <= cfg.fp16_tolerance_auc
    meta = {
        "name": cfg.name, "model": NAME, "command": command, "seed": cfg.seed, "steps": record["steps"],
        "train_minutes": round(record["train_minutes"], 2), "parameters": net.num_parameters(),
        "config": {"train": dataclasses.asdict(cfg), "model_config": dataclasses.asdict(net.config)},
        "data": {"backgrounds": "semcom.data.TrainingCrops (training wallpapers), seed + 7000",
                 "faces": "visp-images-data faces/1280px-Solvay_conference_1927.png, its face boxes; "
                          f"training faces {record['maker'].train_faces}, validation faces {record['maker'].val_faces}",
                 "test": "semcom.data.face_scenes.face_scenes (test portraits; never trained on)"},
        "metric": m16 if use16 else m32, "metric_float32": m32, "weights_dtype": "float16" if use16 else "float32",
        "curve": record["curve"],
    }
    state = half if use16 else net.state_dict()
    pt = Path(out_dir) / f"{cfg.name}.pt"
    blob = {"model": NAME, "config": {"widths": list(net.config.widths), "context": int(net.config.context)},
            "state_dict": dict(state)}
    return save_checkpoint(blob, pt, meta)


def main(argv: Sequence[str] | None = None) -> int:
    from semcom import cliargs

    ap = cliargs.ArgumentParser(prog="semcom sesc train-weights", description=__doc__.strip().split("\n\n")[0])
    ap.add_argument("--config", default=None, help="JSON of RelevanceTrainConfig fields")
    ap.add_argument("--steps", type=cliargs.typed(cliargs.parse_int, what="steps", lo=1, hi=10**7), default=None)
    ap.add_argument("--out", default="src/semcom/checkpoints")
    a = ap.parse_args(argv)
    cliargs.check_out_dir(a.out)
    from semcom.experiments.common import load_config_file

    d = load_config_file(a.config)
    if a.steps is not None:
        d["steps"] = a.steps
    cfg = from_dict(RelevanceTrainConfig, d)
    torch.set_num_threads(1)
    net, record = train(cfg)
    meta = export(net, cfg, record, a.out, "semcom sesc train-weights " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv)))
    print(json.dumps({k: meta[k] for k in ("metric", "weights_dtype", "sha256", "file_bytes")}, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
