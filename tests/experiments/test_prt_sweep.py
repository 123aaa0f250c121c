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
        "h265_preset": "ultrafast"}


def test_config_is_strict():
    with pytest.raises(ConfigError):
        ps.SweepConfig.from_dict({"frame": 3})
    for bad in ({"cblers": [1.5]}, {"tests": [10]}, {"allocators": ["best"]}, {"frames": 0}, {"size": 129},
                {"link": "bittrue"}, {"link": "wifi"}, {"rate_kbps": [-1]}, {"concealers": []}):
        with pytest.raises(ConfigError):
            ps.SweepConfig.from_dict(bad)
    cfg = ps.SweepConfig.from_dict({"link": "bittrue", "snr_db": [0, 2]})
    assert cfg.channel_points == [0.0, 2.0]
    assert ps.SweepConfig().channel_points == [round(0.1 * i, 1) for i in range(11)]


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
    assert d["lpips"]["available"] in (True, False) and d["lpips"]["status"]
    assert res.provenance["data_checksums"]["video"] == d["video"]["sha256"]
    paths = ps.plot(res, tmp_path)
    assert {p.name for p in paths} == {"sweep_allocators.png", "sweep_vs_h265.png"}
    assert "test 2" in ps.format_summary(res)


@needs_mediapipe
@needs_keypoint
def test_main_writes_json_and_plots(tiny_cfg, tmp_path):
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(json.dumps(dict(tiny_cfg, h265=False, cblers=[0.0])))
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
