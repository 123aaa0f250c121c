import json

import pytest

from semcom.cli import main


def test_help_lists_commands(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    for cmd in ("demo", "link", "baseline", "bench", "prt"):
        assert cmd in out


@pytest.mark.parametrize("cmd", [["link"], ["baseline"], ["demo"]])
def test_every_option_is_described(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main(cmd + ["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    # every option line carries a help text (argparse prints the option, then its description)
    opts = [line.split()[0] for line in out.splitlines() if line.strip().startswith("--")]
    assert "--out" in " ".join(out.split()) and len(opts) >= 5


def test_link_command_writes_json_and_plots(tmp_path, capsys):
    rc = main(["link", "--mcs", "2:1/2", "--snr", "0,10", "--fidelity", "erasure,capacity",
               "--payload-bits", "2000", "--num-blocks", "4", "--out", str(tmp_path), "--no-progress"])
    assert rc == 0
    data = json.loads((tmp_path / "link.json").read_text())
    assert data["provenance"]["config"]["mcs"] == ["2:1/2"]
    assert len(data["data"]["records"]) == 4
    assert (tmp_path / "link_cbler.png").exists()


def test_link_command_bg1_repetition_lays_tbs_out_as_38212(tmp_path, capsys):
    """``--bg1-repetition`` is the link key ``bg1_repetition``: MCS 4 with 16 000 bits takes two TBs on
    base graph 1 instead of five capped ones; the records carry the flag and the payload error."""
    uses = {}
    for flag in ([], ["--bg1-repetition"]):
        out = tmp_path / ("std" if flag else "capped")
        rc = main(["link", "--mcs", "idx4", "--snr", "10", "--fidelity", "erasure", "--cbler", "0",
                   "--payload-bits", "16000", "--num-blocks", "6", "--out", str(out), "--no-progress", *flag])
        assert rc == 0
        data = json.loads((out / "link.json").read_text())
        (rec,) = data["data"]["records"]
        assert rec["bg1_repetition"] is bool(flag) and rec["payload_error"] == 0.0
        assert data["provenance"]["config"]["link"] == ({"bg1_repetition": True} if flag else {})
        uses[bool(flag)] = (rec["num_cb"], rec["num_payloads"])
    assert uses == {False: (10, 2), True: (6, 2)}


def test_baseline_bg1_repetition_reaches_the_link(tmp_path, capsys):
    """``--bg1-repetition`` is the link key ``bg1_repetition`` of every system of the sweep; with the
    capacity link alone it cannot apply (a one-line error)."""
    rc = main(["baseline", "--codecs", "jpeg2000", "--channels", "awgn", "--fidelity", "bler_table", "--mcs-index", "4",
               "--snr", "0", "--images", "tiny", "--bg1-repetition", "--out", str(tmp_path), "--no-progress"])
    assert rc == 0
    data = json.loads((tmp_path / "baseline.json").read_text())
    assert data["provenance"]["config"]["link"] == {"bg1_repetition": True}
    assert all(r["bg1_repetition"] for r in data["data"]["records"])
    capsys.readouterr()
    assert main(["baseline", "--fidelity", "capacity", "--channels", "awgn", "--bg1-repetition", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--bg1-repetition" in err and "Traceback" not in err


def test_link_and_baseline_noise_reach_the_bit_true_links_only(tmp_path, capsys):
    """``--noise fast`` is the link key ``noise`` of the bit-true links of a sweep; the table link beside
    them draws no channel noise and does not get it; without a bit-true link it cannot apply."""
    rc = main(["link", "--mcs", "2:1/2", "--snr", "3", "--fidelity", "bittrue,bler_table", "--payload-bits", "500",
               "--num-blocks", "4", "--noise", "fast", "--out", str(tmp_path / "link"), "--no-progress"])
    assert rc == 0
    data = json.loads((tmp_path / "link" / "link.json").read_text())
    assert data["provenance"]["config"]["link"] == {"noise": "fast"}
    assert {r["fidelity"]: r["noise"] for r in data["data"]["records"]} == {"bittrue": "fast", "bler_table": None}
    rc = main(["baseline", "--codecs", "jpeg2000", "--channels", "awgn", "--fidelity", "adaptive,bler_table",
               "--snr", "6", "--images", "tiny", "--noise", "fast", "--out", str(tmp_path / "b"), "--no-progress"])
    assert rc == 0
    records = json.loads((tmp_path / "b" / "baseline.json").read_text())["data"]["records"]
    assert {(r["fidelity"], r["noise"]) for r in records} == {("adaptive", "fast"), ("bler_table", None)}
    capsys.readouterr()
    for argv in (["link", "--fidelity", "bler_table", "--noise", "fast"],
                 ["baseline", "--fidelity", "capacity", "--channels", "awgn", "--noise", "fast"],
                 ["link", "--noise", "gauss"]):
        assert main([*argv, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert "--noise" in err and "Traceback" not in err
    cfg = tmp_path / "noise.json"  # the config file's link key is checked the same way
    cfg.write_text(json.dumps({"link": {"noise": "fast"}}))
    assert main(["link", "--fidelity", "bler_table", "--config", str(cfg), "--out", str(tmp_path / "x")]) == 2
    assert "--noise" in capsys.readouterr().err


def test_bad_config_key_is_a_clear_error(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"codecs": ["jpeg2000"], "nonsense": 1}))
    rc = main(["baseline", "--config", str(cfg), "--out", str(tmp_path)])
    assert rc == 2
    assert "unknown key" in capsys.readouterr().err


def test_baseline_downscale_reaches_the_system(tmp_path, capsys):
    """``--downscale`` is the config key ``downscale``: at a budget below HEIF's smallest full-size stream
    the sweep sends a smaller image instead of nothing."""
    rc = main(["baseline", "--codecs", "heif", "--channels", "awgn", "--fidelity", "capacity", "--snr", "0",
               "--cbr", "0.0305", "--images", "tiny", "--downscale", "4", "--out", str(tmp_path), "--no-progress"])
    assert rc == 0
    data = json.loads((tmp_path / "baseline.json").read_text())
    assert data["provenance"]["config"]["downscale"] == 4
    recs = data["data"]["records"]
    assert len(recs) == 3 and all(r["status"] == "ok" and r["downscale"] in (2, 4) for r in recs)
    assert main(["baseline", "--downscale", "3", "--out", str(tmp_path)]) == 2
    assert "--downscale" in capsys.readouterr().err
