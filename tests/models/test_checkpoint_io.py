"""semcom.models.checkpoint_io and every checkpoint loader: no code runs from a checkpoint, SHA-256
checks against the metadata, typed errors for state dicts that do not fit, writers that always
record the SHA-256."""

import json
import shutil
import warnings

import pytest
import torch
from ckpt_helpers import WritesMarker, copy_committed, evil_checkpoint

from semcom.errors import CheckpointError, InputError
from semcom.models import checkpoint_io as cio
from semcom.models import load_checkpoint
from semcom.models.checkpoint_io import (
    UncheckedCheckpointWarning, check_plain, load_metadata, load_verified, safe_load, save_checkpoint, sha256_file,
    verify_sha256,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

COMMITTED = sorted(cio.package_checkpoint_dir().glob("*.pt"))
TINY_TRAIN = {"model": "deepjscc", "model_config": {"hidden_channels": 4, "latent_channels": 2}, "crop_size": 32,
              "batch_size": 2, "steps": 1, "eval_size": 64, "checkpoint_every": 1, "log_every": 1}


# --------------------------------------------------------------------------- committed checkpoints
def test_every_committed_checkpoint_records_its_sha256_and_loads_weights_only():
    assert len(COMMITTED) >= 15
    for pt in COMMITTED:
        meta = json.loads(pt.with_suffix(".json").read_text())
        assert meta["sha256"] == sha256_file(pt), pt.name
        assert meta["file_bytes"] == pt.stat().st_size, pt.name
        assert isinstance(torch.load(pt, map_location="cpu", weights_only=True), dict), pt.name


def test_committed_checkpoints_need_a_hash(tmp_path, monkeypatch):
    pt = copy_committed("prt_concealer", tmp_path)
    meta = json.loads(pt.with_suffix(".json").read_text())
    del meta["sha256"]
    pt.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.warns(UncheckedCheckpointWarning):  # a user's file: loads, says nothing was checked
        load_verified(pt)
    monkeypatch.setattr(cio, "package_checkpoint_dir", lambda: tmp_path.resolve())
    with pytest.raises(CheckpointError, match="no 'sha256'"):
        load_verified(pt)


# --------------------------------------------------------------------------- code execution is refused
def _train_resume(path):
    from semcom.training import train

    run = path.parent / "run"
    run.mkdir(exist_ok=True)
    shutil.copyfile(path, run / "last.pt")
    if path.with_suffix(".json").is_file():
        shutil.copyfile(path.with_suffix(".json"), run / "last.json")
    train(TINY_TRAIN, run, progress=False, resume=True)


def _reevaluate(path):
    from semcom.training import reevaluate

    reevaluate(path, tile=64)


def _seb_write_metadata(path):
    from semcom.experiments.seb_train import write_metadata

    write_metadata(path)


def _seb_extractor(path):
    from semcom.experiments.seb_common import make_extractor

    make_extractor("learned", 16, str(path))


def _seb(path):
    from semcom.models.seb import load_seb_model

    load_seb_model(path)


def _concealer(path):
    from semcom.models.concealer import load_concealer_net

    load_concealer_net(path)


def _keypoint_concealer(path):
    from semcom.semantics.keypoint import load_concealer

    load_concealer(path=path)


LOADERS = {"safe_load": safe_load, "load_verified": load_verified, "load_checkpoint": load_checkpoint,
           "load_seb_model": _seb, "make_extractor": _seb_extractor, "seb_write_metadata": _seb_write_metadata,
           "load_concealer_net": _concealer, "load_concealer": _keypoint_concealer, "train_resume": _train_resume,
           "reevaluate": _reevaluate}


def test_the_malicious_file_really_runs_code_without_weights_only(tmp_path):
    """The payload of the tests below is live: an unsafe load writes the marker."""
    marker = tmp_path / "marker"
    path = evil_checkpoint(tmp_path / "evil.pt", marker)
    torch.load(path, weights_only=False)
    assert marker.read_text() == "code ran"


@pytest.mark.parametrize("with_metadata", [False, True], ids=["bare", "matching-sha256"])
@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_every_loader_refuses_a_pickled_object_before_it_runs(loader, with_metadata, tmp_path):
    marker = tmp_path / "marker"
    path = evil_checkpoint(tmp_path / "evil.pt", marker, with_metadata=with_metadata)
    with pytest.raises(CheckpointError, match="refused: it holds a pickled object"):
        LOADERS[loader](path)
    assert not marker.exists()


@pytest.mark.parametrize("argv", [
    ["seb", "sweep", "--checkpoint", "{ck}", "--out", "{out}", "--no-progress"],
    ["seb", "kb-update", "--extractor", "learned", "--checkpoint", "{ck}", "--out", "{out}"],
    ["train", "deepjscc", "--out", "{run}", "--resume", "--steps", "1", "--crop-size", "32", "--batch-size", "2",
     "--no-progress"],
], ids=["seb-sweep", "seb-kb-update", "train-resume"])
def test_cli_refuses_a_malicious_checkpoint_with_one_line(argv, tmp_path, capsys):
    from semcom.cli import main

    marker = tmp_path / "marker"
    ck = evil_checkpoint(tmp_path / "evil.pt", marker)
    (tmp_path / "run").mkdir()
    shutil.copyfile(ck, tmp_path / "run" / "last.pt")
    args = [a.format(ck=ck, out=tmp_path / "out", run=tmp_path / "run") for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("semcom: error:") and "refused" in lines[0], err
    assert not marker.exists()


# --------------------------------------------------------------------------- hash checks
def test_a_flipped_weight_bit_is_detected_naming_both_hashes(tmp_path):
    pt = copy_committed("scc1d_landmarks_n16", tmp_path)
    want = json.loads(pt.with_suffix(".json").read_text())["sha256"]
    data = bytearray(pt.read_bytes())
    data[len(data) // 2] ^= 0x01
    pt.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(pt)
    msg = str(err.value)
    assert "SHA-256 mismatch" in msg and str(pt) in msg and want in msg and sha256_file(pt) in msg
    # without the metadata it loads (weights_only) with a warning that no hash was checked
    pt.with_suffix(".json").unlink()
    with pytest.warns(UncheckedCheckpointWarning, match="integrity was not checked"):
        assert load_checkpoint(pt).metadata == {}


def test_verify_sha256_and_load_metadata_contracts(tmp_path):
    pt = tmp_path / "w.pt"
    meta = save_checkpoint({"state_dict": {"w": torch.arange(3.0)}}, pt, {"name": "w", "seed": 1})
    assert meta == load_metadata(pt) and set(meta) == {"name", "seed", "file_bytes", "sha256"}
    assert verify_sha256(pt, meta) is True
    assert verify_sha256(pt, None) is False and verify_sha256(pt, {"name": "w"}) is False
    with pytest.raises(CheckpointError):
        verify_sha256(pt, {"name": "w"}, required=True)
    with pytest.raises(CheckpointError, match="bytes, its metadata says"):
        verify_sha256(pt, {**meta, "file_bytes": meta["file_bytes"] + 1})
    assert load_metadata(tmp_path / "absent.pt") is None
    with pytest.raises(InputError):
        load_verified(tmp_path / "absent.pt")


# --------------------------------------------------------------------------- state dicts that do not fit
def _jscc_blob():
    return torch.load(cio.package_checkpoint_dir() / "scc1d_landmarks_n16.pt", weights_only=True)


def _drop_key(ck):
    ck["state_dict"].pop(sorted(ck["state_dict"])[0])


def _extra_key(ck):
    ck["state_dict"]["extra.weight"] = torch.zeros(2)


def _reshape(ck):
    k = next(k for k, v in ck["state_dict"].items() if v.dim() == 2)
    ck["state_dict"][k] = ck["state_dict"][k].reshape(-1)


def _nan(ck):
    k = next(k for k, v in ck["state_dict"].items() if v.is_floating_point() and v.numel())
    ck["state_dict"][k] = ck["state_dict"][k].clone().fill_(float("nan"))


def _not_tensor(ck):
    k = sorted(ck["state_dict"])[0]
    ck["state_dict"][k] = [1.0, 2.0]


def _huge_model(ck):
    ck["config"]["hidden"] = 10**6  # would allocate terabytes: refused on the meta device first


def _bad_config(ck):
    ck["config"]["no_such_field"] = 1


def _unknown_model(ck):
    ck["model"] = "nope"


def _config_list(ck):
    ck["config"] = [1, 2]


@pytest.mark.parametrize("change", [_drop_key, _extra_key, _reshape, _nan, _not_tensor, _huge_model, _bad_config,
                                    _unknown_model, _config_list], ids=lambda f: f.__name__.strip("_"))
def test_a_state_dict_or_config_that_does_not_fit_is_a_checkpoint_error(change, tmp_path):
    ck = _jscc_blob()
    change(ck)
    pt = tmp_path / "bad.pt"
    save_checkpoint(ck, pt)  # with a matching SHA-256: the content itself is wrong
    with pytest.raises(CheckpointError):
        load_checkpoint(pt)


def test_seb_and_concealer_refuse_wrong_shapes(tmp_path):
    from semcom.models.concealer import load_concealer_net
    from semcom.models.seb import load_seb_model

    for stem, loader, key in (("seb_autoencoder", load_seb_model, "model"), ("prt_concealer", load_concealer_net,
                                                                             "config")):
        ck = torch.load(cio.package_checkpoint_dir() / f"{stem}.pt", weights_only=True)
        ck[key] = {**ck[key], "dim": ck[key]["dim"] * 2}  # another architecture than the weights
        save_checkpoint(ck, tmp_path / f"{stem}.pt")
        with pytest.raises(CheckpointError, match="shape|missing"):
            loader(tmp_path / f"{stem}.pt")


def test_resume_state_that_does_not_fit_is_a_checkpoint_error(tmp_path):
    from semcom.training import train

    train(TINY_TRAIN, tmp_path, progress=False)
    st = torch.load(tmp_path / "last.pt", weights_only=True)
    for p_state in st["optimizer"]["state"].values():
        p_state["exp_avg"] = torch.zeros(3, 1, 2)
    save_checkpoint(st, tmp_path / "last.pt")
    with pytest.raises(CheckpointError, match="optimizer state"):
        train({**TINY_TRAIN, "steps": 2}, tmp_path, progress=False, resume=True)
    st["noise_rng"] = torch.zeros(3)
    st["optimizer"] = torch.load(tmp_path / "last.pt", weights_only=True)["optimizer"] | {"state": {}}
    save_checkpoint(st, tmp_path / "last.pt")
    with pytest.raises(CheckpointError, match="does not fit this run"):
        train({**TINY_TRAIN, "steps": 2}, tmp_path, progress=False, resume=True)


# --------------------------------------------------------------------------- writers
def test_check_plain_refuses_what_weights_only_cannot_load():
    check_plain({"a": [1, 2.0, "x", None, True, (1, 2)], 3: torch.zeros(1)})
    with pytest.raises(CheckpointError, match="TorchVersion"):
        check_plain({"provenance": {"torch": torch.__version__}})
    with pytest.raises(CheckpointError, match="WritesMarker"):
        check_plain({"x": WritesMarker("m")})
    with pytest.raises(CheckpointError, match="key"):
        check_plain({(1, 2): 1})


def test_trainers_write_metadata_with_the_sha256(tmp_path):
    from semcom.experiments import seb_train
    from semcom.training import train

    meta = train(TINY_TRAIN, tmp_path / "t", progress=False)
    for stem in ("deepjscc", "last"):
        on_disk = json.loads((tmp_path / "t" / f"{stem}.json").read_text())
        assert on_disk["sha256"] == sha256_file(tmp_path / "t" / f"{stem}.pt")
    assert meta["sha256"] == sha256_file(tmp_path / "t" / "deepjscc.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UncheckedCheckpointWarning)
        train({**TINY_TRAIN, "steps": 2}, tmp_path / "t", progress=False, resume=True)  # checked, no warning
    seb_train.run({"steps": 1, "batch": 1, "channels": 4, "dim": 4, "val_crops": 1, "out": str(tmp_path / "s.pt")})
    seb_meta = json.loads((tmp_path / "s.json").read_text())
    assert seb_meta["sha256"] == sha256_file(tmp_path / "s.pt") and seb_meta["file_bytes"] > 0
    assert "provenance" in torch.load(tmp_path / "s.pt", weights_only=True)["metadata"]


def test_reevaluate_rewrites_the_sha256(tmp_path):
    from semcom.training import reevaluate

    pt = copy_committed("scc_awgn10_spp0125_105min", tmp_path)
    before = json.loads(pt.with_suffix(".json").read_text())
    dtype = cio.weights_dtype(torch.load(pt, weights_only=True)["state_dict"])
    torch.set_num_threads(1)
    meta = reevaluate(pt, tile=32)
    assert meta["sha256"] == sha256_file(pt) != before["sha256"]
    assert load_checkpoint(pt).config.tile == 32
    assert cio.weights_dtype(torch.load(pt, weights_only=True)["state_dict"]) == dtype  # storage kept (float16)


# --------------------------------------------------------------------------- half precision
def test_half_state_and_the_loaders_cast_back_to_float32():
    sd = {"w": torch.tensor([1.0, 1 / 3, -2.5e-3]), "d": torch.tensor([0.1], dtype=torch.float64),
          "n": torch.tensor([3]), "b": torch.tensor([True])}
    h = cio.half_state(sd)
    assert {k: v.dtype for k, v in h.items()} == {"w": torch.float16, "d": torch.float16, "n": torch.int64,
                                                   "b": torch.bool}
    back = cio.float_state(h)
    assert back["w"].dtype == torch.float32 and torch.equal(back["w"], sd["w"].half().float())
    assert back["n"] is h["n"] and cio.weights_dtype(h) == "float16" and cio.weights_dtype(sd) == "mixed"
    assert cio.weights_dtype({"n": torch.tensor([1])}) is None
    with pytest.raises(CheckpointError, match="float16's range"):
        cio.half_state({"big": torch.tensor([1e5])})
    net = torch.nn.Linear(3, 2)
    cio.load_state("x.pt", net, cio.half_state(net.state_dict()))
    assert net.weight.dtype == torch.float32
