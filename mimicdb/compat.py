"""The smallest shim that lets boto 2.49.0 import on Python 3.12 and later.

boto 2.49.0 breaks there in two places, both at import time:

- `boto.compat` imports `boto.vendored.six.moves.*`. The vendored six (1.9) installs a
  meta path importer with only `find_module`/`load_module`, which Python 3.12 no longer
  calls. The fix aliases the `boto.vendored.six` names boto imports to the maintained
  `six` package, whose importer speaks `find_spec`.
- `boto.plugin` does `import imp` (removed in 3.12) and uses `imp.find_module` and
  `imp.load_module` to load the plugin files a boto config names. The fix lends it a
  stand-in with those two functions while boto imports, then takes it back, so nobody
  else finds an `imp` module that Python does not have.

On Python 3.11 nothing is changed. `install()` must run before the first `import boto`;
`mimicdb/__init__.py` calls it, so any `import mimicdb...` is early enough.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from typing import IO, Any

__all__ = ["install", "needs_shim"]

# The six names boto 2.49.0 imports by their full `boto.vendored.six...` path.
_SIX_MODULES = (
    "",
    ".moves",
    ".moves.queue",
    ".moves.urllib",
    ".moves.urllib.parse",
    ".moves.urllib.request",
)
_PY_SOURCE = 1  # imp.PY_SOURCE


def needs_shim(version: tuple[int, int] | None = None) -> bool:
    """True on the Pythons where boto 2.49.0 does not import by itself (3.12+)."""
    major_minor = version if version is not None else sys.version_info[:2]
    return major_minor >= (3, 12)


def _find_module(
    name: str, path: list[str] | None = None
) -> tuple[IO[Any] | None, str, tuple[str, str, int]]:
    """`imp.find_module` for a source file, as `boto.plugin` calls it."""
    spec = importlib.machinery.PathFinder.find_spec(name, path)
    if spec is None or spec.origin is None:
        raise ImportError(f"No module named {name!r}")
    return None, spec.origin, (".py", "r", _PY_SOURCE)


def _load_module(
    name: str, file: IO[Any] | None, filename: str, details: tuple[str, str, int]
) -> types.ModuleType:
    """`imp.load_module` for a source file found by `_find_module`."""
    spec = importlib.util.spec_from_file_location(name, filename)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {filename!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _imp_stand_in() -> types.ModuleType:
    module = types.ModuleType("imp", "mimicdb's stand-in for boto.plugin on Python 3.12+")
    module.find_module = _find_module  # type: ignore[attr-defined]
    module.load_module = _load_module  # type: ignore[attr-defined]
    module.PY_SOURCE = _PY_SOURCE  # type: ignore[attr-defined]
    return module


def install() -> None:
    """Make `import boto` work on this Python; idempotent, and a no-op on 3.11."""
    if not needs_shim() or "boto.plugin" in sys.modules:
        return
    if importlib.util.find_spec("boto") is None:
        return  # no boto 2 here (the `boto2` extra was not installed): nothing to mend
    for suffix in _SIX_MODULES:
        module = importlib.import_module("six" + suffix)
        sys.modules.setdefault("boto.vendored.six" + suffix, module)
    lent = "imp" not in sys.modules
    if lent:
        sys.modules["imp"] = _imp_stand_in()
    try:
        importlib.import_module("boto.plugin")
    finally:
        if lent:
            del sys.modules["imp"]
