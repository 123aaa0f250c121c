"""Shared helpers of the checkpoint tests: a malicious checkpoint and copies of committed ones."""

import builtins
import json
import shutil
from pathlib import Path

import torch

from semcom.models.checkpoint_io import metadata_path, package_checkpoint_dir, sha256_file


class WritesMarker:
    """Unpickling this object runs ``exec`` (what an attacker's checkpoint would do): it writes a
    marker file. ``weights_only=True`` must refuse it before it runs."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.exec, (f"open({self.marker!r}, 'w').write('code ran')",))


def evil_checkpoint(path: Path, marker: Path, blob: dict | None = None, with_metadata: bool = False) -> Path:
    """Write a checkpoint ``path`` shaped like ``blob`` (default: a JSCC model checkpoint) with a
    :class:`WritesMarker` inside; with a metadata JSON carrying its correct SHA-256 when asked
    (an attacker can ship matching metadata)."""
    base = blob if blob is not None else {"model": "deepjscc", "config": {}, "state_dict": {}}
    torch.save({**base, "payload": WritesMarker(marker)}, path)
    if with_metadata:
        metadata_path(path).write_text(json.dumps({"name": path.stem, "sha256": sha256_file(path),
                                                   "file_bytes": path.stat().st_size}))
    return path


def copy_committed(stem: str, dst: Path, with_metadata: bool = True) -> Path:
    """Copy the committed ``<stem>.pt`` (and its ``.json``) into folder ``dst``; returns the .pt path."""
    src = package_checkpoint_dir() / f"{stem}.pt"
    dst.mkdir(parents=True, exist_ok=True)
    out = dst / src.name
    shutil.copyfile(src, out)
    if with_metadata:
        shutil.copyfile(src.with_suffix(".json"), out.with_suffix(".json"))
    return out
