"""One line for a registry that cannot be imported: where it failed and why.

``cannot import registry module 'app.jobs'`` alone sends the operator hunting;
the line names the file and line of the user's code that raised (the import
statement of a missing dependency, the line of a ``SyntaxError``, ...), the
original exception, and for a module that does not exist at all, where it was
looked for. The full traceback is shown only with ``--debug`` /
``$ZENJOBS_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import traceback
from pathlib import Path

from ..errors import RegistryLoadError
from ..loader import REGISTRY_ENV
from ..registry import ZenJobs

_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])
_LIBRARY_DIRS = tuple(
    str(Path(path).resolve())
    for key in ("stdlib", "platstdlib", "purelib", "platlib")
    if (path := sysconfig.get_paths().get(key))
)


def registry_source(explicit: str | None) -> str:
    """Where the registry spec came from, for messages."""
    if explicit:
        return "--registry"
    if os.environ.get(REGISTRY_ENV):
        return f"${REGISTRY_ENV}"
    return "[tool.zenjobs] registry in pyproject.toml"


def display_path(filename: str) -> str:
    """``filename`` relative to the working directory when it is inside it."""
    try:
        return os.path.relpath(filename) if Path(filename).resolve().is_relative_to(
            Path.cwd().resolve()) else filename
    except (OSError, ValueError):
        return filename


def _is_library(filename: str) -> bool:
    if _in_zenjobs(filename):
        return True
    resolved = str(Path(filename).resolve())
    parts = Path(resolved).parts
    if "site-packages" in parts or "dist-packages" in parts:
        return True
    return any(resolved.startswith(directory + os.sep) for directory in _LIBRARY_DIRS)


def failure_site(exc: BaseException) -> tuple[str, int] | None:
    """The file and line of the user's code where ``exc`` was raised, if any.

    A ``SyntaxError`` carries its own location. Otherwise: the deepest frame of
    the traceback outside zenjobs, the standard library and installed packages
    (the user's module), else the deepest real frame (not ``<frozen ...>``).
    """
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        return exc.filename, exc.lineno
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__)
              if not frame.filename.startswith("<") and frame.lineno is not None]
    users = [frame for frame in frames if not _is_library(frame.filename)]
    others = [frame for frame in frames if not _in_zenjobs(frame.filename)]
    chosen = users[-1] if users else (others[-1] if others else None)
    if chosen is None or chosen.lineno is None:
        return None
    return chosen.filename, chosen.lineno


def _in_zenjobs(filename: str) -> bool:
    """zenjobs' own frames (the loader) say nothing about where the user's module failed."""
    return str(Path(filename).resolve()).startswith(_PACKAGE_DIR + os.sep)


def describe(exc: RegistryLoadError, spec: str | None, source: str) -> str:
    """One line for ``exc``: file:line of the failure, the original error, what to do."""
    cause = exc.__cause__
    module, _, attribute = (spec or "").partition(":")
    if cause is None:
        return str(exc) + _registries_in(module, attribute)
    if (isinstance(cause, ModuleNotFoundError) and cause.name and module
            and (module == cause.name or module.startswith(cause.name + "."))):
        return (f"cannot import registry module {module!r} (from {source}): no module named "
                f"{cause.name!r} in the working directory {Path.cwd()} or the installed "
                f"packages of {sys.executable}; check the spelling, and run zenjobs from the "
                "project root")
    site = failure_site(cause)
    where = f"{display_path(site[0])}:{site[1]}: " if site else ""
    detail = str(cause).splitlines()[0] if str(cause) else ""
    if isinstance(cause, SyntaxError) and cause.msg:
        detail = cause.msg
    why = f"{type(cause).__name__}: {detail}" if detail else type(cause).__name__
    if isinstance(cause, ModuleNotFoundError):
        why += f": a module the registry imports is not installed for {sys.executable}"
    return (f"{where}cannot import registry module {module!r} (from {source}): {why} "
            "(--debug or ZENJOBS_DEBUG=1 shows the traceback)")


def _registries_in(module: str, attribute: str) -> str:
    """`` (it defines: jobs)`` when ``module`` is imported but has no ``attribute``."""
    loaded = sys.modules.get(module)
    if loaded is None or not attribute or hasattr(loaded, attribute):
        return ""
    names = sorted(name for name, value in vars(loaded).items() if isinstance(value, ZenJobs))
    if not names:
        return " (it defines no zenjobs.ZenJobs registry)"
    return f" (registries it defines: {', '.join(names)})"


def traceback_text(exc: RegistryLoadError) -> str | None:
    """The original error's traceback, for ``--debug``."""
    cause = exc.__cause__
    if cause is None:
        return None
    return "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
