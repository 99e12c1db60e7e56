"""SchedulerControl and ``zenjobs scheduler`` against an in-process Cloud Scheduler gRPC server.

No emulator of Cloud Scheduler exists, so the test serves the three methods
zenjobs uses (PauseJob, ResumeJob, RunJob) on 127.0.0.1 with the real proto
request/response classes, and the real ``CloudSchedulerAsyncClient`` talks to
it over a plain gRPC channel. The server keeps each job's state like Cloud
Scheduler does (pause needs ENABLED) and records every request it received.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc  # type: ignore[import-untyped]
import pytest
from click.testing import CliRunner
from google.cloud import scheduler_v1
from google.cloud.scheduler_v1.services.cloud_scheduler.transports import (
    CloudSchedulerGrpcAsyncIOTransport,
)

from zenjobs.cli import main
from zenjobs.errors import BackendUnavailableError, ConfigurationError
from zenjobs.gcp.scheduler import SchedulerControl

SERVICE = "google.cloud.scheduler.v1.CloudScheduler"
PROJECT, LOCATION = "acme-prod", "europe-west1"
MASTER = f"projects/{PROJECT}/locations/{LOCATION}/jobs/zen_master_scheduler"
State: Any = scheduler_v1.Job.State


@dataclass
class FakeCloudScheduler:
    """The state and the request log behind the in-process server."""

    jobs: dict[str, Any] = field(default_factory=lambda: {MASTER: State.ENABLED})
    received: list[tuple[str, str]] = field(default_factory=list)
    fail_with: grpc.StatusCode | None = None

    def answer(self, method: str, name: str) -> scheduler_v1.Job | tuple[grpc.StatusCode, str]:
        self.received.append((method, name))
        if self.fail_with is not None:
            return self.fail_with, "injected failure"
        if name not in self.jobs:
            return grpc.StatusCode.NOT_FOUND, "Job not found."
        if method == "PauseJob":
            if self.jobs[name] != State.ENABLED:
                return grpc.StatusCode.FAILED_PRECONDITION, "Job must be ENABLED to be paused."
            self.jobs[name] = State.PAUSED
        elif method == "ResumeJob":
            self.jobs[name] = State.ENABLED
        return scheduler_v1.Job(name=name, state=self.jobs[name], schedule="* * * * *")

    def handler(self, *, aio: bool) -> grpc.GenericRpcHandler:
        requests: dict[str, Any] = {"PauseJob": scheduler_v1.PauseJobRequest,
                    "ResumeJob": scheduler_v1.ResumeJobRequest,
                    "RunJob": scheduler_v1.RunJobRequest}
        methods = {
            method: grpc.unary_unary_rpc_method_handler(
                self._behaviour(method, aio), request_deserializer=request.deserialize,
                response_serializer=scheduler_v1.Job.serialize)
            for method, request in requests.items()
        }
        return grpc.method_handlers_generic_handler(SERVICE, methods)

    def _behaviour(self, method: str, aio: bool) -> Callable[..., Any]:
        if aio:
            async def async_call(request: Any, context: Any) -> scheduler_v1.Job:
                result = self.answer(method, request.name)
                if isinstance(result, tuple):
                    await context.abort(*result)
                assert isinstance(result, scheduler_v1.Job)
                return result

            return async_call

        def call(request: Any, context: Any) -> scheduler_v1.Job:
            result = self.answer(method, request.name)
            if isinstance(result, tuple):
                context.abort(*result)
            assert isinstance(result, scheduler_v1.Job)
            return result

        return call


@pytest.fixture
async def served() -> AsyncIterator[tuple[FakeCloudScheduler, str]]:
    fake = FakeCloudScheduler()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((fake.handler(aio=True),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield fake, f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


@pytest.fixture
async def control(served: tuple[FakeCloudScheduler, str]) -> AsyncIterator[SchedulerControl]:
    channel = grpc.aio.insecure_channel(served[1])
    client = scheduler_v1.CloudSchedulerAsyncClient(
        transport=CloudSchedulerGrpcAsyncIOTransport(channel=channel))
    yield SchedulerControl(PROJECT, LOCATION, client=client)
    await channel.close()


async def test_pause_resume_run_send_the_master_job_name(
        served: tuple[FakeCloudScheduler, str], control: SchedulerControl) -> None:
    fake, _ = served

    paused = await control.pause()
    resumed = await control.resume()
    ran = await control.run()

    assert fake.received == [("PauseJob", MASTER), ("ResumeJob", MASTER), ("RunJob", MASTER)]
    assert (paused.name, paused.state) == (MASTER, "PAUSED")
    assert (resumed.state, ran.state, ran.schedule) == ("ENABLED", "ENABLED", "* * * * *")


async def test_a_missing_master_job_says_to_run_terraform_apply(
        served: tuple[FakeCloudScheduler, str], control: SchedulerControl) -> None:
    served[0].jobs.clear()

    with pytest.raises(ConfigurationError) as caught:
        await control.pause()

    assert str(caught.value) == (f"cannot pause the master job {MASTER}: NOT_FOUND Job not "
                                 "found. (it does not exist: run terraform apply, zenjobs "
                                 "gen-infra declares it)")


async def test_pausing_a_paused_job_is_a_clear_precondition_error(
        served: tuple[FakeCloudScheduler, str], control: SchedulerControl) -> None:
    await control.pause()

    with pytest.raises(ConfigurationError, match=f"cannot pause the master job {MASTER}: "
                                                 "FAILED_PRECONDITION Job must be ENABLED to be "
                                                 r"paused\. \(not possible in its current state"):
        await control.pause()


@pytest.mark.parametrize(("code", "error", "text"), [
    (grpc.StatusCode.UNAVAILABLE, BackendUnavailableError, "try again"),
    (grpc.StatusCode.PERMISSION_DENIED, ConfigurationError, "roles/cloudscheduler.admin"),
])
async def test_other_failures_map_to_zenjobs_errors(
        served: tuple[FakeCloudScheduler, str], control: SchedulerControl,
        code: grpc.StatusCode, error: type[Exception], text: str) -> None:
    served[0].fail_with = code

    with pytest.raises(error, match=text):
        await control.run()


async def test_a_custom_job_name_and_the_endpoint_client(
        served: tuple[FakeCloudScheduler, str]) -> None:
    fake, address = served
    custom = f"projects/{PROJECT}/locations/{LOCATION}/jobs/other_master"
    fake.jobs[custom] = State.ENABLED
    control = SchedulerControl(PROJECT, LOCATION, "other_master", endpoint=address)
    try:
        state = await control.run()
    finally:
        await control.close()

    assert fake.received == [("RunJob", custom)] and state.name == custom


def test_missing_settings_are_named() -> None:
    with pytest.raises(ConfigurationError, match="missing project, location"):
        SchedulerControl("", "")


# -- the CLI, with a threaded server (the command runs its own event loop) --------------------


@pytest.fixture
def threaded() -> Iterator[tuple[FakeCloudScheduler, str]]:
    fake = FakeCloudScheduler()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((fake.handler(aio=False),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield fake, f"127.0.0.1:{port}"
    finally:
        stopped: threading.Event = server.stop(None)
        stopped.wait()


def scheduler_cli(verb: str, endpoint: str, *extra: str) -> Any:
    env: dict[str, str | None] = {"ZENJOBS_SCHEDULER_ENDPOINT": endpoint,
                                  "ZENJOBS_PROJECT": None, "GOOGLE_CLOUD_PROJECT": None,
                                  "ZENJOBS_LOCATION": None, "ZENJOBS_SCHEDULER_JOB": None}
    return CliRunner().invoke(main, ["scheduler", verb, *extra], env=env)


def test_cli_pause_resume_run(threaded: tuple[FakeCloudScheduler, str],
                              tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fake, endpoint = threaded
    where = ("--project", PROJECT, "--region", LOCATION)

    outputs = [scheduler_cli(verb, endpoint, *where) for verb in ("pause", "resume", "run")]

    assert [r.exit_code for r in outputs] == [0, 0, 0], [r.output for r in outputs]
    assert [r.stdout for r in outputs] == [f"paused {MASTER} (state PAUSED)\n",
                                           f"resumed {MASTER} (state ENABLED)\n",
                                           f"ran {MASTER} (state ENABLED)\n"]
    assert fake.received == [("PauseJob", MASTER), ("ResumeJob", MASTER), ("RunJob", MASTER)]


def test_cli_settings_from_pyproject_and_missing_job(threaded: tuple[FakeCloudScheduler, str],
                                                     tmp_path: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.zenjobs]\nproject = "{PROJECT}"\nregion = "{LOCATION}"\n')
    fake, endpoint = threaded
    fake.jobs.clear()

    result = scheduler_cli("pause", endpoint)

    assert result.exit_code == 4
    assert result.stderr == (f"error: cannot pause the master job {MASTER}: NOT_FOUND Job not "
                             "found. (it does not exist: run terraform apply, zenjobs gen-infra "
                             "declares it)\n")
    assert fake.received == [("PauseJob", MASTER)]


def test_cli_without_project_is_a_usage_error(tmp_path: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    result = scheduler_cli("run", "127.0.0.1:1")

    assert result.exit_code == 2 and "missing --project, --location" in result.stderr


def test_cli_json_names_project_location_job_and_state(
        threaded: tuple[FakeCloudScheduler, str], tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _, endpoint = threaded

    # --project given to the group, before the command, as any global option.
    result = CliRunner().invoke(
        main, ["--project", PROJECT, "scheduler", "pause", "--region", LOCATION, "--json"],
        env={"ZENJOBS_SCHEDULER_ENDPOINT": endpoint, "ZENJOBS_PROJECT": None,
             "GOOGLE_CLOUD_PROJECT": None, "ZENJOBS_LOCATION": None})

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {k: data[k] for k in ("command", "project", "location", "job", "state")} == {
        "command": "scheduler pause", "project": PROJECT, "location": LOCATION, "job": MASTER,
        "state": "PAUSED"}
    assert set(data) == {"command", "project", "location", "job", "state", "schedule",
                         "next_schedule_time"}


def test_cli_json_errors_keep_the_exit_code(threaded: tuple[FakeCloudScheduler, str],
                                            tmp_path: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fake, endpoint = threaded
    fake.jobs.clear()

    missing = scheduler_cli("run", endpoint, "--json")
    not_found = scheduler_cli("pause", endpoint, "--project", PROJECT, "--region", LOCATION,
                              "--json")

    assert missing.exit_code == 2 and missing.stderr == ""
    assert json.loads(missing.stdout) == {"command": "scheduler run", "error": {
        "message": "missing --project, --location (or set them in the environment or under "
                   "[tool.zenjobs])", "field": "--project", "job": None, "exit_code": 2}}
    assert not_found.exit_code == 4
    error = json.loads(not_found.stdout)["error"]
    assert error["exit_code"] == 4 and "NOT_FOUND" in error["message"]
