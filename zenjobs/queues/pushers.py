"""How the simulated Cloud Tasks queue delivers a task: in-process or over real HTTP.

A pusher sends one POST and answers the HTTP status; it never raises for a
failed delivery, because Cloud Tasks does not either: a connection failure is
just an unsuccessful attempt (seen here as 503, a timeout as 504) that the
queue retries with its backoff.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import httpx


class Pusher(Protocol):
    async def push(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST ``body`` to ``url`` and return the response's status code."""
        ...


class AsgiPusher:
    """Delivers into an ASGI application in this process (no socket; for tests and dev).

    The request is handed to the application directly as one ASGI HTTP call
    (what an ASGI server would pass it, without the socket or an HTTP client
    in between, which would cost more than the delivery itself). Only the
    URL's path and query matter; the application's own exceptions become a
    500 answer, as a real server would send.
    """

    def __init__(self, app: Any) -> None:
        self._app = app

    async def push(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        parts = urlsplit(url)
        raw_headers = [(b"host", (parts.netloc or "localhost").encode("latin-1")),
                       (b"content-length", str(len(body)).encode("latin-1"))]
        raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1"))
                        for k, v in headers.items()
                        if k.lower() not in ("host", "content-length")]
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "method": "POST", "scheme": parts.scheme or "http",
            "path": unquote(parts.path) or "/", "raw_path": (parts.path or "/").encode("latin-1"),
            "query_string": parts.query.encode("latin-1"), "root_path": "",
            "headers": raw_headers, "client": ("127.0.0.1", 0),
            "server": (parts.hostname or "localhost", parts.port or 80),
        }
        status: int | None = None
        body_sent = False
        finished = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await finished.wait()  # like a client that stays until the response ends
            return {"type": "http.disconnect"}

        async def send(message: Mapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finished.set()

        try:
            await self._app(scope, receive, send)
        except Exception:
            return 500 if status is None else status
        finally:
            finished.set()
        return 500 if status is None else status

    async def aclose(self) -> None:
        """Nothing to release; kept so every pusher closes the same way."""


class HttpPusher:
    """Delivers over real HTTP (``zenjobs dev`` pushing to the local service).

    ``timeout`` plays the task's dispatch deadline (Cloud Tasks' default for HTTP
    targets is 10 minutes). Proxies from the environment are ignored: the
    target is a local service. Redirects are not followed: Cloud Tasks counts
    a 3xx as a failed attempt.
    """

    def __init__(self, timeout: float = 600.0) -> None:
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None

    async def push(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, trust_env=False,
                                             follow_redirects=False)
        try:
            response = await self._client.post(url, content=body, headers=dict(headers))
        except httpx.TimeoutException:
            return 504
        except httpx.TransportError:
            return 503
        return response.status_code

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
