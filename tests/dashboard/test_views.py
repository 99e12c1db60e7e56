"""Dashboard pages over every store (memory, SQLite, Google's Firestore emulator).

Each test builds a development executor on the store with the dashboard on,
drives runs with the testing kit's virtual clock and simulated queue, and reads
the pages over the real ASGI app (or the view functions for the data itself).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.contract.conftest import store as store  # every test over every backend
from zenjobs import JobContext, JobType, ZenJobs, ZenJobsExecutor, ops
from zenjobs.dashboard import Dashboard, views
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.records import JobRecord, RunStatus
from zenjobs.testing import MemoryTelemetry, VirtualClock, run_for, run_until_idle

START = datetime(2026, 3, 27, 0, 0, tzinfo=timezone.utc)
UI = "/_zenjobs/ui"


class ProviderDown(Exception):
    pass


def registry(extra_jobs: int = 0) -> ZenJobs:
    jobs = ZenJobs()

    @jobs.job("nightly_report", type=JobType.SCHEDULED, cron="30 2 * * *",
              timezone="Europe/Berlin", description="Yesterday's report <b>bold</b>")
    async def nightly(ctx: JobContext) -> None:
        return None

    @jobs.job("always_fails", type=JobType.PERIODIC, interval=timedelta(hours=1),
              max_retries=1)
    async def always_fails(ctx: JobContext) -> None:
        raise ProviderDown(f"provider down (attempt {ctx.attempt})")

    @jobs.job("welcome", type=JobType.ENDPOINT)
    async def welcome(ctx: JobContext) -> None:
        return None

    async def noop(ctx: JobContext) -> None:
        return None

    for i in range(extra_jobs):
        jobs.job(f"bulk_{i:05d}", type=JobType.ENDPOINT)(noop)
    return jobs


class CountingStore:
    """Passes every call through to ``inner`` and notes the job ids each read asked for."""

    def __init__(self, inner: JobStore) -> None:
        self.inner = inner
        self.get_jobs_ids: list[int] = []
        self.count_ids: list[int] = []
        self.list_jobs_calls = 0

    async def get_jobs(self, job_ids: Sequence[str]) -> dict[str, JobRecord]:
        self.get_jobs_ids.append(len(job_ids))
        return await self.inner.get_jobs(job_ids)

    async def run_counts(self, job_ids: Sequence[str], since: datetime) -> Any:
        self.count_ids.append(len(job_ids))
        return await self.inner.run_counts(job_ids, since)

    async def list_jobs(self) -> list[JobRecord]:
        self.list_jobs_calls += 1
        return await self.inner.list_jobs()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Service:
    def __init__(self, jobs: ZenJobs, store: JobStore) -> None:
        self.clock = VirtualClock(START)
        self.telemetry = MemoryTelemetry()
        self.store = store
        self.executor = ZenJobsExecutor.development(
            jobs, store=store, clock=self.clock, telemetry=self.telemetry,
            dashboard=Dashboard(), loop_lag_threshold=None)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.executor.app),
                                      base_url="http://127.0.0.1:8080")

    async def page(self, path: str) -> str:
        response = await self.http.get(UI + path)
        assert response.status_code == 200, response.text
        return response.text

    async def post(self, path: str, **form: str) -> httpx.Response:
        text = await self.page("/jobs/welcome")  # a page with forms carries the token
        token = re.search(r'name="csrf" value="([^"]+)"', text)
        assert token is not None
        return await self.http.post(UI + path, data={"csrf": token.group(1), **form})


def _site(executor: ZenJobsExecutor) -> views.Site:
    assert isinstance(executor.dashboard, Dashboard)
    return executor.dashboard.site(executor)


@pytest.fixture
async def service(store: JobStore) -> AsyncIterator[Service]:
    svc = Service(registry(), store)
    await svc.executor.start()
    try:
        yield svc
    finally:
        await svc.http.aclose()
        await svc.executor.shutdown()


async def test_jobs_list_shows_every_job_with_next_fire_last_run_and_counts(
        service: Service) -> None:
    await run_for(service.executor, timedelta(hours=3), tick_every=timedelta(minutes=1))
    html = await service.page("/")
    for job in ("nightly_report", "always_fails", "welcome"):
        assert f'data-job="{job}"' in html
    row = html[html.index('data-job="always_fails"'):]
    row = row[:row.index("</tr>")]
    assert 'class="status s-dead"' in row or 'class="status s-failure"' in row
    assert re.search(r"✗ [1-9]", row), row  # failed runs in the last 24 h
    nightly = html[html.index('data-job="nightly_report"'):]
    nightly = nightly[:nightly.index("</tr>")]
    # Next fire in the job's zone, in UTC and relative.
    assert "02:30 CET" in nightly and "2026-03-28T01:30:00Z" in nightly and "in 22 h" in nightly


async def test_jobs_list_filters_sorts_and_pages(store: JobStore) -> None:
    svc = Service(registry(extra_jobs=120), store)
    await svc.executor.start()
    try:
        await ops.disable(svc.executor.jobs, store, "bulk_00007", START, actor="tester")
        text = await svc.page("/?type=scheduled")
        assert re.findall(r'data-job="([^"]+)"', text) == ["nightly_report"]
        text = await svc.page("/?q=bulk_0001")
        assert len(re.findall(r'data-job="bulk_0001\d"', text)) == 10
        text = await svc.page("/?status=disabled")
        assert re.findall(r'data-job="([^"]+)"', text) == ["bulk_00007"]
        text = await svc.page("/?sort=id&order=desc")
        assert re.findall(r'data-job="([^"]+)"', text)[0] == "welcome"
        text = await svc.page("/?page=3")
        ids = re.findall(r'data-job="([^"]+)"', text)
        assert len(ids) == 123 - 2 * views.PAGE_SIZE
        assert "page 3 of 3" in text
    finally:
        await svc.http.aclose()
        await svc.executor.shutdown()


async def test_the_default_jobs_page_reads_only_the_jobs_it_shows(store: JobStore) -> None:
    counting = CountingStore(store)
    jobs = registry(extra_jobs=300)
    executor = ZenJobsExecutor.development(jobs, store=store, clock=VirtualClock(START),
                                           loop_lag_threshold=None, dashboard=Dashboard())
    await executor.start()  # documents for every job
    site = _site(executor)
    site.store = counting  # type: ignore[assignment]
    page = await views.jobs_page(site, views.JobsQuery(page=2), START)
    assert [row.id for row in page.rows][:1] == ["bulk_00049"]
    assert counting.get_jobs_ids == [views.PAGE_SIZE]
    assert counting.count_ids == [views.PAGE_SIZE]
    assert counting.list_jobs_calls == 0  # never a scan of every job document
    await executor.shutdown()


async def test_job_page_shows_provenance_dst_marks_and_paginated_runs(service: Service) -> None:
    site = _site(service.executor)
    await ops.set_schedule(site.registry, service.store, "nightly_report", START,
                           timezone="Europe/Berlin", cron="30 2 * * *", actor="nobody")
    change = await ops.disable(site.registry, service.store, "nightly_report", START,
                               actor="alice@example.com")
    assert change.edit is not None
    page = await views.job_page(site, "nightly_report", START)
    enabled = next(line for line in page.lines if line.field == "enabled")
    assert enabled.source == "ops edit" and enabled.edit is not None
    assert enabled.edit.actor == "alice@example.com" and enabled.declared is True
    assert next(line for line in page.lines if line.field == "cron").source == "registry"
    # 2026-03-29 02:30 does not exist in Berlin: that fire is marked.
    marked = [f for f in page.fires if f.dst]
    assert [f.instant for f in marked] == [datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc)]
    html = await service.page("/jobs/nightly_report")
    assert "ops edit by alice@example.com (disable)" in html
    assert 'class="dst"' in html and "DST gap in Europe/Berlin" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html  # descriptions are escaped

    for i in range(views.RUNS_PAGE_SIZE + 5):
        await service.executor.trigger("welcome", {"n": i})
        service.clock.advance(1)
    await run_until_idle(service.executor)
    first = await views.job_page(site, "welcome", service.clock.now())
    assert len(first.runs) == views.RUNS_PAGE_SIZE and first.next_cursor is not None
    second = await views.job_page(site, "welcome", service.clock.now(), first.next_cursor)
    assert len(second.runs) == 5 and second.next_cursor is None
    seen = [r.execution_id for r in first.runs + second.runs]
    assert len(set(seen)) == views.RUNS_PAGE_SIZE + 5
    assert [r.payload["n"] for r in first.runs + second.runs] == list(
        range(views.RUNS_PAGE_SIZE + 4, -1, -1))
    html = await service.page("/jobs/welcome")
    older = re.search(r'href="([^"]+before=[^"]+)"', html)
    assert older is not None
    html = await service.page(older.group(1).replace(UI, "").replace("&amp;", "&"))
    assert len(re.findall(r'data-execution="', html)) == 5


async def test_run_page_shows_every_attempt_with_traceback_and_replays_dead(
        service: Service) -> None:
    execution_id = await service.executor.trigger("always_fails")
    await run_until_idle(service.executor)
    run = await service.store.get_run("always_fails", execution_id)
    assert run is not None and run.status is RunStatus.DEAD and run.attempt == 2
    html = await service.page(f"/jobs/always_fails/runs/{execution_id}")
    assert "ProviderDown: provider down (attempt 2)" in html
    assert html.count("<summary>traceback</summary>") == 2
    assert "raise ProviderDown" in html
    assert 'id="replay"' in html

    dead = await service.page("/dead")
    assert f'value="always_fails/{execution_id}"' in dead
    response = await service.post("/dead/replay", execution=f"always_fails/{execution_id}")
    assert response.status_code == 200 and "replaying" in response.text
    await run_until_idle(service.executor)
    run = await service.store.get_run("always_fails", execution_id)
    assert run is not None and run.attempt == 3 and run.status is RunStatus.DEAD
    service.telemetry.assert_emitted("ops.replayed", execution_id=execution_id)


async def test_actions_go_through_ops_and_show_in_status(service: Service) -> None:
    response = await service.post("/jobs/nightly_report/disable")
    assert response.status_code == 303
    [status] = await ops.status(service.executor.jobs, service.store, START, "nightly_report")
    assert status.config.enabled is False
    assert status.edits and status.edits[0].command == "disable"
    response = await service.post("/jobs/nightly_report/schedule", cron="61 * * * *",
                                  timezone="Europe/Berlin")
    assert response.status_code == 400
    assert "minute field" in response.text and 'data-field="schedule"' in response.text
    response = await service.post("/jobs/nightly_report/schedule", cron="15 4 * * *",
                                  timezone="Europe/Berlin")
    assert response.status_code == 303
    record = await service.store.get_job("nightly_report")
    assert record is not None and record.config.cron == "15 4 * * *"
    response = await service.post("/jobs/welcome/trigger", payload='{"user_id": "u1"}')
    assert response.status_code == 303
    await run_until_idle(service.executor)
    runs = await service.store.list_runs("welcome", 5)
    assert [(r.status, r.payload) for r in runs] == [(RunStatus.SUCCESS, {"user_id": "u1"})]


async def test_schedule_preview_answers_fires_or_the_inline_error(service: Service) -> None:
    html = await service.page("/jobs/nightly_report/preview?cron=0+3+*+*+*&timezone=UTC")
    assert html.count("<tr") == 1 + views.NEXT_FIRES
    html = await service.page("/jobs/nightly_report/preview?cron=0+3+*+*&timezone=UTC")
    assert 'id="schedule-error"' in html and "5 fields" in html
    html = await service.page("/jobs/nightly_report/preview?cron=0+3+*+*+*&timezone=Mars/Base")
    assert 'id="schedule-error"' in html and "timezone" in html


async def test_ticks_page_lists_the_last_ticks_and_every_page_names_the_backends(
        service: Service) -> None:
    await run_for(service.executor, timedelta(minutes=3), tick_every=timedelta(minutes=1))
    html = await service.page("/ticks")
    assert html.count("<td>") >= 3 * 8
    assert "2026-03-27T00:03:00Z" in html
    for path in ("/", "/ticks", "/dead", "/jobs/welcome"):
        text = await service.page(path)
        assert "<b>store</b>" in text and "<b>queue</b>" in text
