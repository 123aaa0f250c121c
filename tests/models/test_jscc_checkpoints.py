"""Every committed learned-JSCC checkpoint still reaches the metric recorded in its metadata.

The evaluation is the one the training run recorded (``metadata["eval"]``): the 3 "tiny" test
photos, 256x256 centre crops, at the training SNR, fixed seeds. Tolerances: 0.1 dB PSNR, 0.005
MS-SSIM, 0.002 SPP (float arithmetic differs slightly across CPUs; the channel noise is seeded).
"""

import pytest
import torch

from semcom.models import checkpoint_dir, list_pretrained, load_pretrained
from semcom.training import evaluate

MINE = ("deepjscc", "vlscc2d", "scc")
NAMES = [n for n in list_pretrained() if n.split("_")[0] in MINE]


def test_reference_checkpoints_are_committed():
    kinds = {n.split("_")[0] for n in NAMES}
    assert {"deepjscc", "vlscc2d", "scc"} <= kinds, f"committed: {NAMES}"


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_reaches_recorded_metric(name):
    torch.set_num_threads(1)
    model = load_pretrained(name)
    meta = model.metadata
    assert meta["name"] == name and meta["model"] == model.name
    assert meta["parameters"] == model.num_parameters()
    assert meta["file_bytes"] == (checkpoint_dir() / f"{name}.pt").stat().st_size
    assert meta["file_bytes"] < 10_000_000
    ev = meta["eval"]
    got = evaluate(model, ev["images"], ev["size"], snr_db=ev["snr_db"], seed=ev["seed"])
    assert got["checksums"] == ev["checksums"]  # the same test photos
    rec = meta["metric"]
    assert got["psnr_db"] == pytest.approx(rec["psnr_db"], abs=0.1)
    assert got["ms_ssim"] == pytest.approx(rec["ms_ssim"], abs=0.005)
    assert got["spp"] == pytest.approx(rec["spp"], abs=0.002)
    for key in ("config", "data", "seed", "command", "steps", "train_minutes"):
        assert key in meta
