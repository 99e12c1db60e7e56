"""The example service's registry under the development executor, on simulated time."""

from __future__ import annotations

from datetime import timedelta

from examples.newsletter.jobs import jobs
from zenjobs import ZenJobsExecutor
from zenjobs.stores.records import RunStatus
from zenjobs.testing import MemoryTelemetry, VirtualClock, run_for

from .conftest import T0


async def test_two_simulated_minutes_of_the_newsletter_service() -> None:
    clock = VirtualClock(T0)
    telemetry = MemoryTelemetry()
    executor = ZenJobsExecutor.development(jobs, store=":memory:", clock=clock,
                                           telemetry=telemetry, loop_lag_threshold=None)
    await executor.start()
    welcome = await executor.schedule("send_welcome_email", {"user_id": "u-1"},
                                      idempotency_key="signup-u-1")
    await run_for(executor, timedelta(minutes=2))

    telemetry.assert_emitted("job.succeeded", job_id="send_welcome_email",
                             execution_id=welcome)
    analytics = await executor.store.list_runs("sync_analytics", 10)
    first = analytics[-1]  # the 09:01 slot: failed, retried twice with backoff, dead
    assert first.scheduled_for == T0 + timedelta(minutes=1)
    assert first.status is RunStatus.DEAD and first.attempt == 3
    retries = telemetry.of("job.retry_scheduled", execution_id=first.execution_id)
    assert [e.fields["next_attempt"] for e in retries] == [2, 3]
    job = await executor.store.get_job("sync_analytics")
    assert job is not None and job.last_status is RunStatus.DEAD
    assert len(telemetry.of("master.tick")) == 2
    await executor.shutdown()
