"""How the dashboard is switched on: the executor option, the environment, the mount path."""

from __future__ import annotations

import re

import httpx
import pytest

from zenjobs import JobContext, JobType, ZenJobs, ZenJobsExecutor
from zenjobs.dashboard import Dashboard, GoogleIdentityAuth, LocalAuth, Role
from zenjobs.errors import ConfigurationError
from zenjobs.testing import VirtualClock


def test_from_env_is_off_without_principals_and_reads_comma_separated_lists() -> None:
    assert Dashboard.from_env({}) is None
    assert Dashboard.from_env({"ZENJOBS_DASHBOARD_OPERATORS": " , "}) is None
    dashboard = Dashboard.from_env({
        "ZENJOBS_DASHBOARD_OPERATORS":
            "user:ops@example.com, serviceAccount:bot@p.iam.gserviceaccount.com",
        "ZENJOBS_DASHBOARD_VIEWERS": "domain:example.com",
        "ZENJOBS_DASHBOARD_IAP_AUDIENCE": "/projects/1/global/backendServices/2",
    })
    assert dashboard is not None
    assert dashboard.operators == ("user:ops@example.com",
                                   "serviceAccount:bot@p.iam.gserviceaccount.com")
    assert dashboard.viewers == ("domain:example.com",)
    auth = dashboard.authenticator("production", "https://svc.example.run.app")
    assert isinstance(auth, GoogleIdentityAuth)
    assert auth.role_of("ops@example.com") is Role.OPERATOR
    assert auth.role_of("anyone@example.com") is Role.VIEWER
    assert auth.role_of("someone@elsewhere.com") is None


def test_development_signs_nobody_in_but_production_never_serves_without_principals() -> None:
    assert isinstance(Dashboard().authenticator("development", "http://127.0.0.1:8080"),
                      LocalAuth)
    with pytest.raises(ConfigurationError, match="needs principals"):
        Dashboard().authenticator("production", "https://svc.example.run.app")
    with pytest.raises(ConfigurationError, match=re.escape("user:ops@example.com, ")):
        Dashboard(operators=["user:ops@example.com, user:b@example.com"]).authenticator(
            "production", "https://svc.example.run.app")


async def test_the_bare_prefix_redirects_and_other_paths_reach_the_webhook() -> None:
    jobs = ZenJobs()

    @jobs.job("hello", type=JobType.ENDPOINT)
    async def hello(ctx: JobContext) -> None:
        return None

    executor = ZenJobsExecutor.development(jobs, store=":memory:", clock=VirtualClock(),
                                           dashboard=Dashboard(), loop_lag_threshold=None)
    await executor.start()
    transport = httpx.ASGITransport(app=executor.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as http:
        response = await http.get("/_zenjobs/ui")
        assert response.status_code in (307, 308)
        assert response.headers["location"].endswith("/_zenjobs/ui/")
        assert (await http.get("/_zenjobs/ui/")).status_code == 200
        assert (await http.get("/_zenjobs/uiextra")).status_code == 404  # not the dashboard
        health = await http.get("/_zenjobs/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
    await executor.shutdown()


class _KeptTasks:
    def __init__(self) -> None:
        self.tasks: list[object] = []

    async def enqueue(self, task: object) -> None:
        self.tasks.append(task)


async def test_production_pages_also_poll_because_each_instance_streams_its_own_events() -> None:
    from zenjobs.stores.memory import MemoryJobStore

    jobs = ZenJobs()

    @jobs.job("hello", type=JobType.ENDPOINT)
    async def hello(ctx: JobContext) -> None:
        return None

    pages: dict[str, str] = {}
    for mode in ("development", "production"):
        dashboard = Dashboard(auth=LocalAuth())  # auth= replaces sign-in (tests, custom)
        if mode == "development":
            executor = ZenJobsExecutor.development(jobs, store=":memory:", clock=VirtualClock(),
                                                   dashboard=dashboard, loop_lag_threshold=None)
        else:
            executor = ZenJobsExecutor.production(
                jobs, project="demo-project", location="europe-west1",
                service_url="https://hello.example.run.app",
                invoker_service_account="invoker@demo-project.iam.gserviceaccount.com",
                store=MemoryJobStore(), queue=_KeptTasks(), clock=VirtualClock(),
                dashboard=dashboard, loop_lag_threshold=None)
        transport = httpx.ASGITransport(app=executor.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
            pages[mode] = (await http.get("/_zenjobs/ui/jobs/hello")).text
    assert 'htmx:sseOpen from:body, every 15s"' in pages["production"]
    assert "every 15s" not in pages["development"]
    assert 'htmx:sseOpen from:body"' in pages["development"]
