"""LPIPS (Zhang et al., "The unreasonable effectiveness of deep features as a perceptual metric",
CVPR 2018) -- only when it can be computed honestly, offline.

LPIPS needs three things: the ``lpips`` package (it ships the learned linear heads), ``torchvision``
(the backbone architecture), and the ImageNet backbone weights (AlexNet / VGG16 / SqueezeNet 1.1),
which ``lpips`` would normally download at run time. semcom never downloads anything and never
reports a value from a randomly initialised backbone: when any piece is missing,
:func:`lpips` raises :class:`MetricUnavailable` naming the missing piece, and
:func:`lpips_available` returns ``False``. The check looks at files only (no network, no import
of ``lpips``).

The backbone file is looked up in ``weights_dir`` when given, else in the PyTorch hub cache
(``torch.hub.get_dir()/checkpoints``, controlled by ``TORCH_HOME``), under torchvision's file names
(:data:`BACKBONE_FILES`). To enable LPIPS, ``pip install lpips`` and copy the backbone file there.

Example:
    >>> from semcom.metrics import lpips_available, lpips, MetricUnavailable
    >>> import torch
    >>> x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    >>> try:
    ...     d = lpips(x, x)          # [B] distances, 0 for identical images
    ... except MetricUnavailable as e:
    ...     d = None                 # not installed / no local backbone weights
    >>> d is None or float(d[0]) < 1e-6
    True
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from semcom.errors import InputError, SemcomError
from semcom.metrics.image import _check_pair

__all__ = ["MetricUnavailable", "BACKBONE_FILES", "lpips_status", "lpips_available", "lpips"]


class MetricUnavailable(SemcomError):
    """A metric cannot be computed on this machine (package or weights missing locally)."""


#: torchvision checkpoint file of each LPIPS backbone.
BACKBONE_FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}

_MODELS: dict[tuple[str, str], torch.nn.Module] = {}  # cache of built models (net, backbone path)


def _backbone_path(net: str, weights_dir: str | os.PathLike | None) -> Path:
    base = Path(weights_dir) if weights_dir is not None else Path(torch.hub.get_dir()) / "checkpoints"
    return base / BACKBONE_FILES[net]


def lpips_status(net: str = "alex", weights_dir: str | os.PathLike | None = None) -> tuple[bool, str]:
    """``(available, reason)`` for LPIPS with backbone ``net`` ("alex", "vgg" or "squeeze").

    Looks at installed packages and files only; never imports ``lpips`` and never touches the network.

    Example:
        >>> ok, why = lpips_status("alex")
        >>> isinstance(ok, bool) and isinstance(why, str)
        True
    """
    if net not in BACKBONE_FILES:
        return False, f"unknown LPIPS backbone {net!r}; known: {sorted(BACKBONE_FILES)}"
    spec = importlib.util.find_spec("lpips")
    if spec is None or spec.origin is None:
        return False, "the 'lpips' package is not installed (pip install lpips)"
    heads = Path(spec.origin).parent / "weights" / "v0.1" / f"{net}.pth"
    if not heads.is_file():
        return False, f"the lpips package has no linear-head weights for {net!r} ({heads.name} missing)"
    if importlib.util.find_spec("torchvision") is None:
        return False, "torchvision is not installed (lpips builds its backbone from torchvision)"
    bb = _backbone_path(net, weights_dir)
    if not bb.is_file():
        return False, (
            f"backbone weights for {net!r} are not present locally ({bb.name} not found in {bb.parent}); "
            "semcom does not download weights and never reports LPIPS from a random backbone"
        )
    return True, f"lpips with {net} backbone from {bb}"


def lpips_available(net: str = "alex", weights_dir: str | os.PathLike | None = None) -> bool:
    """``True`` when :func:`lpips` can run offline with real backbone weights (see :func:`lpips_status`).

    Example:
        >>> isinstance(lpips_available(), bool)
        True
    """
    return lpips_status(net, weights_dir)[0]


def _build(net: str, weights_dir: str | os.PathLike | None) -> torch.nn.Module:
    bb = _backbone_path(net, weights_dir)
    key = (net, str(bb))
    if key in _MODELS:
        return _MODELS[key]
    try:
        import lpips as _lp  # noqa: PLC0415 - optional dependency
    except Exception as exc:  # torchvision may fail to import beside this torch build
        raise MetricUnavailable(f"LPIPS unavailable: importing lpips failed: {exc}") from exc
    try:
        # Random backbone first (no download), linear heads from the package, then the real backbone
        # weights from the local file, layer by layer (lpips' slices keep torchvision's layer indices).
        model = _lp.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
        state = torch.load(bb, map_location="cpu", weights_only=True)
        loaded = 0
        for sl in model.net.children():
            for idx, layer in sl.named_children():
                prefix = f"features.{idx}."
                sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
                if sub:
                    layer.load_state_dict(sub)
                    loaded += len(sub)
                elif any(True for _ in layer.parameters()):
                    raise MetricUnavailable(f"backbone file {bb.name} has no weights for layer features.{idx}")
        if loaded == 0:
            raise MetricUnavailable(f"no backbone weights were loaded from {bb}")
    except MetricUnavailable:
        raise
    except Exception as exc:
        raise MetricUnavailable(f"LPIPS unavailable: building the {net} model failed: {exc}") from exc
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    _MODELS[key] = model
    return model


def lpips(
    x: torch.Tensor, y: torch.Tensor, net: str = "alex", weights_dir: str | os.PathLike | None = None
) -> torch.Tensor:
    """LPIPS distance per image (lower is better; 0 for identical images). Differentiable in ``x, y``.

    Args:
        x, y: images ``[B, 3, H, W]`` (or ``[3, H, W]``), float in [0, 1].
        net: backbone, "alex" (the paper's default), "vgg" or "squeeze".
        weights_dir: folder holding the torchvision backbone file; default: the PyTorch hub cache.

    Returns:
        ``[B]`` distances.

    Raises:
        MetricUnavailable: ``lpips``/``torchvision`` not installed or backbone weights missing locally.
        InputError: bad images.
    """
    ok, why = lpips_status(net, weights_dir)
    if not ok:
        raise MetricUnavailable(f"LPIPS unavailable: {why}")
    x, y = _check_pair(x, y, 1.0)
    if x.shape[1] != 3:
        raise InputError(f"lpips needs RGB images [B, 3, H, W], got {tuple(x.shape)}")
    model = _build(net, weights_dir).to(x.device)
    d = model(x.float() * 2 - 1, y.float() * 2 - 1)
    return d.reshape(x.shape[0]).to(x.dtype)
