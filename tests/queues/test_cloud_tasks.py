"""The Cloud Tasks dispatcher without a network: request shape and error handling.

A recording client stands in for ``CloudTasksAsyncClient`` (injected, not
patched); it raises the real ``google.api_core`` exceptions the SDK raises.
The same dispatcher is proved against the emulator in
``test_cloud_tasks_emulator.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from google.api_core import exceptions as api_exceptions
from google.cloud import tasks_v2

from zenjobs.errors import BackendUnavailableError, ConfigurationError, PayloadError, ZenjobsError
from zenjobs.queues.cloud_tasks import CloudTasksQueue
from zenjobs.queues.protocol import EnqueueOutcome, HttpTask, TaskQueue

INVOKER = "zenjobs-invoker@proj.iam.gserviceaccount.com"
SERVICE = "https://newsletter-abc-ew.a.run.app"
ETA = datetime(2026, 3, 1, 12, 0, 30, tzinfo=timezone.utc)


class ScriptedClient:
    """Records each create_task call and raises the scripted errors first."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls: list[tuple[Any, Any, Any]] = []

    async def create_task(self, request: Any = None, *, retry: Any = None,
                          timeout: Any = None) -> Any:
        self.calls.append((request, retry, timeout))
        if self.errors:
            raise self.errors.pop(0)
        return request.task


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def http_task(name: str = "ab12cd34-send_email-k1-a1", body: bytes = b'{"version":1}',
              queue: str = "zenjobs-medium") -> HttpTask:
    return HttpTask(queue=queue, name=name, url=f"{SERVICE}/_zenjobs/run/send_email",
                    body=body, headers={"Content-Type": "application/json"}, schedule_time=ETA)


def dispatcher(client: ScriptedClient, sleep: Sleeps | None = None,
               **options: Any) -> CloudTasksQueue:
    return CloudTasksQueue("proj", "europe-west1", invoker_service_account=INVOKER,
                           audience=SERVICE, client=client, sleep=sleep or Sleeps(), **options)


async def test_request_is_a_named_http_task_with_oidc_and_schedule_time() -> None:
    client = ScriptedClient()
    queue = dispatcher(client, dispatch_deadline=timedelta(minutes=5))
    assert isinstance(queue, TaskQueue)
    assert await queue.enqueue(http_task()) is EnqueueOutcome.CREATED
    (request, retry, timeout), = client.calls
    assert retry is None and timeout == 30.0  # our retries, not the SDK's hidden ones
    parent = "projects/proj/locations/europe-west1/queues/zenjobs-medium"
    assert request.parent == parent
    task = request.task
    assert task.name == f"{parent}/tasks/ab12cd34-send_email-k1-a1"
    assert task.schedule_time == ETA
    assert task.dispatch_deadline == timedelta(minutes=5)
    http = task.http_request
    assert http.http_method == tasks_v2.HttpMethod.POST
    assert http.url == f"{SERVICE}/_zenjobs/run/send_email"
    assert http.body == b'{"version":1}'
    assert dict(http.headers) == {"Content-Type": "application/json"}
    assert http.oidc_token.service_account_email == INVOKER
    assert http.oidc_token.audience == SERVICE


async def test_already_exists_means_already_scheduled() -> None:
    client = ScriptedClient(api_exceptions.AlreadyExists("task exists"))
    assert await dispatcher(client).enqueue(http_task()) is EnqueueOutcome.ALREADY_EXISTS
    assert len(client.calls) == 1


@pytest.mark.parametrize("error", [
    api_exceptions.ServiceUnavailable("down"),
    api_exceptions.DeadlineExceeded("slow"),
    api_exceptions.ResourceExhausted("quota"),
    api_exceptions.InternalServerError("oops"),
])
async def test_transient_errors_are_retried_with_deterministic_backoff(error: Exception) -> None:
    client = ScriptedClient(error, error)
    sleeps = Sleeps()
    queue = dispatcher(client, sleeps)
    assert await queue.enqueue(http_task()) is EnqueueOutcome.CREATED
    assert len(client.calls) == 3
    task = http_task()
    assert sleeps.delays == [queue.backoff(task, 1), queue.backoff(task, 2)]
    assert 0.125 <= sleeps.delays[0] <= 0.25 and 0.25 <= sleeps.delays[1] <= 0.5


async def test_retry_after_an_ambiguous_timeout_may_find_its_own_task() -> None:
    client = ScriptedClient(api_exceptions.DeadlineExceeded("slow"),
                            api_exceptions.AlreadyExists("exists"))
    assert await dispatcher(client).enqueue(http_task()) is EnqueueOutcome.ALREADY_EXISTS


async def test_exhausted_transient_retries_raise_backend_unavailable() -> None:
    client = ScriptedClient(*[api_exceptions.ServiceUnavailable("down")] * 5)
    sleeps = Sleeps()
    queue = dispatcher(client, sleeps, max_attempts=4, max_backoff=0.3)
    with pytest.raises(BackendUnavailableError) as raised:
        await queue.enqueue(http_task())
    message = str(raised.value)
    assert "zenjobs-medium" in message and "ab12cd34-send_email-k1-a1" in message
    assert "'send_email'" in message and "UNAVAILABLE" in message
    assert len(client.calls) == 4 and len(sleeps.delays) == 3
    assert max(sleeps.delays) <= 0.3


@pytest.mark.parametrize(("error", "kind", "hint"), [
    (api_exceptions.NotFound("no queue"), ConfigurationError, "terraform apply"),
    (api_exceptions.PermissionDenied("nope"), ConfigurationError, "cloudtasks.enqueuer"),
    (api_exceptions.FailedPrecondition("disabled"), ConfigurationError, "disabled"),
    (api_exceptions.InvalidArgument("bad url"), ZenjobsError, "INVALID_ARGUMENT"),
])
async def test_other_errors_are_clear_and_not_retried(error: Exception, kind: type,
                                                      hint: str) -> None:
    client = ScriptedClient(error)
    sleeps = Sleeps()
    with pytest.raises(kind) as raised:
        await dispatcher(client, sleeps).enqueue(http_task())
    message = str(raised.value)
    assert hint in message
    assert "queues/zenjobs-medium" in message and "ab12cd34-send_email-k1-a1" in message
    assert len(client.calls) == 1 and sleeps.delays == []
    if kind is ZenjobsError:
        assert not isinstance(raised.value, ConfigurationError)


async def test_oversize_task_is_refused_before_sending() -> None:
    client = ScriptedClient()
    with pytest.raises(PayloadError, match="over the Cloud Tasks limit") as raised:
        await dispatcher(client).enqueue(http_task(body=b"x" * 1_048_576))
    assert raised.value.job_id == "send_email"
    assert client.calls == []


async def test_invalid_task_name_and_naive_schedule_time_are_refused_before_sending() -> None:
    client = ScriptedClient()
    queue = dispatcher(client)
    with pytest.raises(ZenjobsError, match="task id"):
        await queue.enqueue(http_task(name="a/b"))
    naive = HttpTask(queue="q", name="n", url=f"{SERVICE}/_zenjobs/run/x", body=b"",
                     schedule_time=datetime(2026, 1, 1))
    with pytest.raises(ZenjobsError, match="timezone-aware"):
        await queue.enqueue(naive)
    assert client.calls == []


def test_missing_settings_are_all_named() -> None:
    with pytest.raises(ConfigurationError, match="project, invoker_service_account, audience"):
        CloudTasksQueue("", "europe-west1", invoker_service_account="", audience="")


def test_modules_do_not_import_google_cloud_until_used() -> None:
    """Importing the dispatcher, and running the simulated queue, loads no google.cloud."""
    script = """
import asyncio, json, sys
import zenjobs.queues.cloud_tasks
from zenjobs.queues.protocol import HttpTask
from zenjobs.queues.simulated import SimulatedCloudTasks
from zenjobs.clocks.system import SystemClock

class Ok:
    async def push(self, url, body, headers):
        return 200

async def main():
    queue = SimulatedCloudTasks(SystemClock(), Ok())
    await queue.enqueue(HttpTask(queue="q", name="n", url="http://x/_zenjobs/run/j", body=b"{}"))
    return await queue.dispatch_due()

pushed = asyncio.run(main())
cloud = sorted(m for m in sys.modules if m.startswith(("google.cloud", "grpc")))
print(json.dumps([pushed, cloud]))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    pushed, loaded = json.loads(out)
    assert pushed == 1
    assert loaded == []
