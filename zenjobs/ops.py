"""Operations on a deployed registry's job documents: sync, enable, disable, set, status.

These are the library functions behind ``zenjobs sync / enable / disable / set /
status``. Each takes the registry, a :class:`~zenjobs.backends.base.JobStore` and
``now`` (the caller's composition root reads the clock), and returns a small
frozen result describing what changed; none of them prints.

Rules (``docs/operations.md``):

* The store holds the runtime-editable config; the registry holds the defaults.
  :func:`sync` only *creates* missing documents and never overwrites a field
  edited at runtime, unless the job is named in ``reset``.
* Every edit is validated with the registration rules *before* anything is
  written, so a wrong cron, time zone or interval leaves the document as it was
  and raises :class:`~zenjobs.errors.DefinitionError` naming the job and field.
* A misconfigured document (unreadable fields, a bad hand edit) is never
  patched field by field, because the unreadable values were replaced by
  defaults when the document was read and writing them back would hide the
  problem; ``sync --reset JOB`` restores the registry's config instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from .backends.base import JobConfig, JobRecord, JobStore, RunRecord
from .descriptor import JobDescriptor, JobType
from .errors import ConfigurationError, DefinitionError, UnknownJobError
from .registry import ZenJobs
from .runtime.effective import config_from_descriptor, effective_descriptor
from .schedule import format_instant, next_fire, require_utc
from .validation import (
    cron_expression_error,
    interval_rule_error,
    registry_problems,
    timezone_error,
)

__all__ = [
    "Change",
    "JobStatus",
    "RunSummary",
    "SyncReport",
    "disable",
    "enable",
    "set_schedule",
    "status",
    "sync",
]


# -- sync ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncReport:
    """What :func:`sync` did, job ids sorted within each group.

    ``edited`` names the kept documents whose config differs from the registry
    (job id, differing fields): runtime edits that ``--reset`` would undo.
    ``orphans`` are documents of jobs the registry no longer declares; sync
    leaves them alone.
    """

    created: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    reset: tuple[str, ...] = ()
    edited: tuple[tuple[str, tuple[str, ...]], ...] = ()
    orphans: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.created or self.reset)


def config_differences(stored: JobConfig, declared: JobConfig) -> tuple[str, ...]:
    """Names of the config fields whose stored value differs from the registry's."""
    return tuple(f.name for f in fields(JobConfig)
                 if getattr(stored, f.name) != getattr(declared, f.name))


def _first_slot(desc: JobDescriptor, now: datetime) -> datetime | None:
    return next_fire(desc, now) if desc.is_recurring else None


async def sync(registry: ZenJobs, store: JobStore, now: datetime,
               reset: Iterable[str] = ()) -> SyncReport:
    """Create missing job documents from the registry; restore those named in ``reset``.

    A new document gets the registry's config and ``next_run_at`` = the job's
    first slot after ``now``. An existing one is left exactly as it is (runtime
    edits win) unless its job is in ``reset``: then config, ``next_run_at`` and
    the ``misconfigured`` flag are rewritten from the registry. Every id in
    ``reset`` must be registered (checked before anything is written).
    """
    now = require_utc(now, "now")
    to_reset = set(reset)
    for job_id in sorted(to_reset):
        registry.get(job_id)  # UnknownJobError before any write
    existing = {record.job_id: record for record in await store.list_jobs()}
    created: list[str] = []
    unchanged: list[str] = []
    restored: list[str] = []
    edited: list[tuple[str, tuple[str, ...]]] = []
    for desc in registry:
        config = config_from_descriptor(desc)
        first = _first_slot(desc, now)
        if desc.id in existing and desc.id in to_reset:
            await store.update_job(desc.id, config=config, next_run_at=first,
                                   misconfigured=None, now=now)
            restored.append(desc.id)
            continue
        record, new = await store.ensure_job(desc.id, config, first, now)
        if new:
            created.append(desc.id)
            continue
        unchanged.append(desc.id)
        differs = config_differences(record.config, config)
        if differs:
            edited.append((desc.id, differs))
    orphans = sorted(job_id for job_id in existing if job_id not in registry)
    return SyncReport(created=tuple(sorted(created)), unchanged=tuple(sorted(unchanged)),
                      reset=tuple(sorted(restored)), edited=tuple(sorted(edited)),
                      orphans=tuple(orphans))


# -- edits -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One edit of one job: the field (group) changed, its value before and after."""

    job_id: str
    field: str
    before: str
    after: str
    next_run_at: datetime | None
    created: bool = False  # the document did not exist and was created from the registry

    @property
    def changed(self) -> bool:
        return self.before != self.after


async def _document(registry: ZenJobs, store: JobStore, job_id: str,
                    now: datetime) -> tuple[JobDescriptor, JobRecord, bool]:
    """The job's descriptor and document (created from the registry if missing, as sync would).

    Refuses a misconfigured document: see the module docstring.
    """
    desc = registry.get(job_id)
    record, created = await store.ensure_job(job_id, config_from_descriptor(desc),
                                             _first_slot(desc, now), now)
    if record.misconfigured:
        raise ConfigurationError(
            f"job {job_id!r}: the stored document is misconfigured ({record.misconfigured}); "
            f"fix it by hand or restore the registry's config with "
            f"`zenjobs sync --reset {job_id}`, then edit it again")
    return desc, record, created


async def enable(registry: ZenJobs, store: JobStore, job_id: str, now: datetime) -> Change:
    """Enable ``job_id``; its next slot is recomputed from ``now``.

    Slots missed while the job was disabled are not caught up: like resuming a
    Cloud Scheduler job, the job fires next at its first slot after ``now``.
    """
    now = require_utc(now, "now")
    desc, record, created = await _document(registry, store, job_id, now)
    before = _enabled_text(record.config.enabled)
    if record.config.enabled:
        return Change(job_id, "enabled", before, before, record.next_run_at, created)
    config = replace(record.config, enabled=True)
    effective = effective_descriptor(desc, config)
    updated = await store.update_job(job_id, config=config,
                                     next_run_at=_first_slot(effective, now), now=now)
    return Change(job_id, "enabled", before, _enabled_text(True), updated.next_run_at, created)


async def disable(registry: ZenJobs, store: JobStore, job_id: str, now: datetime) -> Change:
    """Disable ``job_id``: the master tick no longer finds it due; runs already queued skip."""
    now = require_utc(now, "now")
    _, record, created = await _document(registry, store, job_id, now)
    before = _enabled_text(record.config.enabled)
    if not record.config.enabled:
        return Change(job_id, "enabled", before, before, record.next_run_at, created)
    updated = await store.update_job(job_id, config=replace(record.config, enabled=False),
                                     now=now)
    return Change(job_id, "enabled", before, _enabled_text(False), updated.next_run_at, created)


def _enabled_text(enabled: bool) -> str:
    return "enabled" if enabled else "disabled"


def schedule_text(config: JobConfig) -> str:
    """``cron '30 2 * * *' in Europe/Berlin`` / ``every 15m in UTC`` / ``on demand``."""
    if config.cron is not None:
        what = f"cron {config.cron!r}"
    elif config.interval_seconds is not None:
        what = f"every {format_duration(config.interval_seconds)}"
    else:
        return "on demand"
    return f"{what} in {config.timezone}"


def format_duration(seconds: int) -> str:
    """Whole minutes as ``90m``, ``1h``, ``1d``; anything else as seconds."""
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


async def set_schedule(registry: ZenJobs, store: JobStore, job_id: str, now: datetime, *,
                       cron: str | None = None, interval: timedelta | None = None,
                       timezone: str | None = None) -> Change:
    """Change the cron (scheduled jobs) or interval (periodic jobs) and/or the time zone.

    Everything is validated before the write; ``next_run_at`` becomes the first
    slot of the new schedule after ``now``. A job's type comes from the code, so
    a cron job cannot be given an interval or the reverse.
    """
    now = require_utc(now, "now")
    desc = registry.get(job_id)
    _check_schedule_args(desc, cron, interval, timezone)
    _, record, created = await _document(registry, store, job_id, now)
    config = record.config
    if cron is not None:
        config = replace(config, cron=cron.strip())
    if interval is not None:
        config = replace(config, interval_seconds=int(interval.total_seconds()))
    if timezone is not None:
        config = replace(config, timezone=timezone)
    effective = effective_descriptor(desc, config)  # DefinitionError names job and field
    before, after = schedule_text(record.config), schedule_text(config)
    if config == record.config:
        return Change(job_id, "schedule", before, after, record.next_run_at, created)
    first = _first_slot(effective, now)
    updated = await store.update_job(job_id, config=config, next_run_at=first, now=now)
    return Change(job_id, "schedule", before, after, updated.next_run_at, created)


def _check_schedule_args(desc: JobDescriptor, cron: str | None, interval: timedelta | None,
                         timezone: str | None) -> None:
    job = desc.id
    if cron is None and interval is None and timezone is None:
        raise DefinitionError(job, "schedule", "give a cron, an interval or a time zone to set")
    if cron is not None and interval is not None:
        raise DefinitionError(job, "schedule", "give a cron or an interval, not both")
    if desc.type is JobType.ENDPOINT:
        raise DefinitionError(job, "type", "an endpoint job runs on demand and has no schedule")
    if cron is not None:
        if desc.type is not JobType.SCHEDULED:
            raise DefinitionError(job, "cron", "a periodic job takes an interval, not a cron")
        error = cron_expression_error(cron.strip())
        if error:
            raise DefinitionError(job, "cron", error)
    if interval is not None:
        if desc.type is not JobType.PERIODIC:
            raise DefinitionError(job, "interval",
                                  "a scheduled (cron) job takes a cron, not an interval")
        error = interval_rule_error(interval)
        if error:
            raise DefinitionError(job, "interval", error)
    if timezone is not None:
        error = timezone_error(timezone)
        if error:
            raise DefinitionError(job, "timezone", error)


# -- status ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    """One run as ``zenjobs status`` shows it."""

    execution_id: str
    status: str
    trigger: str
    attempt: int
    scheduled_for: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    error: str | None

    @classmethod
    def of(cls, run: RunRecord) -> RunSummary:
        error = None
        if run.error_type or run.error_message:
            error = ": ".join(part for part in (run.error_type, run.error_message) if part)
        return cls(run.execution_id, run.status.value, run.trigger.value, run.attempt,
                   run.scheduled_for, run.started_at, run.finished_at, run.duration_ms, error)

    def to_dict(self) -> dict[str, Any]:
        return {
            "execution_id": self.execution_id,
            "status": self.status,
            "trigger": self.trigger,
            "attempt": self.attempt,
            "scheduled_for": format_instant(self.scheduled_for),
            "started_at": _instant(self.started_at),
            "finished_at": _instant(self.finished_at),
            "duration_ms": self.duration_ms,
            "error": self.error,
        }


@dataclass(frozen=True)
class JobStatus:
    """A job as deployed: registry type, stored config and state, latest runs.

    ``registered`` is False for an orphan document; ``synced`` is False when
    the job has no document yet (config then shows the registry's defaults).
    """

    job_id: str
    type: str | None
    registered: bool
    synced: bool
    config: JobConfig
    next_run_at: datetime | None
    due: bool
    last_status: str | None
    last_run_at: datetime | None
    misconfigured: str | None
    runs: tuple[RunSummary, ...]

    @property
    def schedule(self) -> str:
        return schedule_text(self.config)

    def to_dict(self) -> dict[str, Any]:
        c = self.config
        return {
            "job_id": self.job_id,
            "type": self.type,
            "registered": self.registered,
            "synced": self.synced,
            "misconfigured": self.misconfigured,
            "config": {
                "enabled": c.enabled,
                "cron": c.cron,
                "interval_seconds": c.interval_seconds,
                "timezone": c.timezone,
                "start_at": _instant(c.start_at),
                "end_at": c.end_at.isoformat() if c.end_at else None,
                "skip_dates": [d.isoformat() for d in c.skip_dates],
                "dependencies": list(c.dependencies),
                "max_retries": c.max_retries,
                "priority": c.priority,
            },
            "schedule": self.schedule,
            "next_run_at": _instant(self.next_run_at),
            "due": self.due,
            "last_status": self.last_status,
            "last_run_at": _instant(self.last_run_at),
            "runs": [run.to_dict() for run in self.runs],
        }


def _instant(value: datetime | None) -> str | None:
    return None if value is None else format_instant(value)


def misconfiguration(registry: ZenJobs, records: dict[str, JobRecord]) -> dict[str, str]:
    """Why each registered job's stored document cannot be used, by job id.

    In order: the reason the store recorded (unreadable or ill-typed fields),
    a config that fails the registration rules (bad cron, unknown time zone,
    ...), then dependencies on jobs that are not registered or that form a
    cycle once the stored dependencies are applied.
    """
    reasons: dict[str, str] = {}
    usable: dict[str, JobDescriptor] = {}
    for desc in registry:
        record = records.get(desc.id)
        try:
            if record is not None and record.misconfigured:
                reasons[desc.id] = record.misconfigured
            else:
                usable[desc.id] = (desc if record is None
                                   else effective_descriptor(desc, record.config))
                continue
        except DefinitionError as exc:
            reasons[desc.id] = str(exc)
        # A broken job is reported once, not again through the jobs depending on it.
        usable[desc.id] = replace(desc, dependencies=())
    for problem in registry_problems(usable, {}, require_handlers=False):
        if problem.field == "dependencies" and problem.job_id not in reasons:
            reasons[problem.job_id] = str(problem)
    return reasons


async def status(registry: ZenJobs, store: JobStore, now: datetime, job: str | None = None,
                 runs: int = 5) -> list[JobStatus]:
    """Every job (or only ``job``): registered ones in registry order, then orphan documents.

    Raises :class:`UnknownJobError` when ``job`` is neither registered nor stored.
    """
    now = require_utc(now, "now")
    if job is not None:
        record = await store.get_job(job)
        if job not in registry and record is None:
            raise UnknownJobError(job)
        records = {r.job_id: r for r in await store.list_jobs()} if job in registry else {}
        if record is not None:
            records[job] = record
        ids = [job]
    else:
        records = {r.job_id: r for r in await store.list_jobs()}
        ids = [d.id for d in registry] + sorted(i for i in records if i not in registry)
    reasons = misconfiguration(registry, records)
    result: list[JobStatus] = []
    for job_id in ids:
        record = records.get(job_id)
        desc = registry.get(job_id) if job_id in registry else None
        recent = await store.list_runs(job_id, runs) if runs > 0 else []
        result.append(_job_status(job_id, desc, record, reasons.get(job_id), recent, now))
    return result


def _job_status(job_id: str, desc: JobDescriptor | None, record: JobRecord | None,
                reason: str | None, recent: list[RunRecord], now: datetime) -> JobStatus:
    if record is not None:
        config = record.config
    elif desc is not None:
        config = config_from_descriptor(desc)
    else:  # pragma: no cover - status() only lists ids that are registered or stored
        config = JobConfig()
    next_run_at = record.next_run_at if record is not None else None
    return JobStatus(
        job_id=job_id,
        type=desc.type.value if desc is not None else None,
        registered=desc is not None,
        synced=record is not None,
        config=config,
        next_run_at=next_run_at,
        due=bool(config.enabled and next_run_at is not None and next_run_at <= now),
        last_status=(record.last_status.value
                     if record is not None and record.last_status is not None else None),
        last_run_at=record.last_run_at if record is not None else None,
        misconfigured=reason,
        runs=tuple(RunSummary.of(run) for run in recent),
    )
