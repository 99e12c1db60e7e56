"""``zenjobs dev``: run the service locally on the embedded store (see ``docs/dev.md``)."""

from __future__ import annotations

import asyncio
import os

import click

from ..dev.scaled_clock import MAX_SPEED
from ..dev.server import (
    APP_ENV,
    DEFAULT_GRACE_SECONDS,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_STORE,
    DevOptions,
    check_loopback,
    configure_logging,
    serve_dev,
)
from ..errors import ConfigurationError, RegistryLoadError, ZenjobsError
from ..loader import project_settings
from ..registry import ZenJobs
from ..stores.records import RunStatus
from ..telemetry.lines import STATUS_ALIASES, ConsoleOptions
from .common import EXIT_LOAD_ERROR, main, open_registry, registry_option
from .output import examples

EXIT_FAILED = 1
#: What ``--status`` accepts: the outcome statuses, ``failed`` (any failed attempt)
#: and ``skipped`` (any skip).
STATUS_CHOICES = tuple(status.value for status in RunStatus
                       if status not in (RunStatus.PENDING, RunStatus.RUNNING)) + STATUS_ALIASES


def _store_path(value: str) -> str:
    """A path, ``sqlite:PATH`` (as the operations commands write it), ``dev`` or ``memory:``.

    A Firestore store is refused: ``zenjobs dev`` serves without authentication and
    runs on an embedded store only (a file that happened to be called ``firestore``
    would hide the mistake).
    """
    if value in (":memory:", "memory:"):
        return ":memory:"
    if value == "dev":
        return DEFAULT_STORE
    if value == "firestore" or value.startswith("firestore:"):
        raise click.BadParameter(
            "zenjobs dev runs on an embedded store (a SQLite file, sqlite:PATH, dev or "
            "memory:); Firestore is the production store (docs/production.md)",
            param_hint="'--store'")
    if value.startswith("sqlite:"):
        value = value[len("sqlite:"):]
    if not value:
        raise click.BadParameter("must be a file path, sqlite:PATH or memory:",
                                 param_hint="'--store'")
    return value


def _app_spec(explicit: str | None) -> str | None:
    """``--app``, else ``$ZENJOBS_APP``, else ``[tool.zenjobs] app``, else None."""
    if explicit:
        return explicit
    if os.environ.get(APP_ENV):
        return os.environ[APP_ENV]
    try:
        found = project_settings().get("app")
    except RegistryLoadError as exc:
        raise click.UsageError(str(exc)) from None
    if found is not None and not isinstance(found, str):
        raise click.UsageError(f"[tool.zenjobs] app must be a string, got {found!r}")
    return found or None


@main.command("dev", epilog=examples(
    "zenjobs dev --registry examples.newsletter.jobs:jobs --speed 60",
    "zenjobs dev --job sync_analytics --verbose",
    "zenjobs dev --status failed --port 8081",
    "NO_COLOR=1 zenjobs dev --quiet",
))
@click.option("--app", "app_spec", metavar="MODULE:ATTR", default=None,
              help=f"The ASGI app to serve (else ${APP_ENV}, else [tool.zenjobs] app; "
                   "without one, a bare app serving only the webhook of the registry).")
@registry_option
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Loopback address to listen on (the dev webhook is unauthenticated).")
@click.option("--port", default=DEFAULT_PORT, show_default=True,
              type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--store", "store", default=DEFAULT_STORE, show_default=True,
              help="SQLite file (or sqlite:PATH, dev for the default, memory: for a throwaway "
                   "store).")
@click.option("--speed", default=1.0, show_default=True,
              type=click.FloatRange(0, MAX_SPEED, min_open=True),
              help="Run simulated time N times faster than real time.")
@click.option("--grace", default=DEFAULT_GRACE_SECONDS, show_default=True,
              type=click.FloatRange(0, 3600),
              help="Real seconds to wait on Ctrl-C for deliveries in flight.")
@click.option("--job", "jobs", multiple=True, metavar="JOB_ID",
              help="Only show the runs of this job (repeat for several).")
@click.option("--status", "statuses", multiple=True, metavar="STATUS",
              type=click.Choice(STATUS_CHOICES, case_sensitive=False),
              help="Only show run outcomes with this status (repeatable): success, "
                   "retry_scheduled, failure, dead, a skipped_* status, 'failed' (any "
                   "failed attempt) or 'skipped' (any skip).")
@click.option("--quiet", "-q", is_flag=True,
              help="Only final failures (failure, dead) and runtime problems.")
@click.option("--verbose", "-v", is_flag=True,
              help="Every telemetry event on its own line, nothing collapsed.")
def dev_command(app_spec: str | None, registry_spec: str | None, host: str, port: int,
                store: str, speed: float, grace: float, jobs: tuple[str, ...],
                statuses: tuple[str, ...], quiet: bool, verbose: bool) -> None:
    """Run the service on 127.0.0.1 with the SQLite store, a simulated Cloud Tasks
    queue pushing real HTTP to it, and a master tick every (simulated) minute.

    One line per run outcome, with the handler's log lines under it; repeated
    failures collapsed, ticks summed up (--verbose: every event). Colour on a
    terminal unless NO_COLOR is set. Ctrl-C stops cleanly: nothing is lost.
    """
    try:
        check_loopback(host)
    except ConfigurationError as exc:
        raise click.BadParameter(str(exc), param_hint="'--host'") from None
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose exclude each other")
    console = ConsoleOptions(verbose=verbose, quiet=quiet, jobs=frozenset(jobs),
                             statuses=frozenset(status.lower() for status in statuses))
    app = _app_spec(app_spec)
    registry: ZenJobs | None = None
    if registry_spec is not None or app is None:
        registry = open_registry(registry_spec)  # exits 2 / 1 with the reason
    options = DevOptions(app_spec=app, registry=registry, host=host, port=port,
                         store=_store_path(store), speed=speed, grace=grace, console=console)
    configure_logging()
    try:
        code = asyncio.run(serve_dev(options))
    except RegistryLoadError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_LOAD_ERROR) from None
    except ZenjobsError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    except KeyboardInterrupt:  # Ctrl-C before the server took over the signals
        raise SystemExit(130) from None
    raise SystemExit(code)
