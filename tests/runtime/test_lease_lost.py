"""A delivery that loses its lease mid-run records nothing (docs/runtime.md, "Lease lost").

A run's lease lasts ``timeout + lease_grace``. An instance that stalls longer
(starved of CPU, suspended) finds, when its handler returns, that a
redelivery took the run over at the next attempt. Its outcome is then not
recorded, no retry is sent, ``job.lease_lost`` says so, and the delivery is
answered 200 (a redelivery of its attempt would be stale anyway).

The handler waits on events the test sets, so the order of the two deliveries
is fixed without any wall-clock wait; the lease expires on the virtual clock.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from zenjobs import JobContext, PermanentError, ZenJobs
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.records import RunStatus
from zenjobs.testing import MemoryTelemetry, VirtualClock
from zenjobs.vocabulary import DEFAULT_LEASE_GRACE

from .conftest import EngineFactory, RecordingQueue, deliver

TIMEOUT = timedelta(minutes=1)
#: Bounds a broken test only; a passing one never waits for it.
CEILING = 30.0


class Boom(Exception):
    pass


class Attempts:
    """The handler's attempts: each one starts, then ends the way the test says."""

    def __init__(self) -> None:
        self.started = {1: asyncio.Event(), 2: asyncio.Event()}
        self.release = {1: asyncio.Event(), 2: asyncio.Event()}
        self.outcome: dict[int, BaseException | None] = {1: None, 2: None}
        self.calls: list[int] = []

    def registry(self) -> ZenJobs:
        jobs = ZenJobs()

        @jobs.job("mail", type="endpoint", max_retries=2, timeout=TIMEOUT)
        async def mail(ctx: JobContext) -> None:
            self.calls.append(ctx.attempt)
            self.started[ctx.attempt].set()
            await self.release[ctx.attempt].wait()
            error = self.outcome[ctx.attempt]
            if error is not None:
                raise error

        return jobs

    async def wait_started(self, attempt: int) -> None:
        await asyncio.wait_for(self.started[attempt].wait(), CEILING)


def expire_lease(clock: VirtualClock) -> None:
    """Move past the lease of a delivery that started now (timeout + grace)."""
    clock.advance(TIMEOUT + DEFAULT_LEASE_GRACE + timedelta(seconds=1))


async def test_a_success_after_the_lease_was_lost_is_not_recorded(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        clock: VirtualClock, telemetry: MemoryTelemetry) -> None:
    attempts = Attempts()
    attempts.outcome[2] = PermanentError("mailbox rejected")
    attempts.release[2].set()
    engine = make_engine(attempts.registry())
    await engine.sync()
    execution_id = await engine.schedule("mail", {"to": "a@example.com"})
    task = queue.pop()

    stalled = asyncio.ensure_future(deliver(engine, task))
    await attempts.wait_started(1)
    expire_lease(clock)
    takeover = await deliver(engine, task)  # Cloud Tasks redelivered the task
    assert takeover.body["status"] == "failure" and takeover.body["attempt"] == 2
    attempts.release[1].set()  # the stalled handler returns: success, but too late
    outcome = await asyncio.wait_for(stalled, CEILING)

    assert outcome.status_code == 200
    assert outcome.body == {"status": "lease_lost", "job_id": "mail",
                            "execution_id": execution_id, "attempt": 1}
    run = await store.get_run("mail", execution_id)
    assert run is not None and run.status is RunStatus.FAILURE and run.attempt == 2
    assert run.error_type == "PermanentError" and run.lease_holder is None
    job = await store.get_job("mail")
    assert job is not None and job.last_status is RunStatus.FAILURE
    telemetry.assert_not_emitted("job.succeeded")
    lost = telemetry.assert_emitted("job.lease_lost", job_id="mail",
                                    execution_id=execution_id, attempt=1)
    assert "error" not in lost.fields
    assert [e.fields["attempt"] for e in telemetry.of("job.failed")] == [2]
    assert attempts.calls == [1, 2] and queue.tasks == []


async def test_a_failure_after_the_lease_was_lost_sends_no_retry(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        clock: VirtualClock, telemetry: MemoryTelemetry) -> None:
    attempts = Attempts()
    attempts.outcome[1] = Boom("provider timed out")
    engine = make_engine(attempts.registry())
    await engine.sync()
    execution_id = await engine.schedule("mail")
    task = queue.pop()

    stalled = asyncio.ensure_future(deliver(engine, task))
    await attempts.wait_started(1)
    expire_lease(clock)
    takeover = asyncio.ensure_future(deliver(engine, task))
    await attempts.wait_started(2)
    attempts.release[1].set()  # the stalled attempt fails while the takeover still runs
    outcome = await asyncio.wait_for(stalled, CEILING)

    assert outcome.status_code == 200 and outcome.body["status"] == "lease_lost"
    lost = telemetry.assert_emitted("job.lease_lost", execution_id=execution_id, attempt=1)
    assert lost.fields["error"] == "Boom: provider timed out"
    telemetry.assert_not_emitted("job.failed")
    telemetry.assert_not_emitted("job.retry_scheduled")
    assert queue.tasks == []  # retries are the new holder's to decide
    running = await store.get_run("mail", execution_id)
    assert running is not None and running.status is RunStatus.RUNNING and running.attempt == 2
    assert running.error_type is None

    attempts.release[2].set()
    done = await asyncio.wait_for(takeover, CEILING)
    assert done.body["status"] == "success" and done.body["attempt"] == 2
    run = await store.get_run("mail", execution_id)
    assert run is not None and run.status is RunStatus.SUCCESS and run.attempt == 2
    telemetry.assert_emitted("job.succeeded", execution_id=execution_id, attempt=2)
    assert queue.tasks == [] and attempts.calls == [1, 2]
