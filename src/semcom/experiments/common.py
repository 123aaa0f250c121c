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


def add_common_arguments(p: argparse.ArgumentParser, *, default_out: str) -> None:
    p.add_argument("--out", default=default_out, help="output folder for the JSON and plots")
    p.add_argument("--config", default=None, help="JSON file with config keys (command-line flags override it)")
    p.add_argument("--seed", type=int, default=0, help="base seed of every random draw")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (0: one per core)")
    p.add_argument("--cluster", default=None, help="Dask scheduler address (tcp://host:8786) to run the sweep on")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def load_config_file(path: str | None) -> dict:
    """The JSON object of a ``--config`` file (``{}`` when no file is given).

    Raises :class:`ConfigError` when the file cannot be read, is not valid UTF-8 JSON, or holds
    something other than an object (a list, a number...). The keys and the types of the values are
    checked later, against the experiment's config dataclass (:func:`semcom.utils.from_dict`).
    """
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a JSON object of keys and values, got a {type(data).__name__}")
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
    """``"0,2,4"`` or ``"0:10:2"`` (start:stop:step, stop included) -> list of floats."""
    text = text.strip()
    if ":" in text:
        parts = [float(t) for t in text.split(":")]
        if len(parts) != 3 or parts[2] <= 0:
            raise ConfigError(f"range must be start:stop:step with step > 0, got {text!r}")
        start, stop, step = parts
        n = int(round((stop - start) / step)) + 1
        return [round(start + i * step, 10) for i in range(max(n, 0))]
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ConfigError(f"cannot parse a list of numbers from {text!r}") from None


