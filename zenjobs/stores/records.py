"""The records the store seam keeps: job documents, run records and their outcomes.

A job document (:class:`JobRecord`) holds the runtime-editable :class:`JobConfig`
plus scheduling state; a run record (:class:`RunRecord`) is one execution of
one job. Every store (memory, SQLite, Firestore) stores exactly these, and the
runtime, the operations layer and the test kit read them; none of them knows
which store they came from.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any


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
