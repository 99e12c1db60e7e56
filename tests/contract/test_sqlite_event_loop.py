"""The SQLite store runs on the event loop only when it cannot wait (docs/performance.md).

When another connection holds the write lock (a CLI command on the dev
server's file), a write must neither fail nor block the loop: it waits in a
worker thread with the full busy timeout, and later calls run inline again.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from zenjobs.stores.records import JobConfig, RunRecord, RunStatus, Trigger
from zenjobs.stores.sqlite.store import SqliteJobStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


async def test_a_locked_file_makes_writes_wait_off_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    with SqliteJobStore(path) as store:
        await store.ensure_job("job", JobConfig(), T0, T0)
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process is writing
            write = asyncio.ensure_future(store.create_run(
                RunRecord("job", "e1", Trigger.ENDPOINT, T0, created_at=T0)))
            ticks = 0
            while ticks < 5:  # the loop keeps running while the write waits
                await asyncio.sleep(0.01)
                ticks += 1
            assert not write.done()
            other.execute("COMMIT")
            assert await write is True
        finally:
            other.close()
        run = await store.get_run("job", "e1")  # inline again, on the same connection
        assert run is not None and run.status is RunStatus.PENDING
        assert await store.create_run(RunRecord("job", "e2", Trigger.ENDPOINT, T0,
                                                created_at=T0)) is True


async def test_reads_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "wal.sqlite3"
    with SqliteJobStore(path) as store:
        await store.ensure_job("job", JobConfig(), T0, T0)
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            job = await store.get_job("job")  # WAL: readers see the last commit
            assert job is not None and job.job_id == "job"
        finally:
            other.execute("ROLLBACK")
            other.close()
