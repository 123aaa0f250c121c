"""Fuzz target: checkpoint loading (``.pt`` + metadata JSON) of the three loaders.

``load_checkpoint`` (JSCC models), ``load_seb_model`` (the seb extractor) and
``load_concealer_net`` (the prt concealer) get a copy of a committed checkpoint with its ``.pt``
or its JSON mutated, or a ``.pt`` whose pickle calls a function of this module (what an attacker's
file would do). Expected: :class:`~semcom.errors.CheckpointError` (typed). ``silent_wrong``: the
load succeeded with weights other than the committed ones (the metadata's SHA-256 can detect
it), or the file ran code while loading. A changed metadata field other than the digest, with the
weights intact, is ``accepted``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from ..core import Target, Verdict, mutate_bytes, register, scratch_dir

_RAN = [0]  # how many times a checkpoint ran code in this process


def _canary() -> dict:
    """Called only if a loader unpickles an arbitrary callable."""
    _RAN[0] += 1
    return {}


class _Payload:
    def __reduce__(self):
        return (_canary, ())


def _loaders():
    from semcom.models import checkpoint_dir, load_checkpoint
    from semcom.models.concealer import load_concealer_net
    from semcom.models.seb import load_seb_model

    d = checkpoint_dir()
    return [("scc1d_landmarks_n16", d, lambda p: load_checkpoint(p)),
            ("seb_autoencoder", d, lambda p: load_seb_model(p)[0]),
            ("prt_concealer", d, lambda p: load_concealer_net(p))]


def _state(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _ckpt_setup():
    work = Path(scratch_dir())
    items = []
    for name, d, load in _loaders():
        pt, js = (d / f"{name}.pt").read_bytes(), (d / f"{name}.json").read_bytes()
        items.append((name, load, pt, js, _state(load(d / f"{name}.pt"))))
    return work, items


def _same(model, ref: dict) -> bool:
    st = model.state_dict()
    return set(st) == set(ref) and all(torch.equal(st[k], ref[k]) for k in ref)


def _ckpt_case(state, rng: np.random.Generator) -> Verdict:
    work, items = state
    name, load, pt, js, ref = items[int(rng.integers(0, len(items)))]
    folder = work / f"case{int(rng.integers(0, 2**31))}"
    folder.mkdir()
    try:
        what = rng.random()
        if what < 0.1:
            torch.save({"model": name, "config": {}, "state_dict": _Payload(), "extra": _Payload()}, folder / f"{name}.pt")
            (folder / f"{name}.json").write_bytes(js)
            note = "pickle that calls a function"
        else:
            target, other = (pt, js) if what < 0.7 else (js, pt)
            data, note = mutate_bytes(target, rng)
            (folder / f"{name}.pt").write_bytes(data if target is pt else other)
            (folder / f"{name}.json").write_bytes(data if target is js else other)
            note = f"{name} {'.pt' if target is pt else '.json'}: {note}"
        before = _RAN[0]
        try:
            model = load(folder / f"{name}.pt")
        finally:
            ran = _RAN[0] > before
        if ran:
            return Verdict("silent_wrong", f"loading ran code from the file ({note})")
        if not _same(model, ref):
            return Verdict("silent_wrong", f"loaded with weights other than the committed ones ({note})")
        return Verdict("accepted", note)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _ckpt_case_checked(state, rng: np.random.Generator) -> Verdict:
    before = _RAN[0]
    try:
        return _ckpt_case(state, rng)
    except Exception:
        if _RAN[0] > before:  # refused, but only after running the file's code
            return Verdict("silent_wrong", "a pickle ran code before the loader refused the file")
        raise


register(Target(name="checkpoints", setup=_ckpt_setup, case=_ckpt_case_checked, timeout_s=60.0,
                area="semcom.models: load_checkpoint, load_seb_model, load_concealer_net on corrupt or hostile files"))
