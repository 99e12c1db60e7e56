"""The dev session hand-off: a development executor built while ``zenjobs dev`` serves
takes the session's collaborators for every argument left at its default."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from examples.newsletter.jobs import jobs
from zenjobs import ZenJobsExecutor
from zenjobs.dev.server import bare_app
from zenjobs.queues.pushers import HttpPusher
from zenjobs.queues.simulated import SimulatedCloudTasks
from zenjobs.runtime.devsession import DevSession, activated, active_session
from zenjobs.stores.sqlite.store import SqliteJobStore
from zenjobs.testing import MemoryTelemetry, VirtualClock


def session_in(tmp_path: Path) -> DevSession:
    clock = VirtualClock()
    return DevSession(store=str(tmp_path / "dev.sqlite3"), clock=clock,
                      telemetry=MemoryTelemetry(),
                      queue=SimulatedCloudTasks(clock, HttpPusher()),
                      service_url="http://127.0.0.1:9999")


def test_defaults_come_from_the_session_and_the_executor_registers(tmp_path: Path) -> None:
    session = session_in(tmp_path)
    with activated(session):
        executor = ZenJobsExecutor.development(jobs, loop_lag_threshold=None)
    assert active_session() is None
    assert session.executors == [executor]
    assert executor.clock is session.clock
    assert executor.telemetry is session.telemetry
    assert executor.queue is session.queue
    assert executor.engine.deps.service_url == "http://127.0.0.1:9999"
    assert isinstance(executor.store, SqliteJobStore)
    assert executor.store.path == session.store
    executor.store.close()


def test_explicit_arguments_win_over_the_session(tmp_path: Path) -> None:
    session = session_in(tmp_path)
    mine = VirtualClock()
    with activated(session):
        executor = ZenJobsExecutor.development(jobs, store=":memory:", clock=mine,
                                               service_url="http://127.0.0.1:7000")
    assert executor.clock is mine
    assert executor.engine.deps.service_url == "http://127.0.0.1:7000"
    assert not isinstance(executor.store, SqliteJobStore)


def test_sessions_do_not_nest(tmp_path: Path) -> None:
    with activated(session_in(tmp_path)):
        inner = activated(session_in(tmp_path))
        with pytest.raises(RuntimeError, match="already active"):
            inner.__enter__()
        assert active_session() is not None
    assert active_session() is None


async def test_bare_app_serves_the_webhook_and_syncs_the_registry(tmp_path: Path) -> None:
    session = session_in(tmp_path)
    with activated(session):
        app = bare_app(jobs)
    assert len(session.executors) == 1
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1:9999") as client:
        health = await client.get("/_zenjobs/health")
        assert health.status_code == 200
        assert health.json()["jobs"] == len(jobs)
        unknown = await client.post("/_zenjobs/run/nope", content=b"{}",
                                    headers={"content-type": "application/json"})
        assert unknown.status_code == 404
    with SqliteJobStore(session.store) as store:
        stored = {job.job_id for job in await store.list_jobs()}
    assert stored == {desc.id for desc in jobs}
