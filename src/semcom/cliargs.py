"""Validated command-line arguments, shared by every ``semcom`` verb.

Every option is parsed and checked here before any work starts, so a bad value ends in one line
``semcom: error: ...`` (exit code 2) within a second, never in a traceback, an overflow or a run
that fills the memory. The rules:

* Numbers are finite and inside a physical range (``SNR_DB_RANGE``, ``MAX_CBR``, ``MAX_WORKERS``...).
* Lists ``"0,2,4"`` and ranges ``"A:B:STEP"`` (``B`` included) are strictly increasing, with
  ``STEP > 0`` and at most ``MAX_POINTS`` points; a range's size is checked before it is built.
* Negative values and ranges parse without ``=``: ``--snr -2:6:1`` (see :class:`ArgumentParser`).
* ``--out`` is created and a probe file written before the run (:func:`check_out_dir`);
  ``--cluster`` is parsed and its scheduler port connected to within ``CLUSTER_TIMEOUT_S``
  (:func:`check_cluster`); ``--workers`` and ``--cluster`` exclude each other.
* ``--quick`` only fills what the user left unset (:func:`fill_defaults`), and a flag that cannot
  apply to the chosen mode is an error (:func:`check_applies`), never silently ignored.

The API, for every verb (and any new one):

* :class:`ArgumentParser` -- argparse with negative values and errors raised as one-line :class:`UsageError`.
* ``parse_*(text) -> value`` -- :func:`parse_int`, :func:`parse_float`, :func:`parse_number_list`,
  :func:`parse_snr`, :func:`parse_snr_list`, :func:`parse_cbr`, :func:`parse_seed`,
  :func:`parse_workers`, :func:`parse_mcs`, :func:`parse_mcs_list`, :func:`parse_choice_list`,
  :func:`parse_image_set`, :func:`parse_existing_file`, :func:`parse_cluster_address`. They raise
  :class:`UsageError` (an ``InputError``) and work outside argparse too (a system spec, a test);
  :func:`typed` adapts one (with its keyword arguments) to argparse's ``type=``.
* ``check_*`` -- before the run: :func:`check_out_dir`, :func:`check_out_file`,
  :func:`check_cluster`, :func:`check_device`, :func:`check_applies`, :func:`check_exclusive`,
  and for values read from a ``--config`` file :func:`check_snr_values`, :func:`check_cbr_value`.
* :func:`add_common_arguments` / :func:`check_common` -- ``--out``, ``--config``, ``--seed``,
  ``--workers``, ``--cluster``, ``--no-progress`` and their checks; :func:`fill_defaults` for
  ``--quick``; :func:`given` and :func:`split_names` to merge options into a config dict.

Example::

    >>> p = ArgumentParser(prog="semcom demo")
    >>> _ = p.add_argument("--snr", type=typed(parse_snr_list))
    >>> p.parse_args(["--snr", "-2:2:2"]).snr
    [-2.0, 0.0, 2.0]
    >>> p.parse_args(["--snr", "6:0:1"])
    Traceback (most recent call last):
    ...
    semcom.cliargs.UsageError: demo: argument --snr: range 6:0:1 goes down: use A:B:STEP with A <= B (see 'semcom demo --help')
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import re
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

from semcom.errors import InputError

__all__ = [
    "CLUSTER_TIMEOUT_S",
    "DASK_PORT",
    "MAX_CBR",
    "MAX_POINTS",
    "MAX_SEED",
    "MAX_WORKERS",
    "SNR_DB_RANGE",
    "ArgumentParser",
    "UsageError",
    "add_common_arguments",
    "guarded",
    "check_applies",
    "check_cbr_value",
    "check_cluster",
    "check_device",
    "check_common",
    "check_exclusive",
    "check_out_dir",
    "check_out_file",
    "check_snr_values",
    "fill_defaults",
    "given",
    "parse_cbr",
    "parse_choice_list",
    "parse_cluster_address",
    "parse_existing_file",
    "parse_float",
    "parse_image_folder",
    "parse_image_set",
    "parse_int",
    "parse_mcs",
    "parse_mcs_list",
    "parse_number_list",
    "parse_seed",
    "parse_snr",
    "parse_snr_list",
    "parse_workers",
    "split_names",
    "typed",
]

#: Most points a list or range option may hold (a sweep point costs seconds to minutes each).
MAX_POINTS = 200
#: SNRs (Es/N0, dB) a sweep may ask for: below -50 dB nothing is decodable, above 100 dB nothing is noisy.
SNR_DB_RANGE = (-50.0, 100.0)
#: Largest channel bandwidth ratio (complex channel uses per real source value). Uncoded analog
#: transmission needs 1/2; twice that is already far beyond any operating point of interest, and
#: bounds a bit-true transmission of a 24-Mpixel image to about 72 M channel uses.
MAX_CBR = 1.0
#: Most local worker processes (``--workers``); 0 means one per CPU core.
MAX_WORKERS = 256
#: Seeds lie in [0, MAX_SEED] so that every generator (torch, numpy) takes them, offsets included.
MAX_SEED = 2**31 - 1
#: Seconds ``--cluster`` may take to answer before the command gives up.
CLUSTER_TIMEOUT_S = 10.0
#: Dask's scheduler port, used when ``--cluster`` names none.
DASK_PORT = 8786

class UsageError(InputError):
    """A command-line option is malformed, out of range, or cannot apply to the chosen mode."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with two changes: values that start like negative numbers or ranges (``-2``,
    ``-1e-3``, ``-2:6:1``, ``-2,0,2``, ``-inf``) are option values, not options; and a parse error
    raises :class:`UsageError` (one line, naming the verb) instead of printing the usage and exiting.
    Sub-parsers made by ``add_subparsers`` are of this class too."""

    _NEGATIVE_VALUE = re.compile(r"^-(\.?\d|inf|nan)[\w.+\-:,/]*$", re.IGNORECASE)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # argparse's own matcher only knows -N and -N.N; this one also accepts ranges and lists.
        self._negative_number_matcher = self._NEGATIVE_VALUE

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        # argparse drops a value of "--" (``--workers=--``) and hands the option an empty list
        if "--" in arg_strings and action.option_strings and action.nargs in (None, "?"):
            self.error(f"argument {'/'.join(action.option_strings)}: '--' is not a value")
        return super()._get_values(action, arg_strings)

    def error(self, message: str):  # type: ignore[override]
        verb = self.prog[len("semcom "):] if self.prog.startswith("semcom ") else ""
        where = f"{verb}: " if verb else ""
        raise UsageError(f"{where}{message} (see '{self.prog} --help')")


def typed(parse: Callable[..., Any], **kwargs: Any) -> Callable[[str], Any]:
    """``parse`` (a ``parse_*`` function, with ``kwargs``) as an argparse ``type=``: its
    :class:`UsageError` becomes argparse's message ``argument --x: <reason>``."""

    def convert(text: str) -> Any:
        try:
            return parse(text, **kwargs)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(parse, "__name__", "value").replace("parse_", "")
    return convert


# ----------------------------------------------------------------------------------- numbers
def _float(text: str, what: str) -> float:
    s = str(text).strip()
    try:
        value = float(s)
    except (TypeError, ValueError):
        raise UsageError(f"{what} {s!r} is not a number") from None
    if not math.isfinite(value):
        raise UsageError(f"{what} must be finite, got {s!r}")
    return value


def _in_range(value: float, what: str, lo: float | None, hi: float | None, unit: str = "",
              lo_open: bool = False) -> None:
    def fmt(x: float) -> str:
        return str(x) if isinstance(x, int) else f"{x:g}"

    low_bad = lo is not None and (value <= lo if lo_open else value < lo)
    if low_bad or (hi is not None and value > hi):
        lo_s = "-inf" if lo is None else fmt(lo)
        hi_s = "inf" if hi is None else fmt(hi)
        raise UsageError(f"{what} {fmt(value)}{unit} is outside {'(' if lo_open else '['}{lo_s}, {hi_s}]")


def parse_int(text: str, *, what: str = "value", lo: int | None = None, hi: int | None = None) -> int:
    """An integer in ``[lo, hi]`` (``"12"``; ``"1e3"`` and ``"2.5"`` are refused)."""
    s = str(text).strip()
    if not re.fullmatch(r"[+-]?\d{1,19}", s):
        raise UsageError(f"{what} must be an integer, got {s!r}")
    value = int(s)
    _in_range(value, what, lo, hi)
    return value


def parse_float(text: str, *, what: str = "value", lo: float | None = None, hi: float | None = None,
                lo_open: bool = False, unit: str = "") -> float:
    """A finite float in ``[lo, hi]`` (``(lo, hi]`` when ``lo_open``)."""
    value = _float(text, what)
    _in_range(value, what, lo, hi, unit, lo_open)
    return value


def parse_number_list(text: str, *, what: str = "value", lo: float | None = None, hi: float | None = None,
                      max_points: int = MAX_POINTS, integer: bool = False, unit: str = "") -> list:
    """``"0,2,4"`` or ``"A:B:STEP"`` (``B`` included, ``STEP > 0``, ``A <= B``) as a strictly
    increasing list of at most ``max_points`` finite values in ``[lo, hi]``; ints when ``integer``.
    A range's size is computed before the list is built, so ``0:1e9:1e-6`` costs nothing."""
    s = str(text).strip()
    if not s:
        raise UsageError(f"{what} list is empty")
    values = _range_values(s, what, max_points) if ":" in s else _list_values(s, what, max_points)
    for v in values:
        _in_range(v, what, lo, hi, unit)
    if any(b <= a for a, b in pairwise(values)):
        raise UsageError(f"{what} values {s!r} must be strictly increasing (no repeats)")
    if integer:
        if any(v != int(v) for v in values):
            raise UsageError(f"{what} values must be integers, got {s!r}")
        return [int(v) for v in values]
    return values


def _range_values(s: str, what: str, max_points: int) -> list[float]:
    parts = s.split(":")
    if len(parts) != 3:
        raise UsageError(f"{what} range {s!r} must be A:B:STEP (three numbers)")
    start, stop, step = (_float(p, f"{what} range {s!r}:") for p in parts)
    if step <= 0:
        raise UsageError(f"{what} range {s}: STEP must be > 0")
    if stop < start:
        raise UsageError(f"range {s} goes down: use A:B:STEP with A <= B")
    ratio = (stop - start) / step
    if not math.isfinite(ratio) or ratio + 1 > max_points:
        raise UsageError(f"{what} range {s} has {'too many' if not math.isfinite(ratio) else int(ratio + 1e-9) + 1} "
                         f"points; at most {max_points}")
    n = math.floor(ratio + 1e-9) + 1
    return [round(start + i * step, 10) for i in range(n)]


def _list_values(s: str, what: str, max_points: int) -> list[float]:
    if s.count(",") + 1 > max_points:
        raise UsageError(f"{what} list has {s.count(',') + 1} values; at most {max_points}")
    items = [t.strip() for t in s.split(",")]
    if any(not t for t in items):
        raise UsageError(f"{what} list {s!r} has an empty item")
    return [_float(t, what) for t in items]


def parse_snr(text: str) -> float:
    """One SNR in dB (Es/N0), finite and inside ``SNR_DB_RANGE``."""
    return parse_float(text, what="SNR", lo=SNR_DB_RANGE[0], hi=SNR_DB_RANGE[1], unit=" dB")


def parse_snr_list(text: str) -> list[float]:
    """SNRs in dB: ``"0,5,10"`` or ``"-2:6:1"``, each inside ``SNR_DB_RANGE``, increasing, at most ``MAX_POINTS``."""
    return parse_number_list(text, what="SNR", lo=SNR_DB_RANGE[0], hi=SNR_DB_RANGE[1], unit=" dB")


def parse_cbr(text: str) -> float:
    """A channel bandwidth ratio (complex channel uses per real source value) in ``(0, MAX_CBR]``."""
    return parse_float(text, what="CBR", lo=0.0, hi=MAX_CBR, lo_open=True)


def parse_seed(text: str) -> int:
    """A base seed in ``[0, MAX_SEED]``."""
    return parse_int(text, what="seed", lo=0, hi=MAX_SEED)


def parse_workers(text: str) -> int:
    """Local worker processes: 1 runs in this process, 0 one per CPU core, at most ``MAX_WORKERS``."""
    return parse_int(text, what="workers", lo=0, hi=MAX_WORKERS)


# ------------------------------------------------------------------------------------- names
def parse_mcs(spec: Any):
    """An MCS (:class:`semcom.link.MCS`) from ``"Qm:R"`` (``R`` a decimal or a fraction ``a/b``,
    e.g. ``"2:1/2"``, ``"4:0.667"``), ``"idxN"`` or an int ``N`` (38.214 Table 5.1.3.1-1 index)."""
    from semcom.errors import LinkError
    from semcom.link import MCS

    s = str(spec).strip()
    try:
        if isinstance(spec, int) and not isinstance(spec, bool):
            return MCS.from_table(spec)
        if s.lower().startswith("idx"):
            return MCS.from_table(parse_int(s[3:], what=f"MCS {s!r}: index"))
        if s.count(":") == 1:
            q, r = s.split(":")
            return MCS.from_rate(parse_int(q, what=f"MCS {s!r}: modulation order"), _rate(r, s))
    except LinkError as exc:
        raise UsageError(f"MCS {s!r}: {exc}") from None
    raise UsageError(f"MCS {s!r} must be 'Qm:rate' (e.g. 2:1/2, 4:0.667) or 'idxN' (38.214 table 1)")


def _rate(text: str, spec: str) -> float:
    if "/" not in text:
        return _float(text, f"MCS {spec!r}: code rate")
    a, _, b = text.partition("/")
    num, den = _float(a, f"MCS {spec!r}: code rate numerator"), _float(b, f"MCS {spec!r}: code rate denominator")
    if den == 0:
        raise UsageError(f"MCS {spec!r}: code rate {text} divides by zero")
    return num / den


def parse_mcs_list(text: str) -> list[str]:
    """Comma-separated MCS specs (see :func:`parse_mcs`), each checked; returns the spec strings."""
    specs = [t.strip() for t in str(text).split(",")]
    if not text.strip() or any(not t for t in specs) or len(specs) > MAX_POINTS:
        raise UsageError(f"MCS list {text!r} must hold 1 to {MAX_POINTS} comma-separated specs")
    for t in specs:
        parse_mcs(t)
    return specs


def parse_choice_list(text: str, *, choices: Iterable[str], what: str = "value") -> list[str]:
    """Comma-separated names, each one of ``choices``, without repeats."""
    known = list(choices)
    items = [t.strip() for t in str(text).split(",")]
    if not str(text).strip() or any(not t for t in items):
        raise UsageError(f"{what} list {text!r} has an empty item")
    bad = [t for t in items if t not in known]
    if bad:
        raise UsageError(f"unknown {what} {', '.join(map(repr, bad))}; choose from {', '.join(known)}")
    if len(set(items)) != len(items):
        raise UsageError(f"{what} list {text!r} repeats a name")
    return items


def parse_image_set(text: str) -> str:
    """An image-set spec: ``"tiny"``, ``"all"``, ``"all-N"`` (N-pixel centre crops, 16 <= N <= 4096)
    or an existing folder of the user's images."""
    s = str(text).strip()
    if s in ("tiny", "all"):
        return s
    if s.startswith("all-"):
        parse_int(s[4:], what=f"image set {s!r}: crop size", lo=16, hi=4096)
        return s
    if Path(s).is_dir():
        return parse_image_folder(s)
    raise UsageError(f"image set {s!r} is neither 'tiny', 'all', 'all-N' nor an existing folder")


#: file name endings :func:`parse_image_folder` counts as images
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif", ".heic", ".heif",
                  ".avif", ".jp2", ".j2k")


def parse_image_folder(text: str) -> str:
    """An existing folder that holds at least one image file (searched recursively, stopping at the
    first one found), so that an empty or mistyped folder fails now rather than after set-up."""
    s = str(text).strip()
    if not Path(s).is_dir():
        raise UsageError(f"{s!r} is not a folder")
    for _root, _dirs, files in os.walk(s):
        if any(f.lower().endswith(IMAGE_SUFFIXES) for f in files):
            return s
    raise UsageError(f"folder {s!r} holds no image files ({', '.join(IMAGE_SUFFIXES[:6])}, ...)")


def parse_existing_file(text: str, *, what: str = "file") -> str:
    """The path of an existing, readable regular file."""
    p = Path(str(text))
    if not p.is_file():
        raise UsageError(f"{what} {str(text)!r} does not exist or is not a regular file")
    if not os.access(p, os.R_OK):
        raise UsageError(f"{what} {str(text)!r} is not readable")
    return str(text)


_ADDRESS = re.compile(r"^(?:(tcp|tls)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+)(?::([0-9]{1,5}))?/?$")


def parse_cluster_address(text: str) -> str:
    """A Dask scheduler address ``[tcp://|tls://]host[:port]`` (port ``DASK_PORT`` when omitted),
    normalised to ``scheme://host:port``. Only the syntax is checked; :func:`check_cluster` connects."""
    s = str(text).strip()
    m = _ADDRESS.match(s)
    if not m:
        raise UsageError(f"cluster address {s[:80]!r} must look like tcp://host:8786")
    scheme, host, port = m.group(1) or "tcp", m.group(2), int(m.group(3) or DASK_PORT)
    if len(host) > 253 or any(len(label) > 63 for label in host.split(".")):
        raise UsageError(f"cluster address {s[:80]!r}: the host name is too long")
    if not 1 <= port <= 65535:
        raise UsageError(f"cluster address {s!r}: port {port} is outside [1, 65535]")
    return f"{scheme}://{host}:{port}"


# ----------------------------------------------------------------------- checks before a run
def check_out_dir(path: str | Path, *, what: str = "--out") -> Path:
    """Create the output folder and write (then remove) a probe file in it, so that an unwritable
    ``--out`` fails before the run, not after it. Returns the folder."""
    p = Path(path)
    probe = p / f".semcom-write-probe-{os.getpid()}"
    try:
        p.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"{what} {str(path)!r} is not a writable folder: {exc.strerror or exc}") from None
    return p


def check_out_file(path: str | Path, *, what: str = "--out") -> Path:
    """An output file: its folder is writable (:func:`check_out_dir`) and the path is not a folder."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{what} {str(path)!r} is a folder; give a file path")
    check_out_dir(p.parent, what=what)
    return p


def check_cluster(address: str, *, timeout: float = CLUSTER_TIMEOUT_S) -> None:
    """Refuse a ``--cluster`` that cannot work: ``distributed`` must be installed and the scheduler's
    port must accept a TCP connection within ``timeout`` seconds (name resolution included)."""
    if importlib.util.find_spec("distributed") is None:
        raise UsageError("--cluster needs the 'distributed' package (pip install 'dask[distributed]')")
    addr = parse_cluster_address(address)
    host, port = addr.split("://", 1)[1].rsplit(":", 1)
    outcome: list = []

    def attempt() -> None:
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
            outcome.append(None)
        except (OSError, ValueError) as exc:  # ValueError (UnicodeError): a name the resolver refuses
            outcome.append(exc)

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(timeout)
    if not outcome:
        raise UsageError(f"--cluster {address}: no answer from the Dask scheduler within {timeout:g} s")
    if outcome[0] is not None:
        exc = outcome[0]
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise UsageError(f"--cluster {address}: cannot reach the Dask scheduler ({reason})")


def check_device(name: str) -> str:
    """A torch device this machine has (``cpu``, ``cuda``, ``cuda:1``, ``mps``...); checked by
    placing an empty tensor on it. Returns ``name``."""
    import torch

    try:
        torch.empty(0, device=torch.device(name))
    except (RuntimeError, AssertionError, ValueError, TypeError) as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise UsageError(f"--device {name!r} is not usable here: {reason}") from None
    return name


def check_applies(flag: str, given: bool, applies: bool, why: str) -> None:
    """A flag the user gave that cannot apply to the chosen mode is an error, never ignored:
    ``check_applies("--cbler", args.cbler is not None, "erasure" in fidelities, "only the erasure link has a fixed CBLER")``."""
    if given and not applies:
        raise UsageError(f"{flag} cannot apply here: {why}")


def check_exclusive(*flags: tuple[str, bool]) -> None:
    """At most one of ``(flag, given)`` pairs may be given."""
    given = [f for f, g in flags if g]
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)} exclude each other; give one")


def fill_defaults(user: dict, defaults: dict) -> dict:
    """``user`` completed by ``defaults`` for the keys it lacks: what ``--quick`` (or any mode)
    does, so that it never overrides a value the user gave (on the command line or in ``--config``)."""
    return {**defaults, **user}


# ------------------------------------------------------------------------------ common options
def add_common_arguments(p: argparse.ArgumentParser, *, default_out: str | None, parallel: bool = True,
                         progress: bool = True, workers_default: int = 1) -> None:
    """``--out``, ``--config``, ``--seed``; ``--workers`` and ``--cluster`` when the verb runs a
    sweep on the executor (``parallel``); ``--no-progress`` when it shows progress bars. Every
    default is None so that a verb can tell what the user gave; :func:`check_common` fills them."""
    p.add_argument("--out", default=default_out, help="output folder for the JSON and plots"
                   + (f" (default {default_out})" if default_out else ""))
    p.add_argument("--config", default=None, help="JSON file with config keys (command-line flags override it)")
    p.add_argument("--seed", type=typed(parse_seed), default=None,
                   help=f"base seed of every random draw, 0..{MAX_SEED} (default: the config's, else 0)")
    if parallel:
        p.add_argument("--workers", type=typed(parse_workers), default=None,
                       help=f"local worker processes, 0: one per core (default {workers_default})")
        p.add_argument("--cluster", type=typed(parse_cluster_address), default=None,
                       help="Dask scheduler address (tcp://host:8786) to run the sweep on")
    if progress:
        p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def add_bg1_repetition_argument(p: argparse.ArgumentParser) -> None:
    """``--bg1-repetition``: the link key ``bg1_repetition`` (:mod:`semcom.link.layout`), read by
    :func:`link_options_given`."""
    p.add_argument("--bg1-repetition", action="store_true", default=None,
                   help="send MCS 4 (R = 308/1024) TBs above 3824 bits on LDPC base graph 1 with bit repetition, "
                        "as 38.212 does (default: capped at 3752 bits, on base graph 2)")


def add_noise_argument(p: argparse.ArgumentParser) -> None:
    """``--noise``: the link key ``noise`` of the bit-true link (``NRLink(noise=...)``), read by
    :func:`link_options_given`."""
    p.add_argument("--noise", choices=["torch", "fast"], default=None,
                   help="the bit-true link's noise source: torch (default; every committed result was drawn "
                        "with it) or fast (the compiled generator: the same statistics, faster at high SNR, "
                        "other draws)")


def link_options_given(config: dict, args: argparse.Namespace) -> dict:
    """``config`` with the link options given on the command line (``--bg1-repetition``, ``--noise``)
    written into its ``link`` dict."""
    if getattr(args, "bg1_repetition", None):
        config["link"] = {**config.get("link", {}), "bg1_repetition": True}
    if getattr(args, "noise", None) is not None:
        config["link"] = {**config.get("link", {}), "noise": args.noise}
    return config


def bit_true_only(link: dict, fidelity: str) -> dict:
    """A sweep's ``link`` options for one link of ``fidelity``: the bit-true link's own (``noise``)
    left out of the others, which draw no channel noise."""
    return link if fidelity == "bittrue" else {k: v for k, v in link.items() if k != "noise"}


def check_common(args: argparse.Namespace, *, workers_default: int = 1, out_is_file: bool = False) -> argparse.Namespace:
    """The checks every verb makes after parsing and before any work: ``--out`` writable,
    ``--workers`` and ``--cluster`` not both given, the cluster reachable. Fills ``args.workers``
    with ``workers_default`` when unset. Returns ``args``."""
    if getattr(args, "out", None) is not None:
        (check_out_file if out_is_file else check_out_dir)(args.out)
    if hasattr(args, "cluster"):
        check_exclusive(("--workers", args.workers is not None), ("--cluster", args.cluster is not None))
        if args.cluster is not None:
            check_cluster(args.cluster)
        if args.workers is None:
            args.workers = workers_default
    return args


def split_names(text: str | None) -> list[str] | None:
    """``"a, b,c"`` -> ``["a", "b", "c"]``; None stays None."""
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def given(args: argparse.Namespace, names: Sequence[str]) -> dict:
    """``{name: value}`` of the options in ``names`` the user gave (not None)."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


# ------------------------------------------------------------- values that came from a --config file
def _real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_snr_values(values: Any, *, what: str = "snr_db") -> None:
    """SNRs from a config file (the command line's are checked by :func:`parse_snr_list`): a list of
    at most ``MAX_POINTS`` finite numbers inside ``SNR_DB_RANGE``."""
    if not isinstance(values, (list, tuple)) or not all(_real(v) for v in values):
        raise UsageError(f"config {what} must be a list of finite numbers (SNRs in dB), got {values!r}"[:300])
    if len(values) > MAX_POINTS:
        raise UsageError(f"config {what} has {len(values)} SNRs; at most {MAX_POINTS}")
    for v in values:
        _in_range(float(v), f"config {what} value", *SNR_DB_RANGE, unit=" dB")


def check_cbr_value(value: Any, *, what: str = "cbr") -> None:
    """A CBR from a config file: a finite number in ``(0, MAX_CBR]``."""
    if not _real(value):
        raise UsageError(f"config {what} must be a finite number, got {value!r}"[:300])
    _in_range(float(value), f"config {what}", 0.0, MAX_CBR, lo_open=True)


# ------------------------------------------------------------------ the command line's error handling
def _one_line(text: object, limit: int = 600) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _os_error(exc: OSError) -> str:
    """``file: reason`` of an OSError (both files of a rename or copy when it names two)."""
    files = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{files}: {reason}" if files else reason


def guarded(entry: Callable[..., int | None], *args: Any) -> int:
    """``entry(*args)`` with the command line's error handling, so that it never shows a traceback:
    a bad option or a typed semcom error gives one line ``semcom: error: ...`` and exit code 2, a
    file-system error one line naming the file (exit 2), Ctrl-C exit code 130, and anything else
    one line ``semcom: internal error: ...`` (exit 1). With the environment variable
    ``SEMCOM_DEBUG=1`` every error but a bad option is re-raised with its traceback. The modules'
    ``python -m semcom.experiments.<name>`` entry points go through it too."""
    from semcom.errors import SemcomError

    debug = os.environ.get("SEMCOM_DEBUG", "") not in ("", "0")
    try:
        return int(entry(*args) or 0)
    except UsageError as exc:
        return _fail(f"semcom: error: {_one_line(exc)}", 2)
    except SemcomError as exc:
        if debug:
            raise
        return _fail(f"semcom: error: {_one_line(exc)}", 2)
    except KeyboardInterrupt:
        if debug:
            raise
        return _fail("semcom: interrupted", 130)
    except OSError as exc:
        if debug:
            raise
        return _fail(f"semcom: error: {_one_line(_os_error(exc))}", 2)
    except MemoryError:
        if debug:
            raise
        return _fail("semcom: error: out of memory (use fewer or smaller images, fewer points or fewer workers)", 1)
    except Exception as exc:  # the last resort: a bug, said in one line
        if debug:
            raise
        return _fail(f"semcom: internal error: {type(exc).__name__}: {_one_line(exc)} "
                     "(run with SEMCOM_DEBUG=1 for the traceback)", 1)


def _fail(line: str, code: int) -> int:
    print(line, file=sys.stderr)
    return code
