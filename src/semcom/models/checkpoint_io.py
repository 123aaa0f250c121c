"""Safe reading and writing of checkpoints: every semcom loader and writer goes through here.

Threat model: a checkpoint (``<stem>.pt``) and its metadata (``<stem>.json`` beside it) are
untrusted files, a user's download as much as a committed file that may have been damaged.
Loading one must never run code, and anything corrupt, truncated, tampered with or of the wrong
shape ends in :class:`semcom.errors.CheckpointError`, never another exception.

What is checked, in order (:func:`load_verified`):

1. the metadata JSON, when present, is read with type checks (:func:`load_metadata`): a JSON
   object whose known keys have the right types (``sha256`` 64 lowercase hex digits, ``file_bytes``
   a non-negative int, ...);
2. the SHA-256 of the checkpoint's bytes equals the metadata's ``sha256`` (:func:`verify_sha256`),
   before a byte of it is unpickled. A committed checkpoint (in the package's ``checkpoints``
   folder) must have one; another file without one is loaded, with an
   :class:`UncheckedCheckpointWarning` saying that no hash was checked;
3. the bytes are unpickled with ``torch.load(..., weights_only=True)`` (:func:`safe_load`): only
   tensors, dicts, lists, tuples, str, int, float, bool and None. A file that needs anything else
   (a pickled object, which could run code) is refused;
4. the loaders check the keys and types they use (:func:`require`), build the model on the meta
   device, compare the state dict's keys and shapes with it before allocating anything, refuse
   NaN/Inf weights, then load the weights (:func:`build_and_load`, :func:`load_state`).

Precision: a checkpoint may store its floating weights in float16 (:func:`half_state`: half the
bytes; ``python -m semcom.experiments.checkpoint_metric half`` does it where the recorded metric
holds). Every loader casts them back to float32 at load (:func:`float_state`, called by
:func:`load_state`), so the models always compute in float32.

Writers (:func:`save_checkpoint`, :func:`write_metadata`) store only those plain types (checked
before writing, so a writer cannot produce a file the loaders refuse) and always write the
metadata JSON with the file's ``sha256`` and ``file_bytes``; both files are replaced atomically.

Example:
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> from semcom.models.checkpoint_io import load_verified, save_checkpoint
    >>> p = Path(tempfile.mkdtemp()) / "w.pt"
    >>> meta = save_checkpoint({"state_dict": {"w": torch.ones(2)}}, p, {"name": "w"})
    >>> blob, meta = load_verified(p)
    >>> blob["state_dict"]["w"].tolist(), len(meta["sha256"])
    ([1.0, 1.0], 64)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import torch

from semcom.errors import CheckpointError, InputError, SemcomError

__all__ = [
    "UncheckedCheckpointWarning", "package_checkpoint_dir", "is_committed", "metadata_path", "sha256_bytes",
    "sha256_file", "load_metadata", "verify_sha256", "safe_load", "load_verified", "require", "load_state",
    "build_and_load", "check_plain", "save_checkpoint", "write_metadata", "half_state", "float_state",
    "weights_dtype",
]

MAX_METADATA_BYTES = 16 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")
_PLAIN = (str, int, float, bool, type(None))
# Known metadata keys and the types they must have (others are free).
_META_TYPES: dict[str, tuple[type, ...]] = {
    "sha256": (str,), "file_bytes": (int,), "name": (str,), "model": (str,), "command": (str,),
    "git_commit": (str, type(None)), "config": (dict,), "model_config": (dict,), "metric": (dict,),
    "eval": (dict,), "data": (dict,), "seed": (int, type(None)), "steps": (int, type(None)),
    "parameters": (int,), "num_parameters": (int,), "post_training": (list,), "weights_dtype": (str,),
}
#: Storage dtypes the loaders cast back to float32 (:func:`float_state`).
_HALF = (torch.float16, torch.bfloat16)
_FP16_MAX = float(torch.finfo(torch.float16).max)


class UncheckedCheckpointWarning(UserWarning):
    """A checkpoint was loaded (safely, ``weights_only=True``) without a SHA-256 to check it against."""


def package_checkpoint_dir() -> Path:
    """The package's folder of committed checkpoints (``semcom/checkpoints``)."""
    return Path(__file__).resolve().parent.parent / "checkpoints"


def is_committed(path: str | Path) -> bool:
    """Whether ``path`` is one of the package's committed checkpoints (those must carry a SHA-256)."""
    return Path(path).resolve().parent == package_checkpoint_dir()


def metadata_path(path: str | Path) -> Path:
    """The metadata JSON of a checkpoint: same folder and stem, suffix ``.json``."""
    return Path(path).with_suffix(".json")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """Lowercase hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_metadata(path: str | Path) -> dict | None:
    """The metadata dict beside checkpoint ``path`` (None when there is no ``<stem>.json``).

    Raises:
        CheckpointError: unreadable, larger than 16 MiB, not UTF-8 JSON, not a JSON object, or a
            known key (``sha256``, ``file_bytes``, ``config``, ``metric``...) of the wrong type.
    """
    meta_p = metadata_path(path)
    if not meta_p.is_file():
        return None
    try:
        if meta_p.stat().st_size > MAX_METADATA_BYTES:
            raise CheckpointError(f"metadata {meta_p} is larger than {MAX_METADATA_BYTES} bytes")
        meta = json.loads(meta_p.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"metadata {meta_p} is not readable JSON: {type(exc).__name__}: "
                              f"{_first_line(exc)}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"metadata {meta_p} must be a JSON object, got {type(meta).__name__}")
    for key, types in _META_TYPES.items():
        v = meta.get(key)
        if key in meta and (not isinstance(v, types) or (isinstance(v, bool) and bool not in types)):
            raise CheckpointError(f"metadata {meta_p}: {key!r} must be {'/'.join(t.__name__ for t in types)}, "
                                  f"got {type(v).__name__}")
    if "sha256" in meta and not _HEX64.fullmatch(meta["sha256"]):
        raise CheckpointError(f"metadata {meta_p}: 'sha256' must be 64 lowercase hex digits")
    if meta.get("file_bytes", 0) < 0:
        raise CheckpointError(f"metadata {meta_p}: 'file_bytes' must be >= 0")
    return meta


def verify_sha256(path: str | Path, meta: dict | None, *, data: bytes | None = None,
                  required: bool = False) -> bool:
    """Check the checkpoint's bytes (``data``, else read from ``path``) against ``meta["sha256"]``
    (and ``meta["file_bytes"]`` when present).

    Returns True when a hash was checked, False when ``meta`` has none and ``required`` is False.

    Raises:
        CheckpointError: a mismatch (naming the file and both hashes), or no hash while ``required``.
    """
    path = Path(path)
    if not meta or "sha256" not in meta:
        if required:
            raise CheckpointError(f"{path}: its metadata {metadata_path(path).name} has no 'sha256'; "
                                  "a committed checkpoint must carry one")
        return False
    if data is None:
        data = _read(path)
    if "file_bytes" in meta and meta["file_bytes"] != len(data):
        raise CheckpointError(f"{path} has {len(data)} bytes, its metadata says {meta['file_bytes']} "
                              f"(truncated or replaced?)")
    got = sha256_bytes(data)
    if got != meta["sha256"]:
        raise CheckpointError(f"{path}: SHA-256 mismatch (corrupt or tampered with): the file hashes to {got}, "
                              f"its metadata {metadata_path(path).name} records {meta['sha256']}")
    return True


def safe_load(path: str | Path, map_location: str | torch.device = "cpu", *, data: bytes | None = None) -> dict:
    """Unpickle a checkpoint with ``torch.load(..., weights_only=True)``; it must hold a dict.

    ``data``: the file's bytes when already read (e.g. for the hash), else ``path`` is read.

    Raises:
        CheckpointError: the file needs code execution (a pickled object: refused, never run), is
            corrupt or truncated, or does not hold a dict.
    """
    path = Path(path)
    try:
        blob = torch.load(io.BytesIO(data if data is not None else _read(path)), map_location=map_location,
                          weights_only=True)
    except CheckpointError:
        raise
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" in str(exc):
            what = re.search(r"Unsupported global: GLOBAL (\S+)|Unsupported operand \S+", str(exc))
            detail = f" ({what.group(1) or what.group(0)})" if what else ""
            raise CheckpointError(f"{path} was refused: it holds a pickled object{detail}, which could run code; "
                                  "a checkpoint may hold only tensors and plain values (weights_only=True)") from None
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or truncated): {_first_line(exc)}") from None
    except Exception as exc:  # any failure of the unpickler on an untrusted file
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or truncated): "
                              f"{type(exc).__name__}: {_first_line(exc)}") from None
    if not isinstance(blob, dict):
        raise CheckpointError(f"{path} holds a {type(blob).__name__}, not a checkpoint dict")
    return blob


def load_verified(path: str | Path, map_location: str | torch.device = "cpu", *,
                  require_hash: bool | None = None) -> tuple[dict, dict]:
    """``(checkpoint dict, metadata dict)``: metadata read and type-checked, SHA-256 checked, then
    :func:`safe_load` (the metadata is ``{}`` when there is no JSON).

    ``require_hash``: refuse a file without a ``sha256`` in its metadata (default: only for the
    package's committed checkpoints; others then load with an :class:`UncheckedCheckpointWarning`).

    Raises:
        InputError: no file at ``path``. CheckpointError: anything wrong with the file or its metadata.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no checkpoint at {path}")
    meta = load_metadata(path)
    data = _read(path)
    checked = verify_sha256(path, meta, data=data, required=is_committed(path) if require_hash is None else require_hash)
    blob = safe_load(path, map_location, data=data)
    if not checked:
        warnings.warn(f"{path}: no metadata JSON with a 'sha256' beside it, so its integrity was not checked "
                      "(it was loaded safely, weights_only=True)", UncheckedCheckpointWarning, stacklevel=2)
    return blob, meta or {}


def require(blob: dict, path: str | Path, what: str, **types: type | tuple[type, ...]) -> None:
    """Check that ``blob`` has each key with the given type(s); ``what`` names the expected kind.

    Raises:
        CheckpointError: ``{path} is not a {what}: ...``.
    """
    for key, t in types.items():
        allowed = t if isinstance(t, tuple) else (t,)
        if key not in blob:
            raise CheckpointError(f"{path} is not a {what}: it has no {key!r}")
        v = blob[key]
        if not isinstance(v, allowed) or (type(v) is bool and bool not in allowed):
            raise CheckpointError(f"{path} is not a {what}: {key!r} is a {type(v).__name__}")


def _check_state(path: Path, state_dict: Any, expected: dict[str, torch.Tensor]) -> None:
    """Keys and shapes of ``state_dict`` equal ``expected``'s; every floating value is finite."""
    if not isinstance(state_dict, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                   for k, v in state_dict.items()):
        raise CheckpointError(f"{path}: the state dict must map names to tensors")
    missing, unexpected = sorted(set(expected) - set(state_dict)), sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: the state dict does not fit the model: missing {missing[:4]}"
                              f"{'...' if len(missing) > 4 else ''}, unexpected {unexpected[:4]}"
                              f"{'...' if len(unexpected) > 4 else ''}")
    for k, v in expected.items():
        if tuple(state_dict[k].shape) != tuple(v.shape):
            raise CheckpointError(f"{path}: {k} has shape {tuple(state_dict[k].shape)}, the model expects "
                                  f"{tuple(v.shape)}")
    for k, v in state_dict.items():
        if (v.is_floating_point() or v.is_complex()) and not bool(torch.isfinite(v).all()):
            raise CheckpointError(f"{path}: {k} holds NaN or Inf")


def half_state(state_dict: dict, where: str = "checkpoint") -> dict:
    """``state_dict`` for storage in half precision: every float32/float64 tensor cast to float16
    (rounded to nearest; integer, bool and complex tensors unchanged). The loaders cast back with
    :func:`float_state`. Whether a model's metric survives the rounding is measured, not assumed
    (:mod:`semcom.experiments.checkpoint_metric`).

    Raises:
        CheckpointError: a finite weight beyond float16's range (|w| > 65504) would become Inf.
    """
    out = {}
    for k, v in state_dict.items():
        if isinstance(v, torch.Tensor) and v.is_floating_point() and v.dtype not in _HALF:
            if v.numel() and float(v.detach().abs().max()) > _FP16_MAX:
                raise CheckpointError(f"{where}: {k} holds values beyond float16's range (|w| > {_FP16_MAX:g}); "
                                      "keep it in float32")
            v = v.detach().to(torch.float16)
        out[k] = v
    return out


def float_state(state_dict: dict) -> dict:
    """The loaders' cast: float16/bfloat16 tensors of ``state_dict`` back to float32 (exact: every
    half-precision value is a float32 value); other tensors and values unchanged."""
    return {k: v.float() if isinstance(v, torch.Tensor) and v.dtype in _HALF else v for k, v in state_dict.items()}


def weights_dtype(state_dict: dict) -> str | None:
    """The storage dtype of the floating tensors of ``state_dict`` (``"float16"``, ``"float32"``...;
    ``"mixed"`` when they differ, None when there are none)."""
    kinds = {str(v.dtype).removeprefix("torch.") for v in state_dict.values()
             if isinstance(v, torch.Tensor) and v.is_floating_point()}
    return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else None)


def load_state(path: str | Path, model: torch.nn.Module, state_dict: Any) -> torch.nn.Module:
    """Load ``state_dict`` into ``model`` after checking keys, shapes and finiteness; half-precision
    weights are cast to float32 first (:func:`float_state`). Returns ``model``.

    Raises:
        CheckpointError: wrong keys or shapes, NaN/Inf, or values ``load_state_dict`` refuses.
    """
    path = Path(path)
    _check_state(path, state_dict, model.state_dict())
    try:
        model.load_state_dict(float_state(state_dict))
    except Exception as exc:  # e.g. a dtype the parameter cannot take
        raise CheckpointError(f"{path}: its weights do not load: {type(exc).__name__}: {_first_line(exc)}") from exc
    return model


def build_and_load(path: str | Path, factory: Callable[[], torch.nn.Module], state_dict: Any) -> torch.nn.Module:
    """Build a model with ``factory()`` from a checkpoint's config and load its weights; eval mode.

    The model is first built on the meta device (no memory) and the state dict's keys and shapes
    compared with it, so a config that asks for a huge model is refused before any allocation
    (a constructor that cannot run on the meta device is just built for real).

    Raises:
        CheckpointError: the recorded config is invalid for the model, or the weights do not fit.
    """
    path = Path(path)
    try:
        with torch.device("meta"):
            shell = factory()
    except (SemcomError, TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: the model config it records is invalid: {_first_line(exc)}") from exc
    except Exception:  # this constructor needs real tensors; check after building
        shell = None
    if shell is not None:
        _check_state(path, state_dict, shell.state_dict())
    try:
        model = factory()
    except Exception as exc:  # a config the constructor refuses
        raise CheckpointError(f"{path}: the model config it records is invalid: {type(exc).__name__}: "
                              f"{_first_line(exc)}") from exc
    load_state(path, model, state_dict)
    return model.eval()


def check_plain(obj: Any, where: str = "checkpoint") -> None:
    """Raise CheckpointError unless ``obj`` holds only what ``weights_only=True`` loads back: tensors,
    dicts (str/int keys), lists, tuples, str, int, float, bool, None (exact types: no subclasses
    such as ``torch.__version__``'s TorchVersion)."""
    if isinstance(obj, torch.Tensor) or type(obj) in _PLAIN:
        return
    if type(obj) in (dict, OrderedDict):
        for k, v in obj.items():
            if type(k) not in (str, int):
                raise CheckpointError(f"cannot save {where}: key {k!r} is a {type(k).__name__}")
            check_plain(v, f"{where}/{k}")
        return
    if type(obj) in (list, tuple):
        for i, v in enumerate(obj):
            check_plain(v, f"{where}/{i}")
        return
    raise CheckpointError(f"cannot save {where}: a {type(obj).__module__}.{type(obj).__qualname__}; checkpoints "
                          "hold only tensors, dicts, lists, tuples, str, int, float, bool and None")


def save_checkpoint(blob: dict, path: str | Path, metadata: dict | None = None) -> dict:
    """``torch.save`` a checkpoint dict of plain values (:func:`check_plain`) and write its metadata
    JSON (``metadata`` + ``sha256`` + ``file_bytes``); both files are replaced atomically.
    Returns the metadata written."""
    path = Path(path)
    check_plain(blob)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(blob, tmp)
    os.replace(tmp, path)
    return write_metadata(path, metadata or {})


def write_metadata(path: str | Path, metadata: dict) -> dict:
    """Write ``<stem>.json`` beside checkpoint ``path``: ``metadata`` with ``sha256`` and ``file_bytes``
    recomputed from the file (atomically replaced). Returns the dict written."""
    path = Path(path)
    meta = {**metadata, "file_bytes": path.stat().st_size, "sha256": sha256_file(path)}
    out = metadata_path(path)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp, out)
    return meta


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path} cannot be read: {exc.strerror or exc}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
