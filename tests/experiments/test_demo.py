import json

import numpy as np
from PIL import Image

from semcom.cli import main
from semcom.data import test_images


def test_quick_demo_on_a_user_folder_writes_report_and_json(tmp_path):
    # one 128x128 crop of a bundled photo, given as the user's own folder: the same code paths, less time
    folder = tmp_path / "photos"
    folder.mkdir()
    img = test_images(subset="tiny")[1].image[0, :, 64:192, 64:192]
    Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(folder / "crop.png")
    out = tmp_path / "demo"
    rc = main(["demo", "--quick", "--no-learned", "--images", str(folder), "--out", str(out), "--no-progress"])
    assert rc == 0
    page = (out / "index.html").read_text()
    data = json.loads((out / "demo.json").read_text())
    assert "data:image/png;base64" in page and "Separation baselines" in page
    summary = data["data"]["baseline"]["summary"]
    assert {s["fidelity"] for s in summary} == {"bittrue", "adaptive", "capacity"}
    assert {s["channel"] for s in summary} == {"awgn", "rayleigh"}
    # the capacity bound is never worse than LDPC at the same point on AWGN
    by = {(s["codec"], s["channel"], s["fidelity"], s["snr_db"]): s for s in summary}
    for (codec, ch, fid, snr), s in by.items():
        if fid == "capacity" and ch == "awgn":
            assert s["psnr"] >= by[(codec, ch, "bittrue", snr)]["psnr"] - 1e-6
    assert list(data["provenance"]["data_checksums"]) == ["crop.png"]
    for key in ("version", "git_commit", "config", "seed", "data_checksums", "date"):
        assert key in data["provenance"]
    assert data["data"]["timings"]["total_s"] > 0
