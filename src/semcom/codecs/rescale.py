"""Resolution changes around a codec: send an image at a lower resolution when its budget is small.

At a few hundredths of a bit per pixel even a codec's lowest quality may not fit the budget, and
just above that, the lowest qualities are worse than the same bits spent on fewer pixels. A sender
that may lower the resolution by a power-of-two ``factor`` encodes the image at
``ceil(H / factor) x ceil(W / factor)``; the receiver decodes that and brings it back to ``H x W``.

Choices (the same at both ends, so the receiver needs only the factor):

* down: bicubic with antialiasing (torch's ``interpolate(..., antialias=True)``), which low-pass
  filters over the footprint of the reduction, as an image pyramid does;
* up: bicubic without antialiasing (it only interpolates);
* both clamp to [0, 1]; ``factor == 1`` returns the image itself, so a full-resolution stream is the
  one the codec would have written without this module.

Example:
    >>> import torch
    >>> x = torch.rand(1, 3, 33, 48, generator=torch.Generator().manual_seed(0))
    >>> small = downscale(x, 4)
    >>> tuple(small.shape), scaled_shape(33, 48, 4)
    ((1, 3, 9, 12), (9, 12))
    >>> tuple(upscale(small, (33, 48)).shape)
    (1, 3, 33, 48)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from semcom.errors import InputError

#: The factors a sender may use (powers of two; the separation baseline signals ``log2(factor)`` in 2 bits).
FACTORS = (1, 2, 4, 8)


def check_factor(factor) -> int:
    """``factor`` as an int of :data:`FACTORS`, else :class:`InputError`."""
    if isinstance(factor, bool) or not isinstance(factor, int) or factor not in FACTORS:
        raise InputError(f"a resolution factor must be one of {FACTORS}, got {factor!r}")
    return factor


def scaled_shape(height: int, width: int, factor: int) -> tuple[int, int]:
    """The ``(H, W)`` an ``height x width`` image is sent at with ``factor``: ``ceil`` of each side."""
    f = check_factor(factor)
    return -(-int(height) // f), -(-int(width) // f)


def downscale(image: torch.Tensor, factor: int) -> torch.Tensor:
    """``[1, 3, H, W]`` -> ``[1, 3, ceil(H/f), ceil(W/f)]`` (antialiased bicubic, clamped; ``f = 1``: ``image``)."""
    if check_factor(factor) == 1:
        return image
    size = scaled_shape(image.shape[-2], image.shape[-1], factor)
    return F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def upscale(image: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """``[1, 3, h, w]`` -> ``[1, 3, *shape]`` (bicubic, clamped); the image itself when already that size."""
    if tuple(image.shape[-2:]) == tuple(shape):
        return image
    return F.interpolate(image, size=tuple(shape), mode="bicubic", align_corners=False).clamp(0, 1)
