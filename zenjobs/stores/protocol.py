"""The store seam: :class:`JobStore`, job config, state, runs, claims and leases.

The runtime depends only on this protocol; the implementations sit beside it
in this package: :mod:`.memory` (the in-process stub), :mod:`.sqlite`
(``zenjobs dev`` and single-instance services) and :mod:`.firestore`
(production). One contract suite (``tests/contract``) runs over all three.

Every store method that changes state is atomic on its own: the runtime never
does read-modify-write across two calls, so two instances (or two ticks) racing
on the same job or execution can never both win.

The read-only queries a dashboard pages through (:meth:`JobStore.get_jobs`,
:meth:`JobStore.list_runs` with a cursor, :meth:`JobStore.dead_runs`,
:meth:`JobStore.run_counts`) are each answered from an index, in batches bounded
by what they return: a page of a dashboard never scans all jobs or all runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from .records import (
    ConfigEdit,
    EditRecord,
    EditResult,
    JobConfig,
    JobRecord,
    LeaseResult,
    OverdueRun,
    RunCursor,
    RunRecord,
    RunResult,
)


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

    async def get_jobs(self, job_ids: Sequence[str]) -> dict[str, JobRecord]:
        """The documents of ``job_ids`` by job id, read in batches; missing ones are absent.

        For a dashboard page that shows some jobs (never :meth:`list_jobs`, which
        reads them all): each record is what :meth:`get_job` returns for it, a
        misconfigured document included. A few batched reads (SQLite: one
        ``IN`` query per 500 ids; Firestore: one ``BatchGetDocuments`` per 300).
        """
        ...

    async def list_jobs(self) -> list[JobRecord]: ...

    async def update_job(self, job_id: str, *, config: JobConfig | None = None,
                         next_run_at: datetime | object | None = ...,
                         misconfigured: str | object | None = ..., now: datetime) -> JobRecord:
        """Overwrite config and/or state fields (``...`` = leave unchanged).

        The config is written whole: a caller that reads, changes a field and
        writes back can lose a concurrent edit. Operators' edits use :meth:`edit_job`.
        """
        ...

    async def edit_job(self, job_id: str, edit: ConfigEdit, now: datetime) -> EditResult:
        """Apply a field-level config edit to the stored document and record it, atomically.

        In one atomic step: read the document, apply only ``edit.changes`` to it
        (:func:`~.transitions.edited_job`: ``edit.plan`` validates the merged config
        and picks ``next_run_at``), write only the fields that changed and append
        the edit to the job's history (the latest
        :data:`~.records.EDIT_HISTORY` are kept). Concurrent edits of different
        fields are all kept; of the same field, the last writer wins and both are
        recorded. An edit that changes nothing writes nothing. Raises
        :class:`~zenjobs.errors.UnknownJobError` when the job has no document.
        """
        ...

    async def list_edits(self, job_id: str, limit: int) -> list[EditRecord]:
        """The job's recorded edits, newest first, at most ``limit``: one query."""
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

    async def list_runs(self, job_id: str, limit: int, *,
                        before: RunCursor | None = None) -> list[RunRecord]:
        """The job's runs, most recent first, at most ``limit``: one indexed query.

        Ordered by ``created_at`` then ``execution_id``, both descending. With
        ``before`` (:func:`~.records.run_cursor` of the last run of the previous
        page; its job id is not used) only the runs strictly after it in that
        order, so a dashboard pages through a job's history, each run seen once,
        without ever reading the pages before.
        """
        ...

    async def dead_runs(self, limit: int, *, job_id: str | None = None,
                        before: RunCursor | None = None) -> list[RunRecord]:
        """Runs whose retries ran out (DEAD), across all jobs or of ``job_id``, newest first.

        For the dashboard's dead-letter page: ordered by ``created_at``, job id,
        execution id, all descending, at most ``limit``, strictly after ``before``
        (:func:`~.records.run_cursor` of the previous page's last run). One
        indexed query on the runs' status, so its cost follows the dead runs
        returned, never all runs (Firestore: :data:`~.firestore.DEAD_RUNS_INDEX`).
        """
        ...

    async def run_counts(self, job_ids: Sequence[str],
                         since: datetime) -> dict[str, dict[str, int]]:
        """Per job, its runs created at or after ``since``, counted by status bucket.

        For the dashboard's per-job summary: every requested job is a key, and
        each maps every bucket of :data:`~.records.RUN_COUNT_BUCKETS` to a count
        (0 when none). Counted in the store from an index on (job, created_at)
        or (status, created_at), never by reading the runs (Firestore: ``count()``
        aggregations, :data:`~.firestore.RUN_COUNTS_INDEX`).
        """
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

    async def overdue_runs(self, cutoff: datetime, limit: int) -> list[OverdueRun]:
        """Runs whose next step was due at or before ``cutoff``, most overdue first.

        Every run write stores ``due_at`` (:func:`~.transitions.run_due_at`: when
        a pending run's task, a retry, or a lease's end was due; nothing for a
        final run), so this is one indexed query: it costs in proportion to the
        overdue runs returned, never to all runs. Ordered by ``due_at``, then job
        id and execution id; at most ``limit``.
        """
        ...

    async def defer_overdue(self, seen: OverdueRun, until: datetime) -> bool:
        """Move the run's ``due_at`` to ``until`` if it is still as ``seen`` (True), else False.

        Atomic and conditional (:func:`~.transitions.may_defer`): status, attempt
        and ``due_at`` unchanged since :meth:`overdue_runs` read them. Only
        ``due_at`` changes; the next state write of the run computes it afresh.
        """
        ...
