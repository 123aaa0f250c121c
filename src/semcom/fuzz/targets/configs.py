"""Fuzz target: every configuration dataclass's ``from_dict`` on hostile JSON values.

The dataclasses are found by scanning the package for classes named ``*Config`` that build with
no arguments; each is loaded the way a ``--config`` file is (its ``from_dict`` classmethod, or
:func:`semcom.utils.from_dict`). Inputs: a JSON document that is not an object, an unknown key,
a known key with a value of an unmistakably wrong JSON type (judged from the field's default: a
string for a number, a number for a string or a list, a list for a bool...; a value the field's
annotation names, such as a list for ``float | list[float]``, is not wrong), or a value of the
right type but hostile (NaN, infinities, negative, huge, empty). Expected: ``ConfigError``.
``silent_wrong``: a non-object document, a wrongly typed value or a NaN accepted.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
import re

import numpy as np

from ..core import Target, Verdict, register

WRONG = {
    bool: ["yes", 2, [True], {"a": 1}, 1.5],
    int: ["two", 1.5, [1], {"a": 1}],
    float: ["two", [1.0], {"a": 1.0}],
    str: [3, 1.5, ["a"], {"a": "b"}, True],
    list: ["abc", 3, {"a": 1}, True],
    dict: ["abc", 3, [1], True],
}
HOSTILE = [math.nan, math.inf, -math.inf, -1, 0, 10**18, -(10**18), "", [], {}]


def find_configs() -> list[type]:
    """Every ``*Config`` dataclass of the package that builds with no arguments, sorted by name."""
    import semcom

    found = {}
    for info in pkgutil.walk_packages(semcom.__path__, "semcom."):
        if info.name.startswith(("semcom.fuzz", "semcom.cli")):
            continue
        try:
            mod = importlib.import_module(info.name)
        except Exception:  # noqa: BLE001 - an optional module that does not import here
            continue
        for obj in vars(mod).values():
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__name__.endswith("Config") \
                    and obj.__module__ == mod.__name__:
                try:
                    obj()
                except Exception:  # noqa: BLE001 - needs arguments: not a file-loaded config
                    continue
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[k] for k in sorted(found)]


def load(cls: type, data):
    """What ``--config`` does with a parsed JSON document."""
    from semcom.utils import from_dict

    own = getattr(cls, "from_dict", None)
    return own(data) if own is not None else from_dict(cls, data)


def _kind(value) -> type | None:
    if dataclasses.is_dataclass(value):
        return dict
    for t in (bool, int, float, str, dict):
        if isinstance(value, t):
            return t
    return list if isinstance(value, (list, tuple)) else None


_ADMITS = {bool: ("bool",), int: ("int", "float"), float: ("float",), str: ("str", "Path", "Literal"),
           list: ("list", "tuple", "Sequence"), dict: ("dict", "Mapping")}


def _heads(ann: str) -> list[str]:
    """Top-level type names of an annotation: ``"float | list[float]"`` -> ``["float", "list"]``."""
    ann = re.sub(r"<class '([\w.]+)'>", r"\1", ann)
    parts, depth, cur = [], 0, ""
    for ch in ann + "|":
        depth += ch == "["
        depth -= ch == "]"
        if ch in "|," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    heads = []
    for p in parts:
        head = p.split("[")[0].split(".")[-1]
        heads += _heads(p[p.index("[") + 1:-1]) if head in ("Optional", "Union") else [head]
    return heads


def admits(cls: type, field: str, value) -> bool:
    """Whether the field's annotation names the JSON type of ``value`` (``float | list[float]`` admits a list)."""
    heads = _heads(str(next(f.type for f in dataclasses.fields(cls) if f.name == field)))
    kind = _kind(value)
    return "Any" in heads or (kind is not None and any(h in _ADMITS[kind] for h in heads))


def _pick(seq, rng: np.random.Generator):
    return seq[int(rng.integers(0, len(seq)))]


def _config_case(state, rng: np.random.Generator) -> Verdict:
    cls = _pick(state, rng)
    defaults = dataclasses.asdict(cls())
    field = _pick(sorted(defaults), rng) if defaults else None
    kind = _kind(defaults.get(field)) if field else None
    what = rng.random()
    if what < 0.15:
        doc, bad = _pick([[], [["a", 1]], "text", 3, 2.5, True], rng), True
        note = f"document {doc!r}"
    elif what < 0.3 or kind is None:
        doc, bad, note = {"no_such_key_xyz": 1}, True, "unknown key"
    elif what < 0.8:
        value = _pick(WRONG[kind], rng)
        doc, bad, note = {field: value}, not admits(cls, field, value), f"{field} := {value!r} (default {defaults[field]!r})"
    else:
        value = _pick(HOSTILE, rng)
        doc, bad, note = {field: value}, isinstance(value, float) and math.isnan(value), f"{field} := {value!r}"
    load(cls, doc)
    return Verdict("silent_wrong" if bad else "accepted", f"{cls.__name__}: {note} accepted")


register(Target(name="configs", setup=find_configs, case=_config_case, timeout_s=20.0, preload=find_configs,
                area="every *Config dataclass: from_dict on non-object documents, unknown keys, wrong types, hostile values"))
