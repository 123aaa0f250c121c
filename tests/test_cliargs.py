"""The command line can be trusted: every option is checked before any work, bad input is one line
``semcom: error: ...`` with exit code 2 (never a traceback), negative ranges parse without ``=``,
``--quick`` never overrides a value the user gave, and a flag that cannot apply is an error."""

from __future__ import annotations

import errno
import importlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from semcom import cliargs
from semcom.cli import main
from semcom.cliargs import UsageError

# Every verb's module and the function that does its work: the bad-input table replaces each with a
# function that fails the test, so an error found only after the work started cannot pass.
RUNS = {
    "demo": "semcom.experiments.demo", "link": "semcom.experiments.link_bler",
    "baseline": "semcom.experiments.separation_sweep", "train": "semcom.experiments.train",
    "train seb": "semcom.experiments.seb_train", "bench ldpc": "semcom.experiments.bench_ldpc",
    "prt table1": "semcom.experiments.prt_table1", "prt sweep": "semcom.experiments.prt_sweep",
    "prt train-concealer": "semcom.experiments.prt_concealer", "prt keypoint": "semcom.experiments.prt_keypoint",
    "vlscc sweep": "semcom.experiments.vlscc_sweep", "vlscc 1d": "semcom.experiments.vlscc_1d",
    "seb sweep": "semcom.experiments.seb_sweep", "seb kb-update": "semcom.experiments.seb_kb_update",
    "seb granularity": "semcom.experiments.seb_granularity",
}


class RunCalled(Exception):
    """The verb started its work although its input was bad."""


@pytest.fixture
def no_work(monkeypatch, tmp_path):
    """Every verb's ``run`` fails the test if called; the working folder is a temporary one."""
    for module in RUNS.values():
        mod = importlib.import_module(module)

        def refuse(*args, **kwargs):
            raise RunCalled("the run started before the bad input was refused")

        monkeypatch.setattr(mod, "run", refuse)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEMCOM_DEBUG", raising=False)
    return tmp_path


def _files(tmp: Path) -> dict[str, str]:
    plain = tmp / "plain.txt"
    plain.write_text("a regular file\n")
    (tmp / "list.json").write_text("[1, 2]")
    (tmp / "bad.json").write_text("{not json")
    (tmp / "binary.json").write_bytes(b"\xff\xfe\x00\x01garbage")
    (tmp / "huge_snr.json").write_text(json.dumps({"snr_db": [0.0, 1e9]}))
    return {"file": str(plain), "missing": str(tmp / "missing.json"), "list": str(tmp / "list.json"),
            "notjson": str(tmp / "bad.json"), "binary": str(tmp / "binary.json"),
            "under_file": str(plain / "sub"), "huge_snr": str(tmp / "huge_snr.json")}


# (command line, a piece of the one-line message). {name} is filled from _files.
BAD = [
    ("link --mcs 2:abc", "code rate 'abc' is not a number"),
    ("link --mcs 2:1/0", "divides by zero"),
    ("link --mcs idxZZ", "index must be an integer"),
    ("link --mcs idx99", "MCS index"),
    ("link --mcs 3:0.5", "modulation_order"),
    ("link --mcs 2:0.01", "code_rate"),
    ("link --snr 6:0:1", "goes down"),
    ("link --snr 0:1e9:1e-6", "at most 200"),
    ("link --snr=1e9", "outside [-50, 100]"),
    ("link --snr nan", "finite"),
    ("link --snr -inf", "finite"),
    ("link --snr 0,0,1", "strictly increasing"),
    ("link --snr 0:5:0", "STEP must be > 0"),
    ("link --snr 1:2", "A:B:STEP"),
    ("link --workers -3", "workers -3 is outside"),
    ("link --workers 1e9", "must be an integer"),
    ("link --num-blocks 1000000000", "outside [1, 10000]"),
    ("link --payload-bits 4", "outside [8, 1000000]"),
    ("link --seed -1", "seed -1 is outside"),
    ("link --channels awgn,wifi", "unknown channel 'wifi'"),
    ("link --cbler 0.2", "--cbler cannot apply"),
    ("link --csi none", "--csi cannot apply"),
    ("link --fidelity erasure --decoder sionna", "--decoder cannot apply"),
    ("link --out {under_file}", "not a writable folder"),
    ("link --cluster http://host:1", "must look like tcp://host:8786"),
    ("link --cluster tcp://host:99999", "port 99999"),
    ("link --cluster tcp://127.0.0.1:1", "cannot reach the Dask scheduler"),
    ("link --workers 2 --cluster tcp://127.0.0.1:1", "exclude each other"),
    ("link --config {missing}", "cannot read config file"),
    ("link --config {notjson}", "cannot read config file"),
    ("link --config {binary}", "cannot read config file"),
    ("link --config {list}", "must hold a JSON object"),
    ("link --config {huge_snr}", "config snr_db value 1e+09 dB is outside"),
    ("baseline --cbr 1e9", "CBR 1e+09 is outside (0, 1]"),
    ("baseline --cbr 0", "CBR 0 is outside"),
    ("baseline --codecs nope", "unknown codec 'nope'"),
    ("baseline --fidelity adaptive --code-rate 0.5", "--code-rate cannot apply"),
    ("baseline --mcs-index 9 --code-rate 0.5", "exclude each other"),
    ("baseline --mcs-index 29", "the fixed MCS"),
    ("baseline --fidelity capacity --decoder sionna", "--decoder cannot apply"),
    ("baseline --images /no/such/folder", "image set"),
    ("baseline --seeds 0", "seeds 0 is outside"),
    ("baseline --snr 0:1e9:1e-6", "at most 200"),
    ("baseline --out {under_file}", "not a writable folder"),
    ("demo --images nope", "image set 'nope'"),
    ("demo --workers -3", "workers -3"),
    ("demo --config {list}", "must hold a JSON object"),
    ("demo --out {under_file}", "not a writable folder"),
    ("train deepjscc --steps -5", "steps -5 is outside"),
    ("train deepjscc --crop-size 1e9", "must be an integer"),
    ("train deepjscc --config {missing}", "cannot read config file"),
    ("train deepjscc --out {under_file}", "not a writable folder"),
    ("train deepjscc --export {under_file}", "--export"),
    ("train nomodel", "unknown model 'nomodel'"),
    ("train vlscc1d --crop-size 64", "--crop-size cannot apply"),
    ("train deepjscc --device quantum", "--device 'quantum' is not usable here"),
    ("train deepjscc --device cuda:99", "--device 'cuda:99' is not usable here"),
    ("train", "required: model"),
    ("train seb --steps abc", "must be an integer"),
    ("train seb --config {notjson}", "cannot read config file"),
    ("train seb --out {under_file}/x.pt", "not a writable folder"),
    ("bench ldpc --iterations 0", "iterations 0 is outside"),
    ("bench ldpc --codewords 10 --sionna-codewords 20", "exceeds --codewords"),
    ("bench ldpc --out {under_file}", "not a writable folder"),
    ("prt table1 --config {list}", "must hold a JSON object"),
    ("prt table1 --out {under_file}", "not a writable folder"),
    ("prt sweep --snr 1:2:1", "--snr cannot apply"),
    ("prt sweep --link bittrue --snr 1:2:1 --cbler 0,1", "--cbler cannot apply"),
    ("prt sweep --cbler 0,2", "CBLER 2 is outside"),
    ("prt sweep --tests 0,10", "Table I test 0 is outside"),
    ("prt sweep --video {missing}", "does not exist"),
    ("prt sweep --size 63", "frame size 63"),
    ("prt sweep --allocators ffh,best", "unknown allocator 'best'"),
    ("prt sweep --workers -3", "workers -3"),
    ("prt sweep --out {under_file}", "not a writable folder"),
    ("prt train-concealer --steps 0", "steps 0 is outside"),
    ("prt train-concealer --out {under_file}", "not a writable folder"),
    ("prt keypoint --frames 1", "frames 1 is outside"),
    ("prt keypoint --out {under_file}", "not a writable folder"),
    ("vlscc sweep --snr 6:0:1", "goes down"),
    ("vlscc sweep --fidelity nope", "invalid choice"),
    ("vlscc sweep --cluster host:port", "must look like"),
    ("vlscc sweep --out {under_file}", "not a writable folder"),
    ("vlscc 1d --snr=1e9", "outside [-50, 100]"),
    ("vlscc 1d --channel wifi", "invalid choice"),
    ("vlscc 1d --out {under_file}", "not a writable folder"),
    ("seb sweep --workers 2", "unrecognized arguments: --workers"),
    ("seb sweep --extractor pixel --checkpoint {file}", "--checkpoint cannot apply"),
    ("seb sweep --checkpoint {missing}", "does not exist"),
    ("seb sweep --snr 0:1e9:1e-6", "at most 200"),
    ("seb sweep --out {under_file}", "not a writable folder"),
    ("seb kb-update --checkpoint {file}", "--checkpoint cannot apply"),
    ("seb kb-update --no-progress", "unrecognized arguments"),
    ("seb kb-update --out {under_file}", "not a writable folder"),
    ("seb granularity --cluster tcp://127.0.0.1:1", "unrecognized arguments"),
    ("seb granularity --out {under_file}", "not a writable folder"),
    ("nonsense", "invalid choice"),
]


@pytest.fixture(scope="module", autouse=True)
def _imported():
    """Import every verb once, so that the timing below measures the checks, not the imports."""
    for module in RUNS.values():
        importlib.import_module(module)
    import semcom.codecs  # noqa: F401
    import semcom.link  # noqa: F401
    import semcom.models  # noqa: F401


@pytest.mark.parametrize(("line", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_exit_2_before_any_work(line, expected, no_work, capsys):
    files = _files(no_work)
    argv = [w.format(**files) for w in line.split()]
    t = time.perf_counter()
    rc = main(argv)
    elapsed = time.perf_counter() - t
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert rc == 2, cap.err
    assert len(lines) == 1 and lines[0].startswith("semcom: error:"), cap.err
    assert "Traceback" not in cap.err and expected in lines[0], lines[0]
    assert elapsed < 3.0, f"{line}: {elapsed:.1f} s: the check must come before the work"


# ------------------------------------------------------------------------------- the parsers
def test_number_lists_and_ranges():
    p = cliargs.parse_number_list
    assert p("0:10:2") == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert p("0:1:0.1") == [round(0.1 * i, 1) for i in range(11)]  # the stop is kept despite rounding
    assert p("0:1:0.6") == [0.0, 0.6]  # never beyond the stop
    assert p("-2:6:1") == [float(v) for v in range(-2, 7)]
    assert p("1.5") == [1.5] and p(" 0, 2 ,4 ") == [0.0, 2.0, 4.0]
    assert p("1,2,3", integer=True) == [1, 2, 3]
    assert len(p(f"0:{cliargs.MAX_POINTS - 1}:1")) == cliargs.MAX_POINTS
    for bad in ("", "0:1", "0:1:2:3", "a:1:1", "0:1:-1", "1:0:1", "0,,1", "1,0", "inf", "1e400",
                f"0:{cliargs.MAX_POINTS}:1", "0:1e308:1e-308", ",".join(["1"] * 500)):
        with pytest.raises(UsageError):
            p(bad)
    with pytest.raises(UsageError, match="integers"):
        p("1.5,2", integer=True)
    with pytest.raises(UsageError, match="outside"):
        p("0,2", lo=0, hi=1)


def test_snr_cbr_seed_workers_ranges():
    assert cliargs.parse_snr_list("-50,100") == [-50.0, 100.0]
    for bad in ("-51", "101", "1e9", "-1e9"):
        with pytest.raises(UsageError, match="SNR"):
            cliargs.parse_snr_list(bad)
    assert cliargs.parse_cbr("1") == 1.0 and cliargs.parse_cbr("0.05") == 0.05
    for bad in ("0", "-0.1", "1.01", "1e9", "nan", "x"):
        with pytest.raises(UsageError, match="CBR"):
            cliargs.parse_cbr(bad)
    assert cliargs.parse_seed("0") == 0 and cliargs.parse_seed(str(cliargs.MAX_SEED)) == cliargs.MAX_SEED
    for bad in ("-1", str(cliargs.MAX_SEED + 1), "1.0", "1e3", "9" * 40):
        with pytest.raises(UsageError):
            cliargs.parse_seed(bad)
    assert cliargs.parse_workers("0") == 0
    with pytest.raises(UsageError):
        cliargs.parse_workers(str(cliargs.MAX_WORKERS + 1))


def test_mcs_specs():
    m = cliargs.parse_mcs("2:1/2")
    assert (m.modulation_order, m.code_rate) == (2, 0.5)
    assert cliargs.parse_mcs("idx9").index == 9 and cliargs.parse_mcs(9).index == 9
    assert cliargs.parse_mcs("4:0.667").modulation_order == 4
    assert cliargs.parse_mcs_list("2:1/2, idx9") == ["2:1/2", "idx9"]
    for bad, msg in (("2:abc", "code rate 'abc'"), ("2:1/0", "divides by zero"), ("idxZZ", "index must be"),
                     ("idx-1", "index"), ("idx", "index"), ("2", "Qm:rate"), ("2:1:2", "Qm:rate"),
                     ("x:0.5", "modulation order"), ("3:0.5", "modulation_order"), ("2:1/50", "code_rate"),
                     ("2:nan", "finite"), ("2:1/inf", "finite")):
        with pytest.raises(UsageError, match=msg):
            cliargs.parse_mcs(bad)
    with pytest.raises(UsageError):
        cliargs.parse_mcs_list("2:1/2,,idx9")


def test_link_config_mcs_is_a_config_error():
    """An MCS in a config file (not the command line) is checked by the same parser."""
    from semcom.errors import ConfigError
    from semcom.experiments.link_bler import LinkSweepConfig

    for bad in ("2:abc", "2:1/0", "idxZZ"):
        with pytest.raises(ConfigError):
            LinkSweepConfig(mcs=[bad])


def test_names_images_files(tmp_path):
    assert cliargs.parse_choice_list("awgn,rayleigh", choices=("awgn", "rayleigh")) == ["awgn", "rayleigh"]
    for bad in ("awgn,awgn", "awgn,", "wifi", ""):
        with pytest.raises(UsageError):
            cliargs.parse_choice_list(bad, choices=("awgn", "rayleigh"))
    assert cliargs.parse_image_set("tiny") == "tiny" and cliargs.parse_image_set("all-256") == "all-256"
    (tmp_path / "sub").mkdir()
    with pytest.raises(UsageError, match="no image files"):  # an empty folder fails now, not after set-up
        cliargs.parse_image_set(str(tmp_path))
    (tmp_path / "sub" / "a.PNG").write_bytes(b"")
    assert cliargs.parse_image_set(str(tmp_path)) == str(tmp_path)
    for bad in ("all-x", "all-8", "all-99999", str(tmp_path / "none")):
        with pytest.raises(UsageError):
            cliargs.parse_image_set(bad)
    f = tmp_path / "f.bin"
    f.write_bytes(b"x")
    assert cliargs.parse_existing_file(str(f)) == str(f)
    for bad in (str(tmp_path), str(tmp_path / "none")):
        with pytest.raises(UsageError):
            cliargs.parse_existing_file(bad)


def test_cluster_addresses():
    a = cliargs.parse_cluster_address
    assert a("tcp://sched:8786") == "tcp://sched:8786"
    assert a("sched") == f"tcp://sched:{cliargs.DASK_PORT}" and a("10.0.0.1:9000") == "tcp://10.0.0.1:9000"
    assert a("tls://[::1]:8786") == "tls://[::1]:8786"
    for bad in ("", "http://x:1", "tcp://", "tcp://x:0", "tcp://x:70000", "x:y", "a b:1", "tcp://x:1/path",
                "1" * 400, "a" * 64 + ".org:1"):
        with pytest.raises(UsageError):
            a(bad)


def test_cluster_check_is_bounded_in_time(monkeypatch):
    """A scheduler that never answers (or a name that never resolves) costs at most the timeout."""

    def hang(*args, **kwargs):
        time.sleep(30)

    monkeypatch.setattr(socket, "create_connection", hang)
    t = time.perf_counter()
    with pytest.raises(UsageError, match="no answer from the Dask scheduler within 0.3 s"):
        cliargs.check_cluster("tcp://10.255.255.1:8786", timeout=0.3)
    assert time.perf_counter() - t < 2


def test_cluster_check_reports_a_resolver_error(monkeypatch):
    def refuse(*args, **kwargs):
        raise UnicodeError("label too long")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(UsageError, match="cannot reach the Dask scheduler .label too long"):
        cliargs.check_cluster("tcp://host:8786", timeout=2)


def test_cluster_check_accepts_a_listening_port():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        cliargs.check_cluster(f"tcp://127.0.0.1:{srv.getsockname()[1]}", timeout=2)


def test_out_checks(tmp_path):
    d = cliargs.check_out_dir(tmp_path / "a" / "b")
    assert d.is_dir() and list(d.iterdir()) == []  # the probe file is gone
    plain = tmp_path / "plain"
    plain.write_text("x")
    with pytest.raises(UsageError, match="not a writable folder"):
        cliargs.check_out_dir(plain)
    with pytest.raises(UsageError, match="is a folder"):
        cliargs.check_out_file(tmp_path)
    assert cliargs.check_out_file(tmp_path / "c" / "x.pt").parent.is_dir()


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root may write anywhere")
def test_out_in_a_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(UsageError, match="not a writable folder"):
            cliargs.check_out_dir(ro)
    finally:
        ro.chmod(0o700)


def test_check_applies_and_exclusive_and_fill_defaults():
    cliargs.check_applies("--x", False, False, "why")
    cliargs.check_applies("--x", True, True, "why")
    with pytest.raises(UsageError, match="--x cannot apply here: why"):
        cliargs.check_applies("--x", True, False, "why")
    cliargs.check_exclusive(("--a", True), ("--b", False))
    with pytest.raises(UsageError, match="--a and --b exclude each other"):
        cliargs.check_exclusive(("--a", True), ("--b", True))
    assert cliargs.fill_defaults({"a": 1}, {"a": 2, "b": 3}) == {"a": 1, "b": 3}


def test_config_value_checks():
    cliargs.check_snr_values([-2, 0.5, 30])
    for bad in ([1e9], [float("nan")], "0,1", [True], list(range(300))):
        with pytest.raises(UsageError):
            cliargs.check_snr_values(bad)
    cliargs.check_cbr_value(0.05)
    for bad in (0, 1e9, "0.1", None, float("inf")):
        with pytest.raises(UsageError):
            cliargs.check_cbr_value(bad)


# ---------------------------------------------------------------------------- negative values
@pytest.mark.parametrize(("argv", "expected"), [
    (["--snr", "-2:6:1"], [float(v) for v in range(-2, 7)]),
    (["--snr=-2:6:1"], [float(v) for v in range(-2, 7)]),
    (["--snr", "-2"], [-2.0]),
    (["--snr", "-2.5,-1e-1"], [-2.5, -0.1]),
    (["--snr", "-.5"], [-0.5]),
])
def test_negative_values_parse_without_equals(argv, expected):
    p = cliargs.ArgumentParser(prog="semcom x")
    p.add_argument("--snr", type=cliargs.typed(cliargs.parse_snr_list))
    p.add_argument("--flag", action="store_true")
    assert p.parse_args(argv + ["--flag"]).snr == expected
    with pytest.raises(UsageError, match="unrecognized arguments: -q"):
        p.parse_args(argv + ["-q"])  # other dash words stay options


def test_negative_snr_reaches_every_verb(no_work, monkeypatch):
    """``--snr -2:6:1`` as in the README, through the real verbs (their run replaced by a recorder)."""
    seen = {}

    class Stop(Exception):
        pass

    def record(name):
        def fake(cfg, *args, **kwargs):
            seen[name] = cfg
            raise Stop

        return fake

    monkeypatch.setenv("SEMCOM_DEBUG", "1")  # re-raise, so that Stop reaches this test
    from semcom.experiments import link_bler, seb_sweep, separation_sweep, vlscc_1d, vlscc_sweep

    for name, mod in (("link", link_bler), ("baseline", separation_sweep), ("vlscc sweep", vlscc_sweep),
                      ("vlscc 1d", vlscc_1d), ("seb sweep", seb_sweep)):
        monkeypatch.setattr(mod, "run", record(name))
        with pytest.raises(Stop):
            main(name.split() + ["--snr", "-2:6:1", "--no-progress"])
    expected = [float(v) for v in range(-2, 7)]
    assert seen["link"].snr_db == seen["baseline"].snr_db == seen["seb sweep"].snr_db == expected
    assert seen["vlscc sweep"].snr_grid == seen["vlscc 1d"].snr_grid == expected


# ------------------------------------------------------------------ --quick and user values
def _capture(monkeypatch, module: str):
    """Replace ``module.run`` by a recorder that stops the verb; returns the record."""
    seen: dict = {}

    class Stop(Exception):
        pass

    def fake(cfg, *args, **kwargs):
        seen["cfg"] = cfg
        raise Stop

    monkeypatch.setattr(importlib.import_module(module), "run", fake)
    monkeypatch.setenv("SEMCOM_DEBUG", "1")
    return seen, Stop


def test_quick_never_overrides_what_the_user_gave(no_work, monkeypatch):
    cfg_file = no_work / "c.json"
    cfg_file.write_text(json.dumps({"snr_db": [1.0, 2.0, 3.0], "seeds": 3}))
    seen, stop = _capture(monkeypatch, "semcom.experiments.demo")
    with pytest.raises(stop):
        main(["demo", "--quick", "--config", str(cfg_file), "--no-progress"])
    c = seen["cfg"]
    assert c.snr_db == [1.0, 2.0, 3.0] and c.seeds == 3  # from the config file
    assert c.link_num_blocks == 10 and c.quick  # from --quick

    seen, stop = _capture(monkeypatch, "semcom.experiments.vlscc_sweep")
    with pytest.raises(stop):
        main(["vlscc", "sweep", "--quick", "--snr", "-2:2:2", "--fidelity", "bittrue"])
    c = seen["cfg"]
    assert c.snr_grid == [-2.0, 0.0, 2.0] and c.fidelity == "bittrue" and c.spp_grid == [0.0625, 0.125, 0.25]

    seen, stop = _capture(monkeypatch, "semcom.experiments.vlscc_1d")
    with pytest.raises(stop):
        main(["vlscc", "1d", "--quick", "--snr", "0,10"])
    assert seen["cfg"].snr_grid == [0.0, 10.0] and seen["cfg"].seeds == [0]

    seen, stop = _capture(monkeypatch, "semcom.experiments.prt_sweep")
    with pytest.raises(stop):
        main(["prt", "sweep", "--quick", "--frames", "5", "--cbler", "0,0.25", "--seed", "7"])
    c = seen["cfg"]
    assert (c.frames, c.cblers, c.seed, c.size) == (5, [0.0, 0.25], 7, 128)

    seen, stop = _capture(monkeypatch, "semcom.experiments.bench_ldpc")
    with pytest.raises(stop):
        main(["bench", "ldpc", "--quick", "--codewords", "16", "--iterations", "12"])
    c = seen["cfg"]
    assert (c["codewords"], c["iterations"], c["sionna_codewords"], c["repeats"]) == (16, 12, 8, 1)


def test_command_line_seed_wins_over_the_config_file(no_work, monkeypatch):
    cfg_file = no_work / "c.json"
    cfg_file.write_text(json.dumps({"seed": 5}))
    for verb, module in (("seb granularity", "semcom.experiments.seb_granularity"),
                         ("seb kb-update", "semcom.experiments.seb_kb_update"),
                         ("link", "semcom.experiments.link_bler")):
        seen, stop = _capture(monkeypatch, module)
        with pytest.raises(stop):
            main(verb.split() + ["--config", str(cfg_file), "--seed", "9"])
        assert seen["cfg"].seed == 9, verb
        with pytest.raises(stop):
            main(verb.split() + ["--config", str(cfg_file)])
        assert seen["cfg"].seed == 5, verb


# ------------------------------------------------------------------------- never a traceback
@pytest.mark.parametrize(("exc", "rc", "start"), [
    (RuntimeError("boom\nsecond line"), 1, "semcom: internal error: RuntimeError: boom second line (run with SEMCOM_DEBUG=1"),
    (KeyError("k"), 1, "semcom: internal error: KeyError: 'k'"),
    (OSError(errno.ENOSPC, "No space left on device", "/x/out.json"), 2, "semcom: error: /x/out.json: No space left on device"),
    (PermissionError(errno.EACCES, "Permission denied", "/a", None, "/b"), 2, "semcom: error: /a -> /b: Permission denied"),
    (KeyboardInterrupt(), 130, "semcom: interrupted"),
    (MemoryError(), 1, "semcom: error: out of memory"),
])
@pytest.mark.parametrize("verb", ["link", "prt table1"])
def test_unexpected_errors_are_one_line(verb, exc, rc, start, monkeypatch, tmp_path, capsys):
    def boom(*args, **kwargs):
        raise exc

    monkeypatch.delenv("SEMCOM_DEBUG", raising=False)
    monkeypatch.setattr(importlib.import_module(RUNS[verb]), "run", boom)
    assert main(verb.split() + ["--out", str(tmp_path)]) == rc
    err = capsys.readouterr().err
    assert err.startswith(start) and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    monkeypatch.setenv("SEMCOM_DEBUG", "1")
    with pytest.raises(type(exc)):
        main(verb.split() + ["--out", str(tmp_path)])


def _semcom(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), OMP_NUM_THREADS="1")
    env.pop("SEMCOM_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "semcom.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_subprocess_bad_option_is_one_line(tmp_path):
    p = _semcom("link", "--mcs", "2:abc", "--snr", "-2:6:1", cwd=tmp_path)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith("semcom: error: link: argument --mcs: MCS '2:abc'") and p.stderr.count("\n") == 1
    assert not (tmp_path / "results").exists()  # nothing written


def test_subprocess_negative_range_runs(tmp_path):
    p = _semcom("link", "--snr", "-2:0:2", "--mcs", "2:1/2", "--fidelity", "erasure", "--cbler", "0.5",
                "--payload-bits", "100", "--num-blocks", "4", "--out", str(tmp_path), "--no-progress", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    data = json.loads((tmp_path / "link.json").read_text())
    assert sorted({r["snr_db"] for r in data["data"]["records"]}) == [-2.0, 0.0]


def test_a_group_without_its_sub_command_shows_its_help_and_exits_2(capsys):
    assert main(["prt"]) == 2
    assert "table1" in capsys.readouterr().out


@pytest.mark.parametrize("argv, needle", [
    (["prt", "sweep", "--workers=--"], "'--' is not a value"),
    (["link", "--snr=--"], "'--' is not a value"),
    (["train", "deepjscc", "--lr", "1e12"], "learning rate"),
    (["train", "deepjscc", "--test-images", "1e12"], "not a folder"),
    (["train", "deepjscc", "--train-images", "{empty}"], "holds no image files"),
    (["train", "deepjscc", "--cache-dir", "nan"], "--cache-dir cannot apply"),
    (["train", "deepjscc", "--nproc", "0"], "--nproc"),
    (["seb", "sweep", "--images", "{empty}"], "holds no image files"),
])
def test_options_the_fuzz_table_found_are_refused_up_front(argv, needle, tmp_path, capsys):
    """Cases the fuzz table's CLI row ran into (work started on an invalid value, or argparse's
    empty list for a value of '--'): each a one-line error before any work."""
    from semcom.cli import main

    (tmp_path / "empty").mkdir()
    argv = [a.replace("{empty}", str(tmp_path / "empty")) for a in argv]
    assert main(argv + ["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("semcom: error:") and needle in err[0], err
