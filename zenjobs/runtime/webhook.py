"""The webhook: an ASGI app for Cloud Tasks deliveries and the master tick.

It only speaks HTTP: identity (OIDC, when a verifier is configured), content
type, a bounded body read, path and header parsing, and the mapping of
:mod:`zenjobs.runtime.protocol`'s exceptions to status codes. Every error is a
JSON body ``{"error": {"code": ..., "message": ...}}``; nothing a client sends
can produce a stack trace or a 500 (an unexpected exception is logged here and
answered with a generic 500, which is a bug to fix, not a contract).

Services use ``zenjobs.integrations.mount(app, executor)``, which mounts it at
``/_zenjobs`` only; by hand::

    app.mount("/_zenjobs", create_app(engine, verifier=verifier, prefix=""))

(Mounted at ``/``, it would answer every other path of the app with its 404.)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import (
    AuthenticationError,
    BackendUnavailableError,
    InvalidRequestError,
    LeaseHeldError,
    PermissionDeniedError,
    UnknownJobError,
)
from ..gcp.oidc import OidcVerifier
from ..queues.limits import QUEUE_ID_PATTERN, TASK_ID_PATTERN
from ..schedule import INSTANT_RANGE, in_instant_range
from ..vocabulary import JOB_ID_PATTERN
from .envelope import MAX_REQUEST_BYTES
from .protocol import MOUNT_PATH, Rejection, WebhookHandler

log = logging.getLogger(__name__)

SCHEDULE_TIME_HEADER = "x-cloudscheduler-scheduletime"
#: The Cloud Tasks headers a delivery may carry, and the form each must have when present.
_COUNT = re.compile(r"^[0-9]{1,9}\Z")
#: A queue id, or (as the Cloud Tasks emulator sends it) the queue's full resource name.
_QUEUE = re.compile(r"^(projects/[a-z0-9.:-]{1,100}/locations/[a-z0-9-]{1,50}/queues/)?"
                    + QUEUE_ID_PATTERN.pattern.lstrip("^"))
TASK_HEADERS: Mapping[str, re.Pattern[str]] = {
    "X-CloudTasks-TaskName": TASK_ID_PATTERN,
    "X-CloudTasks-QueueName": _QUEUE,
    "X-CloudTasks-TaskRetryCount": _COUNT,
    "X-CloudTasks-TaskExecutionCount": _COUNT,
}
#: Seconds a client should wait before retrying a 503 (lease held, outage).
RETRY_AFTER_SECONDS = 10

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)


class _HttpError(Exception):
    """An error answered with ``status`` and a JSON error body."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None,
        *, field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.field = field


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None,
    field: str | None = None,
) -> JSONResponse:
    """The one JSON error shape every webhook error uses (``field`` when one is at fault)."""
    error: dict[str, str] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (offset required) into an aware UTC datetime.

    Stricter than :func:`datetime.fromisoformat` on purpose: Cloud Scheduler
    sends RFC 3339, and anything else in that header is a malformed request.
    Instants outside the accepted range (:func:`~zenjobs.schedule.in_instant_range`) are
    refused too.
    """
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = (match.group(7) or "").ljust(6, "0")[:6]
    if match.group(8):
        tz = timezone.utc
    else:
        sign = 1 if match.group(9) == "+" else -1
        offset_h, offset_m = int(match.group(10)), int(match.group(11))
        if offset_h > 23 or offset_m > 59:
            raise ValueError(f"bad offset in {text!r}")
        tz = timezone(sign * timedelta(hours=offset_h, minutes=offset_m))
    second = min(second, 59)  # a leap second is read as :59
    parsed = datetime(year, month, day, hour, minute, second, int(fraction), tzinfo=tz)
    if not in_instant_range(parsed):
        raise ValueError(f"out of range: {text!r}")
    return parsed.astimezone(timezone.utc)


def check_task_headers(headers: Mapping[str, str]) -> None:
    """Refuse (400, naming the header) a Cloud Tasks header that is present but malformed.

    Absent headers are fine: ``zenjobs dev``'s tools and tests may post directly.
    ``headers`` has lower-cased names, repeated ones joined (so a repeat is refused).
    """
    for name, pattern in TASK_HEADERS.items():
        value = headers.get(name.lower())
        if value is not None and not pattern.fullmatch(value):
            raise _HttpError(400, "invalid_request", f"{name} is malformed", field=name)


def _lowered_headers(request: Request) -> dict[str, str]:
    """Header names lower-cased; repeated headers joined with ', ' (RFC 9110)."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():  # Starlette already lower-cases names
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _is_json_content_type(value: str | None) -> bool:
    if not value:
        return False
    media_type = value.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def _read_body(request: Request, limit: int = MAX_REQUEST_BYTES) -> bytes:
    """Read at most ``limit`` bytes; refuse (413) as soon as the body is known to be larger."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdecimal() or not declared.isascii():
            raise _HttpError(400, "invalid_request", "Content-Length is not a number",
                             field="Content-Length")
        if int(declared) > limit:
            raise _HttpError(413, "payload_too_large", f"body is over {limit} bytes",
                             field="body")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _HttpError(413, "payload_too_large", f"body is over {limit} bytes",
                             field="body")
        chunks.append(chunk)
    return b"".join(chunks)


def check_json_object(body: bytes) -> None:
    """Refuse (400) a body that is not one strict JSON object (the master tick's optional body)."""
    try:
        value = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        raise _HttpError(400, "invalid_request", "body is not strict JSON",
                         field="body") from None
    if not isinstance(value, dict):
        raise _HttpError(400, "invalid_request", "body must be a JSON object", field="body")


def _map_exception(exc: Exception) -> _HttpError | None:
    """The status of each exception the handler may raise (protocol.py's table)."""
    if isinstance(exc, _HttpError):
        return exc
    if isinstance(exc, InvalidRequestError):
        return _HttpError(400, "invalid_request", str(exc), field=exc.field)
    if isinstance(exc, UnknownJobError):
        return _HttpError(404, "unknown_job", str(exc))
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if isinstance(exc, LeaseHeldError):
        return _HttpError(503, "lease_held", str(exc) or "another holder runs it now", retry)
    if isinstance(exc, BackendUnavailableError):
        log.warning("webhook answered 503: backend unavailable: %s", exc)
        return _HttpError(
            503,
            "backend_unavailable",
            "the job store or task queue is unavailable; retry later",
            retry,
        )
    if isinstance(exc, AuthenticationError):
        return _HttpError(401, "unauthenticated", str(exc), {"WWW-Authenticate": "Bearer"},
                          field="Authorization")
    if isinstance(exc, PermissionDeniedError):
        return _HttpError(403, "permission_denied", str(exc), field="Authorization")
    return None


Endpoint = Callable[[Request], Awaitable[Response]]


def _guarded(endpoint: Endpoint, verifier: OidcVerifier | None, route: str,
             handler: WebhookHandler) -> Endpoint:
    """Authenticate (if configured), run ``endpoint`` and turn every exception into JSON.

    A refusal (4xx) is reported to ``handler.rejected`` (the ``request.rejected``
    event) once the answer is decided: nothing was run or written for it.
    """

    async def guarded(request: Request) -> Response:
        try:
            if verifier is not None:
                await verifier.verify_header(request.headers.get("authorization"))
            return await endpoint(request)
        except Exception as exc:
            mapped = _map_exception(exc)
            if mapped is None:
                log.exception("unexpected error in webhook %s %s", request.method, request.url.path)
                return error_response(500, "internal", "internal error")
            if mapped.status < 500:
                _report(handler, request, route, mapped)
            return error_response(mapped.status, mapped.code, mapped.message, mapped.headers,
                                  mapped.field)

    return guarded


#: A refusal's message is client-controlled in part: the event keeps a bounded prefix.
_MAX_REPORTED_MESSAGE = 300


def _report(handler: WebhookHandler, request: Request, route: str, error: _HttpError) -> None:
    job_id = request.path_params.get("job_id")
    try:
        handler.rejected(Rejection(
            route=route, status=error.status, code=error.code,
            message=error.message[:_MAX_REPORTED_MESSAGE], field=error.field,
            job_id=job_id if isinstance(job_id, str) and JOB_ID_PATTERN.fullmatch(job_id)
            else None))
    except Exception:  # reporting must never change the answer
        log.warning("could not report a rejected request", exc_info=True)


def _json_body(value: Mapping[str, Any]) -> JSONResponse:
    return JSONResponse(dict(value))


def create_app(
    handler: WebhookHandler,
    *,
    verifier: OidcVerifier | None = None,
    prefix: str = "/_zenjobs",
) -> Starlette:
    """Build the webhook ASGI app over ``handler``.

    With a ``verifier`` (production) every route but health requires a valid
    Google OIDC token; without one (development) nothing is checked, so only
    serve that on 127.0.0.1.
    """
    prefix = prefix.rstrip("/")
    if prefix and not prefix.startswith("/"):
        raise ValueError(f"prefix must start with '/', got {prefix!r}")

    async def run(request: Request) -> Response:
        job_id = request.path_params["job_id"]
        if not JOB_ID_PATTERN.fullmatch(job_id):
            raise _HttpError(400, "invalid_request", "job id in the URL is not a valid job id",
                             field="job_id")
        if not _is_json_content_type(request.headers.get("content-type")):
            raise _HttpError(415, "unsupported_media_type", "Content-Type must be application/json",
                             field="Content-Type")
        headers = _lowered_headers(request)
        check_task_headers(headers)
        body = await _read_body(request)
        outcome = await handler.deliver(job_id, body, headers)
        return JSONResponse(dict(outcome.body), status_code=outcome.status_code)

    async def master(request: Request) -> Response:
        schedule_time: datetime | None = None
        raw_time = request.headers.get(SCHEDULE_TIME_HEADER)
        if raw_time is not None:
            try:
                schedule_time = parse_rfc3339(raw_time)
            except ValueError:
                raise _HttpError(
                    400,
                    "invalid_request",
                    f"X-CloudScheduler-ScheduleTime is not an RFC 3339 timestamp {INSTANT_RANGE}",
                    field="X-CloudScheduler-ScheduleTime",
                ) from None
        body = await _read_body(request)
        # The tick needs no body; one that is sent must still be a JSON object.
        if body.strip():
            if not _is_json_content_type(request.headers.get("content-type")):
                raise _HttpError(415, "unsupported_media_type",
                                 "Content-Type must be application/json", field="Content-Type")
            check_json_object(body)
        return _json_body(await handler.master_tick(schedule_time))

    async def health(request: Request) -> Response:
        body = await handler.health()
        if verifier is not None:  # no token needed, so say nothing about instances or jobs
            return _json_body({"status": body.get("status", "ok")})
        return _json_body(body)

    async def http_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.status_code == 405:
            error = _HttpError(405, "method_not_allowed", "method not allowed", exc.headers)
        elif isinstance(exc, HTTPException) and exc.status_code == 404:
            error = _HttpError(404, "not_found", "no such path")
        else:
            status = exc.status_code if isinstance(exc, HTTPException) else 500
            error = _HttpError(status, "http_error", "request refused")
        if error.status < 500:
            _report(handler, request, "other", error)
        return error_response(error.status, error.code, error.message, error.headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled webhook error", exc_info=exc)
        return error_response(500, "internal", "internal error")

    routes = [
        Route(f"{prefix}/run/{{job_id}}", _guarded(run, verifier, "run", handler),
              methods=["POST"]),
        Route(f"{prefix}/master", _guarded(master, verifier, "master", handler),
              methods=["POST"]),
        Route(f"{prefix}/health", _guarded(health, None, "health", handler), methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )


# -- mounting the executor in a service (ZenJobsExecutor.app / .routes) --------------------

ASGIApp = Callable[..., Any]


def under(prefix: str, root: str) -> bool:
    """Whether ``prefix`` is ``root`` or a path below it."""
    prefix = prefix.rstrip("/")
    return prefix == root or prefix.startswith(root + "/")


def shadowing(scope: Mapping[str, Any]) -> bool:
    """Whether a parent router with other routes handed ``executor.app`` a path outside
    ``/_zenjobs`` (so it is mounted at "/" and may hide the service's own routes)."""
    if scope.get("type") != "http" or len(getattr(scope.get("router"), "routes", ())) < 2:
        return False
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    return not under(path or "/", MOUNT_PATH)


def with_extension(webhook: ASGIApp, prefix: str, extension: ASGIApp) -> ASGIApp:
    """Route ``prefix`` and everything under it to ``extension``, the rest to ``webhook``."""
    prefix = prefix.rstrip("/")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        # As Starlette's Mount does: the path stays whole, root_path gains the prefix.
        path = scope.get("path", "") if scope["type"] in ("http", "websocket") else ""
        root = scope.get("root_path", "")
        full = root + prefix
        if path == full or path.startswith(full + "/"):
            await extension(dict(scope, root_path=full), receive, send)
        else:
            await webhook(scope, receive, send)

    return app
