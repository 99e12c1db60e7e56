"""Fixtures for the end-to-end tests: real engines served by real uvicorn on 127.0.0.1.

Helpers of other test directories are imported, not copied: token minting and
the local certificate endpoint come from ``tests.webhook.test_oidc``, and the
emulators are the suite-wide session fixtures ``firestore_emulator`` and
``tasks_emulator`` of ``tests/emulators/fixtures.py`` (both fail, never skip,
when missing). The fixtures here are thin wrappers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from tests.webhook.test_oidc import KID, CertServer, Key, make_key
from zenjobs import ZenJobs
from zenjobs.runtime.executor import ZenJobsExecutor
from zenjobs.stores.protocol import JobStore
from zenjobs.testing import MemoryTelemetry, VirtualClock
from zenjobs.testing.http import serve_app

from .support import Calls, LateApp, build_registry

BuildExecutor = Callable[[str], ZenJobsExecutor]
T = TypeVar("T")


@dataclass
class Served:
    """An executor whose webhook app is served over real HTTP at ``base_url``."""

    executor: ZenJobsExecutor
    base_url: str
    app: LateApp

    @property
    def store(self) -> JobStore:
        return self.executor.store

    async def on_server(self, work: Coroutine[Any, Any, T]) -> T:
        """Await ``work`` on the server's event loop (where gRPC clients must live).

        Cloud SDK clients belong to the loop that created them; a production
        executor's store and queue are created by requests on uvicorn's loop, so
        calls that use them (``schedule``, ``shutdown``) are run there too.
        """
        loop = self.app.loop
        if loop is None:
            raise RuntimeError("no request reached the server yet")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, loop))


@contextmanager
def serve_executor(build: BuildExecutor) -> Iterator[Served]:
    """Serve an executor built by ``build(base_url)`` under uvicorn (not started, not closed)."""
    late = LateApp()
    with serve_app(late) as base_url:
        executor = build(base_url)
        late.target = executor.app
        yield Served(executor, base_url, late)


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def registry(calls: Calls) -> ZenJobs:
    return build_registry(calls)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def telemetry() -> MemoryTelemetry:
    return MemoryTelemetry()


@pytest.fixture(scope="module")
def module_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Calls]]:
    """One development executor per module (SQLite in a temp dir), started and served.

    Shared by tests that must never run a handler: each asserts that nothing ran.
    """
    calls = Calls()
    path: Path = tmp_path_factory.mktemp("e2e") / "dev.sqlite3"

    def build(base_url: str) -> ZenJobsExecutor:
        return ZenJobsExecutor.development(
            build_registry(calls), store=str(path), clock=VirtualClock(),
            telemetry=MemoryTelemetry(), service_url=base_url, loop_lag_threshold=None)

    with serve_executor(build) as served:
        asyncio.run(served.executor.start())  # the server runs in its own thread and loop
        try:
            yield served, calls
        finally:
            asyncio.run(served.executor.shutdown())


@pytest.fixture(scope="session")
def oidc_key() -> Key:
    return make_key(KID)


@pytest.fixture(scope="session")
def forged_key() -> Key:
    return make_key(KID)  # same key id, another key: a bad signature


@pytest.fixture(scope="session")
def certs_url(oidc_key: Key) -> Iterator[str]:
    """A local stand-in for Google's certificate endpoint, serving ``oidc_key``'s certificate."""
    server = CertServer(oidc_key)
    with serve_app(Starlette(routes=[Route("/certs", server.endpoint)])) as base_url:
        yield f"{base_url}/certs"

