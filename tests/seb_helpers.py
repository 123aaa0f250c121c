"""Shared test helpers for the seb tests: a bundled photo, a small pixel-feature KB and a codec on it."""

import functools

import torch

from semcom.data import test_images
from semcom.semantics.kb import KnowledgeBase
from semcom.semantics.seb import PixelExtractor, SebCodec, SebCodecConfig, image_to_patches


@functools.lru_cache(maxsize=None)
def photo(name="astronaut", size=128):
    (im,) = test_images([name], size=size)
    return im.image


@functools.lru_cache(maxsize=None)
def pixel_kb():
    ext = PixelExtractor(8)
    imgs = [photo(n, 256) for n in ("astronaut", "coffee")]
    fine = torch.cat([ext.encode(image_to_patches(x, 8)) for x in imgs])
    coarse = torch.cat([ext.encode(torch.nn.functional.avg_pool2d(image_to_patches(x, 16), 2)) for x in imgs])
    return KnowledgeBase.build(torch.cat([fine, coarse]), sizes=[128, 32], seed=0), ext


def codec(**cfg):
    kb, ext = pixel_kb()
    return SebCodec(kb, ext, SebCodecConfig(fine_patch=8, coarse_patch=16, **cfg))
