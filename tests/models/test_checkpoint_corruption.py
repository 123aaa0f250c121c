"""Corrupted committed checkpoints and metadata: every loader answers with CheckpointError, never
another exception (RuntimeError, UnpicklingError, JSONDecodeError, TypeError, IndexError, KeyError).

Corruptions of the ``.pt``: truncation at several points, random byte flips, zeroed regions. With
its metadata JSON the SHA-256 check catches every one before unpickling; without it (a user's
file) the bytes reach ``torch.load(weights_only=True)``, which must fail with CheckpointError too,
unless the damage hit only weight bytes (then it loads, with a warning that no hash was checked:
that is what the SHA-256 is for). Corruptions of the metadata: invalid JSON, not UTF-8, a list,
null, wrongly typed known keys, a wrong hash or size.

The fast tier corrupts three committed checkpoints (one per loader); the slow tier all of them
with more random cases.
"""

import json
import random
import warnings

import pytest
from ckpt_helpers import copy_committed

from semcom.errors import CheckpointError
from semcom.models import load_checkpoint
from semcom.models.checkpoint_io import UncheckedCheckpointWarning, package_checkpoint_dir
from semcom.models.concealer import load_concealer_net
from semcom.models.seb import load_seb_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = ("prt_concealer", "seb_autoencoder", "scc1d_landmarks_n16")
ALL = sorted(p.stem for p in package_checkpoint_dir().glob("*.pt"))


def loader_for(stem: str):
    return {"prt_concealer": load_concealer_net, "seb_autoencoder": load_seb_model}.get(stem, load_checkpoint)


def truncate(at: float):
    def f(data: bytes, rng: random.Random) -> bytes:
        return data[: int(len(data) * at)] if at < 1 else data[:-1]
    f.__name__ = f"truncate_{at}"
    return f


def flip(n: int):
    def f(data: bytes, rng: random.Random) -> bytes:
        b = bytearray(data)
        for _ in range(n):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return bytes(b)
    f.__name__ = f"flip_{n}"
    return f


def zero(where: str):
    def f(data: bytes, rng: random.Random) -> bytes:
        b = bytearray(data)
        start = {"head": 0, "middle": len(b) // 2, "tail": len(b) - 512, "random": rng.randrange(len(b) - 4096)}[where]
        b[start : start + 4096] = bytes(len(b[start : start + 4096]))
        return bytes(b)
    f.__name__ = f"zero_{where}"
    return f


# Each corruption is fatal to the file's structure (the zip's central directory, the header or
# the pickle are hit), except those in MAY_LOAD, which may hit only weight bytes.
STRUCTURAL = [truncate(0.0), truncate(0.01), truncate(0.5), truncate(0.9), truncate(1.0), zero("head"), zero("tail")]
MAY_LOAD = [flip(1), flip(8), zero("middle"), zero("random")]


def _assert_checkpoint_error_or_loads(load, path, must_fail: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UncheckedCheckpointWarning)
        try:
            load(path)
        except CheckpointError:
            return
    assert not must_fail, f"{path.name} loaded"


def _corrupt_cases(stems, corruptions, tmp_path, with_metadata: bool, seed: int = 0):
    for stem in stems:
        for i, corrupt in enumerate(corruptions):
            pt = copy_committed(stem, tmp_path / f"{stem}-{i}-{with_metadata}", with_metadata=with_metadata)
            pt.write_bytes(corrupt(pt.read_bytes(), random.Random(f"{seed}-{stem}-{i}")))
            yield stem, corrupt, pt


@pytest.mark.parametrize("with_metadata", [True, False], ids=["with-sha256", "no-metadata"])
def test_corrupt_committed_checkpoints_give_checkpoint_error(with_metadata, tmp_path):
    cases = 0
    for stem, corrupt, pt in _corrupt_cases(FAST, STRUCTURAL + MAY_LOAD, tmp_path, with_metadata):
        must_fail = with_metadata or corrupt in STRUCTURAL
        _assert_checkpoint_error_or_loads(loader_for(stem), pt, must_fail)
        cases += 1
    assert cases == len(FAST) * 11


def _meta_cases(meta: dict) -> dict[str, bytes]:
    j = lambda obj: json.dumps(obj).encode()  # noqa: E731
    text = j(meta)
    return {
        "empty": b"", "truncated": text[: len(text) // 2], "not_utf8": b"\xff\xfe" + text, "garbage": b"\x00\x13{",
        "list": j([meta]), "null": b"null", "string": j("sha256"), "number": b"3",
        "sha256_int": j({**meta, "sha256": 1}), "sha256_short": j({**meta, "sha256": "abc"}),
        "sha256_upper": j({**meta, "sha256": meta["sha256"].upper()}), "sha256_other": j({**meta, "sha256": "0" * 64}),
        "sha256_list": j({**meta, "sha256": [meta["sha256"]]}), "file_bytes_str": j({**meta, "file_bytes": "12"}),
        "file_bytes_bool": j({**meta, "file_bytes": True}), "file_bytes_negative": j({**meta, "file_bytes": -1}),
        "file_bytes_wrong": j({**meta, "file_bytes": meta["file_bytes"] - 1}), "config_list": j({**meta, "config": []}),
        "metric_str": j({**meta, "metric": "good"}), "name_int": j({**meta, "name": 3}),
        "deep_nesting": b"[" * 100_000 + b"]" * 100_000,
    }


@pytest.mark.parametrize("stem", FAST)
def test_corrupt_metadata_gives_checkpoint_error(stem, tmp_path):
    meta = json.loads((package_checkpoint_dir() / f"{stem}.json").read_text())
    cases = _meta_cases(meta)
    for name, raw in cases.items():
        pt = copy_committed(stem, tmp_path / name)
        pt.with_suffix(".json").write_bytes(raw)
        with pytest.raises(CheckpointError):
            loader_for(stem)(pt)
    assert len(cases) >= 20


@pytest.mark.slow
@pytest.mark.parametrize("stem", ALL)
def test_every_committed_checkpoint_resists_random_corruption(stem, tmp_path):
    """Thirty random corruptions of every committed checkpoint, with and without its metadata."""
    rng = random.Random(stem)
    kinds = [truncate(rng.random()) for _ in range(10)] + [flip(rng.randint(1, 16)) for _ in range(12)] + \
            [zero("random") for _ in range(8)]
    for with_metadata in (True, False):
        for _, corrupt, pt in _corrupt_cases([stem], kinds, tmp_path, with_metadata, seed=1):
            must_fail = with_metadata or corrupt.__name__.startswith("truncate")
            _assert_checkpoint_error_or_loads(loader_for(stem), pt, must_fail)
