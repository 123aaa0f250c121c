"""SE-SC semantic-aware model (a), learned: a small CNN that predicts the face-detection task's
relevance of every 8x8 patch from the source image (Fu et al., Table I, first row).

Table I's model (a) feeds a task model's intermediate feature maps to a CNN. The task model here
(MediaPipe's face detector) exposes no feature maps and is not differentiable, so neither its
features nor a Grad-CAM of it can be had. The choice made: a CNN trained here, from scratch, to
predict the task's relevance map directly from the image, supervised by exact face boxes
(the target of a patch is :meth:`semcom.semantics.sesc_weights.TaskRelevance.from_detections` of the
ground-truth boxes with score 1: 1 inside a face box, ``exp(-(d / 0.5)^2)`` at ``d`` box sides
outside it). It is a distilled, task-specific front end: it learns where the task's objects are,
which is what the weight vector must encode, and runs at the transmitter on the source in one
forward pass (no detector run).

Architecture (fully convolutional, output stride 8 = the codec's patch):

```
image [B,3,H,W] -> luma (BT.601) -> per-image standardisation
  -> conv3x3/2 (16) -> conv3x3/2 (32) -> conv3x3/2 (48)       each + BatchNorm + ReLU
  -> conv3x3 dilation 2 (48) -> conv3x3 dilation 4 (48)       context: receptive field 111 px
  -> conv1x1 (1) -> sigmoid -> [B, H/8, W/8] in [0, 1]
```

The input is luma only: the training faces are black-and-white photographs (the only face
photographs that may be used for training here), so colour would be a shortcut (grey = face)
that fails on colour test faces. About 60 k parameters.

Example:
    >>> import torch
    >>> net = RelevanceCNN().eval()
    >>> w = net(torch.rand(1, 3, 64, 96))
    >>> tuple(w.shape), bool(((w >= 0) & (w <= 1)).all())
    ((1, 8, 12), True)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from semcom.errors import CheckpointError, InputError

STRIDE = 8
NAME = "sesc_relevance"


@dataclasses.dataclass
class RelevanceConfig:
    """Widths of the three strided stages and of the two dilated context layers."""

    widths: tuple = (16, 32, 48)
    context: int = 48


def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class RelevanceCNN(nn.Module):
    """Per-patch task relevance in [0, 1] from an image (module docstring)."""

    def __init__(self, config: RelevanceConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or RelevanceConfig()
        w = [int(v) for v in c.widths]
        if len(w) != 3 or min(w) < 1 or int(c.context) < 1:
            raise InputError(f"widths must be three positive ints and context positive, got {c}")
        self.features = nn.Sequential(_block(1, w[0], 2), _block(w[0], w[1], 2), _block(w[1], w[2], 2),
                                      _block(w[2], c.context, dilation=2), _block(c.context, c.context, dilation=4))
        self.head = nn.Conv2d(c.context, 1, 1)

    @staticmethod
    def luma(x: torch.Tensor) -> torch.Tensor:
        """``[B,3,H,W]`` in [0, 1] -> standardised luma ``[B,1,H,W]`` (zero mean, unit-ish spread)."""
        y = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
        mu = y.mean(dim=(2, 3), keepdim=True)
        sd = y.std(dim=(2, 3), keepdim=True)
        return (y - mu) / (sd + 0.05)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid relevance ``[B, H/8, W/8]`` (for the training loss)."""
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[-1] % STRIDE or x.shape[-2] % STRIDE:
            raise InputError(f"image must be [B,3,H,W] with H, W multiples of {STRIDE}, got {tuple(x.shape)}")
        return self.head(self.features(self.luma(x.float())))[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def load_relevance(name_or_path: str | Path = NAME) -> RelevanceCNN:
    """The committed relevance CNN by name, or a ``.pt`` file, through the project's safe loader
    (:func:`semcom.models.checkpoint_io.load_verified`: SHA-256 from the metadata checked first,
    ``weights_only``, keys and shapes checked). The metadata is attached as ``model.metadata``.

    Raises:
        InputError: no such committed name or file. CheckpointError: corrupt, tampered, not a
            relevance checkpoint.
    """
    from semcom.models.checkpoint_io import build_and_load, load_verified, package_checkpoint_dir, require

    p = Path(name_or_path)
    if p.suffix != ".pt":
        if "/" in str(name_or_path) or "\\" in str(name_or_path):
            raise InputError(f"no committed relevance model {name_or_path!r}")
        p = package_checkpoint_dir() / f"{name_or_path}.pt"
    if not p.is_file():
        raise InputError(f"no relevance model at {p.name!r}")
    blob, meta = load_verified(p)
    require(blob, p, "relevance checkpoint", model=str, config=dict, state_dict=dict)
    if blob["model"] != NAME:
        raise CheckpointError(f"{p.name}: not a relevance checkpoint (model {blob['model']!r})")
    try:
        cfg = RelevanceConfig(widths=tuple(blob["config"]["widths"]), context=int(blob["config"]["context"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{p.name}: bad relevance config: {exc}") from None
    state = {k: v.float() if isinstance(v, torch.Tensor) and v.is_floating_point() else v
             for k, v in blob["state_dict"].items()}
    net = build_and_load(p, lambda: RelevanceCNN(cfg), state)
    net.eval()
    net.metadata = meta or {}
    return net


__all__ = ["RelevanceCNN", "RelevanceConfig", "load_relevance", "NAME", "STRIDE"]
