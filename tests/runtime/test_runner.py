"""One delivery: lease outcomes, handler outcomes, retries, timeouts, telemetry."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from zenjobs import BackoffPolicy, JobContext, PermanentError, ZenJobs
from zenjobs.errors import LeaseHeldError, UnknownJobError
from zenjobs.runtime.envelope import Envelope, encode_envelope, task_name
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.records import RunStatus, Trigger
from zenjobs.testing import MemoryTelemetry, VirtualClock

from .conftest import EngineFactory, RecordingQueue, deliver


class Boom(Exception):
    pass


class Rejected(Exception):
    pass


def registry(calls: list[JobContext], *, fail: BaseException | None = None,
             max_retries: int = 2, timeout: timedelta = timedelta(minutes=1),
             hang: bool = False) -> ZenJobs:
    jobs = ZenJobs()

    @jobs.job("mail", type="endpoint", max_retries=max_retries, timeout=timeout,
              backoff=BackoffPolicy(initial=timedelta(seconds=10), jitter=0.1),
              permanent_errors=(Rejected,))
    async def mail(ctx: JobContext) -> str:
        calls.append(ctx)
        await asyncio.sleep(0)
        if hang:
            await asyncio.Event().wait()
        if fail is not None:
            raise fail
        return "ok"

    return jobs


async def test_success_records_run_and_emits_telemetry(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        telemetry: MemoryTelemetry) -> None:
    calls: list[JobContext] = []
    engine = make_engine(registry(calls))
    await engine.sync()
    execution_id = await engine.schedule("mail", {"to": "a@example.com"})
    outcome = await deliver(engine, queue.pop())
    assert outcome.status_code == 200
    assert outcome.body["status"] == "success"
    assert [c.payload for c in calls] == [{"to": "a@example.com"}]
    assert calls[0].execution_id == execution_id and calls[0].trigger == "endpoint"
    run = await store.get_run("mail", execution_id)
    assert run is not None and run.status is RunStatus.SUCCESS and run.attempt == 1
    job = await store.get_job("mail")
    assert job is not None and job.last_status is RunStatus.SUCCESS
    assert telemetry.names() == ["job.started", "job.succeeded"]
    event = telemetry.assert_emitted("job.succeeded", job_id="mail", execution_id=execution_id,
                                     attempt=1, trigger="endpoint")
    assert {"scheduled_for", "duration_ms"} <= set(event.fields)


async def test_finished_execution_is_acknowledged_without_running(
        make_engine: EngineFactory, queue: RecordingQueue) -> None:
    calls: list[JobContext] = []
    engine = make_engine(registry(calls))
    await engine.schedule("mail")
    task = queue.pop()
    await deliver(engine, task)
    again = await deliver(engine, task)
    assert again.status_code == 200 and again.body["status"] == "success"
    assert len(calls) == 1


async def test_fifty_concurrent_deliveries_run_the_handler_once(
        make_engine: EngineFactory, queue: RecordingQueue) -> None:
    calls: list[JobContext] = []
    engine = make_engine(registry(calls))
    await engine.schedule("mail", {"n": 1})
    task = queue.pop()
    results = await asyncio.gather(*(deliver(engine, task) for _ in range(50)),
                                   return_exceptions=True)
    assert len(calls) == 1
    ok = [r for r in results if not isinstance(r, BaseException)]
    held = [r for r in results if isinstance(r, LeaseHeldError)]
    assert len(ok) + len(held) == 50  # every other delivery: acknowledged or told to retry
    assert all(r.status_code == 200 for r in ok)


async def test_live_lease_of_another_holder_answers_retryable(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        clock: VirtualClock) -> None:
    calls: list[JobContext] = []
    engine = make_engine(registry(calls))
    execution_id = await engine.schedule("mail")
    now = clock.now()
    await store.acquire_lease("mail", execution_id, 1, "other", now, now + timedelta(minutes=5))
    with pytest.raises(LeaseHeldError, match="mail"):
        await deliver(engine, queue.pop())
    assert calls == []


async def test_expired_lease_of_a_crashed_instance_is_taken_over(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        clock: VirtualClock, telemetry: MemoryTelemetry) -> None:
    calls: list[JobContext] = []
    engine = make_engine(registry(calls))
    execution_id = await engine.schedule("mail")
    task = queue.pop()
    now = clock.now()
    lease = await store.acquire_lease("mail", execution_id, 1, "dead-instance", now,
                                      now + timedelta(minutes=2))
    assert lease.outcome.value == "acquired"
    with pytest.raises(LeaseHeldError):
        await deliver(engine, task)  # Cloud Tasks redelivers while the lease is live
    clock.advance(timedelta(minutes=3))
    outcome = await deliver(engine, task)
    assert outcome.body["status"] == "success"
    assert len(calls) == 1 and calls[0].attempt == 2  # the crashed attempt counts
    run = await store.get_run("mail", execution_id)
    assert run is not None and run.status is RunStatus.SUCCESS and run.lease_holder is None
    telemetry.assert_emitted("job.started", execution_id=execution_id, taken_over=True)


async def test_retries_with_deterministic_backoff_then_dead(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        clock: VirtualClock, telemetry: MemoryTelemetry) -> None:
    calls: list[JobContext] = []
    engine = make_engine(registry(calls, fail=Boom("provider down"), max_retries=2))
    await engine.sync()
    execution_id = await engine.schedule("mail", {"x": 1}, idempotency_key="order-42")
    assert execution_id == "mail-k64b10169ac596d12f83e2e44"
    delays = []
    for attempt in (1, 2, 3):
        task = queue.pop()
        assert task.name == task_name(execution_id, attempt)
        if task.schedule_time is not None:
            delays.append(task.schedule_time - clock.now())
            clock.set(task.schedule_time)
        outcome = await deliver(engine, task)
        assert outcome.status_code == 200
    assert [c.attempt for c in calls] == [1, 2, 3]
    assert all(c.payload == {"x": 1} for c in calls)
    # 10s then 20s, each within ±10 % jitter, identical on every run of this test.
    assert delays == [timedelta(seconds=9.117), timedelta(seconds=20.991)]
    assert queue.tasks == []
    run = await store.get_run("mail", execution_id)
    assert run is not None and run.status is RunStatus.DEAD and run.attempt == 3
    assert run.error_type == "Boom" and run.error_message == "provider down"
    job = await store.get_job("mail")
    assert job is not None and job.last_status is RunStatus.DEAD
    failed = telemetry.of("job.failed")
    assert [e.fields["final"] for e in failed] == [False, False, True]
    retry = telemetry.assert_emitted("job.retry_scheduled", attempt=1, next_attempt=2)
    assert retry.fields["error"] == "Boom: provider down"
    assert retry.fields["delay_ms"] == 9117


@pytest.mark.parametrize("error", [PermanentError("no user"), Rejected("bounced")])
async def test_permanent_errors_stop_at_the_first_attempt(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        telemetry: MemoryTelemetry, error: Exception) -> None:
    calls: list[JobContext] = []
    engine = make_engine(registry(calls, fail=error, max_retries=5))
    execution_id = await engine.schedule("mail")
    await deliver(engine, queue.pop())
    assert len(calls) == 1 and queue.tasks == []
    run = await store.get_run("mail", execution_id)
    assert run is not None and run.status is RunStatus.FAILURE and run.attempt == 1
    telemetry.assert_emitted("job.failed", final=True, status="failure")
    telemetry.assert_not_emitted("job.retry_scheduled")


async def test_timeout_counts_as_a_failure_and_is_retried(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        telemetry: MemoryTelemetry) -> None:
    calls: list[JobContext] = []
    engine = make_engine(registry(calls, hang=True, timeout=timedelta(milliseconds=20)))
    execution_id = await engine.schedule("mail")
    outcome = await deliver(engine, queue.pop())
    assert outcome.status_code == 200 and outcome.body["status"] == "retry_scheduled"
    run = await store.get_run("mail", execution_id)
    assert run is not None and run.error_type == "JobTimeoutError" and run.attempt == 2
    assert len(queue.tasks) == 1
    event = telemetry.assert_emitted("job.failed", final=False)
    assert "timeout" in event.fields["error"]


async def test_replay_runs_a_dead_execution_again_under_a_new_attempt(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        clock: VirtualClock, telemetry: MemoryTelemetry) -> None:
    calls: list[JobContext] = []
    outcome_box: dict[str, Any] = {"fail": True}
    jobs = ZenJobs()

    @jobs.job("flaky", type="endpoint", max_retries=0)
    async def flaky(ctx: JobContext) -> None:
        calls.append(ctx)
        if outcome_box["fail"]:
            raise Boom("down")

    engine = make_engine(jobs)
    execution_id = await engine.schedule("flaky")
    await deliver(engine, queue.pop())
    assert (await store.get_run("flaky", execution_id)).status is RunStatus.DEAD  # type: ignore[union-attr]
    outcome_box["fail"] = False
    reopened = await engine.replay(execution_id)  # job id found from the execution id
    assert reopened.attempt == 2 and reopened.status is RunStatus.PENDING
    outcome = await deliver(engine, queue.pop())
    assert outcome.body["status"] == "success"
    assert [(c.attempt, c.trigger) for c in calls] == [(1, "endpoint"), (2, "replay")]
    telemetry.assert_emitted("job.succeeded", trigger="replay", attempt=2)
    with pytest.raises(Exception, match="cannot be replayed"):
        await engine.replay(execution_id)


async def test_missing_record_endpoint_delivery_creates_it_and_runs(
        make_engine: EngineFactory, store: JobStore, clock: VirtualClock) -> None:
    calls: list[JobContext] = []
    engine = make_engine(registry(calls))
    env = Envelope("mail", "mail-external-1", 1, Trigger.ENDPOINT, clock.now(), {"a": 1})
    outcome = await engine.deliver("mail", encode_envelope(env), {})
    assert outcome.body["status"] == "success" and len(calls) == 1
    assert (await store.get_run("mail", "mail-external-1")) is not None


async def test_missing_record_scheduled_delivery_is_acknowledged_without_running(
        make_engine: EngineFactory, clock: VirtualClock, telemetry: MemoryTelemetry) -> None:
    calls: list[JobContext] = []
    engine = make_engine(registry(calls))
    env = Envelope("mail", "mail-gone", 1, Trigger.SCHEDULE, clock.now())
    outcome = await engine.deliver("mail", encode_envelope(env), {})
    assert outcome.status_code == 200 and outcome.body["status"] == "missing"
    assert calls == []
    telemetry.assert_emitted("job.orphaned", execution_id="mail-gone")


async def test_unknown_job_raises_for_a_404(make_engine: EngineFactory,
                                            clock: VirtualClock) -> None:
    engine = make_engine(registry([]))
    env = Envelope("nope", "nope-1", 1, Trigger.ENDPOINT, clock.now())
    with pytest.raises(UnknownJobError):
        await engine.deliver("nope", encode_envelope(env), {})


class ExplodingSink:
    def emit(self, event: Any) -> None:
        raise RuntimeError("exporter down")


@pytest.mark.parametrize("fail", [None, Boom("x")])
async def test_a_raising_telemetry_sink_changes_nothing(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        fail: Exception | None) -> None:
    calls: list[JobContext] = []
    engine = make_engine(registry(calls, fail=fail))
    engine.deps.telemetry = ExplodingSink()
    execution_id = await engine.schedule("mail")
    outcome = await deliver(engine, queue.pop())
    assert outcome.status_code == 200
    run = await store.get_run("mail", execution_id)
    expected = RunStatus.SUCCESS if fail is None else RunStatus.RETRY_SCHEDULED
    assert run is not None and run.status is expected and len(calls) == 1
