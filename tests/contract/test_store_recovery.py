"""The overdue-run index: ``overdue_runs`` and ``defer_overdue`` on every backend.

Rules under test are in ``docs/stores.md`` ("Recovery"): every run write stores
when the run's next step is due (``transitions.run_due_at``), final runs are in
no range, the query is ordered and bounded, and a deferral is conditional. The
backend-specific tests at the end prove the cost: SQLite answers with a range
scan of its partial index, Firestore reads only the overdue documents, and a
version-2 SQLite file is upgraded with its stuck runs found.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from zenjobs.stores.firestore.store import FirestoreJobStore
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.records import (
    LeaseOutcome,
    OverdueRun,
    RunRecord,
    RunResult,
    RunStatus,
    Trigger,
)
from zenjobs.stores.sqlite.recovery import OVERDUE_QUERY
from zenjobs.stores.sqlite.store import SCHEMA_VERSION, SqliteJobStore

UTC = timezone.utc
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
LATER = T0 + timedelta(days=1)  # a cutoff every run below is due by


def run(execution_id: str, *, job_id: str = "job", scheduled: datetime = T0,
        created: datetime | None = None, status: RunStatus = RunStatus.PENDING,
        attempt: int = 1) -> RunRecord:
    return RunRecord(job_id=job_id, execution_id=execution_id, trigger=Trigger.SCHEDULE,
                     scheduled_for=scheduled, status=status, attempt=attempt,
                     payload={"n": execution_id}, created_at=created or scheduled)


async def lease(store: JobStore, execution_id: str, now: datetime, until: datetime,
                holder: str = "h", attempt: int = 1) -> RunRecord:
    result = await store.acquire_lease("job", execution_id, attempt, holder, now, until)
    assert result.outcome is LeaseOutcome.ACQUIRED and result.run is not None
    return result.run


def due(found: list[OverdueRun]) -> list[tuple[str, datetime]]:
    return [(item.run.execution_id, item.due_at) for item in found]


async def test_every_state_that_waits_has_its_due_time(store: JobStore) -> None:
    # pending: the latest of scheduled_for and created_at (a catch-up run of an old slot
    # is sent when created; an endpoint run scheduled ahead is due at its time).
    await store.create_run(run("catch-up", scheduled=T0 - timedelta(hours=3), created=T0))
    await store.create_run(run("ahead", scheduled=T0 + 30 * MIN, created=T0))
    # retry_scheduled: next_attempt_at.
    await store.create_run(run("retry"))
    await lease(store, "retry", T0, T0 + 5 * MIN)
    await store.finish_attempt("job", "retry", "h", RunResult(
        RunStatus.RETRY_SCHEDULED, finished_at=T0 + MIN, next_attempt=2,
        next_attempt_at=T0 + 7 * MIN))
    # running: lease_expires_at.
    await store.create_run(run("running"))
    await lease(store, "running", T0, T0 + 4 * MIN)
    # a replay: pending again at attempt + 1, due when the replay was asked for.
    await store.create_run(run("replayed"))
    await lease(store, "replayed", T0, T0 + 5 * MIN)
    await store.finish_attempt("job", "replayed", "h",
                               RunResult(RunStatus.DEAD, finished_at=T0 + MIN))
    reopened = await store.reopen_run("job", "replayed", T0 + 2 * MIN)
    assert reopened is not None

    found = await store.overdue_runs(LATER, 10)
    assert due(found) == [("catch-up", T0), ("replayed", T0 + 2 * MIN),
                          ("running", T0 + 4 * MIN), ("retry", T0 + 7 * MIN),
                          ("ahead", T0 + 30 * MIN)]
    assert [item.run for item in found] == [
        await store.get_run("job", item.run.execution_id) for item in found]
    assert found[3].run.status is RunStatus.RETRY_SCHEDULED and found[3].run.attempt == 2


async def test_final_runs_are_never_overdue(store: JobStore) -> None:
    for status in (RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.DEAD):
        await store.create_run(run(status.value))
        await lease(store, status.value, T0, T0 + MIN)
        await store.finish_attempt("job", status.value, "h",
                                   RunResult(status, finished_at=T0 + MIN))
    await store.create_run(run("skipped"))
    await store.record_skip(run("skipped", status=RunStatus.SKIPPED_DISABLED).evolve(
        finished_at=T0))
    assert await store.record_skip(run("skip-created", status=RunStatus.SKIPPED_ENDED))
    await store.create_run(run("created-final", status=RunStatus.FAILURE))
    await store.create_run(run("left"))

    assert due(await store.overdue_runs(LATER, 10)) == [("left", T0)]


async def test_cutoff_is_inclusive_and_the_order_and_limit_are_exact(store: JobStore) -> None:
    for job_id, execution_id, minutes in (("b", "b-1", 2), ("a", "a-2", 2), ("a", "a-1", 2),
                                          ("a", "a-0", 1), ("c", "c-1", 3)):
        await store.create_run(run(execution_id, job_id=job_id, scheduled=T0 + minutes * MIN))
    everything = await store.overdue_runs(T0 + 2 * MIN, 10)
    assert [(i.run.job_id, i.run.execution_id) for i in everything] == [
        ("a", "a-0"), ("a", "a-1"), ("a", "a-2"), ("b", "b-1")]
    assert [i.run.execution_id for i in await store.overdue_runs(T0 + 2 * MIN, 2)] == [
        "a-0", "a-1"]
    assert await store.overdue_runs(T0 + MIN - timedelta(microseconds=1), 10) == []
    assert await store.overdue_runs(LATER, 0) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.overdue_runs(datetime(2026, 3, 1, 12, 0), 10)


async def test_defer_moves_due_at_only_while_the_run_is_as_seen(store: JobStore) -> None:
    await store.create_run(run("e"))
    (seen,) = await store.overdue_runs(T0, 10)

    assert await store.defer_overdue(seen, T0 + 10 * MIN)
    assert await store.overdue_runs(T0 + 9 * MIN, 10) == []
    (later,) = await store.overdue_runs(T0 + 10 * MIN, 10)
    assert later.due_at == T0 + 10 * MIN and later.run == seen.run  # only due_at moved
    assert await store.get_run("job", "e") == seen.run
    # What was seen before the deferral no longer matches: refused, nothing written.
    assert not await store.defer_overdue(seen, T0 + 20 * MIN)
    assert due(await store.overdue_runs(LATER, 10)) == [("e", T0 + 10 * MIN)]

    # A state change writes its own due_at, and a deferral read before it is refused.
    await lease(store, "e", T0 + MIN, T0 + 3 * MIN)
    assert not await store.defer_overdue(later, T0 + 30 * MIN)
    assert due(await store.overdue_runs(LATER, 10)) == [("e", T0 + 3 * MIN)]
    assert not await store.defer_overdue(OverdueRun(run("absent"), T0), T0 + MIN)
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.defer_overdue(later, datetime(2026, 3, 1, 13, 0))


async def test_a_deferred_run_that_finishes_leaves_the_index(store: JobStore) -> None:
    await store.create_run(run("e"))
    (seen,) = await store.overdue_runs(T0, 10)
    assert await store.defer_overdue(seen, T0 + 5 * MIN)
    await lease(store, "e", T0 + MIN, T0 + 3 * MIN)
    await store.finish_attempt("job", "e", "h", RunResult(RunStatus.SUCCESS,
                                                          finished_at=T0 + 2 * MIN))
    assert await store.overdue_runs(LATER, 10) == []


async def test_an_expired_lease_taken_over_gets_the_new_lease_as_due_time(
        store: JobStore) -> None:
    await store.create_run(run("e"))
    await lease(store, "e", T0, T0 + MIN, holder="crashed")
    (seen,) = await store.overdue_runs(T0 + MIN, 10)
    assert (seen.run.status, seen.run.attempt, seen.due_at) == (RunStatus.RUNNING, 1, T0 + MIN)
    taken = await lease(store, "e", T0 + 2 * MIN, T0 + 6 * MIN, holder="next")
    assert taken.attempt == 2
    assert due(await store.overdue_runs(LATER, 10)) == [("e", T0 + 6 * MIN)]


# --- what each backend pays -----------------------------------------------------------------


def test_sqlite_overdue_query_is_a_range_scan_of_its_partial_index(tmp_path: Path) -> None:
    path = tmp_path / "plan.sqlite3"
    SqliteJobStore(path).close()
    with sqlite3.connect(path) as raw:
        plan = " ".join(row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {OVERDUE_QUERY}",
                                                      (0, 10)))
    assert "SEARCH runs USING INDEX runs_overdue (due_at>? AND due_at<?)" in plan, plan
    assert "SCAN runs" not in plan
    assert "TEMP B-TREE" not in plan  # ordered by the index itself: stops after LIMIT rows


async def test_sqlite_version_2_file_is_upgraded_and_its_stuck_runs_found(
        tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite3"
    with SqliteJobStore(path) as store:
        await store.create_run(run("stuck"))
        await store.create_run(run("retry"))
        await lease(store, "retry", T0, T0 + MIN)
        await store.finish_attempt("job", "retry", "h", RunResult(
            RunStatus.RETRY_SCHEDULED, finished_at=T0, next_attempt_at=T0 + 2 * MIN))
        await store.create_run(run("done"))
        await lease(store, "done", T0, T0 + MIN)
        await store.finish_attempt("job", "done", "h",
                                   RunResult(RunStatus.SUCCESS, finished_at=T0))
    with sqlite3.connect(path) as raw:  # as zenjobs with schema version 2 left it
        raw.execute("DROP INDEX runs_overdue")
        raw.execute("ALTER TABLE runs DROP COLUMN due_at")
        raw.execute("UPDATE zenjobs_schema SET version = 2")

    with SqliteJobStore(path) as store:
        assert due(await store.overdue_runs(LATER, 10)) == [("stuck", T0),
                                                            ("retry", T0 + 2 * MIN)]
    with sqlite3.connect(path) as raw:
        versions = [row[0] for row in raw.execute("SELECT version FROM zenjobs_schema")]
        nulls = raw.execute("SELECT execution_id FROM runs WHERE due_at IS NULL").fetchall()
    assert versions == [SCHEMA_VERSION] == [3]
    assert nulls == [("done",)]


async def test_sqlite_row_hand_edited_to_a_final_status_is_not_overdue(tmp_path: Path) -> None:
    path = tmp_path / "edited.sqlite3"
    with SqliteJobStore(path) as store:
        await store.create_run(run("edited"))
        await store.create_run(run("corrupt"))
        await store.create_run(run("left", scheduled=T0 + MIN))
        with sqlite3.connect(path) as raw:  # due_at is left behind by the hand edit
            raw.execute("UPDATE runs SET status = 'success' WHERE execution_id = 'edited'")
            raw.execute("UPDATE runs SET scheduled_for = 'noon' WHERE execution_id = 'corrupt'")
        assert due(await store.overdue_runs(LATER, 10)) == [("left", T0 + MIN)]


async def test_firestore_document_hand_edited_to_a_final_status_is_not_overdue(
        firestore_store: FirestoreJobStore) -> None:
    store = firestore_store
    await store.create_run(run("edited"))
    await store.create_run(run("left", scheduled=T0 + MIN))
    await store._run_ref("job", "edited").update({"status": "success"})  # as in the console
    assert due(await store.overdue_runs(LATER, 10)) == [("left", T0 + MIN)]


@pytest.mark.parametrize(("stuck", "total"), [(3, 40), (3, 400)])
async def test_firestore_reads_follow_the_overdue_runs_not_all_runs(
        firestore_store: FirestoreJobStore, stuck: int, total: int) -> None:
    """N stuck runs among M: the query reads N documents whatever M (1 when none)."""
    store = firestore_store
    client = store.client()
    batch, pending = client.batch(), 0
    from zenjobs.stores.firestore import codec as codec

    for index in range(total):
        job_id = f"job{index % 7}"
        if index < stuck:  # pending since T0, its task never created
            record = run(f"s{index:04d}", job_id=job_id)
        elif index % 2:  # due later than the cutoff: waiting, not stuck
            record = run(f"w{index:04d}", job_id=job_id, scheduled=LATER + MIN)
        else:  # finished: no due_at
            record = run(f"f{index:04d}", job_id=job_id, status=RunStatus.SUCCESS).evolve(
                finished_at=T0)
        batch.set(store._run_ref(job_id, record.execution_id),
                  codec.encode_run(record, store.run_retention))
        pending += 1
        if pending == 400:
            await batch.commit()
            batch, pending = client.batch(), 0
    if pending:
        await batch.commit()

    found = await store.overdue_runs(LATER, 100)
    assert sorted(i.run.execution_id for i in found) == [f"s{i:04d}" for i in range(stuck)]
    assert store.reads_by_operation["overdue_runs"] == stuck
    assert await store.overdue_runs(T0 - MIN, 100) == []
    assert store.reads_by_operation["overdue_runs"] == stuck + 1  # empty: billed one read
    print(f"\nFirestore overdue_runs: {stuck} stuck among {total} runs -> {stuck} reads")


async def test_firestore_ignores_runs_of_another_collection(firestore_project: str) -> None:
    mine = FirestoreJobStore(project=firestore_project, collection="jobs", rpc_timeout=10.0)
    other = FirestoreJobStore(project=firestore_project, collection="staging", rpc_timeout=10.0)
    try:
        await other.create_run(run("theirs"))
        await mine.create_run(run("mine", scheduled=T0 + MIN))
        assert due(await mine.overdue_runs(LATER, 10)) == [("mine", T0 + MIN)]
        assert due(await other.overdue_runs(LATER, 10)) == [("theirs", T0)]
    finally:
        await mine.close()
        await other.close()
