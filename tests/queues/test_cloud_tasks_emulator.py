"""The Cloud Tasks dispatcher against the real gcloud-tasks-emulator, pushing over real HTTP.

The emulator delivers what CloudTasksQueue created to a uvicorn server on
127.0.0.1: body, the task's headers, ``X-CloudTasks-*`` headers and schedule
time. It ignores task-name dedup, OIDC and backoff (those are proved on the
simulator, ``test_simulated_tasks.py``); the OIDC fields are checked on the
request that went over gRPC and on the task the emulator echoed back.
Each test uses a queue of its own, so tests share one emulator safely.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcAsyncIOTransport

from tests.emulators.cloud_tasks import (
    VENV_ENV,
    RunningTasksEmulator,
    TasksEmulatorError,
    start_tasks_emulator,
)
from zenjobs.errors import ConfigurationError
from zenjobs.queues.cloud_tasks import CloudTasksQueue
from zenjobs.queues.protocol import EnqueueOutcome, HttpTask

from .conftest import ServedTarget

PROJECT, LOCATION = "zenjobs-test", "europe-west1"
INVOKER = "zenjobs-invoker@zenjobs-test.iam.gserviceaccount.com"
_queue_ids = itertools.count(1)


@dataclass
class RecordingClient:
    """Wraps the real async client; keeps every request sent and response received."""

    inner: Any
    requests: list[Any] = field(default_factory=list)
    responses: list[Any] = field(default_factory=list)

    async def create_task(self, request: Any = None, *, retry: Any = None,
                          timeout: Any = None) -> Any:
        self.requests.append(request)
        response = await self.inner.create_task(request=request, retry=retry, timeout=timeout)
        self.responses.append(response)
        return response


@dataclass
class Emulated:
    client: Any
    queue_id: str
    host: str


@pytest.fixture
async def emulated(tasks_emulator: RunningTasksEmulator) -> AsyncIterator[Emulated]:
    """An async client on the emulator (grpc.aio, plain text) and a fresh queue."""
    channel = grpc.aio.insecure_channel(tasks_emulator.host,
                                        options=[("grpc.enable_http_proxy", 0)])
    client = tasks_v2.CloudTasksAsyncClient(
        transport=CloudTasksGrpcAsyncIOTransport(channel=channel))
    queue_id = f"q-{os.getpid()}-{next(_queue_ids)}"
    parent = f"projects/{PROJECT}/locations/{LOCATION}"
    await client.create_queue(parent=parent,
                              queue=tasks_v2.Queue(name=f"{parent}/queues/{queue_id}"))
    try:
        yield Emulated(client, queue_id, tasks_emulator.host)
    finally:
        await channel.close()


def make_task(target: ServedTarget, queue_id: str, name: str, *,
              at: datetime | None = None) -> HttpTask:
    return HttpTask(queue=queue_id, name=name,
                    url=f"{target.base_url}/_zenjobs/run/send_email",
                    body=b'{"version":1,"job_id":"send_email"}',
                    headers={"Content-Type": "application/json", "X-Trace": "t-1"},
                    schedule_time=at)


async def test_created_task_is_pushed_over_http_with_body_headers_and_oidc_request(
        emulated: Emulated, http_target: ServedTarget) -> None:
    recording = RecordingClient(emulated.client)
    queue = CloudTasksQueue(PROJECT, LOCATION, invoker_service_account=INVOKER,
                            audience=http_target.base_url, client=recording)
    task = make_task(http_target, emulated.queue_id, "ab12-send_email-k1-a1")
    assert await queue.enqueue(task) is EnqueueOutcome.CREATED
    await http_target.target.wait_for(1)

    pushed = http_target.target.requests[0]
    assert pushed.method == "POST"
    assert pushed.path == "/_zenjobs/run/send_email"
    assert pushed.body == b'{"version":1,"job_id":"send_email"}'
    assert pushed.headers["content-type"] == "application/json"
    assert pushed.headers["x-trace"] == "t-1"
    assert pushed.headers["x-cloudtasks-taskname"] == "ab12-send_email-k1-a1"
    assert pushed.headers["x-cloudtasks-taskretrycount"] == "0"
    # The emulator sends the full queue path; Cloud Tasks sends the queue id.
    assert pushed.headers["x-cloudtasks-queuename"].endswith(f"/queues/{emulated.queue_id}")

    full_name = (f"projects/{PROJECT}/locations/{LOCATION}/queues/{emulated.queue_id}"
                 "/tasks/ab12-send_email-k1-a1")
    sent, = recording.requests
    echoed, = recording.responses
    for created in (sent.task, echoed):  # what we sent, and what came back over gRPC
        assert created.name == full_name
        assert created.http_request.oidc_token.service_account_email == INVOKER
        assert created.http_request.oidc_token.audience == http_target.base_url
        assert created.http_request.http_method == tasks_v2.HttpMethod.POST


async def test_schedule_time_is_sent_and_honoured(emulated: Emulated,
                                                  http_target: ServedTarget) -> None:
    queue = CloudTasksQueue(PROJECT, LOCATION, invoker_service_account=INVOKER,
                            audience=http_target.base_url, client=emulated.client)
    eta = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=2)
    await queue.enqueue(make_task(http_target, emulated.queue_id, "later-a1", at=eta))
    await http_target.target.wait_for(1)
    arrived = time.time()
    pushed = http_target.target.requests[0]
    assert float(pushed.headers["x-cloudtasks-tasketa"]) == eta.timestamp()
    assert arrived >= eta.timestamp()  # delivered no earlier than its schedule time


async def test_lazily_created_client_reaches_the_emulator(emulated: Emulated,
                                                          http_target: ServedTarget) -> None:
    queue = CloudTasksQueue(PROJECT, LOCATION, invoker_service_account=INVOKER,
                            audience=http_target.base_url, emulator_host=emulated.host,
                            extra_headers={"Authorization": "Bearer test-minted"})
    try:
        outcome = await queue.enqueue(make_task(http_target, emulated.queue_id, "lazy-a1"))
    finally:
        await queue.close()
    assert outcome is EnqueueOutcome.CREATED
    await http_target.target.wait_for(1)
    pushed = http_target.target.requests[0]
    assert pushed.headers["x-cloudtasks-taskname"] == "lazy-a1"
    assert pushed.headers["authorization"] == "Bearer test-minted"


async def test_missing_queue_is_a_clear_configuration_error(emulated: Emulated,
                                                            http_target: ServedTarget) -> None:
    queue = CloudTasksQueue(PROJECT, LOCATION, invoker_service_account=INVOKER,
                            audience=http_target.base_url, client=emulated.client)
    with pytest.raises(ConfigurationError) as raised:
        await queue.enqueue(make_task(http_target, "no-such-queue", "orphan-a1"))
    message = str(raised.value)
    assert "queues/no-such-queue" in message and "'orphan-a1'" in message
    assert "'send_email'" in message


def test_missing_emulator_venv_is_an_error_that_says_how_to_fix_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(VENV_ENV, str(tmp_path / "absent"))
    with pytest.raises(TasksEmulatorError, match=r"tasks-emulator-venv\.sh"):
        start_tasks_emulator(reuse_env=False)
