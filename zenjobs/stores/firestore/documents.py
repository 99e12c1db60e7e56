"""Talking to Firestore: the client, error translation, counted reads, compare-and-set.

:class:`FirestoreDocuments` is the plumbing under
:class:`~zenjobs.stores.firestore.FirestoreJobStore`, kept apart from the
store's semantics: it knows documents, RPC retries and billing, not jobs or runs.
Every state change of the store is one :meth:`FirestoreDocuments._compare_and_set`:
read the documents, let a pure function decide, commit the writes in one batch
conditioned on the documents being unchanged since the read.

google.cloud is imported on first use, never at import time.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from ...errors import BackendUnavailableError, ConfigurationError
from ...gcp import errors
from ...gcp.clients import LazyClient

if TYPE_CHECKING:
    from google.cloud.firestore import (
        AsyncClient,
        AsyncCollectionReference,
        AsyncDocumentReference,
    )

T = TypeVar("T")
Documents = list[Mapping[str, Any] | None]  # what was read, None for an absent document
#: Index into the documents read -> fields to write (an update conditioned on the read, or
#: a create of one read absent); or a document path (``collection/id/...``) -> the whole
#: document, ``set`` without being read (one the same batch's conditioned write guards).
Writes = dict[int | str, dict[str, Any]]

#: Failures worth retrying: the common ones, a transaction aborted by contention, an
#: unknown or cancelled RPC, and ``RetryError`` (read retries gave up on transient errors).
TRANSIENT = errors.TRANSIENT | {"ABORTED", "UNKNOWN", "CANCELLED", "RetryError"}
#: What a conditional commit answers when another writer got in first.
CONFLICTS = frozenset({"FAILED_PRECONDITION", "ALREADY_EXISTS", "NOT_FOUND"})
#: A commit refused by contention: like a conflict, it was not applied, so the step
#: is read and decided again (a commit whose outcome is unknown never is).
NOT_APPLIED = CONFLICTS | {"ABORTED"}
RUNS_SUBCOLLECTION = "runs"


class FirestoreDocuments:
    """A lazily created async Firestore client and the reads and writes the store makes.

    ``project``/``database`` build a default ``google.cloud.firestore.AsyncClient``
    (which honours ``FIRESTORE_EMULATOR_HOST``); ``client_factory`` replaces that.
    The client is created on first use, inside the running event loop, because
    gRPC channels belong to the loop that created them.
    """

    def __init__(self, project: str | None = None, *, database: str = "(default)",
                 collection: str = "jobs",
                 client_factory: Callable[[], AsyncClient] | None = None,
                 run_retention: timedelta = timedelta(days=30),
                 rpc_timeout: float = 30.0, write_attempts: int = 100) -> None:
        if not collection or "/" in collection:
            raise ConfigurationError(f"Firestore collection must be one path segment, "
                                     f"got {collection!r}")
        self.project = project
        self.database = database
        self.collection = collection
        self.run_retention = run_retention
        self.rpc_timeout = rpc_timeout
        self.write_attempts = write_attempts
        self._client: LazyClient[AsyncClient] = LazyClient(client_factory or self._default_client)
        #: Documents read, in total and per store operation (Firestore bills per document).
        self.reads = 0
        self.reads_by_operation: Counter[str] = Counter()

    def client(self) -> AsyncClient:
        return self._client.get()

    def _default_client(self) -> AsyncClient:
        from google.cloud import firestore

        return firestore.AsyncClient(project=self.project, database=self.database)

    async def close(self) -> None:
        """Close the gRPC channel of the client this store created (or ``client_factory`` made)."""
        await self._client.close()

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
        """Retry/timeout for reads: transient errors retried with backoff up to ``rpc_timeout``."""
        from google.api_core import retry_async
        from google.api_core.retry import if_transient_error

        retry = retry_async.AsyncRetry(predicate=if_transient_error, initial=0.1, maximum=2.0,
                                       multiplier=2.0, timeout=self.rpc_timeout)
        return {"retry": retry, "timeout": self.rpc_timeout}

    async def _guard(self, operation: str, call: Awaitable[T],
                     expected: frozenset[str] = frozenset()) -> T:
        """Await ``call``, turning Google API and socket failures into zenjobs errors.

        Codes in ``expected`` (a lost compare-and-set) propagate for the caller to handle.
        """
        from google.api_core import exceptions as gexc

        try:
            return await call
        except (gexc.GoogleAPIError, OSError) as exc:
            if errors.status_code(exc) in expected:
                raise
            where = f"project {self.project!r}, database {self.database!r}"
            credentials = f"check the {where} and the service account's roles/datastore.user"
            raise errors.translate(exc, f"Firestore {operation}", {
                "PERMISSION_DENIED": credentials, "UNAUTHENTICATED": credentials,
                "NOT_FOUND": f"does the {where} exist? (terraform apply)",
                "FAILED_PRECONDITION": "is a composite index missing or still building? "
                                       "(terraform apply: zenjobs gen-infra declares them)",
            }, transient=TRANSIENT) from exc

    async def _snapshots(self, operation: str, refs: list[AsyncDocumentReference]) -> list[Any]:
        snapshots = await self._guard(operation, asyncio.gather(
            *(ref.get(**self._rpc()) for ref in refs)))
        self._count(operation, len(refs))
        return list(snapshots)

    async def _read(self, operation: str, ref: AsyncDocumentReference) -> Mapping[str, Any] | None:
        (snapshot,) = await self._snapshots(operation, [ref])
        data: Mapping[str, Any] | None = snapshot.to_dict() if snapshot.exists else None
        return data

    async def _compare_and_set(self, operation: str, refs: list[AsyncDocumentReference],
                               decide: Callable[[Documents], tuple[T, Writes]]) -> T:
        """Read ``refs``, let ``decide`` choose the result and the writes, commit atomically.

        Optimistic concurrency: the writes go in one atomic batch in which every
        write is conditioned on its document being unchanged since the read
        (same ``update_time``; ``create`` for an absent one). If another writer
        got in between, the whole batch fails and the step is read and decided
        again, so it is serialisable without holding locks. (Lock-based
        transactions were tried first: under a burst of claims every contender
        holds a read lock and waits to upgrade it, and on the emulator rounds of
        them timed out with no winner at all.) A write keyed by a path is not read
        first: it is safe only beside a conditioned write that decides it (an edit's
        history entry, numbered by the job document it is committed with).
        """
        from google.api_core import exceptions as gexc

        for attempt in range(self.write_attempts):
            snapshots = await self._snapshots(operation, refs)
            result, writes = decide([s.to_dict() if s.exists else None for s in snapshots])
            if not writes:
                return result
            client = self.client()
            batch = client.batch()
            for index, data in writes.items():
                if isinstance(index, str):
                    batch.set(client.document(index), data)
                    continue
                snapshot = snapshots[index]
                if snapshot.exists:
                    unchanged = client.write_option(last_update_time=snapshot.update_time)
                    batch.update(refs[index], data, option=unchanged)
                else:
                    batch.create(refs[index], data)
            try:
                # No automatic retry of a commit: one whose outcome is unknown is
                # reported, not replayed into a conflict that would hide our own write.
                await self._guard(operation, batch.commit(retry=None, timeout=self.rpc_timeout),
                                  expected=NOT_APPLIED)
                return result
            except (gexc.FailedPrecondition, gexc.AlreadyExists, gexc.NotFound, gexc.Aborted):
                await asyncio.sleep(random.uniform(0.0, min(0.2, 0.002 * 2 ** attempt)))
        raise BackendUnavailableError(
            f"Firestore {operation}: still contended after {self.write_attempts} attempts")
