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


def test_cross_system_section_opens_with_figure_and_table(tmp_path):
    """The demo's first section: every image system at DeepJSCC's channel uses, from the compare core."""
    from semcom.experiments import demo
    from semcom.report.html import HtmlReport

    folder = tmp_path / "photos"
    folder.mkdir()
    img = test_images(subset="tiny")[0].image[0, :, 64:128, 64:128]
    Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(folder / "crop.png")
    cfg = demo.DemoConfig(images=str(folder), compare_systems=["deepjscc", "separation:codec=jpeg2000,link=capacity"],
                          compare_snr_db=[4.0])
    data = demo._cross_system(cfg, 1, None, False, tmp_path)
    assert [s["name"] for s in data["systems"]] == cfg.compare_systems
    deep, sep = data["records"]  # the separation system is granted exactly DeepJSCC's channel uses
    assert sep["channel_uses_budget"] == deep["channel_uses"] == 64 * 64 // 8
    rep = HtmlReport("demo")
    demo._cross_system_section(rep, data, tmp_path)
    page = rep.write(tmp_path / "index.html").read_text()
    assert "Every system on the same link" in page and "PSNR at 4 dB" in page and "data:image/png;base64" in page
    assert "_cross_system_section(rep" in open(demo.__file__).read().split('rep.heading("1. The link')[0]


def test_demo_sesc_and_lsci_sections(tmp_path):
    """The demo's SE-SC and LSCI sections run with the committed checkpoints and add their figures."""
    import importlib.util

    import pytest

    if importlib.util.find_spec("mediapipe") is None:
        pytest.skip("mediapipe not installed")
    from semcom.experiments.demo import _sesc_lsci_sections
    from semcom.experiments.results import Results
    from semcom.report.html import HtmlReport

    rep = HtmlReport("demo")
    res = Results("demo", {"timings": {"total_s": 0.0}}, {})
    _sesc_lsci_sections(rep, res, tmp_path)
    assert 0 < res.data["sesc"]["sent"] <= res.data["sesc"]["patches"]
    assert res.data["sesc"]["channel_uses"] < res.data["sesc"]["channel_uses_full"]
    assert res.data["lsci"]["mean_of_lsci_points"]["lsci_base"]["bpp"] > 0
    assert list((tmp_path / "sesc").glob("*.png")) and list((tmp_path / "lsci").glob("*.png"))
    assert res.data["timings"]["total_s"] > 0
