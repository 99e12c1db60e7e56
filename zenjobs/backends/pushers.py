"""How the simulated Cloud Tasks queue delivers a task: in-process or over real HTTP.

A pusher sends one POST and answers the HTTP status; it never raises for a
failed delivery, because Cloud Tasks does not either: a connection failure is
just an unsuccessful attempt (seen here as 503, a timeout as 504) that the
queue retries with its backoff.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import httpx


class Pusher(Protocol):
    async def push(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST ``body`` to ``url`` and return the response's status code."""
        ...


class AsgiPusher:
    """Delivers into an ASGI application in this process (no socket; for tests).

    Only the URL's path and query matter; the application's own exceptions
    become a 500 answer, as a real server would send.
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._client: httpx.AsyncClient | None = None

    async def push(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        if self._client is None:
            transport = httpx.ASGITransport(app=self._app, raise_app_exceptions=False)
            self._client = httpx.AsyncClient(transport=transport)
        response = await self._client.post(url, content=body, headers=dict(headers))
        return response.status_code

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


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
