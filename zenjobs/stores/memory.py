"""An in-process :class:`~zenjobs.stores.protocol.JobStore` for tests and ``zenjobs dev``.

Atomicity: every method does its whole read-modify-write synchronously under
one :class:`threading.Lock`, with no ``await`` in between, so concurrent
coroutines (and threads) can never both win a claim or a lease. Records are
frozen dataclasses and payloads are copied in and out, so a caller can never
change stored state by mutating what it got back.

``due_jobs`` and ``overdue_runs`` scan every job or every run's ``due_at``:
fine for the few of a test or a dev session; the persistent stores answer
both with an index. The dashboard's queries read only what they name: the
jobs asked for, one job's runs, and the DEAD runs (kept in a set, as ``due_at``
in a dict, by every run write).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from datetime import datetime

from ..errors import UnknownJobError
from . import transitions as t
from .records import (
    EDIT_HISTORY,
    ConfigEdit,
    EditRecord,
    EditResult,
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


class MemoryJobStore:
    """Job documents and run records held in dictionaries; lost when the process ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, JobRecord] = {}
        self._runs: dict[str, dict[str, RunRecord]] = {}  # job_id -> execution_id -> run
        self._edits: dict[str, list[EditRecord]] = {}  # job_id -> latest edits, oldest first
        #: (job_id, execution_id) -> due_at of every run that is not final (run_due_at).
        self._due: dict[tuple[str, str], datetime] = {}
        #: (job_id, execution_id) of every DEAD run (dead_runs reads only these).
        self._dead: set[tuple[str, str]] = set()

    def close(self) -> None:
        """Nothing to release; present so every store can be closed the same way."""

    def _run(self, job_id: str, execution_id: str) -> RunRecord | None:
        return self._runs.get(job_id, {}).get(execution_id)

    def _put(self, run: RunRecord) -> None:
        """Every run write goes through here, so ``due_at`` and the DEAD set follow the record."""
        self._runs.setdefault(run.job_id, {})[run.execution_id] = run
        key = (run.job_id, run.execution_id)
        if run.status is RunStatus.DEAD:
            self._dead.add(key)
        else:
            self._dead.discard(key)
        due_at = t.run_due_at(run)
        if due_at is None:
            self._due.pop(key, None)
        else:
            self._due[key] = due_at

    @staticmethod
    def _out(run: RunRecord) -> RunRecord:
        """A record whose payload the caller may mutate freely."""
        return run.evolve(payload=copy.deepcopy(run.payload))

    async def ensure_job(self, job_id: str, config: JobConfig, next_run_at: datetime | None,
                         now: datetime) -> tuple[JobRecord, bool]:
        with self._lock:
            existing = self._jobs.get(job_id)
            if existing is not None:
                return existing, False
            job = t.new_job(job_id, config, next_run_at, now)
            self._jobs[job_id] = job
            return job, True

    async def get_job(self, job_id: str) -> JobRecord | None:
        with self._lock:
            return self._jobs.get(job_id)

    async def get_jobs(self, job_ids: Sequence[str]) -> dict[str, JobRecord]:
        ids = t.unique_ids(job_ids)
        with self._lock:
            return {job_id: self._jobs[job_id] for job_id in ids if job_id in self._jobs}

    async def list_jobs(self) -> list[JobRecord]:
        with self._lock:
            return [self._jobs[k] for k in sorted(self._jobs)]

    async def update_job(self, job_id: str, *, config: JobConfig | None = None,
                         next_run_at: datetime | object | None = ...,
                         misconfigured: str | object | None = ..., now: datetime) -> JobRecord:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise UnknownJobError(job_id)
            job = t.updated_job(job, config, next_run_at, misconfigured, now)
            self._jobs[job_id] = job
            return job

    async def edit_job(self, job_id: str, edit: ConfigEdit, now: datetime) -> EditResult:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise UnknownJobError(job_id)
            history = self._edits.setdefault(job_id, [])
            seq = history[-1].seq + 1 if history else 1
            edited = t.edited_job(job, edit, now, seq)
            if edited is None:
                return EditResult(job, job, None)
            new, record = edited
            self._jobs[job_id] = new
            history.append(record)
            del history[:-EDIT_HISTORY]
            return EditResult(job, new, record)

    async def list_edits(self, job_id: str, limit: int) -> list[EditRecord]:
        if limit <= 0:
            return []
        with self._lock:
            return list(reversed(self._edits.get(job_id, [])))[:limit]

    async def due_jobs(self, now: datetime, limit: int) -> list[JobRecord]:
        if limit <= 0:
            return []
        now = t.to_utc(now, "now")
        with self._lock:
            due = [job for job in self._jobs.values() if t.is_due(job, now)]
        due.sort(key=t.due_order)
        return due[:limit]

    async def claim_slot(self, job_id: str, expected_next_run_at: datetime,
                         new_next_run_at: datetime | None, now: datetime) -> bool:
        expected = t.to_utc(expected_next_run_at, "expected_next_run_at")
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.next_run_at != expected:
                return False
            self._jobs[job_id] = t.updated_job(job, None, new_next_run_at, ..., now)
            return True

    async def create_run(self, run: RunRecord) -> bool:
        fresh = t.normalize_run(run)
        with self._lock:
            if self._run(run.job_id, run.execution_id) is not None:
                return False
            self._put(fresh)
            return True

    async def get_run(self, job_id: str, execution_id: str) -> RunRecord | None:
        with self._lock:
            run = self._run(job_id, execution_id)
        return None if run is None else self._out(run)

    async def list_runs(self, job_id: str, limit: int, *,
                        before: RunCursor | None = None) -> list[RunRecord]:
        if limit <= 0:
            return []
        before = t.checked_cursor(before)
        with self._lock:
            runs = [run for run in self._runs.get(job_id, {}).values()
                    if t.after_in_job(run, before)]
        runs.sort(key=t.runs_order, reverse=True)
        return [self._out(run) for run in runs[:limit]]

    async def dead_runs(self, limit: int, *, job_id: str | None = None,
                        before: RunCursor | None = None) -> list[RunRecord]:
        if limit <= 0:
            return []
        before = t.checked_cursor(before)
        with self._lock:
            runs = [self._runs[key[0]][key[1]] for key in self._dead
                    if job_id is None or key[0] == job_id]
        runs = [run for run in runs if t.after_cursor(run, before)]
        runs.sort(key=run_cursor, reverse=True)
        return [self._out(run) for run in runs[:limit]]

    async def run_counts(self, job_ids: Sequence[str],
                         since: datetime) -> dict[str, dict[str, int]]:
        since = t.to_utc(since, "since")
        counts = t.empty_counts(t.unique_ids(job_ids))
        with self._lock:
            for job_id, buckets in counts.items():
                for run in self._runs.get(job_id, {}).values():
                    if run.created_at is not None and run.created_at >= since:
                        buckets[t.BUCKET_OF_STATUS[run.status.value]] += 1
        return counts

    async def acquire_lease(self, job_id: str, execution_id: str, attempt: int, holder: str,
                            now: datetime, lease_until: datetime) -> LeaseResult:
        with self._lock:
            result = t.decide_lease(self._run(job_id, execution_id), attempt, holder, now,
                                    lease_until)
            if result.outcome is LeaseOutcome.ACQUIRED and result.run is not None:
                self._put(result.run)
        if result.run is None:
            return result
        return LeaseResult(result.outcome, self._out(result.run), result.taken_over)

    async def finish_attempt(self, job_id: str, execution_id: str, holder: str,
                             result: RunResult) -> RunRecord | None:
        with self._lock:
            run = t.finished_run(self._run(job_id, execution_id), holder, result)
            if run is None:
                return None
            self._put(run)
            job = t.job_after_run(self._jobs.get(job_id), run)
            if job is not None:
                self._jobs[job_id] = job
        return self._out(run)

    async def record_skip(self, run: RunRecord) -> bool:
        with self._lock:
            skipped = t.skipped_run(self._run(run.job_id, run.execution_id), run)
            if skipped is None:
                return False
            self._put(skipped)
            return True

    async def reopen_run(self, job_id: str, execution_id: str, now: datetime) -> RunRecord | None:
        with self._lock:
            run = t.reopened_run(self._run(job_id, execution_id), now)
            if run is None:
                return None
            self._put(run)
        return self._out(run)

    async def overdue_runs(self, cutoff: datetime, limit: int) -> list[OverdueRun]:
        if limit <= 0:
            return []
        cutoff = t.to_utc(cutoff, "cutoff")
        with self._lock:
            found = [OverdueRun(self._runs[job_id][execution_id], due_at)
                     for (job_id, execution_id), due_at in self._due.items() if due_at <= cutoff]
        found.sort(key=t.recovery_order)
        return [OverdueRun(self._out(item.run), item.due_at) for item in found[:limit]]

    async def defer_overdue(self, seen: OverdueRun, until: datetime) -> bool:
        until = t.to_utc(until, "until")
        key = (seen.run.job_id, seen.run.execution_id)
        with self._lock:
            if not t.may_defer(self._run(*key), self._due.get(key), seen):
                return False
            self._due[key] = until
            return True
