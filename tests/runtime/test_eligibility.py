"""Eligibility at run start: each status, its order, and skips never touching last_status."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

import pytest

from zenjobs import JobContext, JobDescriptor, ZenJobs
from zenjobs.runtime.effective import (
    check_eligibility,
    config_from_descriptor,
    effective_descriptor,
)
from zenjobs.stores.memory import MemoryJobStore
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.records import RunStatus
from zenjobs.testing import MemoryTelemetry, VirtualClock

from .conftest import T0, EngineFactory, RecordingQueue, deliver

UTC = T0.tzinfo


def endpoint_jobs(calls: list[str], **fields: object) -> ZenJobs:
    jobs = ZenJobs()

    @jobs.job("ep", type="endpoint", **fields)
    async def ep(ctx: JobContext) -> None:
        calls.append(ctx.execution_id)

    return jobs


async def run_once(engine_factory: EngineFactory, jobs: ZenJobs, queue: RecordingQueue,
                   store: JobStore) -> RunStatus:
    engine = engine_factory(jobs)
    await engine.sync()
    execution_id = await engine.schedule("ep")
    outcome = await deliver(engine, queue.pop())
    run = await store.get_run("ep", execution_id)
    assert run is not None and outcome.status_code == 200
    assert outcome.body["status"] == run.status.value
    return run.status


async def test_disabled(make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
                        telemetry: MemoryTelemetry) -> None:
    calls: list[str] = []
    status = await run_once(make_engine, endpoint_jobs(calls, enabled=False), queue, store)
    assert status is RunStatus.SKIPPED_DISABLED and calls == []
    event = telemetry.assert_emitted("job.skipped", job_id="ep", status="skipped_disabled")
    assert event.fields["reason"] == "job is disabled"
    telemetry.assert_not_emitted("job.started")


async def test_not_started(make_engine: EngineFactory, queue: RecordingQueue,
                           store: JobStore) -> None:
    calls: list[str] = []
    jobs = endpoint_jobs(calls, start_at=T0 + timedelta(hours=1))
    assert await run_once(make_engine, jobs, queue, store) is RunStatus.SKIPPED_NOT_STARTED


async def test_ended_uses_the_local_date_of_the_job_time_zone(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        clock: VirtualClock) -> None:
    calls: list[str] = []
    # 09:00 UTC on Jan 5 is 22:00 on Jan 5 in Auckland (UTC+13): still on the end date.
    jobs = endpoint_jobs(calls, timezone="Pacific/Auckland", end_at=date(2026, 1, 5))
    engine = make_engine(jobs)
    statuses = []
    for _ in range(2):
        execution_id = await engine.schedule("ep")
        await deliver(engine, queue.pop())
        run = await store.get_run("ep", execution_id)
        assert run is not None
        statuses.append(run.status)
        clock.advance(timedelta(hours=2))  # 00:00 on Jan 6 in Auckland
    assert statuses == [RunStatus.SUCCESS, RunStatus.SKIPPED_ENDED]


async def test_skip_date_does_not_change_last_status(
        make_engine: EngineFactory, store: JobStore) -> None:
    calls: list[str] = []
    jobs = ZenJobs()

    @jobs.job("daily", type="scheduled", cron="0 10 * * *",
              skip_dates=[date(2026, 1, 6)])
    async def daily(ctx: JobContext) -> None:
        calls.append(ctx.execution_id)

    engine = make_engine(jobs)
    await engine.sync()
    await engine.tick(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))
    summary = await engine.tick(datetime(2026, 1, 6, 10, 0, tzinfo=UTC))
    assert summary["skipped"] == 1 and summary["ran"] == 0 and len(calls) == 1
    runs = await store.list_runs("daily", 10)
    assert [r.status for r in runs] == [RunStatus.SKIPPED_DATE_EXCLUSION, RunStatus.SUCCESS]
    job = await store.get_job("daily")
    assert job is not None and job.last_status is RunStatus.SUCCESS
    assert job.last_execution_id == runs[1].execution_id


async def test_dependency_must_have_succeeded(
        make_engine: EngineFactory, queue: RecordingQueue, store: JobStore,
        telemetry: MemoryTelemetry) -> None:
    calls: list[str] = []
    upstream_fails = {"value": True}
    jobs = ZenJobs()

    @jobs.job("upstream", type="endpoint", max_retries=0)
    async def upstream(ctx: JobContext) -> None:
        if upstream_fails["value"]:
            raise RuntimeError("no data")

    @jobs.job("downstream", type="endpoint", dependencies=["upstream"])
    async def downstream(ctx: JobContext) -> None:
        calls.append(ctx.execution_id)

    engine = make_engine(jobs)
    await engine.sync()

    async def run(job: str) -> RunStatus:
        execution_id = await engine.schedule(job)
        await deliver(engine, queue.pop())
        run = await store.get_run(job, execution_id)
        assert run is not None
        return run.status

    assert await run("downstream") is RunStatus.SKIPPED_DEPENDENCY_FAILED  # never ran
    event = telemetry.assert_emitted("job.skipped", job_id="downstream")
    assert "never completed" in event.fields["reason"]
    assert await run("upstream") is RunStatus.DEAD
    assert await run("downstream") is RunStatus.SKIPPED_DEPENDENCY_FAILED
    upstream_fails["value"] = False
    assert await run("upstream") is RunStatus.SUCCESS
    assert await run("downstream") is RunStatus.SUCCESS
    assert len(calls) == 1
    downstream_job = await store.get_job("downstream")
    assert downstream_job is not None and downstream_job.last_status is RunStatus.SUCCESS


@pytest.mark.parametrize(("changes", "expected"), [
    ({"enabled": False, "start_at": T0 + timedelta(days=1)}, RunStatus.SKIPPED_DISABLED),
    ({"start_at": T0 + timedelta(days=1), "skip_dates": frozenset({T0.date()})},
     RunStatus.SKIPPED_NOT_STARTED),
    ({"end_at": date(2026, 1, 4), "skip_dates": frozenset({T0.date()})},
     RunStatus.SKIPPED_ENDED),
    ({"skip_dates": frozenset({T0.date()}), "dependencies": ("other",)},
     RunStatus.SKIPPED_DATE_EXCLUSION),
    ({"dependencies": ("other",)}, RunStatus.SKIPPED_DEPENDENCY_FAILED),
    ({}, None),
])
async def test_first_matching_rule_wins(changes: dict[str, object],
                                        expected: RunStatus | None) -> None:
    base = JobDescriptor(id="j", type="endpoint")  # type: ignore[arg-type]
    d = dataclasses.replace(base, **changes)  # type: ignore[arg-type]
    skip = await check_eligibility(d, MemoryJobStore(), T0, T0)
    assert (skip.status if skip else None) is expected


def test_config_round_trips_through_the_effective_descriptor() -> None:
    d = JobDescriptor(id="r", type="scheduled", cron="30 2 * * *",  # type: ignore[arg-type]
                      timezone="Europe/Berlin", skip_dates=frozenset({date(2026, 12, 25)}),
                      max_retries=4, priority=3)
    assert effective_descriptor(d, config_from_descriptor(d)) == d
