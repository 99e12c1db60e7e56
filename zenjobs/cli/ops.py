"""Operations commands: sync, enable, disable, set, status (and trigger, replay, scheduler).

Thin click commands over :mod:`zenjobs.ops` (``trigger`` and ``replay``, which
start an executor, live in :mod:`zenjobs.cli.ops_run`; ``scheduler`` in
:mod:`zenjobs.cli.ops_scheduler`). Each command is a
composition root: it resolves settings (option > environment >
``[tool.zenjobs]``), opens the store, reads the wall clock once, calls one
library function and prints what it did. Exit codes and store URLs are in
:mod:`zenjobs.cli.ops_support` and ``docs/operations.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import click

from .. import ops
from ..schedule import format_instant
from ..stores.protocol import JobStore
from ..stores.records import EDIT_HISTORY, EditRecord
from . import (
    ops_run,  # noqa: F401  (registers `zenjobs trigger` and `zenjobs replay`)
    ops_scheduler,  # noqa: F401  (registers `zenjobs scheduler ...`)
)
from .common import debug_option, json_option, main, open_registry, registry_option
from .ops_support import (
    Settings,
    actor_option,
    close_quietly,
    open_store,
    resolve_store,
    run_async,
    store_line,
    store_options,
)
from .output import emit, examples

T = TypeVar("T")


def _now() -> datetime:
    """The one wall-clock read of a command."""
    return datetime.now(timezone.utc)


def _when(instant: datetime | None) -> str:
    return format_instant(instant) if instant is not None else "none"


def _with_store(settings: Settings, work: Callable[[JobStore], Awaitable[T]]) -> T:
    spec = resolve_store(settings)

    async def body() -> T:
        store = open_store(spec, settings.project)
        try:
            return await work(store)
        finally:
            await close_quietly(store)

    return run_async(body)


# -- sync ------------------------------------------------------------------------------------


@main.command("sync", epilog=examples(
    "zenjobs sync --store dev",
    "zenjobs sync --reset nightly_report --store firestore --project acme-prod --json",
))
@registry_option
@store_options
@click.option("--reset", "reset", multiple=True, metavar="JOB",
              help="Restore this job's document to the registry's config (repeatable; "
                   "recorded as an edit).")
@actor_option
@json_option("Print the JSON object of docs/operations.md (created, reset, edited, ...).")
@debug_option
def sync_command(registry_spec: str | None, reset: tuple[str, ...], actor: str, as_json: bool,
                 **options: Any) -> None:
    """Create missing job documents from the registry; report edited and orphan documents."""
    registry = open_registry(registry_spec)
    settings = Settings.load(options)
    now = _now()
    report = _with_store(settings, lambda store: ops.sync(registry, store, now, reset,
                                                          actor=actor))
    if as_json:
        emit({"created": list(report.created), "reset": list(report.reset),
              "unchanged": list(report.unchanged),
              "edited": [{"job_id": job_id, "fields": list(fields)}
                         for job_id, fields in report.edited],
              "orphans": list(report.orphans)})
        return
    click.echo(store_line())
    for job_id in report.created:
        click.echo(f"created {job_id}")
    for job_id in report.reset:
        click.echo(f"reset {job_id} to the registry's config")
    for job_id, fields in report.edited:
        click.echo(f"kept {job_id}: edited at runtime ({', '.join(fields)}); "
                   f"--reset {job_id} restores the registry's values")
    for job_id in report.orphans:
        click.echo(f"orphan {job_id}: not in the registry (document left alone)")
    click.echo(f"sync: {len(report.created)} created, {len(report.reset)} reset, "
               f"{len(report.unchanged)} unchanged, {len(report.orphans)} orphan(s) "
               f"in {settings.store_url}")


# -- enable / disable / set ------------------------------------------------------------------


def _print_change(change: ops.Change, verb: str, as_json: bool) -> None:
    if as_json:
        emit({"job": change.job_id, "changed": change.changed, "created": change.created,
              "field": change.field, "before": change.before, "after": change.after,
              "next_run_at": format_instant(change.next_run_at) if change.next_run_at else None,
              "edit": ops.edit_dict(change.edit) if change.edit is not None else None})
        return
    click.echo(store_line())
    if not change.changed:
        click.echo(f"{change.job_id} is already {change.after} (no change)")
        return
    if change.field == "enabled" and verb == "disabled":
        click.echo(f"disabled {change.job_id} (was {change.before})")
    elif change.field == "enabled":
        click.echo(f"{verb} {change.job_id} (was {change.before}); "
                   f"next run {_when(change.next_run_at)}")
    else:
        click.echo(f"set {change.job_id} schedule: {change.before} -> {change.after}; "
                   f"next run {_when(change.next_run_at)}")


_CHANGE_JSON = "Print the JSON object of docs/operations.md (changed, before, after, ...)."


@main.command("enable", epilog=examples(
    "zenjobs enable nightly_report --store dev",
    "zenjobs enable nightly_report --store firestore --project acme-prod --actor ana --json",
))
@registry_option
@store_options
@click.argument("job")
@actor_option
@json_option(_CHANGE_JSON)
@debug_option
def enable_command(registry_spec: str | None, job: str, actor: str, as_json: bool,
                   **options: Any) -> None:
    """Enable JOB (its next slot is counted from now; missed slots are not caught up)."""
    registry = open_registry(registry_spec)
    settings = Settings.load(options)
    now = _now()
    change = _with_store(settings, lambda store: ops.enable(registry, store, job, now,
                                                            actor=actor))
    _print_change(change, "enabled", as_json)


@main.command("disable", epilog=examples(
    "zenjobs disable nightly_report --store dev",
    "zenjobs disable nightly_report --store firestore --project acme-prod --json",
))
@registry_option
@store_options
@click.argument("job")
@actor_option
@json_option(_CHANGE_JSON)
@debug_option
def disable_command(registry_spec: str | None, job: str, actor: str, as_json: bool,
                    **options: Any) -> None:
    """Disable JOB: the master tick stops running it; queued runs are skipped."""
    registry = open_registry(registry_spec)
    settings = Settings.load(options)
    now = _now()
    change = _with_store(settings, lambda store: ops.disable(registry, store, job, now,
                                                             actor=actor))
    _print_change(change, "disabled", as_json)


_DURATION = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")
_UNIT = {"m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``15m``, ``90m``, ``1h``, ``1d`` (whole minutes, hours or days) to a timedelta."""
    match = _DURATION.match(text.lower())
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 15m, 90m, 1h or 1d "
                         "(whole minutes; seconds are below Cloud Scheduler's granularity)")
    return timedelta(seconds=int(match.group(1)) * _UNIT[match.group(2)])


def _duration_option(ctx: click.Context, param: click.Parameter,
                     value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


@main.command("set", epilog=examples(
    'zenjobs set nightly_report --cron "0 3 * * *" --store dev',
    "zenjobs set cleanup_temp_files --interval 15m --timezone Europe/Paris --store dev",
    "zenjobs set nightly_report --timezone Asia/Tokyo --store firestore --project acme-prod "
    "--json",
))
@registry_option
@store_options
@click.argument("job")
@click.option("--cron", default=None, metavar="EXPR", help="New cron (scheduled jobs).")
@click.option("--interval", default=None, metavar="DURATION", callback=_duration_option,
              help="New interval (periodic jobs): 15m, 90m, 1h, 1d.")
@click.option("--timezone", "tz", default=None, metavar="TZ", help="IANA time zone.")
@actor_option
@json_option(_CHANGE_JSON)
@debug_option
def set_command(registry_spec: str | None, job: str, cron: str | None,
                interval: timedelta | None, tz: str | None, actor: str, as_json: bool,
                **options: Any) -> None:
    """Change JOB's cron or interval and/or time zone (validated before writing)."""
    if cron is None and interval is None and tz is None:
        raise click.UsageError("give --cron EXPR, --interval DURATION or --timezone TZ")
    if cron is not None and interval is not None:
        raise click.UsageError("give --cron or --interval, not both")
    registry = open_registry(registry_spec)
    settings = Settings.load(options)
    now = _now()
    change = _with_store(settings, lambda store: ops.set_schedule(
        registry, store, job, now, cron=cron, interval=interval, timezone=tz, actor=actor))
    _print_change(change, "set", as_json)


# -- status ----------------------------------------------------------------------------------


@main.command("status", epilog=examples(
    "zenjobs status --store dev",
    "zenjobs status nightly_report --runs 10 --edits 20 --store dev",
    "zenjobs status --store firestore --project acme-prod --json | jq '.jobs[].job_id'",
))
@registry_option
@store_options
@click.argument("job", required=False)
@click.option("--runs", type=click.IntRange(0, 100), default=5, show_default=True,
              help="Latest runs shown per job.")
@click.option("--edits", type=click.IntRange(0, EDIT_HISTORY), default=5, show_default=True,
              help="Latest recorded edits shown per job (who, when, old -> new).")
@json_option('Print the JSON object of docs/operations.md ({"jobs": [...], ...}).')
@debug_option
def status_command(registry_spec: str | None, job: str | None, runs: int, edits: int,
                   as_json: bool, **options: Any) -> None:
    """Show each job's config, next run, last runs, recent edits and any misconfiguration."""
    registry = open_registry(registry_spec)
    settings = Settings.load(options)
    now = _now()
    statuses = _with_store(settings, lambda store: ops.status(registry, store, now, job, runs,
                                                              edits))
    if as_json:
        emit({"now": format_instant(now), "jobs": [s.to_dict() for s in statuses]})
        return
    click.echo(store_line())
    for item in statuses:
        click.echo("")
        _print_status(item)


def _print_status(item: ops.JobStatus) -> None:
    state = "enabled" if item.config.enabled else "disabled"
    kind = item.type or "not in registry"
    click.echo(f"{item.job_id}  [{kind}, {state}]  {item.schedule}")
    if item.misconfigured:
        click.echo(f"  MISCONFIGURED: {item.misconfigured}")
    if not item.synced:
        click.echo("  no document yet (registry defaults shown; zenjobs sync creates it)")
    due = "  (due)" if item.due else ""
    click.echo(f"  next run: {_when(item.next_run_at)}{due}")
    last = item.last_status or "never completed"
    at = f" at {format_instant(item.last_run_at)}" if item.last_run_at else ""
    click.echo(f"  last completed: {last}{at}")
    if not item.runs:
        click.echo("  runs: none")
    for run in item.runs:
        took = f"{run.duration_ms} ms" if run.duration_ms is not None else "-"
        error = f"  {run.error}" if run.error else ""
        click.echo(f"  {format_instant(run.scheduled_for)}  {run.status:<25} {run.trigger:<8} "
                   f"attempt {run.attempt}  {took:>8}  {run.execution_id}{error}")
    if item.edits:
        click.echo("  edits (latest first):")
    for edit in item.edits:
        click.echo(f"  {format_instant(edit.at)}  #{edit.seq}  {edit.actor}  {edit.command}: "
                   f"{edit_text(edit)}")


def edit_text(edit: EditRecord) -> str:
    """``cron "30 2 * * *" -> "0 3 * * *"; timezone "UTC" -> "Asia/Tokyo"`` (values as JSON)."""
    if not edit.changes:
        return "no config field changed"
    return "; ".join(f"{c.field} {json.dumps(c.before)} -> {json.dumps(c.after)}"
                     for c in edit.changes)
