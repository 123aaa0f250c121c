"""The seb experiments run end to end on shrunk configs (slow tier), and refuse bad configs (fast)."""

import json

import pytest
import torch

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
    with pytest.raises(ConfigError):
        seb_sweep.run({"deliveries": ["pigeon"]})
    with pytest.raises(ConfigError):
        seb_sweep.run({"rates": [0.1, 0.5]})
    with pytest.raises(ConfigError):
        seb_sweep.run({"stack": {"mcs": [[2, 0.5]]}})
    with pytest.raises(ConfigError):
        seb_sweep.run({"stack": {"pdcp_typo": 1}})


@pytest.mark.slow
def test_equal_cbr_no_uep_and_stack_headers_in_the_cbr():
    """ours_no_uep_eqcbr spends (almost exactly, never more) UEP's channel uses; the planned channel
    uses are what the transmission spent; the stack's CBR includes its headers."""
    from semcom.experiments import seb_sweep

    res = seb_sweep.run({"snr_db": [3.0], "seeds": [0], "kb_crops": 40, "kb_sizes": [64, 16], "fidelity": "bler_table",
                         "matched": False, "progress": False,
                         "variants": ["ours_uep", "ours_no_uep", "ours_no_uep_eqcbr"]})
    recs = res.data["records"]
    for delivery in ("stack", "corrupt"):
        for image in {r["image"] for r in recs}:
            r = {x["method"]: x for x in recs if x["image"] == image and x["delivery"] == delivery}
            uep, eq, none = r["ours_uep"], r["ours_no_uep_eqcbr"], r["ours_no_uep"]
            assert none["channel_uses"] < eq["channel_uses"] <= uep["channel_uses"]
            assert eq["channel_uses"] >= 0.97 * uep["channel_uses"]
            assert eq["cbr_target"] == pytest.approx(uep["cbr"]) and 0.5 < eq["rates"][1] < 2 / 3
    for image in {r["image"] for r in recs}:
        st = next(x for x in recs if x["image"] == image and x["delivery"] == "stack" and x["method"] == "ours_uep")
        co = next(x for x in recs if x["image"] == image and x["delivery"] == "corrupt" and x["method"] == "ours_uep")
        assert st["bits"] == co["bits"] and st["overhead_bits"] >= 80 * 3 and co["overhead_bits"] == 0
        assert st["channel_uses"] > co["channel_uses"]
    assert {r["delivery"] for r in res.data["summary"]} == {"stack", "corrupt"}
    assert all("cbr" in r for r in res.data["summary"])


@pytest.mark.slow
def test_sweep_main_writes_json_and_uep_protects(tmp_path):
    from semcom.experiments import seb_sweep

    cfg = {"images": "tiny", "snr_db": [2.0, 8.0], "seeds": [0], "kb_crops": 40, "kb_sizes": [64, 16],
           "baselines": ["jpeg2000"], "learned_baselines": ["deepjscc_awgn5_spp0125"], "matched_fine_ratios": [0.2, 1.0],
           "matched_kb_sizes": [[128, 32]]}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    assert seb_sweep.main(["--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path), "--no-progress"]) == 0
    data = json.loads((tmp_path / "seb_sweep_learned.json").read_text())["data"]
    for delivery in ("stack", "corrupt"):
        s = {(r["method"], r["snr_db"]): r for r in data["summary"] if r["delivery"] == delivery}
        # error-free at 8 dB: every variant decodes the same Sebs
        for m in ("ours_random_uep", "ours_no_uep", "ours_no_uep_eqcbr", "ours_uep_sebwise", "ours_no_uep_sebwise"):
            assert s[("ours_uep", 8.0)]["psnr_db"] == pytest.approx(s[(m, 8.0)]["psnr_db"], abs=1e-4)
        # UEP spends more channel uses than all-2/3, the same as the equal-CBR no-UEP
        assert s[("ours_uep", 8.0)]["cbr"] > s[("ours_no_uep", 8.0)]["cbr"]
        assert s[("ours_no_uep_eqcbr", 8.0)]["cbr"] == pytest.approx(s[("ours_uep", 8.0)]["cbr"], rel=0.03)
    m = {(r["method"], r["snr_db"]): r for r in data["matched_summary"]}
    for base in ("jpeg2000", "deepjscc_awgn5_spp0125"):
        assert m[(f"ours_uep@{base}", 8.0)]["cbr"] <= m[(base, 8.0)]["cbr"] * 1.0001
        assert m[(f"ours_uep_kb128@{base}", 8.0)]["cbr"] <= m[(base, 8.0)]["cbr"] * 1.0001
        assert m[(base, 8.0)]["cbr_target"] == pytest.approx(m[(base, 8.0)]["cbr"], rel=0.01)
    assert (tmp_path / "learned" / "seb_sweep_psnr.png").is_file()
    assert (tmp_path / "learned" / "seb_sweep_matched_psnr.png").is_file()


@pytest.mark.slow
def test_kb_update_improves_new_sources_and_counts_signalling(tmp_path):
    from semcom.experiments import seb_kb_update

    res = seb_kb_update.run({"per_source": 3, "kb_crops": 60, "kb_sizes": [64, 16], "kb_capacity": [128, 32],
                             "num_candidates": [16, 4]})
    s = res.data["summary"]
    assert s["fashion"]["updates"] >= 1 and s["fashion"]["update_bytes"] > 0
    assert s["fashion"]["psnr_with_update"] > s["fashion"]["psnr_without_update"]
    assert res.data["final_kb_version"] == sum(v["updates"] for v in s.values())
    # the AP's local t0 refreshes do not change the message digest: every message decodes
    assert all(v["kb_mismatches"] == 0 for v in s.values())


def test_kb_update_ap_counts_a_message_from_a_diverged_kb_as_failed():
    from seb_helpers import codec, photo, pixel_kb

    from semcom.experiments.seb_kb_update import _decode_at_ap
    from semcom.semantics.kb import KnowledgeBase
    from semcom.semantics.seb import SebCodec

    kb, ext = pixel_kb()
    ue = codec(uep="none")
    msg = ue.encode(photo())
    image, mismatch = _decode_at_ap(SebCodec(KnowledgeBase.from_bytes(kb.to_bytes()), ext, ue.config), msg)
    assert not mismatch and torch.equal(image, ue.decode(msg.header_bits, msg.class_bits))
    ahead = KnowledgeBase.from_bytes(kb.to_bytes())
    ahead.version += 65536
    image, mismatch = _decode_at_ap(SebCodec(ahead, ext, ue.config), msg)
    assert mismatch and bool((image == 0.5).all())


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


def test_sweep_uplinks_get_distinct_session_keys_per_transmission():
    """Every stack transmission of the sweep has its own PDCP keys (COUNT restarts at 0 in each
    fresh uplink, so shared keys would repeat the 128-NEA2 key stream), deterministically."""
    from semcom.experiments import seb_sweep

    cfg = seb_sweep.SebSweepConfig(fidelity="bler_table")
    links = seb_sweep.SebLinks(cfg)
    rates = [float(r) for r in cfg.rates]
    keys = []
    for image in range(3):
        for seed in (0, 1):
            for snr in (1.0, 2.0):
                for variant in ("ours_uep", "ours_no_uep"):
                    up = links.uplink(rates, seb_sweep.transmission_session(cfg, image, seed, snr, "stack", variant))
                    ue_keys = {(tx.k_enc, tx.k_int) for tx in up.ue.pdcp.values()}
                    assert ue_keys == {(rx.k_enc, rx.k_int) for rx in up.gnb.pdcp.values()}  # both ends agree
                    keys.append(ue_keys.pop())
    assert len(set(keys)) == len(keys) == 24
    again = links.uplink(rates, seb_sweep.transmission_session(cfg, 2, 1, 2.0, "stack", "ours_no_uep"))
    assert again.ue.pdcp[0].k_enc == keys[-1][0]  # deterministic: a re-run uses the same keys
    other_run = seb_sweep.SebSweepConfig(fidelity="bler_table", seed=1)
    assert links.uplink(rates, seb_sweep.transmission_session(other_run, 2, 1, 2.0, "stack", "ours_no_uep")).ue.pdcp[0].k_enc \
        != keys[-1][0]
