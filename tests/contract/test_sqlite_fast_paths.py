"""The SQLite store's delivery fast paths leave exactly what the plain paths left.

A lease and an outcome update only the changed columns of an existing run row
(instead of ``INSERT OR REPLACE``), an outcome reads only the job's
``last_run_at`` (instead of decoding the whole job row), and a job row's config
decoding is memoised by the column values (docs/performance.md, figure 2).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from zenjobs.stores.records import JobConfig, RunRecord, RunResult, RunStatus, Trigger
from zenjobs.stores.sqlite import schema as schema
from zenjobs.stores.sqlite.store import SqliteJobStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def raw_row(path: Path, table: str, where: str, *args: Any) -> tuple[Any, ...]:
    with sqlite3.connect(path) as raw:
        row = raw.execute(f"SELECT * FROM {table} WHERE {where}", args).fetchone()
    assert row is not None
    return tuple(row)


async def test_lease_and_outcome_rows_equal_a_whole_row_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    run = RunRecord(job_id="j", execution_id="j-1", trigger=Trigger.ENDPOINT, scheduled_for=T0,
                    payload={"n": [1, "x"]}, created_at=T0)
    with SqliteJobStore(path) as store:
        await store.ensure_job("j", JobConfig(), None, T0)
        await store.create_run(run)
        lease = await store.acquire_lease("j", "j-1", 1, "h", T0, T0 + timedelta(minutes=5))
        leased = lease.run
        assert leased is not None
        after_lease = raw_row(path, "runs", "execution_id = ?", "j-1")
        done = await store.finish_attempt("j", "j-1", "h", RunResult(
            RunStatus.RETRY_SCHEDULED, finished_at=T0 + timedelta(seconds=2), duration_ms=2000,
            error_type="ValueError", error_message="boom", next_attempt=2,
            next_attempt_at=T0 + timedelta(minutes=1)))
        assert done is not None
        after_finish = raw_row(path, "runs", "execution_id = ?", "j-1")
        assert await store.get_run("j", "j-1") == done

    reference = tmp_path / "reference.sqlite3"
    with SqliteJobStore(reference) as store:
        store._call(lambda conn: schema.put_run(conn, leased), write=True)
        assert raw_row(reference, "runs", "execution_id = ?", "j-1") == after_lease
        store._call(lambda conn: schema.put_run(conn, done), write=True)
        assert raw_row(reference, "runs", "execution_id = ?", "j-1") == after_finish


async def test_outcome_with_an_unreadable_last_run_at_still_records_the_status(
        tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with SqliteJobStore(path) as store:
        await store.ensure_job("j", JobConfig(), None, T0)
        await store.create_run(RunRecord(job_id="j", execution_id="j-1",
                                         trigger=Trigger.MANUAL, scheduled_for=T0))
        await store.acquire_lease("j", "j-1", 1, "h", T0, T0 + timedelta(minutes=5))
        with sqlite3.connect(path) as raw:
            raw.execute("UPDATE jobs SET last_run_at = 'yesterday' WHERE job_id = 'j'")
        end = T0 + timedelta(seconds=1)
        assert await store.finish_attempt("j", "j-1", "h",
                                          RunResult(RunStatus.SUCCESS, finished_at=end))
        job = await store.get_job("j")
    assert job is not None
    assert (job.last_status, job.last_run_at, job.last_execution_id) == (
        RunStatus.SUCCESS, end, "j-1")
    assert job.misconfigured is None
    assert job.config == JobConfig()  # the outcome wrote no config


async def test_an_outcome_never_moves_last_status_back_in_time(tmp_path: Path) -> None:
    with SqliteJobStore(tmp_path / "s.sqlite3") as store:
        await store.ensure_job("j", JobConfig(), None, T0)
        for execution_id, end, status in (("j-late", T0 + timedelta(hours=1), RunStatus.SUCCESS),
                                          ("j-early", T0, RunStatus.DEAD)):
            await store.create_run(RunRecord(job_id="j", execution_id=execution_id,
                                             trigger=Trigger.MANUAL, scheduled_for=T0))
            await store.acquire_lease("j", execution_id, 1, "h", T0, T0 + timedelta(hours=2))
            await store.finish_attempt("j", execution_id, "h", RunResult(status, finished_at=end))
        job = await store.get_job("j")
    assert job is not None
    assert (job.last_execution_id, job.last_status) == ("j-late", RunStatus.SUCCESS)


async def test_a_config_edit_is_read_at_once_despite_the_decode_memo(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with SqliteJobStore(path) as store:
        await store.ensure_job("j", JobConfig(max_retries=3), None, T0)
        first = await store.get_job("j")
        assert first is not None and first.config.max_retries == 3
        with sqlite3.connect(path) as raw:
            (text,) = raw.execute("SELECT config FROM jobs WHERE job_id = 'j'").fetchone()
            raw.execute("UPDATE jobs SET config = ? WHERE job_id = 'j'",
                        (json.dumps({**json.loads(text), "max_retries": 7}),))
        edited = await store.get_job("j")
        assert edited is not None and edited.config.max_retries == 7
        with sqlite3.connect(path) as raw:
            raw.execute("UPDATE jobs SET config = ? WHERE job_id = 'j'",
                        (json.dumps({**json.loads(text), "max_retries": "many"}),))
        broken = await store.get_job("j")
        again = await store.get_job("j")
    assert broken is not None and broken.misconfigured is not None
    assert "max_retries" in broken.misconfigured
    assert again == broken
