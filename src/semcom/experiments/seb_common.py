"""Pieces shared by the seb experiments: extractor choice, KB construction from training crops, links.

The KB is built from features of random crops of the training photographs
(:class:`semcom.data.TrainingCrops`, never the test photos): each ``4p x 4p`` crop gives 16 fine
``p x p`` patches and 4 coarse ``2p x 2p`` regions pooled to ``p x p``; per-feature importance
(Eq. 3) is the mean spectral-residual saliency of the patch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from semcom.errors import ConfigError
from semcom.semantics.kb import KnowledgeBase
from semcom.semantics.seb_link import make_seb_link as make_link  # noqa: F401 - the recipes' name
from semcom.semantics.seb import PixelExtractor, image_to_patches, region_importance, spectral_residual_saliency


def make_extractor(kind: str, patch: int, checkpoint: str | None = None) -> Any:
    """``"pixel"``: :class:`PixelExtractor`; ``"learned"``: a trained :class:`SebAutoencoder`.

    ``checkpoint`` is a user's own checkpoint path; by default the committed one inside the
    package (:func:`semcom.models.seb.pretrained_seb_path`), found wherever semcom runs from.
    """
    if kind == "pixel":
        return PixelExtractor(patch)
    if kind == "learned":
        from semcom.models.seb import load_seb_model, pretrained_seb_path

        path = checkpoint or pretrained_seb_path()
        if not Path(path).is_file():
            raise ConfigError(f"extractor 'learned' needs the checkpoint {path}: run `semcom train seb --install`")
        model, _ = load_seb_model(path)
        if model.patch != patch:
            raise ConfigError(f"checkpoint patch {model.patch} != fine_patch {patch}")
        return model
    raise ConfigError(f"extractor must be 'pixel' or 'learned', got {kind!r}")


@torch.no_grad()
def image_features(images: torch.Tensor, extractor: Any, patch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fine and pooled-coarse features of ``images [B, 3, H, W]`` with their saliency importance."""
    sal = spectral_residual_saliency(images)
    fine = extractor.encode(image_to_patches(images, patch))
    fine_imp = region_importance(sal, patch).reshape(-1)
    coarse = extractor.encode(F.avg_pool2d(image_to_patches(images, 2 * patch), 2))
    coarse_imp = region_importance(sal, 2 * patch).reshape(-1)
    return torch.cat([fine, coarse]), torch.cat([fine_imp, coarse_imp]) + 1e-3


def build_kb_from_crops(extractor: Any, patch: int, sizes: list[int], crops: int, seed: int,
                        half_life: float = 50.0, remove_below: float = 0.05) -> KnowledgeBase:
    """KB (Eq. 1-4) from ``crops`` random ``4p x 4p`` training crops."""
    from semcom.data import TrainingCrops

    ds = TrainingCrops(size=4 * patch, count=crops, seed=seed)
    x = torch.stack([ds[i] for i in range(len(ds))])
    feats, imp = image_features(x, extractor, patch)
    return KnowledgeBase.build(feats, importance=imp, sizes=sizes, seed=seed, half_life=half_life,
                               remove_below=remove_below)
