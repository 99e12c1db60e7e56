"""The master tick: due query, claims, catch-up, inline vs enqueued, batches, concurrency."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from zenjobs import JobContext, JobDescriptor, ZenJobs
from zenjobs.runtime.envelope import slot_execution_id, task_name
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.records import JobConfig, RunStatus, Trigger
from zenjobs.testing import MemoryTelemetry, VirtualClock

from .conftest import T0, EngineFactory, RecordingQueue, deliver


def periodic(jobs: ZenJobs, job_id: str, calls: list[JobContext], *, minutes: int = 1,
             **fields: object) -> None:
    async def handler(ctx: JobContext) -> None:
        calls.append(ctx)
        await asyncio.sleep(0)

    jobs.register(JobDescriptor(id=job_id, type="periodic",  # type: ignore[arg-type]
                                interval=timedelta(minutes=minutes), **fields))  # type: ignore[arg-type]
    jobs.register_handler(job_id, handler)


async def test_light_job_runs_inline_once_per_slot(
        make_engine: EngineFactory, store: JobStore, clock: VirtualClock,
        telemetry: MemoryTelemetry, queue: RecordingQueue) -> None:
    calls: list[JobContext] = []
    jobs = ZenJobs()
    periodic(jobs, "every_minute", calls)
    engine = make_engine(jobs)
    await engine.sync()
    job = await store.get_job("every_minute")
    assert job is not None and job.next_run_at == T0 + timedelta(minutes=1)

    assert (await engine.tick(T0 + timedelta(seconds=30)))["due"] == 0
    summary = await engine.tick(T0 + timedelta(minutes=1))
    assert isinstance(summary.pop("duration_ms"), int)
    assert summary == {"now": "2026-01-05T09:01:00Z", "due": 1, "claimed": 1, "ran": 1,
                       "enqueued": 0, "skipped": 0, "failed": 0, "recovered": 0,
                       "batch_size": 100}
    again = await engine.tick(T0 + timedelta(minutes=1))  # the scheduler retried the tick
    assert again["due"] == 0 and again["claimed"] == 0
    assert [c.scheduled_for for c in calls] == [T0 + timedelta(minutes=1)]
    assert calls[0].trigger == "schedule"
    assert calls[0].execution_id == slot_execution_id("every_minute", T0 + timedelta(minutes=1))
    assert queue.tasks == []
    telemetry.assert_emitted("master.tick", due=1, claimed=1, ran=1)
    job = await store.get_job("every_minute")
    assert job is not None and job.next_run_at == T0 + timedelta(minutes=2)


async def test_missed_slots_collapse_into_one_run_on_the_fixed_grid(
        make_engine: EngineFactory, store: JobStore) -> None:
    calls: list[JobContext] = []
    jobs = ZenJobs()
    periodic(jobs, "five", calls, minutes=5)
    engine = make_engine(jobs)
    await engine.sync()  # next slot 09:05
    summary = await engine.tick(T0 + timedelta(minutes=23, seconds=10))  # late by 3 slots
    assert summary["ran"] == 1
    assert [c.scheduled_for for c in calls] == [T0 + timedelta(minutes=5)]
    job = await store.get_job("five")
    assert job is not None and job.next_run_at == T0 + timedelta(minutes=25)  # grid kept


async def test_medium_and_heavy_jobs_are_enqueued_with_derived_task_names(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore) -> None:
    calls: list[JobContext] = []
    jobs = ZenJobs()
    periodic(jobs, "report", calls, weight="medium")
    periodic(jobs, "custom", calls, weight="medium", queue="reports")
    engine = make_engine(jobs)
    await engine.sync()
    slot = T0 + timedelta(minutes=1)
    summary = await engine.tick(slot)
    assert summary["enqueued"] == 2 and summary["ran"] == 0 and calls == []
    by_job = {e.job_id: (t, e) for t, e in zip(queue.tasks, queue.envelopes(), strict=True)}
    task, env = by_job["report"]
    assert task.queue == "zenjobs-medium"
    assert by_job["custom"][0].queue == "reports"
    assert task.url == "https://svc.example/_zenjobs/run/report"
    assert task.name == task_name(slot_execution_id("report", slot), 1)
    assert env.trigger is Trigger.SCHEDULE and env.scheduled_for == slot and env.attempt == 1
    run = await store.get_run("report", env.execution_id)
    assert run is not None and run.status is RunStatus.PENDING
    await deliver(engine, task)
    assert [c.job_id for c in calls] == ["report"]


async def test_batch_size_leaves_the_rest_due_in_priority_order(
        make_engine: EngineFactory) -> None:
    calls: list[JobContext] = []
    jobs = ZenJobs()
    for i in range(5):
        periodic(jobs, f"job{i}", calls, priority=i)
    engine = make_engine(jobs, batch_size=2)
    await engine.sync()
    first = await engine.tick(T0 + timedelta(minutes=1))
    assert first["due"] == 2 and first["ran"] == 2
    assert sorted(c.job_id for c in calls) == ["job3", "job4"]
    second = await engine.tick(T0 + timedelta(minutes=1))
    assert second["ran"] == 2
    assert sorted(c.job_id for c in calls[2:]) == ["job1", "job2"]


async def test_misconfigured_documents_are_skipped_and_others_run(
        make_engine: EngineFactory, store: JobStore, clock: VirtualClock,
        telemetry: MemoryTelemetry) -> None:
    calls: list[JobContext] = []
    jobs = ZenJobs()
    periodic(jobs, "good", calls)
    periodic(jobs, "bad_tz", calls)
    periodic(jobs, "flagged", calls)
    engine = make_engine(jobs)
    await engine.sync()
    bad = JobConfig(interval_seconds=60, timezone="Mars/Olympus")
    await store.update_job("bad_tz", config=bad, now=clock.now())
    await store.update_job("flagged", misconfigured="cron field is a number", now=clock.now())
    summary = await engine.tick(T0 + timedelta(minutes=1))
    assert summary["ran"] == 1 and summary["skipped"] == 2 and summary["claimed"] == 1
    assert [c.job_id for c in calls] == ["good"]
    event = telemetry.assert_emitted("master.job_skipped", job_id="bad_tz")
    assert "timezone" in event.fields["reason"] and "Mars/Olympus" in event.fields["reason"]
    flagged = telemetry.assert_emitted("master.job_skipped", job_id="flagged")
    assert "cron field is a number" in flagged.fields["reason"]


async def test_stored_config_overrides_the_registry(
        make_engine: EngineFactory, store: JobStore, clock: VirtualClock) -> None:
    calls: list[JobContext] = []
    jobs = ZenJobs()
    periodic(jobs, "tuned", calls)
    engine = make_engine(jobs)
    await engine.sync()
    await store.update_job("tuned", config=JobConfig(interval_seconds=600), now=clock.now())
    await engine.tick(T0 + timedelta(minutes=1))
    job = await store.get_job("tuned")
    assert job is not None and job.next_run_at == T0 + timedelta(minutes=10)


async def test_an_enqueue_outage_gives_the_slot_back_for_the_next_tick(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore) -> None:
    calls: list[JobContext] = []
    jobs = ZenJobs()
    periodic(jobs, "report", calls, weight="medium")
    engine = make_engine(jobs)
    await engine.sync()
    queue.fail_with = ConnectionError("tasks API down")
    down = await engine.tick(T0 + timedelta(minutes=1))
    assert down["failed"] == 1 and down["enqueued"] == 0
    queue.fail_with = None
    up = await engine.tick(T0 + timedelta(minutes=1, seconds=5))
    assert up["enqueued"] == 1
    assert queue.envelopes()[0].scheduled_for == T0 + timedelta(minutes=1)  # same slot


async def test_twenty_concurrent_ticks_over_100_due_jobs_run_each_once(
        make_engine: EngineFactory, store: JobStore) -> None:
    calls: list[JobContext] = []
    jobs = ZenJobs()
    for i in range(100):
        periodic(jobs, f"j{i:03d}", calls)
    engine = make_engine(jobs)
    await engine.sync()
    now = T0 + timedelta(minutes=1)
    summaries = await asyncio.gather(*(engine.tick(now) for _ in range(20)))
    assert sum(s["claimed"] for s in summaries) == 100
    assert sum(s["ran"] for s in summaries) == 100
    ran = sorted((c.job_id, c.scheduled_for) for c in calls)
    assert ran == sorted((f"j{i:03d}", now) for i in range(100))
    # A second wave at the next slot again runs each job exactly once.
    later = now + timedelta(minutes=1)
    await asyncio.gather(*(engine.tick(later) for _ in range(20)))
    assert len(calls) == 200 and len({(c.job_id, c.scheduled_for) for c in calls}) == 200


async def test_tick_uses_the_scheduler_time_as_logical_time(
        make_engine: EngineFactory, clock: VirtualClock) -> None:
    calls: list[JobContext] = []
    jobs = ZenJobs()
    periodic(jobs, "every_minute", calls)
    engine = make_engine(jobs)
    await engine.sync()
    clock.advance(timedelta(minutes=10))  # the wall clock is far ahead of the tick
    summary = await engine.master_tick(T0 + timedelta(minutes=1))
    assert summary["now"] == "2026-01-05T09:01:00Z"
    assert [c.scheduled_for for c in calls] == [T0 + timedelta(minutes=1)]
    summary = await engine.master_tick(None)  # no header: the clock's now
    assert summary["now"] == "2026-01-05T09:10:00Z" and summary["ran"] == 1


# -- orphans: documents whose job this revision does not register ----------------------------


async def test_an_orphaned_document_is_skipped_and_reported_once_per_slot(
        make_engine: EngineFactory, store: JobStore, clock: VirtualClock,
        telemetry: MemoryTelemetry) -> None:
    calls: list[JobContext] = []
    jobs = ZenJobs()
    periodic(jobs, "kept", calls)
    engine = make_engine(jobs)
    await engine.sync()
    # "gone" was removed from the code; its hourly document is still in the store.
    await store.ensure_job("gone", JobConfig(interval_seconds=3600), T0, clock.now())

    # Cloud Scheduler delivered the tick three times at once: one of them skips the slot.
    ticks = await asyncio.gather(*(engine.tick(T0 + timedelta(minutes=1)) for _ in range(3)))
    assert sum(t["ran"] for t in ticks) == 1 and len(calls) == 1
    skipped = telemetry.assert_emitted("master.job_skipped", job_id="gone")
    assert skipped.fields["reason"] == "not in this revision's registry"
    assert (skipped.fields["slot"], skipped.fields["next_run_at"]) == (T0, T0 + timedelta(hours=1))
    gone = await store.get_job("gone")
    assert gone is not None and gone.next_run_at == T0 + timedelta(hours=1)  # out of the query

    for minute in (1, 2, 3):  # a retried tick, then later ticks: nothing more to report
        later = await engine.tick(T0 + timedelta(minutes=minute))
        assert later["due"] == later["ran"] and later["skipped"] == 0
    assert len(telemetry.of("master.job_skipped")) == 1
    await engine.tick(T0 + timedelta(hours=1))  # its next slot: skipped and reported again
    assert [e.fields["slot"] for e in telemetry.of("master.job_skipped")] == [
        T0, T0 + timedelta(hours=1)]
    assert {c.job_id for c in calls} == {"kept"}


async def test_orphans_never_take_a_registered_jobs_place_in_the_batch(
        make_engine: EngineFactory, store: JobStore, clock: VirtualClock,
        telemetry: MemoryTelemetry) -> None:
    calls: list[JobContext] = []
    jobs = ZenJobs()
    periodic(jobs, "kept", calls, priority=0)
    engine = make_engine(jobs, batch_size=2)
    await engine.sync()
    # Five removed jobs that come due every minute and outrank "kept": more than a batch.
    for i in range(5):
        await store.ensure_job(f"gone{i}", JobConfig(interval_seconds=60, priority=100),
                               T0 + timedelta(minutes=1), clock.now())
    for minute in (1, 2, 3):
        now = T0 + timedelta(minutes=minute)
        summary = await engine.tick(now)
        assert (summary["due"], summary["skipped"], summary["ran"]) == (6, 5, 1), summary
        assert [c.scheduled_for for c in calls][-1] == now
    assert len(calls) == 3
    skipped = telemetry.of("master.job_skipped")
    assert len(skipped) == 15 and len({(e.fields["job_id"], e.fields["slot"])
                                       for e in skipped}) == 15


async def test_an_orphan_without_a_usable_schedule_leaves_the_due_query(
        make_engine: EngineFactory, store: JobStore, clock: VirtualClock,
        telemetry: MemoryTelemetry) -> None:
    jobs = ZenJobs()
    periodic(jobs, "kept", [])
    engine = make_engine(jobs)
    await engine.sync()
    await store.ensure_job("bad_zone", JobConfig(interval_seconds=60, timezone="Mars/Base"),
                           T0, clock.now())
    await store.ensure_job("flagged", JobConfig(interval_seconds=60), T0, clock.now())
    await store.update_job("flagged", misconfigured="cron field is a number", now=clock.now())
    await engine.tick(T0 + timedelta(minutes=1))
    for job_id in ("bad_zone", "flagged"):
        record = await store.get_job(job_id)
        assert record is not None and record.next_run_at is None
        event = telemetry.assert_emitted("master.job_skipped", job_id=job_id)
        assert event.fields["next_run_at"] is None
    assert (await engine.tick(T0 + timedelta(minutes=2)))["skipped"] == 0


async def test_a_revision_that_registers_the_job_again_finds_its_next_slot(
        make_engine: EngineFactory, store: JobStore) -> None:
    calls: list[JobContext] = []
    new_revision = ZenJobs()
    periodic(new_revision, "report", calls, minutes=5)
    await make_engine(new_revision).sync()  # the new revision's instance starts first
    old_revision = make_engine(ZenJobs())  # an instance of the revision before still ticks
    await old_revision.tick(T0 + timedelta(minutes=5))
    record = await store.get_job("report")
    assert record is not None and record.next_run_at == T0 + timedelta(minutes=10)
    summary = await make_engine(new_revision).tick(T0 + timedelta(minutes=10))
    assert summary["ran"] == 1
    assert [c.scheduled_for for c in calls] == [T0 + timedelta(minutes=10)]
