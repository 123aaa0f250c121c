"""The classical codec interface: encode to bytes (at a quality, a bpp or a bit budget), decode robustly.

Conventions:

* Images are float tensors in [0, 1], ``[3, H, W]`` or ``[1, 3, H, W]`` (one image per stream; a
  batch of more than one raises :class:`~semcom.errors.InputError`). They are quantised to 8 bits
  (``round(255 x)``) before encoding.
* A stream is the complete file the codec writes, container and headers included: that is what
  crosses the channel, so ``bpp = 8 * len(stream) / (H * W)`` counts every bit sent.
* ``decode`` returns ``[1, 3, H, W]`` float32 in [0, 1] or raises :class:`~semcom.errors.CodecError`;
  ``decode_robust`` never raises on a bad stream and reports what happened in a :class:`DecodeOutcome`.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import ClassVar, Literal

import numpy as np
import torch

from semcom.errors import CodecError, InputError
from semcom.utils import check_image

from .guard import DecodeGuard, decode_inprocess, default_guard


class CodecBudgetError(CodecError):
    """Even the lowest quality of a codec does not fit the bit budget.

    Attributes:
        min_bits: size in bits of the smallest stream the codec produced for this image.
        max_bits: the budget that was asked for.
    """

    def __init__(self, message: str, min_bits: int, max_bits: int):
        super().__init__(message)
        self.min_bits = int(min_bits)
        self.max_bits = int(max_bits)


@dataclasses.dataclass
class DecodeOutcome:
    """What :meth:`Codec.decode_robust` made of a (possibly damaged) stream.

    Attributes:
        image: ``[1, 3, H, W]`` float32 in [0, 1]; the fallback image when ``status == "failed"``.
        status: ``"ok"`` (clean decode of a stream not known to be damaged), ``"recovered"`` (the
            decoder produced pixels from a stream known to be damaged, or reported truncation but
            still gave pixels) or ``"failed"`` (nothing usable: the fallback was returned).
        error: the decoder's message when status is not ``"ok"`` (empty otherwise).
    """

    image: torch.Tensor
    status: Literal["ok", "recovered", "failed"]
    error: str = ""


def image_to_array(image: torch.Tensor) -> np.ndarray:
    """``[3, H, W]`` or ``[1, 3, H, W]`` float in [0, 1] -> RGB uint8 ``[H, W, 3]`` (rounded)."""
    x = check_image(image)
    if x.shape[0] != 1:
        raise InputError(f"a codec encodes one image at a time, got a batch of {x.shape[0]}")
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise InputError(f"image is empty: {tuple(x.shape)}")
    chw = x[0].detach().to("cpu", torch.float32).numpy()
    arr = np.clip(np.rint(chw.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr.transpose(1, 2, 0))


def array_to_image(arr: np.ndarray) -> torch.Tensor:
    """RGB uint8 ``[H, W, 3]`` -> ``[1, 3, H, W]`` float32 in [0, 1]."""
    chw = np.ascontiguousarray(np.asarray(arr, dtype=np.uint8).transpose(2, 0, 1))
    return torch.from_numpy(np.divide(chw, 255.0, dtype=np.float32)).unsqueeze(0)


class Codec(ABC):
    """A classical image codec: ``encode`` to a self-contained byte stream, ``decode`` it back.

    Subclasses set ``name``, ``fmt`` (the decoder format), ``quality_range`` (inclusive integer
    range, higher is better) and ``default_quality``, and implement :meth:`_encode_array`.
    Rate control (:meth:`encode_to_budget`) bisects the integer quality for the highest one whose
    stream fits; codecs with a native rate control override it.

    Args:
        isolate: decode untrusted streams in the guarded worker process (default). ``False``
            decodes in-process: faster, but a native decoder crash on a corrupted stream would
            take the caller down; use it only for streams known to be intact.
        timeout_s: decode time limit of the guarded worker, in seconds (only with ``isolate``).

    Example:
        >>> import torch
        >>> from semcom.codecs import get_codec
        >>> codec = get_codec("jpeg")
        >>> x = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(0))
        >>> stream = codec.encode_to_budget(x, max_bits=8000)
        >>> 8 * len(stream) <= 8000
        True
        >>> codec.decode(stream).shape
        torch.Size([1, 3, 32, 48])
    """

    name: ClassVar[str] = ""
    fmt: ClassVar[str] = ""
    quality_range: ClassVar[tuple[int, int]] = (0, 100)
    default_quality: ClassVar[int] = 75

    def __init__(self, *, isolate: bool = True, timeout_s: float = 10.0):
        self.isolate = bool(isolate)
        self._guard: DecodeGuard | None = None
        if isolate and timeout_s != 10.0:
            self._guard = DecodeGuard(timeout_s=timeout_s)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, isolate={self.isolate})"

    # -- encoding ----------------------------------------------------------------------------
    @abstractmethod
    def _encode_array(self, arr: np.ndarray, quality: float) -> bytes:
        """Encode RGB uint8 ``[H, W, 3]`` at ``quality``; return the complete stream."""

    def _check_quality(self, quality) -> float:
        lo, hi = self.quality_range
        if isinstance(quality, bool) or not isinstance(quality, (int, float, np.integer, np.floating)):
            raise InputError(f"{self.name}: quality must be a number, got {type(quality).__name__}")
        if not (lo <= quality <= hi):
            raise InputError(f"{self.name}: quality must lie in [{lo}, {hi}], got {quality}")
        return quality

    def _encode_safe(self, arr: np.ndarray, quality: float) -> bytes:
        try:
            return bytes(self._encode_array(arr, quality))
        except CodecError:
            raise
        except Exception as exc:  # noqa: BLE001 - a library failure becomes a typed error
            raise CodecError(f"{self.name} encoder failed on a {arr.shape[1]}x{arr.shape[0]} image: {exc}") from exc

    def encode(self, image: torch.Tensor, bpp: float | None = None, quality: float | None = None) -> bytes:
        """Encode one image to a byte stream.

        Args:
            image: ``[3, H, W]`` or ``[1, 3, H, W]`` float in [0, 1].
            bpp: target bits per pixel (all bits of the stream, headers included); the stream is
                the highest quality one with ``8 * len(stream) <= bpp * H * W``.
            quality: codec quality in ``quality_range`` (higher is better). Give at most one of
                ``bpp`` and ``quality``; with neither, ``default_quality`` is used.

        Returns:
            The complete stream (bytes).

        Raises:
            InputError: bad image or arguments. CodecBudgetError: the budget is below the
            smallest stream. CodecError: the encoder failed.
        """
        if bpp is not None and quality is not None:
            raise InputError("give either bpp or quality, not both")
        arr = image_to_array(image)
        if bpp is not None:
            if isinstance(bpp, bool) or not isinstance(bpp, (int, float, np.integer, np.floating)) or not np.isfinite(bpp) or bpp <= 0:
                raise InputError(f"bpp must be a positive finite number, got {bpp!r}")
            return self._encode_budget_array(arr, int(np.floor(float(bpp) * arr.shape[0] * arr.shape[1])))
        q = self.default_quality if quality is None else self._check_quality(quality)
        return self._encode_safe(arr, q)

    def encode_to_budget(self, image: torch.Tensor, max_bits: int) -> bytes:
        """The highest-quality stream whose size in bits ``8 * len(stream)`` is at most ``max_bits``.

        Raises :class:`CodecBudgetError` (with ``min_bits``) when even the lowest quality is larger.
        """
        if isinstance(max_bits, bool) or not isinstance(max_bits, (int, np.integer)) or max_bits <= 0:
            raise InputError(f"max_bits must be a positive int, got {max_bits!r}")
        return self._encode_budget_array(image_to_array(image), int(max_bits))

    def _encode_budget_array(self, arr: np.ndarray, max_bits: int) -> bytes:
        """Search the integer quality for the largest one whose stream fits ``max_bits``.

        A bracketed search: interpolation of log(size) between the bracket ends, with a bisection
        step whenever an interpolation step did not halve the bracket (so never more steps than
        twice a plain bisection, typically fewer: about 4 encodes instead of 7 for 0..100).

        Stream size grows with quality for these codecs, but not always strictly; only streams
        measured to fit are ever returned, so the budget holds regardless.
        """
        lo, hi = (int(np.ceil(self.quality_range[0])), int(np.floor(self.quality_range[1])))
        cache: dict[int, bytes] = {}

        def size_at(q: int) -> int:
            if q not in cache:
                cache[q] = self._encode_safe(arr, q)
            return 8 * len(cache[q])

        if size_at(lo) > max_bits:
            raise CodecBudgetError(
                f"{self.name}: budget of {max_bits} bits is below the smallest stream "
                f"({size_at(lo)} bits at quality {lo}) for a {arr.shape[1]}x{arr.shape[0]} image",
                min_bits=size_at(lo),
                max_bits=max_bits,
            )
        # Invariant: size(good) fits, size(bad) does not; bad = hi + 1 stands for "not yet known"
        # (the highest qualities are the slowest to encode, so they are tried only when needed).
        good, bad = lo, hi + 1
        interpolate = True
        while bad - good > 1:
            width = bad - good
            mid = (good + bad) // 2
            if interpolate and bad <= hi and size_at(bad) > size_at(good) > 0:
                sg, sb = size_at(good), size_at(bad)
                # Size grows roughly exponentially with quality: interpolate log(size).
                frac = (np.log(max_bits) - np.log(sg)) / (np.log(sb) - np.log(sg))
                mid = min(max(good + int(round(frac * width)), good + 1), bad - 1)
            if size_at(mid) <= max_bits:
                good = mid
            else:
                bad = mid
            # Safeguard: fall back to a bisection step whenever interpolation did not halve the bracket.
            interpolate = (bad - good) <= width // 2
        return cache[good]

    # -- decoding ----------------------------------------------------------------------------
    def _decode_array(self, data: bytes, allow_truncated: bool) -> tuple[np.ndarray, bool]:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InputError(f"data must be bytes, got {type(data).__name__}")
        if self.isolate:
            guard = self._guard or default_guard()
            return guard.decode(bytes(data), self.fmt, allow_truncated=allow_truncated)
        return decode_inprocess(bytes(data), self.fmt, allow_truncated=allow_truncated)

    def decode(self, data: bytes) -> torch.Tensor:
        """Decode a stream to ``[1, 3, H, W]`` float32 in [0, 1].

        Raises :class:`CodecError` on a corrupt, truncated or oversized stream (never crashes or
        hangs when ``isolate`` is on).
        """
        arr, _ = self._decode_array(data, allow_truncated=False)
        return array_to_image(arr)

    def decode_robust(
        self,
        data: bytes,
        shape: tuple[int, int] | None = None,
        fallback: float | torch.Tensor = 0.5,
        damaged: bool = False,
    ) -> DecodeOutcome:
        """Decode whatever can be decoded; never raises on a bad stream.

        Args:
            data: the received stream (possibly damaged, truncated or empty).
            shape: expected ``(H, W)``. A decoded image of another size is treated as failed (a
                size change means the header itself was damaged, so its pixels are not the
                image that was sent). Required unless ``fallback`` is a tensor.
            fallback: what a failed decode returns: a grey level in [0, 1] (default 0.5, mid
                grey, of size ``shape``) or a ``[1, 3, H, W]`` / ``[3, H, W]`` image (e.g. the
                previous frame).
            damaged: the caller knows the stream is damaged (e.g. a code-block CRC failed); a
                successful decode is then reported as ``"recovered"`` instead of ``"ok"``.

        Returns:
            :class:`DecodeOutcome` with status ``"ok"``, ``"recovered"`` (also when the decoder
            reported truncation but gave pixels) or ``"failed"`` (image = fallback).

        Example:
            >>> import torch
            >>> from semcom.codecs import get_codec
            >>> out = get_codec("jpeg").decode_robust(b"\\xff\\xd8garbage", shape=(16, 16))
            >>> out.status, tuple(out.image.shape), round(float(out.image.mean()), 2)
            ('failed', (1, 3, 16, 16), 0.5)
        """
        if isinstance(fallback, torch.Tensor):
            fb = check_image(fallback, "fallback").to(torch.float32)
            if fb.shape[0] != 1:
                raise InputError(f"fallback must be one image, got a batch of {fb.shape[0]}")
            if shape is not None and tuple(fb.shape[2:]) != tuple(shape):
                raise InputError(f"fallback is {tuple(fb.shape[2:])} but shape is {tuple(shape)}")
            shape = (int(fb.shape[2]), int(fb.shape[3]))
        else:
            if shape is None:
                raise InputError("decode_robust needs shape=(H, W) unless fallback is an image tensor")
            if isinstance(fallback, bool) or not isinstance(fallback, (int, float)) or not 0.0 <= fallback <= 1.0:
                raise InputError(f"fallback grey level must lie in [0, 1], got {fallback!r}")
            if len(shape) != 2 or any(int(s) < 1 for s in shape):
                raise InputError(f"shape must be (H, W) with positive sizes, got {shape!r}")
            shape = (int(shape[0]), int(shape[1]))
            fb = torch.full((1, 3, *shape), float(fallback), dtype=torch.float32)
        try:
            arr, truncated = self._decode_array(data, allow_truncated=True)
        except CodecError as exc:
            return DecodeOutcome(fb.clone(), "failed", str(exc))
        if arr.shape[:2] != shape:
            return DecodeOutcome(
                fb.clone(), "failed", f"decoded size {arr.shape[0]}x{arr.shape[1]} differs from expected {shape[0]}x{shape[1]}"
            )
        image = array_to_image(arr)
        if truncated:
            return DecodeOutcome(image, "recovered", "decoder reported a truncated or broken stream")
        if damaged:
            return DecodeOutcome(image, "recovered", "stream flagged as damaged by the caller")
        return DecodeOutcome(image, "ok", "")
