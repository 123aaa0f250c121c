"""Shared pieces of the SE-SC experiments (``semcom sesc ...``): the committed codec and entropy
model, the weight models by name, one SE-SC transmission with its accounting, and the task score.

One SE-SC transmission of a scene (:func:`send`): weights ``i_x`` from the chosen semantic-aware
model on the source, the mask (threshold ``mu``, or the rate policy for a channel-use budget), the
codec's ``encode`` -> analog channel (slow Rayleigh block fading, one coefficient per image, or
AWGN) -> ``decode``, then the face detector on the reconstruction. The mask code travels over the
error-free side link and is counted in the channel uses (1 bit per channel use).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semcom.errors import CheckpointError, ConfigError

CODEC = "sesc_rayleigh"
ENTROPY = "sesc_rayleigh_entropy.json"
WEIGHT_MODELS = ("task", "cnn", "entropy", "random")


@functools.lru_cache(maxsize=2)
def load_codec(name_or_path: str = CODEC):
    """The committed SE-SC codec by name, or a checkpoint file (a ``.pt`` path). Both load through
    :func:`semcom.models.load_checkpoint`, which checks the file against the SHA-256 in its metadata
    (required for committed checkpoints; a mismatch is a :class:`CheckpointError`)."""
    from semcom.models import load_checkpoint, load_pretrained

    p = Path(name_or_path)
    return load_checkpoint(p) if p.suffix == ".pt" else load_pretrained(name_or_path)


def save_figure(fig: Any, results: Any, out_dir: str | Path, name: str) -> Path:
    """Save ``fig`` as ``out_dir/<name>.png`` (``<name>_short.png`` for the short-range detector's
    run, as its JSON) and close it, through :func:`semcom.report.plots.save_figure` at 110 dpi. The
    callers lay the figure out themselves, so no ``tight_layout`` here."""
    from semcom.report import plots

    short = results.data.get("detector_range", "full") != "full"
    return plots.save_figure(fig, Path(out_dir) / f"{name}{'_short' if short else ''}.png", tight=False)


@functools.lru_cache(maxsize=2)
def load_entropy_model(codec_name: str = CODEC):
    """The entropy model fitted to the codec's embeddings, checked against the SHA-256 recorded in the
    codec's metadata (``entropy_model``)."""
    from semcom.models import checkpoint_dir
    from semcom.semantics.sesc_weights import EntropyModel

    meta = json.loads((checkpoint_dir() / f"{codec_name}.json").read_text())
    rec = meta.get("entropy_model")
    if not rec:
        raise CheckpointError(f"{codec_name} records no entropy model")
    return EntropyModel.load(checkpoint_dir() / rec["file"], rec["sha256"])


@functools.lru_cache(maxsize=1)
def load_relevance():
    """The committed relevance CNN (weight model (a), learned): ``sesc_relevance``."""
    from semcom.models.sesc_relevance import load_relevance as load

    return load()


def codec_tag(codec: str) -> str:
    """File-name tag of results from a codec other than the default ``sesc_rayleigh``
    (``"_sesc_cnn_rayleigh"``; ``""`` for the default)."""
    stem = Path(str(codec)).stem
    return "" if stem == CODEC else f"_{stem}"


DETECTOR_RANGES = ("full", "short")


@functools.lru_cache(maxsize=2)
def detector(detector_range: str = "full"):
    """The task model: MediaPipe's face detector, full-range model (the default) or short-range."""
    from semcom.metrics.detection import FaceDetector

    if detector_range not in DETECTOR_RANGES:
        raise ConfigError(f"detector_range must be one of {DETECTOR_RANGES}, got {detector_range!r}")
    return FaceDetector(full_range=detector_range == "full")


def weight_fn(name: str, codec: Any, seed: int = 0, detector_range: str = "full"):
    """The weight model ``name`` as ``f(image, patch) -> [N]``: ``task`` (a, the detector's boxes on
    the source), ``cnn`` (a, learned: the committed relevance CNN), ``entropy`` (b) or ``random``
    (uniform draws, a control). All run at the transmitter on the source image."""
    from semcom.semantics.sesc_weights import CNNRelevance, EntropyWeights, TaskRelevance

    if name == "task":
        return TaskRelevance(detector(detector_range))
    if name == "cnn":
        return CNNRelevance(load_relevance())
    if name == "entropy":
        name = (getattr(codec, "metadata", None) or {}).get("name", CODEC)
        return EntropyWeights(codec, load_entropy_model(name))  # the model fitted to this codec's features
    if name == "random":
        def rnd(image: torch.Tensor, patch: int) -> np.ndarray:
            h, w = image.shape[-2:]
            key = int(hashlib.sha1(image.numpy().tobytes()).hexdigest()[:8], 16)
            return np.random.default_rng([seed, key]).random((h // patch) * (w // patch))
        return rnd
    raise ConfigError(f"weight model must be one of {WEIGHT_MODELS}, got {name!r}")


def send(codec: Any, image: torch.Tensor, keep: np.ndarray | None, snr_db: float, seed: int,
         channel: str = "rayleigh", detector_range: str = "full") -> dict:
    """One transmission; returns the reconstruction, the detections on it and the accounting."""
    import warnings

    from semcom.models.deepjscc import SNROutOfRangeWarning

    k = None if keep is None else torch.as_tensor(np.asarray(keep, dtype=bool)).reshape(1, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SNROutOfRangeWarning)
        out = codec.transmit(image, snr_db, seed=seed, channel=channel, keep=k)
    p = out.payload
    return {"image": out.image.clamp(0, 1), "detections": detector(detector_range)(out.image.clamp(0, 1)),
            "channel_uses": out.channel_uses, "symbols": p.symbol_uses, "side_bits": out.side_bits,
            "sent": p.symbol_uses // codec.config.symbols_per_patch}


def scene_checksums(scenes: list) -> dict[str, str]:
    return {s.name: hashlib.sha256(s.image.numpy().tobytes()).hexdigest() for s in scenes}


__all__ = ["CODEC", "ENTROPY", "WEIGHT_MODELS", "load_codec", "load_entropy_model", "load_relevance", "codec_tag", "detector", "weight_fn", "send",
           "scene_checksums"]
