"""Native image decoding, usable in-process or as a persistent worker process.

This module deliberately imports nothing from semcom (and not torch): the decode guard runs it as a
standalone script (``python _native.py``) in a child process, so that a native decoder that
segfaults, aborts, loops or exhausts memory on a corrupted stream takes down only the child.

Wire protocol of the worker (all integers little-endian):

* request:  ``u32 header_len`` + JSON header ``{"fmt", "max_pixels", "allow_truncated"}`` +
  ``u64 data_len`` + stream bytes.
* response: ``u32 header_len`` + JSON header ``{"ok", "error", "h", "w", "truncated"}`` and, when
  ``ok``, ``h * w * 3`` bytes of RGB uint8 pixels (row-major, channel-last).
"""

from __future__ import annotations

import io
import json
import os
import struct
import sys
import warnings

import numpy as np

#: Formats this module can decode, by the name the codecs use.
FORMATS = ("JPEG", "JPEG2000", "WEBP", "AVIF", "HEIF")


class NativeDecodeError(Exception):
    """The stream could not be decoded (corrupt, truncated, unsupported, or too large)."""


def _load_pil(data: bytes, fmt: str, max_pixels: int, allow_truncated: bool) -> tuple[np.ndarray, bool]:
    from PIL import Image, ImageFile

    Image.MAX_IMAGE_PIXELS = None  # our own bound below, checked from the header before decoding
    formats = [fmt]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            im = Image.open(io.BytesIO(data), formats=formats)
        except Exception as exc:  # noqa: BLE001 - any parser failure is a decode failure
            raise NativeDecodeError(f"cannot parse {fmt} header: {exc}") from None
        w, h = im.size
        if w <= 0 or h <= 0 or w * h > max_pixels:
            raise NativeDecodeError(f"refusing to decode a {w}x{h} image (limit {max_pixels} pixels)")
        truncated = False
        try:
            im.load()
        except Exception as exc:  # noqa: BLE001
            if not allow_truncated:
                raise NativeDecodeError(f"{fmt} decode failed: {exc}") from None
            # Second attempt: let Pillow keep the pixels it decoded before the stream broke.
            old = ImageFile.LOAD_TRUNCATED_IMAGES
            ImageFile.LOAD_TRUNCATED_IMAGES = True
            try:
                im = Image.open(io.BytesIO(data), formats=formats)
                im.load()
            except Exception as exc2:  # noqa: BLE001
                raise NativeDecodeError(f"{fmt} decode failed: {exc2}") from None
            finally:
                ImageFile.LOAD_TRUNCATED_IMAGES = old
            truncated = True
        try:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
        except Exception as exc:  # noqa: BLE001
            raise NativeDecodeError(f"{fmt} colour conversion failed: {exc}") from None
    return arr, truncated


def _load_heif(data: bytes, max_pixels: int) -> tuple[np.ndarray, bool]:
    import pillow_heif

    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        w, h = heif.size
    except Exception as exc:  # noqa: BLE001
        raise NativeDecodeError(f"cannot parse HEIF container: {exc}") from None
    if w <= 0 or h <= 0 or w * h > max_pixels:
        raise NativeDecodeError(f"refusing to decode a {w}x{h} image (limit {max_pixels} pixels)")
    try:
        im = heif.to_pillow()
        arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except Exception as exc:  # noqa: BLE001
        raise NativeDecodeError(f"HEIF decode failed: {exc}") from None
    return arr, False


def decode_array(data: bytes, fmt: str, max_pixels: int, allow_truncated: bool = False) -> tuple[np.ndarray, bool]:
    """Decode ``data`` of format ``fmt`` to RGB uint8 ``[H, W, 3]``; returns ``(pixels, truncated)``.

    ``truncated`` is True when the decoder reported a broken stream but still gave pixels (only
    when ``allow_truncated``). Raises :class:`NativeDecodeError` on any failure.
    """
    if fmt not in FORMATS:
        raise NativeDecodeError(f"unknown format {fmt!r}")
    if len(data) == 0:
        raise NativeDecodeError("empty stream")
    if fmt == "HEIF":
        arr, truncated = _load_heif(data, max_pixels)
    else:
        arr, truncated = _load_pil(data, fmt, max_pixels, allow_truncated)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise NativeDecodeError(f"decoder returned pixels shaped {arr.shape}")
    return np.ascontiguousarray(arr), truncated


def _read_exact(f, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def serve(inp, out, memory_limit_bytes: int | None = None) -> None:
    """Serve decode requests from binary stream ``inp`` to ``out`` until ``inp`` closes."""
    if memory_limit_bytes:
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
        except (ImportError, ValueError, OSError):  # pragma: no cover - platform without RLIMIT_AS
            pass
    while True:
        raw = _read_exact(inp, 4)
        if raw is None:
            return
        (hlen,) = struct.unpack("<I", raw)
        header = json.loads(_read_exact(inp, hlen) or b"{}")
        (dlen,) = struct.unpack("<Q", _read_exact(inp, 8) or b"\0" * 8)
        data = _read_exact(inp, dlen) if dlen else b""
        if data is None:
            return
        pixels = b""
        try:
            arr, truncated = decode_array(
                data, header["fmt"], int(header["max_pixels"]), bool(header.get("allow_truncated", False))
            )
            reply = {"ok": True, "error": "", "h": int(arr.shape[0]), "w": int(arr.shape[1]), "truncated": truncated}
            pixels = arr.tobytes()
        except MemoryError:
            reply = {"ok": False, "error": "decoder ran out of memory", "h": 0, "w": 0, "truncated": False}
        except NativeDecodeError as exc:
            reply = {"ok": False, "error": str(exc), "h": 0, "w": 0, "truncated": False}
        except Exception as exc:  # noqa: BLE001 - report, never die on a Python-level error
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "h": 0, "w": 0, "truncated": False}
        blob = json.dumps(reply).encode()
        out.write(struct.pack("<I", len(blob)) + blob + pixels)
        out.flush()


def _main() -> None:
    # Keep the protocol on a private copy of stdout; anything a native library prints to fd 1
    # goes to stderr instead of corrupting the replies.
    proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    serve(sys.stdin.buffer, proto_out, memory_limit_bytes=limit or None)


if __name__ == "__main__":
    _main()
