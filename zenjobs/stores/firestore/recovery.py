"""The Firestore store's overdue-run index: the reconciler's query and its deferral.

Every run document carries ``due_at`` (:func:`~.transitions.run_due_at`,
written by :func:`.codec.encode_run` with every run write): when the
run's next step was due, null once the run is final. Runs live at
``{collection}/{job_id}/runs/{execution_id}``, one subcollection per job, so
finding overdue ones across all jobs is a *collection-group* query on ``runs``::

    due_at <= cutoff ORDER BY due_at LIMIT n

served by a single-field index on ``due_at`` with collection-group scope
(:data:`OVERDUE_INDEX`; ``zenjobs gen-infra`` declares it, the emulator needs
none). A null is in no range, so only overdue runs are read: the cost follows
stuck runs, never the run history. Kept apart from :mod:`.firestore` (jobs and
the delivery path) as :mod:`.recovery` is from the SQLite store.

Run documents written by a zenjobs without this field have no ``due_at`` and
stay out of the index until their next write.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .. import transitions as t
from ..records import OverdueRun, RunRecord
from . import codec as codec
from .documents import RUNS_SUBCOLLECTION, Documents, FirestoreDocuments, Writes

log = logging.getLogger("zenjobs.stores.firestore")

#: (collection group, field, order, query scope) of the one index the query needs.
OVERDUE_INDEX = (RUNS_SUBCOLLECTION, "due_at", "ASCENDING", "COLLECTION_GROUP")
DUE_FIELD = OVERDUE_INDEX[1]


class FirestoreRecovery(FirestoreDocuments):
    """:meth:`overdue_runs` and :meth:`defer_overdue` of the Firestore store."""

    async def overdue_runs(self, cutoff: datetime, limit: int) -> list[OverdueRun]:
        """One collection-group query: documents read = overdue runs returned (1 when none).

        A database shared with another zenjobs collection (or any other ``runs``
        collection whose documents have a ``due_at``) returns those documents
        too: they are read, billed, and left out.
        """
        if limit <= 0:
            return []
        from google.cloud.firestore import FieldFilter

        query = (self.client().collection_group(RUNS_SUBCOLLECTION)
                 .where(filter=FieldFilter(DUE_FIELD, "<=", t.to_utc(cutoff, "cutoff")))
                 .order_by(DUE_FIELD).limit(limit))

        async def collect() -> tuple[list[OverdueRun], int]:
            found, read = [], 0
            async for snapshot in query.stream(**self._rpc()):
                read += 1
                parts = snapshot.reference.path.split("/")
                if len(parts) != 4 or parts[0] != self.collection:
                    continue  # not {collection}/{job_id}/runs/{execution_id}: not ours
                data = snapshot.to_dict() or {}
                due_at, run = codec.stored_due_at(data), self._run_of(parts[1], parts[3], data)
                if due_at is not None and not run.status.is_final:  # final: a hand edit
                    found.append(OverdueRun(run, due_at))
            return found, read

        found, read = await self._guard("overdue_runs", collect())
        self._count("overdue_runs", max(1, read))  # an empty query is billed one read
        return sorted(found, key=t.recovery_order)

    async def defer_overdue(self, seen: OverdueRun, until: datetime) -> bool:
        """Compare-and-set of ``due_at`` alone (one read, one write).

        ``expire_at`` is kept at least ``run_retention`` past ``until``, as for any
        instant a run that is not final still waits for.
        """
        until = t.to_utc(until, "until")
        job_id, execution_id = seen.run.job_id, seen.run.execution_id

        def decide(docs: Documents) -> tuple[bool, Writes]:
            data = docs[0]
            if data is None:
                return False, {}
            run = self._run_of(job_id, execution_id, data)
            if not t.may_defer(run, codec.stored_due_at(data), seen):
                return False, {}
            keep = max(codec.expire_at(run, self.run_retention), until + self.run_retention)
            return True, {0: {DUE_FIELD: until, "expire_at": keep}}

        return await self._compare_and_set("defer_overdue",
                                           [self._run_ref(job_id, execution_id)], decide)

    @staticmethod
    def _run_of(job_id: str, execution_id: str, data: Mapping[str, Any]) -> RunRecord:
        """A run document as a record (never raises); its problems are logged."""
        run, problems = codec.decode_run(job_id, execution_id, data)
        if problems:
            log.warning("run record %s/%s has problems: %s", job_id, execution_id,
                        "; ".join(problems))
        return run
