"""Plugins: loading a user's module, the model contract, and the two complete examples of docs/extending.md."""

import dataclasses
import json
import sys
from pathlib import Path

import pytest
import torch

from semcom.errors import ConfigError
from semcom.models import MODELS, LearnedJSCC, check_forward_output, register_model
from semcom.systems import SYSTEMS
from semcom.systems.plugins import load_entry_points, load_plugin

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@dataclasses.dataclass
class _Cfg:
    channel: str = "awgn"
    snr_db: float = 10.0
    snr_range_db: list = dataclasses.field(default_factory=lambda: [0.0, 20.0])


def _model_class(**attrs):
    body = {"Config": _Cfg, "forward": lambda self, x, snr_db=None, generator=None: {"x_hat": x, "spp": torch.ones(1)},
            "encode": lambda self, x: [], "decode": lambda self, p: None}
    body.update(attrs)
    return type("UserModel", (LearnedJSCC,), {k: v for k, v in body.items() if v is not None})


def test_contract_names_what_is_missing():
    with pytest.raises(ConfigError, match=r"encode\(\)"):
        register_model("test_noencode")(_model_class(encode=None))
    with pytest.raises(ConfigError, match="snr_range_db"):
        @dataclasses.dataclass
        class Bad:
            channel: str = "awgn"
            snr_db: float = 1.0

        register_model("test_badcfg")(_model_class(Config=Bad))
    with pytest.raises(ConfigError, match="subclass"):
        register_model("test_plain")(type("Plain", (), {}))
    with pytest.raises(ConfigError, match="already registered"):
        register_model("deepjscc")(_model_class())
    assert "test_noencode" not in MODELS and "test_badcfg" not in MODELS


def test_register_model_by_name_then_build():
    cls = _model_class()
    try:
        assert register_model("test_user_model")(cls) is cls and cls.name == "test_user_model"
        with pytest.raises(ConfigError, match="already registered"):
            register_model(cls)
        from semcom.models import build_model

        assert isinstance(build_model("test_user_model"), cls)
    finally:
        MODELS.pop("test_user_model", None)


def test_forward_output_is_checked():
    x = torch.zeros(2, 3, 8, 8)
    m = object()
    with pytest.raises(ConfigError, match=r"missing \['spp'\]"):
        check_forward_output(m, {"x_hat": x}, x)
    with pytest.raises(ConfigError, match="dict"):
        check_forward_output(m, x, x)
    with pytest.raises(ConfigError, match="shape"):
        check_forward_output(m, {"x_hat": x[:1], "spp": torch.ones(2)}, x)
    check_forward_output(m, {"x_hat": x, "spp": torch.ones(2), "rate": None}, x)


def test_first_training_step_refuses_a_broken_forward(tmp_path):
    from semcom.models import DeepJSCC
    from semcom.training import TrainConfig, train

    class NoSpp(DeepJSCC):
        name = "test_nospp"

        def forward(self, x, snr_db=None, generator=None):
            return {"x_hat": super().forward(x, snr_db, generator)["x_hat"]}

    register_model(NoSpp)
    try:
        cfg = TrainConfig(model="test_nospp", model_config={"hidden_channels": 4}, steps=2, crop_size=16, batch_size=1)
        with pytest.raises(ConfigError, match="spp"):
            train(cfg, tmp_path, progress=False)
    finally:
        MODELS.pop("test_nospp", None)


def test_load_plugin_errors_and_idempotence(tmp_path):
    with pytest.raises(ConfigError, match="cannot be imported"):
        load_plugin("no_such_plugin_module")
    with pytest.raises(ConfigError, match="does not exist"):
        load_plugin(str(tmp_path / "missing.py"))
    bad = tmp_path / "bad_plugin.py"
    bad.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ConfigError, match="boom"):
        load_plugin(str(bad))
    good = tmp_path / "good_plugin.py"
    good.write_text("from semcom.systems import register_system\nCALLS = []\n"
                    "@register_system('test_good_plugin')\nclass S:\n    pass\n")
    try:
        a, b = load_plugin(str(good)), load_plugin(str(good))
        assert a == b and a["sha256"] and "test_good_plugin" in SYSTEMS
    finally:
        SYSTEMS.pop("test_good_plugin", None)


def test_entry_points_are_loaded(monkeypatch, tmp_path):
    import importlib.metadata

    (tmp_path / "ep_plugin_mod.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    class EP:
        value = "ep_plugin_mod:register"

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [EP()] if group == "semcom.plugins" else [])
    assert load_entry_points()[0]["module"] == "ep_plugin_mod"
    assert sys.modules["ep_plugin_mod"].LOADED


def test_cli_plugin_errors_are_messages(capsys):
    from semcom.cli import main

    assert main(["link", "--plugin", "no_such_plugin_module", "--help"]) == 2
    assert "no_such_plugin_module" in capsys.readouterr().err
    assert main(["train", "--plugin", "no_such_plugin_module", "deepjscc"]) == 2


def test_examples_are_short():
    for name in ("my_jscc_model.py", "my_digital_system.py"):
        assert len((EXAMPLES / name).read_text().splitlines()) < 80


def test_examples_train_and_compare(tmp_path, capsys):
    """docs/extending.md end to end: train the user's model a few steps, then compare both examples."""
    from PIL import Image

    from semcom.cli import main

    model, system = str(EXAMPLES / "my_jscc_model.py"), str(EXAMPLES / "my_digital_system.py")
    run = tmp_path / "run"
    assert main(["train", "tinyjscc", "--plugin", model, "--config", str(EXAMPLES / "tinyjscc.json"), "--steps", "3",
                 "--crop-size", "32", "--batch-size", "2", "--out", str(run), "--no-progress"]) == 0
    meta = json.loads((run / "tinyjscc.json").read_text())
    assert meta["model_class"].endswith(":TinyJSCC") and meta["model_plugin"] == model
    assert meta["model_config_resolved"]["width"] == 32 and meta["model_source_sha256"] and meta["wall_time_s"] > 0
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(2):
        arr = (torch.rand(64, 64, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(arr).save(imgs / f"p{i}.png")
    out = tmp_path / "cmp"
    rc = main(["compare", "--plugin", model, "--plugin", system, "--systems",
               f"learned:ckpt={run / 'tinyjscc.pt'},label=mine", "thumbnail", "deepjscc",
               "separation:codec=jpeg2000,link=capacity", "--cbr", "match:deepjscc", "--images", str(imgs),
               "--snr", "0,10", "--out", str(out), "--no-plots", "--no-progress"])
    assert rc == 0
    d = json.loads((out / "compare.json").read_text())
    systems = {s["name"]: s for s in d["data"]["systems"]}
    assert set(systems) == {"mine", "thumbnail", "deepjscc", "separation:codec=jpeg2000,link=capacity"}
    assert all(p["psnr"] is not None for s in systems.values() for p in s["points"])
    assert systems["thumbnail"]["points"][0]["channel_uses"] <= systems["deepjscc"]["points"][0]["channel_uses"]
    assert [p["module"] for p in d["provenance"]["plugins"]] == [model, system]


def test_unregistered_checkpoint_names_the_plugin(tmp_path):
    """A checkpoint of a model nobody registered says which --plugin to load."""
    from semcom.models import load_checkpoint

    ck = {"model": "test_never_registered", "config": {}, "state_dict": {}}
    torch.save(ck, tmp_path / "x.pt")
    (tmp_path / "x.json").write_text(json.dumps({"model_class": "users_pkg.models:Mine", "model_plugin": "users_pkg.models"}))
    with pytest.raises(ConfigError, match="--plugin users_pkg.models"):
        load_checkpoint(tmp_path / "x.pt")
