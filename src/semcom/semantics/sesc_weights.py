"""SE-SC semantic-aware models: the weight vector ``i_x in [0, 1]``, one value per patch (Table I).

Fu et al., "Scalable Extraction Based Semantic Communication for 6G Wireless Networks", Sec. IV,
Table I ("semantic-aware model"), both alternatives:

* (a) :class:`TaskRelevance` - from the downstream task model. The paper feeds the task model's
  intermediate feature maps to a CNN; the task model here (MediaPipe's face detector) exposes no
  feature maps, so the relevance is read from its output on the source image, the simplest honest
  form of "what the task model attends to": each detection ``(box, score)`` gives every patch the
  weight ``score * exp(-(d / sigma)^2)``, ``d`` the distance from the patch centre to the box in
  units of the box side (0 inside the box), and a patch takes the largest weight over detections.
  ``sigma`` softens the edge so that ``mu`` trades context around a face for symbols
  (``sigma=0.5``: ``mu=0.2`` keeps a ring of about 0.63 box sides, ``mu=0.3`` of 0.55).
  No detection: all weights 0 (the policy then sends the single top patch). It costs one detector
  run at the transmitter (the limitation Table I names).
* (a, learned) :class:`CNNRelevance` - a small CNN trained here
  (:class:`semcom.models.sesc_relevance.RelevanceCNN`, checkpoint ``sesc_relevance``) that predicts the
  task's relevance of every patch from the source image; trained on face composites built from
  training photographs only, with the soft box relevance above (score 1, exact boxes) as its
  target. It replaces the detector run at the transmitter by one forward pass of a 60 k-parameter
  network and needs no task-model output. Input luma only (its training faces are black and white).
* (b) :class:`EntropyWeights` - an entropy model of the features. A Gaussian mixture (diagonal
  covariances) is fitted to the codec's patch embeddings (:meth:`SESC.embed_patches`, the
  features before masking) of training crops; a patch's information content is ``-log p(e)``
  (nats) under that model. Its weight is the information content scaled per image to [0, 1]
  (``normalise="image"``, the default: ``(I - min) / (max - min)`` over the image's patches), or
  the empirical CDF of the information content over the training patches (``"train_cdf"``,
  ``i = P_train(-log p <= -log p(e))``). The CDF form was tried first: the test scenes (256 px)
  carry more detail per patch than the training crops, so 95-99 % of their patches scored above
  0.3 and ``mu`` hardly masked anything; per-image scaling makes ``mu`` act on every image.
  Independent of the task; cheap (one embedding and a mixture log-likelihood).

Both return float64 numpy ``[N]`` in raster patch order for an image ``[1,3,H,W]``.

Example:
    >>> import numpy as np
    >>> rel = TaskRelevance(detector=None, sigma=0.5)
    >>> w = rel.from_detections(np.array([[16, 16, 32, 32.]]), np.array([0.9]), grid=(6, 6), patch=8)
    >>> float(w.reshape(6, 6)[2, 2]), bool(w.reshape(6, 6)[5, 5] < 0.05)
    (0.9, True)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semcom.errors import CheckpointError, ConfigError, InputError


class CNNRelevance:
    """(a, learned) Per-patch relevance from the relevance CNN on the source (module docstring).

    ``net``: a :class:`semcom.models.sesc_relevance.RelevanceCNN` (default: the committed
    ``sesc_relevance``). The CNN's grid is 8 px; a patch of ``8 m`` pixels takes the mean of its
    ``m x m`` cells. Output float64 ``[N]`` in [0, 1], raster patch order.
    """

    name = "cnn"

    def __init__(self, net: Any = None) -> None:
        if net is None:
            from semcom.models.sesc_relevance import load_relevance

            net = load_relevance()
        self.net = net

    def __call__(self, image: torch.Tensor, patch: int) -> np.ndarray:
        from semcom.models.sesc_relevance import STRIDE

        if isinstance(patch, bool) or not isinstance(patch, int) or patch < STRIDE or patch % STRIDE:
            raise InputError(f"the relevance CNN needs a patch size that is a multiple of {STRIDE}, got {patch!r}")
        _check(image, patch)
        with torch.no_grad():
            w = self.net(image.float())[:, None]
            if patch > STRIDE:
                w = torch.nn.functional.avg_pool2d(w, patch // STRIDE)
        return np.clip(w.reshape(-1).double().numpy(), 0.0, 1.0)


class TaskRelevance:
    """(a) Task relevance from the face detector's output on the source (see the module docstring)."""

    name = "task"

    def __init__(self, detector: Any = None, sigma: float = 0.5) -> None:
        if not (isinstance(sigma, (int, float)) and sigma > 0):
            raise ConfigError(f"sigma must be positive, got {sigma!r}")
        self.detector, self.sigma = detector, float(sigma)

    def from_detections(self, boxes: np.ndarray, scores: np.ndarray, grid: tuple[int, int], patch: int) -> np.ndarray:
        """Weights ``[gh*gw]`` from boxes ``[M, 4]`` (pixels) and scores ``[M]``."""
        gh, gw = grid
        cy, cx = np.meshgrid((np.arange(gh) + 0.5) * patch, (np.arange(gw) + 0.5) * patch, indexing="ij")
        w = np.zeros((gh, gw))
        for (x0, y0, x1, y1), s in zip(np.asarray(boxes).reshape(-1, 4), np.asarray(scores).reshape(-1)):
            side = max(x1 - x0, y1 - y0, 1e-6)
            dx = np.maximum(np.maximum(x0 - cx, cx - x1), 0)
            dy = np.maximum(np.maximum(y0 - cy, cy - y1), 0)
            d = np.hypot(dx, dy) / side
            w = np.maximum(w, float(s) * np.exp(-((d / self.sigma) ** 2)))
        return np.clip(w.reshape(-1), 0.0, 1.0)

    def __call__(self, image: torch.Tensor, patch: int) -> np.ndarray:
        if self.detector is None:
            from semcom.metrics.detection import FaceDetector

            self.detector = FaceDetector()
        h, w = _check(image, patch)
        d = self.detector(image)
        return self.from_detections(d.boxes, d.scores, (h // patch, w // patch), patch)


def _check(image: Any, patch: int) -> tuple[int, int]:
    from semcom.utils import check_image

    x = check_image(image)
    if x.shape[0] != 1:
        raise InputError("weights are computed for one image at a time ([1,3,H,W])")
    h, w = x.shape[-2:]
    if h % patch or w % patch:
        raise InputError(f"image {h}x{w} is not a multiple of the patch size {patch}")
    return int(h), int(w)


@dataclasses.dataclass
class EntropyModel:
    """Diagonal Gaussian mixture over patch embeddings and the CDF table of the information content.

    means, variances: ``[C, D]``; log_weights: ``[C]``; info_sorted: sorted ``-log p`` (nats) of
    training patches (a quantile table, 257 values); meta: how it was fitted.
    """

    means: np.ndarray
    variances: np.ndarray
    log_weights: np.ndarray
    info_sorted: np.ndarray
    meta: dict

    def information(self, e: np.ndarray) -> np.ndarray:
        """``-log p(e)`` in nats for embeddings ``e [N, D]``."""
        e = np.asarray(e, dtype=np.float64)
        if e.ndim != 2 or e.shape[1] != self.means.shape[1]:
            raise InputError(f"embeddings must be [N, {self.means.shape[1]}], got {e.shape}")
        diff = e[:, None, :] - self.means[None]
        ll = -0.5 * ((diff ** 2) / self.variances[None] + np.log(2 * np.pi * self.variances[None])).sum(-1)
        ll = ll + self.log_weights[None]
        m = ll.max(1, keepdims=True)
        return -(m[:, 0] + np.log(np.exp(ll - m).sum(1)))

    def weights(self, e: np.ndarray) -> np.ndarray:
        """Empirical CDF of the information content over training patches, in [0, 1]."""
        info = self.information(e)
        q = np.linspace(0, 1, len(self.info_sorted))
        return np.interp(info, self.info_sorted, q, left=0.0, right=1.0)

    def save(self, path: str | Path) -> None:
        arrays = {k: getattr(self, k).tolist() for k in ("means", "variances", "log_weights", "info_sorted")}
        Path(path).write_text(json.dumps({"meta": self.meta, **arrays}) + "\n")

    @classmethod
    def load(cls, path: str | Path, sha256: str | None = None) -> "EntropyModel":
        """Load a saved model (JSON, no code executed); with ``sha256``, the file must match it."""
        p = Path(path)
        try:
            raw = p.read_bytes()
            if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
                raise CheckpointError(f"{p.name}: SHA-256 differs from the recorded one")
            d = json.loads(raw)
            arr = {k: np.asarray(d[k], dtype=np.float64) for k in ("means", "variances", "log_weights", "info_sorted")}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"cannot read entropy model {p}: {exc}") from None
        if arr["means"].shape != arr["variances"].shape or (arr["variances"] <= 0).any():
            raise CheckpointError(f"entropy model {p} is inconsistent")
        return cls(meta=d.get("meta", {}), **arr)


def fit_entropy_model(model: Any, n_crops: int = 256, crop: int = 128, components: int = 16, seed: int = 0) -> EntropyModel:
    """Fit the mixture to the codec's patch embeddings of ``n_crops`` training crops (never test photos)."""
    from sklearn.mixture import GaussianMixture

    from semcom.data import TrainingCrops

    ds = TrainingCrops(size=crop, count=n_crops, seed=seed + 500)
    with torch.no_grad():
        e = torch.cat([model.embed_patches(torch.stack([ds[i] for i in range(j, min(j + 32, n_crops))]))
                       .reshape(-1, model.config.dim) for j in range(0, n_crops, 32)]).numpy().astype(np.float64)
    gm = GaussianMixture(components, covariance_type="diag", random_state=seed, max_iter=200, reg_covar=1e-4).fit(e)
    em = EntropyModel(gm.means_, gm.covariances_, np.log(gm.weights_), np.zeros(1), {})
    info = em.information(e)
    em.info_sorted = np.quantile(info, np.linspace(0, 1, 257))
    em.meta = {"components": components, "n_crops": n_crops, "crop": crop, "seed": seed, "patches": int(len(e)),
               "features": "SESC.embed_patches (patch embedding + 2-D sine-cosine position)",
               "data": "semcom.data.TrainingCrops (training wallpapers)"}
    return em


class EntropyWeights:
    """(b) Per-patch weights from the entropy model of the codec's features (module docstring)."""

    name = "entropy"

    def __init__(self, codec: Any, entropy_model: EntropyModel, normalise: str = "image") -> None:
        if normalise not in ("image", "train_cdf"):
            raise ConfigError(f"normalise must be 'image' or 'train_cdf', got {normalise!r}")
        self.codec, self.em, self.normalise = codec, entropy_model, normalise

    def __call__(self, image: torch.Tensor, patch: int) -> np.ndarray:
        _check(image, patch)
        if patch != self.codec.config.patch_size:
            raise InputError(f"the entropy model reads patches of {self.codec.config.patch_size}, not {patch}")
        with torch.no_grad():
            e = self.codec.embed_patches(image)[0].numpy()
        if self.normalise == "train_cdf":
            return self.em.weights(e)
        info = self.em.information(e)
        span = info.max() - info.min()
        return (info - info.min()) / span if span > 0 else np.ones_like(info)


__all__ = ["CNNRelevance", "TaskRelevance", "EntropyModel", "EntropyWeights", "fit_entropy_model"]
