"""Video files in and out, through the static ffmpeg bundled with ``imageio-ffmpeg``.

ffmpeg runs as a child process, so a damaged file ends in a :class:`DataError`, never a crash of
the caller. Frames are ``[T, 3, H, W]`` float32 in [0, 1] (RGB).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from semcom.errors import InputError
from semcom.utils import check_image

from ._common import DataError


def _ffmpeg():
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DataError("video I/O needs the imageio-ffmpeg package (a semcom dependency): re-run scripts/setup.sh") from exc
    return imageio_ffmpeg


def video_info(path: str | os.PathLike) -> dict:
    """``{"fps", "width", "height", "duration_s"}`` of a video file, read from its header.

    Raises :class:`DataError` when the file is missing or unreadable.
    """
    ff = _ffmpeg()
    if not Path(path).is_file():
        raise DataError(f"video file {path} does not exist")
    gen = ff.read_frames(str(path))
    try:
        meta = next(gen)
    except (RuntimeError, OSError, StopIteration, ValueError) as exc:
        raise DataError(f"cannot read video {path}: {exc}") from None
    finally:
        gen.close()
    w, h = meta.get("size", (0, 0))
    return {"fps": float(meta.get("fps") or 0.0), "width": int(w), "height": int(h), "duration_s": float(meta.get("duration") or 0.0)}


def read_video(path: str | os.PathLike, max_frames: int | None = None) -> torch.Tensor:
    """Decode a video file (any format ffmpeg reads) to frames ``[T, 3, H, W]`` float32 in [0, 1].

    Args:
        path: the file.
        max_frames: stop after this many frames (default: all; mind the memory: a 1080p frame
            is 25 MB as float32).

    Raises:
        DataError: missing, damaged or undecodable file, or no frame. InputError: bad max_frames.

    Example:
        >>> frames = read_video("clip.mp4", max_frames=30)  # doctest: +SKIP
        >>> frames.shape  # doctest: +SKIP
        torch.Size([30, 3, 720, 1280])
    """
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, (int, np.integer)) or max_frames < 1):
        raise InputError(f"max_frames must be a positive int or None, got {max_frames!r}")
    ff = _ffmpeg()
    if not Path(path).is_file():
        raise DataError(f"video file {path} does not exist")
    frames = []
    gen = ff.read_frames(str(path), pix_fmt="rgb24")
    try:
        meta = next(gen)
        w, h = meta["size"]
        if w * h <= 0:
            raise DataError(f"video {path} announces an empty frame size {w}x{h}")
        for raw in gen:
            if len(raw) != w * h * 3:
                raise DataError(f"video {path}: frame of {len(raw)} bytes, expected {w * h * 3}")
            frames.append(np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3))
            if max_frames is not None and len(frames) >= max_frames:
                break
    except DataError:
        raise
    except (RuntimeError, OSError, StopIteration, ValueError, KeyError) as exc:
        raise DataError(f"cannot decode video {path}: {exc}") from None
    finally:
        gen.close()
    if not frames:
        raise DataError(f"video {path} holds no decodable frame")
    arr = np.stack(frames).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.divide(arr, 255.0, dtype=np.float32))


def write_video(
    frames: torch.Tensor,
    path: str | os.PathLike,
    fps: float,
    codec: str = "libx264",
    crf: int | None = 18,
    bitrate: str | None = None,
) -> Path:
    """Encode frames ``[T, 3, H, W]`` float in [0, 1] to a video file (container from the suffix).

    Args:
        frames: ``[T, 3, H, W]`` float in [0, 1] (``[3, H, W]`` is one frame).
        path: output file, e.g. ``out.mp4`` or ``out.mkv``.
        fps: frames per second (> 0).
        codec: an ffmpeg encoder: ``"libx264"`` (default), ``"libx265"``, ``"libvpx-vp9"``,
            ``"ffv1"`` (lossless, ``.mkv``) ...
        crf: constant rate factor (x264/x265/vp9 quality; lower is better), ignored when
            ``bitrate`` is given or the codec has none.
        bitrate: target bitrate such as ``"500k"`` instead of ``crf``.

    Frames are written 4:2:0 (``yuv420p``) except with ``ffv1`` (RGB, lossless); 4:2:0 needs even
    ``H`` and ``W``. Returns the path. Raises InputError on bad frames, DataError if ffmpeg fails.

    Example:
        >>> import torch
        >>> x = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> p = write_video(x, "clip.mp4", fps=10)  # doctest: +SKIP
        >>> read_video(p).shape  # doctest: +SKIP
        torch.Size([5, 3, 32, 32])
    """
    frames = check_image(frames, "frames", batch="T")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not np.isfinite(fps) or fps <= 0:
        raise InputError(f"fps must be a positive number, got {fps!r}")
    t, _, h, w = frames.shape
    lossless_rgb = codec == "ffv1"
    pix_fmt_out = "bgr0" if lossless_rgb else "yuv420p"
    if not lossless_rgb and (h % 2 or w % 2):
        raise InputError(f"4:2:0 video needs even sizes, got {h}x{w} (crop, or use codec='ffv1')")
    out_params: list[str] = []
    if bitrate is None and crf is not None and codec in ("libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1"):
        out_params += ["-crf", str(int(crf))]
        if codec == "libvpx-vp9":
            out_params += ["-b:v", "0"]
    if codec == "libx265":
        out_params += ["-x265-params", "log-level=error"]
    arr = np.clip(np.rint(frames.detach().to("cpu", torch.float32).numpy().astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    arr = np.ascontiguousarray(arr.transpose(0, 2, 3, 1))
    ff = _ffmpeg()
    path = Path(path)
    gen = ff.write_frames(
        str(path), (w, h), pix_fmt_in="rgb24", pix_fmt_out=pix_fmt_out, fps=float(fps), quality=None,
        bitrate=bitrate, codec=codec, macro_block_size=1, ffmpeg_log_level="error", output_params=out_params,
    )
    try:
        gen.send(None)
        for i in range(t):
            gen.send(arr[i])
        gen.close()
    except (RuntimeError, OSError, BrokenPipeError, ValueError) as exc:
        gen.close()
        raise DataError(f"ffmpeg could not write {path} with codec {codec}: {exc}") from None
    if not path.is_file() or path.stat().st_size == 0:
        raise DataError(f"ffmpeg wrote no file at {path}")
    return path
