"""Plugins: a user's module that registers models and systems, loaded by name, by file, or by entry point.

* ``--plugin MODULE`` (every CLI verb) or :func:`load_plugin` imports ``MODULE`` (a dotted module name
  on ``sys.path``, or the path of a ``.py`` file); importing it runs its ``@register_model`` /
  ``@register_system`` decorators.
* Installed packages declare an entry point in the group ``semcom.plugins``::

      [project.entry-points."semcom.plugins"]
      mypkg = "mypkg.semcom_plugin"

  :func:`load_entry_points` imports every one (the CLI does so at start-up).

Each load returns its provenance: the module, its file and the SHA-256 of that file.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from semcom.errors import ConfigError

__all__ = ["load_plugin", "load_entry_points", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "semcom.plugins"


def _file_sha256(path: str | None) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None
    except OSError:
        return None


def load_plugin(module: str) -> dict:
    """Import a plugin by module name or ``.py`` path (once); returns ``{module, file, sha256}``.

    Raises:
        ConfigError: the module cannot be found, or importing it raised (the message names the module
            and the error; a registration conflict says which name is taken).
    """
    if not isinstance(module, str) or not module.strip():
        raise ConfigError(f"a plugin is a module name or a .py file, got {module!r}")
    module = module.strip()
    try:
        if module.endswith(".py"):
            path = Path(module).resolve()
            if not path.is_file():
                raise ConfigError(f"plugin file {module!r} does not exist")
            name = f"semcom_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
            mod = sys.modules.get(name)
            if mod is None:
                spec = importlib.util.spec_from_file_location(name, path)
                mod = importlib.util.module_from_spec(spec)
                sys.modules[name] = mod
                try:
                    spec.loader.exec_module(mod)
                except BaseException:
                    sys.modules.pop(name, None)
                    raise
        else:
            mod = importlib.import_module(module)
    except ConfigError as exc:
        raise ConfigError(f"plugin {module!r}: {exc}") from None
    except ModuleNotFoundError as exc:
        raise ConfigError(f"plugin {module!r} cannot be imported: {exc} (is it on PYTHONPATH, or give its .py path)") from None
    except Exception as exc:  # noqa: BLE001 - a user's module may raise anything on import
        raise ConfigError(f"plugin {module!r} failed on import: {type(exc).__name__}: {exc}") from None
    if module.endswith(".py"):
        mod.__semcom_plugin__ = module  # how to load it again (checkpoint metadata records it)
    file = getattr(mod, "__file__", None)
    return {"module": module, "file": Path(file).name if file else None, "sha256": _file_sha256(file)}


def load_entry_points() -> list[dict]:
    """Import every plugin declared in the ``semcom.plugins`` entry-point group."""
    from importlib.metadata import entry_points

    out = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        out.append(load_plugin(ep.value.split(":")[0]))
    return out
