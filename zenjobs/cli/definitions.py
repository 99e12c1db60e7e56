"""``zenjobs validate``, ``list`` and ``next``: the commands that need only the registry.

Each command parses its options, calls one function of :mod:`zenjobs.ops.inspection`
and prints the result. ``next`` without ``--from`` reads the wall clock here,
at the composition root, never inside the library.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any

import click

from ..descriptor import JobDescriptor
from ..errors import RegistryLoadError, UnknownJobError
from ..ops.inspection import Fire, check_registry, fires_as_json, job_rows, upcoming_fires
from ..registry import ZenJobs
from ..schedule import format_instant, parse_instant, slot_offset
from ..vocabulary import DEFAULT_DST, JobType
from .common import (
    EXIT_INVALID,
    debug_option,
    json_option,
    main,
    open_registry,
    registry_load_failed,
    registry_option,
    resolve_registry,
)
from .output import emit, examples, fail, problem_dict


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


@main.command("validate", epilog=examples(
    "zenjobs validate --registry examples.newsletter.jobs:jobs",
    "ZENJOBS_REGISTRY=app.jobs:jobs zenjobs validate --json",
))
@registry_option
@json_option("Print the JSON object of docs/operations.md (ok, jobs, types, problems).")
@debug_option
def validate(registry_spec: str | None, as_json: bool) -> None:
    """Check every job definition; exit 0 if valid, 1 if not, 2 if the registry cannot load."""
    spec = resolve_registry(registry_spec)
    try:
        report = check_registry(spec)
    except RegistryLoadError as exc:
        registry_load_failed(exc, spec, registry_spec)
    if as_json:
        jobs = report.registry.descriptors if report.registry is not None else None
        types = Counter(d.type for d in jobs) if jobs is not None else None
        result = {
            "ok": report.ok,
            "jobs": len(jobs) if jobs is not None else None,
            "types": {t.value: types[t] for t in JobType} if types is not None else None,
            "summary": report.summary,
            "problems": [problem_dict(p) for p in report.problems],
        }
        if not report.ok:
            first = report.problems[0]
            fail(report.summary, EXIT_INVALID, field=first.field, job=first.job_id,
                 problems=report.problems, result=result)
        emit(result)
        return
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


@main.command("list", epilog=examples(
    "zenjobs --registry examples.newsletter.jobs:jobs list",
    "zenjobs list --json | jq '.jobs[] | {id, schedule}'",
))
@registry_option
@json_option('Print the JSON object of docs/operations.md ({"jobs": [...]}) instead of a table.')
@debug_option
def list_jobs(registry_spec: str | None, as_json: bool) -> None:
    """List every job with its type, schedule, time zone, weight, queue, retries, dependencies."""
    rows = job_rows(open_registry(registry_spec))
    if as_json:
        emit({"jobs": rows})
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


@main.command("next", epilog=examples(
    "zenjobs next --job nightly_report --count 3",
    "zenjobs next --from 2026-03-28T12:00:00Z --count 2 --json",
))
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
@json_option("Print the JSON object of docs/operations.md (fires: {job_id: [UTC instants]}, "
             "jobs: [...]).")
@debug_option
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
        emit({"after": format_instant(after), "count": count, "fires": fires_as_json(fires),
              "jobs": [_job_fires(registry, jid, items) for jid, items in fires.items()]})
        return
    for i, (jid, items) in enumerate(fires.items()):
        d = registry.get(jid)
        if i:
            click.echo("")
        if not d.is_recurring:
            click.echo(f"{jid}: endpoint job, runs on demand: no fire instants")
            continue
        disabled = "  [disabled: runs will be skipped]" if not d.enabled else ""
        click.echo(f"{jid}: {d.schedule_text} in {d.timezone}{_options(d)}{disabled}")
        if not items:
            click.echo(f"  no fire after {format_instant(after)} (end_at {d.end_at})")
        for fire in items:
            if fire.dst_skipped:
                # Wall times gap="skip" dropped: a line of their own, no instant.
                first = fire.dst_skipped[0].strftime("%Y-%m-%d %H:%M")
                click.echo(f"  {'-':<20}  {first}  DST: {fire.dst_skipped_note}")
            skipped = "  skipped: date in skip_dates" if fire.skipped else ""
            local = fire.local.strftime("%Y-%m-%d %H:%M %Z")
            dst = f"  DST: {fire.dst}" if fire.dst else ""
            click.echo(f"  {format_instant(fire.instant)}  {local}{skipped}{dst}")


def _options(d: JobDescriptor) -> str:
    """``d``'s declared slot options for ``next``'s header: ``[dst: ...]``, ``[jitter ...]``."""
    text = f"  [dst: {d.dst}]" if d.dst is not None else ""
    if d.jitter is not None:
        text += f"  [jitter {d.jitter}: slots +{slot_offset(d)}]"
    return text


def _job_fires(registry: ZenJobs, job_id: str, items: list[Fire]) -> dict[str, Any]:
    d = registry.get(job_id)
    return {
        "job_id": job_id,
        "type": d.type.value,
        "schedule": d.schedule_text,
        "timezone": d.timezone,
        "enabled": d.enabled,
        "dst": _dst_json(d),
        "jitter_seconds": int(d.jitter.total_seconds()) if d.jitter is not None else None,
        "offset_seconds": int(slot_offset(d).total_seconds()),
        "fires": [{"at": format_instant(f.instant), "local": f.local.isoformat(),
                   "skipped": f.skipped, "dst": f.dst, "dst_effect": f.dst_effect,
                   "dst_skipped": [w.isoformat(timespec="minutes") for w in f.dst_skipped]}
                  for f in items],
    }


def _dst_json(d: JobDescriptor) -> dict[str, str] | None:
    """The DST policy a cron job follows (its own or the default); None for other jobs."""
    if d.cron is None:
        return None
    return (d.dst or DEFAULT_DST).to_dict()
