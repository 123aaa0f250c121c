"""Fuzz targets: the classical image codecs and the H.265 code-block path.

Image codecs have no integrity check of their own, so a corrupted stream that decodes cleanly is
``accepted`` (undetectable by design). What is checked: ``decode_robust`` never raises, a failed
or damaged decode is reported (``fallback``), and every returned image honours the interface
(``[1, 3, H, W]`` float32, finite, in [0, 1]); an image that breaks it is ``silent_wrong``.

H.265 over code blocks: the depacketizer must never read the bytes of a code block whose CRC
failed. Each honest case (bits corrupted only inside failed blocks) is decoded twice with
different garbage in the failed blocks; two different outputs mean lost bytes were read
(``silent_wrong``). CRC misses (bits flipped in blocks flagged ok) are undetectable by design.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core import Target, Verdict, mutate_bytes, register

IMAGE_CODECS = ("jpeg", "jpeg2000", "webp", "avif", "heif")


def test_image(h: int = 32, w: int = 48) -> torch.Tensor:
    """A deterministic smooth image with texture ``[1, 3, h, w]`` (compresses like a photo)."""
    g = torch.Generator().manual_seed(0)
    y = torch.linspace(0, 1, h).view(1, 1, h, 1)
    x = torch.linspace(0, 1, w).view(1, 1, 1, w)
    base = torch.cat([y * x, (1 - y) * (0 * x + 1), (x + y) / 2], dim=1)
    return (0.8 * base + 0.2 * torch.rand(1, 3, h, w, generator=g)).clamp(0, 1)


def _image_ok(img: torch.Tensor, shape: tuple[int, int] | None) -> bool:
    if not isinstance(img, torch.Tensor) or img.dtype != torch.float32 or img.dim() != 4 or img.shape[:2] != (1, 3):
        return False
    if shape is not None and tuple(img.shape[2:]) != shape:
        return False
    return bool(torch.isfinite(img).all()) and float(img.min()) >= 0.0 and float(img.max()) <= 1.0


def _codec_setup(name: str):
    from semcom.codecs import get_codec

    codec = get_codec(name, timeout_s=5.0)
    image = test_image()
    return codec, codec.encode(image, quality=60), (image.shape[2], image.shape[3])


def _codec_case(state, rng: np.random.Generator) -> Verdict:
    codec, stream, shape = state
    data, note = mutate_bytes(stream, rng)
    if rng.random() < 0.5:  # the plain decoder: an image or a CodecError
        img = codec.decode(data)
        return Verdict("accepted" if _image_ok(img, None) else "silent_wrong", f"decode: {note}")
    out = codec.decode_robust(data, shape=shape)
    if not _image_ok(out.image, shape):
        return Verdict("silent_wrong", f"decode_robust returned a bad image: {note}")
    return Verdict("accepted" if out.status == "ok" else "fallback", f"{out.status}: {note}")


def _make_codec_target(name: str) -> Target:
    return Target(name=name, setup=lambda: _codec_setup(name), case=_codec_case, timeout_s=30.0,
                  area=f"semcom.codecs {name}: decode / decode_robust of corrupted streams")


for _name in IMAGE_CODECS:
    register(_make_codec_target(_name))


# ------------------------------------------------------------------------------ H.265 over code blocks
def _h265_setup():
    from semcom.baselines.video_cb import H265OverCodeBlocks
    from semcom.semantics.symbols import CodeBlockGrant

    g = torch.Generator().manual_seed(1)
    base = test_image(32, 32)
    frames = torch.stack([(base[0] + 0.03 * t * torch.rand(1, generator=g)).clamp(0, 1) for t in range(6)])
    tx = H265OverCodeBlocks(CodeBlockGrant.uniform(4, 1200), fps=6, preset="ultrafast", timeout_s=10.0)
    return tx, tx.pack(frames)


def _received(packed, rng: np.random.Generator):
    """Bits and CRC flags of one reception: some blocks failed (their bits garbled), maybe a CRC miss."""
    bits = packed.blocks.clone()
    t, k = bits.shape[0], packed.grant.n_blocks
    ok = torch.from_numpy(rng.random((t, k)) > rng.choice([0.05, 0.2, 0.5]))
    for ti, j in zip(*np.nonzero(~ok.numpy())):
        s, e = packed.grant.ranges[j]
        bits[ti, s:e] = torch.from_numpy(rng.integers(0, 2, e - s).astype(np.float32))
    return bits, ok


def _garble_failed(bits: torch.Tensor, ok: torch.Tensor, packed, rng: np.random.Generator) -> torch.Tensor:
    other = bits.clone()
    for ti, j in zip(*np.nonzero(~ok.numpy())):
        s, e = packed.grant.ranges[j]
        other[ti, s:e] = torch.from_numpy(rng.integers(0, 2, e - s).astype(np.float32))
    return other


def _h265_case(state, rng: np.random.Generator) -> Verdict:
    tx, packed = state
    bits, ok = _received(packed, rng)
    mode = rng.random()
    if mode < 0.2:  # CRC miss: flipped bits in blocks reported intact (undetectable by design)
        if rng.random() < 0.2:  # every block garbage yet reported intact: the depacketizer and ffmpeg on noise
            bits = torch.from_numpy(rng.integers(0, 2, tuple(bits.shape)).astype(np.float32))
            ok[:] = True
        ti, pos = int(rng.integers(0, bits.shape[0])), rng.integers(0, bits.shape[1], int(rng.integers(1, 9)))
        bits[ti, pos] = 1 - bits[ti, pos]
        ok[ti, :] = True
        out = tx.unpack(bits, ok, packed)
        return Verdict("accepted" if bool(out.decoded.all()) else "fallback", "CRC miss")
    if mode < 0.3:  # malformed receiver input: wrong shapes, non-binary bits or CRC flags
        what = int(rng.integers(0, 3))
        if what == 2:
            flags = ok.to(torch.float32)
            flags[int(rng.integers(0, flags.shape[0])), int(rng.integers(0, flags.shape[1]))] = float(
                rng.choice([0.5, np.nan, 2.0, -1.0]))
            tx.unpack(bits, flags, packed)
            return Verdict("silent_wrong", "CRC flags other than 0/1 accepted")
        bad = bits[:, : int(rng.integers(0, bits.shape[1]))] if what == 0 else bits * 2 - 1
        tx.unpack(bad, ok, packed)
        return Verdict("silent_wrong", "malformed bits accepted")
    out = tx.unpack(bits, ok, packed)
    again = tx.unpack(_garble_failed(bits, ok, packed, rng), ok, packed)
    if not torch.equal(out.frames, again.frames) or not torch.equal(out.decoded, again.decoded):
        return Verdict("silent_wrong", f"output depends on the bits of failed blocks ({int((~ok).sum())} failed)")
    return Verdict("accepted" if bool(out.decoded.all()) else "fallback", f"{int((~ok).sum())} blocks failed")


register(Target(name="h265_code_blocks", setup=_h265_setup, case=_h265_case, timeout_s=60.0,
                area="semcom.baselines.video_cb: depacketize + guarded ffmpeg decode of lossy code blocks"))
