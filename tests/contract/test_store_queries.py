"""The dashboard's queries on every backend: ``get_jobs``, ``list_runs`` pages, ``dead_runs``,
``run_counts``.

Rules under test are in ``docs/stores.md`` ("Dashboard queries"): batch reads return
what exists (as ``get_job`` would), pages walked with :func:`run_cursor` see every run
exactly once in order (ties on ``created_at`` included), dead runs are newest first
across jobs or for one, counts cover every job and bucket. The backend-specific tests
at the end prove the cost: SQLite answers from its indexes (no table scan), Firestore
reads only the documents it returns.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from zenjobs.stores.firestore.store import FirestoreJobStore
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.records import (
    RUN_COUNT_BUCKETS,
    JobConfig,
    LeaseOutcome,
    RunCursor,
    RunRecord,
    RunResult,
    RunStatus,
    Trigger,
    run_cursor,
)
from zenjobs.stores.sqlite import queries
from zenjobs.stores.sqlite.store import SqliteJobStore

UTC = timezone.utc
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
CONFIG = JobConfig(interval_seconds=60)


def run(job_id: str, execution_id: str, created: datetime,
        status: RunStatus = RunStatus.PENDING) -> RunRecord:
    return RunRecord(job_id=job_id, execution_id=execution_id, trigger=Trigger.SCHEDULE,
                     scheduled_for=created, status=status, payload={"n": execution_id},
                     created_at=created)


async def create(store: JobStore, *runs: RunRecord) -> None:
    assert all(await asyncio.gather(*(store.create_run(r) for r in runs)))


def ids(runs: list[RunRecord]) -> list[tuple[str, str]]:
    return [(r.job_id, r.execution_id) for r in runs]


async def corrupt_job(store: JobStore, job_id: str) -> bool:
    """Hand-edit the stored job so that it reads as misconfigured (False: memory has none)."""
    if isinstance(store, SqliteJobStore):
        with sqlite3.connect(store.path) as raw:
            raw.execute("UPDATE jobs SET config = '{\"enabeld\": false}' WHERE job_id = ?",
                        (job_id,))
        return True
    if isinstance(store, FirestoreJobStore):
        await store.client().collection("jobs").document(job_id).update({"enabeld": False})
        return True
    return False


# --- get_jobs ----------------------------------------------------------------------------------


async def test_get_jobs_returns_the_existing_ones_as_get_job_does(store: JobStore) -> None:
    for job_id in ("a", "b", "c"):
        await store.ensure_job(job_id, CONFIG, T0, T0)
    edited = await corrupt_job(store, "b")

    found = await store.get_jobs(["c", "missing", "a", "b", "a"])
    assert sorted(found) == ["a", "b", "c"]
    for job_id, job in found.items():
        assert job == await store.get_job(job_id)
    assert (found["b"].misconfigured is not None) is edited
    assert await store.get_jobs(["missing"]) == {}
    assert await store.get_jobs([]) == {}
    with pytest.raises(TypeError, match="not the string"):
        await store.get_jobs("abc")


async def test_get_jobs_reads_many_ids_in_batches(store: JobStore) -> None:
    job_ids = [f"job-{i:04d}" for i in range(620)]  # over SQLite's 500 and Firestore's 300
    await asyncio.gather(*(store.ensure_job(job_id, CONFIG, T0 + i * MIN, T0)
                           for i, job_id in enumerate(job_ids)))
    if isinstance(store, FirestoreJobStore):
        before = store.reads

    found = await store.get_jobs([*reversed(job_ids), "nobody"])
    assert sorted(found) == job_ids
    assert found["job-0619"].next_run_at == T0 + 619 * MIN
    if isinstance(store, FirestoreJobStore):
        assert store.reads - before == 621  # one per id asked for, nothing else


# --- list_runs pages ---------------------------------------------------------------------------


async def walk_runs(store: JobStore, job_id: str, page: int) -> list[list[RunRecord]]:
    pages: list[list[RunRecord]] = []
    before: RunCursor | None = None
    while True:
        got = await store.list_runs(job_id, page, before=before)
        assert len(got) <= page
        if not got:
            return pages
        pages.append(got)
        before = run_cursor(got[-1])


async def test_list_runs_pages_see_every_run_once_in_order(store: JobStore) -> None:
    # Ties on created_at (three at T0, two at T0 + 1 min) break by execution id, descending.
    await create(store, *(run("job", e, T0) for e in ("e-b", "e-a", "e-c")),
                 *(run("job", e, T0 + MIN) for e in ("e-y", "e-x")),
                 run("job", "e-old", T0 - MIN), run("job", "e-new", T0 + 2 * MIN),
                 run("other", "o-1", T0 + MIN), run("other", "o-2", T0))
    expected = ["e-new", "e-y", "e-x", "e-c", "e-b", "e-a", "e-old"]
    assert [r.execution_id for r in await store.list_runs("job", 10)] == expected

    for page in (1, 2, 3, 7, 8):
        pages = await walk_runs(store, "job", page)
        assert [r.execution_id for got in pages for r in got] == expected, page
        assert all(len(got) == page for got in pages[:-1])
    # Pages are the same records as the whole listing.
    assert [r for got in await walk_runs(store, "job", 2) for r in got] == \
        await store.list_runs("job", 10)


async def test_list_runs_cursor_bounds(store: JobStore) -> None:
    await create(store, run("job", "e-1", T0), run("job", "e-2", T0), run("job", "e-3", T0 + MIN))
    names = [r.execution_id for r in await store.list_runs("job", 10, before=(T0, "job", "e-2"))]
    assert names == ["e-1"]
    # The cursor's job id plays no part: it is one job's listing.
    assert await store.list_runs("job", 10, before=(T0, "zzz", "e-2")) == \
        await store.list_runs("job", 10, before=(T0, "job", "e-2"))
    # A cursor past every run, or before every run.
    assert len(await store.list_runs("job", 10, before=(T0 + 5 * MIN, "job", ""))) == 3
    assert await store.list_runs("job", 10, before=(T0 - MIN, "job", "zzz")) == []
    # Instants compare as instants, whatever the zone.
    plus_one = timezone(timedelta(hours=1))
    assert [r.execution_id for r in await store.list_runs(
        "job", 10, before=((T0 + MIN).astimezone(plus_one), "job", "e-3"))] == ["e-2", "e-1"]
    assert await store.list_runs("job", 0, before=(T0, "job", "e-2")) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.list_runs("job", 10, before=(datetime(2026, 3, 1, 12), "job", "e-2"))


# --- dead_runs ---------------------------------------------------------------------------------


async def walk_dead(store: JobStore, page: int, job_id: str | None = None
                    ) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    before: RunCursor | None = None
    while True:
        got = await store.dead_runs(page, job_id=job_id, before=before)
        assert len(got) <= page
        if not got:
            return seen
        assert all(r.status is RunStatus.DEAD for r in got)
        seen += ids(got)
        before = run_cursor(got[-1])


#: created_at, then job id, then execution id, all descending.
DEAD_ORDER = [("b", "b-3"), ("c", "c-1"), ("b", "b-2"), ("b", "b-1"), ("a", "a-2"),
              ("a", "a-1"), ("a", "a-0")]


async def dead_history(store: JobStore) -> None:
    """Dead runs of jobs a, b and c, with ties on created_at across and within jobs."""
    dead = RunStatus.DEAD
    await create(store, run("a", "a-0", T0 - MIN, dead), run("a", "a-1", T0, dead),
                 run("a", "a-2", T0, dead), run("b", "b-1", T0, dead),
                 run("b", "b-2", T0 + MIN, dead), run("c", "c-1", T0 + MIN, dead),
                 run("b", "b-3", T0 + 2 * MIN, dead),
                 # Not dead: never listed.
                 run("a", "a-failed", T0 + 3 * MIN, RunStatus.FAILURE),
                 run("b", "b-ok", T0 + 3 * MIN, RunStatus.SUCCESS),
                 run("c", "c-pending", T0 + 3 * MIN),
                 run("c", "c-skipped", T0 + 3 * MIN, RunStatus.SKIPPED_DISABLED))


async def test_dead_runs_across_jobs_newest_first_in_pages(store: JobStore) -> None:
    await dead_history(store)
    assert ids(await store.dead_runs(100)) == DEAD_ORDER
    assert ids(await store.dead_runs(2)) == DEAD_ORDER[:2]
    for page in (1, 2, 3, 7):
        assert await walk_dead(store, page) == DEAD_ORDER, page
    got = await store.dead_runs(1)
    assert got == [await store.get_run("b", "b-3")]
    assert await store.dead_runs(0) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.dead_runs(10, before=(datetime(2026, 3, 1, 12), "a", "a-1"))


async def test_dead_runs_of_one_job_in_pages(store: JobStore) -> None:
    await dead_history(store)
    for job_id in ("a", "b", "c"):
        expected = [key for key in DEAD_ORDER if key[0] == job_id]
        assert ids(await store.dead_runs(100, job_id=job_id)) == expected
        for page in (1, 2):
            assert await walk_dead(store, page, job_id) == expected, (job_id, page)
    assert await store.dead_runs(10, job_id="nobody") == []
    # A cursor is a position in the global order: (T0, "b", ...) is after a's runs at T0.
    assert ids(await store.dead_runs(10, job_id="a", before=(T0, "b", "b-1"))) == [
        ("a", "a-2"), ("a", "a-1"), ("a", "a-0")]
    # Empty ids are the smallest: before every run of a job, or of any job, at T0.
    assert ids(await store.dead_runs(10, before=(T0, "b", ""))) == [
        ("a", "a-2"), ("a", "a-1"), ("a", "a-0")]
    assert ids(await store.dead_runs(10, job_id="b", before=(T0, "b", ""))) == []
    assert ids(await store.dead_runs(10, before=(T0, "", ""))) == [("a", "a-0")]
    assert ids(await store.dead_runs(10, before=(T0 + MIN, "c", "c-1"))) == DEAD_ORDER[2:]


async def test_dead_runs_follow_the_runs_state(store: JobStore) -> None:
    await create(store, run("job", "e-1", T0), run("job", "e-2", T0 + MIN))
    for execution_id in ("e-1", "e-2"):
        lease = await store.acquire_lease("job", execution_id, 1, "h", T0, T0 + 5 * MIN)
        assert lease.outcome is LeaseOutcome.ACQUIRED
        await store.finish_attempt("job", execution_id, "h",
                                   RunResult(RunStatus.DEAD, finished_at=T0 + MIN))
    assert ids(await store.dead_runs(10)) == [("job", "e-2"), ("job", "e-1")]

    reopened = await store.reopen_run("job", "e-2", T0 + 2 * MIN)  # a replay: pending again
    assert reopened is not None and reopened.status is RunStatus.PENDING
    assert ids(await store.dead_runs(10)) == [("job", "e-1")]
    assert ids(await store.dead_runs(10, job_id="job")) == [("job", "e-1")]


# --- run_counts --------------------------------------------------------------------------------


async def test_run_counts_by_bucket_since(store: JobStore) -> None:
    since = T0
    statuses = {
        "success": [RunStatus.SUCCESS, RunStatus.SUCCESS],
        "failed": [RunStatus.FAILURE, RunStatus.DEAD, RunStatus.DEAD],
        "skipped": [RunStatus.SKIPPED_DISABLED, RunStatus.SKIPPED_NOT_STARTED,
                    RunStatus.SKIPPED_ENDED, RunStatus.SKIPPED_DATE_EXCLUSION,
                    RunStatus.SKIPPED_DEPENDENCY_FAILED],
        "active": [RunStatus.PENDING, RunStatus.RUNNING, RunStatus.RETRY_SCHEDULED],
    }
    runs = []
    for bucket, members in statuses.items():
        for i, status in enumerate(members):
            # One at `since` exactly (counted), the rest after it.
            runs.append(run("a", f"{bucket}-{i}", since + i * MIN, status))
    # Before `since`: never counted; another job's runs only count for it.
    runs += [run("a", f"old-{s.value}", since - timedelta(microseconds=1), s)
             for s in RunStatus]
    runs += [run("b", "b-ok", since + MIN, RunStatus.SUCCESS),
             run("b", "b-old", since - MIN, RunStatus.DEAD)]
    await create(store, *runs)

    counts = await store.run_counts(["a", "b", "c", "a"], since)
    assert counts == {
        "a": {"success": 2, "failed": 3, "skipped": 5, "active": 3},
        "b": {"success": 1, "failed": 0, "skipped": 0, "active": 0},
        "c": {"success": 0, "failed": 0, "skipped": 0, "active": 0},
    }
    assert list(counts["a"]) == list(RUN_COUNT_BUCKETS)
    # Everything, with an earlier `since`; nothing, with a later one.
    everything = await store.run_counts(["a"], since - timedelta(days=1))
    assert sum(everything["a"].values()) == len(RunStatus) + 13
    assert await store.run_counts(["a"], since + timedelta(days=1)) == {
        "a": dict.fromkeys(RUN_COUNT_BUCKETS, 0)}
    assert await store.run_counts([], since) == {}
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.run_counts(["a"], datetime(2026, 3, 1, 12))


def test_run_count_buckets_cover_every_status_once() -> None:
    members = [s for statuses in RUN_COUNT_BUCKETS.values() for s in statuses]
    assert sorted(members) == sorted(RunStatus) and len(members) == len(set(members))
    assert list(RUN_COUNT_BUCKETS) == ["success", "failed", "skipped", "active"]


def test_run_cursor_of_a_run_without_created_at() -> None:
    record = RunRecord(job_id="j", execution_id="e", trigger=Trigger.MANUAL, scheduled_for=T0)
    assert run_cursor(record) == (datetime(1970, 1, 1, tzinfo=UTC), "j", "e")
    assert run_cursor(record.evolve(created_at=T0)) == (T0, "j", "e")


# --- the cost, per backend ---------------------------------------------------------------------


def plan(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> list[str]:
    return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


def test_sqlite_queries_read_index_ranges_never_the_table(tmp_path: Path) -> None:
    path = tmp_path / "plans.sqlite3"
    SqliteJobStore(path).close()
    with sqlite3.connect(path) as conn:
        checks = {
            queries.dead_runs_query(one_job=False, with_cursor=False): ("dead", 10),
            queries.dead_runs_query(one_job=False, with_cursor=True): ("dead", 1, "a", "e", 10),
            queries.dead_runs_query(one_job=True, with_cursor=True): ("dead", "a", 1, "a", "e",
                                                                      10),
            queries.run_counts_query(3): ("a", "b", "c", 0),
            queries.list_runs_query(True): ("a", 1, "e", 10),
            queries.list_runs_query(False): ("a", 10),
        }
        for sql, params in checks.items():
            details = plan(conn, sql, params)
            assert not [d for d in details if d.startswith("SCAN")], (sql, details)
            index = "runs_by_status" if "runs_by_status" in sql else "runs_recent"
            assert any(d.startswith(f"SEARCH runs USING INDEX {index}") for d in details), \
                (sql, details)
            assert not [d for d in details if "TEMP B-TREE FOR ORDER BY" in d], (sql, details)


async def test_sqlite_file_without_the_status_index_gets_it_on_open(tmp_path: Path) -> None:
    path = tmp_path / "older.sqlite3"
    with SqliteJobStore(path) as store:
        await store.create_run(run("a", "a-1", T0, RunStatus.DEAD))
    with sqlite3.connect(path) as raw:  # as a zenjobs before the dashboard queries left it
        raw.execute("DROP INDEX runs_by_status")
    with SqliteJobStore(path) as store:
        assert ids(await store.dead_runs(10)) == [("a", "a-1")]
    with sqlite3.connect(path) as raw:
        names = [row[0] for row in raw.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'runs'")]
    assert "runs_by_status" in names


async def test_firestore_dead_runs_read_only_what_they_return(tmp_path: Path) -> None:
    from tests.contract.conftest import close_store, make_store

    store = make_store("firestore", tmp_path)
    assert isinstance(store, FirestoreJobStore)
    try:
        await dead_history(store)
        # A `runs` collection that is not ours, newest of all: read, left out, read on.
        foreign = store.client().collection("other").document("x").collection("runs")
        await foreign.document("f-1").set({"status": "dead", "created_at": T0 + 9 * MIN})
        before = store.reads
        assert ids(await store.dead_runs(2)) == DEAD_ORDER[:2]
        assert store.reads - before == 3
        before = store.reads
        assert ids(await store.dead_runs(2, job_id="a")) == [("a", "a-2"), ("a", "a-1")]
        assert store.reads - before == 2
        before = store.reads
        counts = await store.run_counts(["a", "b"], T0)
        assert counts["b"] == {"success": 1, "failed": 3, "skipped": 0, "active": 0}
        assert store.reads - before == 8  # one per count query: no run document is read
    finally:
        await close_store(store)
