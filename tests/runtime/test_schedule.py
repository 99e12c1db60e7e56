"""executor.schedule / trigger: validation before writes, idempotency, delay and at."""

from __future__ import annotations

from datetime import timedelta

import pytest

from zenjobs import JobContext, ZenJobs
from zenjobs.errors import InvalidRequestError, PayloadError, UnknownJobError
from zenjobs.runtime.envelope import key_execution_id
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.records import RunStatus, Trigger
from zenjobs.testing import VirtualClock

from .conftest import T0, EngineFactory, RecordingQueue, deliver


def jobs_with(calls: list[JobContext]) -> ZenJobs:
    jobs = ZenJobs()

    @jobs.job("ep", type="endpoint")
    async def ep(ctx: JobContext) -> None:
        calls.append(ctx)

    @jobs.job("hourly", type="periodic", interval=timedelta(hours=1))
    async def hourly(ctx: JobContext) -> None:
        calls.append(ctx)

    return jobs


@pytest.mark.parametrize("payload", [{"when": T0}, {"n": float("nan")}, "x" * 1_000_001])
async def test_bad_payload_is_refused_before_anything_is_written(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        payload: object) -> None:
    engine = make_engine(jobs_with([]))
    with pytest.raises(PayloadError, match=r"'ep'.*'payload'"):
        await engine.schedule("ep", payload)
    assert await store.list_runs("ep", 10) == [] and queue.tasks == []


async def test_same_idempotency_key_gives_one_run(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore) -> None:
    calls: list[JobContext] = []
    engine = make_engine(jobs_with(calls))
    first = await engine.schedule("ep", {"u": 1}, idempotency_key="signup-1")
    second = await engine.schedule("ep", {"u": 1}, idempotency_key="signup-1")
    assert first == second == key_execution_id("ep", "signup-1")
    assert len(queue.tasks) == 1 and len(await store.list_runs("ep", 10)) == 1
    await deliver(engine, queue.pop())
    assert await engine.schedule("ep", {"u": 1}, idempotency_key="signup-1") == first
    assert queue.tasks == [] and len(calls) == 1
    other = await engine.schedule("ep", {"u": 1}, idempotency_key="signup-2")
    assert other != first


async def test_without_a_key_each_call_is_a_new_execution(
        make_engine: EngineFactory, queue: RecordingQueue) -> None:
    engine = make_engine(jobs_with([]))
    ids = {await engine.schedule("ep") for _ in range(3)}
    assert len(ids) == 3 and len(queue.tasks) == 3


async def test_delay_and_at_set_the_schedule_time(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        clock: VirtualClock) -> None:
    calls: list[JobContext] = []
    engine = make_engine(jobs_with(calls))
    delayed = await engine.schedule("ep", delay=timedelta(minutes=5))
    at = T0 + timedelta(hours=2)
    exact = await engine.schedule("ep", at=at)
    now = await engine.schedule("ep")
    times = [t.schedule_time for t in queue.tasks]
    assert times == [T0 + timedelta(minutes=5), at, None]
    for execution_id, expected in ((delayed, T0 + timedelta(minutes=5)), (exact, at),
                                   (now, T0)):
        run = await store.get_run("ep", execution_id)
        assert run is not None and run.scheduled_for == expected
        assert run.status is RunStatus.PENDING and run.trigger is Trigger.ENDPOINT
    with pytest.raises(InvalidRequestError, match="not both"):
        await engine.schedule("ep", delay=timedelta(1), at=at)
    with pytest.raises(InvalidRequestError, match="delay"):
        await engine.schedule("ep", delay=timedelta(seconds=-1))
    clock.set(at)
    await deliver(engine, queue.tasks[1])
    assert calls[0].scheduled_for == at


async def test_schedule_is_for_endpoint_jobs_and_trigger_runs_any_job(
        make_engine: EngineFactory, queue: RecordingQueue) -> None:
    calls: list[JobContext] = []
    engine = make_engine(jobs_with(calls))
    with pytest.raises(InvalidRequestError, match=r"'hourly'.*trigger"):
        await engine.schedule("hourly")
    with pytest.raises(UnknownJobError):
        await engine.schedule("nope")
    execution_id = await engine.trigger("hourly")
    outcome = await deliver(engine, queue.pop())
    assert outcome.body["status"] == "success"
    assert [(c.execution_id, c.trigger) for c in calls] == [(execution_id, "manual")]


@pytest.mark.parametrize(("key", "problem"), [
    ("", "empty"), ("k" * 1025, "longer than 1024"), ("x\udc80", "lone surrogate"),
    (7, "must be a string"),
])
async def test_an_idempotency_key_that_cannot_name_a_run_is_refused_before_any_write(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        key: object, problem: str) -> None:
    engine = make_engine(jobs_with([]))
    with pytest.raises(InvalidRequestError, match=problem) as raised:
        await engine.schedule("ep", {"u": 1}, idempotency_key=key)  # type: ignore[arg-type]
    assert raised.value.field == "idempotency_key"
    assert await store.list_runs("ep", 10) == [] and queue.tasks == []


@pytest.mark.parametrize("execution_id", [".", "..", "__x__", "a/b", "a/b/c", "x" * 1600,
                                          "ep-1\n", "", "ep-\udc80"])
async def test_replay_refuses_an_id_no_store_could_hold(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        execution_id: str) -> None:
    engine = make_engine(jobs_with([]))
    with pytest.raises(InvalidRequestError) as raised:
        await engine.replay(execution_id, job_id="ep")
    assert raised.value.field == "execution_id"
    assert await store.list_runs("ep", 10) == [] and queue.tasks == []
