"""The click group, the options every command shares, and loading the registry.

Global options go before or after the command: ``zenjobs --registry X list`` and
``zenjobs list --registry X`` are the same; when both are given, the command's
own value wins. Their values live on the root context's ``obj``
(:class:`~zenjobs.cli.output.CliState`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from ..errors import DefinitionError, RegistryLoadError
from ..loader import load_registry, resolve_registry_spec
from ..ops.inspection import problems_of
from ..registry import ZenJobs
from . import load_errors
from .output import CliState, debug_enabled, examples, fail, render, state

F = TypeVar("F", bound=Callable[..., Any])

#: Exit code when the registry cannot be imported (1 is "registry invalid").
EXIT_LOAD_ERROR = 2

#: Exit code when a job definition is invalid.
EXIT_INVALID = 1


class _OneLineError(click.ClickException):
    """A click usage error shown as the one ``error: ...`` line every zenjobs failure uses,
    or, when the command was given ``--json``, as its JSON error object on stdout."""

    def __init__(self, original: click.ClickException, current: CliState) -> None:
        super().__init__(original.format_message())
        # click declares exit_code as a class attribute; keep the original's (2 for usage).
        setattr(self, "exit_code", original.exit_code)  # noqa: B010
        self.field = _field_of(original)
        self.state = current

    def show(self, file: Any = None) -> None:
        if self.state.json:
            message = " ".join(self.format_message().split("\n"))
            click.echo(render(self.state, {"error": {
                "message": message, "field": self.field, "job": None,
                "exit_code": self.exit_code}}))
            return
        for line in self.format_message().splitlines() or [""]:
            click.echo(f"error: {line}", err=True)


def _field_of(error: click.ClickException) -> str | None:
    """The option or argument a click error is about: ``--interval``, ``JOB``."""
    param = getattr(error, "param", None)
    if isinstance(param, click.Option) and param.opts:
        return max(param.opts, key=len)
    if isinstance(param, click.Argument):
        return param.human_readable_name
    hint = getattr(error, "param_hint", None)
    if isinstance(hint, str):
        return hint.strip("'\"")
    option = getattr(error, "option_name", None)  # NoSuchOption
    return option if isinstance(option, str) else None


#: Already one line, or a help text meant to be shown whole (``zenjobs`` with no command).
#: click < 8.2 prints that help itself and has no NoArgsIsHelpError.
_PASS_THROUGH: tuple[type[click.ClickException], ...] = (_OneLineError, *(
    getattr(click.exceptions, name) for name in ("NoArgsIsHelpError",)
    if hasattr(click.exceptions, name)))


def _json_in(args: list[str]) -> bool:
    """``--json`` among the arguments (before any ``--``): errors of parsing answer in JSON."""
    before = args[:args.index("--")] if "--" in args else args
    return "--json" in before


def _accepts_json(command: click.Command | None) -> bool:
    return command is not None and any(p.name == "as_json" for p in command.params)


class ZenjobsGroup(click.Group):
    """A zenjobs group: click's usage errors (bad option, missing argument, bad value)
    become one ``error:`` line on stderr, exit 2, instead of click's usage block (or the
    command's JSON error object when it was given ``--json``).

    ``--help`` still shows the usage; docs/operations.md (Exit codes) states the rule.
    """

    group_class = type  # `@group.group()` makes a ZenjobsGroup too (zenjobs scheduler)

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        if parent is not None:
            current = parent.ensure_object(CliState)
        else:
            if not isinstance(extra.get("obj"), CliState):
                extra["obj"] = CliState()
            current = extra["obj"]
            current.command = self._guess_command(args)
            current.json = _json_in(args) and _accepts_json(self._find(current.command))
        try:
            return super().make_context(info_name, args, parent, **extra)
        except _PASS_THROUGH:
            raise
        except click.ClickException as exc:
            raise _OneLineError(exc, current) from None

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        current = ctx.ensure_object(CliState)
        names: list[str] = []
        walk: click.Context | None = ctx
        while walk is not None and walk.parent is not None:
            names.append(walk.info_name or "")
            walk = walk.parent
        current.command = " ".join([*reversed(names), name or ""]).strip() or None
        current.json = _json_in(rest) and _accepts_json(command)
        return name, command, rest

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _PASS_THROUGH:
            raise
        except click.ClickException as exc:
            raise _OneLineError(exc, ctx.ensure_object(CliState)) from None

    def _guess_command(self, args: list[str]) -> str | None:
        """The command named in ``args`` (for errors raised before click resolves it)."""
        return next((arg for arg in args if arg in self.commands), None)

    def _find(self, name: str | None) -> click.Command | None:
        return self.commands.get(name) if name else None


def _set_global(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    current = ctx.ensure_object(CliState)
    if param.name == "debug":
        current.debug = current.debug or bool(value)
    elif value is not None and param.name is not None:
        setattr(current, {"registry_spec": "registry"}.get(param.name, param.name), value)
    return value


@click.group(cls=ZenjobsGroup, epilog=examples(
    "zenjobs --registry examples.newsletter.jobs:jobs list",
    "zenjobs validate --json",
    "zenjobs --store dev status nightly_report",
    "zenjobs status --store firestore --project acme-prod --json",
))
@click.option("--registry", "registry_spec", metavar="MODULE:ATTR", default=None,
              expose_value=False, callback=_set_global,
              help="The job registry for the command (its own --registry wins; else "
                   "$ZENJOBS_REGISTRY, else [tool.zenjobs] registry).")
@click.option("--store", metavar="URL", default=None, expose_value=False, callback=_set_global,
              help="The store of the operations commands: sqlite:PATH, dev, memory:, firestore "
                   "or firestore:COLLECTION (the command's own --store wins).")
@click.option("--project", default=None, expose_value=False, callback=_set_global,
              help="Google Cloud project (the command's own --project wins).")
@click.option("--debug", is_flag=True, default=False, expose_value=False, callback=_set_global,
              help="Show full tracebacks (also $ZENJOBS_DEBUG=1).")
@click.version_option(package_name="zenjobs")
def main() -> None:
    """zenjobs: deterministic background and scheduled jobs for Cloud Run."""


def from_group(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A callback giving the group's value of ``name`` when the command's option is absent."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None or value == "":
            return getattr(ctx.ensure_object(CliState), name)
        return value

    return callback


def registry_option(fn: F) -> F:
    """Add ``--registry module:attribute`` (else the group's ``--registry``) to a command."""
    return click.option(
        "--registry",
        "registry_spec",
        metavar="MODULE:ATTR",
        default=None,
        callback=from_group("registry"),
        help="The job registry (else zenjobs --registry, $ZENJOBS_REGISTRY, "
             "[tool.zenjobs] registry).",
    )(fn)


def debug_option(fn: F) -> F:
    """``--debug``: full tracebacks (as ``zenjobs --debug`` or ``$ZENJOBS_DEBUG=1``)."""
    return click.option("--debug", is_flag=True, default=False, expose_value=False,
                        callback=_set_global,
                        help="Show full tracebacks (also zenjobs --debug, $ZENJOBS_DEBUG=1).")(fn)


def _set_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.ensure_object(CliState).json = True
    return value


def json_option(help_text: str) -> Callable[[F], F]:
    """``--json``: the command's JSON object (docs/operations.md); errors as JSON too."""
    def decorate(fn: F) -> F:
        return click.option("--json", "as_json", is_flag=True, is_eager=True,
                            callback=_set_json, help=help_text)(fn)
    return decorate


def project_option(help_text: str) -> Callable[[F], F]:
    """``--project`` (else the group's ``--project``)."""
    def decorate(fn: F) -> F:
        return click.option("--project", default=None, callback=from_group("project"),
                            help=help_text)(fn)
    return decorate


def resolve_registry(spec: str | None) -> str:
    """The registry spec (option > $ZENJOBS_REGISTRY > pyproject), or exit 2 saying how."""
    try:
        resolved = resolve_registry_spec(spec)
    except RegistryLoadError as exc:  # none given, or pyproject.toml unreadable
        fail(str(exc), EXIT_LOAD_ERROR,
             field="--registry" if str(exc).startswith("no registry given") else None)
    state().registry_spec = resolved
    return resolved


def registry_load_failed(exc: RegistryLoadError, spec: str | None,
                         explicit: str | None) -> NoReturn:
    """Exit 2 with one line: file:line and the original error (the traceback with --debug)."""
    if debug_enabled():
        text = load_errors.traceback_text(exc)
        if text:
            click.echo(text.rstrip("\n"), err=True)
    fail(load_errors.describe(exc, spec, load_errors.registry_source(explicit)),
         EXIT_LOAD_ERROR, field="--registry")


def definition_failed(exc: DefinitionError) -> NoReturn:
    """Exit 1: one ``error:`` line per problem (``problems`` in JSON)."""
    problems = problems_of(exc)
    first = problems[0]
    fail("\n".join(" ".join(str(p).splitlines()) for p in problems), EXIT_INVALID,
         field=first.field, job=first.job_id, problems=problems)


def open_registry(spec: str | None) -> ZenJobs:
    """Load the registry, or exit 2 (cannot import) / 1 (a job is declared wrongly)."""
    resolved = resolve_registry(spec)
    try:
        return load_registry(resolved)
    except RegistryLoadError as exc:
        registry_load_failed(exc, resolved, spec)
    except DefinitionError as exc:
        definition_failed(exc)
