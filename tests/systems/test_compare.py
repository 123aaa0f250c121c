"""The compare core: budget matching, per-point seeds (serial == pool), records and the CLI verb."""

import json

import pytest
import torch

from semcom.errors import ConfigError, InputError
from semcom.systems import SYSTEMS, Outcome, build_system, register_system, source_size
from semcom.systems.comparison import (
    cbr_for_channel_uses, centre_crop, compare, parse_budget, point_seed, reference_channel_uses,
)


def _images(n=2, size=32):
    g = torch.Generator().manual_seed(0)
    return [(f"im{i}", torch.rand(1, 3, size, size, generator=g)) for i in range(n)]


class Noisy:
    """A test system: adds seeded noise; spends ``ceil(cbr * values)`` channel uses (or a fixed 96)."""

    def __init__(self, cbr=None, channel=None, sigma=0.1):
        self.cbr, self.sigma, self.name = cbr, sigma, "noisy"

    def budget(self, shape):
        return 96 if self.cbr is None else int(-(-self.cbr * source_size(shape)[0] // 1))

    def transmit(self, source, snr_db, *, seed=0):
        g = torch.Generator().manual_seed(seed)
        y = (source + self.sigma * 10 ** (-snr_db / 20) * torch.randn(source.shape, generator=g)).clamp(0, 1)
        return Outcome(y, "ok", self.budget(source.shape), self.budget(source.shape), bits_sent=8, side_info_bits=2)

    def describe(self):
        return {"sigma": self.sigma}


@pytest.fixture(autouse=True)
def noisy():
    register_system("test_noisy", Noisy)
    yield
    SYSTEMS.pop("test_noisy", None)


def test_budget_parsing():
    assert parse_budget(None) == ("own", None)
    assert parse_budget(0.05) == ("cbr", 0.05)
    assert parse_budget("match:deepjscc") == ("match", "deepjscc")
    for bad in ("match:", "fast", -1, float("nan")):
        with pytest.raises(ConfigError):
            parse_budget(bad)


def test_cbr_for_channel_uses_grants_exactly_those_uses():
    from semcom.systems.adapters import separation

    for uses in (1, 97, 8192, 12345):
        cbr = cbr_for_channel_uses(uses, (1, 3, 256, 256))
        assert separation(codec="heif", link="capacity", cbr=cbr).budget((1, 3, 256, 256)) == uses
    with pytest.raises(InputError):
        cbr_for_channel_uses(0, (1, 3, 8, 8))


def test_reference_uses_its_budget_or_one_transmission():
    sys_ = Noisy()
    img = _images(1)[0][1]
    assert reference_channel_uses(sys_, img, 5.0) == 96

    class Variable(Noisy):
        def budget(self, shape):  # content-dependent: measured by sending once
            return None

        def transmit(self, source, snr_db, *, seed=0):
            return Outcome(source, "ok", 77)

    assert reference_channel_uses(Variable(), img, 5.0) == 77


def test_match_gives_every_system_the_reference_uses():
    imgs = _images()
    res = compare(["test_noisy:label=ref", "test_noisy:sigma=0.2", "separation:codec=jpeg2000,link=capacity"],
                  imgs, [5.0, 15.0], budget="match:ref")
    for s in res.systems:
        for p in s["points"]:
            assert p["channel_uses"] <= 96 and p["status_counts"]
    sep = next(s for s in res.systems if s["spec"].startswith("separation"))
    assert sep["cbr_target"] == [pytest.approx(96 / (3 * 32 * 32))] and sep["matched_to"] == "ref"
    assert sep["describe"]["cbr"] == pytest.approx(96 / (3 * 32 * 32))
    assert all(r["channel_uses"] == 96 for r in res.records if r["system"] == "ref")


def test_point_seeds_are_shared_across_systems_and_reproducible():
    imgs = _images()
    a = compare(["test_noisy", "test_noisy:label=twin"], imgs, [0.0, 10.0], seeds=2)
    by = {(r["system"], r["image"], r["snr_db"], r["seed_index"]): r["psnr"] for r in a.records}
    for (sysname, im, snr, k), v in by.items():
        assert by[("twin" if sysname == "test_noisy" else "test_noisy", im, snr, k)] == v  # common random numbers
    assert point_seed(0, "im0", 0.0, 0) != point_seed(0, "im0", 0.0, 1)
    b = compare(["test_noisy", "test_noisy:label=twin"], imgs, [0.0, 10.0], seeds=2)
    assert [r["psnr"] for r in a.records] == [r["psnr"] for r in b.records]


def test_process_pool_gives_the_serial_results():
    imgs = _images()
    specs = ["deepjscc", "separation:codec=jpeg2000,link=erasure,cbler=0.3"]
    kw = dict(snr_db=[2.0, 8.0], budget="match:deepjscc", seeds=2)
    serial = compare(specs, imgs, **kw, workers=1)
    pooled = compare(specs, imgs, **kw, workers=2)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "reconstruction"} for r in rs]  # noqa: E731
    assert strip(serial.records) == strip(pooled.records)


def test_records_carry_the_outcome_accounting():
    res = compare(["test_noisy"], _images(1), [10.0])
    r = res.records[0]
    assert r["channel_uses"] == 96 and r["bits_sent"] == 8 and r["side_info_bits"] == 2
    assert r["cbr"] == pytest.approx(96 / 3072) and r["bpp"] == pytest.approx(10 / 1024)
    assert r["status"] == "ok" and r["psnr"] > 10


def test_size_multiple_needs_an_explicit_crop():
    imgs = [("odd", torch.rand(1, 3, 30, 30))]
    with pytest.raises(InputError, match="crop"):
        compare(["deepjscc"], imgs, [10.0])
    res = compare(["deepjscc"], imgs, [10.0], crop=4)
    assert res.config.crop == 4 and res.points if hasattr(res, "points") else True
    assert res.records[0]["channel_uses"] == 28 * 28 // 8
    assert centre_crop(torch.zeros(1, 3, 30, 31), 8).shape[-2:] == (24, 24)


def test_a_system_error_is_recorded_not_raised():
    class Broken(Noisy):
        def transmit(self, source, snr_db, *, seed=0):
            raise InputError("cannot send this")

    register_system("test_broken", Broken)
    try:
        res = compare(["test_broken"], _images(1), [10.0])
    finally:
        SYSTEMS.pop("test_broken", None)
    p = res.systems[0]["points"][0]
    assert p["status_counts"] == {"error": 1} and "cannot send this" in p["errors"][0]


def test_results_json_has_provenance_and_systems(tmp_path):
    res = compare(["test_noisy", "deepjscc"], _images(1), [5.0], budget="match:deepjscc")
    d = res.to_results().to_dict()
    json.dumps(d, allow_nan=False)
    assert d["name"] == "compare" and d["provenance"]["config"]["budget"] == "match:deepjscc"
    assert "command_line" in d["provenance"] and d["provenance"]["wall_time_s"] >= 0
    names = [s["name"] for s in d["data"]["systems"]]
    assert names == ["test_noisy", "deepjscc"]
    pt = d["data"]["systems"][1]["points"][0]
    assert {"snr_db", "psnr", "ms_ssim", "channel_uses", "cbr", "status_counts"} <= set(pt)
    assert d["data"]["systems"][1]["describe"]["fixed_budget"] is True
    assert d["data"]["systems"][1]["describe"]["source_sha256"]


def test_labels_must_be_unique_and_systems_known():
    with pytest.raises(ConfigError, match="label"):
        compare(["test_noisy", "test_noisy"], _images(1), [5.0])
    with pytest.raises(ConfigError, match="unknown system"):
        compare(["nope"], _images(1), [5.0])


def test_cli_compare_writes_json_and_plots(tmp_path, capsys):
    from semcom.cli import main

    folder = tmp_path / "imgs"
    folder.mkdir()
    from PIL import Image

    for i, (_, img) in enumerate(_images(2, 64)):
        Image.fromarray((img[0].permute(1, 2, 0).numpy() * 255).astype("uint8")).save(folder / f"p{i}.png")
    out = tmp_path / "out"
    rc = main(["compare", "--systems", "deepjscc", "separation:codec=jpeg2000,link=capacity", "--images", str(folder),
               "--snr", "-2:4:6", "--cbr", "match:deepjscc", "--out", str(out), "--no-progress"])
    assert rc == 0
    d = json.loads((out / "compare.json").read_text())
    assert [p["snr_db"] for p in d["data"]["systems"][0]["points"]] == [-2.0, 4.0]
    for name in ("compare_psnr_vs_snr.png", "compare_psnr_vs_channel_uses.png", "compare_strip.png"):
        assert (out / name).is_file()
    assert "deepjscc" in capsys.readouterr().out


def test_cli_quick_fills_only_what_was_not_given():
    from semcom.experiments.compare import build_parser, config_from_args

    kw = config_from_args(build_parser().parse_args(["--quick", "--snr", "3", "--systems", "deepjscc"]))
    assert kw["systems"] == ["deepjscc"] and kw["snr_db"] == [3.0] and kw["budget"] == "match:deepjscc"
    kw = config_from_args(build_parser().parse_args(["--quick"]))
    assert len(kw["systems"]) == 4 and kw["images"] == "tiny"


def test_cli_errors_are_messages(capsys):
    from semcom.cli import main

    assert main(["compare", "--systems", "nope", "--snr", "1"]) == 2
    assert "unknown system" in capsys.readouterr().err
    assert main(["compare", "--snr", "1"]) == 2


def test_built_in_adapters_speak_outcome():
    img = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    for spec in ("deepjscc", "scc", "vlscc2d", "separation:codec=jpeg2000,link=bler_table,cbr=0.2"):
        sys_ = build_system(spec)
        assert img.shape[-1] % getattr(sys_, "size_multiple", 1) == 0
        out = sys_.transmit(img, 10.0, seed=0)
        assert isinstance(out, Outcome) and out.reconstruction.shape == img.shape
        assert out.channel_uses > 0 and isinstance(sys_.describe(), dict)


@pytest.mark.slow
def test_prt_keypoint_call_on_a_clip():
    """The prt keypoint video call as a system: a clip in, a clip out, code blocks counted."""
    from semcom.data.talking_head import TEST_PORTRAIT, talking_head_video

    clip = torch.from_numpy(talking_head_video(n_frames=4, size=128, seed=0, portrait=TEST_PORTRAIT))
    clip = clip.permute(0, 3, 1, 2).float() / 255
    res = compare(["prt"], [("head", clip)], [0.0, 10.0])
    low, high = res.systems[0]["points"]
    assert high["status_counts"] == {"ok": 1} and high["psnr"] > 20
    assert low["channel_uses"] == high["channel_uses"] > 0
    assert res.records[0]["num_cb"] == 4
