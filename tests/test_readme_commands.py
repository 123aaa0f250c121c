"""Every ``semcom`` command line of the README parses: its options are read by the verb's own parser
(types and ranges checked) up to an appended ``--help``, which stops before any work."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_commands() -> list[list[str]]:
    lines = re.findall(r"^\.venv/bin/semcom ([^#\n]*)", README.read_text(), flags=re.M)
    return [shlex.split(line) for line in lines]


@pytest.mark.parametrize("argv", _readme_commands(), ids=lambda a: " ".join(a)[:60])
def test_readme_command_line_parses(argv, capsys):
    from semcom.cli import main

    if any("your" in a or a.startswith("my_") for a in argv):
        pytest.skip("names a user's file (your_call.mp4, path/to/your/photos, my_module.py)")
    try:
        code = main([*argv, "--help"])
    except SystemExit as exc:  # argparse's --help
        code = exc.code or 0
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "usage" in out.out.lower()


def test_the_readme_has_command_lines():
    assert len(_readme_commands()) >= 15
