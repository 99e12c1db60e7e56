"""Consistency rules every store must share: tie-breaks, precision, races between steps.

Written in the store review: each test pins a rule of ``docs/stores.md`` that
the other contract tests left implicit (ties in ``due_jobs`` and ``list_runs``
cut by a limit, microseconds kept, a late or concurrent writer never losing
another writer's change). Runs on every backend in ``BACKENDS``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from zenjobs.stores.protocol import JobStore
from zenjobs.stores.records import JobConfig, LeaseOutcome, RunRecord, RunResult, RunStatus, Trigger
from zenjobs.stores.sqlite.store import SqliteJobStore

UTC = timezone.utc
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
US = timedelta(microseconds=1)


def pending(execution_id: str, created: datetime, job_id: str = "job") -> RunRecord:
    return RunRecord(job_id=job_id, execution_id=execution_id, trigger=Trigger.SCHEDULE,
                     scheduled_for=created, created_at=created)


async def leased(store: JobStore, execution_id: str, holder: str = "h") -> None:
    assert await store.create_run(pending(execution_id, T0))
    lease = await store.acquire_lease("job", execution_id, 1, holder, T0, T0 + 10 * MIN)
    assert lease.outcome is LeaseOutcome.ACQUIRED


# --- due_jobs: one order, ties included --------------------------------------------------------


async def test_due_ties_break_by_job_id_whatever_the_limit(store: JobStore) -> None:
    """Equal priority and next_run_at: job id ascending, also when the limit cuts the tie."""
    for job_id in ("d", "b", "e", "a", "c"):
        await store.ensure_job(job_id, JobConfig(priority=1), T0 - MIN, T0)
    await store.ensure_job("z-urgent", JobConfig(priority=9), T0, T0)
    await store.ensure_job("y-later", JobConfig(priority=1), T0, T0)
    await store.ensure_job("x-ended", JobConfig(priority=9), None, T0)
    full = ["z-urgent", "a", "b", "c", "d", "e", "y-later"]
    for limit in (1, 2, 3, 6, 7, 50):
        due = await store.due_jobs(T0, limit)
        assert [job.job_id for job in due] == full[:limit], limit


async def test_due_order_is_by_instant_not_by_zone(store: JobStore) -> None:
    tokyo = timezone(timedelta(hours=9))
    await store.ensure_job("b", JobConfig(), (T0 - MIN).astimezone(tokyo), T0)
    await store.ensure_job("a", JobConfig(), T0, T0)
    await store.ensure_job("c", JobConfig(), T0 - MIN + US, T0)
    assert [job.job_id for job in await store.due_jobs(T0, 2)] == ["b", "c"]
    assert [job.job_id for job in await store.due_jobs(T0 - MIN, 5)] == ["b"]


# --- list_runs: ties --------------------------------------------------------------------------


async def test_list_runs_ties_break_by_execution_id_descending(store: JobStore) -> None:
    for execution_id in ("r2", "r4", "r1", "r3"):
        assert await store.create_run(pending(execution_id, T0))
    assert await store.create_run(pending("r0", T0 + US))
    runs = await store.list_runs("job", 3)
    assert [run.execution_id for run in runs] == ["r0", "r4", "r3"]
    assert [run.execution_id for run in await store.list_runs("job", 9)] == [
        "r0", "r4", "r3", "r2", "r1"]


# --- instants: microseconds kept, UTC-aware -----------------------------------------------------


async def test_microseconds_survive_every_write(store: JobStore) -> None:
    at = T0 + 123_457 * US
    job, _ = await store.ensure_job("job", JobConfig(start_at=at), at, T0)
    stored = await store.get_job("job")
    assert stored is not None and stored == job
    assert stored.next_run_at == at and stored.config.start_at == at
    assert not await store.claim_slot("job", at + US, None, T0)
    assert await store.claim_slot("job", at, at + MIN, at)
    assert await store.due_jobs(at + MIN - US, 5) == []
    assert [j.job_id for j in await store.due_jobs(at + MIN, 5)] == ["job"]

    assert await store.create_run(pending("e", at))
    lease = await store.acquire_lease("job", "e", 1, "h", at, at + 2 * US)
    assert lease.run is not None and lease.run.lease_expires_at == at + 2 * US
    finished = await store.finish_attempt("job", "e", "h", RunResult(
        RunStatus.SUCCESS, finished_at=at + 3 * US, duration_ms=0))
    run = await store.get_run("job", "e")
    assert run is not None and run == finished
    instants = [run.scheduled_for, run.created_at, run.started_at, run.finished_at]
    assert instants == [at, at, at, at + 3 * US]
    assert all(i is not None and i.utcoffset() == timedelta(0) for i in instants)
    after = await store.get_job("job")
    assert after is not None and after.last_run_at == at + 3 * US
    assert after.last_run_at.utcoffset() == timedelta(0)


# --- concurrent writers: nobody's change is lost ----------------------------------------------


async def test_older_and_newer_finishes_racing_keep_the_newest(store: JobStore) -> None:
    await store.ensure_job("job", JobConfig(), None, T0)
    names = [f"e{i}" for i in range(6)]
    for name in names:
        await leased(store, name)
    ends = [RunResult(RunStatus.SUCCESS if i % 2 else RunStatus.FAILURE,
                      finished_at=T0 + (i + 1) * MIN, duration_ms=1) for i in range(6)]
    order = [3, 5, 0, 4, 1, 2]
    await asyncio.gather(*(store.finish_attempt("job", names[i], "h", ends[i]) for i in order))
    job = await store.get_job("job")
    assert job is not None
    assert (job.last_execution_id, job.last_status, job.last_run_at) == (
        "e5", RunStatus.SUCCESS, T0 + 6 * MIN)


async def test_config_edit_racing_claims_and_outcomes_is_never_lost(store: JobStore) -> None:
    await store.ensure_job("job", JobConfig(max_retries=1), T0, T0)
    await leased(store, "e")
    edited = JobConfig(max_retries=7, priority=3, dependencies=("other",))
    claimed, _, finished = await asyncio.gather(
        store.claim_slot("job", T0, T0 + MIN, T0),
        store.update_job("job", config=edited, now=T0),
        store.finish_attempt("job", "e", "h", RunResult(RunStatus.SUCCESS,
                                                         finished_at=T0 + US, duration_ms=0)))
    assert claimed and finished is not None
    job = await store.get_job("job")
    assert job is not None
    assert job.config == edited
    assert (job.next_run_at, job.last_status, job.last_execution_id) == (
        T0 + MIN, RunStatus.SUCCESS, "e")


# --- SQLite: two stores (two processes) on one file ---------------------------------------------


async def test_two_sqlite_stores_on_one_file_see_each_others_writes(tmp_path: Path) -> None:
    """A dev server and a CLI command on one file: no cached config or run row goes stale."""
    path = tmp_path / "shared.sqlite3"
    with SqliteJobStore(path) as server, SqliteJobStore(path) as cli:
        await server.ensure_job("job", JobConfig(max_retries=1), T0 - MIN, T0)
        assert [j.config.max_retries for j in await server.due_jobs(T0, 5)] == [1]
        await cli.update_job("job", config=JobConfig(max_retries=4, priority=2), now=T0)
        job = await server.get_job("job")
        assert job is not None and (job.config.max_retries, job.config.priority) == (4, 2)
        assert [j.config.max_retries for j in await server.due_jobs(T0, 5)] == [4]
        with sqlite3.connect(path) as raw:  # a hand edit back to the first config text
            raw.execute("UPDATE jobs SET config = ?, priority = 0 WHERE job_id = 'job'",
                        (json.dumps({**_config(raw), "max_retries": 1, "priority": 0}),))
        job = await server.get_job("job")
        assert job is not None and job.config.max_retries == 1 and job.misconfigured is None

        await server.create_run(pending("e", T0))
        assert (await server.acquire_lease("job", "e", 1, "h", T0, T0 + MIN)).outcome is \
            LeaseOutcome.ACQUIRED
        # the CLI's view of the row differs from the server's last write: it must not matter
        assert await cli.record_skip(pending("e", T0).evolve(
            status=RunStatus.SKIPPED_DISABLED, finished_at=T0))
        assert await server.finish_attempt("job", "e", "h", RunResult(
            RunStatus.SUCCESS, finished_at=T0 + MIN, duration_ms=0)) is None
        run = await server.get_run("job", "e")
        assert run is not None and run.status is RunStatus.SKIPPED_DISABLED
        assert run.lease_holder is None and run.started_at == T0
        job = await cli.get_job("job")
        assert job is not None and job.last_status is None


def _config(raw: sqlite3.Connection) -> dict[str, object]:
    (text,) = raw.execute("SELECT config FROM jobs WHERE job_id = 'job'").fetchone()
    loaded: dict[str, object] = json.loads(text)
    return loaded


async def test_sqlite_update_job_returns_the_row_as_stored_after_hand_edits(
        tmp_path: Path) -> None:
    """update_job answers what get_job reads next (as Firestore does), whatever was hand-edited."""
    path = tmp_path / "edited.sqlite3"
    with SqliteJobStore(path) as store:
        await store.ensure_job("job", JobConfig(), None, T0)
        with sqlite3.connect(path) as raw:
            raw.execute("UPDATE jobs SET enabled = 0, config = ? WHERE job_id = 'job'",
                        (json.dumps({**_config(raw), "max_retries": "three", "enabeld": False}),))
        broken = await store.get_job("job")
        assert broken is not None and "enabeld" in str(broken.misconfigured)
        fixed = await store.update_job("job", config=JobConfig(max_retries=2), now=T0)
        assert fixed == await store.get_job("job")
        assert fixed.misconfigured is None and fixed.config.max_retries == 2

        with sqlite3.connect(path) as raw:
            raw.execute("UPDATE jobs SET last_status = 'bogus' WHERE job_id = 'job'")
        cleared = await store.update_job("job", misconfigured=None, now=T0)
        assert cleared == await store.get_job("job")
        assert cleared.misconfigured is not None and "last_status" in cleared.misconfigured


async def test_sqlite_hand_edited_run_rows_never_make_a_read_raise(tmp_path: Path) -> None:
    """As on Firestore: an unreadable run is a final CorruptRunRecord failure, replayable."""
    path = tmp_path / "runs.sqlite3"
    with SqliteJobStore(path) as store:
        for name in ("bad-status", "bad-payload", "bad-attempt"):
            assert await store.create_run(pending(name, T0))
        with sqlite3.connect(path) as raw:
            raw.execute("UPDATE runs SET status = 'finished?' WHERE execution_id = 'bad-status'")
            raw.execute("UPDATE runs SET payload = '{oops', lease_expires_at = 'soon'"
                        " WHERE execution_id = 'bad-payload'")
            raw.execute("UPDATE runs SET attempt = 'two' WHERE execution_id = 'bad-attempt'")
        corrupt = await store.get_run("job", "bad-status")
        assert corrupt is not None and corrupt.status is RunStatus.FAILURE
        assert corrupt.error_type == "CorruptRunRecord"
        assert "column 'status'" in str(corrupt.error_message)
        lease = await store.acquire_lease("job", "bad-status", 1, "h", T0, T0 + MIN)
        assert lease.outcome is LeaseOutcome.FINISHED

        lenient = await store.get_run("job", "bad-payload")
        assert lenient is not None and lenient.status is RunStatus.PENDING
        assert (lenient.payload, lenient.lease_expires_at) == (None, None)
        attempt = await store.get_run("job", "bad-attempt")
        assert attempt is not None and attempt.attempt == 1
        assert len(await store.list_runs("job", 10)) == 3

        reopened = await store.reopen_run("job", "bad-status", T0 + MIN)
        assert reopened is not None and reopened.status is RunStatus.PENDING
        assert await store.get_run("job", "bad-status") == reopened
