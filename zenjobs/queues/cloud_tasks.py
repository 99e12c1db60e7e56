"""The production :class:`~zenjobs.queues.protocol.TaskQueue`: HTTP tasks on Google Cloud Tasks.

Every task is a POST carrying the JSON envelope, an OIDC token minted by Cloud
Tasks for the invoker service account (audience = the service URL, which the
webhook verifies), and a name derived from the execution id and attempt:
Cloud Tasks answers ``ALREADY_EXISTS`` for a name seen in the last hour, which
is how a duplicate enqueue (two ticks, a retried request) becomes "already
scheduled" instead of a second run.

Errors (see ``docs/cloud_tasks.md``):

- ``UNAVAILABLE``, ``DEADLINE_EXCEEDED``, ``RESOURCE_EXHAUSTED`` and ``INTERNAL``
  are retried a bounded number of times with capped exponential backoff and
  deterministic jitter, then raised as
  :class:`~zenjobs.errors.BackendUnavailableError` (the webhook answers 503, so
  the caller's own retry takes over). A retry after an ambiguous failure may
  find its own first attempt: ``ALREADY_EXISTS`` is then the right answer.
- ``NOT_FOUND``, ``PERMISSION_DENIED``, ``UNAUTHENTICATED`` and
  ``FAILED_PRECONDITION`` mean the deployment is wrong (queue missing, IAM):
  :class:`~zenjobs.errors.ConfigurationError` with a hint. Anything else is a
  :class:`~zenjobs.errors.ZenjobsError`. Every message names queue, task and job.

``google.cloud`` is imported on first use only, never at module import.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, Protocol

from ..errors import BackendUnavailableError, ConfigurationError, ZenjobsError
from ..gcp import errors
from ..gcp.clients import LazyClient, grpc_client
from ..gcp.errors import TRANSIENT
from .limits import check_task, job_id_of
from .protocol import EnqueueOutcome, HttpTask

__all__ = ["CloudTasksQueue", "TasksClient"]

Sleep = Callable[[float], Awaitable[None]]

#: What to do about each status code that means the deployment is wrong
#: (the ``TRANSIENT`` codes are retried before giving up).
_CONFIGURATION = {
    "NOT_FOUND": "does the queue exist in this project and location? (terraform apply)",
    "PERMISSION_DENIED": "the runtime service account needs roles/cloudtasks.enqueuer on "
                         "the queue and iam.serviceAccountUser on the invoker account",
    "UNAUTHENTICATED": "the runtime has no valid Google credentials",
    "FAILED_PRECONDITION": "the queue may be disabled or being deleted",
}


class TasksClient(Protocol):
    """The one method used of ``google.cloud.tasks_v2.CloudTasksAsyncClient``."""

    async def create_task(self, request: Any = None, *, retry: Any = ...,
                          timeout: Any = ...) -> Any: ...


class CloudTasksQueue:
    """Enqueue :class:`~zenjobs.queues.protocol.HttpTask` s as Cloud Tasks HTTP tasks.

    ``client`` is any :class:`TasksClient` (tests inject one); without it an
    async client is created on first use, connected to ``emulator_host``
    (``127.0.0.1:PORT``, plain gRPC) when given, else to Google with the
    ambient credentials. ``sleep`` is awaited between transient retries.
    ``extra_headers`` are added to every task under the task's own headers: the
    emulator mints no OIDC token, so an end-to-end test passes a test-minted
    ``Authorization`` this way (Cloud Tasks replaces that header with its own
    token when ``oidc_token`` is set, so it is harmless in production).
    """

    def __init__(self, project: str, location: str, *, invoker_service_account: str,
                 audience: str, client: TasksClient | None = None,
                 emulator_host: str | None = None, max_attempts: int = 5,
                 initial_backoff: float = 0.25, max_backoff: float = 8.0,
                 call_timeout: float = 30.0, dispatch_deadline: timedelta | None = None,
                 extra_headers: Mapping[str, str] | None = None,
                 sleep: Sleep = asyncio.sleep) -> None:
        errors.require_settings("Cloud Tasks queue", project=project, location=location,
                                invoker_service_account=invoker_service_account,
                                audience=audience)
        if max_attempts < 1:
            raise ConfigurationError("Cloud Tasks queue: max_attempts must be >= 1")
        if dispatch_deadline is not None and not (
                timedelta(seconds=15) <= dispatch_deadline <= timedelta(minutes=30)):
            raise ConfigurationError(
                "Cloud Tasks queue: dispatch_deadline must be between 15 s and 30 min")
        self.project = project
        self.location = location
        self.invoker_service_account = invoker_service_account
        self.audience = audience
        self._client: LazyClient[TasksClient] = LazyClient(
            lambda: _make_client(emulator_host), client)
        self._max_attempts = max_attempts
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._call_timeout = call_timeout
        self._dispatch_deadline = dispatch_deadline
        self._extra_headers = dict(extra_headers or {})
        self._sleep = sleep

    def queue_path(self, queue: str) -> str:
        return f"projects/{self.project}/locations/{self.location}/queues/{queue}"

    def task_path(self, queue: str, name: str) -> str:
        return f"{self.queue_path(queue)}/tasks/{name}"

    def build_request(self, task: HttpTask) -> Any:
        """The ``CreateTaskRequest`` for ``task`` (after the checks Cloud Tasks would make)."""
        check_task(task)
        if task.schedule_time is not None and task.schedule_time.tzinfo is None:
            raise ZenjobsError(f"task {task.name!r} in queue {task.queue!r} for job "
                               f"{job_id_of(task)!r}: schedule_time must be timezone-aware")
        from google.cloud import tasks_v2

        http = tasks_v2.HttpRequest(
            url=task.url,
            http_method=tasks_v2.HttpMethod.POST,
            headers={**self._extra_headers, **task.headers},
            body=task.body,
            oidc_token=tasks_v2.OidcToken(
                service_account_email=self.invoker_service_account, audience=self.audience),
        )
        fields: dict[str, Any] = {"http_request": http}
        if task.name:
            fields["name"] = self.task_path(task.queue, task.name)
        if task.schedule_time is not None:
            fields["schedule_time"] = task.schedule_time
        if self._dispatch_deadline is not None:
            fields["dispatch_deadline"] = self._dispatch_deadline
        return tasks_v2.CreateTaskRequest(parent=self.queue_path(task.queue),
                                          task=tasks_v2.Task(**fields))

    async def enqueue(self, task: HttpTask) -> EnqueueOutcome:
        request = self.build_request(task)
        client = self._client.get()
        from google.api_core import exceptions as api_exceptions

        last: api_exceptions.GoogleAPICallError | None = None
        for attempt in range(1, self._max_attempts + 1):
            try:
                await client.create_task(request=request, retry=None, timeout=self._call_timeout)
                return EnqueueOutcome.CREATED
            except api_exceptions.AlreadyExists:
                return EnqueueOutcome.ALREADY_EXISTS
            except api_exceptions.GoogleAPICallError as exc:
                if errors.status_code(exc) not in TRANSIENT:
                    raise errors.translate(exc, self._context("refused", task),
                                           _CONFIGURATION) from exc
                last = exc
            if attempt < self._max_attempts:
                await self._sleep(self.backoff(task, attempt))
        raise BackendUnavailableError(
            f"{self._context('did not accept', task)} after {self._max_attempts} attempts: "
            f"{errors.describe(last)}")

    def backoff(self, task: HttpTask, attempt: int) -> float:
        """Seconds before transient retry ``attempt + 1``: capped doubling, jitter in [50%, 100%].

        The jitter comes from the task name, so instances retrying different
        tasks spread out while one task's delays are the same on every run.
        """
        ceiling = min(self._max_backoff, self._initial_backoff * (2 ** (attempt - 1)))
        digest = hashlib.sha256(f"{task.name}\x1f{attempt}".encode()).digest()
        fraction = int.from_bytes(digest[:4], "big") / 0xFFFFFFFF
        return float(ceiling * (0.5 + 0.5 * fraction))

    async def close(self) -> None:
        """Close the client this queue created (an injected client is the caller's)."""
        await self._client.close()

    def _context(self, verb: str, task: HttpTask) -> str:
        return (f"Cloud Tasks {verb} task {task.name!r} for job {job_id_of(task)!r} in queue "
                f"{self.queue_path(task.queue)}")


def _make_client(emulator_host: str | None) -> TasksClient:
    """A CloudTasksAsyncClient; to an emulator over plain gRPC when ``emulator_host`` is set."""
    from google.cloud import tasks_v2
    from google.cloud.tasks_v2.services.cloud_tasks.transports import (
        CloudTasksGrpcAsyncIOTransport,
    )

    client: TasksClient = grpc_client(tasks_v2.CloudTasksAsyncClient,
                                       CloudTasksGrpcAsyncIOTransport, emulator_host)
    return client
