"""The seam between the HTTP layer and the job engine.

The webhook (ASGI) only parses HTTP, checks identity and maps exceptions to
status codes; everything else happens behind :class:`WebhookHandler`. Keeping
this seam narrow lets the webhook be tested over real HTTP with any engine,
and the engine be tested without HTTP.

Exception → status mapping the webhook applies (DESIGN.md, webhook contract):

* :class:`~zenjobs.errors.InvalidRequestError` → 400
* :class:`~zenjobs.errors.UnknownJobError` → 404 (retryable: a newer revision may know it)
* :class:`~zenjobs.errors.LeaseHeldError` → 503 (another holder runs it now)
* :class:`~zenjobs.errors.BackendUnavailableError` → 503 (store or dispatch outage)
* a returned :class:`DeliveryOutcome` → its status (200 whenever a handler ran
  to an outcome, whatever it was: outcomes are recorded and retries are ours)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

#: Where every route of the executor lives in a service: the webhook (``/run/{job}``,
#: ``/master``, ``/health``) and the dashboard (``/ui``). Nothing outside it is ours.
MOUNT_PATH = "/_zenjobs"


@dataclass(frozen=True)
class DeliveryOutcome:
    """How one task delivery ended, as the webhook should answer it."""

    status_code: int
    body: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejection:
    """A request the webhook refused (4xx) before the engine ran or wrote anything."""

    route: str  # "run", "master", "health" or "other"
    status: int
    code: str
    message: str
    field: str | None = None  # the envelope field or header at fault
    job_id: str | None = None  # from the URL, when it is a well-formed job id


@runtime_checkable
class WebhookHandler(Protocol):
    async def deliver(
        self, job_id: str, body: bytes, headers: Mapping[str, str]
    ) -> DeliveryOutcome:
        """Handle ``POST /_zenjobs/run/{job_id}``; ``headers`` are lower-cased names."""
        ...

    async def master_tick(self, schedule_time: datetime | None) -> Mapping[str, Any]:
        """Handle ``POST /_zenjobs/master``: returns the JSON tick summary.

        ``schedule_time`` is the parsed ``X-CloudScheduler-ScheduleTime`` header,
        or None, in which case the engine uses its clock's now.
        """
        ...

    async def health(self) -> Mapping[str, Any]:
        """Handle ``GET /_zenjobs/health``."""
        ...

    def rejected(self, rejection: Rejection) -> None:
        """Note a refused request (the ``request.rejected`` event); must never raise."""
        ...


@runtime_checkable
class AppExtension(Protocol):
    """Something the executor serves beside its webhook, under ``prefix`` (the dashboard).

    The runtime only knows this seam, so it never imports the dashboard: the
    caller builds the extension (``zenjobs.dashboard.Dashboard``) and passes it
    to the executor, which mounts :meth:`asgi` under ``prefix`` and sends its
    telemetry to ``sink`` as well.
    """

    prefix: str

    @property
    def sink(self) -> Any:
        """A telemetry sink fed every event of the executor, or None."""
        ...

    def asgi(self, executor: Any) -> Any:
        """The ASGI app serving ``prefix`` for ``executor`` (built once, on first use)."""
        ...

    def close(self) -> None:
        """The service is stopping: end long-lived responses (event streams) now."""
        ...
