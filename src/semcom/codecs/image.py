"""The still-image codecs: JPEG, JPEG 2000, WebP, AVIF (Pillow) and HEIF/HEVC-intra (pillow-heif).

All encoders run in-process (the input is our own clean image); decoding goes through the guard
of :mod:`semcom.codecs.guard` unless the codec was built with ``isolate=False``.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from semcom.errors import CodecError, InputError

from .base import Codec, CodecBudgetError


def _pil(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(arr)


class JpegCodec(Codec):
    """Baseline JPEG (libjpeg via Pillow), 4:2:0 chroma, optimised Huffman tables.

    ``quality`` is Pillow's JPEG quality, an integer in [1, 100]. Rate control bisects it.

    Example:
        >>> import torch
        >>> x = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> JpegCodec().decode(JpegCodec().encode(x, quality=90)).shape
        torch.Size([1, 3, 16, 16])
    """

    name = "jpeg"
    fmt = "JPEG"
    quality_range = (1, 100)
    default_quality = 75

    def _encode_array(self, arr: np.ndarray, quality: float) -> bytes:
        buf = io.BytesIO()
        _pil(arr).save(buf, "JPEG", quality=int(round(quality)), optimize=True)
        return buf.getvalue()


class Jpeg2000Codec(Codec):
    """JPEG 2000 (OpenJPEG via Pillow): 9/7 irreversible wavelet with the colour transform (``mct=1``).

    Rate control is native: OpenJPEG's rate allocation (``quality_mode="rates"``) truncates the
    embedded code stream at a compression ratio, which lands within a fraction of a percent of a
    requested size. :meth:`encode_to_budget` starts from the ratio ``24 H W / max_bits`` and
    tightens it with a few re-encodes so the stream (headers included) never exceeds the budget
    and is typically within 1 % below it.

    ``quality`` is the target PSNR in dB of OpenJPEG's ``quality_mode="dB"``, in [10, 60].

    Example:
        >>> import torch
        >>> x = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
        >>> s = Jpeg2000Codec().encode(x, bpp=2.0)
        >>> 0.9 * 2.0 <= 8 * len(s) / (64 * 64) <= 2.0
        True
    """

    name = "jpeg2000"
    fmt = "JPEG2000"
    quality_range = (10, 60)
    default_quality = 35
    #: Re-encodes allowed to tighten the rate after the first one.
    max_refinements = 8
    #: Stop refining once the stream fills at least this fraction of the budget.
    fill_target = 0.99

    def _save(self, arr: np.ndarray, **kw) -> bytes:
        buf = io.BytesIO()
        try:
            _pil(arr).save(buf, "JPEG2000", irreversible=True, mct=1, **kw)
        except Exception as exc:  # noqa: BLE001 - a library failure becomes a typed error
            raise CodecError(f"{self.name} encoder failed on a {arr.shape[1]}x{arr.shape[0]} image: {exc}") from exc
        return buf.getvalue()

    def _encode_array(self, arr: np.ndarray, quality: float) -> bytes:
        return self._save(arr, quality_mode="dB", quality_layers=[float(quality)])

    def _encode_ratio(self, arr: np.ndarray, ratio: float) -> bytes:
        return self._save(arr, quality_mode="rates", quality_layers=[float(ratio)])

    def _encode_budget_array(self, arr: np.ndarray, max_bits: int) -> bytes:
        raw_bits = 24.0 * arr.shape[0] * arr.shape[1]
        # Never ask for less than 1:1; a budget above the raw size is simply not filled.
        ratio = max(1.0, raw_bits / max_bits)
        best: bytes | None = None
        smallest = None
        tried: dict[float, int] = {}
        lo_ratio, hi_ratio = None, None  # ratio known to fit (>=) / known too big (<)
        for _ in range(1 + self.max_refinements):
            stream = self._encode_ratio(arr, ratio)
            bits = 8 * len(stream)
            tried[ratio] = bits
            smallest = bits if smallest is None else min(smallest, bits)
            if bits <= max_bits:
                if best is None or len(stream) > len(best):
                    best = stream
                lo_ratio = ratio if lo_ratio is None else min(lo_ratio, ratio)
                if bits >= self.fill_target * max_bits or ratio <= 1.0:
                    break
            else:
                hi_ratio = ratio if hi_ratio is None else max(hi_ratio, ratio)
            # Next guess: scale the ratio by the size error, kept inside the known bracket.
            new = ratio * bits / (max_bits * (0.997 if bits > max_bits else 1.0))
            if lo_ratio is not None and hi_ratio is not None:
                if not hi_ratio < new < lo_ratio:
                    new = 0.5 * (hi_ratio + lo_ratio)
            new = max(new, 1.0)
            if abs(new - ratio) < 1e-9 * ratio or new in tried:
                if bits > max_bits:
                    new = ratio * 1.5  # no progress: step clearly lower in rate
                else:
                    break
            ratio = new
        if best is None:
            # The fixed overhead (main header, tile headers) exceeds the budget: find the floor.
            floor_stream = self._encode_ratio(arr, max(raw_bits / 8.0, 1.0))
            floor_bits = min(8 * len(floor_stream), smallest or 8 * len(floor_stream))
            if floor_bits <= max_bits:
                return floor_stream
            raise CodecBudgetError(
                f"{self.name}: budget of {max_bits} bits is below the smallest stream ({floor_bits} bits) "
                f"for a {arr.shape[1]}x{arr.shape[0]} image",
                min_bits=floor_bits,
                max_bits=max_bits,
            )
        return best


class WebpCodec(Codec):
    """Lossy WebP (libwebp VP8 intra via Pillow), ``method=4``; ``quality`` in [0, 100].

    Example:
        >>> import torch
        >>> x = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> WebpCodec().decode(WebpCodec().encode(x)).shape
        torch.Size([1, 3, 16, 16])
    """

    name = "webp"
    fmt = "WEBP"
    quality_range = (0, 100)
    default_quality = 75

    def __init__(self, *, method: int = 4, isolate: bool = True, timeout_s: float = 10.0):
        super().__init__(isolate=isolate, timeout_s=timeout_s)
        self.method = int(method)

    def _encode_array(self, arr: np.ndarray, quality: float) -> bytes:
        buf = io.BytesIO()
        _pil(arr).save(buf, "WEBP", quality=int(round(quality)), method=self.method, lossless=False)
        return buf.getvalue()


class AvifCodec(Codec):
    """AVIF (AV1 intra via Pillow's libavif), 4:2:0; ``quality`` in [0, 100]; ``speed`` 0 (slow) - 10.

    The default ``speed=6`` is Pillow's; raise it to trade quality for encoder time.

    Example:
        >>> import torch
        >>> x = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> AvifCodec().decode(AvifCodec().encode(x)).shape
        torch.Size([1, 3, 16, 16])
    """

    name = "avif"
    fmt = "AVIF"
    quality_range = (0, 100)
    default_quality = 75

    def __init__(self, *, speed: int = 6, isolate: bool = True, timeout_s: float = 10.0):
        super().__init__(isolate=isolate, timeout_s=timeout_s)
        self.speed = int(speed)

    def _encode_array(self, arr: np.ndarray, quality: float) -> bytes:
        buf = io.BytesIO()
        _pil(arr).save(buf, "AVIF", quality=int(round(quality)), speed=self.speed)
        return buf.getvalue()


class HeifCodec(Codec):
    """HEIF with HEVC intra coding (x265 encoder, libde265 decoder, both inside pillow-heif).

    This is the practical stand-in for BPG (Better Portable Graphics), the HEVC-intra image
    format that semantic-communication papers compare against: BPG itself is in no package
    registry, while HEIF carries the same HEVC intra bitstream in an ISO-BMFF container (a few
    hundred bytes of container overhead, counted in the stream). ``quality`` in [0, 100] maps to
    x265's quantiser; rate control bisects it. ``chroma`` is the chroma format (default 4:4:4,
    as in the usual BPG baseline of learned-compression papers; 420 is BPG's own default);
    ``preset`` an x265 speed preset (``"ultrafast"`` ... ``"placebo"``; default: libheif's).

    Example:
        >>> import torch
        >>> x = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> HeifCodec().decode(HeifCodec().encode(x)).shape
        torch.Size([1, 3, 16, 16])
    """

    name = "heif"
    fmt = "HEIF"
    quality_range = (0, 100)
    default_quality = 50

    def __init__(self, *, chroma: int = 444, preset: str | None = None, isolate: bool = True, timeout_s: float = 10.0):
        super().__init__(isolate=isolate, timeout_s=timeout_s)
        if chroma not in (420, 422, 444):
            raise InputError(f"chroma must be 420, 422 or 444, got {chroma!r}")
        self.chroma = int(chroma)
        self.preset = preset

    def _encode_array(self, arr: np.ndarray, quality: float) -> bytes:
        import pillow_heif

        heif = pillow_heif.from_bytes(mode="RGB", size=(arr.shape[1], arr.shape[0]), data=arr.tobytes())
        buf = io.BytesIO()
        kw = {"enc_params": {"preset": self.preset}} if self.preset else {}
        heif.save(buf, quality=int(round(quality)), chroma=self.chroma, **kw)
        return buf.getvalue()
