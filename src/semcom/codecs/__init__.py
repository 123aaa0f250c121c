"""semcom.codecs: classical image codecs behind one interface.

``get_codec(name)`` for ``"jpeg"``, ``"jpeg2000"``, ``"webp"``, ``"avif"``, ``"heif"`` (HEVC intra,
the BPG stand-in). Each codec encodes one ``[1, 3, H, W]`` float image in [0, 1] at a quality, a bpp
or a bit budget (``encode_to_budget``: the largest stream that fits, headers included) and decodes
robustly: ``decode`` raises :class:`~semcom.errors.CodecError` on a bad stream, ``decode_robust``
returns a :class:`DecodeOutcome`. :class:`VideoCodec` codes frame sequences with H.264 or
H.265 at a constant bit rate or a bit budget. Native image decoders run in a guarded worker process
(:mod:`semcom.codecs.guard`) so a corrupted stream never crashes or hangs the caller.

Example:
    >>> import torch
    >>> from semcom.codecs import get_codec
    >>> x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    >>> codec = get_codec("jpeg2000")
    >>> stream = codec.encode(x, bpp=1.0)
    >>> 8 * len(stream) <= 64 * 64
    True
    >>> codec.decode_robust(stream[:40], shape=(64, 64)).status in ("recovered", "failed")
    True
"""

from PIL import features as _features

from .base import Codec, CodecBudgetError, DecodeOutcome, array_to_image, image_to_array
from .guard import DecodeGuard, decode_inprocess, default_guard
from .image import AvifCodec, HeifCodec, Jpeg2000Codec, JpegCodec, WebpCodec
from .registry import available_codecs, get_codec, register_codec
from .video import VideoCodec


def _heif_available() -> bool:
    try:
        import pillow_heif
    except ImportError:
        return False
    return bool(pillow_heif.libheif_info().get("encoders", {}).get("x265"))


register_codec("jpeg", JpegCodec, lambda: bool(_features.check("jpg")))
register_codec("jpeg2000", Jpeg2000Codec, lambda: bool(_features.check("jpg_2000")))
register_codec("webp", WebpCodec, lambda: bool(_features.check("webp")))
register_codec("avif", AvifCodec, lambda: bool(_features.check("avif")))
register_codec("heif", HeifCodec, _heif_available)

__all__ = [
    "Codec",
    "CodecBudgetError",
    "DecodeOutcome",
    "DecodeGuard",
    "AvifCodec",
    "HeifCodec",
    "Jpeg2000Codec",
    "JpegCodec",
    "WebpCodec",
    "VideoCodec",
    "array_to_image",
    "image_to_array",
    "available_codecs",
    "decode_inprocess",
    "default_guard",
    "get_codec",
    "register_codec",
]
