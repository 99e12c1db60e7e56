"""The newsletter service: a Starlette app with the zenjobs runtime mounted.

* ``GET /``: a small JSON index.
* ``POST /subscribe``: ``{"user_id": "..."}`` (JSON or an HTML form) schedules
  the ``send_welcome_email`` job and answers 202 with its execution id. The
  idempotency key is the user id (or the ``Idempotency-Key`` header), so a
  double submit sends one email.
* ``/_zenjobs/...``: the webhook Cloud Tasks and Cloud Scheduler call, and the
  dashboard at ``/_zenjobs/ui``; ``zenjobs.integrations.mount`` adds them (and
  nothing outside ``/_zenjobs``) and runs the executor's start and shutdown
  around this service's own lifespan.

The mode comes from ``ZENJOBS_MODE`` (``ZenJobsExecutor.from_env``):
``production`` builds ``ZenJobsExecutor.production(jobs)`` (settings from
``ZENJOBS_*`` variables, Firestore and Cloud Tasks clients created on first
use, OIDC required, the dashboard on when ``ZENJOBS_DASHBOARD_*`` names
principals); unset or ``development`` builds
``ZenJobsExecutor.development(jobs)``. Any other value is refused, and so is
development mode on Cloud Run (``K_SERVICE`` set), because the development
webhook has no authentication.

Run it locally with ``zenjobs dev`` (or ``make dev``); in development mode the
service schedules one demo welcome email at start, so the log shows one.
Deploy it with ``examples/newsletter/Dockerfile``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from zenjobs import ZenJobsExecutor
from zenjobs.dashboard import Dashboard
from zenjobs.errors import BackendUnavailableError, InvalidRequestError, PayloadError
from zenjobs.integrations import mount

from .jobs import jobs

MAX_BODY_BYTES = 16 * 1024
MAX_USER_ID_CHARS = 200
DEMO_USER = "demo-subscriber"


# ZENJOBS_MODE picks the mode; in production the dashboard is on when
# ZENJOBS_DASHBOARD_OPERATORS / _VIEWERS name principals.
executor = ZenJobsExecutor.from_env(jobs, dashboard_factory=Dashboard.from_env)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def index(request: Request) -> JSONResponse:
    return JSONResponse({
        "service": "newsletter",
        "mode": executor.mode,
        "endpoints": {
            "POST /subscribe": 'schedule a welcome email: {"user_id": "..."}',
            "GET /_zenjobs/health": "runtime health",
            "GET /_zenjobs/ui/": "the dashboard (development; production when enabled)",
        },
        "jobs": sorted(desc.id for desc in jobs),
    })


async def _read_fields(request: Request) -> dict[str, Any]:
    """The request's fields from a JSON object or a urlencoded form; ValueError otherwise."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise ValueError(f"body is over {MAX_BODY_BYTES} bytes")
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(body.decode("utf-8", errors="replace")))
    if media_type not in ("application/json", ""):
        raise ValueError("send JSON or an application/x-www-form-urlencoded form")
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValueError('expected a JSON object like {"user_id": "..."}')
    return data


def _user_id(fields: Mapping[str, Any]) -> str:
    value = fields.get("user_id")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("field 'user_id' is required (a string or an integer)")
    text = str(value).strip()
    if not text or len(text) > MAX_USER_ID_CHARS:
        raise ValueError(f"field 'user_id' must be 1 to {MAX_USER_ID_CHARS} characters")
    return text


async def subscribe(request: Request) -> JSONResponse:
    try:
        user_id = _user_id(await _read_fields(request))
    except ValueError as exc:
        return _error(400, "invalid_request", str(exc))
    key = request.headers.get("idempotency-key") or f"welcome:{user_id}"
    try:
        execution_id = await executor.schedule(
            "send_welcome_email", payload={"user_id": user_id}, idempotency_key=key)
    except (InvalidRequestError, PayloadError) as exc:
        return _error(400, "invalid_request", str(exc))
    except BackendUnavailableError:
        return _error(503, "unavailable", "the job store or queue is unavailable; retry later")
    return JSONResponse({"job_id": "send_welcome_email", "execution_id": execution_id,
                         "user_id": user_id}, status_code=202)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # mount() below starts the executor before this runs and shuts it down after.
    if executor.mode == "development":
        # The demo: one welcome email per start, so `make dev` shows one succeed.
        await executor.schedule("send_welcome_email", payload={"user_id": DEMO_USER})
    yield


app = Starlette(
    routes=[
        Route("/", index, methods=["GET"]),
        Route("/subscribe", subscribe, methods=["POST"]),
    ],
    lifespan=lifespan,
)
# /_zenjobs/run/{job}, /_zenjobs/master, /_zenjobs/health, /_zenjobs/ui; nothing else.
mount(app, executor)
