"""status: each job's stored config, state, latest runs and why it may be misconfigured."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ..descriptor import JobDescriptor
from ..errors import DefinitionError, UnknownJobError
from ..registry import ZenJobs
from ..runtime.effective import config_from_descriptor, effective_descriptor
from ..schedule import format_instant, require_utc
from ..stores.protocol import JobStore
from ..stores.records import EditRecord, JobConfig, JobRecord, RunRecord
from ..validation import registry_problems
from .edits import schedule_text

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
    edits: tuple[EditRecord, ...] = ()  # newest first

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
            "edits": [edit_dict(edit) for edit in self.edits],
        }


def edit_dict(edit: EditRecord) -> dict[str, Any]:
    """One recorded edit as ``zenjobs status --json`` prints it."""
    return {
        "seq": edit.seq,
        "at": format_instant(edit.at),
        "actor": edit.actor,
        "command": edit.command,
        "changes": [{"field": c.field, "before": c.before, "after": c.after}
                    for c in edit.changes],
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
                 runs: int = 5, edits: int = 5) -> list[JobStatus]:
    """Every job (or only ``job``): registered ones in registry order, then orphan documents.

    With each, its latest ``runs`` runs and ``edits`` recorded edits (one query
    each, for a job that has a document). Raises :class:`UnknownJobError` when
    ``job`` is neither registered nor stored.
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
        history = await store.list_edits(job_id, edits) if edits > 0 and record is not None else []
        item = _job_status(job_id, desc, record, reasons.get(job_id), recent, now)
        result.append(replace(item, edits=tuple(history)))
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
