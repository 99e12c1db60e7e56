"""``zenjobs validate``, ``list`` and ``next``: the commands that need only the registry.

Each command parses its options, calls one function of :mod:`zenjobs.ops.inspection`
and prints the result. ``next`` without ``--from`` reads the wall clock here,
at the composition root, never inside the library.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import click

from ..errors import RegistryLoadError, UnknownJobError
from ..ops.inspection import check_registry, fires_as_json, job_rows, upcoming_fires
from ..schedule import format_instant, parse_instant
from .common import EXIT_INVALID, EXIT_LOAD_ERROR, main, open_registry, registry_option


def _parse_from(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """``--from``: an ISO-8601 instant with an offset or ``Z``; a naive time is refused."""
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO-8601 instant with an offset or Z "
            "(e.g. 2026-03-29T00:00:00Z or 2026-03-29T01:00:00+01:00); "
            "a time without an offset is ambiguous and is refused",
            ctx,
            param,
        ) from None


@main.command("validate")
@registry_option
def validate(registry_spec: str | None) -> None:
    """Check every job definition; exit 0 if valid, 1 if not, 2 if the registry cannot load."""
    try:
        report = check_registry(registry_spec)
    except RegistryLoadError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_LOAD_ERROR) from None
    if report.ok:
        click.echo(report.summary)
        return
    for line in report.problem_lines():
        click.echo(line)
    click.echo(report.summary, err=True)
    raise SystemExit(EXIT_INVALID)


_COLUMNS = (
    ("ID", "id"),
    ("TYPE", "type"),
    ("SCHEDULE", "schedule"),
    ("TIMEZONE", "timezone"),
    ("WEIGHT", "weight"),
    ("QUEUE", "queue"),
    ("RETRIES", "max_retries"),
    ("DEPENDENCIES", "dependencies"),
)


@main.command("list")
@registry_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
def list_jobs(registry_spec: str | None, as_json: bool) -> None:
    """List every job with its type, schedule, time zone, weight, queue, retries, dependencies."""
    rows = job_rows(open_registry(registry_spec))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    cells = [[title for title, _ in _COLUMNS]]
    for row in rows:
        cells.append([_cell(row[key]) for _, key in _COLUMNS])
    widths = [max(len(line[i]) for line in cells) for i in range(len(_COLUMNS))]
    for line in cells:
        click.echo("  ".join(text.ljust(w) for text, w in zip(line, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return "-" if value is None else str(value)


@main.command("next")
@registry_option
@click.option("--job", "job_id", default=None, help="Only this job.")
@click.option(
    "--from",
    "start",
    metavar="ISO-8601",
    default=None,
    callback=_parse_from,
    help="Show fires strictly after this instant (offset or Z required); default: now.",
)
@click.option(
    "--count", type=click.IntRange(1, 1000), default=5, show_default=True, help="Fires per job."
)
@click.option("--json", "as_json", is_flag=True, help="Print {job_id: [UTC instants]} as JSON.")
def next_fires(
    registry_spec: str | None,
    job_id: str | None,
    start: datetime | None,
    count: int,
    as_json: bool,
) -> None:
    """Show upcoming fire instants (UTC, with the job's wall clock alongside)."""
    registry = open_registry(registry_spec)
    after = start if start is not None else datetime.now(timezone.utc)
    try:
        fires = upcoming_fires(registry, after, count, job_id)
    except UnknownJobError as exc:
        raise click.BadParameter(str(exc), param_hint="'--job'") from None
    if as_json:
        click.echo(json.dumps(fires_as_json(fires), indent=2))
        return
    for i, (jid, items) in enumerate(fires.items()):
        d = registry.get(jid)
        if i:
            click.echo("")
        if not d.is_recurring:
            click.echo(f"{jid}: endpoint job, runs on demand: no fire instants")
            continue
        disabled = "  [disabled: runs will be skipped]" if not d.enabled else ""
        click.echo(f"{jid}: {d.schedule_text} in {d.timezone}{disabled}")
        if not items:
            click.echo(f"  no fire after {format_instant(after)} (end_at {d.end_at})")
        for fire in items:
            skipped = "  skipped: date in skip_dates" if fire.skipped else ""
            local = fire.local.strftime("%Y-%m-%d %H:%M %Z")
            dst = f"  DST: {fire.dst}" if fire.dst else ""
            click.echo(f"  {format_instant(fire.instant)}  {local}{skipped}{dst}")
