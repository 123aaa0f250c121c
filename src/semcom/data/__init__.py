"""semcom.data: datasets that work offline.

* :func:`test_images`: the bundled colour test photos (skimage, sklearn, matplotlib), named, in a
  fixed order, with SHA-256 checksums for provenance; ``subset="tiny"`` for fast runs.
"""

from .photos import TEST_IMAGE_NAMES, TINY_NAMES, NamedImage, center_crop, checksums, pixels_sha256, test_images

__all__ = [
    "TEST_IMAGE_NAMES",
    "TINY_NAMES",
    "NamedImage",
    "center_crop",
    "checksums",
    "pixels_sha256",
    "test_images",
]
