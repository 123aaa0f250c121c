"""The SE-SC experiments run end to end at a tiny size (a tiny untrained codec; structure, not quality)."""

import pytest
import torch

from semcom.models import build_model

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    pytest.importorskip("mediapipe")
    torch.manual_seed(0)
    m = build_model("sesc", {"dim": 16, "dec_dim": 16, "enc_layers": 1, "dec_layers": 1, "heads": 2,
                             "dec_heads": 2, "symbols_per_patch": 4})
    p = tmp_path_factory.mktemp("ck") / "tiny_sesc.pt"
    torch.save(m.checkpoint_dict(), p)
    return str(p)


def test_qos_sweep(ckpt, tmp_path):
    from semcom.experiments import sesc_qos

    res = sesc_qos.run({"checkpoint": ckpt, "snr_db": [10.0], "n_composites": 1, "seeds": 1, "size": 128,
                        "baselines": ["capacity"]}, progress=False)
    methods = [r["method"] for r in res.data["summary"]]
    assert methods == ["clean", "sesc_mu0.2", "sesc_mu0.3", "sesc_full", "jpeg2000_capacity"]
    sym = res.data["symbols_per_image"]
    assert sym["sesc_mu0.3"] <= sym["sesc_mu0.2"] <= sym["sesc_full"] == 256 * 4
    assert res.data["mask_code_bits"]["sesc_full"]["sent"] <= 2 + 1 + 17  # header, first flag, gamma(256)
    assert sesc_qos.plot(res, tmp_path)[0].is_file() and res.save(tmp_path).is_file()


def test_similarity_weights_and_visual(ckpt, tmp_path):
    from semcom.experiments import sesc_similarity, sesc_visual, sesc_weights

    s = sesc_similarity.run({"checkpoint": ckpt, "fractions": [0.25, 1.0], "n_composites": 1, "size": 128},
                            progress=False)
    assert {r["L"] for r in s.data["rows"]} == {64, 256} and set(s.data["L_opt"]) == {"task", "random"}
    w = sesc_weights.run({"checkpoint": ckpt, "fractions": [0.5], "models": ["task", "random"], "snr_db": [10.0],
                          "n_composites": 1, "size": 128}, progress=False)
    assert {r["symbols"] for r in w.data["rows"]} == {128 * 4}  # equal symbols for every model
    v, arrays = sesc_visual.run({"checkpoint": ckpt, "scene": "astronaut", "size": 128, "n_composites": 0})
    assert v.data["sent"] <= v.data["patches"] == 256
    assert sesc_visual.plot(v, arrays, tmp_path)[0].is_file()


def test_codecs_comparison_and_cnn_weights(ckpt, tmp_path, monkeypatch):
    """Both codecs at equal keep ratios; the learned relevance CNN as the weight model."""
    from semcom.experiments import sesc_codecs, sesc_common
    from semcom.models.sesc_relevance import RelevanceCNN

    torch.manual_seed(1)
    cnn = build_model("sesc_cnn", {"dim": 16, "dec_dim": 16, "enc_layers": 1, "dec_layers": 1, "symbols_per_patch": 4})
    p = tmp_path / "tiny_sesc_cnn.pt"
    torch.save(cnn.checkpoint_dict(), p)
    monkeypatch.setattr(sesc_common, "load_relevance", lambda: RelevanceCNN().eval())
    res = sesc_codecs.run({"checkpoints": [ckpt, str(p)], "fractions": [0.5, 1.0], "n_composites": 1, "size": 128,
                           "weights": "cnn"})
    assert [r["k"] for r in res.data["image"]] == [128, 256] * 2 and len(res.data["task"]) == 4
    assert set(res.data["codecs"]) == {ckpt, str(p)} and res.data["codecs"][str(p)]["model"] == "SESCCNN"
    assert all(0 <= r["ap50"] <= 1 for r in res.data["task"])
    assert sesc_codecs.plot(res, tmp_path)[0].is_file()
