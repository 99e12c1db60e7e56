"""Runtime review: attempt budget under takeovers, replay under failures, schedule()
input errors, skips vs last_status, dependencies mid-retry, tick edge cases, telemetry."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from zenjobs import JobContext, JobDescriptor, PermanentError, ZenJobs
from zenjobs.errors import InvalidRequestError, PayloadError, UnknownJobError
from zenjobs.runtime.envelope import Envelope, encode_envelope, slot_execution_id, task_name
from zenjobs.runtime.retry import backoff_delay
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.records import JobConfig, RunStatus, Trigger
from zenjobs.testing import MemoryTelemetry, VirtualClock

from .conftest import T0, EngineFactory, RecordingQueue, deliver


class Boom(Exception):
    pass


class Rejected(Exception):
    pass


class SoftRejected(Rejected):
    pass


def endpoint(calls: list[JobContext], *, fail: dict[str, Any] | None = None,
             max_retries: int = 0, **fields: Any) -> ZenJobs:
    jobs = ZenJobs()

    @jobs.job("ep", type="endpoint", max_retries=max_retries,
              permanent_errors=(Rejected,), **fields)
    async def ep(ctx: JobContext) -> None:
        calls.append(ctx)
        await asyncio.sleep(0)
        if fail and fail.get("error") is not None:
            raise fail["error"]

    return jobs


# -- attempts -------------------------------------------------------------------


async def test_takeover_past_the_last_attempt_is_dead_not_a_run(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        clock: VirtualClock, telemetry: MemoryTelemetry) -> None:
    calls: list[JobContext] = []
    engine = make_engine(endpoint(calls, max_retries=0))
    await engine.sync()
    execution_id = await engine.schedule("ep")
    task = queue.pop()
    now = clock.now()
    await store.acquire_lease("ep", execution_id, 1, "crashed", now, now + timedelta(minutes=2))
    clock.advance(timedelta(minutes=3))  # the crashed instance's lease expired
    outcome = await deliver(engine, task)  # the queue's backstop redelivers attempt 1
    assert outcome.status_code == 200 and outcome.body["status"] == "dead"
    assert calls == []  # max_retries=0: one attempt in total, and it was the crashed one
    run = await store.get_run("ep", execution_id)
    assert run is not None and run.status is RunStatus.DEAD and run.lease_holder is None
    assert run.error_type == "LeaseExpired"
    job = await store.get_job("ep")
    assert job is not None and job.last_status is RunStatus.DEAD
    event = telemetry.assert_emitted("job.failed", execution_id=execution_id, final=True,
                                     status="dead", taken_over=True)
    assert "lost its lease" in event.fields["error"]
    assert queue.tasks == []
    replayed = await engine.replay(execution_id)  # dead, so replayable
    assert replayed.status is RunStatus.PENDING


async def test_subclass_of_a_permanent_error_stops_at_once(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore) -> None:
    calls: list[JobContext] = []
    engine = make_engine(endpoint(calls, fail={"error": SoftRejected("no")}, max_retries=4))
    execution_id = await engine.schedule("ep")
    await deliver(engine, queue.pop())
    run = await store.get_run("ep", execution_id)
    assert run is not None and run.status is RunStatus.FAILURE and len(calls) == 1
    assert queue.tasks == []


async def test_max_retries_r_means_r_plus_one_attempts_and_retry_tasks_dedup(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        clock: VirtualClock, telemetry: MemoryTelemetry) -> None:
    calls: list[JobContext] = []
    engine = make_engine(endpoint(calls, fail={"error": Boom("x")}, max_retries=2))
    execution_id = await engine.schedule("ep", {"n": 1})
    first = queue.pop()
    await deliver(engine, first)
    retry = queue.tasks[0]
    desc = engine.registry.get("ep")
    assert retry.name == task_name(execution_id, 2)
    assert retry.schedule_time == clock.now() + backoff_delay(desc.backoff, 1, execution_id)
    event = telemetry.assert_emitted("job.retry_scheduled", attempt=1, next_attempt=2)
    assert event.fields["next_attempt_at"] == retry.schedule_time
    # A redelivery of attempt 1 (say the first answer was lost) re-sends the same name.
    again = await deliver(engine, first)
    assert again.body["status"] == "stale" and len(queue.tasks) == 1 and len(calls) == 1
    while queue.tasks:
        task = queue.pop()
        assert task.schedule_time is not None
        clock.set(task.schedule_time)
        await deliver(engine, task)
    assert [c.attempt for c in calls] == [1, 2, 3]
    run = await store.get_run("ep", execution_id)
    assert run is not None and run.status is RunStatus.DEAD and run.attempt == 3


# -- replay ---------------------------------------------------------------------


async def test_replay_whose_enqueue_failed_can_be_replayed_again(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore) -> None:
    calls: list[JobContext] = []
    fail: dict[str, Any] = {"error": Rejected("bad")}
    engine = make_engine(endpoint(calls, fail=fail))
    execution_id = await engine.schedule("ep", {"keep": [1, 2]})
    await deliver(engine, queue.pop())
    assert (await store.get_run("ep", execution_id)).status is RunStatus.FAILURE  # type: ignore[union-attr]
    fail["error"] = None
    queue.fail_with = ConnectionError("queue down")
    with pytest.raises(ConnectionError):
        await engine.replay(execution_id)
    queue.fail_with = None
    run = await engine.replay(execution_id)  # was refused as "pending": stuck for good
    assert run.attempt == 2
    await engine.replay(execution_id)  # a duplicate call deduplicates on the task name
    assert len(queue.tasks) == 1
    outcome = await deliver(engine, queue.pop())
    assert outcome.body["status"] == "success"
    assert [(c.attempt, c.trigger, c.payload) for c in calls] == [
        (1, "endpoint", {"keep": [1, 2]}), (2, "replay", {"keep": [1, 2]})]
    with pytest.raises(Exception, match=r"cannot be replayed \(success\)"):
        await engine.replay(execution_id)


async def test_replay_of_a_pending_or_running_run_is_refused(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore) -> None:
    engine = make_engine(endpoint([]))
    execution_id = await engine.schedule("ep")
    with pytest.raises(Exception, match=r"cannot be replayed \(pending\)"):
        await engine.replay(execution_id)
    assert len(queue.tasks) == 1
    lease = await store.acquire_lease("ep", execution_id, 1, "busy", T0,
                                      T0 + timedelta(minutes=5))
    assert lease.outcome.value == "acquired"
    with pytest.raises(Exception, match=r"'ep'.*cannot be replayed \(running\)"):
        await engine.replay(execution_id)
    with pytest.raises(Exception, match="no run with execution id"):
        await engine.replay("ep-unknown")


# -- skips and last_status -------------------------------------------------------


async def test_skipped_retry_attempt_and_skipped_replay_keep_last_status(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        clock: VirtualClock) -> None:
    calls: list[JobContext] = []
    fail: dict[str, Any] = {"error": None}
    engine = make_engine(endpoint(calls, fail=fail, max_retries=1))
    await engine.sync()
    await engine.schedule("ep")
    await deliver(engine, queue.pop())  # success: last_status = success
    fail["error"] = Boom("x")
    retried = await engine.schedule("ep")
    await deliver(engine, queue.pop())  # attempt 1 fails, retry scheduled
    await store.update_job("ep", config=JobConfig(enabled=False, max_retries=1), now=clock.now())
    retry = queue.pop()
    assert retry.schedule_time is not None
    clock.set(retry.schedule_time)
    outcome = await deliver(engine, retry)
    assert outcome.body["status"] == "skipped_disabled"
    assert (await store.get_run("ep", retried)).attempt == 2  # type: ignore[union-attr]
    job = await store.get_job("ep")
    assert job is not None and job.last_status is RunStatus.SUCCESS
    # A dead run replayed while the job is disabled: skipped, last_status untouched.
    await store.update_job("ep", config=JobConfig(enabled=True, max_retries=0), now=clock.now())
    dead = await engine.schedule("ep")
    await deliver(engine, queue.pop())
    job = await store.get_job("ep")
    assert job is not None and job.last_status is RunStatus.DEAD
    await store.update_job("ep", config=JobConfig(enabled=False, max_retries=0), now=clock.now())
    await engine.replay(dead)
    assert (await deliver(engine, queue.pop())).body["status"] == "skipped_disabled"
    job = await store.get_job("ep")
    assert job is not None and job.last_status is RunStatus.DEAD
    assert job.last_execution_id == dead


async def test_dependency_mid_retry_is_not_a_completed_run(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore) -> None:
    up_fail: dict[str, Any] = {"error": Boom("x")}
    ran: list[str] = []
    jobs = ZenJobs()

    @jobs.job("up", type="endpoint", max_retries=3)
    async def up(ctx: JobContext) -> None:
        if up_fail["error"] is not None:
            raise up_fail["error"]

    @jobs.job("down", type="endpoint", dependencies=["up"])
    async def down(ctx: JobContext) -> None:
        ran.append(ctx.execution_id)

    engine = make_engine(jobs)
    await engine.sync()

    async def run(job: str) -> str:
        await engine.schedule(job)
        return str((await deliver(engine, queue.tasks.pop())).body["status"])

    assert await run("up") == "retry_scheduled"  # its only run is not completed
    assert await run("down") == "skipped_dependency_failed"
    queue.tasks.clear()
    up_fail["error"] = None
    assert await run("up") == "success"
    up_fail["error"] = Boom("y")
    assert await run("up") == "retry_scheduled"  # latest *completed* run is still success
    assert await run("down") == "success"
    up_fail["error"] = PermanentError("z")
    assert await run("up") == "failure"
    assert await run("down") == "skipped_dependency_failed"
    assert len(ran) == 1


# -- schedule() -------------------------------------------------------------------


async def test_schedule_input_errors_name_job_and_field_and_write_nothing(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore) -> None:
    engine = make_engine(endpoint([]))
    naive = datetime(2026, 1, 5, 10, 0)
    with pytest.raises(InvalidRequestError, match=r"job 'ep', field 'at'.*timezone-aware"):
        await engine.schedule("ep", at=naive)
    with pytest.raises(InvalidRequestError, match=r"job 'ep', field 'at'.*not both"):
        await engine.schedule("ep", delay=timedelta(seconds=1), at=T0)
    with pytest.raises(InvalidRequestError, match=r"job 'ep', field 'delay'"):
        await engine.schedule("ep", delay=timedelta(seconds=-1))
    with pytest.raises(PayloadError, match="ep"):
        await engine.schedule("ep", {"bad": {1, 2}})
    with pytest.raises(UnknownJobError, match="nope"):
        await engine.schedule("nope")
    assert queue.tasks == [] and await store.list_runs("ep", 10) == []


async def test_schedule_at_in_the_past_runs_now_for_that_instant(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore) -> None:
    engine = make_engine(endpoint([]))
    past = T0 - timedelta(minutes=5)
    execution_id = await engine.schedule("ep", at=past)
    task = queue.pop()
    assert task.schedule_time is None  # delivered at once, as Cloud Tasks does
    run = await store.get_run("ep", execution_id)
    assert run is not None and run.scheduled_for == past


async def test_scheduling_a_disabled_endpoint_job_records_a_skip(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore) -> None:
    calls: list[JobContext] = []
    engine = make_engine(endpoint(calls, enabled=False))
    await engine.sync()
    execution_id = await engine.schedule("ep", idempotency_key="a")
    assert await engine.schedule("ep", idempotency_key="a") == execution_id
    assert (await deliver(engine, queue.pop())).body["status"] == "skipped_disabled"
    assert calls == [] and queue.tasks == []


# -- master tick -------------------------------------------------------------------


def periodic(jobs: ZenJobs, job_id: str, calls: list[JobContext], **fields: Any) -> None:
    async def handler(ctx: JobContext) -> None:
        calls.append(ctx)

    jobs.register(JobDescriptor(id=job_id, type="periodic", **fields))  # type: ignore[arg-type]
    jobs.register_handler(job_id, handler)


async def test_interval_edited_in_the_store_moves_to_the_new_grid(
        make_engine: EngineFactory, store: JobStore) -> None:
    calls: list[JobContext] = []
    jobs = ZenJobs()
    periodic(jobs, "p", calls, interval=timedelta(minutes=10))
    engine = make_engine(jobs)
    await engine.sync()  # next 09:10
    record = await store.get_job("p")
    assert record is not None and record.next_run_at == T0 + timedelta(minutes=10)
    config = JobConfig(interval_seconds=15 * 60)  # hand edit, next_run_at untouched
    await store.update_job("p", config=config, now=T0)
    await engine.tick(T0 + timedelta(minutes=10))  # the stored slot still runs once
    record = await store.get_job("p")
    assert record is not None and record.next_run_at == T0 + timedelta(minutes=15)
    await engine.tick(T0 + timedelta(minutes=15))
    assert [c.scheduled_for for c in calls] == [T0 + timedelta(minutes=10),
                                                T0 + timedelta(minutes=15)]


async def test_old_retried_tick_claims_only_slots_due_at_its_own_time(
        make_engine: EngineFactory, store: JobStore, clock: VirtualClock) -> None:
    calls: list[JobContext] = []
    jobs = ZenJobs()
    periodic(jobs, "hourly", calls, interval=timedelta(hours=1))
    engine = make_engine(jobs)
    await engine.sync()  # next 10:00
    clock.set(T0 + timedelta(hours=6, minutes=20))  # back after an outage: 15:20
    summary = await engine.master_tick(T0 + timedelta(minutes=30))  # tick of 09:30, retried
    assert summary["due"] == 0 and calls == []
    summary = await engine.master_tick(T0 + timedelta(hours=6, minutes=20))
    assert summary["ran"] == 1  # the outage's five slots collapse into one run
    assert calls[0].execution_id == slot_execution_id("hourly", T0 + timedelta(hours=1))
    record = await store.get_job("hourly")
    assert record is not None and record.next_run_at == T0 + timedelta(hours=7)
    summary = await engine.master_tick(T0 + timedelta(hours=1))  # a tick of 10:00, late
    assert summary["due"] == 0 and len(calls) == 1


async def test_end_at_clears_next_run_at_and_none_is_never_due(
        make_engine: EngineFactory, store: JobStore) -> None:
    calls: list[JobContext] = []
    jobs = ZenJobs()
    periodic(jobs, "ends", calls, interval=timedelta(hours=8), end_at=date(2026, 1, 5))
    engine = make_engine(jobs)
    await engine.sync()  # slots 16:00 today, then none (00:00 on the 6th is past end_at)
    await engine.tick(T0 + timedelta(hours=7))
    record = await store.get_job("ends")
    assert record is not None and record.next_run_at is None
    summary = await engine.tick(T0 + timedelta(days=30))
    assert summary["due"] == 0 and len(calls) == 1


# -- telemetry ----------------------------------------------------------------------


async def test_every_job_event_carries_the_identity_fields(
        make_engine: EngineFactory, queue: RecordingQueue, clock: VirtualClock,
        telemetry: MemoryTelemetry) -> None:
    fail: dict[str, Any] = {"error": Boom("x")}
    engine = make_engine(endpoint([], fail=fail, max_retries=1))
    await engine.sync()
    await engine.schedule("ep")
    await deliver(engine, queue.pop())  # failed + retry_scheduled
    fail["error"] = None
    retry = queue.pop()
    assert retry.schedule_time is not None
    clock.set(retry.schedule_time)
    await deliver(engine, retry)  # succeeded
    await store_disable(engine)
    await engine.schedule("ep")
    await deliver(engine, queue.pop())  # skipped
    identity = {"job_id", "execution_id", "attempt", "trigger", "scheduled_for"}
    finished = {"job.succeeded", "job.failed", "job.skipped", "job.retry_scheduled"}
    names = set()
    for event in telemetry.events:
        if not event.name.startswith("job."):
            continue
        names.add(event.name)
        assert identity <= set(event.fields), event
        if event.name in finished:
            assert {"duration_ms", "error"} <= set(event.fields), event
        if event.name == "job.failed":
            assert "final" in event.fields
    assert names == {"job.started", "job.failed", "job.retry_scheduled", "job.succeeded",
                     "job.skipped"}


async def store_disable(engine: Any) -> None:
    await engine.store.update_job("ep", config=JobConfig(enabled=False, max_retries=1),
                                  now=engine.clock.now())


async def test_orphaned_event_carries_scheduled_for(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        telemetry: MemoryTelemetry) -> None:
    calls: list[JobContext] = []
    jobs = ZenJobs()
    periodic(jobs, "p", calls, interval=timedelta(minutes=1))
    engine = make_engine(jobs)
    env = Envelope(job_id="p", execution_id="p-x", attempt=1, trigger=Trigger.SCHEDULE,
                   scheduled_for=T0)
    outcome = await engine.deliver("p", encode_envelope(env), {})
    assert outcome.body["status"] == "missing" and calls == []
    telemetry.assert_emitted("job.orphaned", execution_id="p-x", scheduled_for=T0)


async def test_skip_dates_use_the_local_date_of_the_slot_not_of_now() -> None:
    from zenjobs.runtime.effective import check_eligibility
    from zenjobs.stores.memory import MemoryJobStore

    d = JobDescriptor(id="j", type="endpoint", timezone="Asia/Tokyo",  # type: ignore[arg-type]
                      skip_dates=frozenset({date(2026, 1, 6)}))
    store = MemoryJobStore()
    slot_on_skip_date = datetime(2026, 1, 5, 16, 0, tzinfo=T0.tzinfo)  # 01:00 on the 6th, Tokyo
    late = slot_on_skip_date + timedelta(days=1)  # a retry delivered the next local day
    skip = await check_eligibility(d, store, slot_on_skip_date, late)
    assert skip is not None and skip.status is RunStatus.SKIPPED_DATE_EXCLUSION
    slot_before = datetime(2026, 1, 5, 14, 0, tzinfo=T0.tzinfo)  # 23:00 on the 5th, Tokyo
    assert await check_eligibility(d, store, slot_before, slot_on_skip_date) is None
