"""Adaptive binary-output arithmetic coding of small-alphabet symbols (integer, 32-bit registers).

Used by the LSCI base model to send its centre indices as real bytes (bpp counted from them).
The coder is the classic integer arithmetic coder (Witten, Neal, Cleary, CACM 1987): the interval
``[low, high]`` narrows by the cumulative frequency of each symbol, matching leading bits are
emitted, and near-half underflow is resolved with pending bits. Frequencies are adaptive, one
table per context (for LSCI: per latent channel), starting from 1 per symbol, incremented by
:data:`INCREMENT` and halved when the total exceeds :data:`MAX_TOTAL`; encoder and decoder update
them identically, so no table is sent.

Stream layout of :func:`encode_indices` (all integers big-endian)::

    magic 'L' (1) | version (1) | tag (2) | levels (1) | channels (2) | height (2) | width (2)
    | CRC-32 of the index bytes (4) | arithmetic-coded body

The header is 15 bytes; its ``tag`` identifies the model the stream was made for. Decoding never
trusts the stream: a bad header, a size over the limit, a model mismatch or a CRC mismatch
raise :class:`semcom.errors.CodecError`; the body is decoded for exactly the symbol count of the
header (no loop depends on the body), so garbage cannot hang the decoder.

Example:
    >>> import torch
    >>> idx = torch.randint(0, 8, (4, 3, 5), generator=torch.Generator().manual_seed(0))
    >>> data = encode_indices(idx, 8, (48, 80), factor=16)
    >>> got, size = decode_indices(data, 8, factor=16)
    >>> bool((got == idx).all()), size
    (True, (48, 80))
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import Iterable, Sequence

import numpy as np
import torch

from semcom.errors import CodecError, InputError

_BITS = 32
_FULL = (1 << _BITS) - 1
_HALF = 1 << (_BITS - 1)
_QUARTER = 1 << (_BITS - 2)
INCREMENT = 24
MAX_TOTAL = 1 << 16
_HEADER = struct.Struct(">cBHBHHHI")
MAGIC, VERSION = b"L", 1


class AdaptiveModel:
    """Adaptive frequency table of ``levels`` symbols (see the module docstring)."""

    def __init__(self, levels: int) -> None:
        self.freq = [1] * levels
        self.total = levels

    def interval(self, s: int) -> tuple[int, int]:
        lo = sum(self.freq[:s])
        return lo, lo + self.freq[s]

    def find(self, target: int) -> tuple[int, int, int]:
        lo = 0
        for s, f in enumerate(self.freq):
            if target < lo + f:
                return s, lo, lo + f
            lo += f
        raise CodecError("arithmetic decoder out of range (corrupt stream)")

    def update(self, s: int) -> None:
        self.freq[s] += INCREMENT
        self.total += INCREMENT
        if self.total > MAX_TOTAL:
            self.freq = [(f + 1) // 2 for f in self.freq]
            self.total = sum(self.freq)


def encode_symbols(symbols: Sequence[int], contexts: Sequence[int], levels: int, n_contexts: int) -> bytes:
    """Arithmetic-code ``symbols`` (each in ``[0, levels)``) with one adaptive model per context."""
    models = [AdaptiveModel(levels) for _ in range(n_contexts)]
    low, high, pending = 0, _FULL, 0
    out: list[int] = []

    def emit(bit: int) -> None:
        nonlocal pending
        out.append(bit)
        out.extend([1 - bit] * pending)
        pending = 0

    for s, c in zip(symbols, contexts):
        m = models[c]
        lo, hi = m.interval(s)
        rng = high - low + 1
        high = low + rng * hi // m.total - 1
        low = low + rng * lo // m.total
        m.update(s)
        while True:
            if high < _HALF:
                emit(0)
            elif low >= _HALF:
                emit(1)
                low, high = low - _HALF, high - _HALF
            elif low >= _QUARTER and high < 3 * _QUARTER:
                pending += 1
                low, high = low - _QUARTER, high - _QUARTER
            else:
                break
            low, high = 2 * low, 2 * high + 1
    pending += 1
    emit(0 if low < _QUARTER else 1)
    return np.packbits(np.array(out, dtype=np.uint8)).tobytes() if out else b""


def decode_symbols(body: bytes, count: int, contexts: Sequence[int], levels: int, n_contexts: int) -> list[int]:
    """Inverse of :func:`encode_symbols` for ``count`` symbols (bits past the end read as 0)."""
    bits = np.unpackbits(np.frombuffer(body, dtype=np.uint8)).tolist()
    nbits = len(bits)
    pos = 0

    def nxt() -> int:
        nonlocal pos
        b = bits[pos] if pos < nbits else 0
        pos += 1
        return b

    value = 0
    for _ in range(_BITS):
        value = (value << 1) | nxt()
    models = [AdaptiveModel(levels) for _ in range(n_contexts)]
    low, high, out = 0, _FULL, []
    for i in range(count):
        m = models[contexts[i]]
        rng = high - low + 1
        target = ((value - low + 1) * m.total - 1) // rng
        s, lo, hi = m.find(target)
        high = low + rng * hi // m.total - 1
        low = low + rng * lo // m.total
        m.update(s)
        out.append(s)
        while True:
            if high < _HALF:
                pass
            elif low >= _HALF:
                low, high, value = low - _HALF, high - _HALF, value - _HALF
            elif low >= _QUARTER and high < 3 * _QUARTER:
                low, high, value = low - _QUARTER, high - _QUARTER, value - _QUARTER
            else:
                break
            low, high, value = 2 * low, 2 * high + 1, (2 * value) | nxt()
    return out


# --------------------------------------------------------------------------- index maps
def _check_indices(idx: torch.Tensor, levels: int) -> np.ndarray:
    if not isinstance(idx, torch.Tensor) or idx.dim() != 3 or idx.is_floating_point():
        raise InputError(f"indices must be an integer tensor [C, h, w], got {getattr(idx, 'shape', type(idx))}")
    if not 2 <= levels <= 256:
        raise InputError(f"levels must be in [2, 256], got {levels}")
    a = idx.detach().cpu().numpy().astype(np.int64)
    if a.size and (a.min() < 0 or a.max() >= levels):
        raise InputError(f"indices must lie in [0, {levels})")
    if max(a.shape) > 0xFFFF:
        raise InputError("index map too large for the 16-bit header fields")
    return a


def encode_indices(indices: torch.Tensor, levels: int, image_size: Iterable[int], *, tag: int = 0,
                   factor: int | None = None) -> bytes:
    """Header + arithmetic-coded ``[C, h, w]`` centre indices (context = channel), see module doc.

    ``image_size`` (H, W) is stored so the receiver can crop; ``factor`` (when given) is checked:
    ``h = ceil(H / factor)``.
    """
    a = _check_indices(indices, levels)
    c, h, w = a.shape
    hh, ww = (int(v) for v in image_size)
    if not (0 < hh <= 0xFFFF and 0 < ww <= 0xFFFF):
        raise InputError(f"image size must be in [1, 65535], got {(hh, ww)}")
    if factor is not None and (h, w) != (-(-hh // factor), -(-ww // factor)):
        raise InputError(f"latent {h}x{w} does not match a {hh}x{ww} image at factor {factor}")
    raw = a.astype(np.uint8).tobytes()
    ctx = np.repeat(np.arange(c), h * w).tolist()
    body = encode_symbols(a.reshape(-1).tolist(), ctx, levels, c)
    head = _HEADER.pack(MAGIC, VERSION, tag & 0xFFFF, levels - 1, c, hh, ww, zlib.crc32(raw))
    return head + body


def decode_indices(data: bytes, levels: int, *, factor: int, tag: int = 0,
                   latent_channels: int | None = None, max_pixels: int = 1 << 26) -> tuple[torch.Tensor, tuple[int, int]]:
    """Inverse of :func:`encode_indices`: (indices ``[C, h, w]`` int64, image size ``(H, W)``).

    ``factor`` (the model's downsampling) gives the latent size ``ceil(H / factor)`` from the
    image size in the header. Raises CodecError on any inconsistency (see the module docstring).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CodecError(f"bitstream must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < _HEADER.size:
        raise CodecError(f"bitstream of {len(data)} bytes is shorter than its {_HEADER.size}-byte header")
    magic, ver, t, lv, c, hh, ww, crc = _HEADER.unpack_from(data)
    if magic != MAGIC or ver != VERSION:
        raise CodecError("not an LSCI index bitstream (bad magic or version)")
    if t != tag & 0xFFFF:
        raise CodecError("bitstream was made by another model (tag mismatch)")
    if lv + 1 != levels:
        raise CodecError(f"bitstream uses {lv + 1} centres, this model {levels}")
    if latent_channels is not None and c != latent_channels:
        raise CodecError(f"bitstream has {c} latent channels, this model {latent_channels}")
    if c < 1 or hh < 1 or ww < 1 or hh * ww > max_pixels:
        raise CodecError(f"implausible sizes in header: C={c}, {hh}x{ww}")
    h, w = -(-hh // factor), -(-ww // factor)
    n = c * h * w
    ctx = np.repeat(np.arange(c), h * w).tolist()
    sym = decode_symbols(data[_HEADER.size:], n, ctx, levels, c)
    a = np.array(sym, dtype=np.uint8).reshape(c, h, w)
    if zlib.crc32(a.tobytes()) != crc:
        raise CodecError("bitstream corrupt (CRC-32 of the decoded indices does not match)")
    return torch.from_numpy(a.astype(np.int64)), (hh, ww)


def empirical_entropy_bits(indices: torch.Tensor, levels: int) -> float:
    """Order-0 entropy per channel times the count: what an ideal static coder would spend."""
    a = _check_indices(indices, levels)
    total = 0.0
    for ch in a.reshape(a.shape[0], -1):
        p = np.bincount(ch, minlength=levels) / max(ch.size, 1)
        total += -ch.size * float(sum(q * math.log2(q) for q in p if q > 0))
    return total


__all__ = ["encode_symbols", "decode_symbols", "encode_indices", "decode_indices", "empirical_entropy_bits",
           "AdaptiveModel"]
