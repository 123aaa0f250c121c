"""Learned systems, one file per model: ``forward`` for training, ``encode``/``decode`` for what
actually crosses the channel.

Registry of the learned JSCC models (a name maps to one class; a second registration of a name
is refused): ``deepjscc`` (:class:`DeepJSCC`), ``vlscc2d`` (:class:`VLSCC2D`), ``scc``
(:class:`SCC`), ``adjscc`` (:class:`ADJSCC`, SNR-adaptive DeepJSCC), ``sesc`` (:class:`SESC`, the masked-transformer codec of SE-SC) and ``vlscc1d`` (:class:`VLSCC1D`) and ``scc1d`` (:class:`SCC1D`), the 1D coders of face-landmark vectors. :func:`build_model` builds one from a config;
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

from semcom.errors import CheckpointError, ConfigError, InputError
from semcom.models.checkpoint_io import build_and_load, load_verified, package_checkpoint_dir, require
from semcom.models.deepjscc import (
    DeepJSCC, DeepJSCCConfig, JSCCOutcome, LearnedJSCC, SNROutOfRangeWarning, SymbolPayload, jscc_channel,
)
from semcom.models.sesc import SESC, SESCConfig
from semcom.models.sesc_cnn import SESCCNN, SESCCNNConfig
from semcom.models.vlscc import SCC, SCC1D, VLSCC1D, VLSCC2D, SCC1DConfig, SCCConfig, VLSCC1DConfig, VLSCC2DConfig

MODELS: dict[str, type[LearnedJSCC]] = {}


CONFIG_FIELDS = ("channel", "snr_db", "snr_range_db")
FORWARD_KEYS = ("x_hat", "spp")


def check_model_contract(cls: Any) -> None:
    """Check a model class against what training, checkpoints and the bench need; raises
    :class:`ConfigError` naming everything that is missing (at registration, not minutes into training).

    A model subclasses :class:`LearnedJSCC`, has a ``name``, a dataclass ``Config`` with the fields
    ``channel``, ``snr_db`` and ``snr_range_db`` whose defaults build, ``input_kind`` ``"image"`` or
    ``"vector"``, and defines ``forward`` (training: returns a dict with ``x_hat`` and ``spp``),
    ``encode(x) -> list[SymbolPayload]`` and ``decode(payloads) -> x_hat``.
    """
    import dataclasses

    where = getattr(cls, "__qualname__", repr(cls))
    if not isinstance(cls, type) or not issubclass(cls, LearnedJSCC):
        raise ConfigError(f"register_model: {where} must subclass semcom.models.LearnedJSCC")
    missing = []
    if not cls.name:
        missing.append("a class attribute `name` (or register_model('name'))")
    for method in ("forward", "encode", "decode"):
        if not callable(getattr(cls, method, None)) or getattr(cls, method) is getattr(LearnedJSCC, method, None):
            missing.append(f"method {method}()")
    config = getattr(cls, "Config", None)
    if not (isinstance(config, type) and dataclasses.is_dataclass(config)):
        missing.append("a dataclass `Config`")
    else:
        names = {f.name for f in dataclasses.fields(config)}
        missing += [f"Config field {f!r}" for f in CONFIG_FIELDS if f not in names]
        if not missing:
            try:
                config()
            except Exception as exc:  # noqa: BLE001 - a user's dataclass may raise anything
                missing.append(f"Config() with defaults (it raised {type(exc).__name__}: {exc})")
    if getattr(cls, "input_kind", None) not in ("image", "vector"):
        missing.append("input_kind 'image' or 'vector'")
    if missing:
        raise ConfigError(f"model {where} does not meet the model contract; missing: {'; '.join(missing)}")


def check_forward_output(model: Any, out: Any, x: torch.Tensor) -> None:
    """The first training step's check: ``forward`` returned a dict with ``x_hat`` (the input's shape)
    and ``spp`` (``[B]``); else :class:`ConfigError` naming what is wrong."""
    name = type(model).__qualname__
    if not isinstance(out, dict):
        raise ConfigError(f"{name}.forward must return a dict with keys {list(FORWARD_KEYS)}, got {type(out).__name__}")
    missing = [k for k in FORWARD_KEYS if k not in out]
    if missing:
        raise ConfigError(f"{name}.forward returned keys {sorted(out)}; missing {missing}"
                          " (x_hat: the reconstruction, spp: complex symbols per pixel per example, rate: optional)")
    if not isinstance(out["x_hat"], torch.Tensor) or out["x_hat"].shape != x.shape:
        shape = tuple(out["x_hat"].shape) if isinstance(out["x_hat"], torch.Tensor) else type(out["x_hat"]).__name__
        raise ConfigError(f"{name}.forward: x_hat must have the input's shape {tuple(x.shape)}, got {shape}")


def register_model(cls_or_name: Any = None):
    """Register a learned model class; its contract is checked now (:func:`check_model_contract`).

    Forms: ``register_model(MyModel)``, ``@register_model`` (the class's ``name``) or
    ``@register_model("mymodel")`` (sets ``name`` when the class has none). A name registered
    twice raises :class:`ConfigError` (a plugin module is imported once, see :mod:`semcom.systems.plugins`).
    """
    def add(cls: Any, name: str | None = None) -> Any:
        if name is not None:
            if not isinstance(name, str) or not name:
                raise ConfigError(f"model name must be a non-empty string, got {name!r}")
            if getattr(cls, "name", "") and cls.name != name:
                raise ConfigError(f"{cls.__qualname__}.name is {cls.name!r}, registered as {name!r}: use one name")
            cls.name = name
        check_model_contract(cls)
        if cls.name in MODELS:
            raise ConfigError(f"model name {cls.name!r} is already registered ({MODELS[cls.name].__name__})")
        MODELS[cls.name] = cls
        return cls

    if isinstance(cls_or_name, str):
        return lambda cls: add(cls, cls_or_name)
    if cls_or_name is None:
        return add
    return add(cls_or_name)


for _cls in (DeepJSCC, VLSCC2D, SCC, VLSCC1D, SCC1D, SESC, SESCCNN):
    register_model(_cls)

from semcom.models.adjscc import ADJSCC, ADJSCCConfig  # noqa: E402 - registered after the base models

register_model(ADJSCC)


def build_model(name: str, config: dict | Any = None) -> LearnedJSCC:
    """A fresh model by registry name and config (dict or the model's config dataclass)."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name](config)


def checkpoint_dir() -> Path:
    """Folder of the committed checkpoints (inside the package)."""
    return package_checkpoint_dir()


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> LearnedJSCC:
    """Rebuild a model from a ``.pt`` checkpoint written by the training loop (weights + config).

    Loaded safely (:func:`semcom.models.checkpoint_io.load_verified`): ``weights_only=True``, the
    SHA-256 recorded in the metadata JSON next to it (same stem) checked first (required for the
    committed checkpoints; a file without one loads with an ``UncheckedCheckpointWarning``), keys
    and shapes checked against the model its config builds. The metadata is attached as
    ``model.metadata`` (``{}`` without a JSON).

    Raises:
        InputError: no file at ``path``. CheckpointError: the file or its metadata is corrupt,
            truncated, tampered with, needs code execution, or is not a JSCC model checkpoint.
    """
    path = Path(path)
    ck, meta = load_verified(path, map_location)
    require(ck, path, "semcom model checkpoint", model=str, config=dict, state_dict=dict)
    if ck["model"] not in MODELS:
        raise CheckpointError(f"{path} holds model {ck['model']!r}, which is not registered (known: "
                              f"{sorted(MODELS)}){_plugin_hint(path)}")
    model = build_and_load(path, lambda: build_model(ck["model"], ck["config"]), ck["state_dict"])
    if map_location is not None:
        model = model.to(map_location)
    model.metadata = meta
    return model


def _plugin_hint(pt: Path) -> str:
    """``: load its module with --plugin M`` from the metadata's ``model_class`` (``module:qualname``)."""
    try:
        meta = json.loads(pt.with_suffix(".json").read_text())
        cls, plugin = meta.get("model_class"), meta.get("model_plugin")
    except (OSError, ValueError, AttributeError):
        cls = plugin = None
    if isinstance(plugin, str) and plugin:
        return f": load the module that defines it with --plugin {plugin} (the model class was {cls})"
    return "; load the module that defines it with --plugin MODULE"


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
    if not isinstance(name, str) or "/" in name or "\\" in name or not path.is_file():
        raise InputError(f"no committed JSCC checkpoint {name!r}; available: {list_pretrained()}")
    return load_checkpoint(path, map_location)


__all__ = [
    "DeepJSCC", "DeepJSCCConfig", "ADJSCC", "ADJSCCConfig", "VLSCC2D", "VLSCC2DConfig", "SCC", "SCCConfig", "VLSCC1D", "VLSCC1DConfig", "SCC1D", "SCC1DConfig", "SESC", "SESCConfig", "SESCCNN", "SESCCNNConfig",
    "LearnedJSCC", "SymbolPayload", "JSCCOutcome", "SNROutOfRangeWarning", "jscc_channel",
    "MODELS", "register_model", "check_model_contract", "check_forward_output", "build_model", "load_checkpoint", "load_pretrained", "list_pretrained",
    "checkpoint_dir",
]
