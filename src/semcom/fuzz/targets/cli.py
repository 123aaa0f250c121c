"""Fuzz target: every option of every ``semcom`` verb given an invalid value.

The verbs and their options are read from each verb's ``--help`` (so a new verb or option is
fuzzed without editing this file). One case runs ``semcom.cli.main([*verb, option, value])``
in-process with stdout and stderr captured, in a scratch working directory. Only invalid values
are generated (non-numbers, NaN, infinities, huge or negative counts, reversed or unbounded
ranges, unknown names and choices, unwritable folders, missing, empty or malformed files,
unreachable cluster addresses), so a correct CLI refuses every case at once.

Verdicts: exit status non-zero with an error message and no traceback is a ``typed_error``;
status 0 is ``accepted`` (the value was taken); an exception escaping ``main`` or a traceback in
the output is a ``crash``; not returning within the time limit (work started with a bad value,
or a wait without bound) is a ``hang``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
from pathlib import Path

import numpy as np

from ..core import Target, Verdict, register, scratch_dir

NUMERIC = ["nan", "inf", "-inf", "abc", "", "1e400", "-1e9", "1/0", "-3", "0x10", "1e12", "2.5e", "--"]
GRID = ["6:0:1", "0:1e9:1e-6", "1e9", "nan", "inf", "0:1:0", "a,b", "", "0,,1", "1:2:3:4", "-1e9", "0:nan:1", "1e308,1e308"]
MCS = ["2:abc", "2:1/0", "idxZZ", "7:1/2", "2:3/2", "idx99", "", ",", "2:0", "abc"]
NAMES = ["nosuch", "", ",", "awgn,nosuch", "0,99", "-1", "jpeg,,"]
DEVICES = ["nosuchdevice", "cuda:99", "", "cpu:abc", "meta:-1"]
CLUSTERS = ["notanaddress", "tcp://[::1", "", "tcp://host:notaport", "tcp://256.0.0.1:8786", "tcp://127.0.0.1:1"]
GRID_OPTIONS = {"--snr", "--cbler"}
MCS_OPTIONS = {"--mcs"}
NAME_OPTIONS = {"--channels", "--fidelity", "--codecs", "--allocators", "--tests", "--targets", "--channel"}
PATH_OPTIONS = {"--config", "--checkpoint", "--video", "--images", "--plugin"}
OUT_OPTIONS = {"--out", "--export"}
_USAGE_OPT = re.compile(r"\[(--[a-z0-9-]+) (\{[^}]*\}|[^\[\]\s]+)")


def _verbs() -> list[tuple[str, ...]]:
    from semcom.cli import COMMANDS

    out = []
    for path, *_ in COMMANDS:
        out += [path + ("deepjscc",), path + ("seb",)] if path == ("train",) else [path]
    return out


def _run(argv: list[str]) -> tuple[int | None, str, BaseException | None]:
    from semcom.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            return main(argv), buf.getvalue(), None
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            return code, buf.getvalue(), None
        except BaseException as exc:  # noqa: BLE001 - anything escaping main is what this target counts
            return None, buf.getvalue(), exc


def options_of(verb: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(option, metavar or {choices})`` of every option of ``verb`` that takes a value."""
    _, text, _ = _run([*verb, "--help"])
    usage = " ".join(text.split("\n\n")[0].split())
    return sorted(set(_USAGE_OPT.findall(usage)))


def _files(folder: Path) -> dict[str, list[str]]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty_dir").mkdir(exist_ok=True)
    plain = folder / "plain_file"
    plain.write_bytes(b"\x00\xffnot a json, an image or a checkpoint")
    docs = {"list.json": "[1, 2]", "text.json": '"text"', "badjson.json": "{", "types.json": '{"seeds": "two"}',
            "unknown.json": '{"no_such_key_xyz": 1}', "nan.json": '{"seed": NaN}', "null.json": "null",
            "bigint.json": '{"seed": 1e400}', "nested.json": '{"link": [1]}'}
    for name, text in docs.items():
        (folder / name).write_text(text)
    missing = str(folder / "no" / "such" / "file")
    return {
        "config": [str(folder / n) for n in docs] + [missing, str(folder / "empty_dir"), str(plain)],
        "path": [missing, str(folder / "empty_dir"), str(plain), str(folder / "badjson.json")],
        "out": ["/proc/semcom-fuzz-out", str(plain / "sub"), str(plain)],
    }


def _values(option: str, meta: str, files: dict[str, list[str]]) -> list[str]:
    if meta.startswith("{"):
        return ["nosuch", "", meta.strip("{}").split(",")[0].upper() + "x"]
    table = {**{o: GRID for o in GRID_OPTIONS}, **{o: MCS for o in MCS_OPTIONS}, **{o: NAMES for o in NAME_OPTIONS},
             **{o: files["path"] for o in PATH_OPTIONS}, **{o: files["out"] for o in OUT_OPTIONS},
             "--config": files["config"], "--device": DEVICES, "--cluster": CLUSTERS}
    if option in table:
        return table[option]
    return [v for v in NUMERIC if not (option == "--max-minutes" and v == "1e12")]  # a time limit may be large


def _import_verbs() -> None:
    from semcom.cli import COMMANDS

    for _path, module, *_ in COMMANDS:
        importlib.import_module(module)


def _cli_setup():
    _import_verbs()
    os.chdir(scratch_dir())  # relative default outputs (results/...) land in the scratch folder
    files = _files(Path("inputs"))  # relative paths: the notes name no folder of this machine
    cases = [(verb, opt, _without_valid(verb, opt, _values(opt, meta, files), files))
             for verb in _verbs() for opt, meta in options_of(verb)]
    return [c for c in cases if c[2]]


#: verbs whose ``--out`` names a file (an existing plain file is a valid target, overwritten)
FILE_OUT_VERBS = {("train", "seb")}
#: values the generic tables hold that an option documents as valid (``sesc qos --baselines ''``: no baseline)
VALID_VALUES = {(("sesc", "qos"), "--baselines"): {""}}


def _without_valid(verb: tuple[str, ...], option: str, values: list[str], files: dict[str, list[str]]) -> list[str]:
    """``values`` less those that are valid for this verb (the target gives invalid values only)."""
    plain = files["out"][-1]
    if option == "--out" and verb in FILE_OUT_VERBS:
        return [v for v in values if v != plain]
    valid = VALID_VALUES.get((verb, option), set())
    return [v for v in values if v not in valid]


def _argv(state, rng: np.random.Generator) -> list[str]:
    verb, option, values = state[int(rng.integers(0, len(state)))]
    value = values[int(rng.integers(0, len(values)))]
    return [*verb, f"{option}={value}"] if value.startswith("-") else [*verb, option, value]


def _describe(state, rng: np.random.Generator) -> str:
    return "semcom " + " ".join(repr(a) if not a or " " in a else a for a in _argv(state, rng))


def _cli_case(state, rng: np.random.Generator) -> Verdict:
    shown = _describe(state, rng)
    code, text, exc = _run(_argv(state, np.random.default_rng(rng.bit_generator.seed_seq)))
    if exc is not None:
        return Verdict("crash", f"{shown}: {type(exc).__name__} escaped main: {str(exc)[:120]}")
    if "Traceback (most recent call last)" in text:
        return Verdict("crash", f"{shown}: traceback in the output")
    if code == 0:
        return Verdict("accepted", f"{shown}: exit 0")
    return Verdict("typed_error", f"{shown}: exit {code}: {text.strip().splitlines()[-1][:120] if text.strip() else ''}")


register(Target(name="cli", setup=_cli_setup, case=_cli_case, timeout_s=10.0, describe=_describe, preload=_import_verbs,
                area="semcom.cli.main: every verb's options given invalid values (in-process, output captured)"))
