"""Fixtures for the task queue tests: an HTTP target that records pushes.

The target is a plain ASGI application served by a real uvicorn on 127.0.0.1
(random port, ``zenjobs.testing.http.serve_app``), so the simulated queue's HttpPusher and
the gcloud-tasks-emulator both deliver to it over real sockets. The emulator itself is the
session fixture ``tasks_emulator`` of ``tests/emulators/fixtures.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from zenjobs.testing.http import serve_app


@dataclass(frozen=True)
class Pushed:
    """One request the target received."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass
class RecordingTarget:
    """An ASGI app answering with scripted statuses (then ``default``) and recording requests."""

    statuses: list[int] = field(default_factory=list)
    default: int = 200
    delay: float = 0.0  # seconds to wait before answering (dispatch-deadline tests)
    requests: list[Pushed] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.requests.append(Pushed(scope["method"], scope["path"], headers, body))
        status = self.statuses.pop(0) if self.statuses else self.default
        if self.delay:
            await asyncio.sleep(self.delay)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def wait_for(self, count: int, limit: float = 20.0) -> None:
        """Wait until ``count`` requests arrived (``limit`` only bounds a failing test)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while len(self.requests) < count:
            if loop.time() > deadline:
                raise AssertionError(f"expected {count} pushes, got {len(self.requests)}")
            await asyncio.sleep(0.02)


@dataclass
class ServedTarget:
    target: RecordingTarget
    base_url: str


@pytest.fixture
def http_target() -> Iterator[ServedTarget]:
    """A RecordingTarget behind a real uvicorn on 127.0.0.1 and a free port."""
    target = RecordingTarget()
    with serve_app(target) as base_url:
        yield ServedTarget(target, base_url)

