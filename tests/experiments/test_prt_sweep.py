"""prt sweep (semcom.experiments.prt_sweep): config checks, bad videos, a tiny end-to-end run."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

from semcom.errors import ConfigError, InputError, SemcomError
from semcom.experiments import prt_sweep as ps

needs_mediapipe = pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None, reason="mediapipe not installed")
needs_keypoint = pytest.mark.skipif(importlib.util.find_spec("semcom.semantics.keypoint") is None,
                                    reason="the keypoint application is not in this checkout")

TINY = {"frames": 4, "size": 128, "cblers": [0.0, 1.0], "allocators": ["cidh"], "tests": [2, 3],
        "concealers": ["fc", "hold_last"], "seeds": 1, "rate_tests": [], "rate_kbps": [], "eval_every": 1,
        "h265_preset": "ultrafast", "resilient": ["h264"], "resilient_preset": "veryfast", "resilient_scale": 1}


def test_config_is_strict():
    with pytest.raises(ConfigError):
        ps.SweepConfig.from_dict({"frame": 3})
    for bad in ({"cblers": [1.5]}, {"tests": [10]}, {"allocators": ["best"]}, {"frames": 0}, {"size": 129},
                {"link": "bittrue"}, {"link": "wifi"}, {"rate_kbps": [-1]}, {"concealers": []}):
        with pytest.raises(ConfigError):
            ps.SweepConfig.from_dict(bad)
    for bad in ({"resilient": ["h266"]}, {"resilient": ["h264", "h264"]}, {"resilient_scale": 3}, {"fec_group": 1},
                {"refresh": 1}, {"usable": {"ald": 2.0}}, {"usable": {"ald": 2.0, "psnr": "25", "ssim": 0.8}}):
        with pytest.raises(ConfigError):
            ps.SweepConfig.from_dict(bad)
    cfg = ps.SweepConfig.from_dict({"link": "bittrue", "snr_db": [0, 2]})
    assert cfg.channel_points == [0.0, 2.0]
    assert ps.SweepConfig().channel_points == [round(0.1 * i, 1) for i in range(11)]


def test_usable_up_to_and_headline():
    thr = {"ald": 2.0, "psnr": 25.0, "ssim": 0.8}
    rows = [{"point": p, "ald": a, "psnr": q, "ssim": s_, "no_face": nf}
            for p, a, q, s_, nf in ((0.0, 0.5, 30, 0.9, 0.0), (0.5, 1.5, 27, 0.85, 0.0), (0.8, 1.9, 26, 0.79, 0.0),
                                    (0.9, 1.0, 24, 0.9, 0.0))]
    u = ps._usable_up_to(list(reversed(rows)), thr)
    assert u == {"ald": 0.9, "psnr": 0.8, "ssim": 0.5, "all": 0.5}
    rows[1]["no_face"] = 0.5  # an ALD over few frames with a face does not count
    assert ps._usable_up_to(rows, thr)["ald"] == 0.0
    assert ps._usable_up_to([{"point": 0.0, "ald": None, "psnr": 10, "ssim": 0.3, "no_face": 1.0}], thr)["all"] is None
    sem = [{"test": 2, "allocator": "cidh", "concealer": "fc", "point": p, "ald": 1.0, "psnr": 30.0, "ssim": 0.9,
            "no_face": 0.0} for p in (0.0, 0.5, 0.8)]
    bad = [{"test": 2, "point": p, "ald": None, "psnr": 10.0, "ssim": 0.3, "no_face": 1.0} for p in (0.0, 0.5, 0.8)]
    good = [dict(r, variant="h264", ald=1.0, psnr=30.0, ssim=0.9, no_face=0.0) for r in bad]
    data = {"semantic": sem, "h265": bad, "resilient": [dict(r, variant="h265") for r in bad], "usable_thresholds": thr}
    usable, head = ps._usable_claims(data, "fc")
    assert usable["2"]["cidh"]["all"] == 0.8 and usable["2"]["h265_strict"]["all"] is None
    assert head["2"]["holds"] is True
    usable, head = ps._usable_claims(dict(data, resilient=good), "fc")
    assert head["2"] == {"cidh_usable_up_to": 0.8, "best_video_baseline": "h264_resilient", "baseline_usable_up_to": 0.8,
                         "holds": False}


def test_resilient_options_on_the_command_line(capsys):
    from semcom.cli import main

    a = ps.build_parser().parse_args(["--resilient", "h264,h265_fec", "--quick"])
    assert ps.config_from_args(a).resilient == ["h264", "h265_fec"]
    a = ps.build_parser().parse_args(["--no-resilient"])
    assert ps.config_from_args(a).resilient == []
    assert ps.config_from_args(ps.build_parser().parse_args(["--quick"])).resilient == ["h264", "h265"]
    assert main(["prt", "sweep", "--resilient", "h266", "--no-progress"]) == 2
    assert "h266" in capsys.readouterr().err
    assert main(["prt", "sweep", "--resilient", "h264", "--no-resilient", "--no-progress"]) == 2
    assert "exclude" in capsys.readouterr().err


def test_table1_grants():
    g = ps.table1_grant(3, 192)
    assert g.capacities == (384,) * 5
    assert ps.table1_grant(8, 100).capacities == (900,) * 3


def _write(path, frames):
    from semcom.data.video import write_video

    write_video(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0, path, fps=10)
    return str(path)


@needs_mediapipe
def test_a_video_without_a_face_is_a_clear_error(tmp_path, capsys):
    from semcom.data.faces import NoFaceError

    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    path = _write(tmp_path / "noface.mp4", noise)
    cfg = dict(TINY, video=path, size=64)
    with pytest.raises(NoFaceError, match="no face"):
        ps.run(cfg, progress=False)
    from semcom.cli import main

    assert main(["prt", "sweep", "--video", path, "--size", "64", "--frames", "3", "--out", str(tmp_path),
                 "--no-progress"]) == 2
    assert "no face" in capsys.readouterr().err


def test_an_empty_video_is_a_clear_error(tmp_path, capsys):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(SemcomError):
        ps.run(dict(TINY, video=str(empty)), progress=False)
    from semcom.cli import main

    assert main(["prt", "sweep", "--video", str(empty), "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("semcom: error:") and len(err.strip().splitlines()) == 1
    with pytest.raises(InputError):
        ps._check_faces(np.zeros((0, 64, 64, 3), np.uint8), None)


def _has_fc_checkpoint() -> bool:
    try:
        from semcom.models.concealer import pretrained_concealer_path

        return pretrained_concealer_path().is_file()
    except Exception:
        return False


@pytest.fixture(scope="module")
def tiny_cfg():
    conc = ["fc", "hold_last"] if _has_fc_checkpoint() else ["hold_last"]
    return dict(TINY, concealers=conc, ablation_allocators=["cidh"])


@needs_mediapipe
@needs_keypoint
def test_per_code_block_delivery_end_to_end(tiny_cfg):
    cfg = ps.SweepConfig.from_dict(dict(tiny_cfg, cblers=[0.5]))
    ctx = ps._context(json.dumps(__import__("dataclasses").asdict(cfg), sort_keys=True))
    out = ps.semantic_chain(ctx, cfg, 2, "cidh", cfg.concealers[0], 0.5, seed=3)
    ok = out["cb_ok"].numpy()
    assert ok.shape == (cfg.frames, 3) and 0 < ok.mean() < 1  # some blocks lost, some not
    for t, (d, rec) in enumerate(zip(out["assignments"], out["received"])):
        expect = tuple(i for i in range(d.shape[0]) if (d[i] & ok[t]).any())
        assert rec == expect  # a symbol arrives iff a block carrying it passed its CRC
        assert d.sum(axis=0).max() <= 2  # m = 2 symbols per block (Eq. 2)
    assert set(out["outputs"]) == set(range(cfg.frames))
    assert all(o.shape == (cfg.size, cfg.size, 3) and o.dtype == np.uint8 for o in out["outputs"].values())


@needs_mediapipe
@needs_keypoint
def test_tiny_run(tiny_cfg, tmp_path):
    res = ps.run(tiny_cfg, progress=False)
    d = res.data
    assert d["x_axis"] == "cbler" and d["video"]["frames"] == 4
    assert d["symbols"] == {"n": 10, "bits": [192] * 10}
    assert d["grants"]["2"]["bits_per_frame"] == 3 * 384 and d["grants"]["3"]["kbps"] == 5 * 384 * 25 / 1000
    rows = {(r["test"], r["concealer"], r["point"]): r for r in d["semantic"]}
    for conc in tiny_cfg["concealers"]:
        for test, mu in ((2, 6.0), (3, 10.0)):
            clean, lost = rows[(test, conc, 0.0)], rows[(test, conc, 1.0)]
            assert clean["cbler_measured"] == 0.0 and clean["symbols_received"] == clean["mu_n"] == mu
            assert lost["cbler_measured"] == 1.0 and lost["symbols_received"] == 0.0 and lost["w_rho"] == 0.0
            assert clean["ald"] is not None and clean["psnr"] > 15 and 0 < clean["ssim"] <= 1
        assert rows[(3, conc, 0.0)]["w_rho"] == pytest.approx(1.0)
    h = {(r["test"], r["point"]): r for r in d["h265"]}
    assert h[(3, 0.0)]["decoded"] == 1.0 and h[(3, 1.0)]["decoded"] == 0.0 and h[(3, 1.0)]["no_face"] == 1.0
    assert h[(2, 0.0)]["no_fit"] is True and h[(2, 0.0)]["decoded"] == 0.0  # 4 frames at 28.8 kbit/s: no I-frame fits
    acc = d["h265_accounting"]["3"]
    assert acc["channel_bits"] == 4 * 5 * 384 == acc["stream_bits"] + acc["framing_bits"] + acc["padding_bits"]
    r = {(x["test"], x["point"]): x for x in d["resilient"] if x["variant"] == "h264"}
    assert r[(3, 0.0)]["decoded"] == 1.0 and r[(3, 0.0)]["concealed"] == 0.0 and r[(3, 0.0)]["no_fit"] is False
    assert r[(3, 1.0)]["decoded"] == 0.0 and r[(3, 1.0)]["complete"] == 0.0  # every block lost: all fallback
    racc = d["resilient_accounting"]["h264"]["3"]
    assert racc["channel_bits"] == racc["stream_bits"] + racc["framing_bits"] + racc["fec_bits"] + racc["padding_bits"]
    assert racc["fragmented_slices"] == 0 and racc["max_slice_bytes"] <= 384 // 8 - 4
    cl = d["claims"]
    assert set(cl["usable_up_to"]["3"]) == {"cidh", "h265_strict", "h264_resilient"}
    assert set(cl["headline"]["3"]) == {"cidh_usable_up_to", "best_video_baseline", "baseline_usable_up_to", "holds"}
    assert "Usable quality" in ps.format_markdown(res) and "H.264 resilient" in ps.format_markdown(res)
    assert d["lpips"]["available"] in (True, False) and d["lpips"]["status"]
    assert res.provenance["data_checksums"]["video"] == d["video"]["sha256"]
    paths = ps.plot(res, tmp_path)
    assert {p.name for p in paths} == {"sweep_allocators.png", "sweep_vs_h265.png", "sweep_vs_resilient.png"}
    assert "test 2" in ps.format_summary(res)


@needs_mediapipe
@needs_keypoint
def test_main_writes_json_and_plots(tiny_cfg, tmp_path):
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(json.dumps(dict(tiny_cfg, h265=False, resilient=[], cblers=[0.0])))
    assert ps.main(["--config", str(cfg_path), "--out", str(tmp_path), "--no-progress"]) == 0
    saved = json.loads((tmp_path / "sweep.json").read_text())
    assert saved["name"] == "sweep" and saved["provenance"]["config"]["frames"] == 4
    assert (tmp_path / "sweep_allocators.png").is_file()


@needs_mediapipe
@needs_keypoint
def test_demo_section(tmp_path):
    from semcom.report.html import HtmlReport

    rep = HtmlReport("t")
    info = ps.demo_section(rep, tmp_path, quick=True)
    assert (tmp_path / "prt_demo.png").is_file() and len(info["cells"]) == 3
    assert info["concealer"] == ("fc" if _has_fc_checkpoint() else "hold_last")
    assert info["cells"][0]["h265"]["decoded"] == 1.0
    assert info["cells"][0]["h264_resilient"]["decoded"] == 1.0 and info["cells"][0]["h264_resilient"]["concealed"] == 0.0
    assert any("prt" in p for p in rep.parts)


@needs_mediapipe
@needs_keypoint
def test_committed_results_reproduce():
    """A few runs of the committed default sweep, re-run from its recorded config, give the same numbers."""
    import dataclasses
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "results" / "prt" / "sweep.json"
    if not path.is_file():
        pytest.skip("results/prt/sweep.json is not in this checkout")
    saved = json.loads(path.read_text())
    cfg = ps.SweepConfig.from_dict(saved["provenance"]["config"])
    cfg_json = json.dumps(dataclasses.asdict(cfg), sort_keys=True)
    sem = {(r["test"], r["allocator"], r["concealer"], r["point"], r["seed"]): r for r in saved["data"]["runs"]["semantic"]}
    for key in ((3, "cidh", "fc", 0.8, 0), (2, "ffh", "fc", 0.5, 1)):
        got = ps._semantic_task({"cfg": cfg_json, **dict(zip(("test", "allocator", "concealer", "point", "seed"), key))})
        for m in ("ald", "psnr", "ssim", "w_rho", "cbler_measured"):
            assert got[m] == pytest.approx(sem[key][m], rel=1e-5, abs=1e-6), (key, m)
    h = {(r["test"], r["point"], r["seed"]): r for r in saved["data"]["runs"]["h265"] if r.get("kbps") is None}
    got = ps._h265_task({"cfg": cfg_json, "test": 3, "point": 0.0, "seed": 0})
    for m in ("psnr", "ssim", "decoded"):
        assert got[m] == pytest.approx(h[(3, 0.0, 0)][m], rel=1e-5), m


@pytest.mark.parametrize("bad", [[], 0, "", False])
def test_sweep_config_refuses_a_non_mapping_even_when_empty(bad):
    """An empty list (or any falsy non-mapping) is not an empty config: ConfigError, as for every config."""
    from semcom.errors import ConfigError
    from semcom.experiments.prt_sweep import SweepConfig

    with pytest.raises(ConfigError):
        SweepConfig.from_dict(bad)


@pytest.mark.slow
@needs_mediapipe
@needs_keypoint
def test_committed_resilient_results_reproduce():
    """One run of the resilient H.264 baseline of the committed sweep (three scales encoded: slow)."""
    import dataclasses
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "results" / "prt" / "sweep.json"
    if not path.is_file():
        pytest.skip("results/prt/sweep.json is not in this checkout")
    saved = json.loads(path.read_text())
    res = {(r["variant"], r["test"], r["point"], r["seed"]): r for r in saved["data"]["runs"].get("resilient", [])}
    if ("h264", 3, 0.3, 0) not in res:
        pytest.skip("the committed sweep has no resilient H.264 run")
    cfg = ps.SweepConfig.from_dict(saved["provenance"]["config"])
    cfg_json = json.dumps(dataclasses.asdict(cfg), sort_keys=True)
    got = ps._resilient_task({"cfg": cfg_json, "variant": "h264", "test": 3, "point": 0.3, "seed": 0})
    for m in ("psnr", "ssim", "decoded", "concealed"):
        assert got[m] == pytest.approx(res[("h264", 3, 0.3, 0)][m], rel=1e-5), m


@needs_mediapipe
@needs_keypoint
def test_sweep_on_a_process_pool_does_not_hang(tmp_path):
    """The prt sweep's pool spawns its workers: forked children of a parent that runs MediaPipe hung."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "semcom.cli", "prt", "sweep", "--quick", "--no-resilient", "--no-h265",
           "--workers", "2", "--out", str(tmp_path), "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "sweep.json").is_file()
