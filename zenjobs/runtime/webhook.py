"""The webhook: an ASGI app for Cloud Tasks deliveries and the master tick.

It only speaks HTTP: identity (OIDC, when a verifier is configured), content
type, a bounded body read, path and header parsing, and the mapping of
:mod:`zenjobs.runtime.protocol`'s exceptions to status codes. Every error is a
JSON body ``{"error": {"code": ..., "message": ...}}``; nothing a client sends
can produce a stack trace or a 500 (an unexpected exception is logged here and
answered with a generic 500, which is a bug to fix, not a contract).

Mount it under any ASGI app::

    app = FastAPI()
    app.mount("/", create_app(engine, verifier=verifier))           # /_zenjobs/...
    # or: Mount("/_zenjobs", app=create_app(engine, prefix=""))
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

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
from ..vocabulary import JOB_ID_PATTERN
from .envelope import MAX_REQUEST_BYTES
from .protocol import WebhookHandler

log = logging.getLogger(__name__)

SCHEDULE_TIME_HEADER = "x-cloudscheduler-scheduletime"
#: Seconds a client should wait before retrying a 503 (lease held, outage).
RETRY_AFTER_SECONDS = 10

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)


class _HttpError(Exception):
    """An error answered with ``status`` and a JSON error body."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The one JSON error shape every webhook error uses."""
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (offset required) into an aware UTC datetime.

    Stricter than :func:`datetime.fromisoformat` on purpose: Cloud Scheduler
    sends RFC 3339, and anything else in that header is a malformed request.
    """
    match = _RFC3339.match(text.strip())
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
    return parsed.astimezone(timezone.utc)


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
            raise _HttpError(400, "invalid_request", "Content-Length is not a number")
        if int(declared) > limit:
            raise _HttpError(413, "payload_too_large", f"body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _HttpError(413, "payload_too_large", f"body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _map_exception(exc: Exception) -> _HttpError | None:
    """The status of each exception the handler may raise (protocol.py's table)."""
    if isinstance(exc, _HttpError):
        return exc
    if isinstance(exc, InvalidRequestError):
        return _HttpError(400, "invalid_request", str(exc))
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
        return _HttpError(401, "unauthenticated", str(exc), {"WWW-Authenticate": "Bearer"})
    if isinstance(exc, PermissionDeniedError):
        return _HttpError(403, "permission_denied", str(exc))
    return None


Endpoint = Callable[[Request], Awaitable[Response]]


def _guarded(endpoint: Endpoint, verifier: OidcVerifier | None) -> Endpoint:
    """Authenticate (if configured), run ``endpoint`` and turn every exception into JSON."""

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
            return error_response(mapped.status, mapped.code, mapped.message, mapped.headers)

    return guarded


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
        if not JOB_ID_PATTERN.match(job_id):
            raise _HttpError(400, "invalid_request", "job id in the URL is not a valid job id")
        if not _is_json_content_type(request.headers.get("content-type")):
            raise _HttpError(415, "unsupported_media_type", "Content-Type must be application/json")
        body = await _read_body(request)
        outcome = await handler.deliver(job_id, body, _lowered_headers(request))
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
                    "X-CloudScheduler-ScheduleTime is not an RFC 3339 timestamp",
                ) from None
        body = await _read_body(request)
        # The tick needs no body; one that is sent must still be JSON.
        if body.strip() and not _is_json_content_type(request.headers.get("content-type")):
            raise _HttpError(415, "unsupported_media_type", "Content-Type must be application/json")
        return _json_body(await handler.master_tick(schedule_time))

    async def health(request: Request) -> Response:
        body = await handler.health()
        if verifier is not None:  # no token needed, so say nothing about instances or jobs
            return _json_body({"status": body.get("status", "ok")})
        return _json_body(body)

    async def http_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.status_code == 405:
            return error_response(405, "method_not_allowed", "method not allowed", exc.headers)
        if isinstance(exc, HTTPException) and exc.status_code == 404:
            return error_response(404, "not_found", "no such path")
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        return error_response(status, "http_error", "request refused")

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled webhook error", exc_info=exc)
        return error_response(500, "internal", "internal error")

    routes = [
        Route(f"{prefix}/run/{{job_id}}", _guarded(run, verifier), methods=["POST"]),
        Route(f"{prefix}/master", _guarded(master, verifier), methods=["POST"]),
        Route(f"{prefix}/health", _guarded(health, None), methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
