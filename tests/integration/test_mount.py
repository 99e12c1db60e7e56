"""zenjobs.integrations.mount: the runtime in a FastAPI or Starlette service, without shadowing.

Each service runs under a real uvicorn (lifespan on) in the test's event loop,
and every request goes over real HTTP: the service's own routes answer (not a
zenjobs 404), the executor's answer under ``/_zenjobs`` (health, a development
delivery pushed over HTTP by the simulated queue, the dashboard), and both
lifespans run in the documented order: executor started, service startup,
service shutdown, executor shut down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi import Request as FastAPIRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route

from zenjobs import ConfigurationError, JobContext, JobType, ZenJobs, ZenJobsExecutor
from zenjobs.dashboard import Dashboard
from zenjobs.integrations import mount
from zenjobs.queues.pushers import HttpPusher
from zenjobs.queues.simulated import SimulatedCloudTasks
from zenjobs.stores.records import RunStatus
from zenjobs.testing import MemoryTelemetry, VirtualClock, run_until_idle


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """``app`` under uvicorn on 127.0.0.1 (lifespan on) in this event loop; yields its URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_level="warning",
                            access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise AssertionError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


class ServicePusher:
    """The simulated queue's pusher, posting over HTTP to the service under test.

    Tasks carry the executor's service URL; the path is kept and sent to the
    live server, so each delivery goes through the service's own router.
    """

    def __init__(self) -> None:
        self.base = ""
        self.http = HttpPusher(timeout=30)

    async def push(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        assert self.base, "the service is not serving yet"
        return await self.http.push(self.base + urlsplit(url).path, body, headers)


class Service:
    """One executor, its registry's handler calls, and what happened in which order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.order: list[str] = []
        self.greeted: list[Any] = []
        self.jobs = ZenJobs()

        @self.jobs.job("greet", type=JobType.ENDPOINT)
        async def greet(ctx: JobContext) -> None:
            self.greeted.append(ctx.payload)

        self.clock = VirtualClock()
        self.telemetry = MemoryTelemetry()
        self.pusher = ServicePusher()
        self.executor = ZenJobsExecutor.from_env(
            self.jobs, {}, store=":memory:", clock=self.clock, telemetry=self.telemetry,
            queue=SimulatedCloudTasks(self.clock, self.pusher), dashboard=Dashboard(),
            loop_lag_threshold=None)
        start, shutdown = self.executor.start, self.executor.shutdown

        async def recorded_start() -> list[str]:
            created = await start()
            self.order.append("executor started")
            return created

        async def recorded_shutdown() -> None:
            self.order.append("executor shutdown")
            await shutdown()

        monkeypatch.setattr(self.executor, "start", recorded_start)
        monkeypatch.setattr(self.executor, "shutdown", recorded_shutdown)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[dict[str, Any]]:
        """The service's own lifespan: schedules a job at startup, yields state."""
        self.order.append("service startup")
        execution_id = await self.executor.schedule("greet", {"who": "startup"},
                                                    idempotency_key="at-startup")
        yield {"greeting": "hello", "startup_execution": execution_id}
        self.order.append("service shutdown")

    def fastapi(self) -> FastAPI:
        app = FastAPI(lifespan=self.lifespan)
        mount(app, self.executor)  # routes declared after it are the service's

        @app.get("/hello")
        async def hello(request: FastAPIRequest) -> dict[str, str]:
            return {"greeting": request.state.greeting}

        @app.get("/startup-execution")
        async def startup_execution(request: FastAPIRequest) -> dict[str, str]:
            return {"execution_id": request.state.startup_execution}

        return app

    def starlette(self) -> Starlette:
        async def hello(request: Request) -> JSONResponse:
            return JSONResponse({"greeting": request.state.greeting})

        async def startup_execution(request: Request) -> JSONResponse:
            return JSONResponse({"execution_id": request.state.startup_execution})

        app = Starlette(routes=[Route("/hello", hello),
                                Route("/startup-execution", startup_execution)],
                        lifespan=self.lifespan)
        mount(app, self.executor)
        return app


@pytest.mark.parametrize("framework", ["fastapi", "starlette"])
async def test_service_and_executor_routes_and_lifespans_over_real_http(
        framework: str, monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service(monkeypatch)
    app = service.fastapi() if framework == "fastapi" else service.starlette()

    async with served(app) as base, httpx.AsyncClient(base_url=base, trust_env=False) as http:
        service.pusher.base = base
        assert service.order == ["executor started", "service startup"]

        # The service's routes answer, with the state its lifespan yielded.
        hello = await http.get("/hello")
        assert hello.status_code == 200 and hello.json() == {"greeting": "hello"}
        # An unknown path gets the service's own 404, not a zenjobs JSON error.
        missing = await http.get("/no-such-page")
        assert missing.status_code == 404
        assert "error" not in missing.text

        # The executor's routes answer under /_zenjobs.
        health = await http.get("/_zenjobs/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        unknown = await http.get("/_zenjobs/nothing-here")
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "not_found"
        page = await http.get("/_zenjobs/ui/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "greet" in page.text

        # The job scheduled by the service's startup (the executor was already
        # started) is delivered by the simulated queue over HTTP through the
        # service's router, and runs once.
        execution_id = (await http.get("/startup-execution")).json()["execution_id"]
        delivered = await run_until_idle(service.executor)
        assert delivered == 1
        assert service.greeted == [{"who": "startup"}]
        assert [d.status for d in service.executor.queue.deliveries] == [200]
        run = await service.executor.store.get_run("greet", execution_id)
        assert run is not None and run.status is RunStatus.SUCCESS
        service.telemetry.assert_emitted("job.succeeded", job_id="greet",
                                         execution_id=execution_id)

        # A master tick, as Cloud Scheduler sends it.
        tick = await http.post("/_zenjobs/master")
        assert tick.status_code == 200 and "claimed" in tick.json()

    assert service.order == ["executor started", "service startup", "service shutdown",
                             "executor shutdown"]
    await service.pusher.http.aclose()


async def test_the_executor_routes_come_first_even_behind_a_catch_all_route(
        monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service(monkeypatch)
    app = FastAPI()

    @app.get("/{path:path}")
    async def everything(path: str) -> dict[str, str]:
        return {"page": path}

    mount(app, service.executor, lifespan=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://service") as http:
        assert (await http.get("/about")).json() == {"page": "about"}
        health = await http.get("/_zenjobs/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
    assert service.order == []  # lifespan=False: the service starts the executor itself


async def test_the_service_lifespan_failing_still_shuts_the_executor_down(
        monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service(monkeypatch)

    @contextlib.asynccontextmanager
    async def failing(app: Any) -> AsyncIterator[None]:
        service.order.append("service startup")
        raise RuntimeError("database unreachable")
        yield

    app = Starlette(lifespan=failing)
    mount(app, service.executor)
    with pytest.raises(RuntimeError, match="database unreachable"):
        async with app.router.lifespan_context(app):
            pass
    assert service.order == ["executor started", "service startup", "executor shutdown"]


def test_one_executor_per_service(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service(monkeypatch)
    app = Starlette()
    mount(app, service.executor)
    with pytest.raises(ConfigurationError, match="already serves /_zenjobs"):
        mount(app, Service(monkeypatch).executor)
    assert [getattr(r, "path", None) for r in app.routes] == ["/_zenjobs"]


async def test_mounting_executor_app_at_the_root_shadows_later_routes_and_says_so(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # The pattern mount() replaces: a Mount("/") takes every path no earlier route matched.
    service = Service(monkeypatch)
    app = FastAPI()
    app.mount("/", service.executor.app)

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"greeting": "hello"}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://service") as http:
        with caplog.at_level(logging.WARNING, logger="zenjobs.runtime.executor"):
            shadowed = await http.get("/hello")
            await http.get("/hello")
    assert shadowed.status_code == 404 and shadowed.json()["error"]["code"] == "not_found"
    warnings = [r for r in caplog.records if "zenjobs.integrations.mount" in r.getMessage()]
    assert len(warnings) == 1  # once per executor


async def test_a_service_that_is_only_the_executor_is_not_warned_about(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    service = Service(monkeypatch)
    app = Starlette(routes=[Mount("/", app=service.executor.app)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://service") as http:
        with caplog.at_level(logging.WARNING, logger="zenjobs.runtime.executor"):
            assert (await http.get("/favicon.ico")).status_code == 404
    assert not [r for r in caplog.records if "zenjobs.integrations.mount" in r.getMessage()]


def test_a_dashboard_outside_the_mount_path_gets_its_own_mount(
        monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service(monkeypatch)

    class Elsewhere(Dashboard):
        prefix = "/admin/jobs"

    executor = ZenJobsExecutor.from_env(service.jobs, {}, store=":memory:",
                                        dashboard=Elsewhere(), loop_lag_threshold=None)
    assert [getattr(r, "path", None) for r in executor.routes()] == ["/admin/jobs", "/_zenjobs"]


def test_mount_takes_only_starlette_apps(monkeypatch: pytest.MonkeyPatch) -> None:
    async def bare(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("hi")(scope, receive, send)

    with pytest.raises(TypeError, match="Starlette or FastAPI"):
        mount(bare, Service(monkeypatch).executor)  # type: ignore[arg-type]
