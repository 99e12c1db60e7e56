"""The time zone rule (docs/scheduling.md, "Time zones") holds wherever a zone comes in.

Registration is covered by tests/unit/test_validation.py. Here: a zone stored in
a job document (hand-edited, or written before the rule) and ``zenjobs set
--timezone`` (``ops.edits.set_schedule``) go through the same ``timezone_error``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from zenjobs import DefinitionError, JobContext, ZenJobs
from zenjobs.ops.edits import set_schedule
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.records import JobConfig
from zenjobs.testing import MemoryTelemetry, VirtualClock

from .conftest import T0, EngineFactory


def hourly_report(calls: list[JobContext]) -> ZenJobs:
    jobs = ZenJobs()

    @jobs.job("report", type="scheduled", cron="0 * * * *", timezone="America/New_York")
    async def report(ctx: JobContext) -> None:
        calls.append(ctx)

    return jobs


async def test_a_stored_legacy_zone_is_reported_naming_the_place_and_not_run(
        make_engine: EngineFactory, store: JobStore, clock: VirtualClock,
        telemetry: MemoryTelemetry) -> None:
    calls: list[JobContext] = []
    engine = make_engine(hourly_report(calls))
    await engine.sync()
    await store.update_job("report", config=JobConfig(cron="0 * * * *", timezone="EST5EDT"),
                           now=clock.now())
    summary = await engine.tick(T0 + timedelta(hours=1))
    assert summary["skipped"] == 1 and calls == []
    reason = telemetry.assert_emitted("master.job_skipped", job_id="report").fields["reason"]
    assert "field 'timezone'" in reason and "'EST5EDT' is not a place" in reason
    assert reason.endswith("use 'America/New_York'")


@pytest.mark.parametrize(("zone", "use"), [("US/Eastern", "America/New_York"),
                                           ("EST", "America/New_York"),
                                           ("Etc/GMT+5", "UTC")])
async def test_zenjobs_set_refuses_a_zone_that_is_no_place(
        make_engine: EngineFactory, store: JobStore, clock: VirtualClock,
        zone: str, use: str) -> None:
    jobs = hourly_report([])
    await make_engine(jobs).sync()
    before = await store.get_job("report")
    with pytest.raises(DefinitionError) as refused:
        await set_schedule(jobs, store, "report", clock.now(), timezone=zone)
    assert (refused.value.job_id, refused.value.field) == ("report", "timezone")
    assert f"{zone!r}" in str(refused.value) and f"{use!r}" in str(refused.value)
    assert await store.get_job("report") == before  # nothing written
    changed = await set_schedule(jobs, store, "report", clock.now(), timezone=use)
    assert changed.after.endswith(f"in {use}")
