"""The Firestore store's dashboard queries: batch job reads, dead runs, run counts.

What a dashboard page asks, each answered from an index so that it never reads
all jobs or all runs:

* :meth:`FirestoreQueries.get_jobs`: ``BatchGetDocuments`` (``get_all``), one RPC
  per :data:`GET_ALL_CHUNK` ids; documents read = ids asked for.
* :meth:`FirestoreQueries.dead_runs`: a collection-group query on ``runs``::

      status == "dead" ORDER BY created_at DESC, __name__ DESC LIMIT n

  served by the composite index :data:`DEAD_RUNS_INDEX` (collection-group
  scope); documents read = dead runs returned. For one job the same query runs
  on the job's own ``runs`` subcollection, which needs the same fields indexed
  with collection scope, :data:`JOB_DEAD_RUNS_INDEX` (a collection-group query
  rooted below the database root would share the first, but the emulator
  refuses one).
* :meth:`FirestoreQueries.run_counts`: per job and bucket of
  :data:`~.records.RUN_COUNT_BUCKETS`, one ``count()`` aggregation on the job's
  ``runs``::

      status IN [...] AND created_at >= since

  served by :data:`RUN_COUNTS_INDEX` (collection scope). Firestore bills one
  read per 1000 index entries counted (at least one), and reads no document.

The emulator needs no index; ``zenjobs gen-infra`` declares all three (the Terraform
module's ``firestore.tf``) and ``tests/infra`` checks they match these constants.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from .. import transitions as t
from ..records import RUN_COUNT_BUCKETS, JobRecord, RunCursor, RunRecord, RunStatus
from . import codec as codec
from .documents import RUNS_SUBCOLLECTION
from .recovery import FirestoreRecovery

if TYPE_CHECKING:
    from google.cloud.firestore import AsyncCollectionReference, AsyncQuery

log = logging.getLogger("zenjobs.stores.firestore")

#: (collection group, query scope, fields in order) of the dead-runs query's index.
#: Firestore appends ``__name__`` in the last field's direction (DESCENDING), the
#: query's tie-break.
DEAD_RUNS_INDEX = (RUNS_SUBCOLLECTION, "COLLECTION_GROUP",
                   (("status", "ASCENDING"), ("created_at", "DESCENDING")))
#: The same fields with collection scope: the dead runs of one job (its subcollection).
JOB_DEAD_RUNS_INDEX = (RUNS_SUBCOLLECTION, "COLLECTION", DEAD_RUNS_INDEX[2])
#: (collection group, query scope, fields in order) of the run counts' index.
RUN_COUNTS_INDEX = (RUNS_SUBCOLLECTION, "COLLECTION",
                    (("status", "ASCENDING"), ("created_at", "ASCENDING")))

#: References per ``BatchGetDocuments`` RPC.
GET_ALL_CHUNK = 300
#: Aggregation queries of one :meth:`FirestoreQueries.run_counts` in flight at once.
COUNT_CONCURRENCY = 16
#: Index entries a count aggregation reads per billed document read.
COUNT_ENTRIES_PER_READ = 1000

_DEAD = RunStatus.DEAD.value


class FirestoreQueries(FirestoreRecovery):
    """:meth:`get_jobs`, :meth:`dead_runs` and :meth:`run_counts` of the Firestore store."""

    async def get_jobs(self, job_ids: Sequence[str]) -> dict[str, JobRecord]:
        """Batched reads: documents read = ids asked for (a missing one is billed too)."""
        ids = t.unique_ids(job_ids)
        if not ids:
            return {}
        chunks = [ids[start:start + GET_ALL_CHUNK] for start in range(0, len(ids), GET_ALL_CHUNK)]

        async def read(chunk: list[str]) -> list[JobRecord]:
            refs = [self._job_ref(job_id) for job_id in chunk]
            return [codec.decode_job(s.id, s.to_dict() or {})
                    async for s in self.client().get_all(refs, **self._rpc()) if s.exists]

        batches = await self._guard("get_jobs", asyncio.gather(*(read(c) for c in chunks)))
        self._count("get_jobs", len(ids))
        return {job.job_id: job for batch in batches for job in batch}

    async def dead_runs(self, limit: int, *, job_id: str | None = None,
                        before: RunCursor | None = None) -> list[RunRecord]:
        """One indexed query (:data:`DEAD_RUNS_INDEX`): documents read = dead runs returned.

        Across all jobs it is a collection-group query, so any other ``runs``
        collection of the database with DEAD-looking documents is read too (and
        left out, as by :meth:`overdue_runs`); the page is then read on from the
        last document until it holds ``limit`` runs or the query runs out.
        """
        if limit <= 0:
            return []
        from google.cloud.firestore import FieldFilter, Query

        cursor = t.checked_cursor(before)
        runs: AsyncQuery | AsyncCollectionReference
        if job_id is None:
            runs = self.client().collection_group(RUNS_SUBCOLLECTION)
        else:  # the job's own subcollection (JOB_DEAD_RUNS_INDEX)
            runs = self._job_ref(job_id).collection(RUNS_SUBCOLLECTION)
        base = (runs.where(filter=FieldFilter("status", "==", _DEAD))
                .order_by("created_at", direction=Query.DESCENDING)
                .order_by("__name__", direction=Query.DESCENDING))
        first = base if cursor is None else self._start_after(base, cursor, job_id)

        async def collect() -> tuple[list[RunRecord], int]:
            found: list[RunRecord] = []
            read = 0
            last = None  # the last document read: where a further page starts
            while len(found) < limit:
                wanted = limit - len(found)
                query = first if last is None else base.start_after(last)
                got = 0
                async for snapshot in query.limit(wanted).stream(**self._rpc()):
                    got, last = got + 1, snapshot
                    parts = snapshot.reference.path.split("/")
                    if len(parts) != 4 or parts[0] != self.collection:
                        continue  # not {collection}/{job_id}/runs/{execution_id}: not ours
                    found.append(self._run_of(parts[1], parts[3], snapshot.to_dict() or {}))
                read += got
                if got < wanted:
                    break  # the query ran out
            return found, read

        found, read = await self._guard("dead_runs", collect())
        self._count("dead_runs", max(1, read))  # an empty query is billed one read
        return found

    def _start_after(self, query: AsyncQuery, cursor: RunCursor,
                     job_id: str | None) -> AsyncQuery:
        """``query`` (ordered by created_at, ``__name__``, both DESC) from after ``cursor``.

        The cursor is a position in (created_at, job id, execution id) order; ``__name__``,
        ``{collection}/{job_id}/runs/{execution_id}``, orders the same way. On one
        job's subcollection (``job_id`` given) only that job's place at the
        cursor's instant matters: all of its runs at that instant come after a
        cursor of a larger job id, none after one of a smaller. An empty id names
        no document: it is the smallest, so the position is the instant alone or,
        across jobs, the job's own document (after the runs of smaller job ids,
        before its own).
        """
        created_at, after_job, after_execution = cursor
        at_instant = {"created_at": created_at}
        if job_id is not None:
            if job_id < after_job:
                return query.start_at(at_instant)  # every run of this job at the instant
            if job_id > after_job or not after_execution:
                return query.start_after(at_instant)  # none at the instant
            return query.start_after({**at_instant,
                                      "__name__": self._run_ref(job_id, after_execution)})
        if not after_job:
            return query.start_after(at_instant)
        document = (self._run_ref(after_job, after_execution) if after_execution
                    else self._job_ref(after_job))
        return query.start_after({**at_instant, "__name__": document})

    async def run_counts(self, job_ids: Sequence[str],
                         since: datetime) -> dict[str, dict[str, int]]:
        """One ``count()`` per job and bucket (:data:`RUN_COUNTS_INDEX`), 16 at a time."""
        from google.cloud.firestore import FieldFilter

        since = t.to_utc(since, "since")
        counts = t.empty_counts(t.unique_ids(job_ids))
        if not counts:
            return counts
        gate = asyncio.Semaphore(COUNT_CONCURRENCY)

        async def count(job_id: str, bucket: str) -> tuple[str, str, int]:
            statuses = [status.value for status in RUN_COUNT_BUCKETS[bucket]]
            query = (self._job_ref(job_id).collection(RUNS_SUBCOLLECTION)
                     .where(filter=FieldFilter("status", "in", statuses))
                     .where(filter=FieldFilter("created_at", ">=", since)))
            async with gate:
                results = await self._guard("run_counts", query.count(alias="n").get(
                    **self._rpc()))
            value = sum(int(result.value) for batch in results for result in batch)
            self._count("run_counts", max(1, -(-value // COUNT_ENTRIES_PER_READ)))
            return job_id, bucket, value

        for job_id, bucket, value in await asyncio.gather(
                *(count(job_id, bucket) for job_id in counts for bucket in RUN_COUNT_BUCKETS)):
            counts[job_id][bucket] = value
        return counts
