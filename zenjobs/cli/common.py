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


class _OneLineError(click.ClickException):
    """A click usage error shown as the one ``error: ...`` line every zenjobs failure uses."""

    def __init__(self, original: click.ClickException) -> None:
        super().__init__(original.format_message())
        # click declares exit_code as a class attribute; keep the original's (2 for usage).
        setattr(self, "exit_code", original.exit_code)  # noqa: B010

    def show(self, file: Any = None) -> None:
        for line in self.format_message().splitlines() or [""]:
            click.echo(f"error: {line}", err=True)


#: Already one line, or a help text meant to be shown whole (``zenjobs`` with no command).
#: click < 8.2 prints that help itself and has no NoArgsIsHelpError.
_PASS_THROUGH: tuple[type[click.ClickException], ...] = (_OneLineError, *(
    getattr(click.exceptions, name) for name in ("NoArgsIsHelpError",)
    if hasattr(click.exceptions, name)))


class ZenjobsGroup(click.Group):
    """The top-level group: click's usage errors (bad option, missing argument, bad value)
    become one ``error:`` line on stderr, exit 2, instead of click's usage block.

    ``--help`` still shows the usage; docs/operations.md (Exit codes) states the rule.
    """

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except _PASS_THROUGH:
            raise
        except click.ClickException as exc:
            raise _OneLineError(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _PASS_THROUGH:
            raise
        except click.ClickException as exc:
            raise _OneLineError(exc) from None


@click.group(cls=ZenjobsGroup)
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
