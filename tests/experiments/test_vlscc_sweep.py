"""``semcom vlscc sweep``: the sweep with the committed checkpoints on a small grid, its JSON,
plots and claims, the CLI in-process, the demo section and bad configs."""

import contextlib
import json

import pytest
import torch

from semcom.errors import ConfigError
from semcom.experiments import vlscc_sweep as V
from semcom.experiments.results import Results
from semcom.models import list_pretrained

# the retired earlier checkpoints are read from the committed results, not needed as weights
NEEDED = {c for m, c in V.VlsccSweepConfig().learned() if not m.endswith("_earlier")} | \
    set(V.VlsccSweepConfig().snr_checkpoints)
RUN, RETIRED = V.split_retired(V.VlsccSweepConfig(), set(list_pretrained()))
SNR_ONLY = set(V.VlsccSweepConfig().snr_checkpoints)
pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.skipif(not NEEDED <= set(list_pretrained()), reason=f"committed checkpoints {sorted(NEEDED)} missing"),
]

SMALL = dict(snr_grid=[4.0, 12.0], spp_grid=[0.125], channels=["awgn", "rayleigh"], fidelity="bler_table")


@pytest.fixture(scope="module")
def one_image(tmp_path_factory):
    """A folder with one 256x256 test photo (the HEIF baseline's rate search is the slow part)."""
    from PIL import Image

    from semcom.data import test_images

    d = tmp_path_factory.mktemp("one")
    im = test_images(subset="tiny")[0]
    arr = (im.image[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    Image.fromarray(arr).save(d / f"{im.name}.png")
    return str(d)


def test_sweep_small_grid(tmp_path, one_image):
    with pytest.warns(UserWarning, match="other images") if RETIRED else contextlib.nullcontext():
        res = V.run({**SMALL, "images": one_image}, progress=False)
    d = res.data
    methods = {r["method"] for r in d["spp"]["summary"]}
    assert {"vlscc2d", "scc", "deepjscc", "heif+bler_table", "heif+capacity"} <= methods
    for r in d["spp"]["summary"]:
        assert r["n"] == 1 and 0 < r["spp"] < 1
    by_method: dict = {}
    for method, ck in RUN:
        by_method.setdefault(method, []).append(ck)
    for method, cks in by_method.items():
        assert sorted(r["checkpoint"] for r in d["spp"]["summary"] if r["method"] == method) == sorted(cks)
    assert "scc_earlier" in methods  # the earlier recipe's shipped checkpoint, a curve of its own
    assert "vlscc2d_long_earlier" in methods  # the second earlier recipe: a curve of its own too
    # the retired ones were measured on the 3 tiny photos: not comparable with this one-photo run
    assert not RETIRED or "other images" in d["earlier_note"]
    # the learned points reproduce the checkpoint's own evaluation of that photo (at its evaluation SNR)
    for ck in d["models"]:
        if ck in SNR_ONLY:  # only in the PSNR-versus-SNR sweep
            continue
        row = next(r for r in d["spp"]["summary"] if r.get("checkpoint") == ck)
        from semcom.models import load_pretrained

        ev = load_pretrained(ck).metadata["eval"]
        rec = ev["per_image"]["astronaut"]
        assert row["spp"] == pytest.approx(rec["spp"], abs=0.002)
        if ev["snr_db"] == d["spp"]["snr_db"]:
            assert row["psnr"] == pytest.approx(rec["psnr_db"], abs=0.1)
        else:  # trained and evaluated at a lower SNR (the DeepJSCC at 5 dB): better at the sweep's 10 dB
            assert ev["snr_db"] < d["spp"]["snr_db"] and row["psnr"] > rec["psnr_db"]
    # PSNR versus SNR: DeepJSCC improves with SNR on both channels
    snr = {(r["method"], r["channel"], r["snr_db"]): r["psnr"] for r in d["snr"]["summary"]}
    for ch in ("awgn", "rayleigh"):
        assert snr[("deepjscc", ch, 12.0)] > snr[("deepjscc", ch, 4.0)]
    for c in SNR_ONLY:
        assert d["models"][c]["train_channel"] == "rayleigh"
        assert snr[("deepjscc_rayleigh", "rayleigh", 12.0)] > snr[("deepjscc_rayleigh", "rayleigh", 4.0)]
    assert set(d["claims"]) == {"vlscc_beats_scc_at_equal_spp", "rate_follows_detail"}
    assert set(d["rate_maps"]) == {"astronaut.png"}
    for m in d["rate_maps"].values():
        k = torch.tensor(m["symbols_per_block"])
        assert k.shape == (16, 16) and int(k.min()) >= 0 and int(k.max()) <= 64
    path = res.save(tmp_path)
    back = Results.load(path)
    assert back.data["claims"] == json.loads(json.dumps(d["claims"]))
    figs = V.plot(back.to_dict(), tmp_path)
    assert all(f.is_file() and f.stat().st_size > 1000 for f in figs) and len(figs) == 4


def test_block_detail_is_high_on_texture():
    x = torch.full((1, 3, 32, 32), 0.5)
    x[..., 16:, :] = torch.rand(1, 3, 16, 32, generator=torch.Generator().manual_seed(0))
    d = V.block_detail(x)
    assert d.shape == (2, 2) and d[1].min() > 10 * max(d[0].max(), 1e-6)


def test_cli_main_in_process(tmp_path, capsys, one_image):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({**SMALL, "snr_grid": [10.0], "channels": ["awgn"], "images": one_image}))
    with pytest.warns(UserWarning, match="other images") if RETIRED else contextlib.nullcontext():
        assert V.main(["--config", str(cfg), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "VL-SCC" in out and "claim" in out
    assert (tmp_path / "out" / "vlscc.json").is_file()
    assert (tmp_path / "out" / "vlscc_reconstructions.png").is_file()


def test_bad_config():
    with pytest.raises(ConfigError):
        V.run({"spp_grid": [-1.0]}, progress=False)
    with pytest.raises(ConfigError):
        V.run({"checkpoints": {"vlscc2d": "no_such_checkpoint"}}, progress=False)
    with pytest.raises(ConfigError):
        V.run({"checkpoints": {"jpeg": ["x"]}}, progress=False)
    with pytest.raises(ConfigError):
        V.run({"earlier": {"jpeg": ["x"]}}, progress=False)
    with pytest.raises(ConfigError):
        V.run({"earlier": {"jpeg_long": ["x"]}}, progress=False)
    with pytest.raises(ConfigError):  # recipe tags only for earlier curves
        V.run({"checkpoints": {"scc_long": ["scc_awgn10_spp00625"]}}, progress=False)
    with pytest.raises(ConfigError):
        V.run({"earlier": {"scc": ["no_such_checkpoint"]}}, progress=False)
    with pytest.raises(ConfigError):
        V.run({"snr_grid": [float("nan")]}, progress=False)
    with pytest.raises(ConfigError):
        V.run({"unknown_key": 1}, progress=False)
    with pytest.raises(ConfigError):
        V.run({"snr_checkpoints": "deepjscc_awgn10_spp0125"}, progress=False)  # a list is required
    with pytest.raises(ConfigError):
        V.run({"snr_checkpoints": ["no_such_checkpoint"]}, progress=False)


@pytest.mark.slow
def test_demo_section_quick(tmp_path):
    from semcom.report.html import HtmlReport

    rep = HtmlReport("t")
    out = V.demo_section(rep, tmp_path, quick=True)
    assert out["available"] and out["claims"] and len(out["figures"]) == 5
    html = rep.write(tmp_path / "r.html").read_text()
    assert "Learned JSCC" in html and html.count("<img") == 5


def test_demo_section_without_checkpoints(tmp_path, monkeypatch):
    import semcom.models as M
    from semcom.report.html import HtmlReport

    monkeypatch.setattr(M, "checkpoint_dir", lambda: tmp_path / "none")
    rep = HtmlReport("t")
    out = V.demo_section(rep, tmp_path)
    assert out == {"available": False, "results": None, "claims": {}, "figures": []}
    assert "semcom train" in "".join(rep.parts)


def test_checkpoint_option_adds_a_users_file(tmp_path):
    """``--checkpoint METHOD=FILE.pt`` adds a user's checkpoint file as an operating point, under a
    method name of the user's own; a malformed or missing one is a one-line usage error."""
    import pytest

    from semcom.cliargs import UsageError
    from semcom.experiments.vlscc_sweep import VlsccSweepConfig, _checkpoint_option
    from semcom.utils import from_dict

    f = tmp_path / "mine.pt"
    f.write_bytes(b"x")
    got = _checkpoint_option([f"mine={f}"], {"deepjscc": "deepjscc_awgn5_spp0125"})
    assert got == {"deepjscc": ["deepjscc_awgn5_spp0125"], "mine": [str(f)]}
    assert ("mine", str(f)) in from_dict(VlsccSweepConfig, {"checkpoints": got}).learned()
    for bad in ("mine", f"mine={tmp_path / 'no.pt'}", "=x.pt"):
        with pytest.raises(UsageError):
            _checkpoint_option([bad], {})
    with pytest.raises(Exception, match="unknown learned model"):
        from_dict(VlsccSweepConfig, {"checkpoints": {"mine": "not_a_file_name"}})


def test_retired_checkpoints_come_from_the_committed_results():
    """The retired earlier checkpoints (weights no longer shipped) are not re-run: their records are
    those of the committed results JSON, with their source, under ``<model>_earlier``."""
    from semcom.experiments.common import load_image_set

    cfg = V.VlsccSweepConfig()
    assert {c for _, c in RETIRED} >= {"vlscc2d_awgn10", "vlscc2d_awgn10_low", "scc_awgn10_spp0125",
                                       "deepjscc_awgn10_spp0125", "scc_awgn10_spp0125_long", "vlscc2d_awgn10_long",
                                       "deepjscc_awgn10_spp0125_long"}
    checksums = {n: s for n, _, s in load_image_set(cfg.images)}
    records, models, note = V.retired_records(cfg, RETIRED, checksums)
    assert note is None
    committed = Results.load(V._earlier_results_path(cfg)[0])
    for method, c in RETIRED:
        rows = [r for r in records if r["checkpoint"] == c]
        assert len(rows) == 3 and {r["method"] for r in rows} == {method}
        assert rows[0]["source"]["results"] == V.EARLIER_RESULTS and rows[0]["source"]["git_commit"]
        old = [r for r in committed.data["spp"]["records"] if r.get("checkpoint") == c]
        assert [r["psnr"] for r in rows] == [r["psnr"] for r in old]
        assert models[c]["retired"] and models[c]["model"] == V.model_of(method)
    summary = V.summarise(records, ("method", "checkpoint"))
    dj = next(r for r in summary if r["checkpoint"] == "deepjscc_awgn10_spp0125")
    assert dj["method"] == "deepjscc_earlier" and dj["psnr"] == pytest.approx(21.99, abs=0.01)
    long = next(r for r in summary if r["checkpoint"] == "scc_awgn10_spp0125_long")  # superseded by the 105-min run
    assert long["method"] == "scc_long_earlier" and long["psnr"] == pytest.approx(21.19, abs=0.01)
    dj_long = next(r for r in summary if r["checkpoint"] == "deepjscc_awgn10_spp0125_long")  # the 15-minute one
    assert dj_long["method"] == "deepjscc_long_earlier" and dj_long["psnr"] == pytest.approx(23.61, abs=0.01)
    dj_new = next(r for r in committed.data["spp"]["summary"] if r["method"] == "deepjscc")  # its successor, at 5 dB
    assert dj_new["checkpoint"] == "deepjscc_awgn5_spp0125" and dj_new["psnr"] > dj_long["psnr"] + 1.0
    # another image set, or a retired name the results do not hold, or a missing file
    with pytest.warns(UserWarning, match="other images"):
        other = V.retired_records(cfg, RETIRED, {**checksums, "astronaut": "0" * 64})
    assert other[:2] == ([], {}) and "other images" in other[2]
    with pytest.raises(ConfigError, match="neither shipped"):
        V.retired_records(cfg, [("scc_earlier", "no_such_checkpoint")], checksums)
    with pytest.raises(ConfigError, match="not a file"):
        V.retired_records(V.VlsccSweepConfig(earlier_results="no/such.json"), RETIRED, checksums)


def test_model_of_an_earlier_recipe():
    """An earlier curve's key is the model, or the model and a recipe tag (one curve per recipe)."""
    assert [V.model_of(m) for m in ("scc", "scc_earlier", "scc_long_earlier", "vlscc2d_long_earlier",
                                    "deepjscc_earlier", "deepjscc_long_earlier", "mine", "mine_earlier")] == [
        "scc", "scc", "scc", "vlscc2d", "deepjscc", "deepjscc", "mine", "mine"]
    cfg = V.VlsccSweepConfig(earlier={"scc_long": "scc_awgn10_spp0125_long"})
    assert ("scc_long_earlier", "scc_awgn10_spp0125_long") in cfg.learned()
    assert V.LABELS["scc_long_earlier"] != V.LABELS["scc_earlier"]
