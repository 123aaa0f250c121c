"""Learned semantic extraction f_SE and task-performing decoder f_TP of the seb paper (Sec. IV-A).

f_SE maps a ``p x p`` patch (``p = 16``) through four stride-2 5x5 convolutions, GDN after the
first three, to a ``dim``-vector (the raw semantic feature); f_TP maps a feature back to the patch
through four stride-2 5x5 transposed convolutions with IGDN after the first three and a sigmoid::

    [N, 3, 16, 16] -conv/GDN-> [N, C, 8, 8] -conv/GDN-> [N, C, 4, 4] -conv/GDN-> [N, C, 2, 2] -conv-> [N, dim, 1, 1]
    [N, dim] -deconv/IGDN-> [N, C, 2, 2] -> ... -> [N, 3, 16, 16] (sigmoid)

Patches are reassembled into the image by :class:`semcom.semantics.seb.SebCodec`; coarse regions
enter f_SE 2x average-pooled, so one feature space serves both granularities. The model satisfies
the :class:`semcom.semantics.seb.Extractor` protocol (``patch``, ``dim``, ``encode``, ``decode``).

Example::

    >>> import torch
    >>> m = SebAutoencoder(patch=16, channels=32, dim=16)
    >>> z = m.encode(torch.rand(5, 3, 16, 16))
    >>> z.shape, m.decode(z).shape
    (torch.Size([5, 16]), torch.Size([5, 3, 16, 16]))
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from semcom.errors import ConfigError, InputError
from semcom.layers import GDN, IGDN
from semcom.models.checkpoint_io import build_and_load, load_verified, require
from semcom.utils import check_finite

__all__ = ["SebAutoencoder", "SebModelConfig", "load_seb_model", "pretrained_seb_path", "load_pretrained_seb",
           "PRETRAINED_NAME"]

#: Name (file stem) of the committed extractor checkpoint in ``semcom/checkpoints/``.
PRETRAINED_NAME = "seb_autoencoder"


@dataclasses.dataclass
class SebModelConfig:
    """Architecture of :class:`SebAutoencoder`: patch side (a multiple of 16), conv width, feature size."""

    patch: int = 16
    channels: int = 64
    dim: int = 64

    def __post_init__(self) -> None:
        if self.patch % 16 or self.patch < 16:
            raise ConfigError(f"patch must be a positive multiple of 16, got {self.patch}")
        if self.channels < 1 or self.dim < 1:
            raise ConfigError("channels and dim must be positive")


class SebAutoencoder(nn.Module):
    """f_SE (``encode``) and f_TP (``decode``) on patches; ``forward`` reconstructs patches for training."""

    def __init__(self, patch: int = 16, channels: int = 64, dim: int = 64):
        super().__init__()
        self.config = SebModelConfig(patch, channels, dim)
        self.patch, self.dim = patch, dim
        c = channels
        self.f_se = nn.Sequential(
            nn.Conv2d(3, c, 5, 2, 2), GDN(c),
            nn.Conv2d(c, c, 5, 2, 2), GDN(c),
            nn.Conv2d(c, c, 5, 2, 2), GDN(c),
            nn.Conv2d(c, dim, 5, 2, 2),
        )
        self.f_tp = nn.Sequential(
            nn.ConvTranspose2d(dim, c, 5, 2, 2, output_padding=1), IGDN(c),
            nn.ConvTranspose2d(c, c, 5, 2, 2, output_padding=1), IGDN(c),
            nn.ConvTranspose2d(c, c, 5, 2, 2, output_padding=1), IGDN(c),
            nn.ConvTranspose2d(c, 3, 5, 2, 2, output_padding=1),
        )
        self._side = patch // 16

    def _check(self, patches: torch.Tensor) -> None:
        if not isinstance(patches, torch.Tensor) or patches.dim() != 4 or tuple(patches.shape[1:]) != (3, self.patch, self.patch):
            raise InputError(f"patches must be [N, 3, {self.patch}, {self.patch}], got {getattr(patches, 'shape', None)}")
        check_finite(patches, "patches")

    def encode(self, patches: torch.Tensor) -> torch.Tensor:
        """f_SE: ``[N, 3, p, p]`` in [0, 1] -> features ``[N, dim * (p/16)^2]``."""
        self._check(patches)
        return self.f_se(patches - 0.5).flatten(1)

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """f_TP: features ``[N, dim * (p/16)^2]`` -> patches ``[N, 3, p, p]`` in [0, 1]."""
        if features.dim() != 2 or features.shape[1] != self.dim * self._side**2:
            raise InputError(f"features must be [N, {self.dim * self._side ** 2}], got {tuple(features.shape)}")
        z = features.reshape(-1, self.dim, self._side, self._side)
        return torch.sigmoid(self.f_tp(z))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(patches))


def load_seb_model(path: str | Path) -> tuple[SebAutoencoder, dict[str, Any]]:
    """Load a checkpoint written by ``semcom.experiments.seb_train``: ``(model in eval mode, metadata)``.

    Loaded safely (:func:`semcom.models.checkpoint_io.load_verified`: ``weights_only=True``, the
    SHA-256 of the metadata JSON beside it checked first, keys and shapes checked). The metadata is
    the dict stored in the checkpoint, updated with that JSON (the committed checkpoints carry one).

    Raises:
        InputError: no file at ``path``. CheckpointError: corrupt, truncated, tampered with, needs
            code execution, or not a Seb checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no Seb checkpoint at {path}")
    blob, side = load_verified(path)
    require(blob, path, "Seb checkpoint", model=dict, state_dict=dict)
    model = build_and_load(path, lambda: SebAutoencoder(**blob["model"]), blob["state_dict"])
    stored = blob.get("metadata", {})
    meta = dict(stored) if isinstance(stored, dict) else {}
    meta.update(side)
    return model, meta


def pretrained_seb_path() -> Path:
    """Path of the committed extractor checkpoint inside the installed package
    (``semcom/checkpoints/seb_autoencoder.pt``), wherever the package is run from."""
    return Path(__file__).resolve().parent.parent / "checkpoints" / f"{PRETRAINED_NAME}.pt"


def load_pretrained_seb() -> tuple[SebAutoencoder, dict[str, Any]]:
    """The committed learned extractor (f_SE/f_TP) with its metadata (see :func:`pretrained_seb_path`).

    Raises:
        InputError: the package was installed without its checkpoint.
    """
    return load_seb_model(pretrained_seb_path())
