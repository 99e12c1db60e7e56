"""ZenJobsExecutor.from_env: one mode switch (ZENJOBS_MODE) with the safety rules in the library."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from zenjobs import ConfigurationError, JobContext, JobType, ZenJobs, ZenJobsExecutor
from zenjobs.dashboard import Dashboard
from zenjobs.runtime.modes import MODE_ENV, resolve_mode
from zenjobs.stores.memory import MemoryJobStore
from zenjobs.testing import MemoryTelemetry, VirtualClock

PRODUCTION = {
    "ZENJOBS_MODE": "production",
    "ZENJOBS_PROJECT": "demo-project",
    "ZENJOBS_LOCATION": "europe-west1",
    "ZENJOBS_SERVICE_URL": "https://shop-abc-ew.a.run.app",
    "ZENJOBS_INVOKER_SA": "zenjobs-invoker@demo-project.iam.gserviceaccount.com",
}


def registry() -> ZenJobs:
    jobs = ZenJobs()

    @jobs.job("ping", type=JobType.ENDPOINT)
    async def ping(ctx: JobContext) -> None: ...

    return jobs


class NoQueue:
    async def enqueue(self, task: Any) -> Any:
        raise AssertionError("nothing is enqueued in these tests")


def production_parts() -> dict[str, Any]:
    """Injected store and queue: no cloud client is built."""
    return {"store": MemoryJobStore(), "queue": NoQueue()}


@pytest.mark.parametrize("environ", [{}, {MODE_ENV: ""}, {MODE_ENV: "  "},
                                     {MODE_ENV: "development"}, {MODE_ENV: " development\n"}])
def test_unset_empty_or_development_is_development(environ: dict[str, str]) -> None:
    assert resolve_mode(environ) == "development"
    executor = ZenJobsExecutor.from_env(registry(), environ, store=":memory:",
                                        loop_lag_threshold=None)
    assert executor.mode == "development"


@pytest.mark.parametrize("value", ["prod", "Production", "dev", "staging", "production,"])
def test_an_unknown_mode_is_refused_naming_the_variable_and_the_allowed_values(
        value: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        ZenJobsExecutor.from_env(registry(), {MODE_ENV: value}, store=":memory:")
    message = str(refused.value)
    assert f"ZENJOBS_MODE={value!r}" in message
    assert "'production'" in message and "'development'" in message


@pytest.mark.parametrize("environ", [{"K_SERVICE": "shop"},
                                     {"K_SERVICE": "shop", MODE_ENV: "development"}])
def test_development_is_refused_on_cloud_run(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="unauthenticated development webhook") as refused:
        ZenJobsExecutor.from_env(registry(), environ, store=":memory:")
    assert "K_SERVICE='shop'" in str(refused.value)


def test_production_names_every_missing_setting_at_once() -> None:
    with pytest.raises(ConfigurationError) as refused:
        ZenJobsExecutor.from_env(registry(), {MODE_ENV: "production", "K_SERVICE": "shop"})
    message = str(refused.value)
    for setting, variable in [("project", "ZENJOBS_PROJECT"), ("location", "ZENJOBS_LOCATION"),
                              ("service_url", "ZENJOBS_SERVICE_URL"),
                              ("invoker_service_account", "ZENJOBS_INVOKER_SA")]:
        assert setting in message and variable in message
    assert "Cloud Run service 'shop'" in message


def test_production_reads_its_settings_from_the_given_environment() -> None:
    environ = dict(PRODUCTION, K_SERVICE="shop")
    executor = ZenJobsExecutor.from_env(registry(), environ, **production_parts())
    assert executor.mode == "production"
    assert executor.settings["project"] == "demo-project"
    assert executor.settings["service_url"] == PRODUCTION["ZENJOBS_SERVICE_URL"]
    assert executor.dashboard is None


def test_the_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    executor = ZenJobsExecutor.from_env(registry(), **production_parts())
    assert executor.mode == "production"
    monkeypatch.setenv(MODE_ENV, "prod")
    with pytest.raises(ConfigurationError, match="ZENJOBS_MODE='prod'"):
        ZenJobsExecutor.from_env(registry(), **production_parts())


def test_overrides_pass_through_to_the_chosen_constructor() -> None:
    clock = VirtualClock()
    telemetry = MemoryTelemetry()
    store = MemoryJobStore()
    executor = ZenJobsExecutor.from_env(registry(), {}, store=store, clock=clock,
                                        telemetry=telemetry, batch_size=7,
                                        loop_lag_threshold=None)
    assert executor.store is store and executor.clock is clock
    assert executor.telemetry is telemetry and executor.engine.batch_size == 7
    production = ZenJobsExecutor.from_env(registry(), PRODUCTION, clock=clock,
                                          telemetry=telemetry, **production_parts())
    assert production.clock is clock and production.telemetry is telemetry


def test_an_override_the_chosen_mode_does_not_take_is_refused_not_dropped() -> None:
    with pytest.raises(TypeError, match=r"development mode.*project="):
        ZenJobsExecutor.from_env(registry(), {}, store=":memory:", project="p")
    with pytest.raises(TypeError, match=r"production mode.*heavy_runner="):
        ZenJobsExecutor.from_env(registry(), PRODUCTION, heavy_runner=None,
                                 **production_parts())
    with pytest.raises(ConfigurationError, match="development store"):
        ZenJobsExecutor.from_env(registry(), PRODUCTION, store=":memory:")


def test_the_dashboard_factory_is_called_with_the_environment_in_production_only() -> None:
    seen: list[Mapping[str, str]] = []

    def factory(environ: Mapping[str, str]) -> Dashboard | None:
        seen.append(environ)
        return Dashboard.from_env(environ)

    environ = dict(PRODUCTION, ZENJOBS_DASHBOARD_OPERATORS="user:ops@example.com")
    executor = ZenJobsExecutor.from_env(registry(), environ, dashboard_factory=factory,
                                        **production_parts())
    assert seen == [environ]
    assert isinstance(executor.dashboard, Dashboard)
    assert executor.dashboard.operators == ("user:ops@example.com",)

    off = ZenJobsExecutor.from_env(registry(), PRODUCTION, dashboard_factory=Dashboard.from_env,
                                   **production_parts())
    assert off.dashboard is None  # no principals: off

    development = ZenJobsExecutor.from_env(registry(), {"ZENJOBS_DASHBOARD_OPERATORS": "x"},
                                           dashboard_factory=factory, store=":memory:")
    assert development.dashboard is None and len(seen) == 1  # dev: zenjobs dev lends one


def test_dashboard_and_dashboard_factory_together_are_refused() -> None:
    with pytest.raises(TypeError, match="not both"):
        ZenJobsExecutor.from_env(registry(), {}, store=":memory:", dashboard=Dashboard(),
                                 dashboard_factory=Dashboard.from_env)
