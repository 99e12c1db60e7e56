"""A :class:`~zenjobs.stores.protocol.JobStore` in one SQLite file: the ``zenjobs dev`` default.

State survives restarts of the dev server, and CLI commands (``zenjobs
replay``, ``zenjobs runs``) can open the same file while it runs.

* **Concurrency.** One connection, guarded by a :class:`threading.Lock`.
  Every mutating method is one ``BEGIN IMMEDIATE`` transaction, which also
  serialises writers in *other* processes on the same file (WAL mode,
  ``busy_timeout``). A call runs on the event loop when it cannot wait: our
  lock is free and SQLite answers at once (``busy_timeout`` 0); such a
  statement takes microseconds, far less than a hop to a worker thread,
  which under load also queues for the GIL (docs/performance.md). A call that
  would wait (the lock held by a worker thread, another process writing)
  goes to :func:`asyncio.to_thread` with the full ``busy_timeout``, so the
  event loop never waits on a lock.
* **Decisions.** The read-modify-write rules are the shared pure functions of
  :mod:`zenjobs.stores.transitions`, so this store agrees with the others.
* **Hand edits.** A job row that cannot be used (bad config JSON, a wrong type,
  an unknown time zone) reads as a record with ``misconfigured`` set, naming
  the field, exactly as in the Firestore store; see :mod:`.schema`.
* **Instants** are stored as integer microseconds since the Unix epoch (UTC):
  exact, sortable and indexable. Everything returned is UTC-aware.
* **due_jobs** is one range scan of the ``(enabled, next_run_at)`` index, so
  its cost follows the due jobs, not all jobs; **overdue_runs** is one range
  scan of the partial index on ``runs.due_at`` (:mod:`.recovery`); the
  dashboard's queries (**get_jobs**, **list_runs** pages, **dead_runs**,
  **run_counts**) are range scans too (:mod:`.queries`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from ...errors import BackendUnavailableError, ConfigurationError, UnknownJobError
from .. import transitions as t
from ..records import (
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
)
from . import edits as edits
from . import queries as queries
from . import recovery as recovery
from . import schema as schema
from .schema import DUE_QUERY, SCHEMA_VERSION

__all__ = ["DEFAULT_DEV_PATH", "DUE_QUERY", "SCHEMA_VERSION", "SqliteJobStore"]

T = TypeVar("T")

#: Where ``zenjobs dev`` keeps its state unless told otherwise (relative to the project).
DEFAULT_DEV_PATH = Path(".zenjobs") / "dev.sqlite3"


class SqliteJobStore:
    """Job documents and run records in a SQLite database file (or ``":memory:"``).

    The parent directory of a file path is created. :meth:`close` is
    synchronous and idempotent; the store is also a (sync or async) context
    manager that closes on exit.
    """

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5_000) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._waits = True  # whether the connection's busy_timeout is currently the full one
        in_memory = self.path == ":memory:"
        try:
            if not in_memory:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise BackendUnavailableError(f"cannot open SQLite store {self.path!r}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        self._conn: sqlite3.Connection | None = conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if not in_memory:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            self._call(self._migrate, write=True)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise ConfigurationError(f"{self.path!r} is not a usable SQLite store: {exc}") from exc
        except BaseException:
            self.close()
            raise

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Create what is missing and record the version (in one ``BEGIN IMMEDIATE``).

        Every statement is ``CREATE ... IF NOT EXISTS``, so an older file (version 1,
        before ``job_edits``; version 2, before ``runs.due_at``, added and backfilled by
        :func:`.recovery.upgrade`; any file made before the ``runs_by_status`` index of
        :mod:`.queries`) is brought up to date in place; a newer one is refused.
        """
        version = None
        if conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                        " AND name = 'zenjobs_schema'").fetchone() is not None:
            version = conn.execute("SELECT MAX(version) FROM zenjobs_schema").fetchone()[0]
        if version is not None and version > SCHEMA_VERSION:
            raise ConfigurationError(
                f"SQLite store {self.path!r} has schema version {version}; this zenjobs "
                f"understands up to {SCHEMA_VERSION}: upgrade zenjobs or use another file")
        for statement in (schema.SCHEMA + edits.SCHEMA + queries.SCHEMA).split(";"):
            if statement.strip():
                conn.execute(statement)
        recovery.upgrade(conn)
        if version is None:
            conn.execute("INSERT INTO zenjobs_schema (version) VALUES (?)", (SCHEMA_VERSION,))
        elif version < SCHEMA_VERSION:
            conn.execute("UPDATE zenjobs_schema SET version = ?", (SCHEMA_VERSION,))

    def close(self) -> None:
        """Close the connection (safe to call twice); later calls raise BackendUnavailableError."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> SqliteJobStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> SqliteJobStore:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.close()

    def _call(self, fn: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        """Run ``fn`` under the lock; a write runs inside one ``BEGIN IMMEDIATE`` transaction."""
        with self._lock:
            return self._call_locked(fn, write=write)

    def _call_locked(self, fn: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        conn = self._conn
        if conn is None:
            raise BackendUnavailableError(f"SQLite store {self.path!r} is closed")
        try:
            if not write:
                return fn(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result
        except sqlite3.OperationalError as exc:
            raise BackendUnavailableError(f"SQLite store {self.path!r}: {exc}") from exc

    def _set_waits(self, waits: bool) -> None:
        """Switch busy_timeout between the full wait (threads) and none (the event loop).

        Called with the lock held.
        """
        if self._waits != waits and self._conn is not None:
            timeout = self._busy_timeout_ms if waits else 0
            self._conn.execute(f"PRAGMA busy_timeout = {timeout}")
            self._waits = waits

    def _call_waiting(self, fn: Callable[[sqlite3.Connection], T], write: bool) -> T:
        with self._lock:
            self._set_waits(True)
            return self._call_locked(fn, write=write)

    async def _run(self, fn: Callable[[sqlite3.Connection], T], write: bool) -> T:
        if self._lock.acquire(blocking=False):
            try:
                self._set_waits(False)
                return self._call_locked(fn, write=write)
            except BackendUnavailableError as exc:
                if not _is_busy(exc.__cause__):
                    raise
                # SQLite is busy (another connection writes): the failed transaction was
                # rolled back, so nothing was written; wait for it in a worker thread.
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
            finally:
                self._lock.release()
        return await asyncio.to_thread(self._call_waiting, fn, write)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(fn, write=False)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(fn, write=True)

    async def ensure_job(self, job_id: str, config: JobConfig, next_run_at: datetime | None,
                         now: datetime) -> tuple[JobRecord, bool]:
        fresh = t.new_job(job_id, config, next_run_at, now)

        def tx(conn: sqlite3.Connection) -> tuple[JobRecord, bool]:
            existing = schema.get_job(conn, job_id)
            if existing is not None:
                return existing, False
            schema.put_job(conn, fresh)
            return fresh, True

        return await self._write(tx)

    async def get_job(self, job_id: str) -> JobRecord | None:
        return await self._read(lambda conn: schema.get_job(conn, job_id))

    async def get_jobs(self, job_ids: Sequence[str]) -> dict[str, JobRecord]:
        ids = t.unique_ids(job_ids)
        if not ids:
            return {}
        return await self._read(lambda conn: queries.get_jobs(conn, ids))

    async def list_jobs(self) -> list[JobRecord]:
        def query(conn: sqlite3.Connection) -> list[JobRecord]:
            rows = conn.execute(f"SELECT {schema.JOB_COLUMNS} FROM jobs ORDER BY job_id")
            return [schema.decode_job(row) for row in rows]

        return await self._read(query)

    async def update_job(self, job_id: str, *, config: JobConfig | None = None,
                         next_run_at: datetime | object | None = ...,
                         misconfigured: str | object | None = ..., now: datetime) -> JobRecord:
        def tx(conn: sqlite3.Connection) -> JobRecord:
            job = schema.get_job(conn, job_id)
            if job is None:
                raise UnknownJobError(job_id)
            job = t.updated_job(job, config, next_run_at, misconfigured, now)
            changed = ["updated_at"]
            if config is not None:
                changed += schema.CONFIG_COLUMNS
            if next_run_at is not ...:
                changed.append("next_run_at")
            if misconfigured is not ...:
                changed.append("misconfigured")
            schema.update_job_columns(conn, job, changed)
            # Read back, as Firestore does: a hand edit in a column not rewritten here
            # (or one the rewrite fixed) must show in the returned record as in get_job.
            written = schema.get_job(conn, job_id)
            assert written is not None
            return written

        return await self._write(tx)

    async def edit_job(self, job_id: str, edit: ConfigEdit, now: datetime) -> EditResult:
        def tx(conn: sqlite3.Connection) -> EditResult:
            job = schema.get_job(conn, job_id)
            if job is None:
                raise UnknownJobError(job_id)
            edited = t.edited_job(job, edit, now, edits.next_seq(conn, job_id))
            if edited is None:
                return EditResult(job, job, None)
            new, record = edited
            edits.write_edit(conn, job, new, record, edit.restore)
            written = schema.get_job(conn, job_id)  # as stored, like update_job
            assert written is not None
            return EditResult(job, written, record)

        return await self._write(tx)

    async def list_edits(self, job_id: str, limit: int) -> list[EditRecord]:
        if limit <= 0:
            return []
        return await self._read(lambda conn: edits.list_edits(conn, job_id, limit))

    async def due_jobs(self, now: datetime, limit: int) -> list[JobRecord]:
        if limit <= 0:
            return []
        cutoff = schema.to_micros(now)

        def query(conn: sqlite3.Connection) -> list[JobRecord]:
            return [schema.decode_job(row) for row in conn.execute(DUE_QUERY, (cutoff, limit))]

        return await self._read(query)

    async def claim_slot(self, job_id: str, expected_next_run_at: datetime,
                         new_next_run_at: datetime | None, now: datetime) -> bool:
        expected = schema.to_micros(expected_next_run_at)

        def tx(conn: sqlite3.Connection) -> bool:
            job = schema.get_job(conn, job_id)
            if job is None or schema.to_micros(job.next_run_at) != expected:
                return False
            schema.update_job_columns(conn, t.updated_job(job, None, new_next_run_at, ..., now),
                                      ("next_run_at", "updated_at"))
            return True

        return await self._write(tx)

    async def create_run(self, run: RunRecord) -> bool:
        fresh = t.normalize_run(run)

        return await self._write(lambda conn: schema.put_run(conn, fresh, replace=False))

    async def get_run(self, job_id: str, execution_id: str) -> RunRecord | None:
        return await self._read(lambda conn: schema.get_run(conn, job_id, execution_id))

    async def list_runs(self, job_id: str, limit: int, *,
                        before: RunCursor | None = None) -> list[RunRecord]:
        if limit <= 0:
            return []
        cursor = t.checked_cursor(before)
        return await self._read(lambda conn: queries.list_runs(conn, job_id, limit, cursor))

    async def dead_runs(self, limit: int, *, job_id: str | None = None,
                        before: RunCursor | None = None) -> list[RunRecord]:
        if limit <= 0:
            return []
        cursor = t.checked_cursor(before)
        return await self._read(lambda conn: queries.dead_runs(conn, limit, job_id, cursor))

    async def run_counts(self, job_ids: Sequence[str],
                         since: datetime) -> dict[str, dict[str, int]]:
        since = t.to_utc(since, "since")
        ids = t.unique_ids(job_ids)
        if not ids:
            return {}
        return await self._read(lambda conn: queries.run_counts(conn, ids, since))

    async def acquire_lease(self, job_id: str, execution_id: str, attempt: int, holder: str,
                            now: datetime, lease_until: datetime) -> LeaseResult:
        def tx(conn: sqlite3.Connection) -> LeaseResult:
            run = schema.get_run(conn, job_id, execution_id)
            result = t.decide_lease(run, attempt, holder, now, lease_until)
            if result.outcome is LeaseOutcome.ACQUIRED and result.run is not None:
                if run is None:
                    schema.put_run(conn, result.run)
                else:
                    schema.update_run(conn, result.run, run)
            return result

        return await self._write(tx)

    async def finish_attempt(self, job_id: str, execution_id: str, holder: str,
                             result: RunResult) -> RunRecord | None:
        def tx(conn: sqlite3.Connection) -> RunRecord | None:
            stored = schema.get_run(conn, job_id, execution_id)
            run = t.finished_run(stored, holder, result)
            if stored is None or run is None:
                return None
            schema.update_run(conn, run, stored)
            if not run.status.is_completed:
                return run  # retries never write the job's last_* (job_after_run)
            job = t.job_after_run(schema.get_job_run_state(conn, job_id), run)
            if job is not None:
                schema.update_job_columns(conn, job, ("last_status", "last_run_at",
                                                      "last_execution_id", "updated_at"))
            return run

        return await self._write(tx)

    async def record_skip(self, run: RunRecord) -> bool:
        def tx(conn: sqlite3.Connection) -> bool:
            skipped = t.skipped_run(schema.get_run(conn, run.job_id, run.execution_id), run)
            if skipped is None:
                return False
            schema.put_run(conn, skipped)
            return True

        return await self._write(tx)

    async def reopen_run(self, job_id: str, execution_id: str, now: datetime) -> RunRecord | None:
        def tx(conn: sqlite3.Connection) -> RunRecord | None:
            run = t.reopened_run(schema.get_run(conn, job_id, execution_id), now)
            if run is not None:
                schema.put_run(conn, run)
            return run

        return await self._write(tx)

    async def overdue_runs(self, cutoff: datetime, limit: int) -> list[OverdueRun]:
        if limit <= 0:
            return []
        cutoff = t.to_utc(cutoff, "cutoff")
        return await self._read(lambda conn: recovery.overdue_runs(conn, cutoff, limit))

    async def defer_overdue(self, seen: OverdueRun, until: datetime) -> bool:
        until = t.to_utc(until, "until")
        return await self._write(lambda conn: recovery.defer(conn, seen, until))


def _is_busy(exc: BaseException | None) -> bool:
    """True for SQLite's "database is locked/busy" (another connection holds the lock)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc).lower()
    return "locked" in text or "busy" in text
