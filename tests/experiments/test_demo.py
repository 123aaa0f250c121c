import json

from semcom.cli import main


def test_quick_demo_writes_report_and_json(tmp_path):
    rc = main(["demo", "--quick", "--out", str(tmp_path), "--no-progress"])
    assert rc == 0
    page = (tmp_path / "index.html").read_text()
    data = json.loads((tmp_path / "demo.json").read_text())
    assert "data:image/png;base64" in page and "Separation baselines" in page
    summary = data["data"]["baseline"]["summary"]
    assert {s["fidelity"] for s in summary} == {"bittrue", "capacity"}
    assert {s["channel"] for s in summary} == {"awgn", "rayleigh"}
    # the capacity bound is never worse than LDPC at the same point on AWGN
    by = {(s["codec"], s["channel"], s["fidelity"], s["snr_db"]): s for s in summary}
    for (codec, ch, fid, snr), s in by.items():
        if fid == "capacity" and ch == "awgn":
            assert s["psnr"] >= by[(codec, ch, "bittrue", snr)]["psnr"] - 1e-6
    for key in ("version", "git_commit", "config", "seed", "data_checksums", "date"):
        assert key in data["provenance"]
