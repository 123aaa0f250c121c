"""Helpers shared by experiment modules: image sets by name, output folders, argument parsing."""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path


from semcom.errors import ConfigError

DEFAULT_RESULTS = Path("results")


@functools.lru_cache(maxsize=8)
def load_image_set(spec: str) -> tuple:
    """Images by a spec string: ``"tiny"`` (3 bundled photos, 256x256 centre crops), ``"all"``
    (every bundled test photo, full size), ``"all-256"`` (all, 256x256 centre crops), or a folder
    path holding the user's own images. Returns a tuple of ``(name, image [1,3,H,W], sha256)``."""
    from semcom import data

    if spec == "tiny":
        imgs = data.test_images(subset="tiny")
    elif spec == "all":
        imgs = data.test_images()
    elif spec.startswith("all-"):
        try:
            size = int(spec.split("-", 1)[1])
        except ValueError:
            raise ConfigError(f"unknown image set {spec!r}") from None
        imgs = data.test_images(size=size)
    elif Path(spec).is_dir():
        folder = data.ImageFolder(spec)
        sums = folder.checksums()
        return tuple((name, folder[i].unsqueeze(0), sums[name]) for i, name in enumerate(folder.names))
    else:
        raise ConfigError(f"unknown image set {spec!r}: use 'tiny', 'all', 'all-256' or a folder path")
    return tuple((im.name, im.image, im.sha256) for im in imgs)


def add_common_arguments(p: argparse.ArgumentParser, *, default_out: str, parallel: bool = True,
                         progress: bool = True, workers_default: int = 1) -> None:
    """The options every experiment verb shares (see :func:`semcom.cliargs.add_common_arguments`)."""
    from semcom import cliargs

    cliargs.add_common_arguments(p, default_out=default_out, parallel=parallel, progress=progress,
                                 workers_default=workers_default)


def load_config_file(path: str | None) -> dict:
    """The JSON object in the ``--config`` file (``{}`` for no file). A missing, unreadable, binary
    or non-JSON file, or JSON that is not an object, is a :class:`ConfigError` naming the file."""
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: JSON syntax, not UTF-8
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigError(f"cannot read config file {path}: {reason}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a JSON object {{\"key\": value, ...}}, "
                          f"not a {type(data).__name__}")
    return data


def config_with_overrides(args: argparse.Namespace, keys: tuple[str, ...] = ("steps", "out", "seed", "threads"),
                          flags: tuple[str, ...] = ("install",)) -> dict:
    """The ``--config`` file's dict, with each command-line option in ``keys`` that was given
    (not None) and each true boolean flag in ``flags`` written over it."""
    cfg = load_config_file(getattr(args, "config", None))
    for key in keys:
        if getattr(args, key, None) is not None:
            cfg[key] = getattr(args, key)
    for flag in flags:
        if getattr(args, flag, False):
            cfg[flag] = True
    return cfg


def parse_floats(text: str) -> list[float]:
    """``"0,2,4"`` or ``"0:10:2"`` (start:stop:step, stop included) -> list of floats, checked by
    :func:`semcom.cliargs.parse_number_list` (finite, increasing, at most 200 points)."""
    from semcom import cliargs

    return cliargs.parse_number_list(text)
