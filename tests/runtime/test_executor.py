"""ZenJobsExecutor end to end: development mode over the simulated queue and the webhook."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from zenjobs import BackoffPolicy, ConfigurationError, JobContext, ZenJobs, ZenJobsExecutor
from zenjobs.errors import RegistryValidationError
from zenjobs.stores.memory import MemoryJobStore
from zenjobs.stores.records import RunStatus
from zenjobs.testing import (
    MemoryTelemetry,
    VirtualClock,
    cloud_scheduler_request,
    cloud_tasks_request,
    envelope,
    run_for,
    run_until_idle,
)

from .conftest import T0, RecordingQueue

Dev = tuple[ZenJobsExecutor, VirtualClock, MemoryTelemetry, list[JobContext]]


class Flaky(Exception):
    pass


def service_jobs(calls: list[JobContext]) -> ZenJobs:
    jobs = ZenJobs()

    @jobs.job("welcome", type="endpoint")
    async def welcome(ctx: JobContext) -> None:
        calls.append(ctx)

    @jobs.job("flaky", type="endpoint", max_retries=2,
              backoff=BackoffPolicy(initial=timedelta(seconds=5), jitter=0.0))
    async def flaky(ctx: JobContext) -> None:
        calls.append(ctx)
        raise Flaky(f"attempt {ctx.attempt}")

    @jobs.job("cleanup", type="periodic", interval=timedelta(minutes=1))
    async def cleanup(ctx: JobContext) -> None:
        calls.append(ctx)

    @jobs.job("report", type="periodic", interval=timedelta(minutes=2), weight="medium")
    async def report(ctx: JobContext) -> None:
        calls.append(ctx)

    return jobs


@pytest.fixture
async def dev() -> AsyncIterator[Dev]:
    calls: list[JobContext] = []
    clock = VirtualClock(T0)
    telemetry = MemoryTelemetry()
    executor = ZenJobsExecutor.development(service_jobs(calls), store=":memory:", clock=clock,
                                           telemetry=telemetry)
    yield executor, clock, telemetry, calls
    await executor.shutdown()


async def test_scheduled_endpoint_job_runs_through_the_simulated_queue(dev: Dev) -> None:
    executor, clock, telemetry, calls = dev
    created = await executor.start()
    assert sorted(created) == ["cleanup", "flaky", "report", "welcome"]
    assert await executor.start() == []  # idempotent: documents exist
    execution_id = await executor.schedule("welcome", {"user_id": 7},
                                           delay=timedelta(seconds=30))
    assert await run_until_idle(executor) == 1
    assert clock.now() == T0 + timedelta(seconds=30)
    assert [(c.execution_id, c.payload) for c in calls] == [(execution_id, {"user_id": 7})]
    telemetry.assert_emitted("job.succeeded", job_id="welcome", execution_id=execution_id)


async def test_retries_then_dead_then_replay(dev: Dev) -> None:
    executor, clock, telemetry, calls = dev
    await executor.start()
    execution_id = await executor.schedule("flaky")
    await run_until_idle(executor)
    assert [c.attempt for c in calls] == [1, 2, 3]
    assert clock.now() == T0 + timedelta(seconds=5 + 10)  # backoff 5s then 10s
    run = await executor.store.get_run("flaky", execution_id)
    assert run is not None and run.status is RunStatus.DEAD
    telemetry.assert_emitted("job.failed", final=True, status="dead", attempt=3)
    await executor.replay(execution_id)
    await run_until_idle(executor)
    assert [c.attempt for c in calls][-1] == 4 and calls[-1].trigger == "replay"


async def test_master_tick_runs_light_inline_and_medium_as_tasks(dev: Dev) -> None:
    executor, _clock, telemetry, calls = dev
    await executor.start()
    await run_for(executor, timedelta(minutes=4))
    ran = [(c.job_id, c.scheduled_for - T0) for c in calls]
    minutes = [timedelta(minutes=m) for m in (1, 2, 3, 4)]
    assert [s for j, s in ran if j == "cleanup"] == minutes
    assert [s for j, s in ran if j == "report"] == minutes[1::2]
    assert len(telemetry.of("master.tick")) == 4


async def test_the_asgi_app_speaks_the_cloud_requests(dev: Dev) -> None:
    executor, _clock, _telemetry, calls = dev
    await executor.start()
    transport = httpx.ASGITransport(app=executor.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        path, headers, body = cloud_tasks_request(envelope("welcome", {"user_id": 1}))
        response = await client.post(path, headers=headers, content=body)
        assert response.status_code == 200 and response.json()["status"] == "success"
        again = await client.post(path, headers=headers, content=body)
        assert again.status_code == 200 and len(calls) == 1
        path, headers, body = cloud_scheduler_request(T0 + timedelta(minutes=1))
        tick = await client.post(path, headers=headers, content=body)
        assert tick.status_code == 200
        assert tick.json()["ran"] == 1 and tick.json()["now"] == "2026-01-05T09:01:00Z"
        health = await client.get("/_zenjobs/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"


async def test_start_refuses_a_registry_without_handlers() -> None:
    from zenjobs import JobDescriptor

    jobs = ZenJobs()
    jobs.register(JobDescriptor(id="orphan", type="endpoint"))  # type: ignore[arg-type]
    executor = ZenJobsExecutor.development(jobs, store=":memory:", queue=RecordingQueue())
    with pytest.raises(RegistryValidationError, match="orphan"):
        await executor.start()


async def test_sqlite_store_file_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "dev" / "jobs.sqlite3"
    calls: list[JobContext] = []
    clock = VirtualClock(T0)
    first = ZenJobsExecutor.development(service_jobs(calls), store=str(path), clock=clock,
                                        telemetry=MemoryTelemetry())
    await first.start()
    execution_id = await first.schedule("welcome", idempotency_key="k")
    await run_until_idle(first)
    await first.shutdown()
    second = ZenJobsExecutor.development(service_jobs(calls), store=str(path), clock=clock,
                                         telemetry=MemoryTelemetry())
    assert await second.start() == []
    run = await second.store.get_run("welcome", execution_id)
    assert run is not None and run.status is RunStatus.SUCCESS
    await second.shutdown()


def test_production_names_every_missing_setting() -> None:
    with pytest.raises(ConfigurationError) as info:
        ZenJobsExecutor.production(ZenJobs(), environ={"K_SERVICE": "newsletter"})
    message = str(info.value)
    for name in ("project", "location", "service_url", "invoker_service_account",
                 "ZENJOBS_PROJECT", "GOOGLE_CLOUD_PROJECT", "ZENJOBS_SERVICE_URL",
                 "ZENJOBS_INVOKER_SA", "ZENJOBS_LOCATION", "'newsletter'"):
        assert name in message


def test_production_reads_settings_from_arguments_then_environment() -> None:
    environ = {"GOOGLE_CLOUD_PROJECT": "p-env", "ZENJOBS_LOCATION": "europe-west1",
               "ZENJOBS_SERVICE_URL": "https://svc-abc.a.run.app/",
               "ZENJOBS_INVOKER_SA": "invoker@p.iam.gserviceaccount.com"}
    executor = ZenJobsExecutor.production(
        ZenJobs(), project="p-arg", environ=environ, store=MemoryJobStore(),
        queue=RecordingQueue())
    assert executor.settings == {
        "project": "p-arg", "location": "europe-west1",
        "service_url": "https://svc-abc.a.run.app",
        "invoker_service_account": "invoker@p.iam.gserviceaccount.com"}
    assert executor.mode == "production"


def test_importing_the_executor_imports_no_cloud_sdk() -> None:
    code = ("import sys, zenjobs.runtime.executor, zenjobs.testing\n"
            "bad = [m for m in sys.modules if m.startswith(('google.cloud', 'grpc'))]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)


async def eventually(condition: Callable[[], bool], tries: int = 2000) -> None:
    """Yield to the loop until ``condition`` holds (bounded by tries, not by time)."""
    for _ in range(tries):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never became true")


async def test_serve_ticks_every_minute_and_delivers_tasks(dev: Dev) -> None:
    executor, clock, telemetry, calls = dev
    await executor.start()
    stop = asyncio.Event()
    server = asyncio.ensure_future(executor.serve(stop))
    await executor.schedule("welcome", {"user_id": 3})
    await eventually(lambda: any(c.job_id == "welcome" for c in calls))
    for minute in (1, 2):
        await eventually(lambda: clock.sleepers >= 1)
        clock.set(T0 + timedelta(minutes=minute))
        await eventually(lambda m=minute: len(telemetry.of("master.tick")) == m)  # type: ignore[misc]
    await eventually(lambda: any(c.job_id == "report" for c in calls))
    stop.set()
    await server
    cleanup = [c.scheduled_for for c in calls if c.job_id == "cleanup"]
    assert cleanup == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]


async def test_heavy_job_runs_in_another_process_through_the_queue() -> None:
    from . import heavy_jobs

    jobs = ZenJobs()
    jobs.register_handler("crunch", heavy_jobs.crunch)
    jobs.register_handler("explode", heavy_jobs.explode)
    from zenjobs import JobDescriptor

    jobs.register(JobDescriptor(id="crunch", type="endpoint", weight="heavy"))  # type: ignore[arg-type]
    jobs.register(JobDescriptor(id="explode", type="endpoint", weight="heavy",  # type: ignore[arg-type]
                                max_retries=0))
    telemetry = MemoryTelemetry()
    executor = ZenJobsExecutor.development(jobs, store=":memory:", clock=VirtualClock(T0),
                                           telemetry=telemetry, loop_lag_threshold=None)
    await executor.start()
    ok = await executor.schedule("crunch", {"n": 1})
    bad = await executor.schedule("explode")
    await run_until_idle(executor)
    assert executor.queue.scheduled() == []  # type: ignore[attr-defined]
    ok_run = await executor.store.get_run("crunch", ok)
    bad_run = await executor.store.get_run("explode", bad)
    assert ok_run is not None and ok_run.status is RunStatus.SUCCESS
    assert bad_run is not None and bad_run.status is RunStatus.DEAD
    assert bad_run.error_message is not None and bad in bad_run.error_message
    await executor.shutdown()


async def test_production_wires_gcp_backends_and_requires_oidc() -> None:
    calls: list[JobContext] = []
    environ = {"GOOGLE_CLOUD_PROJECT": "p", "ZENJOBS_LOCATION": "europe-west1",
               "ZENJOBS_SERVICE_URL": "https://svc.a.run.app",
               "ZENJOBS_INVOKER_SA": "invoker@p.iam.gserviceaccount.com"}
    executor = ZenJobsExecutor.production(service_jobs(calls), environ=environ,
                                          loop_lag_threshold=None)
    assert type(executor.store).__name__ == "FirestoreJobStore"
    assert type(executor.queue).__name__ == "CloudTasksQueue"
    transport = httpx.ASGITransport(app=executor.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://svc.a.run.app") as client:
        path, headers, body = cloud_tasks_request(envelope("welcome"))
        response = await client.post(path, headers=headers, content=body)
        assert response.status_code == 401 and calls == []
        path, headers, body = cloud_scheduler_request(T0)
        assert (await client.post(path, headers=headers, content=body)).status_code == 401



async def test_lifespan_starts_then_shuts_down_the_executor() -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from zenjobs import JobType, ZenJobs, ZenJobsExecutor
    from zenjobs.stores.memory import MemoryJobStore

    class ClosingStore(MemoryJobStore):
        closed = False

        def close(self) -> None:
            self.closed = True

    jobs = ZenJobs()

    @jobs.job("ping", type=JobType.ENDPOINT)
    async def ping(ctx: JobContext) -> None: ...

    store = ClosingStore()
    executor = ZenJobsExecutor.development(jobs, store=store, loop_lag_threshold=None)
    app = Starlette(routes=[Mount("/", app=executor.app)], lifespan=executor.lifespan)
    async with executor.lifespan(app):
        # start() synced the registry into the store.
        assert [r.job_id for r in await store.list_jobs()] == ["ping"]
        assert not store.closed
    assert store.closed


def test_a_production_executor_without_a_verifier_is_refused() -> None:
    from zenjobs import ConfigurationError, ZenJobs, ZenJobsExecutor
    from zenjobs.clocks.system import SystemClock
    from zenjobs.stores.memory import MemoryJobStore

    with pytest.raises(ConfigurationError, match="OIDC verifier"):
        ZenJobsExecutor(ZenJobs(), mode="production", store=MemoryJobStore(), queue=None,
                        clock=SystemClock(), telemetry=None,
                        service_url="https://svc-abc.a.run.app")


@pytest.mark.parametrize("url, accepted", [
    ("https://svc-abc.a.run.app", True),
    ("http://127.0.0.1:8123", True),
    ("http://svc-abc.a.run.app", False),
    ("ftp://svc", False),
])
def test_production_service_url_must_be_https_unless_loopback(url: str, accepted: bool) -> None:
    from zenjobs import ConfigurationError
    from zenjobs.runtime.modes import resolve_production_settings

    given = {"project": "p", "location": "europe-west1", "service_url": url,
             "invoker_service_account": "inv@p.iam.gserviceaccount.com"}
    if accepted:
        assert resolve_production_settings(given, {})["service_url"] == url
    else:
        with pytest.raises(ConfigurationError, match="https://"):
            resolve_production_settings(given, {})
