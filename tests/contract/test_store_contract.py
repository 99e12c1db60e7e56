"""The JobStore contract: the same behaviour, proven on every backend in ``BACKENDS``.

Rules under test are written down in ``docs/stores.md``; each test uses only
the protocol, never a backend's internals.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from zenjobs.errors import UnknownJobError
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.records import JobConfig, LeaseOutcome, RunRecord, RunResult, RunStatus, Trigger

from .conftest import PERSISTENT_BACKENDS, close_store, make_store

UTC = timezone.utc
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
LEASE = timedelta(minutes=5)


def run_for(job_id: str = "job", execution_id: str = "exec-1", *, created: datetime = T0,
            status: RunStatus = RunStatus.PENDING, attempt: int = 1,
            payload: object = None) -> RunRecord:
    return RunRecord(job_id=job_id, execution_id=execution_id, trigger=Trigger.SCHEDULE,
                     scheduled_for=created, status=status, attempt=attempt, payload=payload,
                     created_at=created)


async def running(store: JobStore, holder: str = "h1", **kw: object) -> RunRecord:
    """A run record created and leased by ``holder`` at T0."""
    run = run_for(**kw)  # type: ignore[arg-type]
    assert await store.create_run(run)
    lease = await store.acquire_lease(run.job_id, run.execution_id, run.attempt, holder, T0,
                                      T0 + LEASE)
    assert lease.outcome is LeaseOutcome.ACQUIRED and lease.run is not None
    return lease.run


def done(status: RunStatus, at: datetime = T0 + MIN, **kw: object) -> RunResult:
    return RunResult(status=status, finished_at=at, duration_ms=60_000, **kw)  # type: ignore[arg-type]


# --- jobs -------------------------------------------------------------------------------------


async def test_ensure_job_creates_once_and_never_overwrites(store: JobStore) -> None:
    job, created = await store.ensure_job("job", JobConfig(priority=3), T0, T0)
    assert created
    assert (job.job_id, job.config.priority, job.next_run_at) == ("job", 3, T0)
    assert job.last_status is None and job.misconfigured is None

    edited = await store.update_job("job", config=JobConfig(priority=9, enabled=False), now=T0)
    again, created = await store.ensure_job("job", JobConfig(priority=1), T0 + MIN, T0 + MIN)
    assert not created
    assert again == edited
    assert await store.get_job("job") == edited


async def test_config_round_trips_every_field(store: JobStore) -> None:
    config = JobConfig(enabled=False, cron="0 9 * * 1-5", interval_seconds=None,
                       timezone="Europe/Paris", start_at=T0 - timedelta(days=3),
                       end_at=date(2026, 12, 31), skip_dates=(date(2026, 5, 1), date(2026, 12, 25)),
                       dependencies=("a", "b"), max_retries=7, priority=-2)
    await store.ensure_job("job", config, None, T0)
    job = await store.get_job("job")
    assert job is not None
    assert job.config == config
    assert job.config.start_at is not None and job.config.start_at.utcoffset() == timedelta(0)


async def test_get_and_list_jobs(store: JobStore) -> None:
    assert await store.get_job("nope") is None
    assert await store.list_jobs() == []
    for job_id in ("b", "a", "c"):
        await store.ensure_job(job_id, JobConfig(), None, T0)
    assert [j.job_id for j in await store.list_jobs()] == ["a", "b", "c"]


async def test_update_job_leaves_ellipsis_fields_unchanged(store: JobStore) -> None:
    await store.ensure_job("job", JobConfig(), T0, T0)
    job = await store.update_job("job", config=JobConfig(priority=5), now=T0 + MIN)
    assert (job.config.priority, job.next_run_at, job.misconfigured) == (5, T0, None)
    assert job.updated_at == T0 + MIN

    job = await store.update_job("job", misconfigured="cron: invalid field", now=T0 + 2 * MIN)
    assert (job.config.priority, job.next_run_at) == (5, T0)
    assert job.misconfigured == "cron: invalid field"

    job = await store.update_job("job", next_run_at=None, misconfigured=None, now=T0 + 3 * MIN)
    assert (job.config.priority, job.next_run_at, job.misconfigured) == (5, None, None)
    assert await store.get_job("job") == job

    job = await store.update_job("job", next_run_at=T0 + LEASE, now=T0 + 4 * MIN)
    assert job.next_run_at == T0 + LEASE


async def test_update_unknown_job_raises(store: JobStore) -> None:
    with pytest.raises(UnknownJobError):
        await store.update_job("ghost", next_run_at=T0, now=T0)


# --- due jobs and claims ----------------------------------------------------------------------


async def test_due_jobs_filters_enabled_and_due(store: JobStore) -> None:
    await store.ensure_job("past", JobConfig(), T0 - MIN, T0)
    await store.ensure_job("exactly-now", JobConfig(), T0, T0)
    await store.ensure_job("future", JobConfig(), T0 + MIN, T0)
    await store.ensure_job("never", JobConfig(), None, T0)
    await store.ensure_job("disabled", JobConfig(enabled=False), T0 - MIN, T0)
    due = await store.due_jobs(T0, 10)
    assert {j.job_id for j in due} == {"past", "exactly-now"}


async def test_due_jobs_order_and_limit(store: JobStore) -> None:
    await store.ensure_job("low-early", JobConfig(priority=0), T0 - 10 * MIN, T0)
    await store.ensure_job("high-late", JobConfig(priority=5), T0 - MIN, T0)
    await store.ensure_job("high-early", JobConfig(priority=5), T0 - 5 * MIN, T0)
    await store.ensure_job("negative", JobConfig(priority=-1), T0 - 20 * MIN, T0)
    order = ["high-early", "high-late", "low-early", "negative"]
    assert [j.job_id for j in await store.due_jobs(T0, 10)] == order
    assert [j.job_id for j in await store.due_jobs(T0, 2)] == order[:2]
    assert await store.due_jobs(T0, 0) == []


async def test_due_jobs_follow_runtime_edits(store: JobStore) -> None:
    await store.ensure_job("job", JobConfig(), T0, T0)
    await store.update_job("job", config=JobConfig(enabled=False), now=T0)
    assert await store.due_jobs(T0, 10) == []
    await store.update_job("job", config=JobConfig(enabled=True), now=T0)
    assert [j.job_id for j in await store.due_jobs(T0, 10)] == ["job"]


async def test_claim_slot_is_compare_and_set(store: JobStore) -> None:
    await store.ensure_job("job", JobConfig(), T0, T0)
    assert not await store.claim_slot("job", T0 - MIN, T0 + MIN, T0)  # wrong expectation
    assert await store.claim_slot("job", T0, T0 + MIN, T0)
    assert not await store.claim_slot("job", T0, T0 + MIN, T0)  # the slot is gone
    job = await store.get_job("job")
    assert job is not None and job.next_run_at == T0 + MIN
    assert await store.due_jobs(T0, 10) == []
    assert not await store.claim_slot("ghost", T0, T0 + MIN, T0)


async def test_claim_slot_to_none_ends_the_schedule(store: JobStore) -> None:
    await store.ensure_job("job", JobConfig(), T0, T0)
    assert await store.claim_slot("job", T0, None, T0)
    job = await store.get_job("job")
    assert job is not None and job.next_run_at is None
    assert await store.due_jobs(T0 + timedelta(days=365), 10) == []


async def test_claim_slot_compares_instants_not_zones(store: JobStore) -> None:
    await store.ensure_job("job", JobConfig(), T0, T0)
    paris = T0.astimezone(ZoneInfo("Europe/Paris"))
    assert await store.claim_slot("job", paris, T0 + MIN, T0)


async def test_naive_datetimes_are_refused(store: JobStore) -> None:
    with pytest.raises(ValueError, match="naive"):
        await store.ensure_job("job", JobConfig(), datetime(2026, 1, 1), T0)


# --- runs -------------------------------------------------------------------------------------


async def test_create_run_is_create_if_absent(store: JobStore) -> None:
    run = run_for(payload={"to": ["a@example.com"], "n": 1, "nested": {"ok": True}})
    assert await store.create_run(run)
    assert not await store.create_run(run.evolve(payload={"other": 1}, attempt=4))
    stored = await store.get_run("job", "exec-1")
    assert stored == run
    assert await store.get_run("job", "other") is None
    assert await store.get_run("other-job", "exec-1") is None


async def test_returned_payload_is_a_copy(store: JobStore) -> None:
    await store.create_run(run_for(payload={"items": [1, 2]}))
    first = await store.get_run("job", "exec-1")
    assert first is not None
    first.payload["items"].append(3)
    again = await store.get_run("job", "exec-1")
    assert again is not None and again.payload == {"items": [1, 2]}


async def test_run_instants_come_back_utc(store: JobStore) -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    await store.create_run(run_for(created=T0.astimezone(tokyo)))
    run = await store.get_run("job", "exec-1")
    assert run is not None
    assert run.scheduled_for == T0 and run.scheduled_for.utcoffset() == timedelta(0)
    assert run.created_at == T0 and run.created_at.utcoffset() == timedelta(0)


async def test_list_runs_most_recent_first_with_limit(store: JobStore) -> None:
    for i in (2, 0, 3, 1):
        await store.create_run(run_for(execution_id=f"e{i}", created=T0 + i * MIN))
    await store.create_run(run_for(job_id="other", execution_id="x", created=T0 + LEASE))
    assert [r.execution_id for r in await store.list_runs("job", 10)] == ["e3", "e2", "e1", "e0"]
    assert [r.execution_id for r in await store.list_runs("job", 2)] == ["e3", "e2"]
    assert await store.list_runs("job", 0) == []
    assert await store.list_runs("nobody", 10) == []


# --- leases -----------------------------------------------------------------------------------


async def test_acquire_missing_run(store: JobStore) -> None:
    result = await store.acquire_lease("job", "nope", 1, "h1", T0, T0 + LEASE)
    assert result.outcome is LeaseOutcome.MISSING and result.run is None


async def test_acquire_pending_run(store: JobStore) -> None:
    await store.create_run(run_for())
    result = await store.acquire_lease("job", "exec-1", 1, "h1", T0 + MIN, T0 + LEASE)
    assert result.outcome is LeaseOutcome.ACQUIRED and not result.taken_over
    assert result.run is not None
    assert result.run.status is RunStatus.RUNNING and result.run.attempt == 1
    assert result.run.started_at == T0 + MIN
    assert (result.run.lease_holder, result.run.lease_expires_at) == ("h1", T0 + LEASE)
    assert await store.get_run("job", "exec-1") == result.run


async def test_live_lease_of_another_holder_is_held(store: JobStore) -> None:
    mine = await running(store, "h1")
    result = await store.acquire_lease("job", "exec-1", 1, "h2", T0 + LEASE - MIN, T0 + 2 * LEASE)
    assert result.outcome is LeaseOutcome.HELD
    assert await store.get_run("job", "exec-1") == mine


async def test_same_holder_reacquires_and_extends(store: JobStore) -> None:
    mine = await running(store, "h1")
    result = await store.acquire_lease("job", "exec-1", 1, "h1", T0 + MIN, T0 + 2 * LEASE)
    assert result.outcome is LeaseOutcome.ACQUIRED and not result.taken_over
    assert result.run is not None
    assert (result.run.attempt, result.run.started_at) == (1, mine.started_at)
    assert result.run.lease_expires_at == T0 + 2 * LEASE


async def test_expired_lease_is_taken_over_at_next_attempt(store: JobStore) -> None:
    await running(store, "h1")
    # A lease expiring exactly now is expired.
    result = await store.acquire_lease("job", "exec-1", 1, "h2", T0 + LEASE, T0 + 2 * LEASE)
    assert result.outcome is LeaseOutcome.ACQUIRED and result.taken_over
    assert result.run is not None
    assert (result.run.attempt, result.run.lease_holder) == (2, "h2")
    assert result.run.started_at == T0 + LEASE and result.run.status is RunStatus.RUNNING
    # The crashed holder can no longer finish, and its attempt is stale now.
    assert await store.finish_attempt("job", "exec-1", "h1", done(RunStatus.SUCCESS)) is None
    stale = await store.acquire_lease("job", "exec-1", 1, "h3", T0 + LEASE, T0 + 2 * LEASE)
    assert stale.outcome is LeaseOutcome.STALE
    held = await store.acquire_lease("job", "exec-1", 2, "h3", T0 + LEASE, T0 + 2 * LEASE)
    assert held.outcome is LeaseOutcome.HELD


async def test_older_delivery_attempt_is_stale(store: JobStore) -> None:
    await store.create_run(run_for(attempt=3))
    result = await store.acquire_lease("job", "exec-1", 2, "h1", T0, T0 + LEASE)
    assert result.outcome is LeaseOutcome.STALE
    assert result.run is not None and result.run.status is RunStatus.PENDING


async def test_newer_delivery_attempt_waits(store: JobStore) -> None:
    await store.create_run(run_for(attempt=1))
    result = await store.acquire_lease("job", "exec-1", 2, "h1", T0, T0 + LEASE)
    assert result.outcome is LeaseOutcome.HELD
    stored = await store.get_run("job", "exec-1")
    assert stored is not None and stored.status is RunStatus.PENDING


@pytest.mark.parametrize("status", [s for s in RunStatus if s.is_final])
async def test_final_run_is_finished(store: JobStore, status: RunStatus) -> None:
    await store.create_run(run_for(status=status))
    for attempt in (1, 2):
        result = await store.acquire_lease("job", "exec-1", attempt, "h1", T0, T0 + LEASE)
        assert result.outcome is LeaseOutcome.FINISHED
        assert result.run is not None and result.run.status is status


# --- finishing attempts -----------------------------------------------------------------------


async def test_only_the_holder_finishes(store: JobStore) -> None:
    mine = await running(store, "h1")
    assert await store.finish_attempt("job", "exec-1", "h2", done(RunStatus.SUCCESS)) is None
    assert await store.finish_attempt("job", "nope", "h1", done(RunStatus.SUCCESS)) is None
    assert await store.get_run("job", "exec-1") == mine


async def test_success_updates_the_job_atomically(store: JobStore) -> None:
    await store.ensure_job("job", JobConfig(), T0, T0)
    await running(store, "h1")
    run = await store.finish_attempt("job", "exec-1", "h1", done(RunStatus.SUCCESS))
    assert run is not None
    assert (run.status, run.finished_at, run.duration_ms) == (RunStatus.SUCCESS, T0 + MIN, 60_000)
    assert (run.lease_holder, run.lease_expires_at, run.error_type) == (None, None, None)
    assert await store.get_run("job", "exec-1") == run
    job = await store.get_job("job")
    assert job is not None
    assert (job.last_status, job.last_run_at, job.last_execution_id) == (
        RunStatus.SUCCESS, T0 + MIN, "exec-1")
    assert job.next_run_at == T0  # scheduling state is not touched
    again = await store.finish_attempt("job", "exec-1", "h1", done(RunStatus.FAILURE))
    assert again is None


@pytest.mark.parametrize("status", [RunStatus.FAILURE, RunStatus.DEAD])
async def test_failures_record_error_and_job_status(store: JobStore, status: RunStatus) -> None:
    await store.ensure_job("job", JobConfig(), None, T0)
    await running(store, "h1")
    result = done(status, error_type="ValueError", error_message="boom")
    run = await store.finish_attempt("job", "exec-1", "h1", result)
    assert run is not None
    assert (run.status, run.error_type, run.error_message) == (status, "ValueError", "boom")
    job = await store.get_job("job")
    assert job is not None and job.last_status is status


async def test_retry_scheduled_moves_to_next_attempt(store: JobStore) -> None:
    await store.ensure_job("job", JobConfig(), None, T0)
    await running(store, "h1")
    retry_at = T0 + 3 * MIN
    result = done(RunStatus.RETRY_SCHEDULED, error_type="IOError", error_message="flaky",
                  next_attempt=2, next_attempt_at=retry_at)
    run = await store.finish_attempt("job", "exec-1", "h1", result)
    assert run is not None
    assert (run.status, run.attempt) == (RunStatus.RETRY_SCHEDULED, 2)
    assert run.next_attempt_at == retry_at
    assert (run.lease_holder, run.lease_expires_at) == (None, None)
    assert (run.error_type, run.error_message) == ("IOError", "flaky")
    job = await store.get_job("job")
    assert job is not None and job.last_status is None  # a retry is not a completed run

    stale = await store.acquire_lease("job", "exec-1", 1, "h1", retry_at, retry_at + LEASE)
    assert stale.outcome is LeaseOutcome.STALE
    # The next attempt may be delivered to any holder, even while the old lease time runs.
    nxt = await store.acquire_lease("job", "exec-1", 2, "h2", T0 + 2 * MIN, retry_at + LEASE)
    assert nxt.outcome is LeaseOutcome.ACQUIRED and not nxt.taken_over
    assert nxt.run is not None and (nxt.run.attempt, nxt.run.status) == (2, RunStatus.RUNNING)
    assert nxt.run.finished_at is None and nxt.run.next_attempt_at is None


async def test_retry_defaults_to_attempt_plus_one(store: JobStore) -> None:
    await running(store, "h1", attempt=2)
    run = await store.finish_attempt("job", "exec-1", "h1", done(RunStatus.RETRY_SCHEDULED))
    assert run is not None and run.attempt == 3


async def test_finish_refuses_non_terminal_status(store: JobStore) -> None:
    await running(store, "h1")
    for status in (RunStatus.PENDING, RunStatus.RUNNING):
        with pytest.raises(ValueError):
            await store.finish_attempt("job", "exec-1", "h1", done(status))
    with pytest.raises(ValueError):
        await store.finish_attempt("job", "exec-1", "h1",
                                   done(RunStatus.RETRY_SCHEDULED, next_attempt=1))


async def test_skip_status_through_finish_keeps_last_status(store: JobStore) -> None:
    await store.ensure_job("job", JobConfig(), None, T0)
    await running(store, "h1", execution_id="ok")
    await store.finish_attempt("job", "ok", "h1", done(RunStatus.SUCCESS))
    await running(store, "h1", execution_id="later", created=T0 + MIN)
    run = await store.finish_attempt("job", "later", "h1",
                                     done(RunStatus.SKIPPED_DISABLED, at=T0 + 2 * MIN))
    assert run is not None and run.status is RunStatus.SKIPPED_DISABLED
    job = await store.get_job("job")
    assert job is not None
    assert (job.last_status, job.last_execution_id) == (RunStatus.SUCCESS, "ok")


async def test_older_completion_does_not_roll_back_last_status(store: JobStore) -> None:
    await store.ensure_job("job", JobConfig(), None, T0)
    await running(store, "h1", execution_id="slow")
    await running(store, "h2", execution_id="fast")
    await store.finish_attempt("job", "fast", "h2", done(RunStatus.SUCCESS, at=T0 + 2 * MIN))
    await store.finish_attempt("job", "slow", "h1", done(RunStatus.FAILURE, at=T0 + MIN))
    job = await store.get_job("job")
    assert job is not None
    assert (job.last_status, job.last_execution_id) == (RunStatus.SUCCESS, "fast")


async def test_finish_without_job_document_still_records_run(store: JobStore) -> None:
    await running(store, "h1")
    run = await store.finish_attempt("job", "exec-1", "h1", done(RunStatus.SUCCESS))
    assert run is not None and run.status is RunStatus.SUCCESS
    assert await store.get_job("job") is None


# --- skips and replays ------------------------------------------------------------------------


async def test_record_skip_never_changes_last_status(store: JobStore) -> None:
    await store.ensure_job("job", JobConfig(), None, T0)
    await running(store, "h1", execution_id="ok")
    await store.finish_attempt("job", "ok", "h1", done(RunStatus.SUCCESS))
    skip = run_for(execution_id="skip", created=T0 + LEASE,
                   status=RunStatus.SKIPPED_DEPENDENCY_FAILED).evolve(finished_at=T0 + LEASE)
    assert await store.record_skip(skip)
    assert await store.get_run("job", "skip") == skip
    job = await store.get_job("job")
    assert job is not None
    assert (job.last_status, job.last_execution_id) == (RunStatus.SUCCESS, "ok")


async def test_record_skip_finishes_an_open_run_once(store: JobStore) -> None:
    await store.create_run(run_for(attempt=2, payload={"k": 1}))
    skip = run_for(status=RunStatus.SKIPPED_ENDED).evolve(finished_at=T0 + MIN)
    assert await store.record_skip(skip)
    stored = await store.get_run("job", "exec-1")
    assert stored is not None
    assert (stored.status, stored.attempt, stored.payload) == (RunStatus.SKIPPED_ENDED, 2, {"k": 1})
    assert stored.finished_at == T0 + MIN
    assert not await store.record_skip(skip.evolve(status=RunStatus.SKIPPED_DISABLED))
    again = await store.get_run("job", "exec-1")
    assert again is not None and again.status is RunStatus.SKIPPED_ENDED


async def test_record_skip_of_a_leased_run_ends_the_lease(store: JobStore) -> None:
    await running(store, "h1")
    assert await store.record_skip(run_for(status=RunStatus.SKIPPED_NOT_STARTED))
    stored = await store.get_run("job", "exec-1")
    assert stored is not None and stored.lease_holder is None
    assert await store.finish_attempt("job", "exec-1", "h1", done(RunStatus.SUCCESS)) is None


async def test_record_skip_needs_a_skip_status(store: JobStore) -> None:
    with pytest.raises(ValueError):
        await store.record_skip(run_for(status=RunStatus.SUCCESS))


@pytest.mark.parametrize("status", [RunStatus.FAILURE, RunStatus.DEAD])
async def test_reopen_failed_run_for_replay(store: JobStore, status: RunStatus) -> None:
    await store.ensure_job("job", JobConfig(), None, T0)
    await running(store, "h1", attempt=3)
    await store.finish_attempt("job", "exec-1", "h1", done(status, error_type="E"))
    run = await store.reopen_run("job", "exec-1", T0 + LEASE)
    assert run is not None
    assert (run.status, run.attempt, run.lease_holder) == (RunStatus.PENDING, 4, None)
    assert run.finished_at is None and run.started_at is None
    assert await store.get_run("job", "exec-1") == run
    job = await store.get_job("job")
    assert job is not None and job.last_status is status  # until the replay completes
    assert await store.reopen_run("job", "exec-1", T0 + LEASE) is None  # already pending

    lease = await store.acquire_lease("job", "exec-1", 4, "h2", T0 + LEASE, T0 + 2 * LEASE)
    assert lease.outcome is LeaseOutcome.ACQUIRED
    await store.finish_attempt("job", "exec-1", "h2", done(RunStatus.SUCCESS, at=T0 + 2 * LEASE))
    job = await store.get_job("job")
    assert job is not None and job.last_status is RunStatus.SUCCESS


@pytest.mark.parametrize("status", [RunStatus.SUCCESS, RunStatus.PENDING, RunStatus.RUNNING,
                                    RunStatus.RETRY_SCHEDULED, RunStatus.SKIPPED_DISABLED])
async def test_reopen_refuses_other_statuses(store: JobStore, status: RunStatus) -> None:
    await store.create_run(run_for(status=status))
    assert await store.reopen_run("job", "exec-1", T0) is None
    stored = await store.get_run("job", "exec-1")
    assert stored is not None and (stored.status, stored.attempt) == (status, 1)
    assert await store.reopen_run("job", "missing", T0) is None


# --- concurrency ------------------------------------------------------------------------------


async def test_concurrent_lease_has_one_winner(store: JobStore) -> None:
    await store.create_run(run_for())
    results = await asyncio.gather(*(
        store.acquire_lease("job", "exec-1", 1, f"holder-{i}", T0, T0 + LEASE) for i in range(50)))
    outcomes = [r.outcome for r in results]
    assert outcomes.count(LeaseOutcome.ACQUIRED) == 1
    assert outcomes.count(LeaseOutcome.HELD) == 49
    winner = next(r.run for r in results if r.outcome is LeaseOutcome.ACQUIRED)
    assert winner is not None
    assert await store.get_run("job", "exec-1") == winner


async def test_concurrent_claims_of_one_slot_have_one_winner(store: JobStore) -> None:
    await store.ensure_job("job", JobConfig(), T0, T0)
    wins = await asyncio.gather(*(store.claim_slot("job", T0, T0 + MIN, T0) for _ in range(20)))
    assert wins.count(True) == 1


async def test_concurrent_claims_of_many_slots(store: JobStore) -> None:
    job_ids = [f"job-{i:03d}" for i in range(100)]
    for job_id in job_ids:
        await store.ensure_job(job_id, JobConfig(), T0, T0)
    claims = [(job_id, claimer) for claimer in range(20) for job_id in job_ids]
    wins = await asyncio.gather(*(store.claim_slot(job_id, T0, T0 + MIN, T0)
                                  for job_id, _ in claims))
    won = [job_id for (job_id, _), win in zip(claims, wins, strict=True) if win]
    assert sorted(won) == job_ids
    assert await store.due_jobs(T0, 1000) == []


async def test_concurrent_create_run_has_one_winner(store: JobStore) -> None:
    created = await asyncio.gather(*(
        store.create_run(run_for(payload={"n": i})) for i in range(20)))
    assert created.count(True) == 1
    stored = await store.get_run("job", "exec-1")
    assert stored is not None and stored.payload == {"n": created.index(True)}


# --- persistence ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", PERSISTENT_BACKENDS)
async def test_state_survives_reopening(backend: str, tmp_path: Path) -> None:
    first = make_store(backend, tmp_path)
    try:
        await first.ensure_job("job", JobConfig(cron="*/5 * * * *", priority=2), T0, T0)
        await first.claim_slot("job", T0, T0 + LEASE, T0)
        await first.create_run(run_for(payload={"a": [1, "x"]}))
        await first.acquire_lease("job", "exec-1", 1, "h1", T0, T0 + LEASE)
        await first.finish_attempt("job", "exec-1", "h1", done(RunStatus.SUCCESS))
        job, run = await first.get_job("job"), await first.get_run("job", "exec-1")
    finally:
        await close_store(first)

    second = make_store(backend, tmp_path)
    try:
        assert await second.get_job("job") == job
        assert await second.get_run("job", "exec-1") == run
        assert job is not None and job.next_run_at == T0 + LEASE
        assert job.last_status is RunStatus.SUCCESS
        _, created = await second.ensure_job("job", JobConfig(), None, T0)
        assert not created
    finally:
        await close_store(second)
