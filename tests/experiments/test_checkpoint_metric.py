"""semcom.experiments.checkpoint_metric: the recorded metric re-measured, and float16 storage only where
it holds (the conversion of the committed checkpoints; it must work on any later checkpoint too)."""

import json

import pytest
import torch
from ckpt_helpers import copy_committed

from semcom.errors import CheckpointError, InputError
from semcom.experiments import checkpoint_metric as CM
from semcom.models import load_checkpoint
from semcom.models.checkpoint_io import float_state, load_verified, save_checkpoint, sha256_file, weights_dtype

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _float32_copy(stem: str, tmp_path):
    """A float32 copy of a committed checkpoint (the committed one may be stored in float16 already)."""
    src = copy_committed(stem, tmp_path / "src")
    blob, meta = load_verified(src)
    out = tmp_path / f"{stem}.pt"
    save_checkpoint({**blob, "state_dict": float_state(blob["state_dict"])}, out,
                    {k: v for k, v in meta.items() if k not in ("weights_dtype", "post_training")})
    assert weights_dtype(torch.load(out, weights_only=True)["state_dict"]) == "float32"
    return out


def test_half_keeps_float16_where_the_metric_holds_and_records_it(tmp_path):
    pt = _float32_copy("scc1d_landmarks_n16", tmp_path)
    before = json.loads(pt.with_suffix(".json").read_text())
    out = CM.half(pt, command="the command", commit="abc")
    assert out["kept_float16"] is True and out["weights_dtype"] == "float16"
    assert out["file_bytes"] < 0.55 * out["file_bytes_before"]
    meta = json.loads(pt.with_suffix(".json").read_text())
    assert meta["sha256"] == sha256_file(pt) != before["sha256"] and meta["file_bytes"] == pt.stat().st_size
    assert meta["metric"] == before["metric"] and meta["weights_dtype"] == "float16"
    entry = meta["post_training"][-1]
    assert entry["changes"] == {"weights_dtype": "float16"} and entry["command"] == "the command"
    assert entry["previous_sha256"] == before["sha256"] and entry["git_commit"] == "abc"
    assert entry["tolerances"]["landmark_error_px"] == {"rel": 0.01}
    assert not CM.compare(entry["metric_float16"], entry["metric_float32"])
    # the loader casts back: the model computes in float32, with the float16-rounded weights
    model = load_checkpoint(pt)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    stored = torch.load(pt, weights_only=True)["state_dict"]
    k = next(n for n, v in stored.items() if v.is_floating_point())
    assert stored[k].dtype == torch.float16 and torch.equal(model.state_dict()[k], stored[k].float())
    assert not CM.compare(CM.measure(pt), meta["metric"])
    # a second run has nothing to do and changes nothing
    again = CM.half(pt)
    assert again["kept_float16"] is None and again["weights_dtype"] == "float16"
    assert json.loads(pt.with_suffix(".json").read_text()) == meta


def test_half_keeps_float32_when_the_metric_moves(tmp_path, monkeypatch):
    pt = _float32_copy("scc1d_landmarks_n16", tmp_path)
    digest, size = sha256_file(pt), pt.stat().st_size
    real = CM.measure

    def worse_in_float16(path):
        got = real(path)
        dtype = weights_dtype(torch.load(path, weights_only=True)["state_dict"])
        return {**got, "landmark_error_px": got["landmark_error_px"] * 1.05} if dtype == "float16" else got

    monkeypatch.setattr(CM, "measure", worse_in_float16)
    out = CM.half(pt)
    assert out["kept_float16"] is False and out["weights_dtype"] == "float32"
    assert sha256_file(pt) == digest and pt.stat().st_size == size
    meta = json.loads(pt.with_suffix(".json").read_text())
    assert meta["sha256"] == digest and meta["weights_dtype"] == "float32"
    assert meta["post_training"][-1]["changes"].startswith("none")
    assert load_checkpoint(pt).metadata["sha256"] == digest


def test_compare_uses_the_checkpoint_tests_tolerances():
    rec = {"psnr_db": 20.0, "ms_ssim": 0.8, "spp": 0.125, "landmark_error_px": 2.0, "note": 1.0,
           "0.5": {"fc": {"ald_px": 1.0, "missing_share": 0.5}}}
    ok = {"psnr_db": 20.09, "ms_ssim": 0.804, "spp": 0.1265, "landmark_error_px": 2.019, "note": 9.0,
          "0.5": {"fc": {"ald_px": 1.04, "missing_share": 0.1}}}
    assert CM.compare(ok, rec) == []
    bad = {**ok, "psnr_db": 20.2, "landmark_error_px": 2.03, "0.5": {"fc": {"ald_px": 1.1}}}
    assert CM.compare(bad, rec) == ["psnr_db", "landmark_error_px", "0.5/fc/ald_px"]
    assert CM.compare({**ok, "spp": float("nan")}, rec) == ["spp"]
    assert CM.compare({"psnr_db": 20.0}, {"psnr_db": 20.0, "0.5": {"fc": {"ald_px": 1.0}}}) == ["0.5"]


def test_bad_names_and_unknown_models_are_typed_errors(tmp_path):
    with pytest.raises(InputError):
        CM.resolve("no_such_checkpoint")
    with pytest.raises(InputError):
        CM.resolve("../checkpoints/prt_concealer")
    pt = tmp_path / "w.pt"
    save_checkpoint({"state_dict": {"w": torch.ones(2)}}, pt, {"model": "mystery", "metric": {"psnr_db": 1.0}})
    with pytest.raises(CheckpointError, match="no known way"):
        CM.measure(pt)
    save_checkpoint({"state_dict": {"w": torch.ones(2)}}, pt, {"model": "mystery"})
    with pytest.raises(CheckpointError, match="no metric"):
        CM.half(pt)


def test_cli_check_and_half(tmp_path, capsys):
    pt = _float32_copy("scc1d_landmarks_n16", tmp_path)
    assert CM.main(["check", str(pt)]) == 0
    assert json.loads(capsys.readouterr().out)["outside_tolerance"] == []
    assert CM.main(["half", str(pt)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kept_float16"] is True
    entry = json.loads(pt.with_suffix(".json").read_text())["post_training"][-1]
    assert entry["command"] == f"python -m semcom.experiments.checkpoint_metric half {pt}"


def test_half_works_on_a_new_training_run(tmp_path):
    """The conversion is generic: a fresh run of a model that ships no checkpoint yet (SNR-adaptive
    ADJSCC, evaluated at the middle of its SNR range) goes through the same measurement."""
    from semcom.training import train

    cfg = {"model": "adjscc", "name": "tiny_adjscc", "crop_size": 32, "batch_size": 2, "steps": 1, "eval_size": 64,
           "model_config": {"hidden_channels": 4, "latent_channels": 2, "snr_db": [0.0, 10.0],
                            "snr_range_db": [0.0, 10.0], "af_hidden": 4}}
    meta = train(cfg, tmp_path, progress=False)
    pt = tmp_path / "tiny_adjscc.pt"
    out = CM.half(pt)
    assert out["kept_float16"] == (not CM.compare(out["metric_float16"], meta["metric"])
                                   and not CM.compare(out["metric_float16"], out["metric_float32"]))
    assert not CM.compare(out["metric_float32"], meta["metric"])  # the recorded metric is re-measured
    saved = json.loads(pt.with_suffix(".json").read_text())
    assert saved["weights_dtype"] == out["weights_dtype"] and saved["sha256"] == sha256_file(pt)
    assert load_checkpoint(pt).name == "adjscc"
