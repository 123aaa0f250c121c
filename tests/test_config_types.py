"""Configs are untrusted input: ``from_dict`` checks every value against its dataclass field's type and
names the key; ``--config`` files must hold a JSON object. A table of bad configs per config class,
plus a sweep over every field of every config dataclass in the package."""

import dataclasses
import importlib
import json
import pkgutil
import typing

import pytest

import semcom
from semcom.errors import ConfigError
from semcom.experiments.common import load_config_file
from semcom.utils import check_config_value, from_dict


@dataclasses.dataclass
class Inner:
    a: int = 1


@dataclasses.dataclass
class Every:
    i: int = 0
    f: float = 0.5
    b: bool = False
    s: str = "x"
    opt: int | None = None
    ints: list[int] = dataclasses.field(default_factory=list)
    pair: tuple[float, float] = (0.0, 1.0)
    many: tuple[int, ...] = ()
    table: dict[str, int] = dataclasses.field(default_factory=dict)
    either: float | list[float] = 1.0
    mode: typing.Literal["a", "b"] = "a"
    inner: Inner = dataclasses.field(default_factory=Inner)
    inners: list[Inner] = dataclasses.field(default_factory=list)
    anything: typing.Any = None


def test_good_values_are_kept_as_given():
    cfg = from_dict(Every, {"i": 3, "f": 2, "b": True, "s": "y", "opt": 4, "ints": [1, 2], "pair": [0.5, 1],
                            "many": [1, 2, 3], "table": {"k": 1}, "either": [1, 2.5], "mode": "b",
                            "inner": {"a": 5}, "inners": [{"a": 1}, Inner(2)], "anything": object})
    assert cfg.f == 2 and isinstance(cfg.f, int)  # an int is a valid float, kept as given
    assert cfg.pair == (0.5, 1) and cfg.many == (1, 2, 3)  # lists for tuple fields become tuples
    assert cfg.inner == Inner(5) and cfg.inners == [Inner(1), Inner(2)]
    assert from_dict(Every, {"opt": None}).opt is None
    assert from_dict(Every, None) == Every()


BAD = [
    ({"i": True}, "Every.i must be int, got bool"),  # a bool is not an int
    ({"i": 2.0}, "Every.i must be int"),
    ({"i": "3"}, "Every.i must be int"),
    ({"f": "0.5"}, "Every.f must be float"),
    ({"f": False}, "Every.f must be float"),
    ({"f": float("nan")}, "Every.f must be a finite number"),
    ({"f": float("inf")}, "Every.f must be a finite number"),
    ({"f": 10 ** 400}, "Every.f must be a finite number"),
    ({"b": 1}, "Every.b must be bool"),
    ({"s": 3}, "Every.s must be str"),
    ({"opt": 1.5}, "Every.opt must be int | None"),
    ({"ints": "two"}, "Every.ints must be list\\[int\\], got str 'two'"),
    ({"ints": [1, "2"]}, "Every.ints\\[1\\] must be int"),
    ({"ints": {"a": 1}}, "Every.ints must be list"),
    ({"pair": [1.0]}, "Every.pair must hold 2 items"),
    ({"pair": [1.0, "x"]}, "Every.pair\\[1\\] must be float"),
    ({"many": [1, None]}, "Every.many\\[1\\] must be int"),
    ({"table": [1]}, "Every.table must be dict"),
    ({"table": {"k": "v"}}, "Every.table\\['k'\\] must be int"),
    ({"either": "x"}, "Every.either must be float \\| list\\[float\\]"),
    ({"either": [float("nan")]}, "Every.either must be"),
    ({"mode": "c"}, "Every.mode must be one of \\['a', 'b'\\]"),
    ({"inner": 3}, "Every.inner must be Inner"),
    ({"inner": {"a": "1"}}, "Every.inner.a must be int"),
    ({"inner": {"z": 1}}, "unknown key.*Every.inner"),
    ({"inners": [{"a": 1}, 2]}, "Every.inners\\[1\\] must be Inner"),
    ({"nope": 1}, "unknown key.*Every.*'nope'"),
    ({1: 1}, "unknown key.*Every"),
]


@pytest.mark.parametrize("data, message", BAD, ids=[str(d)[:40] for d, _ in BAD])
def test_bad_values_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Every, data)


@pytest.mark.parametrize("data", [[1, 2], ["seeds", 2], "seeds", 3, 2.5, True])
def test_a_config_that_is_not_a_mapping_is_refused(data):
    with pytest.raises(ConfigError, match="must be a mapping"):
        from_dict(Every, data)


def test_check_config_value_alone():
    assert check_config_value([1, 2], list[int], "k") == [1, 2]
    with pytest.raises(ConfigError, match="^k\\[0\\] must be int, got bool True$"):
        check_config_value([True], list[int], "k")


@pytest.mark.parametrize("content", ["[1, 2]", "\"text\"", "3", "null", "not json", "{\"a\": 1"])
def test_config_files_must_hold_a_json_object(tmp_path, content):
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="c.json"):
        load_config_file(str(path))
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError):
        load_config_file(str(tmp_path / "bin.json"))
    (tmp_path / "ok.json").write_text(json.dumps({"seeds": [1]}))
    assert load_config_file(str(tmp_path / "ok.json")) == {"seeds": [1]}


# ------------------------------------------------------------------ every config class of the package
def _config_classes() -> list[type]:
    out = []
    for info in pkgutil.walk_packages(semcom.__path__, "semcom."):
        mod = importlib.import_module(info.name)
        out += [o for n, o in vars(mod).items() if isinstance(o, type) and dataclasses.is_dataclass(o)
                and o.__module__ == mod.__name__ and n.endswith("Config")]
    return out


CLASSES = _config_classes()


def test_every_known_config_class_is_found():
    names = {c.__name__ for c in CLASSES}
    assert {"SeparationConfig", "TrainConfig", "LossConfig", "DeepJSCCConfig", "VLSCC2DConfig", "SCCConfig",
            "VLSCC1DConfig", "SCC1DConfig", "StackConfig", "LinkConfig", "SebSweepConfig", "SweepConfig",
            "VlsccSweepConfig", "BaselineConfig", "DemoConfig", "LinkSweepConfig", "Table1Config",
            "SebCodecConfig", "ConcealerConfig", "ConcealerTrainConfig", "SebKBUpdateConfig"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_field_of_every_config_refuses_wrong_types(cls):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        assert hints[f.name] is not typing.Any, f"{cls.__name__}.{f.name} is unchecked"
        bad = [object(), float("nan"), float("inf")]
        if hints[f.name] is not bool:
            bad.append(True)  # a bool is accepted only by bool fields
        for value in bad:
            with pytest.raises(ConfigError, match=f"{cls.__name__}\\.{f.name}"):
                from_dict(cls, {f.name: value})
    with pytest.raises(ConfigError, match="mapping"):
        from_dict(cls, [[f.name, 1] for f in dataclasses.fields(cls)])


# realistic mistakes, per config class: (class name, bad config, the key the error must name)
TABLE = [
    ("SebSweepConfig", {"seeds": "two"}, "seeds"),
    ("SebSweepConfig", {"snr_db": [1, "3"]}, "snr_db\\[1\\]"),
    ("SebSweepConfig", {"matched_kb_sizes": [[4096, 1024.5]]}, "matched_kb_sizes\\[0\\]\\[1\\]"),
    ("SebSweepConfig", {"matched": "yes"}, "matched"),
    ("SweepConfig", {"seeds": [0, 1]}, "seeds"),
    ("SweepConfig", {"fps": float("nan")}, "fps"),
    ("SweepConfig", {"cblers": [0.1, float("inf")]}, "cblers\\[1\\]"),
    ("SweepConfig", {"gop": 12.5}, "gop"),
    ("BaselineConfig", {"cbr": "1/12"}, "cbr"),
    ("BaselineConfig", {"snr_db": 5}, "snr_db"),
    ("BaselineConfig", {"seeds": True}, "seeds"),
    ("DemoConfig", {"codecs": "jpeg2000"}, "codecs"),
    ("DemoConfig", {"learned": 1}, "learned"),
    ("LinkSweepConfig", {"mcs": [2.5]}, "mcs\\[0\\]"),
    ("LinkSweepConfig", {"payload_bits": 4000.0}, "payload_bits"),
    ("VlsccSweepConfig", {"checkpoints": {"scc": 3}}, "checkpoints\\['scc'\\]"),
    ("VlsccSweepConfig", {"snr_spp": float("-inf")}, "snr_spp"),
    ("Vlscc1dConfig", {"seeds": [0, None]}, "seeds\\[1\\]"),
    ("Table1Config", {"blocks": "1,3,5"}, "blocks"),
    ("TrainConfig", {"steps": "many"}, "steps"),
    ("TrainConfig", {"loss": {"gamma": "high"}}, "loss.gamma"),
    ("TrainConfig", {"loss": [1]}, "loss"),
    ("TrainConfig", {"lr": float("nan")}, "lr"),
    ("LossConfig", {"target_spp": "0.1"}, "target_spp"),
    ("SeparationConfig", {"link_adaptation": "true"}, "link_adaptation"),
    ("SeparationConfig", {"mcs_index": 9.0}, "mcs_index"),
    ("SeparationConfig", {"link": ["cbler", 0.1]}, "link"),
    ("LinkConfig", {"cbler": float("nan")}, "cbler"),
    ("StackConfig", {"mcs": [[2, "0.5"]]}, "mcs\\[0\\]\\[1\\]"),
    ("StackConfig", {"key_seed": False}, "key_seed"),
    ("DeepJSCCConfig", {"snr_db": "10"}, "snr_db"),
    ("DeepJSCCConfig", {"snr_range_db": [0, float("nan")]}, "snr_range_db\\[1\\]"),
    ("VLSCC2DConfig", {"tile": 32.0}, "tile"),
    ("VLSCC1DConfig", {"levels": "16"}, "levels"),
    ("SebCodecConfig", {"fine_ratio": None}, "fine_ratio"),
    ("SebKBUpdateConfig", {"half_life": float("nan")}, "half_life"),
    ("ConcealerTrainConfig", {"train_seeds": [0.5]}, "train_seeds\\[0\\]"),
    ("CompareConfig", {"systems": "deepjscc"}, "systems"),
    ("CompareConfig", {"systems": ["deepjscc"], "budget": [0.1]}, "budget"),
    ("CompareConfig", {"systems": ["deepjscc"], "snr_db": [0, float("nan")]}, "snr_db\\[1\\]"),
]


@pytest.mark.parametrize("name, data, key", TABLE, ids=[f"{n}-{k}" for n, _, k in TABLE])
def test_table_of_bad_configs(name, data, key):
    cls = next(c for c in CLASSES if c.__name__ == name)
    with pytest.raises(ConfigError, match=f"{name}\\.{key}"):
        from_dict(cls, data)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_the_defaults_pass_their_own_check(cls):
    fields = dataclasses.fields(cls)
    if any(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING for f in fields):
        pytest.skip("has required fields")
    try:
        default = cls()
    except ConfigError:
        pytest.skip("its defaults are incomplete on purpose (e.g. no system to compare)")
    d = dataclasses.asdict(default)
    assert from_dict(cls, json.loads(json.dumps(d))) == from_dict(cls, d)
