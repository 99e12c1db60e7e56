"""Control of the one Cloud Scheduler job (the master tick): pause, resume, run now.

``zenjobs scheduler pause | resume | run`` call these. The job is the one
``zenjobs gen-infra`` declares (``terraform/modules/zenjobs/scheduler.tf``): named
``zen_master_scheduler`` (:data:`~zenjobs.vocabulary.MASTER_JOB_ID`, the
module's ``scheduler_job_name`` default) in the service's region.

Errors become :class:`~zenjobs.errors.ZenjobsError` subclasses whose message
names the job's full resource name and says what to do:

- ``NOT_FOUND``: :class:`~zenjobs.errors.ConfigurationError`, "does not exist:
  run terraform apply";
- ``PERMISSION_DENIED`` / ``UNAUTHENTICATED``: ConfigurationError with the
  role or the login step needed;
- ``FAILED_PRECONDITION``: ConfigurationError (pausing a job that is not
  enabled, for instance);
- ``UNAVAILABLE`` / ``DEADLINE_EXCEEDED`` / ``RESOURCE_EXHAUSTED`` / ``INTERNAL``:
  :class:`~zenjobs.errors.BackendUnavailableError` (try again);
- anything else: :class:`~zenjobs.errors.ZenjobsError`.

(That rule is :func:`zenjobs.gcp.errors.translate`, shared with the
Cloud Tasks queue and the Firestore store.)

``google.cloud.scheduler_v1`` is imported on first use only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from ..errors import ZenjobsError
from ..vocabulary import MASTER_JOB_ID
from . import errors
from .clients import LazyClient, grpc_client

__all__ = ["MasterJobState", "SchedulerClient", "SchedulerControl"]


class SchedulerClient(Protocol):
    """The methods used of ``google.cloud.scheduler_v1.CloudSchedulerAsyncClient``."""

    async def pause_job(self, request: Any = None, *, retry: Any = ...,
                        timeout: Any = ...) -> Any: ...

    async def resume_job(self, request: Any = None, *, retry: Any = ...,
                         timeout: Any = ...) -> Any: ...

    async def run_job(self, request: Any = None, *, retry: Any = ...,
                      timeout: Any = ...) -> Any: ...


@dataclass(frozen=True)
class MasterJobState:
    """The master job as Cloud Scheduler reports it after a call."""

    name: str
    state: str  # ENABLED, PAUSED, DISABLED, UPDATE_FAILED, STATE_UNSPECIFIED
    schedule: str
    next_schedule_time: datetime | None


class SchedulerControl:
    """Pause, resume or run the master Cloud Scheduler job.

    ``client`` is any :class:`SchedulerClient` (tests inject one connected to an
    in-process gRPC server); without it a ``CloudSchedulerAsyncClient`` is
    created on first use, to ``endpoint`` (``127.0.0.1:PORT``, plain gRPC) when
    given, else to Google with the ambient credentials.
    """

    def __init__(self, project: str, location: str, job_name: str = MASTER_JOB_ID, *,
                 client: SchedulerClient | None = None, endpoint: str | None = None,
                 call_timeout: float = 30.0) -> None:
        errors.require_settings("Cloud Scheduler master job", project=project,
                                location=location, job_name=job_name)
        self.project = project
        self.location = location
        self.job_name = job_name
        self._client: LazyClient[SchedulerClient] = LazyClient(
            lambda: _make_client(endpoint), client)
        self._call_timeout = call_timeout

    @property
    def job_path(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/jobs/{self.job_name}"

    async def pause(self) -> MasterJobState:
        """Stop the master tick: no job fires until :meth:`resume` (endpoint jobs still run)."""
        return await self._call("pause", "pause_job", "PauseJobRequest")

    async def resume(self) -> MasterJobState:
        """Restart the master tick; it fires at its next minute."""
        return await self._call("resume", "resume_job", "ResumeJobRequest")

    async def run(self) -> MasterJobState:
        """Send one master tick now (Cloud Scheduler's "force run")."""
        return await self._call("run", "run_job", "RunJobRequest")

    async def close(self) -> None:
        """Close the client this object created (an injected client is the caller's)."""
        await self._client.close()

    async def _call(self, verb: str, method: str, request_type: str) -> MasterJobState:
        from google.api_core import exceptions as api_exceptions
        from google.cloud import scheduler_v1

        request = getattr(scheduler_v1, request_type)(name=self.job_path)
        call = getattr(self._client.get(), method)
        try:
            job = await call(request=request, retry=None, timeout=self._call_timeout)
        except api_exceptions.GoogleAPICallError as exc:
            raise self._error(verb, exc) from exc
        return _state(job, self.job_path)

    def _error(self, verb: str, exc: Exception) -> ZenjobsError:
        return errors.translate(exc, f"cannot {verb} the master job {self.job_path}", {
            "NOT_FOUND": "it does not exist: run terraform apply, "
                         "zenjobs gen-infra declares it",
            "PERMISSION_DENIED": "permission denied: your account needs "
                                 f"roles/cloudscheduler.admin on project {self.project}",
            "UNAUTHENTICATED": "no valid Google credentials: "
                               "run `gcloud auth application-default login`",
            "FAILED_PRECONDITION": "not possible in its current state",
        })


def _state(job: Any, fallback_name: str) -> MasterJobState:
    state = getattr(job, "state", None)
    when = getattr(job, "schedule_time", None)
    next_time: datetime | None = None
    if isinstance(when, datetime) and when.timestamp() > 0:
        next_time = when.astimezone(timezone.utc) if when.tzinfo else when.replace(
            tzinfo=timezone.utc)
    return MasterJobState(
        name=str(getattr(job, "name", "") or fallback_name),
        state=str(getattr(state, "name", state) or "STATE_UNSPECIFIED"),
        schedule=str(getattr(job, "schedule", "") or ""),
        next_schedule_time=next_time,
    )


def _make_client(endpoint: str | None) -> SchedulerClient:
    """A CloudSchedulerAsyncClient; over plain gRPC to ``endpoint`` when it is set."""
    from google.cloud import scheduler_v1
    from google.cloud.scheduler_v1.services.cloud_scheduler.transports import (
        CloudSchedulerGrpcAsyncIOTransport,
    )

    client: SchedulerClient = grpc_client(scheduler_v1.CloudSchedulerAsyncClient,
                                           CloudSchedulerGrpcAsyncIOTransport, endpoint)
    return client
