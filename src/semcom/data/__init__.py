"""semcom.data: datasets that work offline.

* :func:`test_images`: the bundled colour test photos (skimage, sklearn, matplotlib), named, in a
  fixed order, with SHA-256 checksums for provenance; ``subset="tiny"`` for fast runs.
* :class:`TrainingCrops`: random crops of the high-resolution photographs of Debian's
  ``mate-backgrounds`` and ``plasma-workspace-wallpapers`` (:func:`training_photo_paths`).
* :func:`fashion_mnist`: Fashion-MNIST from Debian's ``dataset-fashion-mnist``.
* :class:`ImageFolder`, :func:`read_image`: the user's own images.
* :func:`read_video`, :func:`write_video`, :func:`video_info`: video files through ffmpeg.

Images are float32 in [0, 1]: ``[1, 3, H, W]`` for single photos, ``[3, H, W]`` for Dataset items,
``[T, 3, H, W]`` for video. Optional data that is not installed raises
:class:`DataUnavailableError` naming the set-up step.
"""

from ._common import DataError, DataUnavailableError
from .faces import FaceLandmarker, NoFaceError, detect_video
from .fashion import FASHION_MNIST_CLASSES, fashion_mnist, fashion_mnist_dir, read_idx
from .folder import IMAGE_EXTENSIONS, ImageFolder, read_image
from .photos import (
    TEST_IMAGE_NAMES,
    TINY_NAMES,
    NamedImage,
    center_crop,
    checksums,
    pixels_sha256,
    test_images,
)
from .training import PLASMA_PHOTOS, TRAINING_PACKAGES, TrainingCrops, training_photo_paths
from .talking_head import load_video, talking_head_video
from .video import read_video, video_info, write_video

__all__ = [
    "DataError",
    "DataUnavailableError",
    "FASHION_MNIST_CLASSES",
    "IMAGE_EXTENSIONS",
    "PLASMA_PHOTOS",
    "TEST_IMAGE_NAMES",
    "TINY_NAMES",
    "TRAINING_PACKAGES",
    "FaceLandmarker",
    "ImageFolder",
    "NoFaceError",
    "NamedImage",
    "TrainingCrops",
    "center_crop",
    "checksums",
    "detect_video",
    "fashion_mnist",
    "fashion_mnist_dir",
    "load_video",
    "pixels_sha256",
    "read_idx",
    "read_image",
    "read_video",
    "talking_head_video",
    "test_images",
    "training_photo_paths",
    "video_info",
    "write_video",
]
