"""The seams between the runtime and the outside world, and the records crossing them.

Four narrow protocols: :class:`JobStore` (job config, state, runs, claims,
leases), :class:`TaskQueue` (enqueue one HTTP task), :class:`Clock` and
:class:`TelemetrySink`. The runtime depends only on these; memory, SQLite and
GCP implementations sit side by side under ``zenjobs.backends``.

Every store method that changes state is atomic on its own: the runtime never
does read-modify-write across two calls, so two instances (or two ticks) racing
on the same job or execution can never both win.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable


class RunStatus(str, enum.Enum):
    """The lifecycle of one execution (its run record)."""

    PENDING = "pending"  # created, waiting for its task to be delivered
    RUNNING = "running"  # a holder has the lease and runs the handler
    RETRY_SCHEDULED = "retry_scheduled"  # an attempt failed; the next one is enqueued
    SUCCESS = "success"
    FAILURE = "failure"  # failed for good without exhausting retries (PermanentError)
    DEAD = "dead"  # retries exhausted; kept, visible, replayable
    SKIPPED_DISABLED = "skipped_disabled"
    SKIPPED_NOT_STARTED = "skipped_not_started"
    SKIPPED_ENDED = "skipped_ended"
    SKIPPED_DATE_EXCLUSION = "skipped_date_exclusion"
    SKIPPED_DEPENDENCY_FAILED = "skipped_dependency_failed"

    @property
    def is_final(self) -> bool:
        """No further attempt will happen (until a replay)."""
        return self not in (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.RETRY_SCHEDULED)

    @property
    def is_completed(self) -> bool:
        """A final outcome that dependents read (skips are final but not completed)."""
        return self in (RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.DEAD)

    @property
    def is_skip(self) -> bool:
        return self.value.startswith("skipped_")


class Trigger(str, enum.Enum):
    """Why a run exists."""

    SCHEDULE = "schedule"  # the master tick found the job due
    ENDPOINT = "endpoint"  # executor.schedule(...)
    MANUAL = "manual"  # zenjobs trigger
    REPLAY = "replay"  # zenjobs replay of a dead/failed run


@dataclass(frozen=True)
class JobConfig:
    """The runtime-editable part of a job, stored with its state.

    ``None`` for an optional field means "not set"; the store holds the full
    effective value, seeded from the registry by sync and edited by operators.
    """

    enabled: bool = True
    cron: str | None = None
    interval_seconds: int | None = None
    timezone: str = "UTC"
    start_at: datetime | None = None
    end_at: date | None = None
    skip_dates: tuple[date, ...] = ()
    dependencies: tuple[str, ...] = ()
    max_retries: int = 3
    priority: int = 0


@dataclass(frozen=True)
class JobRecord:
    """One job's stored document: editable config plus runtime state."""

    job_id: str
    config: JobConfig
    next_run_at: datetime | None = None
    last_status: RunStatus | None = None  # latest *completed* run only; skips never write it
    last_run_at: datetime | None = None
    last_execution_id: str | None = None
    misconfigured: str | None = None  # reason a hand-edited document cannot be used
    updated_at: datetime | None = None


@dataclass(frozen=True)
class RunRecord:
    """One execution of one job (``jobs/{job_id}/runs/{execution_id}``)."""

    job_id: str
    execution_id: str
    trigger: Trigger
    scheduled_for: datetime
    status: RunStatus = RunStatus.PENDING
    attempt: int = 1
    payload: Any = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    next_attempt_at: datetime | None = None
    lease_holder: str | None = None
    lease_expires_at: datetime | None = None

    def evolve(self, **changes: Any) -> RunRecord:
        return replace(self, **changes)


class LeaseOutcome(str, enum.Enum):
    ACQUIRED = "acquired"  # caller now holds the lease for (execution, attempt)
    FINISHED = "finished"  # the run is final: acknowledge, run nothing
    STALE = "stale"  # the delivery's attempt is older than the record's: acknowledge
    HELD = "held"  # another holder's lease is live: answer retryable
    MISSING = "missing"  # no run record exists


@dataclass(frozen=True)
class LeaseResult:
    outcome: LeaseOutcome
    run: RunRecord | None = None
    taken_over: bool = False  # the previous holder's lease had expired (crash)


@dataclass(frozen=True)
class RunResult:
    """What the runner writes when an attempt ends."""

    status: RunStatus
    finished_at: datetime
    duration_ms: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    next_attempt: int | None = None  # set with RETRY_SCHEDULED
    next_attempt_at: datetime | None = None


@runtime_checkable
class JobStore(Protocol):
    """Job documents and run records, with atomic claims and leases."""

    async def ensure_job(self, job_id: str, config: JobConfig, next_run_at: datetime | None,
                         now: datetime) -> tuple[JobRecord, bool]:
        """Create the job document if absent (returns it and whether it was created).

        Never overwrites an existing document: fields edited at runtime win.
        """
        ...

    async def get_job(self, job_id: str) -> JobRecord | None: ...

    async def list_jobs(self) -> list[JobRecord]: ...

    async def update_job(self, job_id: str, *, config: JobConfig | None = None,
                         next_run_at: datetime | object | None = ...,
                         misconfigured: str | object | None = ..., now: datetime) -> JobRecord:
        """Overwrite config and/or state fields (``...`` = leave unchanged)."""
        ...

    async def due_jobs(self, now: datetime, limit: int) -> list[JobRecord]:
        """Enabled jobs with ``next_run_at <= now``, by priority desc then next_run_at.

        Must cost in proportion to the due jobs returned, not to all jobs.
        """
        ...

    async def claim_slot(self, job_id: str, expected_next_run_at: datetime,
                         new_next_run_at: datetime | None, now: datetime) -> bool:
        """Atomically advance ``next_run_at`` if it still equals the expected slot.

        Exactly one of any number of concurrent callers for one slot gets True.
        """
        ...

    async def create_run(self, run: RunRecord) -> bool:
        """Create the run record if absent; False (and no change) if it exists."""
        ...

    async def get_run(self, job_id: str, execution_id: str) -> RunRecord | None: ...

    async def list_runs(self, job_id: str, limit: int) -> list[RunRecord]:
        """Most recent first (by created_at)."""
        ...

    async def acquire_lease(self, job_id: str, execution_id: str, attempt: int, holder: str,
                            now: datetime, lease_until: datetime) -> LeaseResult:
        """Atomically take the lease on (execution, attempt), see :class:`LeaseOutcome`.

        A live lease of another holder gives HELD; an expired one is taken over
        and the attempt number advances by one (the crashed attempt counts).
        """
        ...

    async def finish_attempt(self, job_id: str, execution_id: str, holder: str,
                             result: RunResult) -> RunRecord | None:
        """Record an attempt's end if ``holder`` still holds the lease.

        In the same atomic step, a completed status updates the job's
        ``last_status`` / ``last_run_at`` / ``last_execution_id``. Returns the
        updated record, or None if the lease was lost.
        """
        ...

    async def record_skip(self, run: RunRecord) -> bool:
        """Create-or-finish a run as skipped; never touches the job's last_status."""
        ...

    async def reopen_run(self, job_id: str, execution_id: str, now: datetime) -> RunRecord | None:
        """For replay: a final failure/dead run becomes PENDING at attempt + 1."""
        ...


@dataclass(frozen=True)
class HttpTask:
    """One Cloud Tasks HTTP task, as the runtime asks for it."""

    queue: str
    name: str  # deterministic, derived from execution id and attempt
    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    schedule_time: datetime | None = None


class EnqueueOutcome(str, enum.Enum):
    CREATED = "created"
    ALREADY_EXISTS = "already_exists"  # a task with this name exists: already scheduled


@runtime_checkable
class TaskQueue(Protocol):
    async def enqueue(self, task: HttpTask) -> EnqueueOutcome: ...


@runtime_checkable
class Clock(Protocol):
    """Where the runtime's composition root reads time; tests pass a virtual one."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class TelemetryEvent:
    name: str  # job.started, job.succeeded, job.failed, job.skipped, ...
    timestamp: datetime
    fields: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class TelemetrySink(Protocol):
    def emit(self, event: TelemetryEvent) -> None: ...
