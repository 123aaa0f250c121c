"""Every committed LSCI checkpoint loads (SHA-256 checked) and still reaches its recorded metric."""

import json

import pytest

from semcom.experiments.lsci_train import evaluate_base, evaluate_slice
from semcom.models.lsci import checkpoint_path, load_base

NAMES = sorted(p.stem for p in checkpoint_path("x").parent.glob("lsci_*.json"))


def test_checkpoints_committed():
    assert {"lsci_base", "lsci_channel_awgn", "lsci_channel_rayleigh"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_reaches_recorded_metric(name):
    path = checkpoint_path(name)
    meta = json.loads(path.with_suffix(".json").read_text())
    rec = meta["metric"]
    if meta["model"] == "lsci_base":
        got = evaluate_base(load_base(path), meta["config"]["eval_size"])
        assert got["psnr_db"] == pytest.approx(rec["psnr_db"], abs=0.1)
        assert got["ms_ssim"] == pytest.approx(rec["ms_ssim"], abs=0.005)
        assert got["bpp"] == pytest.approx(rec["bpp"], abs=0.002)
        assert got["bpp"] < got["bound_bpp"] + 0.01          # the coder beats the Eq. 5 bound (header aside)
    else:
        got = evaluate_slice(path)
        for k, v in rec.items():
            assert got[k] == pytest.approx(v, abs=0.1), k
