"""The reconciler: nothing is lost when Cloud Tasks is down (issue 12, part 2).

A run whose next step never came (its retry or its task could not be created,
its holder died with no task to redeliver it) is found by the master tick and
sent again under its deterministic task name: once, whatever the outage, and
never as a second task. Driven by the test kit (``VirtualClock``, ``run_for``)
over the simulated Cloud Tasks queue, with the queue's outage injected by a
wrapper that refuses its first N creates; the rules are in ``docs/runtime.md``
("Recovery").
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from zenjobs import BackoffPolicy, JobContext, JobType, Weight, ZenJobs
from zenjobs.errors import BackendUnavailableError
from zenjobs.queues.protocol import EnqueueOutcome, HttpTask
from zenjobs.queues.simulated import SimulatedCloudTasks
from zenjobs.runtime.engine import JobEngine
from zenjobs.runtime.envelope import slot_execution_id, task_name
from zenjobs.runtime.executor import ZenJobsExecutor
from zenjobs.runtime.reconcile import RECOVERY_BACKOFF, RECOVERY_SLACK
from zenjobs.stores.memory import MemoryJobStore
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.records import OverdueRun, RunRecord, RunStatus, Trigger
from zenjobs.telemetry.console import format_event
from zenjobs.testing import MemoryTelemetry, VirtualClock, run_for

from .conftest import SERVICE, RecordingQueue, counter_ids, deliver

HOUR_START = datetime(2026, 1, 5, 8, 59, 30, tzinfo=timezone.utc)
SLOT = HOUR_START + timedelta(seconds=30)  # 09:00, the hourly job's first slot
UNREACHABLE = "Cloud Tasks is unreachable (injected outage)"


class FlakyQueue:
    """The executor's simulated Cloud Tasks, unreachable for its first ``fails`` creates.

    Every create is recorded with what came of it (``unavailable``, ``created``,
    ``already_exists``); ``run_for`` drives the wrapped queue's deliveries.
    """

    def __init__(self, inner: SimulatedCloudTasks, fails: int) -> None:
        self.inner = inner
        self.fails = fails
        self.calls: list[tuple[str, str]] = []  # (task name, outcome)

    async def enqueue(self, task: HttpTask) -> EnqueueOutcome:
        if self.fails > 0:
            self.fails -= 1
            self.calls.append((task.name, "unavailable"))
            raise BackendUnavailableError(UNREACHABLE)
        outcome = await self.inner.enqueue(task)
        self.calls.append((task.name, outcome.value))
        return outcome

    def pending(self) -> int:
        return self.inner.pending()

    def next_due_at(self) -> datetime | None:
        return self.inner.next_due_at()

    async def dispatch_due(self) -> int:
        return await self.inner.dispatch_due()


class Attempts:
    """What each handler saw: (job id, execution id, attempt, trigger) per call."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int, str]] = []

    def record(self, ctx: JobContext) -> None:
        self.seen.append((ctx.job_id, ctx.execution_id, ctx.attempt, ctx.trigger))

    def of(self, job_id: str) -> list[int]:
        return [attempt for job, _, attempt, _ in self.seen if job == job_id]

    def calls(self, job_id: str) -> list[tuple[str, str, int, str]]:
        return [call for call in self.seen if call[0] == job_id]


def registry(attempts: Attempts) -> ZenJobs:
    jobs = ZenJobs()

    # Light and hourly: its 09:00 slot runs inside the tick; nothing else fires for an hour.
    @jobs.job("fragile", type=JobType.PERIODIC, interval=timedelta(hours=1), max_retries=3,
              backoff=BackoffPolicy(initial=timedelta(seconds=10)))
    async def fragile(ctx: JobContext) -> None:
        attempts.record(ctx)
        if ctx.attempt == 1:
            raise RuntimeError("upstream hiccup")

    @jobs.job("send", type=JobType.ENDPOINT, weight=Weight.MEDIUM,
              timeout=timedelta(minutes=1))
    async def send(ctx: JobContext) -> None:
        attempts.record(ctx)

    @jobs.job("once", type=JobType.ENDPOINT, max_retries=0)
    async def once(ctx: JobContext) -> None:
        attempts.record(ctx)
        raise RuntimeError("fails for good")

    return jobs


class Dev:
    def __init__(self, executor: ZenJobsExecutor, queue: FlakyQueue, clock: VirtualClock,
                 telemetry: MemoryTelemetry, attempts: Attempts) -> None:
        self.executor, self.queue, self.clock = executor, queue, clock
        self.telemetry, self.attempts = telemetry, attempts

    @property
    def store(self) -> JobStore:
        return self.executor.store

    def ticks(self) -> list[dict[str, object]]:
        return [dict(e.fields) for e in self.telemetry.of("master.tick")]


@pytest.fixture(params=["memory", "sqlite"])
async def dev(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Dev]:
    """A development executor (simulated queue, virtual clock) whose queue can fail."""
    attempts, clock, telemetry = Attempts(), VirtualClock(HOUR_START), MemoryTelemetry()
    store = ":memory:" if request.param == "memory" else str(tmp_path / "dev.sqlite3")
    executor = ZenJobsExecutor.development(registry(attempts), store=store, clock=clock,
                                           telemetry=telemetry, loop_lag_threshold=None)
    inner = executor.queue
    assert isinstance(inner, SimulatedCloudTasks)
    flaky = FlakyQueue(inner, fails=0)
    executor.engine.queue = flaky
    await executor.start()
    try:
        yield Dev(executor, flaky, clock, telemetry, attempts)
    finally:
        await executor.shutdown()


async def test_light_retry_lost_to_a_queue_outage_is_recovered_and_runs_once(dev: Dev) -> None:
    """The issue's case: a light job fails inside the tick while Cloud Tasks is down."""
    dev.queue.fails = 3  # the retry's own send, then the next two recovery attempts
    execution_id = slot_execution_id("fragile", SLOT)
    retry_task = task_name(execution_id, 2)

    await run_for(dev.executor, timedelta(seconds=30))  # the 09:00 tick
    stuck = await dev.store.get_run("fragile", execution_id)
    assert stuck is not None and (stuck.status, stuck.attempt) == (RunStatus.RETRY_SCHEDULED, 2)
    assert stuck.next_attempt_at is not None and stuck.next_attempt_at > SLOT
    assert dev.queue.pending() == 0 and dev.queue.calls == [(retry_task, "unavailable")]
    assert dev.ticks()[-1]["failed"] == 1  # the retry could not be sent: master.run_error

    await run_for(dev.executor, timedelta(minutes=30))
    run = await dev.store.get_run("fragile", execution_id)
    assert run is not None and (run.status, run.attempt) == (RunStatus.SUCCESS, 2)
    assert dev.attempts.of("fragile") == [1, 2]  # each attempt ran exactly once
    # 09:01: not overdue yet (slack); 09:02 and 09:03: still down; 09:04: created, then
    # deferred, delivered and finished: never sent again.
    assert dev.queue.calls == [(retry_task, "unavailable"), (retry_task, "unavailable"),
                               (retry_task, "unavailable"), (retry_task, "created")]
    failed = dev.telemetry.of("run.recovery_failed", execution_id=execution_id)
    assert [e.timestamp for e in failed] == [SLOT + 2 * RECOVERY_SLACK, SLOT + 3 * RECOVERY_SLACK]
    assert all(e.fields["error"] == f"BackendUnavailableError: {UNREACHABLE}" for e in failed)
    recovered = dev.telemetry.assert_emitted("run.recovered", execution_id=execution_id)
    assert recovered.timestamp == SLOT + timedelta(minutes=4)
    assert (recovered.fields["job_id"], recovered.fields["attempt"], recovered.fields["status"],
            recovered.fields["outcome"], recovered.fields["queue"]) == (
        "fragile", 2, "retry_scheduled", "created", "zenjobs-light")
    assert recovered.fields["overdue_ms"] == (
        recovered.timestamp - stuck.next_attempt_at).total_seconds() * 1000
    assert recovered.fields["next_check_at"] == recovered.timestamp + RECOVERY_BACKOFF
    assert len(dev.telemetry.of("run.recovered")) == 1
    assert [t["recovered"] for t in dev.ticks() if t["recovered"]] == [1]


async def test_endpoint_run_whose_task_was_never_created_is_sent_once(dev: Dev) -> None:
    """``schedule`` wrote the record, then the queue refused the task: the caller got an
    error and may never call again; the run is sent by the next ticks all the same."""
    dev.queue.fails = 1
    with pytest.raises(BackendUnavailableError):
        await dev.executor.schedule("send", {"to": "ana"}, idempotency_key="welcome-ana")
    (run,) = await dev.store.list_runs("send", 10)
    assert run.status is RunStatus.PENDING and dev.queue.pending() == 0

    await run_for(dev.executor, timedelta(minutes=10))
    done = await dev.store.get_run("send", run.execution_id)
    assert done is not None and done.status is RunStatus.SUCCESS
    assert dev.attempts.calls("send") == [("send", run.execution_id, 1, "endpoint")]
    event = dev.telemetry.assert_emitted("run.recovered", execution_id=run.execution_id)
    assert (event.fields["status"], event.fields["outcome"]) == ("pending", "created")
    assert event.timestamp == HOUR_START + timedelta(seconds=30) + timedelta(minutes=1)


async def test_a_replay_whose_task_was_refused_is_sent_as_a_replay(dev: Dev) -> None:
    execution_id = await dev.executor.schedule("once", None, idempotency_key="k")
    await run_for(dev.executor, timedelta(seconds=10))
    dead = await dev.store.get_run("once", execution_id)
    assert dead is not None and dead.status is RunStatus.DEAD
    dev.queue.fails = 1
    with pytest.raises(BackendUnavailableError):
        await dev.executor.replay(execution_id)

    await run_for(dev.executor, timedelta(minutes=5))
    assert dev.attempts.calls("once") == [("once", execution_id, 1, "endpoint"),
                                          ("once", execution_id, 2, "replay")]
    dev.telemetry.assert_emitted("run.recovered", execution_id=execution_id, attempt=2,
                                 status="pending", outcome="created")


async def test_an_inline_run_whose_instance_died_is_taken_over_once(dev: Dev) -> None:
    """An inline run has no task: a holder that dies leaves it ``running`` with nothing
    to redeliver it. Once its lease expired, the reconciler sends its attempt, and that
    delivery takes the run over (the lost attempt counts)."""
    execution_id = slot_execution_id("fragile", SLOT)
    await dev.store.create_run(RunRecord("fragile", execution_id, Trigger.SCHEDULE, SLOT,
                                         created_at=SLOT))
    lease_until = SLOT + timedelta(minutes=5, seconds=30)  # timeout 5 min + grace 30 s
    held = await dev.store.acquire_lease("fragile", execution_id, 1, "dead-instance/1", SLOT,
                                         lease_until)
    assert held.run is not None and held.run.status is RunStatus.RUNNING
    await dev.store.claim_slot("fragile", SLOT, SLOT + timedelta(hours=1), SLOT)  # its tick's

    await run_for(dev.executor, timedelta(minutes=20))
    run = await dev.store.get_run("fragile", execution_id)
    assert run is not None and (run.status, run.attempt) == (RunStatus.SUCCESS, 2)
    assert dev.attempts.of("fragile") == [2]
    started = dev.telemetry.assert_emitted("job.started", execution_id=execution_id)
    assert started.fields["taken_over"] is True
    event = dev.telemetry.assert_emitted("run.recovered", execution_id=execution_id)
    assert (event.fields["status"], event.fields["attempt"]) == ("running", 1)
    # Not before the lease expired and the slack passed: the 09:07 tick, the first at or
    # after 09:05:30 + 1 min.
    assert event.timestamp == SLOT + timedelta(minutes=7)
    assert dev.queue.calls == [(task_name(execution_id, 1), "created")]


# -- with a queue the test delivers by hand -------------------------------------------------


class CountingQueue(RecordingQueue):
    """Deduplicates names like Cloud Tasks; fails its first ``fails`` creates; counts outcomes."""

    def __init__(self, fails: int = 0) -> None:
        super().__init__()
        self.fails = fails
        self.outcomes: list[str] = []

    async def enqueue(self, task: HttpTask) -> EnqueueOutcome:
        if self.fails > 0:
            self.fails -= 1
            self.outcomes.append("unavailable")
            raise BackendUnavailableError(UNREACHABLE)
        outcome = await super().enqueue(task)
        self.outcomes.append(outcome.value)
        return outcome


def engine_on(store: JobStore, queue: RecordingQueue, clock: VirtualClock,
              telemetry: MemoryTelemetry, attempts: Attempts, batch_size: int = 100) -> JobEngine:
    return JobEngine(registry(attempts), store, queue, clock, telemetry, service_url=SERVICE,
                     id_source=counter_ids(), batch_size=batch_size)


@pytest.fixture
def counting() -> CountingQueue:
    return CountingQueue()


async def test_a_task_that_exists_is_deduplicated_never_doubled(
        store: JobStore, counting: CountingQueue, clock: VirtualClock,
        telemetry: MemoryTelemetry) -> None:
    """The task was sent but Cloud Tasks dispatches it late (a rate-limited backlog): the
    reconciler's send answers ALREADY_EXISTS, and the queue still holds one task."""
    attempts = Attempts()
    engine = engine_on(store, counting, clock, telemetry, attempts)
    execution_id = await engine.schedule("send", None, idempotency_key="late")
    assert counting.outcomes == ["created"]

    clock.advance(RECOVERY_SLACK + timedelta(seconds=1))
    assert (await engine.tick())["recovered"] == 1
    assert counting.outcomes == ["created", "already_exists"] and len(counting.tasks) == 1
    event = telemetry.assert_emitted("run.recovered", execution_id=execution_id)
    assert event.fields["outcome"] == "already_exists"

    clock.advance(RECOVERY_BACKOFF - timedelta(seconds=1))  # deferred: not asked again yet
    assert (await engine.tick())["recovered"] == 0
    assert counting.outcomes == ["created", "already_exists"]

    assert (await deliver(engine, counting.pop())).body["status"] == "success"
    clock.advance(timedelta(hours=1))
    assert (await engine.tick())["recovered"] == 0  # finished: out of the index for good
    assert attempts.seen == [("send", execution_id, 1, "endpoint")]


async def test_each_tick_recovers_at_most_its_batch(
        store: JobStore, counting: CountingQueue, clock: VirtualClock,
        telemetry: MemoryTelemetry) -> None:
    attempts = Attempts()
    engine = engine_on(store, counting, clock, telemetry, attempts, batch_size=3)
    counting.fails = 7
    for n in range(7):
        with pytest.raises(BackendUnavailableError):
            await engine.schedule("send", {"n": n}, idempotency_key=f"k{n}")
        clock.advance(1)
    done = RunRecord("send", "send-done", Trigger.ENDPOINT, clock.now(),
                     status=RunStatus.SUCCESS, finished_at=clock.now())
    assert await store.create_run(done)  # final: never looked at

    oldest_first = [run.execution_id for run in sorted(await store.list_runs("send", 10),
                                                       key=lambda r: r.scheduled_for)
                    if run.execution_id != "send-done"]

    clock.advance(RECOVERY_SLACK)
    ticks = [clock.advance(1) for _ in range(4)]
    recovered = [(await engine.tick(now))["recovered"] for now in ticks]
    assert recovered == [3, 3, 1, 0]
    assert counting.outcomes == ["unavailable"] * 7 + ["created"] * 7
    by_tick = [{e.fields["execution_id"] for e in telemetry.of("run.recovered")
                if e.timestamp == now} for now in ticks]
    # Most overdue first: the order the runs were written in.
    assert by_tick == [set(oldest_first[:3]), set(oldest_first[3:6]), set(oldest_first[6:]),
                       set()]


async def test_a_queue_outage_during_recovery_fails_nothing_and_keeps_the_runs(
        store: JobStore, counting: CountingQueue, clock: VirtualClock,
        telemetry: MemoryTelemetry) -> None:
    attempts = Attempts()
    engine = engine_on(store, counting, clock, telemetry, attempts)
    counting.fails = 5
    for n in range(4):
        with pytest.raises(BackendUnavailableError):
            await engine.schedule("send", {"n": n}, idempotency_key=f"k{n}")
    clock.advance(RECOVERY_SLACK + timedelta(seconds=1))

    summary = await engine.tick()  # the queue is still down
    assert (summary["recovered"], summary["failed"]) == (0, 0)
    # One failed send stops the tick from trying that queue again; nothing is deferred.
    assert counting.outcomes == ["unavailable"] * 5
    (failed,) = telemetry.of("run.recovery_failed")
    assert failed.fields["next_check_at"] is None and failed.fields["queue"] == "zenjobs-medium"
    assert len(await store.overdue_runs(clock.now(), 10)) == 4

    clock.advance(RECOVERY_SLACK)
    assert (await engine.tick())["recovered"] == 4  # back: all four, at the next tick
    for task in list(counting.tasks):
        await deliver(engine, task)
    assert sorted(attempts.seen) == sorted(
        ("send", run.execution_id, 1, "endpoint") for run in await store.list_runs("send", 10))
    assert len(attempts.seen) == 4


async def test_a_run_of_a_job_this_revision_does_not_know_is_reported_and_deferred(
        store: JobStore, counting: CountingQueue, clock: VirtualClock,
        telemetry: MemoryTelemetry) -> None:
    attempts = Attempts()
    engine = engine_on(store, counting, clock, telemetry, attempts)
    await store.create_run(RunRecord("gone", "gone-1", Trigger.ENDPOINT, clock.now()))
    clock.advance(RECOVERY_SLACK)

    assert (await engine.tick())["recovered"] == 0
    event = telemetry.assert_emitted("run.recovery_failed", execution_id="gone-1")
    assert event.fields["error"].startswith("UnknownJobError")
    assert event.fields["next_check_at"] == clock.now() + RECOVERY_BACKOFF
    clock.advance(RECOVERY_BACKOFF - timedelta(seconds=1))
    await engine.tick()
    assert len(telemetry.of("run.recovery_failed")) == 1  # once per backoff, not per tick
    assert counting.outcomes == []


class FailingOverdueStore(MemoryJobStore):
    async def overdue_runs(self, cutoff: datetime, limit: int) -> list[OverdueRun]:
        raise BackendUnavailableError("the store froze")


async def test_a_store_error_in_recovery_is_reported_and_the_tick_still_answers(
        counting: CountingQueue, clock: VirtualClock, telemetry: MemoryTelemetry) -> None:
    engine = engine_on(FailingOverdueStore(), counting, clock, telemetry, Attempts())
    summary = await engine.tick()
    assert summary["recovered"] == 0
    error = telemetry.assert_emitted("master.run_error")
    assert error.fields["error"] == "recovery: BackendUnavailableError: the store froze"


def test_the_console_tick_line_shows_recovered() -> None:
    from zenjobs.telemetry.protocol import TelemetryEvent

    line = format_event(TelemetryEvent("master.tick", SLOT, {
        "due": 0, "claimed": 0, "ran": 0, "enqueued": 0, "skipped": 0, "failed": 0,
        "recovered": 2, "batch_size": 100}))
    assert line.endswith("skipped=0 failed=0 recovered=2")
