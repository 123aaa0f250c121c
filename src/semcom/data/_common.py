"""Errors and Debian-package file discovery shared by the semcom.data loaders."""

from __future__ import annotations

import shutil
import subprocess

from semcom.errors import SemcomError


class DataError(SemcomError):
    """A data file exists but cannot be read (corrupt, wrong format)."""


class DataUnavailableError(DataError, FileNotFoundError):
    """An optional data set is not installed on this machine; the message says how to get it."""


SETUP_HINT = "run `bash scripts/setup.sh` (it installs the optional Debian data packages when apt-get is usable)"


def dpkg_files(package: str) -> list[str] | None:
    """Files installed by Debian package ``package`` (``dpkg -L``), or ``None`` when dpkg is
    absent or the package is not installed."""
    if shutil.which("dpkg") is None:
        return None
    try:
        out = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]
