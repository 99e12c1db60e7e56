"""OIDC end to end: the real engine, production-mode executor, tokens minted here.

``ZenJobsExecutor.production`` takes the store, queue and verifier injected
(SQLite in a temp dir, a simulated queue, an :class:`OidcVerifier` whose
certificate URL is a local server); the app is served by uvicorn. Every bad
token is refused with 401/403 and writes no run record; a valid delivery runs
once; the same delivery again is acknowledged 200 without running.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from tests.webhook.test_oidc import AUDIENCE, INVOKER, Key, bad_tokens, mint
from zenjobs import ZenJobs
from zenjobs.gcp.oidc import OidcVerifier
from zenjobs.queues.pushers import HttpPusher
from zenjobs.queues.simulated import SimulatedCloudTasks
from zenjobs.runtime.executor import ZenJobsExecutor
from zenjobs.stores.records import RunStatus
from zenjobs.stores.sqlite.store import SqliteJobStore
from zenjobs.testing import (
    MemoryTelemetry,
    VirtualClock,
    cloud_scheduler_request,
    cloud_tasks_request,
    envelope,
)

from .conftest import Served, serve_executor
from .support import ENDPOINT_JOBS, Calls, runs_of

UTC = timezone.utc


@pytest.fixture
async def secured(registry: ZenJobs, clock: VirtualClock, telemetry: MemoryTelemetry,
                  certs_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    def build(base_url: str) -> ZenJobsExecutor:
        # The audience is the configured service URL (what Cloud Tasks signs for), not
        # the loopback address uvicorn happens to listen on.
        return ZenJobsExecutor.production(
            registry, project="zj-e2e", service_url=AUDIENCE, invoker_service_account=INVOKER,
            store=SqliteJobStore(tmp_path / "prod.sqlite3"),
            queue=SimulatedCloudTasks(clock, HttpPusher()), clock=clock, telemetry=telemetry,
            verifier=OidcVerifier(AUDIENCE, [INVOKER], certs_url=certs_url),
            loop_lag_threshold=None, environ={})

    with serve_executor(build) as served:
        await served.executor.start()
        try:
            yield served
        finally:
            await served.executor.shutdown()


async def test_bad_tokens_are_refused_and_nothing_runs(
        secured: Served, calls: Calls, oidc_key: Key, forged_key: Key) -> None:
    task = envelope("send_email", {"user": 1}, execution_id="send_email-oidc-bad")
    tick_time = datetime(2026, 1, 5, 9, 1, tzinfo=UTC)
    async with httpx.AsyncClient(base_url=secured.base_url, trust_env=False) as http:
        for case, (token, status) in bad_tokens(oidc_key, forged_key).items():
            path, headers, body = cloud_tasks_request(task, token=token)
            if token == "":
                headers["Authorization"] = "Bearer"  # h11 refuses a trailing space
            response = await http.post(path, content=body, headers=headers)
            assert response.status_code == status, (case, response.text)
            code = "unauthenticated" if status == 401 else "permission_denied"
            assert response.json()["error"]["code"] == code, case
            path, headers, body = cloud_scheduler_request(tick_time, token=token or None)
            tick = await http.post(path, content=body, headers=headers)
            assert tick.status_code == (401 if token in (None, "") else status), case
    assert calls.total() == 0
    assert await runs_of(secured.store, ENDPOINT_JOBS) == []
    assert "master.tick" not in secured.executor.telemetry.names()  # type: ignore[union-attr]


async def test_valid_token_runs_once_and_a_duplicate_is_acknowledged(
        secured: Served, calls: Calls, oidc_key: Key) -> None:
    task = envelope("send_email", {"user": 7}, execution_id="send_email-oidc-ok")
    async with httpx.AsyncClient(base_url=secured.base_url, trust_env=False) as http:
        path, headers, body = cloud_tasks_request(task, token=mint(oidc_key))
        first = await http.post(path, content=body, headers=headers)
        assert first.status_code == 200, first.text
        assert first.json()["status"] == "success"
        # Cloud Tasks delivers again (lost ack): a fresh token, the same envelope.
        path, headers, body = cloud_tasks_request(task, token=mint(oidc_key), retry_count=1)
        again = await http.post(path, content=body, headers=headers)
        assert again.status_code == 200, again.text
        assert again.json()["status"] == "success"
        path, headers, body = cloud_scheduler_request(datetime(2026, 1, 5, 9, 1, tzinfo=UTC),
                                                      token=mint(oidc_key))
        tick = await http.post(path, content=body, headers=headers)
        assert tick.status_code == 200 and tick.json()["claimed"] == 0
    assert calls["send_email"] == 1
    run = await secured.store.get_run("send_email", "send_email-oidc-ok")
    assert run is not None and run.status is RunStatus.SUCCESS and run.attempt == 1
    assert [c.payload for c in calls.contexts] == [{"user": 7}]
