"""What only the SQLite store promises, beyond the shared contract: files, schema, the index."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from zenjobs.errors import BackendUnavailableError, ConfigurationError
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.records import JobConfig, LeaseOutcome, RunRecord, Trigger
from zenjobs.stores.sqlite.store import DUE_QUERY, SCHEMA_VERSION, SqliteJobStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


async def test_in_memory_database(tmp_path: Path) -> None:
    with SqliteJobStore(":memory:") as store:
        assert isinstance(store, JobStore)
        _, created = await store.ensure_job("job", JobConfig(), T0, T0)
        assert created
        assert [j.job_id for j in await store.due_jobs(T0, 5)] == ["job"]


async def test_creates_parent_directories_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "dev.sqlite3"
    async with SqliteJobStore(path) as store:
        await store.ensure_job("job", JobConfig(), T0, T0)
    assert path.is_file()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT MAX(version) FROM zenjobs_schema").fetchone()[0] == 3


def test_due_query_is_an_index_range_scan(tmp_path: Path) -> None:
    path = tmp_path / "plan.sqlite3"
    SqliteJobStore(path).close()
    with sqlite3.connect(path) as raw:
        plan = " ".join(row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {DUE_QUERY}", (0, 10)))
    assert "SEARCH jobs USING INDEX jobs_due (enabled=? AND next_run_at" in plan
    assert "SCAN jobs" not in plan


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    SqliteJobStore(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO zenjobs_schema (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    with pytest.raises(ConfigurationError, match=f"schema version {SCHEMA_VERSION + 1}"):
        SqliteJobStore(path)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("this is not a database, just some notes long enough " * 40)
    with pytest.raises(ConfigurationError, match=r"notes\.txt"):
        SqliteJobStore(path)


async def test_closed_store_reports_unavailable(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "s.sqlite3")
    store.close()
    store.close()
    with pytest.raises(BackendUnavailableError, match="closed"):
        await store.get_job("job")


async def test_two_connections_to_one_file_never_both_win(tmp_path: Path) -> None:
    """Like a dev server and a CLI command on the same file: BEGIN IMMEDIATE serialises them."""
    path = tmp_path / "shared.sqlite3"
    with SqliteJobStore(path) as one, SqliteJobStore(path) as two:
        stores = [one, two]
        await one.ensure_job("job", JobConfig(), T0, T0)
        wins = await asyncio.gather(*(stores[i % 2].claim_slot("job", T0, None, T0)
                                      for i in range(20)))
        assert wins.count(True) == 1
        await two.create_run(RunRecord("job", "e1", Trigger.SCHEDULE, T0, created_at=T0))
        leases = await asyncio.gather(*(
            stores[i % 2].acquire_lease("job", "e1", 1, f"h{i}", T0, T0.replace(hour=13))
            for i in range(20)))
        assert [r.outcome for r in leases].count(LeaseOutcome.ACQUIRED) == 1
