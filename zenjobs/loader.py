"""Finding the user's registry and project settings.

Order of precedence for the registry: an explicit ``module:attribute``, then
the ``ZENJOBS_REGISTRY`` environment variable, then ``[tool.zenjobs] registry``
in ``pyproject.toml`` of the working directory. The same ``[tool.zenjobs]``
table carries the other project settings (project, region, service, ...).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import DefinitionError, RegistryLoadError
from .registry import ZenJobs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

REGISTRY_ENV = "ZENJOBS_REGISTRY"


def project_settings(cwd: Path | None = None) -> dict[str, Any]:
    """The ``[tool.zenjobs]`` table of ``cwd/pyproject.toml`` (empty if absent)."""
    path = (cwd or Path.cwd()) / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RegistryLoadError(f"cannot read {path}: {exc}") from None
    table = data.get("tool", {}).get("zenjobs", {})
    if not isinstance(table, dict):
        raise RegistryLoadError(f"{path}: [tool.zenjobs] must be a table")
    return table


def resolve_registry_spec(
    explicit: str | None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Which ``module:attribute`` to load, by the precedence above."""
    if explicit:
        return explicit
    env = os.environ if environ is None else environ
    if env.get(REGISTRY_ENV):
        return env[REGISTRY_ENV]
    spec = project_settings(cwd).get("registry")
    if isinstance(spec, str) and spec:
        return spec
    raise RegistryLoadError(
        "no registry given: pass --registry module:attribute, set ZENJOBS_REGISTRY, "
        "or add `registry = \"module:attribute\"` under [tool.zenjobs] in pyproject.toml"
    )


def import_object(spec: str, what: str = "object", cwd: Path | None = None) -> Any:
    """Import ``module:attribute`` (``cwd``, default the working directory, is importable).

    ``what`` names the object in errors ("registry", "app"). A malformed spec, a
    module that fails to import or a missing attribute is a
    :class:`RegistryLoadError`; a :class:`DefinitionError` raised while the
    module declares its jobs propagates unchanged (it names the job and field).
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise RegistryLoadError(f"{what} {spec!r} must look like 'module:attribute'")
    root = str(cwd or Path.cwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        module = importlib.import_module(module_name)
    except DefinitionError:
        raise  # a job declared wrongly at import time: the caller reports job and field
    except Exception as exc:  # any import-time failure is the user's module failing to load
        raise RegistryLoadError(
            f"cannot import {what} module {module_name!r}: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise RegistryLoadError(f"module {module_name!r} has no attribute {attribute!r}") from None


def load_registry(spec: str, cwd: Path | None = None) -> ZenJobs:
    """Import ``module:attribute`` (the current directory is importable) and check its type.

    A :class:`DefinitionError` raised while the module declares its jobs
    propagates unchanged (it names the job and field); any other import
    failure becomes a :class:`RegistryLoadError`.
    """
    registry = import_object(spec, "registry", cwd)
    if callable(registry) and not isinstance(registry, ZenJobs):
        registry = registry()
    if not isinstance(registry, ZenJobs):
        raise RegistryLoadError(
            f"{spec!r} is a {type(registry).__name__}, not a zenjobs.ZenJobs registry"
        )
    return registry
