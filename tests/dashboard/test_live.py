"""Live updates: the dashboard's Server-Sent Events over a real server, and its EventLog.

``GET /_zenjobs/ui/events`` is served by real uvicorn (:func:`serve_app`), read with an
httpx streaming client, and every wait is on the stream's own lines (pytest-timeout
bounds a hang). ``serve_app`` runs uvicorn on its own event loop in a thread, while a
deployed service (and ``zenjobs dev``) runs the jobs and the HTTP server on one loop:
the EventLog's subscriber queues are asyncio queues of that loop. So the executor's
work here (start, trigger, deliveries, ticks, ``stopping()``) is run on the server's
loop too, through :class:`ServerLoop`, as it would be in the service.

The second half unit-tests :class:`~zenjobs.dashboard.events.EventLog` and
:func:`~zenjobs.dashboard.events.attempts_of` without a server.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import httpx
import pytest

from zenjobs import JobContext, JobType, ZenJobs, ZenJobsExecutor
from zenjobs.dashboard import Dashboard, EventLog
from zenjobs.dashboard.app import KEEPALIVE_SECONDS
from zenjobs.dashboard.events import SUBSCRIBER_BACKLOG, Notice, attempts_of, notice_of
from zenjobs.telemetry.protocol import TelemetryEvent
from zenjobs.testing import MemoryTelemetry, VirtualClock, run_until_idle
from zenjobs.testing.http import serve_app

UI = "/_zenjobs/ui"
UTC = timezone.utc
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
T = TypeVar("T")


def build_registry() -> ZenJobs:
    jobs = ZenJobs()
    attempts: list[int] = []

    @jobs.job("greet", type=JobType.ENDPOINT)
    async def greet(ctx: JobContext) -> None:
        return None

    @jobs.job("flaky", type=JobType.ENDPOINT, max_retries=1)
    async def flaky(ctx: JobContext) -> None:
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails <b>loudly</b>")

    @jobs.job("hourly", type=JobType.PERIODIC, interval=timedelta(hours=1))
    async def hourly(ctx: JobContext) -> None:
        return None

    return jobs


def development(telemetry: MemoryTelemetry | None = None) -> ZenJobsExecutor:
    return ZenJobsExecutor.development(
        build_registry(), store=":memory:", clock=VirtualClock(T0),
        telemetry=telemetry if telemetry is not None else MemoryTelemetry(),
        loop_lag_threshold=None, dashboard=Dashboard())


# -- the real server -------------------------------------------------------------------------


class ServerLoop:
    """An ASGI wrapper that remembers uvicorn's event loop, to run the executor's work there.

    The loop is known once the first request arrived (the test's first request is
    always its event stream, read before anything is run here).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.loop is None and scope["type"] == "http":
            self.loop = asyncio.get_running_loop()
        await self.app(scope, receive, send)

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Await ``work`` on the server's loop."""
        assert self.loop is not None, "no request has reached the server yet"
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self.loop))

    async def call(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` (synchronous) on the server's loop."""
        async def wrapped() -> T:
            return fn()
        return await self.run(wrapped())


class EventStream:
    """Reads one ``text/event-stream`` response event by event (comments skipped)."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()
        self.events: list[dict[str, str]] = []  # every event read so far

    async def next(self) -> dict[str, str] | None:
        """The next event's fields, or None once the response body has ended."""
        fields: dict[str, str] = {}
        async for line in self._lines:
            if line == "":
                if fields:
                    self.events.append(fields)
                    return fields
                continue
            if line.startswith(":"):  # a comment: the keepalive
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        return fields or None

    async def until(self, kind: str, data: dict[str, Any]) -> dict[str, str]:
        """Read events until one is ``event: kind`` with ``data`` (as JSON); return it."""
        while True:
            event = await self.next()
            assert event is not None, f"the stream ended before {kind} {data}: {self.events}"
            if event.get("event") == kind and json.loads(event.get("data", "null")) == data:
                return event


@dataclass
class Live:
    executor: ZenJobsExecutor
    server: ServerLoop
    http: httpx.AsyncClient

    @property
    def log(self) -> EventLog:
        return self.executor.dashboard.events  # type: ignore[union-attr, no-any-return]

    async def subscribe(self, response: httpx.Response) -> EventStream:
        """Check the stream's headers and read its first event (the subscription exists then)."""
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        stream = EventStream(response)
        assert await stream.next() == {"retry": "2000"}
        return stream


@pytest.fixture
async def live() -> AsyncIterator[Live]:
    executor = development()
    server = ServerLoop(executor.app)
    with serve_app(server) as base_url:
        async with httpx.AsyncClient(base_url=base_url, trust_env=False,
                                     timeout=httpx.Timeout(10.0, read=None)) as http:
            yield Live(executor, server, http)
        if server.loop is not None:
            await server.call(executor.stopping)  # no open stream keeps the server waiting
            await server.run(executor.shutdown())


async def test_a_delivered_run_and_a_master_tick_arrive_as_events(live: Live) -> None:
    async with live.http.stream("GET", f"{UI}/events") as response:
        stream = await live.subscribe(response)
        await live.server.run(live.executor.start())
        await live.server.run(live.executor.trigger("greet", {"n": 1}))
        await live.server.run(run_until_idle(live.executor))
        event = await stream.until("run", {"job": "greet"})
        assert event == {"event": "run", "data": '{"job": "greet"}'}
        await live.server.run(live.executor.tick())
        assert await stream.until("tick", {"job": None}) == {"event": "tick",
                                                             "data": '{"job": null}'}
    kinds = {e.get("event") for e in stream.events}
    assert kinds <= {None, "run", "tick", "job"}  # None: the retry line


async def test_an_operators_post_is_announced_then_its_run(live: Live) -> None:
    async with live.http.stream("GET", f"{UI}/events") as response:
        stream = await live.subscribe(response)
        await live.server.run(live.executor.start())
        page = await live.http.get(f"{UI}/jobs/greet")
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert match is not None
        trigger = await live.http.post(f"{UI}/jobs/greet/trigger",
                                       data={"csrf": match.group(1), "payload": '{"n": 2}'})
        assert trigger.status_code == 303, trigger.text
        await stream.until("job", {"job": "greet"})  # ops.triggered
        await live.server.run(run_until_idle(live.executor))
        await stream.until("run", {"job": "greet"})  # job.started, job.succeeded
        disable = await live.http.post(f"{UI}/jobs/hourly/disable",
                                       data={"csrf": match.group(1)})
        assert disable.status_code == 303, disable.text
        await stream.until("job", {"job": "hourly"})  # ops.edited


async def test_stopping_ends_every_stream_promptly(live: Live) -> None:
    async with live.http.stream("GET", f"{UI}/events") as first, \
            live.http.stream("GET", f"{UI}/events") as second:
        streams = [await live.subscribe(first), await live.subscribe(second)]
        assert live.log.subscribers == 2
        started = time.monotonic()
        await live.server.call(live.executor.stopping)
        for stream in streams:
            assert await stream.next() is None  # the response body ended
        # Well before a keepalive was due: the stream ended because the service stops.
        assert time.monotonic() - started < KEEPALIVE_SECONDS
        assert live.log.subscribers == 0
    # A page opened while the service stops gets a stream that ends at once.
    late = await live.http.get(f"{UI}/events")
    assert late.status_code == 200
    assert late.text == "retry: 2000\n\n"
    assert live.log.subscribers == 0


# -- EventLog --------------------------------------------------------------------------------


def event(name: str, second: int = 0, **fields: Any) -> TelemetryEvent:
    return TelemetryEvent(name, T0 + timedelta(seconds=second), fields)


def test_the_log_keeps_only_the_latest_capacity_events() -> None:
    log = EventLog(capacity=3)
    assert log.capacity == 3
    for i in range(5):
        log.emit(event("job.started", i, job_id="greet", execution_id=f"greet-{i}", attempt=1))
    assert [e.fields["execution_id"] for e in log.events()] == ["greet-2", "greet-3", "greet-4"]
    with pytest.raises(ValueError, match="capacity"):
        EventLog(capacity=0)


def test_of_run_and_named_select_events() -> None:
    log = EventLog()
    log.emit(event("master.tick", 0, due=1))
    log.emit(event("job.started", 1, job_id="greet", execution_id="x-1", attempt=1))
    log.emit(event("job.started", 2, job_id="other", execution_id="x-1", attempt=1))
    log.emit(event("master.tick", 3, due=2))
    log.emit(event("job.succeeded", 4, job_id="greet", execution_id="x-1", attempt=1))
    log.emit(event("job.started", 5, job_id="greet", execution_id="x-2", attempt=1))
    log.emit(event("master.tick", 6, due=3))
    # One execution of one job (an equal execution id of another job is not it), oldest first.
    assert [(e.name, e.timestamp.second) for e in log.of_run("greet", "x-1")] == [
        ("job.started", 1), ("job.succeeded", 4)]
    assert log.of_run("greet", "missing") == []
    # The latest `limit` events of a name, newest first.
    assert [e.fields["due"] for e in log.named("master.tick", 2)] == [3, 2]
    assert [e.fields["due"] for e in log.named("master.tick", 10)] == [3, 2, 1]
    assert log.named("job.failed", 5) == []


def test_notices_name_what_a_page_shows() -> None:
    assert notice_of(event("master.tick")) == Notice("tick", None)
    assert notice_of(event("job.started", job_id="greet")) == Notice("run", "greet")
    assert notice_of(event("run.recovered", job_id="greet")) == Notice("run", "greet")
    assert notice_of(event("ops.edited", job_id="greet")) == Notice("job", "greet")
    assert notice_of(event("ops.triggered", job_id=7)) == Notice("job", None)
    for quiet in ("loop.lag", "request.rejected", "master.run_error", "jobs.x"):
        assert notice_of(event(quiet, job_id="greet")) is None, quiet


async def test_a_slow_subscriber_loses_its_oldest_notices_and_never_blocks() -> None:
    log = EventLog(capacity=10)
    extra = 7
    async with log.subscribe() as slow:
        assert log.subscribers == 1
        # Emitting is synchronous: it returns although nobody reads the queue.
        for i in range(SUBSCRIBER_BACKLOG + extra):
            log.emit(event("job.started", i, job_id=f"job-{i}"))
            log.emit(event("loop.lag", i))  # kept in the log, but no page shows it
        assert slow.qsize() == SUBSCRIBER_BACKLOG
        received = [slow.get_nowait() for _ in range(SUBSCRIBER_BACKLOG)]
        assert received[0] == Notice("run", f"job-{extra}")  # the oldest were dropped
        assert received[-1] == Notice("run", f"job-{SUBSCRIBER_BACKLOG + extra - 1}")
        # A subscriber that keeps up misses nothing.
        async with log.subscribe() as fast:
            log.emit(event("ops.edited", job_id="greet"))
            assert fast.get_nowait() == Notice("job", "greet")
            assert slow.get_nowait() == Notice("job", "greet")
    assert log.subscribers == 0
    assert len(log.events()) == 10  # the log itself stays bounded too


async def test_close_ends_every_subscription_even_a_full_one() -> None:
    log = EventLog()
    async with log.subscribe() as idle, log.subscribe() as full:
        for i in range(SUBSCRIBER_BACKLOG):
            log.emit(event("job.started", i, job_id="greet"))
        while not idle.empty():
            idle.get_nowait()
        reading = asyncio.Event()

        async def reader() -> Notice | None:
            reading.set()
            return await idle.get()  # waits: the queue is empty

        waiting = asyncio.ensure_future(reader())
        await reading.wait()
        assert not waiting.done()
        log.close()
        assert await waiting is None  # a waiting stream wakes up and ends
        assert full.qsize() == SUBSCRIBER_BACKLOG  # the end took the oldest notice's place
        items = [full.get_nowait() for _ in range(SUBSCRIBER_BACKLOG)]
        assert items[-1] is None
    async with log.subscribe() as later:  # a stream opened after close ends at once
        assert later.get_nowait() is None


# -- attempts_of -----------------------------------------------------------------------------


def test_attempts_of_builds_one_row_per_attempt() -> None:
    run = {"job_id": "flaky", "execution_id": "flaky-1"}
    rows = attempts_of([
        event("job.started", 0, **run, attempt=1),
        event("job.failed", 2, **run, attempt=1, status="retry_scheduled", duration_ms=2000,
              error="RuntimeError: boom", traceback="Traceback (most recent call last):\n..."),
        event("job.retry_scheduled", 2, **run, attempt=1, next_attempt=2),
        event("job.started", 40, **run, attempt=2, taken_over=True),
        event("job.lease_lost", 50, **run, attempt=2, duration_ms=10000),
        event("job.started", 60, **run, attempt=3),
        event("ops.replayed", 61, **run, attempt="3"),  # not an attempt number: ignored
        event("master.tick", 62),
    ])
    assert [r["attempt"] for r in rows] == [1, 2, 3]
    first, second, third = rows
    assert first == {"attempt": 1, "started_at": T0, "finished_at": T0 + timedelta(seconds=2),
                     "status": "retry_scheduled", "duration_ms": 2000,
                     "error": "RuntimeError: boom",
                     "traceback": "Traceback (most recent call last):\n...",
                     "taken_over": False}
    assert second["taken_over"] is True
    assert (second["status"], second["duration_ms"]) == ("lease_lost", 10000)
    assert (third["finished_at"], third["status"]) == (None, None)  # still running
    assert attempts_of([]) == []


async def test_a_retried_run_shows_each_attempt_with_its_traceback() -> None:
    executor = development()
    await executor.start()
    execution = await executor.trigger("flaky")
    await run_until_idle(executor)  # attempt 1 fails, the retry succeeds
    log: EventLog = executor.dashboard.events  # type: ignore[union-attr]
    rows = attempts_of(log.of_run("flaky", execution))
    assert [(r["attempt"], r["status"]) for r in rows] == [(1, "retry_scheduled"),
                                                           (2, "success")]
    failed, succeeded = rows
    assert failed["error"] == "RuntimeError: first attempt fails <b>loudly</b>"
    assert failed["traceback"].startswith("Traceback (most recent call last):")
    assert "in flaky" in failed["traceback"]
    assert failed["traceback"].rstrip().endswith(
        "RuntimeError: first attempt fails <b>loudly</b>")
    assert succeeded["traceback"] is None and succeeded["error"] is None
    assert succeeded["started_at"] >= failed["finished_at"]
    # The run page lists both attempts, the traceback escaped.
    transport = httpx.ASGITransport(app=executor.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        page = await http.get(f"{UI}/jobs/flaky/runs/{execution}")
    assert page.status_code == 200
    assert page.text.count('<pre class="traceback">') == 1
    assert "first attempt fails &lt;b&gt;loudly&lt;/b&gt;" in page.text
    assert "<b>loudly</b>" not in page.text
    await executor.shutdown()



async def test_a_job_pages_stream_carries_only_that_jobs_notices() -> None:
    from types import SimpleNamespace

    from zenjobs.dashboard.app import _stream

    log = EventLog()
    stream = _stream(SimpleNamespace(events=log), "greet")  # type: ignore[arg-type]
    assert await anext(stream) == "retry: 2000\n\n"  # subscribed before this first line
    waiting = asyncio.ensure_future(anext(stream))
    stamp = datetime(2026, 1, 5, tzinfo=timezone.utc)
    log.emit(TelemetryEvent("job.started", stamp, {"job_id": "other", "execution_id": "o-1"}))
    log.emit(TelemetryEvent("master.tick", stamp, {"due": 0}))
    log.emit(TelemetryEvent("job.started", stamp, {"job_id": "greet", "execution_id": "g-1"}))
    assert await asyncio.wait_for(waiting, 10) == 'event: run\ndata: {"job": "greet"}\n\n'
    log.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(stream), 10)
