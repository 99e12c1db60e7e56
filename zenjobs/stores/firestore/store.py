"""The production :class:`~zenjobs.stores.protocol.JobStore`, on Google Cloud Firestore.

Layout (see ``docs/firestore.md``): one document per job at
``{collection}/{job_id}`` holding its editable config and runtime state, and one
per execution at ``{collection}/{job_id}/runs/{execution_id}`` with an
``expire_at`` field for a TTL policy.

Every state change (claims, leases, attempt ends, skips, replays, edits) is one
atomic compare-and-set: read the documents, decide with the pure functions of
:mod:`zenjobs.stores.transitions` (the ones the memory and SQLite stores
use, so the three agree by construction), and commit the writes in one batch
conditioned on the documents being unchanged since the read. Creating a run
record is a ``create`` (precondition: it must not exist).

Cost: :meth:`FirestoreJobStore.due_jobs` is one indexed query whose result is
the due jobs, so the documents read per tick grow with due jobs, not with
registered jobs; :meth:`FirestoreJobStore.overdue_runs` likewise reads only
overdue runs (a collection-group query on ``due_at``, which final runs do not
carry); the dashboard's queries (:mod:`.queries`, and :meth:`FirestoreJobStore.list_runs`
with a cursor) read only the documents they return;
:attr:`FirestoreJobStore.reads` counts documents read (what Firestore bills) so
tests can prove it.

google.cloud is imported on first use, never at import time: a service that
imports zenjobs pays for the SDK only when it talks to Firestore.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ...errors import UnknownJobError
from .. import transitions as t
from ..records import (
    EDIT_HISTORY,
    ConfigEdit,
    EditRecord,
    EditResult,
    JobConfig,
    JobRecord,
    LeaseOutcome,
    LeaseResult,
    RunCursor,
    RunRecord,
    RunResult,
)
from . import codec as codec
from .documents import CONFLICTS as CONFLICTS
from .documents import RUNS_SUBCOLLECTION as RUNS_SUBCOLLECTION
from .documents import TRANSIENT as TRANSIENT
from .documents import Documents, Writes
from .queries import DEAD_RUNS_INDEX as DEAD_RUNS_INDEX
from .queries import JOB_DEAD_RUNS_INDEX as JOB_DEAD_RUNS_INDEX
from .queries import RUN_COUNTS_INDEX as RUN_COUNTS_INDEX
from .queries import FirestoreQueries
from .recovery import OVERDUE_INDEX as OVERDUE_INDEX

if TYPE_CHECKING:
    from google.cloud.firestore import AsyncCollectionReference, AsyncQuery

log = logging.getLogger("zenjobs.stores.firestore")

#: Composite indexes of the ``jobs`` collection: the due query, and the exact
#: priority order used when more jobs are due than one batch. gen-infra declares both.
DUE_INDEXES = (
    (("enabled", "ASCENDING"), ("next_run_at", "ASCENDING")),
    (("enabled", "ASCENDING"), ("priority", "DESCENDING"), ("next_run_at", "ASCENDING")),
)
TTL_FIELD = "expire_at"  # a TTL policy on collection group ``runs`` deletes old records
#: ``{collection}/{job_id}/edits/{seq % EDIT_HISTORY}``: the job's latest edits, a ring.
EDITS_SUBCOLLECTION = "edits"


class FirestoreJobStore(FirestoreQueries):
    """Job documents and run records in Firestore (native mode), via the async client.

    The client, counted reads and the compare-and-set step are
    :class:`~zenjobs.stores.firestore.documents.FirestoreDocuments`; this class
    is what the :class:`~zenjobs.stores.protocol.JobStore` protocol asks of them,
    the overdue-run index (:class:`~.recovery.FirestoreRecovery`) and the
    dashboard's queries (:class:`~.queries.FirestoreQueries`) apart.
    """

    def _decode_run(self, job_id: str, execution_id: str,
                    data: Mapping[str, Any] | None) -> RunRecord | None:
        return None if data is None else self._run_of(job_id, execution_id, data)

    def _encode_run(self, run: RunRecord) -> dict[str, Any]:
        return codec.encode_run(run, self.run_retention)

    # -- jobs ----------------------------------------------------------------------------

    async def ensure_job(self, job_id: str, config: JobConfig, next_run_at: datetime | None,
                         now: datetime) -> tuple[JobRecord, bool]:
        document = codec.encode_job(t.new_job(job_id, config, next_run_at, now))

        def decide(docs: Documents) -> tuple[tuple[JobRecord, bool], Writes]:
            if docs[0] is not None:
                return (codec.decode_job(job_id, docs[0]), False), {}
            return (codec.decode_job(job_id, document), True), {0: document}

        return await self._compare_and_set("ensure_job", [self._job_ref(job_id)], decide)

    async def get_job(self, job_id: str) -> JobRecord | None:
        data = await self._read("get_job", self._job_ref(job_id))
        return None if data is None else codec.decode_job(job_id, data)

    async def list_jobs(self) -> list[JobRecord]:
        jobs = await self._query("list_jobs", self._jobs())
        return sorted(jobs, key=lambda job: job.job_id)

    async def update_job(self, job_id: str, *, config: JobConfig | None = None,
                         next_run_at: datetime | object | None = ...,
                         misconfigured: str | object | None = ..., now: datetime) -> JobRecord:
        """Write what is given; a new config also drops fields zenjobs never writes.

        That is what rewriting the SQLite store's config column does to an unknown
        config field, and what lets ``zenjobs sync --reset`` restore a document
        flagged for a typo (``enabeld``) or a wrong ``job_id``.
        """
        from google.cloud.firestore import DELETE_FIELD

        def decide(docs: Documents) -> tuple[JobRecord, Writes]:
            data = docs[0]
            if data is None:
                raise UnknownJobError(job_id)
            new = t.updated_job(codec.decode_job(job_id, data), config, next_run_at,
                                misconfigured, now)
            changes: dict[str, Any] = {"updated_at": new.updated_at}
            stale: list[str] = []
            if config is not None:
                changes.update(codec.encode_config(new.config), job_id=job_id)
                stale = [name for name in data if name not in codec.JOB_FIELDS]
            if next_run_at is not ...:
                changes["next_run_at"] = new.next_run_at
            if misconfigured is not ...:
                changes["misconfigured"] = new.misconfigured
            kept = {name: value for name, value in data.items() if name not in stale}
            writes = {**changes, **{self.client().field_path(name): DELETE_FIELD
                                    for name in stale}}
            return codec.decode_job(job_id, {**kept, **changes}), {0: writes}

        return await self._compare_and_set("update_job", [self._job_ref(job_id)], decide)

    async def edit_job(self, job_id: str, edit: ConfigEdit, now: datetime) -> EditResult:
        """Update only the changed fields, conditioned on the document as read; record the edit.

        One compare-and-set on the job document: a concurrent edit of another field
        makes the commit fail, and the edit is applied again to the document as it
        is then, so both are kept. The history entry goes in the same batch, at
        slot ``seq % EDIT_HISTORY`` of ``edits``, numbered by the document's
        ``edit_count``: bounded, and never read before it is written.
        """
        from google.cloud.firestore import DELETE_FIELD

        def decide(docs: Documents) -> tuple[EditResult, Writes]:
            data = docs[0]
            if data is None:
                raise UnknownJobError(job_id)
            job = codec.decode_job(job_id, data)
            edited = t.edited_job(job, edit, now, codec.edit_count(data) + 1)
            if edited is None:
                return EditResult(job, job, None), {}
            new, record = edited
            encoded = codec.encode_config(new.config)
            changes: dict[str, Any] = {"updated_at": new.updated_at, codec.EDIT_COUNT: record.seq}
            stale: list[str] = []
            if edit.restore:  # as update_job with a config: fields zenjobs never writes go
                changes.update(encoded, job_id=job_id, misconfigured=None)
                stale = [name for name in data if name not in codec.JOB_FIELDS]
            else:
                changes.update({c.field: encoded[c.field] for c in record.changes})
            if new.next_run_at != job.next_run_at:
                changes["next_run_at"] = new.next_run_at
            kept = {name: value for name, value in data.items() if name not in stale}
            update = {**changes, **{self.client().field_path(name): DELETE_FIELD
                                    for name in stale}}
            after = codec.decode_job(job_id, {**kept, **changes})
            return EditResult(job, after, record), {
                0: update, self._edit_path(job_id, record.seq): codec.encode_edit(record)}

        return await self._compare_and_set("edit_job", [self._job_ref(job_id)], decide)

    def _edit_path(self, job_id: str, seq: int) -> str:
        return f"{self.collection}/{job_id}/{EDITS_SUBCOLLECTION}/{seq % EDIT_HISTORY:02d}"

    async def list_edits(self, job_id: str, limit: int) -> list[EditRecord]:
        """One query on ``edits`` ordered by ``seq`` (a single-field index Firestore keeps)."""
        if limit <= 0:
            return []
        from google.cloud.firestore import Query

        query = (self._job_ref(job_id).collection(EDITS_SUBCOLLECTION)
                 .order_by("seq", direction=Query.DESCENDING).limit(limit))

        async def collect() -> list[EditRecord]:
            edits = []
            async for s in query.stream(**self._rpc()):
                record, problems = codec.decode_edit(job_id, s.to_dict() or {})
                if problems:
                    log.warning("edit record %s/%s has problems: %s", job_id, s.id,
                                "; ".join(problems))
                edits.append(record)
            return edits

        edits = await self._guard("list_edits", collect())
        self._count("list_edits", max(1, len(edits)))
        return edits

    async def due_jobs(self, now: datetime, limit: int) -> list[JobRecord]:
        """Due jobs by priority desc, next_run_at asc; documents read = due jobs returned.

        The usual case is one query ordered by ``next_run_at``: when it does not
        fill the batch it holds every due job, so sorting it is exact. When it
        fills the batch, more jobs may be due than fit, and the batch is read
        again in exact priority order from the second index (one more batch of
        reads, only while a backlog exists). Either way only due jobs are read.
        """
        if limit <= 0:
            return []
        from google.cloud.firestore import FieldFilter, Query

        now = t.to_utc(now, "now")
        base = (self._jobs().where(filter=FieldFilter("enabled", "==", True))
                .where(filter=FieldFilter("next_run_at", "<=", now)))
        jobs = await self._query("due_jobs", base.order_by("next_run_at").limit(limit))
        if len(jobs) >= limit:
            by_priority = base.order_by("priority", direction=Query.DESCENDING)
            jobs = await self._query("due_jobs", by_priority.order_by("next_run_at").limit(limit))
        due = [job for job in jobs if t.is_due(job, now)]
        due.sort(key=t.due_order)
        return due[:limit]

    async def _query(self, operation: str,
                     query: AsyncQuery | AsyncCollectionReference) -> list[JobRecord]:
        async def collect() -> list[JobRecord]:
            return [codec.decode_job(s.id, s.to_dict() or {})
                    async for s in query.stream(**self._rpc())]

        jobs = await self._guard(operation, collect())
        self._count(operation, max(1, len(jobs)))  # an empty query is billed one read
        return jobs

    async def claim_slot(self, job_id: str, expected_next_run_at: datetime,
                         new_next_run_at: datetime | None, now: datetime) -> bool:
        expected = t.to_utc(expected_next_run_at, "expected_next_run_at")

        def decide(docs: Documents) -> tuple[bool, Writes]:
            if docs[0] is None:
                return False, {}
            job = codec.decode_job(job_id, docs[0])
            if job.next_run_at != expected:
                return False, {}
            new = t.updated_job(job, None, new_next_run_at, ..., now)
            return True, {0: {"next_run_at": new.next_run_at, "updated_at": new.updated_at}}

        return await self._compare_and_set("claim_slot", [self._job_ref(job_id)], decide)

    # -- runs ----------------------------------------------------------------------------

    async def create_run(self, run: RunRecord) -> bool:
        from google.api_core import exceptions as gexc

        document = self._encode_run(t.normalize_run(run))
        ref = self._run_ref(run.job_id, run.execution_id)
        try:
            # retry=None: a retried create that already landed would say AlreadyExists.
            await self._guard("create_run", ref.create(document, retry=None,
                                                       timeout=self.rpc_timeout),
                              expected=frozenset({"ALREADY_EXISTS"}))
        except gexc.AlreadyExists:
            return False
        return True

    async def get_run(self, job_id: str, execution_id: str) -> RunRecord | None:
        data = await self._read("get_run", self._run_ref(job_id, execution_id))
        return self._decode_run(job_id, execution_id, data)

    async def list_runs(self, job_id: str, limit: int, *,
                        before: RunCursor | None = None) -> list[RunRecord]:
        """One query on the job's ``runs``: ``created_at`` DESC, ``__name__`` DESC.

        ``__name__`` (the execution id) DESC is the tie-break Firestore applies
        anyway after a descending order, spelled out so that ``start_after`` the
        cursor's (``created_at``, execution id) resumes exactly where the page ended.
        Single-field indexes serve it; documents read = runs returned.
        """
        if limit <= 0:
            return []
        from google.cloud.firestore import Query

        cursor = t.checked_cursor(before)
        query = (self._job_ref(job_id).collection(RUNS_SUBCOLLECTION)
                 .order_by("created_at", direction=Query.DESCENDING)
                 .order_by("__name__", direction=Query.DESCENDING))
        if cursor is not None:  # one job's runs: the cursor's job id plays no part
            query = self._start_after(query, (cursor[0], job_id, cursor[2]), job_id)
        query = query.limit(limit)

        async def collect() -> list[RunRecord]:
            runs = []
            async for s in query.stream(**self._rpc()):
                run = self._decode_run(job_id, s.id, s.to_dict() or {})
                if run is not None:
                    runs.append(run)
            return runs

        runs = await self._guard("list_runs", collect())
        self._count("list_runs", max(1, len(runs)))
        runs.sort(key=lambda r: (r.created_at or codec.EPOCH, r.execution_id), reverse=True)
        return runs

    async def acquire_lease(self, job_id: str, execution_id: str, attempt: int, holder: str,
                            now: datetime, lease_until: datetime) -> LeaseResult:
        def decide(docs: Documents) -> tuple[LeaseResult, Writes]:
            run = self._decode_run(job_id, execution_id, docs[0])
            result = t.decide_lease(run, attempt, holder, now, lease_until)
            if result.outcome is LeaseOutcome.ACQUIRED and result.run is not None:
                return result, {0: self._encode_run(result.run)}
            return result, {}

        return await self._compare_and_set("acquire_lease",
                                           [self._run_ref(job_id, execution_id)], decide)

    async def finish_attempt(self, job_id: str, execution_id: str, holder: str,
                             result: RunResult) -> RunRecord | None:
        refs = [self._run_ref(job_id, execution_id)]
        if result.status.is_completed:  # only a completed run writes the job's last_status
            refs.append(self._job_ref(job_id))

        def decide(docs: Documents) -> tuple[RunRecord | None, Writes]:
            run = t.finished_run(self._decode_run(job_id, execution_id, docs[0]), holder, result)
            if run is None:
                return None, {}
            writes: Writes = {0: self._encode_run(run)}
            job_data = docs[1] if len(docs) > 1 else None
            job = None if job_data is None else codec.decode_job(job_id, job_data)
            after = t.job_after_run(job, run)
            if after is not None and after.last_status is not None:
                writes[1] = {"last_status": after.last_status.value,
                             "last_run_at": after.last_run_at,
                             "last_execution_id": after.last_execution_id,
                             "updated_at": after.updated_at}
            return run, writes

        return await self._compare_and_set("finish_attempt", refs, decide)

    async def record_skip(self, run: RunRecord) -> bool:
        def decide(docs: Documents) -> tuple[bool, Writes]:
            existing = self._decode_run(run.job_id, run.execution_id, docs[0])
            skipped = t.skipped_run(existing, run)
            if skipped is None:
                return False, {}
            return True, {0: self._encode_run(skipped)}

        return await self._compare_and_set("record_skip",
                                           [self._run_ref(run.job_id, run.execution_id)], decide)

    async def reopen_run(self, job_id: str, execution_id: str, now: datetime) -> RunRecord | None:
        def decide(docs: Documents) -> tuple[RunRecord | None, Writes]:
            run = t.reopened_run(self._decode_run(job_id, execution_id, docs[0]), now)
            return run, ({} if run is None else {0: self._encode_run(run)})

        return await self._compare_and_set("reopen_run", [self._run_ref(job_id, execution_id)],
                                           decide)
