"""Pure state transitions shared by every :class:`~zenjobs.stores.protocol.JobStore`.

Each store (memory, SQLite, Firestore) only has to *read* a record, call one of
these functions and *write* what it returns, inside whatever atomic step the
backend offers (a lock, a ``BEGIN IMMEDIATE`` transaction, a Firestore
transaction). Keeping the decisions here, free of I/O, is what makes the stores
agree: the contract suite in ``tests/contract`` checks the result on each one.

The rules are written down in ``docs/stores.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime, timezone
from typing import Any

from ..errors import PayloadError
from .config_codec import encode_config
from .records import (
    CONFIG_FIELD_NAMES,
    KEEP,
    RUN_COUNT_BUCKETS,
    ConfigEdit,
    EditRecord,
    FieldChange,
    JobConfig,
    JobRecord,
    LeaseOutcome,
    LeaseResult,
    OverdueRun,
    RunCursor,
    RunRecord,
    RunResult,
    RunStatus,
    run_cursor,
)

UTC = timezone.utc

#: Statuses a replay may reopen.
REOPENABLE = (RunStatus.FAILURE, RunStatus.DEAD)


def to_utc(instant: datetime, name: str) -> datetime:
    """``instant`` in UTC; a naive datetime is refused rather than guessed."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {instant!r}")
    return instant.astimezone(UTC)


def opt_utc(instant: datetime | None, name: str) -> datetime | None:
    return None if instant is None else to_utc(instant, name)


def normalize_config(config: JobConfig) -> JobConfig:
    if config.start_at is None:
        return config
    return replace(config, start_at=to_utc(config.start_at, "start_at"))


def json_copy(job_id: str, payload: Any) -> Any:
    """A fresh JSON-shaped copy of a payload (what every persistent store returns)."""
    try:
        return json.loads(json.dumps(payload, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise PayloadError(job_id, f"not JSON-serialisable: {exc}") from exc


def normalize_run(run: RunRecord) -> RunRecord:
    """The record with every instant in UTC and ``created_at`` defaulted.

    A run created without ``created_at`` takes its ``scheduled_for``, so that
    :meth:`JobStore.list_runs` always has an order to follow.
    """
    scheduled_for = to_utc(run.scheduled_for, "scheduled_for")
    created_at = opt_utc(run.created_at, "created_at") or scheduled_for
    return run.evolve(
        scheduled_for=scheduled_for,
        created_at=created_at,
        started_at=opt_utc(run.started_at, "started_at"),
        finished_at=opt_utc(run.finished_at, "finished_at"),
        next_attempt_at=opt_utc(run.next_attempt_at, "next_attempt_at"),
        lease_expires_at=opt_utc(run.lease_expires_at, "lease_expires_at"),
        payload=json_copy(run.job_id, run.payload),
    )


def new_job(job_id: str, config: JobConfig, next_run_at: datetime | None,
            now: datetime) -> JobRecord:
    return JobRecord(job_id=job_id, config=normalize_config(config),
                     next_run_at=opt_utc(next_run_at, "next_run_at"),
                     updated_at=to_utc(now, "now"))


def updated_job(job: JobRecord, config: JobConfig | None, next_run_at: datetime | object | None,
                misconfigured: str | object | None, now: datetime) -> JobRecord:
    """``job`` with the given fields overwritten; ``...`` leaves a field unchanged."""
    changes: dict[str, Any] = {"updated_at": to_utc(now, "now")}
    if config is not None:
        changes["config"] = normalize_config(config)
    if next_run_at is not ...:
        if next_run_at is not None and not isinstance(next_run_at, datetime):
            raise TypeError(f"next_run_at must be a datetime or None, got {next_run_at!r}")
        changes["next_run_at"] = opt_utc(next_run_at, "next_run_at")
    if misconfigured is not ...:
        if misconfigured is not None and not isinstance(misconfigured, str):
            raise TypeError(f"misconfigured must be a str or None, got {misconfigured!r}")
        changes["misconfigured"] = misconfigured
    return replace(job, **changes)


def history_values(config: JobConfig) -> dict[str, Any]:
    """The config as an edit's history records it: JSON-shaped, instants as ISO text."""
    return encode_config(config, lambda instant: None if instant is None
                         else to_utc(instant, "start_at").isoformat())


def _type_problem(name: str, value: Any) -> str | None:
    """What is wrong with the type of config field ``name``'s value, if anything."""
    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    def is_date(v: Any) -> bool:
        return isinstance(v, date) and not isinstance(v, datetime)

    ok = {
        "enabled": lambda v: isinstance(v, bool),
        "cron": lambda v: v is None or isinstance(v, str),
        "interval_seconds": lambda v: v is None or is_int(v),
        "timezone": lambda v: isinstance(v, str),
        "start_at": lambda v: v is None or isinstance(v, datetime),
        "end_at": lambda v: v is None or is_date(v),
        "skip_dates": lambda v: isinstance(v, tuple) and all(is_date(d) for d in v),
        "dependencies": lambda v: isinstance(v, tuple) and all(isinstance(d, str) for d in v),
        "max_retries": is_int,
        "priority": is_int,
    }[name](value)
    return None if ok else f"wrong type {type(value).__name__} {value!r}"


def edited_job(job: JobRecord, edit: ConfigEdit, now: datetime,
               seq: int) -> tuple[JobRecord, EditRecord] | None:
    """The job after a field-level edit and the edit's record (number ``seq``), or None.

    The edit's fields are applied to ``job`` as stored now (read in the same
    atomic step), so a concurrent edit of another field is kept. None when no
    field changes: nothing is written or recorded (a restore always is). Otherwise
    ``edit.plan`` sees the merged config (it may refuse it by raising) and decides
    ``next_run_at``.
    """
    now = to_utc(now, "now")
    for name, value in edit.changes.items():
        problem = _type_problem(name, value)
        if problem:
            raise ValueError(f"job {job.job_id!r}, config field {name!r}: {problem}")
    config = normalize_config(replace(job.config, **edit.changes))
    before, after = history_values(job.config), history_values(config)
    names = CONFIG_FIELD_NAMES if edit.restore else [
        name for name in CONFIG_FIELD_NAMES if name in edit.changes]
    changes = tuple(FieldChange(name, before[name], after[name]) for name in names
                    if before[name] != after[name])
    if not changes and not edit.restore:
        return None
    next_run_at = KEEP if edit.plan is None else edit.plan(job, config)
    new = replace(job, config=config, updated_at=now)
    if next_run_at is not KEEP:
        new = replace(new, next_run_at=opt_utc(next_run_at, "next_run_at"))
    if edit.restore:
        new = replace(new, misconfigured=None)
    return new, EditRecord(job.job_id, seq, now, edit.actor, edit.command, changes)


def is_due(job: JobRecord, now: datetime) -> bool:
    return job.config.enabled and job.next_run_at is not None and job.next_run_at <= now


def due_order(job: JobRecord) -> tuple[int, datetime, str]:
    """Sort key: priority desc, then next_run_at asc, then job id (a stable tie-break)."""
    assert job.next_run_at is not None
    return (-job.config.priority, job.next_run_at, job.job_id)


def runs_order(run: RunRecord) -> tuple[datetime, str]:
    """Sort key for most-recent-first listings (use with ``reverse=True``)."""
    assert run.created_at is not None
    return (run.created_at, run.execution_id)


def unique_ids(job_ids: Iterable[str]) -> list[str]:
    """The job ids of a batch read, each once, in order; a bare string is refused.

    (A string is a sequence of one-letter ids: ``get_jobs("report")`` is a bug.)
    """
    if isinstance(job_ids, str):
        raise TypeError(f"job_ids must be a sequence of job ids, not the string {job_ids!r}")
    return list(dict.fromkeys(job_ids))


def checked_cursor(before: RunCursor | None) -> RunCursor | None:
    """A page cursor with its instant in UTC (a naive one is refused, as every instant is)."""
    if before is None:
        return None
    created_at, job_id, execution_id = before
    return (to_utc(created_at, "before"), str(job_id), str(execution_id))


def after_in_job(run: RunRecord, before: RunCursor | None) -> bool:
    """Whether ``run`` comes after ``before`` in :meth:`JobStore.list_runs`' order.

    That listing is one job's, newest first by ``(created_at, execution_id)``: the
    cursor's job id plays no part.
    """
    if before is None:
        return True
    created_at, _, execution_id = run_cursor(run)
    return (created_at, execution_id) < (before[0], before[2])


def after_cursor(run: RunRecord, before: RunCursor | None) -> bool:
    """Whether ``run`` comes after ``before`` in :meth:`JobStore.dead_runs`' order.

    Newest first by ``(created_at, job_id, execution_id)``: :func:`~.records.run_cursor`
    is the sort key (with ``reverse=True``).
    """
    return before is None or run_cursor(run) < before


#: Status value -> its bucket of :data:`~.records.RUN_COUNT_BUCKETS`.
BUCKET_OF_STATUS = {status.value: bucket for bucket, statuses in RUN_COUNT_BUCKETS.items()
                    for status in statuses}


def empty_counts(job_ids: Iterable[str]) -> dict[str, dict[str, int]]:
    """What :meth:`JobStore.run_counts` answers before counting: every job, every bucket, 0."""
    return {job_id: dict.fromkeys(RUN_COUNT_BUCKETS, 0) for job_id in job_ids}


def run_due_at(run: RunRecord) -> datetime | None:
    """When the run's next step must have happened; None once it is final.

    Every store writes this beside each run record (an indexed field), so a
    reconciler finds the runs whose next step never came with one query whose
    cost follows those runs, not all runs (``docs/runtime.md``, "Recovery"):

    * ``pending``: its task is due at its scheduled time, not before the
      record was made (a catch-up run stands for an old slot but is sent when
      created) nor before a replay asked for it: the latest of
      ``scheduled_for``, ``created_at`` and ``next_attempt_at``;
    * ``retry_scheduled``: ``next_attempt_at``, the retry task's schedule time;
    * ``running``: ``lease_expires_at``; past it the holder is gone and a
      delivery of the same attempt takes the run over;
    * final: None, so the run leaves the index.

    A missing instant (a hand-edited record) falls back to the ones present, so
    a non-final run is never left out of the index.
    """
    if run.status.is_final:
        return None
    if run.status is RunStatus.RUNNING:
        candidates = [run.lease_expires_at or run.started_at]
    elif run.status is RunStatus.RETRY_SCHEDULED:
        candidates = [run.next_attempt_at or run.finished_at]
    else:
        candidates = [run.scheduled_for, run.created_at, run.next_attempt_at]
    instants = [i for i in candidates if i is not None]
    return to_utc(max(instants), "due_at") if instants else to_utc(run.scheduled_for, "due_at")


def recovery_order(item: OverdueRun) -> tuple[datetime, str, str]:
    """Sort key of :meth:`JobStore.overdue_runs`: most overdue first, then job and execution."""
    return (item.due_at, item.run.job_id, item.run.execution_id)


def may_defer(stored: RunRecord | None, stored_due_at: datetime | None,
              seen: OverdueRun) -> bool:
    """Whether ``defer_overdue`` may move the stored ``due_at``: nothing changed since seen.

    The run must still be at the status, attempt and ``due_at`` the reconciler
    read; any state change since (a delivery took the lease, the run finished)
    wrote a ``due_at`` of its own, which wins.
    """
    return (stored is not None and stored_due_at is not None
            and stored_due_at == to_utc(seen.due_at, "due_at")
            and stored.status is seen.run.status and stored.attempt == seen.run.attempt)


def decide_lease(run: RunRecord | None, attempt: int, holder: str, now: datetime,
                 lease_until: datetime) -> LeaseResult:
    """The outcome of one delivery of ``attempt`` asking for the lease.

    With ACQUIRED, ``result.run`` is the record the store must write; with any
    other outcome nothing is written. Order of the checks (first match wins):

    1. no record → MISSING
    2. final status → FINISHED
    3. delivery attempt < record attempt → STALE
    4. delivery attempt > record attempt → HELD (the record has not caught up)
    5. PENDING / RETRY_SCHEDULED → ACQUIRED (RUNNING, started_at = now)
    6. RUNNING, same holder → ACQUIRED (lease renewed, attempt unchanged)
    7. RUNNING, other holder, lease live (expires after now) → HELD
    8. RUNNING, other holder, lease expired → ACQUIRED at attempt + 1, taken_over
    """
    if run is None:
        return LeaseResult(LeaseOutcome.MISSING)
    if run.status.is_final:
        return LeaseResult(LeaseOutcome.FINISHED, run)
    if attempt < run.attempt:
        return LeaseResult(LeaseOutcome.STALE, run)
    if attempt > run.attempt:
        return LeaseResult(LeaseOutcome.HELD, run)
    now = to_utc(now, "now")
    lease_until = to_utc(lease_until, "lease_until")
    if run.status is not RunStatus.RUNNING:
        fresh = run.evolve(status=RunStatus.RUNNING, started_at=now, finished_at=None,
                           duration_ms=None, next_attempt_at=None, lease_holder=holder,
                           lease_expires_at=lease_until)
        return LeaseResult(LeaseOutcome.ACQUIRED, fresh)
    if run.lease_holder == holder:
        return LeaseResult(LeaseOutcome.ACQUIRED, run.evolve(lease_expires_at=lease_until))
    if run.lease_expires_at is not None and run.lease_expires_at > now:
        return LeaseResult(LeaseOutcome.HELD, run)
    taken = run.evolve(attempt=run.attempt + 1, started_at=now, finished_at=None,
                       duration_ms=None, next_attempt_at=None, lease_holder=holder,
                       lease_expires_at=lease_until)
    return LeaseResult(LeaseOutcome.ACQUIRED, taken, taken_over=True)


def finished_run(run: RunRecord | None, holder: str, result: RunResult) -> RunRecord | None:
    """The record after ``holder`` ends its attempt, or None if it no longer holds it.

    RETRY_SCHEDULED moves the record to ``result.next_attempt`` (default
    attempt + 1) and clears the lease, so that the delivery of that attempt can
    acquire it. Every other status must be final.
    """
    if result.status in (RunStatus.PENDING, RunStatus.RUNNING):
        raise ValueError(f"finish_attempt cannot set status {result.status.value!r}")
    if run is None or run.status is not RunStatus.RUNNING or run.lease_holder != holder:
        return None
    attempt = run.attempt
    if result.status is RunStatus.RETRY_SCHEDULED:
        attempt = result.next_attempt if result.next_attempt is not None else run.attempt + 1
        if attempt <= run.attempt:
            raise ValueError(f"run {run.execution_id!r}: next_attempt {attempt} must be greater "
                             f"than the current attempt {run.attempt}")
    return run.evolve(status=result.status, attempt=attempt,
                      finished_at=to_utc(result.finished_at, "finished_at"),
                      duration_ms=result.duration_ms, error_type=result.error_type,
                      error_message=result.error_message,
                      next_attempt_at=opt_utc(result.next_attempt_at, "next_attempt_at"),
                      lease_holder=None, lease_expires_at=None)


def job_after_run(job: JobRecord | None, run: RunRecord) -> JobRecord | None:
    """The job document after ``run`` ended, or None when it must not change.

    Only completed runs (success, failure, dead) write ``last_*``; skips and
    retries never do. A run that finished before the one already recorded does
    not overwrite it, so late writers cannot roll the status back.
    """
    if job is None or not run.status.is_completed or run.finished_at is None:
        return None
    if job.last_run_at is not None and run.finished_at < job.last_run_at:
        return None
    return replace(job, last_status=run.status, last_run_at=run.finished_at,
                   last_execution_id=run.execution_id, updated_at=run.finished_at)


def skipped_run(existing: RunRecord | None, run: RunRecord) -> RunRecord | None:
    """What ``record_skip`` writes: the new record, or None for "no change".

    Absent → ``run`` is created as given. Not final yet → it becomes the skip
    (identity and attempt of the existing record kept, lease cleared). Already
    final → unchanged.
    """
    if not run.status.is_skip:
        raise ValueError(f"record_skip needs a skipped_* status, got {run.status.value!r}")
    if existing is None:
        return normalize_run(run)
    if existing.status.is_final:
        return None
    return existing.evolve(status=run.status, finished_at=opt_utc(run.finished_at, "finished_at"),
                           duration_ms=run.duration_ms, error_type=run.error_type,
                           error_message=run.error_message, next_attempt_at=None,
                           lease_holder=None, lease_expires_at=None)


def reopened_run(run: RunRecord | None, now: datetime) -> RunRecord | None:
    """A failed or dead run made PENDING at attempt + 1 for a replay, else None.

    The last error stays visible until the replayed attempt ends; ``next_attempt_at``
    records when the replay was asked for.
    """
    if run is None or run.status not in REOPENABLE:
        return None
    return run.evolve(status=RunStatus.PENDING, attempt=run.attempt + 1, started_at=None,
                      finished_at=None, duration_ms=None, next_attempt_at=to_utc(now, "now"),
                      lease_holder=None, lease_expires_at=None)
