"""`semcom bench link`: the run, its JSON, the CLI wiring and its refusals of bad options."""

from __future__ import annotations

import doctest
import json

import pytest

from semcom.cli import main as cli_main
from semcom.cliargs import UsageError
from semcom.errors import ConfigError
from semcom.experiments import bench_link
from semcom.experiments.bench_link import BenchLinkConfig, run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_run_reports_every_stage_for_both_chains():
    res = run(BenchLinkConfig(cases=[[4, 2 / 3]], snr_db=[[12.0]], items=2, repeats=1, threads=[1, 2],
                              max_tb_bits=6000))
    rows = res.data["rows"]
    assert [(r["chain"], r["noise"], r["threads"]) for r in rows] == [
        ("sionna", "torch", 1), ("fast", "torch", 1), ("fast", "fast", 1),
        ("sionna", "torch", 2), ("fast", "torch", 2), ("fast", "fast", 2)]
    for r in rows:
        assert set(r["mbit_per_s"]) == {"tb_encode", "map_channel_demap", "decode_crc", "end_to_end", "decoder_alone"}
        assert all(v > 0 for v in r["mbit_per_s"].values())
        assert r["bits_ok"] and r["cbler"] == 0.0 and 1 <= r["mean_iterations"] <= 20
        assert r["end_to_end_over_decoder_alone"] == pytest.approx(r["seconds"]["decoder_alone"] / r["seconds"]["end_to_end"])
        assert len(r["load_average_before"]) == 3
        assert len(r["end_to_end_over_decoder_alone_per_round"]) == 1  # timed in alternation, one ratio per round
        assert r["operating_point_draws"] == bench_link.OPERATING_POINT_DRAWS
    assert {r["demapper"] for r in rows} == {"app", "maxlog"}
    # map_channel_demap times the fused AWGN kernels where transmit uses them: the compiled chain, either noise
    assert [r["fused_awgn"] for r in rows] == [False, True, True] * 2
    summary = res.data["summary"]  # the compiled chain per thread count and noise source
    assert [(s["threads"], s["noise"]) for s in summary] == [(1, "torch"), (1, "fast"), (2, "torch"), (2, "fast")]
    assert all(s["end_to_end_speedup"] > 0 for s in summary) and summary[0]["goal_mbps_met"] is None
    assert summary[-1]["goal_mbps_met"] in (True, False)
    assert "loadavg_before" in res.data["machine"] and "loadavg" not in res.data["machine"] and res.provenance["config"]["items"] == 2


def test_paired_times_alternate_the_calls():
    calls = []
    times, ratios = bench_link._paired_times({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 3)
    assert calls == ["a", "b"] * 4  # a warm-up round, then three timed rounds, one call of each per round
    assert set(times) == {"a", "b"} and all(w >= 0 and c >= 0 for w, c in times.values())
    assert len(ratios) == 3 and all(r > 0 for r in ratios)


def test_operating_point_does_not_depend_on_the_repeats():
    """CBLER and mean iterations come from draws of their own, not from the timed calls."""
    kw = dict(cases=[[2, 0.5]], snr_db=[[1.5]], items=2, threads=[1], chains=["fast"], noises=["torch"],
              max_tb_bits=2000)
    one, three = (run(BenchLinkConfig(repeats=r, **kw)).data["rows"][0] for r in (1, 3))
    assert 0 < one["cbler"] < 1 and one["mean_iterations"] > 3  # in the waterfall
    assert (one["cbler"], one["mean_iterations"]) == (three["cbler"], three["mean_iterations"])


def test_cli_writes_json(tmp_path):
    assert cli_main(["bench", "link", "--quick", "--items", "1", "--threads", "1", "--chains", "fast",
                     "--noises", "fast", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "link.json").read_text())
    rows = data["data"]["rows"]
    assert {r["mcs"] for r in rows} == {"QPSK R=0.5000", "16QAM R=0.6667"} and len(rows) == 4
    assert {r["snr_db"] for r in rows} == {1.2, 4.0, 9.0, 12.0}
    assert data["provenance"]["config"]["chains"] == ["fast"] and {r["noise"] for r in rows} == {"fast"}


@pytest.mark.parametrize("argv", [["--threads", "0"], ["--threads", "2,1"], ["--chains", "numpy"], ["--items", "0"],
                                  ["--repeats", "x"], ["--iterations", "1000"], ["--bogus"], ["--noises", "numpy"]])
def test_cli_refuses_bad_options_before_work(argv, monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("the run started before the bad option was refused")

    monkeypatch.setattr(bench_link, "run", refuse)
    with pytest.raises((UsageError, SystemExit)):
        bench_link.main(argv + ["--out", str(tmp_path)])


def test_config_errors():
    for bad in ({"cases": [[3, 0.5]]}, {"cases": [[2, 0.3]]}, {"snr_db": [[1.0]]}, {"chains": []},
                {"threads": [0]}, {"items": 0}, {"sionna_demapper": "exact"}, {"noises": []},
                {"noises": ["gauss"]}):
        with pytest.raises(ConfigError):
            BenchLinkConfig(**bad)


def test_docstring_examples():
    res = doctest.testmod(bench_link, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0
