"""The production :class:`~zenjobs.backends.base.JobStore`, on Google Cloud Firestore.

Layout (see ``docs/firestore.md``): one document per job at
``{collection}/{job_id}`` holding its editable config and runtime state, and one
per execution at ``{collection}/{job_id}/runs/{execution_id}`` with an
``expire_at`` field for a TTL policy.

Every state change is one Firestore transaction (claims, leases, attempt
ends, skips, replays) or one precondition (``create``: the record must not
exist), and the decision inside it is the pure function of
:mod:`zenjobs.backends.transitions` that the memory and SQLite stores use, so
the three agree by construction and the contract suite checks it.

Cost: :meth:`due_jobs` is one indexed query whose result is the due jobs, so
the documents read per tick grow with due jobs, not with registered jobs.
:attr:`FirestoreJobStore.reads` counts documents read (what Firestore bills)
so tests can prove it.

google.cloud is imported on first use, never at import time: a service that
imports zenjobs pays for the SDK only when it talks to Firestore.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from ...errors import BackendUnavailableError, ConfigurationError, UnknownJobError
from .. import transitions as t
from ..base import (
    JobConfig,
    JobRecord,
    LeaseOutcome,
    LeaseResult,
    RunRecord,
    RunResult,
)
from . import firestore_codec as codec

if TYPE_CHECKING:
    from google.cloud.firestore import (
        AsyncClient,
        AsyncCollectionReference,
        AsyncDocumentReference,
        AsyncTransaction,
    )

T = TypeVar("T")
log = logging.getLogger("zenjobs.backends.firestore")

#: Index for the due query (``enabled ASC, next_run_at ASC``) and for the exact
#: priority order when more jobs are due than one batch (``enabled ASC,
#: priority DESC, next_run_at ASC``); gen-infra declares both.
DUE_INDEXES = (
    (("enabled", "ASCENDING"), ("next_run_at", "ASCENDING")),
    (("enabled", "ASCENDING"), ("priority", "DESCENDING"), ("next_run_at", "ASCENDING")),
)
RUNS_SUBCOLLECTION = "runs"
TTL_FIELD = "expire_at"


async def _reraise(exc: BaseException) -> None:
    raise exc


def _underlying(exc: ValueError) -> BaseException | None:
    """The error a library ValueError stands for (an aborted commit, a failed begin)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None or not isinstance(seen, ValueError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class FirestoreJobStore:
    """Job documents and run records in Firestore (native mode), via the async client.

    ``project``/``database`` build a default ``google.cloud.firestore.AsyncClient``
    (which honours ``FIRESTORE_EMULATOR_HOST``); ``client_factory`` replaces that.
    The client is created on first use, inside the running event loop, because
    gRPC channels belong to the loop that created them.
    """

    def __init__(self, project: str | None = None, *, database: str = "(default)",
                 collection: str = "jobs",
                 client_factory: Callable[[], AsyncClient] | None = None,
                 run_retention: timedelta = timedelta(days=30),
                 rpc_timeout: float = 30.0, transaction_attempts: int = 60) -> None:
        if not collection or "/" in collection:
            raise ConfigurationError(f"Firestore collection must be one path segment, "
                                     f"got {collection!r}")
        self.project = project
        self.database = database
        self.collection = collection
        self.run_retention = run_retention
        self.rpc_timeout = rpc_timeout
        self.transaction_attempts = transaction_attempts
        self._factory = client_factory
        self._client: AsyncClient | None = None
        #: Documents read, in total and per store operation (Firestore bills per document).
        self.reads = 0
        self.reads_by_operation: Counter[str] = Counter()

    # -- plumbing ------------------------------------------------------------------------

    def client(self) -> AsyncClient:
        if self._client is None:
            if self._factory is not None:
                self._client = self._factory()
            else:
                from google.cloud import firestore

                self._client = firestore.AsyncClient(project=self.project,
                                                     database=self.database)
        return self._client

    async def close(self) -> None:
        """Close the gRPC channel of the client this store created or was given."""
        client, self._client = self._client, None
        api = getattr(client, "_firestore_api_internal", None) if client else None
        transport = getattr(api, "transport", None)
        if transport is not None:
            await transport.close()

    def _jobs(self) -> AsyncCollectionReference:
        return self.client().collection(self.collection)

    def _job_ref(self, job_id: str) -> AsyncDocumentReference:
        return self._jobs().document(job_id)

    def _run_ref(self, job_id: str, execution_id: str) -> AsyncDocumentReference:
        ref: AsyncDocumentReference = (self._job_ref(job_id).collection(RUNS_SUBCOLLECTION)
                                       .document(execution_id))
        return ref

    def _count(self, operation: str, documents: int) -> None:
        self.reads += documents
        self.reads_by_operation[operation] += documents

    def _rpc(self) -> dict[str, Any]:
        """Per-call retry/timeout: transient errors retried with backoff up to ``rpc_timeout``."""
        from google.api_core import retry_async
        from google.api_core.retry import if_transient_error

        retry = retry_async.AsyncRetry(predicate=if_transient_error, initial=0.1, maximum=2.0,
                                       multiplier=2.0, timeout=self.rpc_timeout)
        return {"retry": retry, "timeout": self.rpc_timeout}

    async def _guard(self, operation: str, call: Awaitable[T]) -> T:
        """Await ``call``, turning transport failures into :class:`BackendUnavailableError`."""
        from google.api_core import exceptions as gexc

        try:
            return await call
        except (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError,
                gexc.ResourceExhausted, gexc.Aborted, gexc.RetryError, gexc.Unknown,
                gexc.Cancelled) as exc:
            raise BackendUnavailableError(
                f"Firestore {operation} failed ({type(exc).__name__}): {exc}") from exc
        except (gexc.PermissionDenied, gexc.Unauthenticated) as exc:
            raise ConfigurationError(
                f"Firestore {operation} refused ({type(exc).__name__}): {exc}; check the "
                f"project {self.project!r}, database {self.database!r} and the service "
                f"account's roles/datastore.user") from exc
        except OSError as exc:
            raise BackendUnavailableError(f"Firestore {operation} failed: {exc}") from exc

    async def _transact(self, operation: str,
                        body: Callable[[AsyncTransaction], Awaitable[T]]) -> T:
        """Run ``body`` in a transaction, retrying contention aborts with jittered backoff.

        The client library retries only an aborted *commit*; under contention a
        read can abort too, so the whole transaction is retried here, up to
        ``transaction_attempts`` times, before the store reports itself unavailable.
        """
        from google.api_core import exceptions as gexc
        from google.cloud import firestore

        last: BaseException | None = None
        for attempt in range(self.transaction_attempts):
            transaction = self.client().transaction(max_attempts=1)
            try:
                # begin/commit use the library's default retry (a minute of UNAVAILABLE
                # retries): bound each attempt so an outage is reported in rpc_timeout.
                call = asyncio.wait_for(firestore.async_transactional(body)(transaction),
                                        timeout=self.rpc_timeout)
                return await self._guard(operation, call)
            except BackendUnavailableError as exc:
                if not isinstance(exc.__cause__, gexc.Aborted):
                    raise
                last = exc
            except asyncio.TimeoutError as exc:
                raise BackendUnavailableError(
                    f"Firestore {operation}: no answer in {self.rpc_timeout}s") from exc
            except ValueError as exc:
                # The library wraps an aborted commit in ValueError, and a failed begin
                # surfaces as the ValueError of the rollback that follows it.
                cause = _underlying(exc)
                if isinstance(cause, gexc.Aborted):
                    last = exc
                elif isinstance(cause, (asyncio.CancelledError, asyncio.TimeoutError)):
                    raise BackendUnavailableError(
                        f"Firestore {operation}: no answer in {self.rpc_timeout}s") from exc
                elif isinstance(cause, gexc.GoogleAPICallError):
                    await self._guard(operation, _reraise(cause))
                    raise
                else:
                    raise
            await asyncio.sleep(random.uniform(0.0, min(0.5, 0.01 * 2 ** min(attempt, 6))))
        raise BackendUnavailableError(
            f"Firestore {operation}: transaction aborted {self.transaction_attempts} times "
            f"under contention") from last

    async def _read(self, operation: str, ref: AsyncDocumentReference,
                    transaction: AsyncTransaction | None = None) -> Mapping[str, Any] | None:
        if transaction is None:
            snapshot = await self._guard(operation, ref.get(**self._rpc()))
        else:
            snapshot = await ref.get(transaction=transaction)
        self._count(operation, 1)
        return snapshot.to_dict() if snapshot.exists else None

    def _decode_run(self, job_id: str, execution_id: str,
                    data: Mapping[str, Any] | None) -> RunRecord | None:
        if data is None:
            return None
        run, problems = codec.decode_run(job_id, execution_id, data)
        if problems:
            log.warning("run record %s/%s has problems: %s", job_id, execution_id,
                        "; ".join(problems))
        return run

    def _encode_run(self, run: RunRecord) -> dict[str, Any]:
        return codec.encode_run(run, self.run_retention)

    # -- jobs ----------------------------------------------------------------------------

    async def ensure_job(self, job_id: str, config: JobConfig, next_run_at: datetime | None,
                         now: datetime) -> tuple[JobRecord, bool]:
        from google.api_core import exceptions as gexc

        document = codec.encode_job(t.new_job(job_id, config, next_run_at, now))
        for _ in range(3):  # absent -> created; present -> read; deleted meanwhile -> again
            try:
                await self._guard("ensure_job", self._job_ref(job_id).create(document,
                                                                             **self._rpc()))
                return codec.decode_job(job_id, document), True
            except gexc.AlreadyExists:
                existing = await self.get_job(job_id)
                if existing is not None:
                    return existing, False
        raise BackendUnavailableError(f"Firestore ensure_job {job_id!r}: document keeps "
                                      "appearing and disappearing")

    async def get_job(self, job_id: str) -> JobRecord | None:
        data = await self._read("get_job", self._job_ref(job_id))
        return None if data is None else codec.decode_job(job_id, data)

    async def list_jobs(self) -> list[JobRecord]:
        async def collect() -> list[JobRecord]:
            return [codec.decode_job(s.id, s.to_dict() or {})
                    async for s in self._jobs().stream(**self._rpc())]

        jobs = await self._guard("list_jobs", collect())
        self._count("list_jobs", max(1, len(jobs)))
        return sorted(jobs, key=lambda job: job.job_id)

    async def update_job(self, job_id: str, *, config: JobConfig | None = None,
                         next_run_at: datetime | object | None = ...,
                         misconfigured: str | object | None = ..., now: datetime) -> JobRecord:
        ref = self._job_ref(job_id)

        async def body(transaction: AsyncTransaction) -> JobRecord:
            data = await self._read("update_job", ref, transaction)
            if data is None:
                raise UnknownJobError(job_id)
            new = t.updated_job(codec.decode_job(job_id, data), config, next_run_at,
                                misconfigured, now)
            changes: dict[str, Any] = {"updated_at": new.updated_at}
            if config is not None:
                changes.update(codec.encode_config(new.config))
            if next_run_at is not ...:
                changes["next_run_at"] = new.next_run_at
            if misconfigured is not ...:
                changes["misconfigured"] = new.misconfigured
            transaction.update(ref, changes)
            return codec.decode_job(job_id, {**data, **changes})

        return await self._transact("update_job", body)

    async def due_jobs(self, now: datetime, limit: int) -> list[JobRecord]:
        """Due jobs by priority desc, next_run_at asc: reads = due jobs returned.

        The common case is one query ordered by ``next_run_at``; when it fills
        the batch, more jobs may be due than fit, so the batch is re-read in
        exact priority order from the second index (costing one more batch of
        reads, only when a backlog exists). Either way nothing but due jobs is read.
        """
        if limit <= 0:
            return []
        from google.cloud.firestore import FieldFilter, Query

        now = t.to_utc(now, "now")
        base = (self._jobs().where(filter=FieldFilter("enabled", "==", True))
                .where(filter=FieldFilter("next_run_at", "<=", now)))
        jobs = await self._query("due_jobs", base.order_by("next_run_at").limit(limit))
        if len(jobs) >= limit:
            jobs = await self._query("due_jobs", base.order_by("priority",
                                                               direction=Query.DESCENDING)
                                     .order_by("next_run_at").limit(limit))
        due = [job for job in jobs if t.is_due(job, now)]
        due.sort(key=t.due_order)
        return due[:limit]

    async def _query(self, operation: str, query: Any) -> list[JobRecord]:
        async def collect() -> list[JobRecord]:
            return [codec.decode_job(s.id, s.to_dict() or {})
                    async for s in query.stream(**self._rpc())]

        jobs = await self._guard(operation, collect())
        self._count(operation, max(1, len(jobs)))  # an empty query is billed one read
        return jobs

    async def claim_slot(self, job_id: str, expected_next_run_at: datetime,
                         new_next_run_at: datetime | None, now: datetime) -> bool:
        expected = t.to_utc(expected_next_run_at, "expected_next_run_at")
        ref = self._job_ref(job_id)

        async def body(transaction: AsyncTransaction) -> bool:
            data = await self._read("claim_slot", ref, transaction)
            if data is None:
                return False
            job = codec.decode_job(job_id, data)
            if job.next_run_at != expected:
                return False
            new = t.updated_job(job, None, new_next_run_at, ..., now)
            transaction.update(ref, {"next_run_at": new.next_run_at,
                                     "updated_at": new.updated_at})
            return True

        return await self._transact("claim_slot", body)

    # -- runs ----------------------------------------------------------------------------

    async def create_run(self, run: RunRecord) -> bool:
        from google.api_core import exceptions as gexc

        document = self._encode_run(t.normalize_run(run))
        try:
            await self._guard("create_run", self._run_ref(run.job_id, run.execution_id)
                              .create(document, **self._rpc()))
        except gexc.AlreadyExists:
            return False
        return True

    async def get_run(self, job_id: str, execution_id: str) -> RunRecord | None:
        data = await self._read("get_run", self._run_ref(job_id, execution_id))
        return self._decode_run(job_id, execution_id, data)

    async def list_runs(self, job_id: str, limit: int) -> list[RunRecord]:
        if limit <= 0:
            return []
        from google.cloud.firestore import Query

        query = (self._job_ref(job_id).collection(RUNS_SUBCOLLECTION)
                 .order_by("created_at", direction=Query.DESCENDING).limit(limit))

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
        ref = self._run_ref(job_id, execution_id)

        async def body(transaction: AsyncTransaction) -> LeaseResult:
            data = await self._read("acquire_lease", ref, transaction)
            run = self._decode_run(job_id, execution_id, data)
            result = t.decide_lease(run, attempt, holder, now, lease_until)
            if result.outcome is LeaseOutcome.ACQUIRED and result.run is not None:
                transaction.set(ref, self._encode_run(result.run))
            return result

        return await self._transact("acquire_lease", body)

    async def finish_attempt(self, job_id: str, execution_id: str, holder: str,
                             result: RunResult) -> RunRecord | None:
        run_ref = self._run_ref(job_id, execution_id)
        job_ref = self._job_ref(job_id)

        async def body(transaction: AsyncTransaction) -> RunRecord | None:
            data = await self._read("finish_attempt", run_ref, transaction)
            job_data = None
            if result.status.is_completed:  # all reads precede the writes of a transaction
                job_data = await self._read("finish_attempt", job_ref, transaction)
            run = t.finished_run(self._decode_run(job_id, execution_id, data), holder, result)
            if run is None:
                return None
            transaction.set(run_ref, self._encode_run(run))
            job = None if job_data is None else codec.decode_job(job_id, job_data)
            after = t.job_after_run(job, run)
            if after is not None:
                transaction.update(job_ref, {
                    "last_status": None if after.last_status is None else after.last_status.value,
                    "last_run_at": after.last_run_at,
                    "last_execution_id": after.last_execution_id,
                    "updated_at": after.updated_at,
                })
            return run

        return await self._transact("finish_attempt", body)

    async def record_skip(self, run: RunRecord) -> bool:
        ref = self._run_ref(run.job_id, run.execution_id)

        async def body(transaction: AsyncTransaction) -> bool:
            data = await self._read("record_skip", ref, transaction)
            skipped = t.skipped_run(self._decode_run(run.job_id, run.execution_id, data), run)
            if skipped is None:
                return False
            transaction.set(ref, self._encode_run(skipped))
            return True

        return await self._transact("record_skip", body)

    async def reopen_run(self, job_id: str, execution_id: str, now: datetime) -> RunRecord | None:
        ref = self._run_ref(job_id, execution_id)

        async def body(transaction: AsyncTransaction) -> RunRecord | None:
            data = await self._read("reopen_run", ref, transaction)
            run = t.reopened_run(self._decode_run(job_id, execution_id, data), now)
            if run is not None:
                transaction.set(ref, self._encode_run(run))
            return run

        return await self._transact("reopen_run", body)
