"""SE-SC weight models: (a) task relevance from detections, (b) entropy model of the features."""

import numpy as np
import pytest
import torch

from semcom.errors import CheckpointError, ConfigError, InputError
from semcom.metrics.detection import Detections
from semcom.models import build_model
from semcom.semantics.sesc import rate_policy
from semcom.semantics.sesc_weights import EntropyModel, EntropyWeights, TaskRelevance

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class FakeDetector:
    def __init__(self, boxes, scores):
        self.d = Detections(np.asarray(boxes, float).reshape(-1, 4), np.asarray(scores, float))

    def __call__(self, image):
        return self.d


def test_task_relevance_is_high_on_the_face_and_decays_outside():
    rel = TaskRelevance(FakeDetector([[32, 32, 64, 64]], [0.8]), sigma=0.5)
    w = rel(torch.rand(1, 3, 96, 96), 8).reshape(12, 12)
    assert w.shape == (12, 12) and w.min() >= 0 and w.max() == pytest.approx(0.8)
    assert (w[4:8, 4:8] == 0.8).all()  # inside the box
    assert w[3, 5] > w[2, 5] > w[1, 5] > w[0, 5]  # decays with distance
    assert w[0, 0] < 0.01
    none = TaskRelevance(FakeDetector(np.zeros((0, 4)), np.zeros(0)))(torch.rand(1, 3, 32, 32), 8)
    assert (none == 0).all()  # no face: no relevance (the policy still sends the top patch)
    keep = rate_policy(none, 10_000, 16, mu0=0.2).keep
    assert keep.sum() == 1


def test_task_relevance_bad_input():
    rel = TaskRelevance(FakeDetector([[0, 0, 8, 8]], [0.9]))
    for bad in (torch.rand(1, 3, 30, 32), torch.rand(2, 3, 32, 32), torch.full((1, 3, 32, 32), float("nan"))):
        with pytest.raises(InputError):
            rel(bad, 8)
    with pytest.raises(ConfigError):
        TaskRelevance(sigma=0)


def _entropy_model(dim):
    rng = np.random.default_rng(0)
    em = EntropyModel(rng.normal(size=(3, dim)), np.ones((3, dim)), np.log(np.ones(3) / 3),
                      np.linspace(0, 1, 257), {"test": True})
    info = em.information(rng.normal(size=(500, dim)))
    em.info_sorted = np.quantile(info, np.linspace(0, 1, 257))
    return em


def test_entropy_weights_rank_information_and_round_trip(tmp_path):
    torch.manual_seed(0)
    codec = build_model("sesc", {"dim": 16, "dec_dim": 16, "enc_layers": 1, "dec_layers": 1, "heads": 2,
                                 "dec_heads": 2}).eval()
    em = _entropy_model(16)
    # information content: a point at a mixture mean is less surprising than one far away
    assert em.information(em.means[:1])[0] < em.information(em.means[:1] + 10)[0]
    x = torch.full((1, 3, 32, 32), 0.5)
    x[..., :8, :8] = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(1))
    for norm in ("image", "train_cdf"):
        w = EntropyWeights(codec, em, norm)(x, 8)
        assert w.shape == (16,) and (w >= 0).all() and (w <= 1).all() and np.isfinite(w).all()
    w = EntropyWeights(codec, em)(x, 8)
    assert w.max() == 1 and w.min() == 0
    p = tmp_path / "em.json"
    em.save(p)
    import hashlib

    back = EntropyModel.load(p, hashlib.sha256(p.read_bytes()).hexdigest())
    assert np.allclose(back.information(em.means), em.information(em.means))
    with pytest.raises(CheckpointError):
        EntropyModel.load(p, "0" * 64)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CheckpointError):
        EntropyModel.load(tmp_path / "bad.json")
    with pytest.raises(InputError):
        em.information(np.zeros((4, 15)))
    with pytest.raises(InputError):
        EntropyWeights(codec, em)(torch.rand(1, 3, 32, 32), 16)
