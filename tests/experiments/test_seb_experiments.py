"""The seb experiments run end to end on shrunk configs (slow tier), and refuse bad configs (fast)."""

import json

import pytest

from semcom.errors import ConfigError


def test_configs_refuse_unknown_keys_and_variants():
    from semcom.experiments import seb_granularity, seb_kb_update, seb_sweep, seb_train

    with pytest.raises(ConfigError):
        seb_sweep.run({"typo": 1})
    with pytest.raises(ConfigError):
        seb_sweep.run({"variants": ["ours_magic"]})
    with pytest.raises(ConfigError):
        seb_kb_update.run({"typo": 1})
    with pytest.raises(ConfigError):
        seb_granularity.run({"typo": 1})
    with pytest.raises(ConfigError):
        seb_train.run({"typo": 1})
    with pytest.raises(ConfigError):
        seb_sweep.run({"extractor": "dino"})


@pytest.mark.slow
def test_sweep_main_writes_json_and_uep_protects(tmp_path):
    from semcom.experiments import seb_sweep

    cfg = {"images": "tiny", "snr_db": [2.0, 8.0], "seeds": [0], "kb_crops": 40, "kb_sizes": [64, 16],
           "baselines": ["jpeg2000"]}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    assert seb_sweep.main(["--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "seb_sweep_pixel.json").read_text())["data"]
    s = {(r["method"], r["snr_db"]): r for r in data["summary"]}
    # error-free at 8 dB: all three variants decode the same s_idx
    assert s[("ours_uep", 8.0)]["psnr_db"] == pytest.approx(s[("ours_no_uep", 8.0)]["psnr_db"])
    # UEP spends more channel uses than all-2/3
    assert s[("ours_uep", 8.0)]["cbr"] > s[("ours_no_uep", 8.0)]["cbr"]
    assert ("jpeg2000", 8.0) in s
    assert (tmp_path / "pixel" / "seb_sweep_psnr.png").is_file()


@pytest.mark.slow
def test_kb_update_improves_new_sources_and_counts_signalling(tmp_path):
    from semcom.experiments import seb_kb_update

    res = seb_kb_update.run({"per_source": 3, "kb_crops": 60, "kb_sizes": [64, 16], "kb_capacity": [128, 32],
                             "num_candidates": [16, 4]})
    s = res.data["summary"]
    assert s["fashion"]["updates"] >= 1 and s["fashion"]["update_bytes"] > 0
    assert s["fashion"]["psnr_with_update"] > s["fashion"]["psnr_without_update"]
    assert res.data["final_kb_version"] == sum(v["updates"] for v in s.values())


@pytest.mark.slow
def test_granularity_more_fine_sebs_cost_more_and_reconstruct_better():
    from semcom.experiments import seb_granularity

    res = seb_granularity.run({"ratios": [0.0, 1.0], "kb_images": 150, "kb_sizes": [64, 16], "clf_train": 500,
                               "clf_epochs": 1, "test_images": 40})
    lo, hi = res.data["rows"]
    assert hi["cbr"] > lo["cbr"] and hi["psnr_db"] > lo["psnr_db"]


def test_demo_section_adds_a_seb_section(tmp_path):
    from semcom.experiments.seb_sweep import demo_section
    from semcom.report.html import HtmlReport

    report = HtmlReport("t")
    info = demo_section(report, tmp_path, quick=True)
    assert (tmp_path / "seb_demo.png").is_file()
    assert info["bits"] > 0 and info["psnr_db"] > 10 and 0 < info["fine_regions"] <= info["regions"]
    html = report.write(tmp_path / "r.html").read_text()
    assert "Explicit semantic bases" in html and "data:image/png;base64" in html
