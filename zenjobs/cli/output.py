"""What every command shares about output: the invocation's state, ``--json`` and failures.

One :class:`CliState` lives on the root click context (``ctx.obj``). The group's
global options (``zenjobs --registry X --store Y --project P --debug CMD``) fill
it; a subcommand's own option wins over the group's. It also remembers which
command runs, whether ``--json`` was asked for and which store the command
opened, so that a failure anywhere (click's own usage errors included) is
reported in the same shape as the command's result.

The JSON schema of each command is documented in ``docs/operations.md``
("JSON output"): one object per invocation with a ``"command"`` key (plus
``"registry"`` for commands that load one and ``"store"`` / ``"project"`` for the
operations commands); a failure has an ``"error"`` object and keeps its exit
code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from ..errors import Problem

DEBUG_ENV = "ZENJOBS_DEBUG"

#: Commands that load a registry: their JSON has a ``"registry"`` key.
REGISTRY_COMMANDS = frozenset({"validate", "list", "next", "gen-infra", "sync", "enable",
                               "disable", "set", "status", "trigger", "replay"})
#: The operations commands: their JSON has ``"store"`` and ``"project"`` keys.
STORE_COMMANDS = frozenset({"sync", "enable", "disable", "set", "status", "trigger", "replay"})


@dataclass
class CliState:
    """One invocation: global options, the running command, and what it resolved."""

    registry: str | None = None  # zenjobs --registry
    store: str | None = None  # zenjobs --store
    project: str | None = None  # zenjobs --project
    debug: bool = False  # zenjobs --debug (or CMD --debug)
    json: bool = False  # CMD --json
    command: str | None = None  # "status", "scheduler pause"
    registry_spec: str | None = None  # the registry the command resolved
    store_url: str | None = None  # the store the command resolved
    store_project: str | None = None  # the project of a firestore store
    store_from: str | None = None  # where the store came from: --store, $ZENJOBS_STORE, ...


def state() -> CliState:
    """The invocation's state (a fresh one outside a click command, e.g. in a unit test)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return CliState()
    return ctx.ensure_object(CliState)


def debug_enabled(current: CliState | None = None) -> bool:
    """``--debug`` given, or ``$ZENJOBS_DEBUG`` set (to anything but ``0``, ``false``, ``no``)."""
    if (current or state()).debug:
        return True
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def head(current: CliState) -> dict[str, Any]:
    """The keys every JSON object of this command starts with."""
    out: dict[str, Any] = {"command": current.command}
    if current.command in REGISTRY_COMMANDS:
        out["registry"] = current.registry_spec
    if current.command in STORE_COMMANDS:
        out["store"] = current.store_url
        out["project"] = current.store_project
    return out


def render(current: CliState, payload: Mapping[str, Any]) -> str:
    return json.dumps({**head(current), **payload}, indent=2)


def emit(payload: Mapping[str, Any]) -> None:
    """Print the command's JSON object on stdout (``command``, ``registry``, ``store`` first)."""
    click.echo(render(state(), payload))


def error_object(message: str, code: int, *, field: str | None = None, job: str | None = None,
                 problems: Sequence[Problem] = ()) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "field": field, "job": job, "exit_code": code}
    if problems:
        error["problems"] = [problem_dict(p) for p in problems]
    return error


def problem_dict(problem: Problem) -> dict[str, str]:
    return {"job": problem.job_id, "field": problem.field, "message": problem.message}


def fail(message: str, code: int, *, field: str | None = None, job: str | None = None,
         problems: Sequence[Problem] = (), result: Mapping[str, Any] | None = None) -> NoReturn:
    """Report a failure and exit with ``code``.

    Text: ``error: message`` on stderr, one line per line of ``message``.
    ``--json``: the command's object on stdout, with ``result`` (what was done
    before the failure, if anything) and an ``"error"`` object: ``message``
    (one line), ``field`` (the option, argument or job field at fault, else
    null), ``job`` (else null), ``exit_code`` and, for invalid job definitions,
    ``problems``.
    """
    current = state()
    if current.json:
        one_line = " ".join(message.split("\n")) if not problems or len(problems) == 1 \
            else f"{len(problems)} problems, the first: {problems[0]}"
        click.echo(render(current, {**(result or {}), "error": error_object(
            one_line, code, field=field, job=job, problems=problems)}))
    else:
        for line in message.splitlines() or [""]:
            click.echo(f"error: {line}", err=True)
    raise SystemExit(code)


def examples(*lines: str) -> str:
    """A click epilog showing ``lines`` as examples (kept verbatim by ``--help``)."""
    return "\b\nExamples:\n" + "\n".join(f"  $ {line}" for line in lines)
