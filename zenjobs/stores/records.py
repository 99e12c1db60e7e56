"""The records the store seam keeps: job documents, run records and their outcomes.

A job document (:class:`JobRecord`) holds the runtime-editable :class:`JobConfig`
plus scheduling state; a run record (:class:`RunRecord`) is one execution of
one job. Every store (memory, SQLite, Firestore) stores exactly these, and the
runtime, the operations layer and the test kit read them; none of them knows
which store they came from.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timezone
from typing import Any, Literal


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


@dataclass(frozen=True)
class OverdueRun:
    """A run whose next step is overdue, as :meth:`JobStore.overdue_runs` finds it.

    ``due_at`` is the stored instant by which that step should have happened
    (see :func:`~zenjobs.stores.transitions.run_due_at`), or a later one a
    reconciler set with :meth:`JobStore.defer_overdue`; the run record alone
    cannot tell which, so both travel together.
    """

    run: RunRecord
    due_at: datetime


#: Where a page of runs ended: ``(created_at, job_id, execution_id)`` of the last run of
#: the previous page. :meth:`JobStore.list_runs` and :meth:`JobStore.dead_runs` take it as
#: ``before`` and return only the runs after it in their newest-first order.
RunCursor = tuple[datetime, str, str]

#: What :func:`run_cursor` takes for a run without ``created_at`` (only a hand-edited record).
CURSOR_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def run_cursor(run: RunRecord) -> RunCursor:
    """The cursor of the page that ends with ``run`` (pass it as ``before`` for the next page)."""
    return (run.created_at or CURSOR_EPOCH, run.job_id, run.execution_id)


#: The buckets :meth:`JobStore.run_counts` counts runs in, and the statuses of each.
RUN_COUNT_BUCKETS: dict[str, tuple[RunStatus, ...]] = {
    "success": (RunStatus.SUCCESS,),
    "failed": (RunStatus.FAILURE, RunStatus.DEAD),
    "skipped": (RunStatus.SKIPPED_DISABLED, RunStatus.SKIPPED_NOT_STARTED,
                RunStatus.SKIPPED_ENDED, RunStatus.SKIPPED_DATE_EXCLUSION,
                RunStatus.SKIPPED_DEPENDENCY_FAILED),
    "active": (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.RETRY_SCHEDULED),
}


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


# -- field-level config edits and their history (``JobStore.edit_job``) ---------------------------

#: Longest ``actor`` an edit records (a user@host, a service account email).
ACTOR_MAX_LENGTH = 128
#: Edits kept per job: older ones are dropped as new ones are recorded.
EDIT_HISTORY = 50


class Keep(enum.Enum):
    """``next_run_at`` stays as stored: the edit does not move the schedule."""

    KEEP = "keep"


KEEP = Keep.KEEP
NextRun = datetime | None | Literal[Keep.KEEP]
#: Called by the store inside its atomic step, with the document as stored now and the
#: config after the edit: raises to refuse the edit (validation against the merged
#: config, never a stale copy), else returns the job's new ``next_run_at`` or KEEP.
EditPlan = Callable[[JobRecord, JobConfig], NextRun]

CONFIG_FIELD_NAMES = tuple(f.name for f in fields(JobConfig))


def actor_problem(actor: object) -> str | None:
    """Why ``actor`` cannot be recorded as who made an edit, or None when it can.

    Bounded and printable, because it is shown by ``zenjobs status`` and stored in
    every backend as is.
    """
    if not isinstance(actor, str):
        return f"must be a string, got {type(actor).__name__}"
    if not actor.strip():
        return "must not be empty"
    if len(actor) > ACTOR_MAX_LENGTH:
        return f"must be at most {ACTOR_MAX_LENGTH} characters, got {len(actor)}"
    if not actor.isprintable() or actor != actor.strip():
        return f"must be printable text without surrounding spaces, got {actor!r}"
    return None


@dataclass(frozen=True)
class ConfigEdit:
    """A field-level edit of one job's config, for :meth:`JobStore.edit_job`.

    ``changes`` holds only the config fields the edit sets (``{"enabled": False}``);
    the store applies them to the document as stored *inside* its atomic step, so
    a concurrent edit of another field is never lost. ``restore`` (``sync
    --reset``) sets every field, drops fields zenjobs never writes and clears
    ``misconfigured``. ``command`` says what made the edit (``enable``, ``set``).
    """

    changes: Mapping[str, Any]
    actor: str
    command: str
    plan: EditPlan | None = None  # None: next_run_at kept, nothing validated
    restore: bool = False

    def __post_init__(self) -> None:
        unknown = sorted(set(self.changes) - set(CONFIG_FIELD_NAMES))
        if unknown:
            raise ValueError(f"ConfigEdit: unknown config field(s) {unknown}")
        if not self.changes:
            raise ValueError("ConfigEdit: no field to change")
        if self.restore and set(self.changes) != set(CONFIG_FIELD_NAMES):
            raise ValueError("ConfigEdit: restore sets every config field")
        problem = actor_problem(self.actor)
        if problem:
            raise ValueError(f"ConfigEdit: actor {problem}")
        if not self.command or len(self.command) > 64 or not self.command.isprintable():
            raise ValueError(f"ConfigEdit: command must be short printable text, "
                             f"got {self.command!r}")
        # Lists become tuples, as JobConfig holds them (so equal configs compare equal).
        object.__setattr__(self, "changes", {
            name: tuple(value) if isinstance(value, list) else value
            for name, value in self.changes.items()})


@dataclass(frozen=True)
class FieldChange:
    """One config field an edit changed: its value before and after, JSON-shaped.

    Values are as ``zenjobs status --json`` prints a config: instants and dates
    as ISO text, lists as lists.
    """

    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class EditRecord:
    """One recorded edit of one job: who, when, what, and each field's old and new value.

    ``seq`` counts the job's edits from 1 (the newest has the highest); the store
    keeps the latest :data:`EDIT_HISTORY`.
    """

    job_id: str
    seq: int
    at: datetime
    actor: str
    command: str
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True)
class EditResult:
    """What :meth:`JobStore.edit_job` did: the document before and after, and the record.

    ``edit`` is None when nothing differed: nothing was written or recorded.
    """

    before: JobRecord
    job: JobRecord
    edit: EditRecord | None

    @property
    def changed(self) -> bool:
        return self.edit is not None
