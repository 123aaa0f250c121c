"""User image folders and video files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from semcom.data import DataError, ImageFolder, read_image, read_video, video_info, write_video
from semcom.errors import InputError


def _save(path, arr):
    Image.fromarray(arr).save(path)


def test_image_folder_sorted_rgb_and_exact(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    g = rng.integers(0, 256, (7, 5), dtype=np.uint8)
    _save(tmp_path / "b.png", a)
    _save(tmp_path / "a.png", g)  # greyscale
    Image.fromarray(np.dstack([a, np.full((10, 12), 128, np.uint8)])).save(tmp_path / "c.png")  # RGBA
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    _save(tmp_path / "sub" / "d.png", a)
    folder = ImageFolder(tmp_path)
    assert folder.names == ["a.png", "b.png", "c.png"] and len(folder) == 3
    x = folder[1]
    assert x.shape == (3, 10, 12) and x.dtype == torch.float32
    assert np.array_equal((x * 255).round().to(torch.uint8).permute(1, 2, 0).numpy(), a)
    grey = folder[0]
    assert grey.shape == (3, 7, 5) and torch.equal(grey[0], grey[2])
    assert torch.equal(folder[2], x)  # alpha dropped
    assert ImageFolder(tmp_path, recursive=True).names == ["a.png", "b.png", "c.png", "sub/d.png"]
    cs = folder.checksums()
    assert cs["b.png"] == cs["c.png"] != cs["a.png"]
    assert ImageFolder(tmp_path, transform=lambda t: t[:, :4, :4])[1].shape == (3, 4, 4)


def test_image_folder_errors(tmp_path):
    with pytest.raises(InputError):
        ImageFolder(tmp_path / "nope")
    with pytest.raises(InputError):
        ImageFolder(tmp_path)  # empty
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    folder = ImageFolder(tmp_path)
    with pytest.raises(DataError, match="broken.jpg"):
        folder[0]
    with pytest.raises(DataError):
        read_image(tmp_path / "missing.png")


def test_video_round_trip_lossless_and_lossy(tmp_path):
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 3, 48, 64, generator=g)
    frames = ((base + torch.linspace(0, 0.3, 6)[:, None, None, None]).clamp(0, 1) * 255).round() / 255
    p = write_video(frames, tmp_path / "clip.mkv", fps=12, codec="ffv1")
    back = read_video(p)
    assert back.shape == (6, 3, 48, 64) and back.dtype == torch.float32
    assert torch.allclose(back, frames, atol=1e-6)  # ffv1 in RGB is lossless
    assert read_video(p, max_frames=2).shape[0] == 2
    info = video_info(p)
    assert info["fps"] == pytest.approx(12.0) and (info["width"], info["height"]) == (64, 48)
    smooth = torch.linspace(0, 1, 64).expand(6, 3, 48, 64).contiguous()
    q = write_video(smooth, tmp_path / "clip.mp4", fps=25, codec="libx264", crf=18)
    lossy = read_video(q)
    assert lossy.shape == (6, 3, 48, 64)
    mse = float(((lossy - smooth) ** 2).mean())
    assert 10 * np.log10(1 / mse) > 35.0


def test_video_errors(tmp_path):
    with pytest.raises(DataError):
        read_video(tmp_path / "missing.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 1000)
    with pytest.raises(DataError):
        read_video(tmp_path / "junk.mp4")
    with pytest.raises(InputError):
        read_video(tmp_path / "junk.mp4", max_frames=0)
    with pytest.raises(InputError):
        write_video(torch.rand(2, 3, 9, 10), tmp_path / "odd.mp4", fps=10)  # 4:2:0 needs even sizes
    with pytest.raises(InputError):
        write_video(torch.rand(2, 1, 8, 8), tmp_path / "x.mp4", fps=10)
    with pytest.raises(InputError):
        write_video(torch.rand(2, 3, 8, 8) + 1, tmp_path / "x.mp4", fps=10)
    with pytest.raises(InputError):
        write_video(torch.rand(2, 3, 8, 8), tmp_path / "x.mp4", fps=0)
    with pytest.raises(DataError):
        write_video(torch.rand(2, 3, 8, 8), tmp_path / "x.mp4", fps=10, codec="no-such-codec")
