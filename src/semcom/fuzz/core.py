"""The pieces every fuzz target shares: verdicts, mutators, the target registry.

A target is a small recipe: ``setup()`` builds a valid input once per worker process (an encoded
stream, a MAC PDU, a checkpoint file...), and ``case(state, rng)`` mutates it with the random
generator of that case, feeds it to the receive-side decoder and returns a :class:`Verdict`.
An exception escaping ``case`` is classified by the runner: a :class:`~semcom.errors.SemcomError`
is a typed error, anything else a crash. The verdicts are defined in :mod:`semcom.fuzz`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

#: Outcome columns, in table order (``tried`` is their sum).
LABELS = ("typed_error", "fallback", "accepted", "crash", "hang", "silent_wrong")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What one case came to: a label from :data:`LABELS` and a short note (the mutation, the error)."""

    label: str
    note: str = ""

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"unknown verdict {self.label!r}")


@dataclasses.dataclass(frozen=True)
class Target:
    """One receive-side decoder under fuzzing.

    Attributes:
        name: table row name.
        setup: ``() -> state``, run once per worker before its first case (not time-limited per case).
        case: ``(state, rng) -> Verdict``; an escaping exception is classified by the runner.
        timeout_s: per-case time limit; a case that exceeds it is a hang.
        area: what the target covers (for the docs and the JSON).
        describe: optional ``(state, rng) -> str`` naming the input of a case before it runs (with
            the same generator as ``case``), so that a hang can be reported with its input.
        preload: optional ``() -> None`` run once in the parent before the first worker starts
            (heavy imports): every worker, including one restarted after a hang, inherits them.
    """

    name: str
    setup: Callable[[], Any]
    case: Callable[[Any, np.random.Generator], Verdict]
    timeout_s: float = 20.0
    area: str = ""
    describe: Callable[[Any, np.random.Generator], str] | None = None
    preload: Callable[[], None] | None = None


TARGETS: dict[str, Target] = {}
_SCRATCH: list[str] = []


def scratch_dir() -> str:
    """A folder for the files of the current target run (removed by the runner afterwards)."""
    if not _SCRATCH:
        import tempfile

        _SCRATCH.append(tempfile.mkdtemp(prefix="semcom-fuzz-"))
    return _SCRATCH[0]


def set_scratch_dir(path: str | None) -> None:
    """Used by the runner: the scratch folder of the target run (``None``: forget it)."""
    _SCRATCH.clear()
    if path is not None:
        _SCRATCH.append(path)


def register(target: Target) -> Target:
    """Add a target; a name registered twice is refused."""
    if target.name in TARGETS:
        raise ValueError(f"fuzz target {target.name!r} is already registered")
    TARGETS[target.name] = target
    return target


# ------------------------------------------------------------------------------ byte mutators
def _flip_bits(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    b = bytearray(data)
    n = int(rng.integers(1, 9))
    for _ in range(n):
        i = int(rng.integers(0, 8 * len(b)))
        b[i // 8] ^= 0x80 >> (i % 8)
    return bytes(b), f"flip {n} bits"


def _truncate(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    n = int(rng.integers(0, len(data)))
    return data[:n], f"truncate to {n} of {len(data)} bytes"


def _extend(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    n = int(rng.integers(1, 65))
    return data + rng.bytes(n), f"append {n} random bytes"


def _region(data: bytes, rng: np.random.Generator, fill: str) -> tuple[bytes, str]:
    b = bytearray(data)
    start = int(rng.integers(0, len(b)))
    n = int(rng.integers(1, max(2, min(64, len(b) - start + 1))))
    b[start:start + n] = bytes(n) if fill == "zero" else rng.bytes(n)
    return bytes(b[: len(data)]), f"{fill} bytes [{start}, {start + n})"


def _header_field(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    b = bytearray(data)
    i = int(rng.integers(0, min(len(b), 64)))
    v = int(rng.choice([0x00, 0xFF, 0x7F, 0x80, int(rng.integers(0, 256))]))
    b[i] = v
    return bytes(b), f"header byte {i} := {v:#04x}"


def _size_field(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """A 16-bit big-endian field in the first 512 bytes (sizes, lengths, counts) set to a boundary value."""
    if len(data) < 2:
        return _flip_bits(data, rng)
    b = bytearray(data)
    i = int(rng.integers(0, min(len(b), 512) - 1))
    v = int(rng.choice([0, 1, 0x7FFF, 0x8000, 0xFFFF]))
    b[i:i + 2] = v.to_bytes(2, "big")
    return bytes(b), f"16-bit field at byte {i} := {v}"


def _duplicate(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    start = int(rng.integers(0, len(data)))
    n = int(rng.integers(1, max(2, min(256, len(data) - start + 1))))
    return data[: start + n] + data[start:], f"duplicate bytes [{start}, {start + n})"


BYTE_MUTATORS: tuple[Callable[..., tuple[bytes, str]], ...] = (
    _flip_bits, _truncate, _extend, lambda d, r: _region(d, r, "zero"), lambda d, r: _region(d, r, "random"),
    _header_field, _size_field, _duplicate,
)


def mutate_bytes(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One random mutation of ``data``: bit flips, truncation, extension, a zeroed or random region,
    a header byte or a 16-bit size field set to a boundary value, or a duplicated region. Returns ``(mutated, description)``."""
    if not data:
        return rng.bytes(int(rng.integers(1, 16))), "random bytes for an empty input"
    op = BYTE_MUTATORS[int(rng.integers(0, len(BYTE_MUTATORS)))]
    return op(bytes(data), rng)


def mutate_bits(bits: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """The same mutations on a 0/1 bit vector (flips, truncation, extension, zeroed/random runs)."""
    b = np.asarray(bits, dtype=np.uint8).reshape(-1).copy()
    op = int(rng.integers(0, 5))
    if op == 0 or b.size == 0:
        if b.size == 0:
            return rng.integers(0, 2, int(rng.integers(1, 64))).astype(np.uint8), "random bits for an empty input"
        idx = rng.integers(0, b.size, int(rng.integers(1, 9)))
        b[idx] ^= 1
        return b, f"flip bits {sorted(set(idx.tolist()))[:8]}"
    if op == 1:
        n = int(rng.integers(0, b.size))
        return b[:n], f"truncate to {n} of {b.size} bits"
    if op == 2:
        n = int(rng.integers(1, 129))
        return np.concatenate([b, rng.integers(0, 2, n).astype(np.uint8)]), f"append {n} random bits"
    start = int(rng.integers(0, b.size))
    n = int(rng.integers(1, max(2, min(128, b.size - start + 1))))
    if op == 3:
        b[start:start + n] = 0
        return b, f"zero bits [{start}, {start + n})"
    b[start:start + n] = rng.integers(0, 2, b[start:start + n].size)
    return b, f"random bits [{start}, {start + n})"


def case_rng(seed: int, name: str, index: int) -> np.random.Generator:
    """The generator of case ``index`` of target ``name``: reproducible from the three alone."""
    import zlib

    return np.random.default_rng([int(seed), zlib.crc32(name.encode()), int(index)])
