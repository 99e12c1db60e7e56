"""The development path over real HTTP: simulated Cloud Tasks pushing to uvicorn.

``ZenJobsExecutor.development`` with ``queue=SimulatedCloudTasks(clock,
HttpPusher())``: every task the engine enqueues goes over a real socket to the
served webhook, and the virtual clock decides when (``run_until_idle`` jumps
it to the next due task), so backoff delays are exact and instant.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from zenjobs import ZenJobs
from zenjobs.dev.server import dev_queue_settings
from zenjobs.errors import BackendUnavailableError
from zenjobs.queues.protocol import EnqueueOutcome, HttpTask
from zenjobs.queues.pushers import HttpPusher
from zenjobs.queues.simulated import SimulatedCloudTasks
from zenjobs.runtime.executor import ZenJobsExecutor
from zenjobs.runtime.retry import backoff_delay
from zenjobs.stores.records import LeaseOutcome, RunStatus
from zenjobs.testing import (
    MemoryTelemetry,
    VirtualClock,
    cloud_tasks_request,
    envelope,
    run_until_idle,
)

from .conftest import Served, serve_executor
from .support import Calls


@pytest.fixture
async def dev(registry: ZenJobs, clock: VirtualClock, telemetry: MemoryTelemetry,
              tmp_path: Path) -> AsyncIterator[tuple[Served, SimulatedCloudTasks]]:
    pusher = HttpPusher(timeout=30)
    queue = SimulatedCloudTasks(clock, pusher)

    def build(base_url: str) -> ZenJobsExecutor:
        return ZenJobsExecutor.development(
            registry, store=str(tmp_path / "dev.sqlite3"), clock=clock, telemetry=telemetry,
            queue=queue, service_url=base_url, loop_lag_threshold=None)

    with serve_executor(build) as served:
        await served.executor.start()
        try:
            yield served, queue
        finally:
            await served.executor.shutdown()
            await pusher.aclose()  # an injected queue's pusher is ours to close


async def test_fifty_concurrent_schedules_with_one_key_run_once(
        dev: tuple[Served, SimulatedCloudTasks], calls: Calls) -> None:
    served, queue = dev
    ids = await asyncio.gather(*(
        served.executor.schedule("send_email", {"user": 3}, idempotency_key="signup-3")
        for _ in range(50)))
    assert len(set(ids)) == 1
    delivered = await run_until_idle(served.executor)
    assert delivered == 1
    assert [d.status for d in queue.deliveries] == [200]
    assert queue.deliveries[0].url.startswith(served.base_url)
    assert calls["send_email"] == 1
    run = await served.store.get_run("send_email", ids[0])
    assert run is not None and run.status is RunStatus.SUCCESS


async def test_failing_job_is_retried_with_backoff_then_dead(
        dev: tuple[Served, SimulatedCloudTasks], calls: Calls, registry: ZenJobs,
        telemetry: MemoryTelemetry) -> None:
    served, queue = dev
    execution_id = await served.executor.schedule("flaky", {"n": 1}, idempotency_key="f-1")
    await run_until_idle(served.executor)

    assert calls["flaky"] == 3  # attempt 1 and max_retries=2 retries
    assert [c.attempt for c in calls.contexts] == [1, 2, 3]
    assert [d.status for d in queue.deliveries] == [200, 200, 200]  # outcomes are recorded
    policy = registry.get("flaky").backoff
    at = [d.at for d in queue.deliveries]
    gaps = [at[1] - at[0], at[2] - at[1]]
    assert gaps == [backoff_delay(policy, 1, execution_id), backoff_delay(policy, 2, execution_id)]
    run = await served.store.get_run("flaky", execution_id)
    assert run is not None and run.status is RunStatus.DEAD and run.attempt == 3
    assert run.error_type == "RuntimeError"
    failed = telemetry.of("job.failed", job_id="flaky")
    assert [e.fields["final"] for e in failed] == [False, False, True]

    # `zenjobs replay`: the dead execution runs again under a new attempt, over HTTP.
    reopened = await served.executor.replay(execution_id)
    assert reopened.attempt == 4
    assert await run_until_idle(served.executor) == 1
    assert [c.attempt for c in calls.contexts] == [1, 2, 3, 4]
    assert calls.contexts[-1].trigger == "replay"
    replayed = await served.store.get_run("flaky", execution_id)
    assert replayed is not None and replayed.status is RunStatus.DEAD and replayed.attempt == 4


async def test_one_delivery_posted_fifty_times_concurrently_runs_once(
        dev: tuple[Served, SimulatedCloudTasks], calls: Calls) -> None:
    served, _ = dev
    task = envelope("slow", {"n": 50}, execution_id="slow-dup-50")
    path, headers, body = cloud_tasks_request(task)
    async with httpx.AsyncClient(base_url=served.base_url, trust_env=False,
                                 limits=httpx.Limits(max_connections=50)) as http:
        responses = await asyncio.gather(*(
            http.post(path, content=body, headers=headers) for _ in range(50)))
        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) <= {200, 503}, statuses
        for response in responses:
            if response.status_code == 503:  # lease held: Cloud Tasks retries later
                assert response.json()["error"]["code"] == "lease_held"
                assert response.headers["retry-after"]
        # The retries Cloud Tasks would make after the 503s: acknowledged, not run.
        again = await http.post(path, content=body, headers=headers)
        assert again.status_code == 200 and again.json()["status"] == "success"
    assert calls["slow"] == 1
    run = await served.store.get_run("slow", "slow-dup-50")
    assert run is not None and run.status is RunStatus.SUCCESS


class OutageOnce:
    """A TaskQueue that refuses its first ``failures`` enqueues (a Cloud Tasks outage)."""

    def __init__(self, inner: SimulatedCloudTasks, failures: int = 1) -> None:
        self.inner = inner
        self.failures = failures

    async def enqueue(self, task: HttpTask) -> EnqueueOutcome:
        if self.failures:
            self.failures -= 1
            raise BackendUnavailableError("Cloud Tasks is unavailable")
        return await self.inner.enqueue(task)


async def test_queue_outage_when_enqueueing_a_retry_is_redelivered_not_rerun(
        dev: tuple[Served, SimulatedCloudTasks], calls: Calls) -> None:
    served, queue = dev
    execution_id = await served.executor.schedule("flaky", None, idempotency_key="outage")
    served.executor.engine.queue = OutageOnce(queue)  # refuses the retry of attempt 1
    await run_until_idle(queue, clock=served.executor.clock)  # type: ignore[arg-type]

    # Attempt 1's delivery got 503 (retry not sent); the queue's backstop redelivered it,
    # which sent the retry instead of running the handler again.
    assert [d.status for d in queue.deliveries] == [503, 200, 200, 200]
    assert [c.attempt for c in calls.contexts] == [1, 2, 3]
    run = await served.store.get_run("flaky", execution_id)
    assert run is not None and run.status is RunStatus.DEAD


async def test_a_crashed_instances_lease_is_taken_over_through_backstop_retries(
        registry: ZenJobs, clock: VirtualClock, telemetry: MemoryTelemetry, calls: Calls,
        tmp_path: Path) -> None:
    """The queue retry config gen-infra writes must outlast a crashed holder's lease."""
    pusher = HttpPusher(timeout=30)
    queue = SimulatedCloudTasks(clock, pusher, queues=dev_queue_settings(registry))

    def build(base_url: str) -> ZenJobsExecutor:
        return ZenJobsExecutor.development(
            registry, store=str(tmp_path / "dev.sqlite3"), clock=clock, telemetry=telemetry,
            queue=queue, service_url=base_url, loop_lag_threshold=None)

    with serve_executor(build) as served:
        await served.executor.start()
        try:
            execution_id = await served.executor.schedule("send_email", {"user": 5})
            # Another instance took the delivery and died without answering.
            desc = registry.get("send_email")
            now = clock.now()
            crashed = await served.store.acquire_lease(
                "send_email", execution_id, 1, "crashed-instance/1", now,
                now + desc.timeout + timedelta(seconds=30))
            assert crashed.outcome is LeaseOutcome.ACQUIRED
            await run_until_idle(served.executor)
            assert queue.dropped == [], queue.deliveries
            # Refused while the dead holder's lease was live, delivered again after it expired.
            lease_expiry = now + desc.timeout + timedelta(seconds=30)
            *refused, taken_over = queue.deliveries
            assert refused and all(d.status == 503 and d.at < lease_expiry for d in refused)
            assert taken_over.status == 200 and taken_over.at >= lease_expiry
            assert calls["send_email"] == 1
            run = await served.store.get_run("send_email", execution_id)
            assert run is not None and run.status is RunStatus.SUCCESS
        finally:
            await served.executor.shutdown()
            await pusher.aclose()
