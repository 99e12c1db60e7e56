"""``pause_after_dead=N``: N consecutive dead runs disable the job (docs/scheduling.md).

Over every store backend (memory, SQLite, the Firestore emulator), through the
development executor and the test kit: the pause is one recorded edit (command
``pause`` by ``zenjobs``), ``job.paused`` is emitted once, a success or an
``enable`` starts a new streak, and a store outage during the check never
changes the delivery's answer.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.cli.support import OPS_REGISTRY, as_json, zj
from tests.contract.conftest import store as store
from zenjobs import JobContext, ZenJobs, ZenJobsExecutor, ops
from zenjobs.errors import BackendUnavailableError
from zenjobs.runtime.pause import PAUSE_ACTOR, PAUSE_COMMAND, pause_if_dead_streak
from zenjobs.stores.memory import MemoryJobStore
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.records import RunRecord, RunStatus, Trigger
from zenjobs.stores.sqlite.store import SqliteJobStore
from zenjobs.testing import MemoryTelemetry, VirtualClock, run_until_idle

from .conftest import T0, RecordingQueue, deliver

__all__ = ["store"]


def failing_jobs(outcomes: list[bool] | None = None, *,
                 pause_after_dead: int | None = 3) -> ZenJobs:
    """``flaky``: fails unless the next entry of ``outcomes`` is True (always fails when empty)."""
    jobs = ZenJobs()
    plan = outcomes if outcomes is not None else []

    @jobs.job("flaky", type="endpoint", max_retries=0, pause_after_dead=pause_after_dead)
    async def flaky(ctx: JobContext) -> None:
        if plan and plan.pop(0):
            return
        raise RuntimeError("boom")

    return jobs


async def executor_for(jobs: ZenJobs, store: JobStore, clock: VirtualClock,
                       telemetry: MemoryTelemetry, **kwargs: Any) -> ZenJobsExecutor:
    executor = ZenJobsExecutor.development(jobs, store=store, clock=clock, telemetry=telemetry,
                                           loop_lag_threshold=None, **kwargs)
    await executor.start()
    return executor


async def run_once(executor: ZenJobsExecutor, clock: VirtualClock) -> RunRecord:
    """Schedule one run of ``flaky`` a minute later than the last and run it to its end."""
    clock.advance(timedelta(minutes=1))
    execution_id = await executor.schedule("flaky")
    await run_until_idle(executor)
    run = await executor.store.get_run("flaky", execution_id)
    assert run is not None
    return run


async def enabled(store: JobStore) -> bool:
    record = await store.get_job("flaky")
    assert record is not None
    return record.config.enabled


async def test_three_dead_runs_pause_the_job_once_with_a_recorded_edit(store: JobStore) -> None:
    clock, telemetry = VirtualClock(T0), MemoryTelemetry()
    executor = await executor_for(failing_jobs(), store, clock, telemetry)
    for _ in range(2):
        assert (await run_once(executor, clock)).status is RunStatus.DEAD
    assert await enabled(store)
    assert telemetry.of("job.paused") == []

    third = await run_once(executor, clock)
    assert third.status is RunStatus.DEAD
    assert not await enabled(store)
    paused = telemetry.assert_emitted("job.paused", job_id="flaky",
                                      execution_id=third.execution_id, dead_runs=3)
    assert paused.fields["reason"] == "paused after 3 consecutive dead runs"
    assert len(telemetry.of("job.paused")) == 1

    [edit] = await store.list_edits("flaky", 5)
    assert (edit.actor, edit.command) == (PAUSE_ACTOR, PAUSE_COMMAND) == ("zenjobs", "pause")
    assert [(c.field, c.before, c.after) for c in edit.changes] == [("enabled", True, False)]
    [job] = await ops.status(failing_jobs(), store, clock.now(), "flaky")
    assert job.config.enabled is False
    assert job.edits[0].command == "pause" and job.edits[0].actor == "zenjobs"

    # Paused: a new run is skipped, not run, and emits no second pause.
    assert (await run_once(executor, clock)).status is RunStatus.SKIPPED_DISABLED
    assert len(telemetry.of("job.paused")) == 1


async def test_a_success_in_between_resets_the_streak(store: JobStore) -> None:
    clock, telemetry = VirtualClock(T0), MemoryTelemetry()
    outcomes = [False, False, True, False, False]
    executor = await executor_for(failing_jobs(outcomes), store, clock, telemetry)
    statuses = [(await run_once(executor, clock)).status for _ in range(5)]
    assert statuses == [RunStatus.DEAD, RunStatus.DEAD, RunStatus.SUCCESS, RunStatus.DEAD,
                        RunStatus.DEAD]
    assert await enabled(store) and telemetry.of("job.paused") == []

    assert (await run_once(executor, clock)).status is RunStatus.DEAD  # the 3rd in a row
    assert not await enabled(store)
    assert len(telemetry.of("job.paused")) == 1


async def test_enable_resumes_and_three_new_dead_runs_are_needed(store: JobStore) -> None:
    clock, telemetry = VirtualClock(T0), MemoryTelemetry()
    jobs = failing_jobs()
    executor = await executor_for(jobs, store, clock, telemetry)
    for _ in range(3):
        await run_once(executor, clock)
    assert not await enabled(store)

    clock.advance(timedelta(minutes=1))
    change = await ops.enable(jobs, store, "flaky", clock.now(), actor="alice")
    assert change.changed and await enabled(store)
    for _ in range(2):
        assert (await run_once(executor, clock)).status is RunStatus.DEAD
    assert await enabled(store), "the dead runs before the enable do not count again"
    assert len(telemetry.of("job.paused")) == 1

    third = await run_once(executor, clock)
    assert not await enabled(store)
    assert len(telemetry.of("job.paused")) == 2
    assert telemetry.of("job.paused")[-1].fields["execution_id"] == third.execution_id
    commands = [(e.actor, e.command) for e in await store.list_edits("flaky", 5)]
    assert commands == [("zenjobs", "pause"), ("alice", "enable"), ("zenjobs", "pause")]


async def test_a_duplicate_delivery_of_the_dead_attempt_does_not_pause_twice(
        store: JobStore) -> None:
    clock, telemetry, queue = VirtualClock(T0), MemoryTelemetry(), RecordingQueue()
    executor = await executor_for(failing_jobs(), store, clock, telemetry, queue=queue)
    for _ in range(3):
        clock.advance(timedelta(minutes=1))
        await executor.schedule("flaky")
        task = queue.tasks[-1]
        first = await deliver(executor.engine, task)
        assert first.body["status"] == "dead"
    again = await deliver(executor.engine, task)
    assert again.status_code == 200 and again.body["status"] == "dead"
    assert not await enabled(store)
    # Two deliveries that both reached the check (a race): the second edit changes nothing.
    desc = executor.engine.registry.get("flaky")
    assert not await pause_if_dead_streak(store, telemetry, desc, "flaky-x", clock.now())
    assert len(telemetry.of("job.paused")) == 1
    assert len(await store.list_edits("flaky", 5)) == 1


async def test_a_dead_run_by_takeover_counts_too(store: JobStore) -> None:
    clock, telemetry, queue = VirtualClock(T0), MemoryTelemetry(), RecordingQueue()
    executor = await executor_for(failing_jobs(), store, clock, telemetry, queue=queue)
    for _ in range(2):
        clock.advance(timedelta(minutes=1))
        await executor.schedule("flaky")
        await deliver(executor.engine, queue.tasks[-1])
    clock.advance(timedelta(minutes=1))
    execution_id = await executor.schedule("flaky")
    # Attempt 1 is taken by an instance that then crashes: its lease runs out.
    now = clock.now()
    await store.acquire_lease("flaky", execution_id, 1, "crashed/1", now,
                              now + timedelta(minutes=1))
    clock.advance(timedelta(minutes=2))
    outcome = await deliver(executor.engine, queue.tasks[-1])
    assert outcome.body["status"] == "dead"
    run = await store.get_run("flaky", execution_id)
    assert run is not None and run.error_type == "LeaseExpired"
    assert not await enabled(store)
    telemetry.assert_emitted("job.paused", execution_id=execution_id, dead_runs=3)


async def test_without_the_option_nothing_pauses(store: JobStore) -> None:
    clock, telemetry = VirtualClock(T0), MemoryTelemetry()
    executor = await executor_for(failing_jobs(pause_after_dead=None), store, clock, telemetry)
    for _ in range(4):
        assert (await run_once(executor, clock)).status is RunStatus.DEAD
    assert await enabled(store) and telemetry.of("job.paused") == []
    assert await store.list_edits("flaky", 5) == []


class FlakyRunsStore(MemoryJobStore):
    """A memory store whose ``list_runs`` is down while ``down`` is set."""

    down = False

    async def list_runs(self, job_id: str, limit: int, **kwargs: Any) -> list[RunRecord]:
        if self.down:
            raise BackendUnavailableError("store unreachable")
        return await super().list_runs(job_id, limit, **kwargs)


async def test_a_store_outage_during_the_check_never_changes_the_answer() -> None:
    clock, telemetry, queue = VirtualClock(T0), MemoryTelemetry(), RecordingQueue()
    flaky_store = FlakyRunsStore()
    executor = await executor_for(failing_jobs(), flaky_store, clock, telemetry, queue=queue)
    for _ in range(2):
        clock.advance(timedelta(minutes=1))
        await executor.schedule("flaky")
        await deliver(executor.engine, queue.tasks[-1])
    flaky_store.down = True
    clock.advance(timedelta(minutes=1))
    await executor.schedule("flaky")
    outcome = await deliver(executor.engine, queue.tasks[-1])
    assert outcome.status_code == 200 and outcome.body["status"] == "dead"
    assert await enabled(flaky_store) and telemetry.of("job.paused") == []

    flaky_store.down = False  # the next dead run checks again
    clock.advance(timedelta(minutes=1))
    await executor.schedule("flaky")
    await deliver(executor.engine, queue.tasks[-1])
    assert not await enabled(flaky_store)
    telemetry.assert_emitted("job.paused", dead_runs=3)


async def test_a_job_without_a_document_gets_one_created_paused() -> None:
    """As ``zenjobs disable`` does: the document is created from the registry, then edited."""
    memory, telemetry = MemoryJobStore(), MemoryTelemetry()
    for n in range(3):
        await memory.create_run(RunRecord(
            job_id="flaky", execution_id=f"flaky-{n}", trigger=Trigger.ENDPOINT,
            scheduled_for=T0, status=RunStatus.DEAD, created_at=T0 + timedelta(minutes=n)))
    desc = failing_jobs().get("flaky")
    assert await pause_if_dead_streak(memory, telemetry, desc, "flaky-2", T0 + timedelta(hours=1))
    assert not await enabled(memory)
    telemetry.assert_emitted("job.paused", execution_id="flaky-2")


async def test_zenjobs_status_shows_the_pause(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    sqlite = SqliteJobStore(path)
    clock, telemetry = VirtualClock(T0), MemoryTelemetry()
    try:
        executor = await executor_for(failing_jobs(), sqlite, clock, telemetry)
        for _ in range(3):
            await run_once(executor, clock)
    finally:
        sqlite.close()
    result = await asyncio.to_thread(zj, "status", "flaky", "--registry", OPS_REGISTRY,
                                     "--store", f"sqlite:{path}")
    assert result.exit_code == 0, result.output
    assert "zenjobs  pause: enabled true -> false" in result.output
    data = as_json(await asyncio.to_thread(zj, "status", "flaky", "--registry", OPS_REGISTRY,
                                           "--store", f"sqlite:{path}", "--json"))
    [job] = data["jobs"]
    assert job["config"]["enabled"] is False
    assert (job["edits"][0]["actor"], job["edits"][0]["command"]) == ("zenjobs", "pause")
