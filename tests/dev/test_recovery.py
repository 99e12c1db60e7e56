"""Nothing is lost across a stop: unfinished runs in the store are enqueued again at start.

The simulated queue lives in memory, so its tasks end with the process; the
store keeps the run records, and ``recover_unfinished`` turns every unfinished
one back into a task (same deterministic task name), including a run whose
holder crashed, which is taken over once its lease expires.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from examples.newsletter.jobs import jobs
from zenjobs import ZenJobsExecutor
from zenjobs.dev.server import recover_unfinished
from zenjobs.stores.records import LeaseOutcome, RunStatus
from zenjobs.testing import MemoryTelemetry, VirtualClock, run_until_idle


def executor_on(path: Path, clock: VirtualClock,
                telemetry: MemoryTelemetry | None = None) -> ZenJobsExecutor:
    return ZenJobsExecutor.development(jobs, store=str(path), clock=clock,
                                       telemetry=telemetry or MemoryTelemetry(),
                                       loop_lag_threshold=None)


async def test_queued_and_leased_runs_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "dev.sqlite3"
    clock = VirtualClock()
    first = executor_on(path, clock)
    await first.start()
    queued = await first.schedule("send_welcome_email", {"user_id": "u1"},
                                  idempotency_key="u1")
    crashed = await first.schedule("send_welcome_email", {"user_id": "u2"},
                                   idempotency_key="u2")
    # Another instance took the lease on the second run and died while running it.
    lease = await first.store.acquire_lease("send_welcome_email", crashed, 1, "dead-holder",
                                            clock.now(), clock.now() + timedelta(minutes=2))
    assert lease.outcome is LeaseOutcome.ACQUIRED
    await first.shutdown()  # its in-memory queue, with both tasks, is gone

    telemetry = MemoryTelemetry()
    second = executor_on(path, clock, telemetry)
    await second.start()
    assert await recover_unfinished(second) == 2
    assert await recover_unfinished(second) == 0  # same task names: nothing enqueued twice
    await run_until_idle(second)

    done = await second.store.get_run("send_welcome_email", queued)
    taken = await second.store.get_run("send_welcome_email", crashed)
    assert done is not None and done.status is RunStatus.SUCCESS and done.attempt == 1
    assert taken is not None and taken.status is RunStatus.SUCCESS and taken.attempt == 2
    telemetry.assert_emitted("job.started", execution_id=crashed, taken_over=True)
    assert len(telemetry.of("job.succeeded", job_id="send_welcome_email")) == 2
    await second.shutdown()


async def test_a_scheduled_retry_continues_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "dev.sqlite3"
    clock = VirtualClock()
    first = executor_on(path, clock)
    await first.start()
    run_id = await first.trigger("sync_analytics")
    assert await first.queue.dispatch_due() == 1  # type: ignore[attr-defined]
    failed = await first.store.get_run("sync_analytics", run_id)
    assert failed is not None and failed.status is RunStatus.RETRY_SCHEDULED
    await first.shutdown()

    telemetry = MemoryTelemetry()
    second = executor_on(path, clock, telemetry)
    await second.start()
    assert await recover_unfinished(second) == 1
    await run_until_idle(second)
    dead = await second.store.get_run("sync_analytics", run_id)
    assert dead is not None and dead.status is RunStatus.DEAD and dead.attempt == 3
    telemetry.assert_emitted("job.failed", execution_id=run_id, attempt=3, final=True)
    await second.shutdown()
