"""Fuzz targets: the separation baseline's framing (length field + code blocks) and prt frames
packed into code blocks (:func:`semcom.semantics.symbols.unpack_code_blocks`).

Both carry CRC-protected code blocks. An *honest* reception garbles only blocks whose CRC failed;
then the receiver must never report a clean result built from lost bits: the separation system may
say ``"ok"`` only with the clean decode of the sent stream, and prt must return exactly the sent
payload of every symbol it reports received (anything else is ``silent_wrong``). A *CRC miss*
(flipped bits in a block reported intact) is undetectable by design and only checked for the
interface (valid image, consistent sizes). Malformed receiver inputs must raise ``InputError``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core import Target, Verdict, register
from .codecs import _image_ok, test_image


# ------------------------------------------------------------------------------ separation framing
class _MutatingLink:
    """A real link whose :meth:`transmit` result is then changed by the current case."""

    def __init__(self, link):
        self._link, self.rng, self.crc_miss, self.lost = link, None, False, 0

    def __getattr__(self, name):
        return getattr(self._link, name)

    def transmit(self, payload, snr_db, **kw):
        res = self._link.transmit(payload, snr_db, **kw)
        rng, bits, ok = self.rng, res.bits.clone(), res.cb_ok.clone()
        if self.crc_miss:  # flipped bits in blocks that still pass their CRC
            pos = rng.integers(0, bits.shape[-1], int(rng.integers(1, 17)))
            bits[..., pos] = 1 - bits[..., pos]
        else:
            fail = rng.random(ok.shape[-1]) < rng.choice([0.1, 0.3, 0.7])
            for j in np.flatnonzero(fail):
                s, e = res.cb_ranges[j]
                bits[..., s:e] = torch.from_numpy(rng.integers(0, 2, e - s).astype(np.float32))
                ok[..., j] = False
            self.lost = int(fail.sum())
        res.bits, res.cb_ok = bits, ok
        return res


def _separation_setup():
    from semcom.baselines.separation import SeparationConfig, SeparationSystem

    system = SeparationSystem(SeparationConfig(codec="jpeg2000", fidelity="erasure", cbr=1.0, modulation_order=6,
                                               code_rate=0.9, loss_policy="corrupt", link={"cbler": 0.0}))
    image = test_image(64, 64)
    clean = system.transmit(image, snr_db=20.0, seed=0)
    assert clean.status == "ok" and clean.num_cb >= 4, (clean.status, clean.num_cb)
    system.link = _MutatingLink(system.link)
    return system, image, clean.image


def _separation_case(state, rng: np.random.Generator) -> Verdict:
    system, image, clean = state
    link = system.link
    link.rng, link.crc_miss, link.lost = rng, bool(rng.random() < 0.3), 0
    system.config.loss_policy = "truncate" if rng.random() < 0.3 else "corrupt"
    # with downscale the length field also carries a resolution factor (full resolution at this budget)
    system.config.downscale = 4 if rng.random() < 0.3 else 1
    out = system.transmit(image, snr_db=20.0, seed=int(rng.integers(0, 2**31)))
    if not _image_ok(out.image, (64, 64)) or out.status not in ("ok", "recovered", "failed", "no_fit"):
        return Verdict("silent_wrong", f"bad outcome: status {out.status!r}")
    note = (f"{'CRC miss' if link.crc_miss else f'{link.lost} blocks lost'}, {system.config.loss_policy}, "
            f"downscale {system.config.downscale}")
    if out.status != "ok":
        return Verdict("fallback", f"{out.status}: {note}")
    if not link.crc_miss and not torch.equal(out.image, clean):
        return Verdict("silent_wrong", f"status ok but the image differs from the clean decode: {note}")
    return Verdict("accepted", note)


register(Target(name="separation_framing", setup=_separation_setup, case=_separation_case, timeout_s=30.0,
                area="semcom.baselines.separation: length field, loss policies, decode of the received bits"))


# ------------------------------------------------------------------------------ prt frames
def _prt_setup():
    from semcom.semantics.symbols import CodeBlockGrant, SemanticFrame, pack_code_blocks

    rng = np.random.default_rng(0)
    sizes = rng.integers(4, 40, 12)
    frame = SemanticFrame.from_payloads([torch.from_numpy(rng.integers(0, 2, n).astype(np.float32)) for n in sizes])
    grant = CodeBlockGrant((120, 96, 96, 80, 64))
    d = np.zeros((12, 5), dtype=np.int64)
    load = np.zeros(5, dtype=np.int64)
    for i in np.argsort(-sizes):  # greedy, the most important half twice
        for _ in range(2 if i < 6 else 1):
            free = [j for j in range(5) if not d[i, j] and load[j] + sizes[i] <= grant.capacities[j]]
            if free:
                j = max(free, key=lambda j: grant.capacities[j] - load[j])
                d[i, j], load[j] = 1, load[j] + sizes[i]
    return frame, d, grant, pack_code_blocks(frame, d, grant)


def _malformed(blocks, ok, d, sizes, rng: np.random.Generator):
    what = int(rng.integers(0, 5))
    if what == 0:
        j = int(rng.integers(0, len(blocks)))
        blocks[j] = blocks[j][: int(rng.integers(0, blocks[j].numel()))] if rng.random() < 0.5 else torch.cat(
            [blocks[j], torch.ones(int(rng.integers(1, 9)))])
        return blocks, ok, d, sizes, f"block {j} resized"
    if what == 1:
        bad = [np.array([2, 0, 1, 1, 1]), np.ones(4), np.array([np.nan] * 5), np.array(["1"] * 5)]
        return blocks, bad[int(rng.integers(0, len(bad)))], d, sizes, "bad cb_ok"
    if what == 2:
        d = d.copy()
        d[int(rng.integers(0, d.shape[0])), int(rng.integers(0, d.shape[1]))] = int(rng.choice([2, -1, 7]))
        return blocks, ok, d, sizes, "assignment entry out of {0,1}"
    if what == 3:
        d = np.ones_like(d) if rng.random() < 0.5 else d[:, :-1]
        return blocks, ok, d, sizes, "assignment overloads or mis-shaped"
    sizes = list(sizes)
    sizes[int(rng.integers(0, len(sizes)))] = [0, -3, 10**9, 2.5, True, np.nan][int(rng.integers(0, 6))]
    return blocks, ok, d, tuple(sizes), "bad symbol size"


def _prt_case(state, rng: np.random.Generator) -> Verdict:
    from semcom.semantics.symbols import unpack_code_blocks

    frame, d, grant, sent = state
    blocks = [b.clone() for b in sent]
    ok = rng.random(len(blocks)) > rng.choice([0.1, 0.4, 0.8])
    for j in np.flatnonzero(~ok):
        blocks[j] = torch.from_numpy(rng.integers(0, 2, blocks[j].numel()).astype(np.float32))
    if rng.random() < 0.3:
        blocks, ok, dd, sizes, note = _malformed(blocks, ok, d, frame.sizes, rng)
        rx = unpack_code_blocks(blocks, ok, dd, sizes, grant)
        return Verdict("silent_wrong", f"malformed input accepted: {note}")
    rx = unpack_code_blocks(blocks, ok, d, frame.sizes, grant)
    for i, p in rx.payloads.items():
        if not torch.equal(p, frame.payloads[i]):
            return Verdict("silent_wrong", f"symbol {i} delivered with bits of a failed block")
    expect_missing = tuple(i for i in range(frame.n_symbols) if not (d[i].astype(bool) & ok).any())
    if rx.missing != expect_missing:
        return Verdict("silent_wrong", f"missing {rx.missing} but {expect_missing} were lost")
    return Verdict("fallback" if rx.missing else "accepted", f"{int((~ok).sum())} blocks lost")


register(Target(name="prt_frames", setup=_prt_setup, case=_prt_case, timeout_s=10.0,
                area="semcom.semantics.symbols: unpack_code_blocks of lossy or malformed code blocks"))
