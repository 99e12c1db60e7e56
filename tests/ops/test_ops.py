"""zenjobs.ops over the memory and SQLite stores: sync, enable/disable, set, status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.ops.ops_registry import jobs
from zenjobs import ops
from zenjobs.errors import ConfigurationError, DefinitionError, UnknownJobError
from zenjobs.runtime.effective import config_from_descriptor
from zenjobs.schedule import next_fire
from zenjobs.stores.memory import MemoryJobStore
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.records import JobConfig, RunRecord, RunResult, RunStatus, Trigger
from zenjobs.stores.sqlite.store import SqliteJobStore

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 10, 17, tzinfo=UTC)
ALL = ("boom", "digest", "flaky", "hourly", "nightly", "welcome")


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[JobStore]:
    instance: JobStore
    if request.param == "memory":
        instance = MemoryJobStore()
    else:
        instance = SqliteJobStore(tmp_path / "ops.sqlite3")
    yield instance
    close = getattr(instance, "close", None)
    if close is not None:
        close()


async def _config(store: JobStore, job_id: str) -> JobConfig:
    record = await store.get_job(job_id)
    assert record is not None
    return record.config


# -- sync --------------------------------------------------------------------------------------


async def test_sync_creates_every_document_with_registry_config_and_first_slot(
        store: JobStore) -> None:
    report = await ops.sync(jobs, store, NOW)

    assert report.created == ALL
    assert report.unchanged == () and report.orphans == () and report.reset == ()
    hourly = await store.get_job("hourly")
    assert hourly is not None
    assert hourly.config == config_from_descriptor(jobs.get("hourly"))
    assert hourly.next_run_at == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    nightly = await store.get_job("nightly")
    assert nightly is not None
    assert nightly.next_run_at == next_fire(jobs.get("nightly"), NOW)
    welcome = await store.get_job("welcome")
    assert welcome is not None and welcome.next_run_at is None


async def test_sync_again_changes_nothing(store: JobStore) -> None:
    await ops.sync(jobs, store, NOW)
    before = await store.list_jobs()

    report = await ops.sync(jobs, store, NOW + timedelta(hours=5))

    assert report.created == () and not report.changed
    assert report.unchanged == ALL
    assert await store.list_jobs() == before


async def test_sync_never_overwrites_a_field_edited_at_runtime(store: JobStore) -> None:
    await ops.sync(jobs, store, NOW)
    edited = replace(await _config(store, "nightly"), cron="0 4 * * *", max_retries=9)
    await store.update_job("nightly", config=edited, now=NOW)

    report = await ops.sync(jobs, store, NOW + timedelta(minutes=1))

    assert await _config(store, "nightly") == edited
    assert report.edited == (("nightly", ("cron", "max_retries")),)
    assert "nightly" in report.unchanged


async def test_sync_reset_restores_the_registry_config_and_next_slot(store: JobStore) -> None:
    await ops.sync(jobs, store, NOW)
    stale = replace(await _config(store, "hourly"), enabled=False, interval_seconds=7200)
    await store.update_job("hourly", config=stale, next_run_at=NOW - timedelta(days=3),
                           misconfigured="field 'interval_seconds': hand edit", now=NOW)
    later = NOW + timedelta(days=1, minutes=5)

    report = await ops.sync(jobs, store, later, reset=["hourly"])

    assert report.reset == ("hourly",) and report.changed
    record = await store.get_job("hourly")
    assert record is not None
    assert record.config == config_from_descriptor(jobs.get("hourly"))
    assert record.next_run_at == datetime(2026, 3, 3, 11, 0, tzinfo=UTC)
    assert record.misconfigured is None


async def test_sync_reset_of_an_unknown_job_writes_nothing(store: JobStore) -> None:
    with pytest.raises(UnknownJobError, match="'ghost'"):
        await ops.sync(jobs, store, NOW, reset=["ghost"])
    assert await store.list_jobs() == []


async def test_sync_reports_documents_of_jobs_no_longer_registered_and_keeps_them(
        store: JobStore) -> None:
    await store.ensure_job("retired", JobConfig(interval_seconds=60), NOW, NOW)

    report = await ops.sync(jobs, store, NOW)

    assert report.orphans == ("retired",)
    assert await store.get_job("retired") is not None


# -- enable / disable ------------------------------------------------------------------------


async def test_disable_then_disable_again(store: JobStore) -> None:
    await ops.sync(jobs, store, NOW)

    first = await ops.disable(jobs, store, "nightly", NOW)
    second = await ops.disable(jobs, store, "nightly", NOW)

    assert (first.before, first.after, first.changed) == ("enabled", "disabled", True)
    assert (second.before, second.after, second.changed) == ("disabled", "disabled", False)
    assert (await _config(store, "nightly")).enabled is False


async def test_enable_counts_the_next_slot_from_now_without_catching_up(store: JobStore) -> None:
    await ops.sync(jobs, store, NOW)
    await ops.disable(jobs, store, "hourly", NOW)
    later = NOW + timedelta(days=2, minutes=30)

    change = await ops.enable(jobs, store, "hourly", later)

    assert (change.before, change.after) == ("disabled", "enabled")
    record = await store.get_job("hourly")
    assert record is not None and record.config.enabled
    assert record.next_run_at == change.next_run_at == datetime(2026, 3, 4, 11, 0, tzinfo=UTC)


async def test_enable_creates_a_missing_document_from_the_registry(store: JobStore) -> None:
    change = await ops.enable(jobs, store, "hourly", NOW)

    assert change.created and not change.changed
    assert await store.get_job("hourly") is not None


async def test_enable_an_unknown_job(store: JobStore) -> None:
    with pytest.raises(UnknownJobError, match="unknown job 'ghost'"):
        await ops.enable(jobs, store, "ghost", NOW)


async def test_edits_refuse_a_misconfigured_document_and_write_nothing(store: JobStore) -> None:
    await ops.sync(jobs, store, NOW)
    await store.update_job("nightly", misconfigured="field 'timezone': expected a string",
                           now=NOW)
    before = await store.get_job("nightly")

    for edit in (ops.enable(jobs, store, "nightly", NOW),
                 ops.disable(jobs, store, "nightly", NOW),
                 ops.set_schedule(jobs, store, "nightly", NOW, cron="0 5 * * *")):
        with pytest.raises(ConfigurationError, match="sync --reset nightly"):
            await edit

    assert await store.get_job("nightly") == before


# -- set ---------------------------------------------------------------------------------------


async def test_set_cron_and_timezone_recomputes_next_run(store: JobStore) -> None:
    await ops.sync(jobs, store, NOW)

    change = await ops.set_schedule(jobs, store, "nightly", NOW, cron="0 12 * * *",
                                    timezone="America/New_York")

    assert change.before == "cron '30 2 * * *' in Europe/Berlin"
    assert change.after == "cron '0 12 * * *' in America/New_York"
    record = await store.get_job("nightly")
    assert record is not None
    assert (record.config.cron, record.config.timezone) == ("0 12 * * *", "America/New_York")
    assert record.next_run_at == datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # noon EST


async def test_set_interval_moves_to_the_new_grid(store: JobStore) -> None:
    await ops.sync(jobs, store, NOW)

    change = await ops.set_schedule(jobs, store, "hourly", NOW, interval=timedelta(minutes=15))

    assert (change.before, change.after) == ("every 1h in UTC", "every 15m in UTC")
    record = await store.get_job("hourly")
    assert record is not None and record.config.interval_seconds == 900
    assert record.next_run_at == datetime(2026, 3, 2, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(("job", "kwargs", "field"), [
    ("nightly", {"cron": "0 25 * * *"}, "cron"),
    ("nightly", {"cron": "every day"}, "cron"),
    ("nightly", {"timezone": "Mars/Olympus"}, "timezone"),
    ("nightly", {"interval": timedelta(hours=1)}, "interval"),
    ("hourly", {"interval": timedelta(seconds=90)}, "interval"),
    ("hourly", {"cron": "0 * * * *"}, "cron"),
    ("welcome", {"cron": "0 * * * *"}, "type"),
    ("hourly", {}, "schedule"),
])
async def test_set_is_validated_before_writing(store: JobStore, job: str,
                                               kwargs: dict[str, object], field: str) -> None:
    await ops.sync(jobs, store, NOW)
    before = await store.get_job(job)

    with pytest.raises(DefinitionError) as caught:
        await ops.set_schedule(jobs, store, job, NOW + timedelta(hours=1),
                               **kwargs)  # type: ignore[arg-type]

    assert (caught.value.job_id, caught.value.field) == (job, field)
    assert await store.get_job(job) == before


async def test_set_to_the_same_schedule_is_no_change(store: JobStore) -> None:
    await ops.sync(jobs, store, NOW)

    change = await ops.set_schedule(jobs, store, "nightly", NOW, cron="30 2 * * *")

    assert not change.changed


# -- status ------------------------------------------------------------------------------------


async def test_status_shows_config_next_run_and_latest_runs(store: JobStore) -> None:
    await ops.sync(jobs, store, NOW)
    for minute, execution_id in ((1, "boom-a"), (2, "boom-b")):
        at = NOW + timedelta(minutes=minute)
        await store.create_run(RunRecord(job_id="boom", execution_id=execution_id,
                                         trigger=Trigger.MANUAL, scheduled_for=at,
                                         created_at=at))
        await store.acquire_lease("boom", execution_id, 1, "me", at, at + timedelta(minutes=1))
        await store.finish_attempt("boom", execution_id, "me", RunResult(
            status=RunStatus.DEAD, finished_at=at + timedelta(seconds=2), duration_ms=2000,
            error_type="ValueError", error_message="boom"))

    [boom] = await ops.status(jobs, store, NOW + timedelta(minutes=5), job="boom", runs=5)

    assert boom.registered and boom.synced and boom.misconfigured is None
    assert boom.schedule == "on demand" and boom.type == "endpoint"
    assert boom.last_status == "dead"
    assert [run.execution_id for run in boom.runs] == ["boom-b", "boom-a"]
    assert boom.runs[0].status == "dead" and boom.runs[0].duration_ms == 2000
    assert boom.runs[0].error == "ValueError: boom"
    document = boom.to_dict()
    assert document["runs"][0]["scheduled_for"] == "2026-03-02T10:19:00Z"
    assert document["config"]["max_retries"] == 0


async def test_status_lists_registered_jobs_then_orphans(store: JobStore) -> None:
    await store.ensure_job("retired", JobConfig(), None, NOW)
    await store.ensure_job("hourly", config_from_descriptor(jobs.get("hourly")),
                           NOW - timedelta(minutes=17), NOW)

    statuses = await ops.status(jobs, store, NOW)

    assert [s.job_id for s in statuses] == [d.id for d in jobs] + ["retired"]
    by_id = {s.job_id: s for s in statuses}
    assert by_id["retired"].registered is False and by_id["retired"].type is None
    assert by_id["nightly"].synced is False
    assert by_id["hourly"].due is True


async def test_status_of_an_unknown_job(store: JobStore) -> None:
    with pytest.raises(UnknownJobError):
        await ops.status(jobs, store, NOW, job="ghost")


async def test_status_shows_why_a_hand_edited_document_is_misconfigured(
        store: JobStore) -> None:
    await ops.sync(jobs, store, NOW)
    await store.update_job("nightly", config=replace(await _config(store, "nightly"),
                                                     cron="61 * * * *"), now=NOW)
    await store.update_job("hourly", config=replace(await _config(store, "hourly"),
                                                    timezone="Nowhere/City"), now=NOW)
    await store.update_job("welcome", config=replace(await _config(store, "welcome"),
                                                     dependencies=("ghost",)), now=NOW)
    await store.update_job("boom", misconfigured="field 'enabled': expected a boolean, got 'yes'",
                           now=NOW)

    statuses = {s.job_id: s for s in await ops.status(jobs, store, NOW)}

    assert "job 'nightly', field 'cron'" in str(statuses["nightly"].misconfigured)
    assert "job 'hourly', field 'timezone'" in str(statuses["hourly"].misconfigured)
    assert "Nowhere/City" in str(statuses["hourly"].misconfigured)
    assert statuses["welcome"].misconfigured == (
        "job 'welcome', field 'dependencies': unknown job 'ghost'")
    assert statuses["boom"].misconfigured == "field 'enabled': expected a boolean, got 'yes'"
    # digest depends on the broken nightly: reported once, on nightly, not again here.
    assert statuses["digest"].misconfigured is None
    [single] = await ops.status(jobs, store, NOW, job="welcome")
    assert single.misconfigured == statuses["welcome"].misconfigured


async def test_status_reports_a_dependency_cycle_made_at_runtime(store: JobStore) -> None:
    await ops.sync(jobs, store, NOW)
    await store.update_job("nightly", config=replace(await _config(store, "nightly"),
                                                     dependencies=("digest",)), now=NOW)

    statuses = {s.job_id: s for s in await ops.status(jobs, store, NOW)}

    reasons = [s.misconfigured for s in statuses.values() if s.misconfigured]
    assert len(reasons) == 1 and "dependency cycle" in str(reasons[0])


async def test_status_of_one_orphan_document(store: JobStore) -> None:
    await store.ensure_job("retired", JobConfig(interval_seconds=3600), NOW, NOW)

    [retired] = await ops.status(jobs, store, NOW + timedelta(minutes=1), job="retired")

    assert (retired.job_id, retired.registered, retired.synced) == ("retired", False, True)
    assert retired.schedule == "every 1h in UTC" and retired.misconfigured is None
