"""The click group and the option every command shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..errors import DefinitionError, RegistryLoadError
from ..loader import load_registry, resolve_registry_spec
from ..registry import ZenJobs

F = TypeVar("F", bound=Callable[..., Any])

#: Exit code when the registry cannot be imported (1 is "registry invalid").
EXIT_LOAD_ERROR = 2

#: Exit code when a job definition is invalid.
EXIT_INVALID = 1


@click.group()
@click.version_option(package_name="zenjobs")
def main() -> None:
    """zenjobs: deterministic background and scheduled jobs for Cloud Run."""


def registry_option(fn: F) -> F:
    """Add ``--registry module:attribute`` to a command."""
    return click.option(
        "--registry",
        "registry_spec",
        metavar="MODULE:ATTR",
        default=None,
        help="The job registry (else $ZENJOBS_REGISTRY, else [tool.zenjobs] registry).",
    )(fn)


def open_registry(spec: str | None) -> ZenJobs:
    """Load the registry, or exit 2 (cannot import) / 1 (a job is declared wrongly)."""
    try:
        return load_registry(resolve_registry_spec(spec))
    except RegistryLoadError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_LOAD_ERROR) from None
    except DefinitionError as exc:
        for line in str(exc).splitlines():
            click.echo(f"error: {line}", err=True)
        raise SystemExit(EXIT_INVALID) from None
