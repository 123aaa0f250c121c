"""The prt semantic error concealer R: a small fully connected network that fills in lost landmarks.

Griessel et al., "Importance-Driven Semantic Resilience for Challenging Future 6G Channels",
Sec. V: "R estimates the position of missing landmarks and is implemented as a simple fully
connected network with two hidden layers of 80 neurons each, ReLU activation, and min-max
normalized input and output", trained with per-frame drop rates drawn uniformly from [0, 1].

Here the landmark vector of a frame is ``D = 2 P`` values: the P transmitted landmarks (x, y)
as *displacements from the source frame's landmarks* (the frame the receiver's synthesiser
warps; it is known at the receiver), grouped into N symbols of ``P / N`` landmarks each. The
network sees::

    history   [B, H, D]  the H previous concealed landmark vectors (most recent last)
    received  [B, D]     this frame's received values, missing ones set to 0 after normalising
    mask      [B, N]     1 where symbol i was received
        -> min-max normalise (per coordinate, fitted on the training data) -> concat [H D + D + N]
        -> Linear(80) -> ReLU -> Linear(80) -> ReLU -> Linear(D) -> de-normalise -> [B, D]

(with ``relative=True`` the received values enter relative to ``history[:, -1]`` and the output
is added to it; see :class:`ConcealerConfig`)

The same per-coordinate minimum and maximum (stored as buffers, hence in the checkpoint) scale
the history, the received values and the output. Received coordinates are copied over the
network's output by :meth:`ConcealerNet.conceal` (the network only fills in what is missing).

Example:
    >>> import torch
    >>> net = ConcealerNet(ConcealerConfig(n_symbols=2, dim=8, history=1))
    >>> out = net.conceal(torch.zeros(3, 1, 8), torch.ones(3, 8), torch.tensor([[1., 0.]] * 3))
    >>> out.shape, out[:, :4].tolist() == [[1.0] * 4] * 3
    (torch.Size([3, 8]), True)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from semcom.errors import CheckpointError, ConfigError, InputError
from semcom.models.checkpoint_io import build_and_load, load_verified, require
from semcom.utils import check_finite, from_dict

__all__ = ["ConcealerConfig", "ConcealerNet", "PRETRAINED_NAME", "pretrained_concealer_path", "load_concealer_net"]

#: File stem of the committed checkpoint in ``semcom/checkpoints/``.
PRETRAINED_NAME = "prt_concealer"


@dataclasses.dataclass
class ConcealerConfig:
    """Architecture of :class:`ConcealerNet` (unknown keys are refused by :func:`semcom.utils.from_dict`).

    Attributes:
        n_symbols: N, symbols per frame (the mask has one entry per symbol).
        dim: D, values of a landmark vector (``2 x`` landmarks); a multiple of ``n_symbols``.
        history: H, previous concealed vectors fed to the network.
        hidden: width of the two hidden layers (the paper: 80).
        relative: work relative to the most recent history vector ``h``: the received values
            enter as ``(received - h) / span`` (masked) and the output is ``h + span * net(...)``
            (``span`` = the min-max range), so an untrained net starts at hold-last and the motion
            of the received symbols is a direct input. The paper does not say how its input and
            output are arranged beyond min-max scaling; ``False`` gives the plain net (received
            values and output min-max normalised).
    """

    n_symbols: int = 10
    dim: int = 240
    history: int = 1
    hidden: int = 80
    relative: bool = False

    def __post_init__(self) -> None:
        for key in ("n_symbols", "dim", "history", "hidden"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"ConcealerConfig.{key} must be a positive integer, got {v!r}")
        if not isinstance(self.relative, bool):
            raise ConfigError(f"ConcealerConfig.relative must be a bool, got {self.relative!r}")
        if self.dim % self.n_symbols:
            raise ConfigError(f"ConcealerConfig.dim ({self.dim}) must be a multiple of n_symbols ({self.n_symbols})")

    @property
    def per_symbol(self) -> int:
        """Values per symbol, ``dim / n_symbols``."""
        return self.dim // self.n_symbols


class ConcealerNet(nn.Module):
    """The FC concealer of prt Sec. V (two hidden layers of ``hidden`` ReLU units, min-max scaling)."""

    def __init__(self, config: ConcealerConfig | dict | None = None) -> None:
        super().__init__()
        cfg = config if isinstance(config, ConcealerConfig) else from_dict(ConcealerConfig, config or {})
        self.config = cfg
        d, n, h = cfg.dim, cfg.n_symbols, cfg.history
        self.net = nn.Sequential(
            nn.Linear(h * d + d + n, cfg.hidden), nn.ReLU(),
            nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(),
            nn.Linear(cfg.hidden, d),
        )
        self.register_buffer("value_min", torch.full((d,), -1.0))
        self.register_buffer("value_max", torch.full((d,), 1.0))

    def fit_normalisation(self, values: torch.Tensor) -> None:
        """Set the per-coordinate min-max scaling from training vectors ``[..., D]``."""
        values = torch.as_tensor(values, dtype=torch.float32).reshape(-1, self.config.dim)
        check_finite(values, "normalisation data")
        lo, hi = values.min(0).values, values.max(0).values
        span = torch.clamp(hi - lo, min=1e-6)
        self.value_min.copy_(lo)
        self.value_max.copy_(lo + span)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Values ``[..., D]`` to [0, 1] on the training range."""
        return (x - self.value_min) / (self.value_max - self.value_min)

    def denormalise(self, z: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`normalise`."""
        return self.value_min + z * (self.value_max - self.value_min)

    def expand_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """Symbol mask ``[B, N]`` to a coordinate mask ``[B, D]`` (symbol i owns a contiguous slice)."""
        return mask.repeat_interleave(self.config.per_symbol, dim=-1)

    def _check(self, history: Any, received: Any, mask: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cfg = self.config
        try:
            history = torch.as_tensor(history, dtype=torch.float32)
            received = torch.as_tensor(received, dtype=torch.float32)
            mask = torch.as_tensor(mask, dtype=torch.float32)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise InputError(f"concealer inputs must be numeric tensors: {exc}") from None
        if received.dim() != 2 or received.shape[1] != cfg.dim:
            raise InputError(f"received must be [B, {cfg.dim}], got {tuple(received.shape)}")
        b = received.shape[0]
        if tuple(history.shape) != (b, cfg.history, cfg.dim):
            raise InputError(f"history must be [B, H, D] = [{b}, {cfg.history}, {cfg.dim}], got {tuple(history.shape)}")
        if tuple(mask.shape) != (b, cfg.n_symbols):
            raise InputError(f"mask must be [B, N] = [{b}, {cfg.n_symbols}], got {tuple(mask.shape)}")
        check_finite(history, "history")
        check_finite(mask, "mask")
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise InputError("mask must hold 0/1")
        full = self.expand_mask(mask)
        # missing received values may be NaN (unknown): zero them before checking the rest
        received = torch.where(full > 0, received, torch.zeros_like(received))
        check_finite(received, "received")
        return history, received, mask

    def forward(self, history: torch.Tensor, received: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Estimated landmark vector ``[B, D]`` (network output everywhere, de-normalised).

        Args:
            history: ``[B, H, D]`` previous concealed vectors (most recent last).
            received: ``[B, D]`` this frame's values (anything where missing).
            mask: ``[B, N]`` 1 where the symbol was received.
        """
        full = self.expand_mask(mask)
        hn = self.normalise(history).flatten(1)
        if self.config.relative:
            span = self.value_max - self.value_min
            last = history[:, -1]
            r = (received - last) / span * full
            return last + span * self.net(torch.cat([hn, r, mask], dim=1))
        r = self.normalise(received) * full
        return self.denormalise(self.net(torch.cat([hn, r, mask], dim=1)))

    def conceal(self, history: Any, received: Any, mask: Any) -> torch.Tensor:
        """Like :meth:`forward`, with the received coordinates passed through unchanged (checked inputs)."""
        history, received, mask = self._check(history, received, mask)
        with torch.no_grad():
            out = self.forward(history, received, mask)
        full = self.expand_mask(mask) > 0
        return torch.where(full, received, out)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def pretrained_concealer_path(name: str = PRETRAINED_NAME) -> Path:
    """Path of a committed concealer checkpoint ``semcom/checkpoints/<name>.pt``."""
    return Path(__file__).resolve().parent.parent / "checkpoints" / f"{name}.pt"


def load_concealer_net(path: str | Path | None = None) -> ConcealerNet:
    """A :class:`ConcealerNet` from a checkpoint (default: the committed one), with ``.metadata``.

    The checkpoint is ``{"model": "prt_concealer", "config": {...}, "state_dict": {...}, "extra": {...}}``,
    loaded safely (:func:`semcom.models.checkpoint_io.load_verified`: ``weights_only=True``, the
    SHA-256 of the metadata JSON beside it checked first, keys and shapes checked); that JSON is
    attached as ``net.metadata`` (``{}`` without one).

    Raises:
        InputError: no checkpoint there. CheckpointError: corrupt, truncated, tampered with, needs
            code execution, or not a concealer checkpoint.
    """
    path = Path(path) if path is not None else pretrained_concealer_path()
    if not path.is_file():
        raise InputError(f"no concealer checkpoint at {path}: train one with `semcom prt train-concealer`")
    ck, meta = load_verified(path)
    require(ck, path, "prt concealer checkpoint", model=str, config=dict, state_dict=dict)
    if ck["model"] != "prt_concealer":
        raise CheckpointError(f"{path} is not a prt concealer checkpoint (it holds {ck['model']!r})")
    net = build_and_load(path, lambda: ConcealerNet(ck["config"]), ck["state_dict"])
    extra = ck.get("extra", {})
    net.extra = extra if isinstance(extra, dict) else {}
    net.metadata = meta
    return net
