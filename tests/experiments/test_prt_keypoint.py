"""semcom prt keypoint: the application checks on a tiny clip."""

import pytest

pytest.importorskip("mediapipe")

from semcom.errors import ConfigError
from semcom.experiments import prt_keypoint


def test_tiny_checks(tmp_path):
    res = prt_keypoint.run({"frames": 6, "size": 128, "drop_rates": [0.0, 1.0],
                            "concealers": ["hold_last", "zero_motion"],
                            "out": str(tmp_path)})
    d = res.data
    assert (tmp_path / "keypoint_checks.json").is_file()
    assert d["detector"]["frames_with_face"] == 6
    # Syn driven by the clip's own symbols is closer to the clip than the still source frame
    assert d["synthesizer"]["ald_px"] < d["synthesizer"]["still_source_ald_px"]
    assert sum(d["importance"]["mean_rho"]) == pytest.approx(1.0, abs=1e-5)
    # nothing lost: both concealers give the same output; everything lost: hold-last = zero-motion
    # (both hold the source frame's pose, since only frame 0 is received)
    lossless, lossy = d["concealment"]["0.0"], d["concealment"]["1.0"]
    assert lossless["hold_last"]["ald_px"] == pytest.approx(lossless["zero_motion"]["ald_px"])
    assert lossless["hold_last"]["ald_px"] == pytest.approx(d["synthesizer"]["ald_px"])
    assert lossy["hold_last"]["ald_px"] == pytest.approx(lossy["zero_motion"]["ald_px"])


def test_checks_config():
    with pytest.raises(ConfigError):
        prt_keypoint.run({"concealers": ["magic"]})
    with pytest.raises(ConfigError):
        prt_keypoint.run({"frames": 1})
