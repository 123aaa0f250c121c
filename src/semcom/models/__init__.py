"""Learned systems, one file per model: ``forward`` for training, ``encode``/``decode`` for what
actually crosses the channel.

Registry of the learned JSCC models (a name maps to one class; a second registration of a name
is refused): ``deepjscc`` (:class:`DeepJSCC`), ``vlscc2d`` (:class:`VLSCC2D`), ``scc``
(:class:`SCC`), ``sesc`` (:class:`SESC`, the masked-transformer codec of SE-SC) and ``vlscc1d`` (:class:`VLSCC1D`) and ``scc1d`` (:class:`SCC1D`), the 1D coders of face-landmark vectors. :func:`build_model` builds one from a config;
:func:`load_checkpoint` / :func:`load_pretrained` restore trained weights with their metadata
(committed checkpoints live in ``semcom/checkpoints/<name>.pt`` + ``<name>.json``).

Example:
    >>> from semcom.models import build_model, list_pretrained
    >>> build_model("deepjscc", {"hidden_channels": 8}).name
    'deepjscc'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from semcom.errors import ConfigError, InputError
from semcom.models.deepjscc import (
    DeepJSCC, DeepJSCCConfig, JSCCOutcome, LearnedJSCC, SNROutOfRangeWarning, SymbolPayload, jscc_channel,
)
from semcom.models.sesc import SESC, SESCConfig
from semcom.models.vlscc import SCC, SCC1D, VLSCC1D, VLSCC2D, SCC1DConfig, SCCConfig, VLSCC1DConfig, VLSCC2DConfig

MODELS: dict[str, type[LearnedJSCC]] = {}


def register_model(cls: type[LearnedJSCC]) -> type[LearnedJSCC]:
    """Add a learned model class under ``cls.name``; a name registered twice raises ConfigError."""
    if not cls.name:
        raise ConfigError(f"{cls.__name__} has no name")
    if cls.name in MODELS:
        raise ConfigError(f"model name {cls.name!r} is already registered ({MODELS[cls.name].__name__})")
    MODELS[cls.name] = cls
    return cls


for _cls in (DeepJSCC, VLSCC2D, SCC, VLSCC1D, SCC1D, SESC):
    register_model(_cls)


def build_model(name: str, config: dict | Any = None) -> LearnedJSCC:
    """A fresh model by registry name and config (dict or the model's config dataclass)."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name](config)


def checkpoint_dir() -> Path:
    """Folder of the committed checkpoints (inside the package)."""
    return Path(__file__).resolve().parent.parent / "checkpoints"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> LearnedJSCC:
    """Rebuild a model from a ``.pt`` checkpoint written by the training loop (weights + config).

    The metadata JSON next to it (same stem) is attached as ``model.metadata`` when present.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no checkpoint at {path}")
    ck = torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(ck, dict) or "model" not in ck or "state_dict" not in ck:
        raise InputError(f"{path} is not a semcom model checkpoint")
    model = build_model(ck["model"], ck["config"])
    model.load_state_dict(ck["state_dict"])
    model.eval()
    meta = path.with_suffix(".json")
    model.metadata = json.loads(meta.read_text()) if meta.is_file() else {}
    return model


def _checkpoint_model(pt: Path) -> str | None:
    """The registry name recorded in a checkpoint's metadata JSON (None when absent or unreadable)."""
    meta = pt.with_suffix(".json")
    try:
        model = json.loads(meta.read_text()).get("model")
    except (OSError, ValueError, AttributeError):
        return None
    return model if isinstance(model, str) else None


# Learned parts that are not JSCC models have their own loaders.
OTHER_LOADERS = {
    "seb_autoencoder": "semcom.models.seb.load_pretrained_seb()",
    "prt_concealer": "semcom.semantics.keypoint.load_concealer()",
}


def list_pretrained() -> list[str]:
    """Names of the committed JSCC checkpoints (those whose metadata names a registered model).

    The package also ships learned parts that are not JSCC models (the seb extractor, the prt
    concealer); they are not listed here and load through ``OTHER_LOADERS``.
    """
    d = checkpoint_dir()
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.pt") if _checkpoint_model(p) in MODELS)


def load_pretrained(name: str, map_location: str | torch.device = "cpu") -> LearnedJSCC:
    """A committed JSCC checkpoint by name (see :func:`list_pretrained`)."""
    if name in OTHER_LOADERS:
        raise InputError(f"{name!r} is not a JSCC model; load it with {OTHER_LOADERS[name]}")
    path = checkpoint_dir() / f"{name}.pt"
    if not path.is_file() or name not in list_pretrained():
        raise InputError(f"no committed JSCC checkpoint {name!r}; available: {list_pretrained()}")
    return load_checkpoint(path, map_location)


__all__ = [
    "DeepJSCC", "DeepJSCCConfig", "VLSCC2D", "VLSCC2DConfig", "SCC", "SCCConfig", "VLSCC1D", "VLSCC1DConfig", "SCC1D", "SCC1DConfig", "SESC", "SESCConfig",
    "LearnedJSCC", "SymbolPayload", "JSCCOutcome", "SNROutOfRangeWarning", "jscc_channel",
    "MODELS", "register_model", "build_model", "load_checkpoint", "load_pretrained", "list_pretrained",
    "checkpoint_dir",
]
