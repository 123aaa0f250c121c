"""``semcom train curves`` and ``semcom train snr-sweep`` on tiny checkpoints trained here (seconds),
and the learned systems of the bench built from those checkpoints (``adjscc``, ``deepjscc:checkpoint=``)."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from semcom.errors import ConfigError, InputError
from semcom.experiments import train_report
from semcom.training import TrainConfig, evaluate, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = dict(crop_size=32, batch_size=2, steps=3, eval_size=64, checkpoint_every=1, log_every=1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny runs: a single-SNR DeepJSCC (5 dB, SPP 0.125) and an SNR-adaptive ADJSCC (-2..20 dB,
    SPP 0.125), both with a curve point after every step."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    small = {"hidden_channels": 4, "latent_channels": 4}
    train(TrainConfig(model="deepjscc", name="dj_tiny", model_config={**small, "snr_db": 5.0},
                      eval_every_minutes=1e-9, **TINY), root / "dj", progress=False)
    train(TrainConfig(model="adjscc", name="ad_tiny", model_config={**small, "snr_db": [-2.0, 20.0]},
                      eval_every_minutes=1e-9, **TINY), root / "ad", progress=False)
    torch.set_num_threads(n)
    return root


def _cli(argv, capsys):
    from semcom.cli import main

    code = main(argv)
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out


# ------------------------------------------------------------------ curves
def test_curves_of_finished_running_and_final_only_checkpoints(runs, tmp_path, capsys):
    running = tmp_path / "running"  # a run still training: its log and resume metadata, no checkpoint yet
    running.mkdir()
    for f in ("log.jsonl", "last.json"):
        shutil.copyfile(runs / "dj" / f, running / f)
    old = json.loads((runs / "ad" / "ad_tiny.json").read_text())
    del old["curve"]  # a checkpoint trained before curves existed: only its final metric
    (tmp_path / "old_ad.json").write_text(json.dumps({**old, "name": "old_ad"}))
    code, out = _cli(["train", "curves", str(runs / "dj"), str(running), str(runs / "ad" / "ad_tiny.pt"),
                      str(tmp_path / "old_ad.json"), "scc_awgn10_spp00625", "--out", str(tmp_path / "o")],
                     capsys)
    assert code == 0, out.err
    data = json.loads((tmp_path / "o" / "train_curves.json").read_text())["data"]
    by = {e["label"]: e for e in data["models"]}
    meta = json.loads((runs / "dj" / "dj_tiny.json").read_text())
    assert by["dj_tiny"]["kind"] == "curve" and by["dj_tiny"]["points"] == meta["curve"]
    assert by["dj_tiny"]["eval_snr_db"] == 5.0 and by["dj_tiny"]["spp"] == 0.125
    assert by["running"]["running"] and [p["step"] for p in by["running"]["points"]] == [1, 2, 3]
    assert by["ad_tiny"]["eval_snr_db"] == 9.0  # the middle of the trained range
    assert by["old_ad"]["kind"] == "final" and by["old_ad"]["points"] == [
        {"step": old["steps"], "minutes": old["train_minutes"], **{k: old["metric"][k] for k in ("psnr_db", "ms_ssim", "spp")}}]
    from semcom.models import checkpoint_dir

    committed, recorded = by["scc_awgn10_spp00625"], json.loads(  # a committed one trained before curves existed
        (checkpoint_dir() / "scc_awgn10_spp00625.json").read_text())
    assert committed["kind"] == "final" and committed["points"][0]["psnr_db"] == recorded["metric"]["psnr_db"]
    assert committed["points"][0]["minutes"] == recorded["train_minutes"]
    assert (tmp_path / "o" / "train_curves_psnr_db_vs_minutes.png").stat().st_size > 1000


def test_logged_points_of_a_resumed_run_supersede_the_lost_ones():
    recs = [{"step": 25}, {"curve": {"step": 10, "minutes": 1, "psnr_db": 10, "ms_ssim": 0.1, "spp": 0.1}},
            {"curve": {"step": 20, "minutes": 2, "psnr_db": 11, "ms_ssim": 0.2, "spp": 0.1}},
            {"curve": {"step": 30, "minutes": 3, "psnr_db": 12, "ms_ssim": 0.3, "spp": 0.1}},
            # resumed from the state of step 15: its next point (step 18) supersedes those of steps 20 and 30
            {"curve": {"step": 18, "minutes": 2.0, "psnr_db": 11.5, "ms_ssim": 0.25, "spp": 0.1}}]
    pts = train_report.merge_logged_points(recs, "log")
    assert [p["step"] for p in pts] == [10, 18]
    with pytest.raises(InputError, match="finite"):
        train_report.merge_logged_points([{"curve": {"step": 1, "minutes": float("nan"), "psnr_db": 1,
                                                     "ms_ssim": 1, "spp": 1}}], "log")


@pytest.mark.parametrize("make, needle", [
    (lambda d: None, "neither a checkpoint"),
    (lambda d: (d / "empty").mkdir(), "neither a finished checkpoint nor a log.jsonl"),
    (lambda d: ((d / "bad").mkdir(), (d / "bad" / "log.jsonl").write_text("{not json\n")), "not JSON"),
    (lambda d: ((d / "nocurve").mkdir(), (d / "nocurve" / "log.jsonl").write_text('{"step": 1}\n')), "no curve point"),
    (lambda d: (d / "v.json").write_text('{"name": "v", "metric": {"landmark_error_px": 1.0}}'), "no PSNR"),
    (lambda d: (d / "list.json").write_text("[1, 2]"), "not a checkpoint's metadata"),
])
def test_curves_refuse_bad_input_in_one_line(make, needle, tmp_path, capsys):
    make(tmp_path)
    item = {"neither a checkpoint": "no_such_checkpoint", "neither a finished checkpoint nor a log.jsonl": "empty",
            "not JSON": "bad", "no curve point": "nocurve", "no PSNR": "v.json",
            "not a checkpoint's metadata": "list.json"}[needle]
    arg = item if item == "no_such_checkpoint" else str(tmp_path / item)
    code, out = _cli(["train", "curves", arg, "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and needle in out.err and out.err.count("\n") == 1


# ------------------------------------------------------------------ SNR sweep
def test_snr_sweep_of_an_adaptive_and_a_single_snr_checkpoint(runs, tmp_path, capsys):
    ad, dj = runs / "ad" / "ad_tiny.pt", runs / "dj" / "dj_tiny.json"
    code, out = _cli(["train", "snr-sweep", "--checkpoint", str(ad), str(dj), "--snr", "-2", "0:4:4",
                      "--images", "tiny", "--out", str(tmp_path)], capsys)
    assert code == 0, out.err
    res = json.loads((tmp_path / "train_snr_sweep.json").read_text())
    data = res["data"]
    assert data["snr_db"] == [-2.0, 0.0, 4.0]
    assert [(m["label"], m["snr_adaptive"], m["train_snr_db"]) for m in data["models"]] == [
        ("ad_tiny", True, [-2.0, 20.0]), ("dj_tiny", False, 5.0)]
    from semcom.models import load_checkpoint

    model = load_checkpoint(ad)
    direct = evaluate(model, "tiny", 256, snr_db=-2.0, seed=0)  # the sweep is the trainer's own evaluation
    assert data["rows"][0]["ad_tiny"]["psnr_db"] == pytest.approx(direct["psnr_db"], abs=1e-9)
    gap = data["gaps"][0]
    assert gap["psnr_gap_db"] == pytest.approx(data["rows"][0]["ad_tiny"]["psnr_db"] - data["rows"][0]["dj_tiny"]["psnr_db"])
    assert set(res["provenance"]["data_checksums"]) == {"astronaut", "chelsea", "coffee"}
    assert (tmp_path / "train_snr_sweep_psnr_vs_snr.png").is_file()


def test_evaluate_on_whole_photos_crops_to_the_model_multiple(runs):
    from semcom.data import test_images
    from semcom.metrics import psnr
    from semcom.models import load_checkpoint

    model = load_checkpoint(runs / "dj" / "dj_tiny.pt")
    res = evaluate(model, "tiny", None, snr_db=5.0, seed=3)
    photos = test_images(subset="tiny", multiple_of=4)
    assert [tuple(p.image.shape) for p in photos] == [(1, 3, 512, 512), (1, 3, 300, 448), (1, 3, 400, 600)]
    one = model.transmit(photos[1].image, 5.0, seed=4)
    assert res["per_image"]["chelsea"]["psnr_db"] == pytest.approx(float(psnr(photos[1].image, one.image.clamp(0, 1))[0]))
    with pytest.raises(InputError, match="bundled test photos only"):
        evaluate(model, "some/folder", None)


@pytest.mark.parametrize("argv, needle", [
    (["--checkpoint", "X", "--snr", "5", "0"], "strictly increasing"),
    (["--checkpoint", "X", "--snr", "0", "--images", "kodak"], "image set"),
    (["--checkpoint", "X", "--snr", "0", "--images", "all-4"], "crop size"),
    (["--snr", "0"], "--checkpoint"),
    (["--checkpoint", "no_such_checkpoint", "--snr", "0"], "neither a .pt/.json checkpoint"),
    (["--checkpoint", "vlscc1d_landmarks", "--snr", "0"], "takes image models"),
    (["--checkpoint", "deepjscc_awgn5_spp0125", "deepjscc_awgn5_spp0125", "--snr", "0"], "given twice"),
])
def test_snr_sweep_refuses_bad_options_in_one_line(argv, needle, tmp_path, capsys):
    code, out = _cli(["train", "snr-sweep", *argv, "--out", str(tmp_path)], capsys)
    assert code == 2 and needle in out.err and out.err.count("\n") == 1


def test_train_still_takes_a_model_first(tmp_path, capsys):
    from semcom.experiments.train import main

    with pytest.raises(SystemExit):
        main(["deepjscc", "--help"])
    assert "reports: semcom train curves" in capsys.readouterr().out
    code, out = _cli(["train", "nomodel", "--out", str(tmp_path)], capsys)
    assert code == 2 and "unknown model" in out.err


# ------------------------------------------------------------------ the bench
def test_adjscc_and_deepjscc_systems_from_checkpoints(runs):
    from semcom.models import list_pretrained
    from semcom.systems import build_system
    from semcom.systems.adapters import DEFAULT_CHECKPOINTS

    ad = build_system(f"adjscc:ckpt={runs / 'ad' / 'ad_tiny.pt'}")
    dj = build_system(f"deepjscc:checkpoint={runs / 'dj' / 'dj_tiny.pt'}")
    assert (ad.model.name, dj.model.name) == ("adjscc", "deepjscc")
    seen = []
    encode = ad.model.encode
    ad.model.encode = lambda image, snr_db=None: (seen.append(snr_db), encode(image, snr_db))[1]
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    try:
        outs = {s: ad.transmit(x, s, seed=0) for s in (-2.0, 20.0)}
    finally:
        del ad.model.encode
    assert seen == [-2.0, 20.0]  # the SNR of each transmission reaches the SNR-adaptive encoder
    assert outs[-2.0].channel_uses == outs[20.0].channel_uses == 512  # SPP 0.125 on 64x64
    assert not torch.equal(ad.model.encode(x, -2.0)[0].symbols, ad.model.encode(x, 20.0)[0].symbols)
    with pytest.raises(ConfigError, match="not both"):
        build_system("deepjscc:ckpt=a.pt,checkpoint=b.pt")
    with pytest.raises(ConfigError, match="holds model 'deepjscc', not 'adjscc'"):
        build_system(f"adjscc:checkpoint={runs / 'dj' / 'dj_tiny.pt'}")
    if DEFAULT_CHECKPOINTS["adjscc"] not in list_pretrained():
        with pytest.raises(ConfigError, match="not installed"):
            build_system("adjscc")
    else:
        assert build_system("adjscc").model.name == "adjscc"


def test_compare_puts_the_checkpoints_at_matched_spp(runs):
    from semcom.systems import compare

    ad, dj = runs / "ad" / "ad_tiny.pt", runs / "dj" / "dj_tiny.pt"
    img = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    res = compare([f"adjscc:ckpt={ad},label=ad", f"deepjscc:checkpoint={dj},label=dj",
                   "separation:codec=heif,link=capacity"], [("noise", img)], [-2.0, 5.0], budget="match:ad")
    data = res.to_results().data
    uses = {s["name"]: {p["snr_db"]: p["channel_uses"] for p in s["points"]} for s in data["systems"]}
    assert uses["ad"] == uses["dj"] == {-2.0: 512, 5.0: 512}
    assert all(u <= 512 for u in uses["separation:codec=heif,link=capacity"].values())
    psnr = {p["snr_db"]: p["psnr"] for s in data["systems"] if s["name"] == "ad" for p in s["points"]}
    assert psnr[-2.0] != psnr[5.0]


# ------------------------------------------------------------------ gaps to the references
def _system(name, kind, psnrs):
    return {"name": name, "describe": {"system": kind}, "points": [{"snr_db": s, "psnr": v} for s, v in psnrs.items()]}


def test_gaps_to_capacity_and_ldpc_and_the_goals(tmp_path, capsys):
    snrs = (-4.0, -2.0, 0.0, 5.0, 10.0)
    res = {"data": {"systems": [
        _system("good", "learned", dict(zip(snrs, (20.0, 21.0, 22.0, 25.0, 27.0)))),
        _system("bad", "learned", dict(zip(snrs, (16.0, 17.0, 18.0, 20.0, 22.0)))),
        _system("heif_capacity", "separation", dict(zip(snrs, (22.0, 24.0, 26.0, 29.5, 33.0)))),
        _system("heif_ldpc_adapted", "separation", dict(zip(snrs, (11.0, 18.0, 21.0, 27.0, 31.0))))]}}
    path = tmp_path / "compare.json"
    path.write_text(json.dumps(res))
    code, out = _cli(["train", "gaps", str(path), "--out", str(tmp_path)], capsys)
    assert code == 0, out.err
    data = json.loads((tmp_path / "train_gaps.json").read_text())["data"]
    goals = {g["system"]: g for g in data["goals"]}
    assert goals["good"]["max_gap_to_capacity_db"] == pytest.approx(4.5)  # 26 - 22 at 0 dB, 29.5 - 25 at 5 dB
    assert goals["good"]["capacity_goal_met"] and goals["good"]["ldpc_goal_met"]  # margins 9 and 3 dB below 0 dB
    assert goals["good"]["min_margin_over_ldpc_below_0_db"] == pytest.approx(3.0)
    assert goals["bad"]["capacity_goal_met"] is False and goals["bad"]["ldpc_goal_met"] is False
    row = next(r for r in data["rows"] if r["system"] == "bad" and r["snr_db"] == 10.0)
    assert row["gap_to_capacity_db"] == pytest.approx(11.0) and row["margin_over_ldpc_db"] == pytest.approx(-9.0)
    code, out = _cli(["train", "gaps", str(path), "--capacity", "nope", "--out", str(tmp_path)], capsys)
    assert code == 2 and "no system labelled 'nope'" in out.err
    code, out = _cli(["train", "gaps", str(tmp_path / "missing.json"), "--out", str(tmp_path)], capsys)
    assert code == 2 and "does not exist" in out.err


# ------------------------------------------------------------------ scripts/report_training.sh
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "report_training.sh"


def _script(out_dir, **env):
    import os
    import subprocess
    import sys

    src = str(Path(__file__).resolve().parents[2] / "src")
    full = {**os.environ, "SEMCOM": f"{sys.executable} -m semcom.cli", "PYTHONPATH": src, **env}
    return subprocess.run(["bash", str(SCRIPT), str(out_dir)], env=full, capture_output=True, text=True, timeout=1200)


#: the two HEIF references every comparison of the script carries, as --systems specs
HEIF_REFS = ["separation:codec=heif,link=capacity,label=heif_capacity",
             "separation:codec=heif,link=adaptive,label=heif_ldpc_adapted"]


def _systems(cmd: list[str]) -> list[str]:
    """The --systems specs of one ``semcom compare`` command line of the script."""
    return cmd[cmd.index("--systems") + 1:cmd.index("--images")]


def test_report_script_commands_parse(tmp_path, capsys):
    import shlex

    from semcom.cli import main

    run = _script(tmp_path, DRY_RUN="1")
    assert run.returncode == 0, run.stderr
    cmds = [shlex.split(line[2:]) for line in run.stdout.splitlines() if line.startswith("+ ")]
    verbs = [c[3:5] if c[3] == "train" else c[3:4] for c in cmds]  # after "<python> -m semcom.cli"
    assert verbs == [["train", "curves"], ["train", "snr-sweep"], *[["compare"]] * 8, ["train", "gaps"]]
    compare_spp0125, compare_spp025, compare_scc, compare_0db = cmds[2], cmds[3], cmds[4], cmds[5]
    assert {"scc_awgn10_spp0125_105min", "vlscc2d_awgn10_105min", "deepjscc_awgn5_spp0125",
            "deepjscc_awgn0_spp0125"} <= set(cmds[0])
    assert "deepjscc_awgn0_spp0125" in cmds[1]
    retired = {"scc_awgn10_spp0125_long", "vlscc2d_awgn10_long", "deepjscc_awgn10_spp0125_long"}  # not shipped
    assert not retired & set(cmds[0]) and not retired & set(cmds[1])
    assert "deepjscc_spp0125" not in " ".join(cmds[2])
    for c, ref in ((compare_spp0125, "adjscc_spp0125"), (compare_spp025, "deepjscc_spp025")):
        text = " ".join(c)
        assert f"--cbr match:{ref}" in text and "--images all --crop 4" in text and "--snr -4,-2,0,5,10" in text
        assert "separation:codec=heif,link=adaptive,label=heif_ldpc_adapted" in text
        assert "separation:codec=jpeg2000,link=adaptive,label=jpeg2000_ldpc_adapted" in text
        assert "separation:codec=heif,link=capacity,label=heif_capacity" in text
    assert "adjscc:ckpt=adjscc_awgn_m2to20_spp0125,label=adjscc_spp0125" in compare_spp0125
    assert "adjscc:ckpt=adjscc_awgn_m4to8_spp0125,label=adjscc_low_spp0125" in compare_spp0125
    assert "deepjscc:ckpt=deepjscc_awgn5_spp0125,label=deepjscc5_spp0125" in compare_spp0125
    assert _systems(compare_scc) == ["scc:ckpt=scc_awgn10_spp0125_105min,label=scc_105min",
                                     "vlscc2d:ckpt=vlscc2d_awgn10_105min,label=vlscc2d_105min",
                                     "deepjscc:ckpt=deepjscc_awgn5_spp0125,label=deepjscc5_spp0125", *HEIF_REFS]
    text = " ".join(compare_scc)
    assert "--images all --crop 64 --snr -2,0,5,10 --channel awgn --cbr match:scc_105min" in text
    assert text.endswith(f"--out {tmp_path}/compare_scc_vlscc")
    assert _systems(compare_0db) == ["deepjscc:ckpt=deepjscc_awgn0_spp0125,label=deepjscc0_spp0125", *HEIF_REFS]
    text = " ".join(compare_0db)
    assert "--images all --crop 4 --snr -4,-2,0,5,10 --channel awgn --cbr match:deepjscc0_spp0125" in text
    for c, steps, snr, label in ((cmds[6], 100, "-4,-2,0,5,10", "deepjscc5_refine_spp0125"),
                                 (cmds[7], 200, "0,5", "deepjscc5_refine200_spp0125")):
        assert _systems(c) == [f"deepjscc:ckpt=deepjscc_awgn5_spp0125,refine={steps},label={label}",
                               "deepjscc:ckpt=deepjscc_awgn5_spp0125,label=deepjscc5_spp0125", *HEIF_REFS]
        assert f"--images all --crop 4 --snr {snr} --channel awgn --cbr match:deepjscc5_spp0125" in " ".join(c)
    low = cmds[8]
    assert _systems(low) == ["deepjscc:ckpt=deepjscc_awgn5_spp0125,refine=100,label=deepjscc5_refine_spp0125",
                             "deepjscc:ckpt=deepjscc_awgn5_spp0125,label=deepjscc5_spp0125",
                             "deepjscc:ckpt=deepjscc_awgn0_spp0125,label=deepjscc0_spp0125", *HEIF_REFS]
    assert "--images all --crop 4 --snr -4,-2,0 --channel awgn --cbr match:deepjscc5_spp0125" in " ".join(low)
    down = cmds[9]  # the references that may lower the resolution carry the labels the gaps read
    assert _systems(down) == [*_systems(low)[:3], "separation:codec=heif,link=capacity,downscale=4,label=heif_capacity",
                              "separation:codec=heif,link=adaptive,downscale=4,label=heif_ldpc_adapted",
                              "separation:codec=heif,link=capacity,label=heif_capacity_full",
                              "separation:codec=heif,link=adaptive,label=heif_ldpc_adapted_full"]
    assert "--snr -4,-2,0,5 --channel awgn --cbr match:deepjscc5_spp0125" in " ".join(down)
    assert cmds[10][5:-2] == [f"{tmp_path}/{d}/compare.json"
                              for d in ("compare_spp0125", "compare_spp025", "compare_scc_vlscc", "compare_spp0125_0db",
                                        "compare_spp0125_refine", "compare_spp0125_refine_more", "compare_spp0125_low_mcs",
                                        "compare_spp0125_downscale")]
    for f in cmds[10][5:-2]:  # the compare results gaps reads must exist for its parser
        Path(f).parent.mkdir(parents=True, exist_ok=True)
        Path(f).write_text("{}")
    for c in cmds:
        with pytest.raises(SystemExit) as exc:
            main([*c[3:], "--help"])
        assert exc.value.code == 0 and "usage" in capsys.readouterr().out.lower()


def test_report_script_compares_older_checkpoints_only_when_given(tmp_path):
    """The older SCC / VL-SCC 2D and DeepJSCC at SPP 0.125 are retired; given as files (from git history)
    the steps compare them again."""
    import shlex

    run = _script(tmp_path, DRY_RUN="1", SCC_OLD="old/scc.pt", VLSCC2D_OLD="old/vlscc.pt", DEEPJSCC_0125="old/dj.pt")
    assert run.returncode == 0, run.stderr
    cmds = [shlex.split(line[2:]) for line in run.stdout.splitlines() if line.startswith("+ ")]
    sweep = cmds[1][cmds[1].index("--checkpoint") + 1:cmds[1].index("--snr")]
    assert sweep == ["adjscc_awgn_m2to20_spp0125", "adjscc_awgn_m4to8_spp0125", "old/dj.pt", "deepjscc_awgn5_spp0125",
                     "deepjscc_awgn0_spp0125", "deepjscc_awgn5_spp025"]
    assert "deepjscc:ckpt=old/dj.pt,label=deepjscc_spp0125" in cmds[2]
    scc = next(shlex.split(line[2:]) for line in run.stdout.splitlines() if "compare_scc_vlscc" in line)
    systems = _systems(scc)
    assert systems[:5] == ["scc:ckpt=scc_awgn10_spp0125_105min,label=scc_105min",
                           "vlscc2d:ckpt=vlscc2d_awgn10_105min,label=vlscc2d_105min",
                           "scc:ckpt=old/scc.pt,label=scc_long", "vlscc2d:ckpt=old/vlscc.pt,label=vlscc2d_long",
                           "deepjscc:ckpt=deepjscc_awgn5_spp0125,label=deepjscc5_spp0125"]


def test_report_script_skips_named_steps(tmp_path):
    run = _script(tmp_path, DRY_RUN="1", SKIP="compare_spp025 curves")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert "(skipped: compare_spp025)" in lines and "(skipped: curves)" in lines
    # snr-sweep, compare_spp0125, compare_scc, compare_0db, compare_refine, compare_refine_more, compare_low_mcs,
    # compare_downscale, gaps
    assert sum(line.startswith("+ ") for line in lines) == 9
    run = _script(tmp_path, DRY_RUN="1", SKIP="curves snr-sweep compare_spp0125 compare_spp025")
    ran = [line for line in run.stdout.splitlines() if line.startswith("+ ")]
    assert run.returncode == 0 and len(ran) == 7 and "compare_scc_vlscc" in ran[0] and " train gaps " in ran[6]
    assert "compare_spp0125_0db" in ran[1] and ran[2].endswith("compare_spp0125_refine") and "refine_more" in ran[3]
    assert ran[4].endswith("compare_spp0125_low_mcs") and ran[5].endswith("compare_spp0125_downscale")


@pytest.mark.slow
def test_report_script_runs_end_to_end_on_tiny_checkpoints(runs, tmp_path):
    small = {"hidden_channels": 4, "latent_channels": 4}  # tiny stand-ins for every checkpoint the script names
    extra = {"dj025": ("deepjscc", {"hidden_channels": 4, "latent_channels": 8}),  # SPP 0.25 (CBR 1/12)
             "ad_low": ("adjscc", {**small, "snr_db": [-4.0, 8.0]}), "dj5": ("deepjscc", {**small, "snr_db": 5.0}),
             "dj0": ("deepjscc", {**small, "snr_db": 0.0}),
             "scc": ("scc", {"semantic_channels": 8, "sce_channels": 8, "n_symbols": 8}),
             "vlscc": ("vlscc2d", {"semantic_channels": 8, "sce_channels": 8, "ran_channels": 4, "n_symbols": 8})}
    for name, (model, cfg) in extra.items():
        train(TrainConfig(model=model, name=name, model_config=cfg, eval_every_minutes=1e-9, **TINY), tmp_path / name,
              progress=False)
    run = _script(tmp_path / "out", ADJSCC=str(runs / "ad" / "ad_tiny.pt"), ADJSCC_LOW=str(tmp_path / "ad_low" / "ad_low.pt"),
                  DEEPJSCC_025=str(tmp_path / "dj025" / "dj025.pt"), DEEPJSCC_0125=str(runs / "dj" / "dj_tiny.pt"),
                  DEEPJSCC_0125_5=str(tmp_path / "dj5" / "dj5.pt"),
                  DEEPJSCC_0125_0=str(tmp_path / "dj0" / "dj0.pt"), OLD_CHECKPOINTS="scc_awgn10_spp00625",
                  SCC=str(tmp_path / "scc" / "scc.pt"), VLSCC2D=str(tmp_path / "vlscc" / "vlscc.pt"),
                  SCC_OLD=str(tmp_path / "scc" / "scc.pt"), VLSCC2D_OLD=str(tmp_path / "vlscc" / "vlscc.pt"),
                  IMAGES="tiny", SWEEP_SNR="-2 5", COMPARE_SNR="-2,5", SCC_SNR="-2,5", WORKERS="1",
                  REFINE_STEPS="2", REFINE_MORE_STEPS="3", REFINE_MORE_SNR="5", LOW_SNR="-2", DOWNSCALE_SNR="-2")
    assert run.returncode == 0, run.stderr[-2000:]
    out = tmp_path / "out"
    for f in ("train_curves.json", "train_snr_sweep.json", "compare_spp0125/compare.json",
              "compare_spp025/compare.json", "compare_scc_vlscc/compare.json", "compare_spp0125_0db/compare.json",
              "compare_spp0125_refine/compare.json", "compare_spp0125_refine_more/compare.json",
              "compare_spp0125_low_mcs/compare.json", "compare_spp0125_downscale/compare.json", "train_gaps.json",
              "report_training.log"):
        assert (out / f).is_file(), f
    gaps = json.loads((out / "train_gaps.json").read_text())["data"]
    assert sorted(g["system"] for g in gaps["goals"]) == [
        "adjscc_low_spp0125", "adjscc_spp0125", *["deepjscc0_spp0125"] * 3, "deepjscc5_refine3_spp0125",
        *["deepjscc5_refine_spp0125"] * 3, *["deepjscc5_spp0125"] * 6, "deepjscc_spp0125",
        "deepjscc_spp025", "scc_105min", "scc_long", "vlscc2d_105min", "vlscc2d_long"]
    assert {g["file"] for g in gaps["goals"] if g["system"].startswith(("scc", "vlscc"))} == {
        str(out / "compare_scc_vlscc" / "compare.json")}
    curves = {m["label"]: m for m in json.loads((out / "train_curves.json").read_text())["data"]["models"]}
    assert curves["scc"]["kind"] == curves["vlscc"]["kind"] == "curve"  # the stand-ins' curves from their metadata
    assert len((out / "report_training.log").read_text().splitlines()) == 12  # a header and one line per step


def test_report_script_keeps_the_sweep_output_when_the_sweep_is_skipped(tmp_path):
    (tmp_path / "snr_sweep.out").write_text("the committed sweep log\n")
    steps = ("curves snr-sweep compare_spp0125 compare_spp025 compare_scc compare_0db compare_refine compare_refine_more "
             "compare_low_mcs compare_downscale gaps")
    run = _script(tmp_path, SKIP=steps)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "snr_sweep.out").read_text() == "the committed sweep log\n"
    assert "(skipped: snr-sweep)" in run.stdout
