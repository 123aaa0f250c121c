"""Results with provenance, written as JSON.

Every experiment returns a :class:`Results`; ``save`` writes ``<out>/<name>.json`` holding the
data and its provenance: package version, git commit (when run from a checkout), config, seed,
data checksums and the date. Plots are made from this JSON, never from in-memory state.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

import semcom


def git_commit() -> str | None:
    """The commit of the source checkout semcom runs from, or ``None`` outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    commit = out.stdout.strip()
    # "+dirty" when the code or configs differ from the commit (regenerated results do not count)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)src", ":(top)configs", ":(top)pyproject.toml"],
        cwd=here, capture_output=True, text=True, timeout=5,
    )
    return commit + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def cpu_model() -> str:
    """The CPU model name (from /proc/cpuinfo on Linux, else ``platform.processor()``), for benchmarks."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def provenance(config: Any = None, seed: int | None = None, data_checksums: dict | None = None) -> dict:
    """The provenance block stored with every result."""
    import torch

    try:
        import sionna

        sionna_version = getattr(sionna, "__version__", None)
    except Exception:  # pragma: no cover - sionna is a hard dependency
        sionna_version = None
    return {
        "package": "semcom",
        "version": semcom.__version__,
        "git_commit": git_commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sionna": sionna_version,
        "config": to_jsonable(config),
        "seed": seed,
        "data_checksums": data_checksums or {},
    }


def to_jsonable(obj: Any) -> Any:
    """Convert dataclasses, numpy/torch values and paths to plain JSON types (NaN -> None)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    try:
        import torch

        if isinstance(obj, torch.Tensor):
            return to_jsonable(obj.detach().cpu().numpy())
    except ImportError:  # pragma: no cover
        pass
    return obj


def _flat(value: Any) -> bool:
    return not isinstance(value, (dict, list)) or not value


def _dumps(obj: Any, pad: str) -> str:
    inner = pad + "  "
    if isinstance(obj, dict) and obj:
        items = [f"{inner}{json.dumps(str(k))}: {_dumps(v, inner)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(obj, list) and not all(_flat(v) for v in obj):
        items = [f"{inner}{_dumps(v, inner)}" for v in obj]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(obj, allow_nan=False)


def dumps(obj: Any) -> str:
    """JSON text of a result: objects indented by two spaces, a list of numbers or strings on one line.

    ``json.dumps(obj, indent=2)`` gives every number of a per-grant or per-image list its own line,
    which makes long runs' files several times larger and their diffs unreadable; the content is the
    same (``json.loads`` of either gives equal objects). NaN and infinity are rejected, as in
    :func:`to_jsonable`'s output.
    """
    return _dumps(obj, "")


@dataclasses.dataclass
class Results:
    """What an experiment returns: a name, its data (JSON-able) and provenance."""

    name: str
    data: Any
    provenance: dict

    def to_dict(self) -> dict:
        return {"name": self.name, "provenance": self.provenance, "data": to_jsonable(self.data)}

    def save(self, out_dir: str | Path, filename: str | None = None) -> Path:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / (filename or f"{self.name}.json")
        path.write_text(dumps(self.to_dict()) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Results":
        d = json.loads(Path(path).read_text())
        return cls(name=d["name"], data=d["data"], provenance=d["provenance"])


def machine_info() -> dict:
    """CPU model, core count, thread settings and load average."""
    import os

    import torch

    from semcom.link._ldpc_kernels import default_threads

    cpu = cpu_model()

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "decoder_threads": default_threads(),
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
