"""Fuzz targets: seb messages (header + index streams) and knowledge-base updates / serialised KBs.

``seb_payload``: the header and both class streams of an encoded image are mutated and decoded
with :meth:`SebCodec.decode` (sometimes with a ``lost`` mask: concealment, a ``fallback``). Index
bits carry no integrity check (a flipped index decodes to another Seb: ``accepted``); the KB
identification in the header does: a message whose version field changed must not decode
(``silent_wrong`` otherwise). Every decoded image must be ``[1, 3, H, W]``, finite, in [0, 1].

``seb_kb``: :meth:`KBUpdate.from_bytes` + :meth:`KnowledgeBase.apply`, and
:meth:`KnowledgeBase.from_bytes`, on mutated messages, half of them with the CRC-32 recomputed
(a CRC miss or a forged message) so that the parser and the digest check are reached. An update
accepted whose result differs from the sender's KB (any serialised field) is ``silent_wrong``; so
is a KB accepted with a NaN or negative half-life, a clock outside int64, or non-finite importance.
"""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import torch

from ..core import Target, Verdict, mutate_bits, mutate_bytes, register
from .codecs import _image_ok


def _pixel_kb():
    from semcom.data import test_images
    from semcom.semantics.kb import KnowledgeBase
    from semcom.semantics.seb import PixelExtractor, image_to_patches

    ext = PixelExtractor(8)
    imgs = [im.image for im in test_images(["astronaut", "coffee"], size=96)]
    fine = torch.cat([ext.encode(image_to_patches(x, 8)) for x in imgs])
    coarse = torch.cat([ext.encode(torch.nn.functional.avg_pool2d(image_to_patches(x, 16), 2)) for x in imgs])
    return KnowledgeBase.build(torch.cat([fine, coarse]), sizes=[32, 8], seed=0), ext, imgs


def _seb_setup():
    from semcom.semantics.seb import SebCodec, SebCodecConfig

    kb, ext, imgs = _pixel_kb()
    codec = SebCodec(kb, ext, SebCodecConfig(fine_patch=8, coarse_patch=16, fine_ratio=0.3))
    image = torch.nn.functional.interpolate(imgs[0], size=(64, 64), mode="bilinear", align_corners=False)
    return codec, codec.encode(image, generator=0)


def _seb_case(state, rng: np.random.Generator) -> Verdict:
    codec, msg = state
    header = msg.header_bits.numpy().astype(np.uint8)
    streams = [b.numpy().astype(np.uint8) for b in msg.class_bits]
    lost, what = None, int(rng.integers(0, 5))
    if what == 4:  # soft or invalid bit values where hard 0/1 decisions belong
        header, streams = header.astype(np.float64), [s.astype(np.float64) for s in streams]
        arr = [header, *streams][int(rng.integers(0, 3))]
        v = [2.0, -1.0, np.nan, np.inf, 0.5][int(rng.integers(0, 5))]
        arr[int(rng.integers(0, arr.size))] = v
        note = f"a bit := {v}"
    elif what == 0:
        header, note = mutate_bits(header, rng)
        note = "header: " + note
    elif what in (1, 2):
        c = what - 1
        streams[c], note = mutate_bits(streams[c], rng)
        note = f"class {c} stream: " + note
    else:
        lost = torch.from_numpy(rng.random(msg.num_regions) < 0.3)
        note = f"{int(lost.sum())} regions lost"
    out = codec.decode(torch.from_numpy(header.astype(np.float32)), [torch.from_numpy(s.astype(np.float32)) for s in streams],
                       lost=lost)
    if not _image_ok(out, (64, 64)):
        return Verdict("silent_wrong", f"bad image: {note}")
    sent = msg.header_bits.numpy().astype(np.uint8)
    if header.size >= 16 and not np.array_equal(header[:16] > 0.5, sent[:16] > 0.5):
        return Verdict("silent_wrong", f"decoded although the KB version field changed: {note}")
    return Verdict("fallback" if lost is not None and bool(lost.any()) else "accepted", note)


register(Target(name="seb_payload", setup=_seb_setup, case=_seb_case, timeout_s=20.0,
                area="semcom.semantics.seb: SebCodec.decode of corrupted headers and index streams"))


# ------------------------------------------------------------------------------ KB updates
def _kb_setup():
    from semcom.semantics.seb import image_to_patches

    kb, ext, imgs = _pixel_kb()
    feats = ext.encode(image_to_patches(torch.flip(imgs[1], dims=[3]) * 0.7 + 0.1, 8))
    kb.mark_used(0, torch.arange(4))
    kb.tick(20)
    upd = kb.propose_update(torch.cat([feats, feats[:, :]]), seed=1)
    assert upd.num_added > 0
    return kb, upd.to_bytes(), kb.apply(upd).to_bytes(), kb.to_bytes()


def _fix_crc(data: bytes) -> bytes:
    return data[:-4] + struct.pack(">I", zlib.crc32(data[:-4])) if len(data) >= 4 else data


# (offset, struct format, hostile values) of header fields of the two layouts
_UPDATE_FIELDS = ((5, ">I", (0, 1, 2**32 - 1)), (9, ">I", (0, 2**32 - 1)), (13, ">I", (0, 7, 2**31, 2**32 - 1)),
                  (17, ">H", (0, 1, 65535)), (19, ">B", (0, 3, 255)))
_KB_FIELDS = ((5, ">I", (0, 2**32 - 1)), (12, ">d", (math.nan, -1.0, 0.0, math.inf)), (20, ">d", (math.nan, -math.inf)),
              (28, ">Q", (2**63, 2**64 - 1)), (36, ">Q", (2**63, 2**64 - 1)))


def _set_field(data: bytes, fields, rng: np.random.Generator) -> tuple[bytes, str]:
    """A header field set to a hostile value, CRC recomputed (a forged or CRC-missed message)."""
    off, fmt, values = fields[int(rng.integers(0, len(fields)))]
    v = values[int(rng.integers(0, len(values)))]
    b = bytearray(data)
    b[off:off + struct.calcsize(fmt)] = struct.pack(fmt, v)
    return _fix_crc(bytes(b)), f"field at byte {off} := {v!r}, CRC recomputed"


def _kb_sane(kb) -> bool:
    ok = math.isfinite(kb.half_life) and kb.half_life >= 0 and not math.isnan(kb.remove_below)
    ok = ok and all(0 <= v < 2**63 for v in (kb.clock, kb.synced_at))
    return ok and all(bool(torch.isfinite(kb.importance(lv)).all()) for lv in range(kb.num_levels))


def _kb_case(state, rng: np.random.Generator) -> Verdict:
    from semcom.semantics.kb import KBUpdate, KnowledgeBase

    kb, upd_bytes, want, kb_bytes = state
    whole = rng.random() < 0.3
    original = kb_bytes if whole else upd_bytes
    if rng.random() < 0.3:
        data, note = _set_field(original, _KB_FIELDS if whole else _UPDATE_FIELDS, rng)
    else:
        data, note = mutate_bytes(original, rng)
        if rng.random() < 0.5:
            data, note = _fix_crc(data), note + ", CRC recomputed"
    if whole:
        got = KnowledgeBase.from_bytes(data)
        if not _kb_sane(got):
            return Verdict("silent_wrong", f"KB accepted with invalid fields: {note}")
        return Verdict("accepted", "KB: " + note)
    new = kb.apply(KBUpdate.from_bytes(data))
    if new.to_bytes() != want:
        return Verdict("silent_wrong", f"update accepted, receiver KB differs from the sender's: {note}")
    return Verdict("accepted", "update: " + note)


register(Target(name="seb_kb", setup=_kb_setup, case=_kb_case, timeout_s=20.0,
                area="semcom.semantics.kb: KBUpdate.from_bytes + apply, KnowledgeBase.from_bytes"))
