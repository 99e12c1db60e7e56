"""The dashboard's view of telemetry: a bounded log of recent events, and live subscribers.

The executor sends every telemetry event here as well as to its own sink
(:class:`~zenjobs.runtime.protocol.AppExtension.sink`). The log answers what the
store does not keep: every attempt of a run with its error and traceback, and
the last master ticks. It is this instance's memory only: bounded
(``capacity`` events, oldest dropped first) and empty after a restart, so a page
says so where it shows it; Cloud Logging has the complete history in production.

Subscribers (the Server-Sent Events streams of open pages) each get a small
queue. Emitting never blocks and never fails a run: a subscriber that falls
behind loses its oldest notices, and it reloads what it shows on the next one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from ..telemetry.protocol import TelemetryEvent

#: Events kept by default: about a day of a small service's ticks and runs.
DEFAULT_CAPACITY = 5_000
#: Notices a slow subscriber may have waiting before the oldest are dropped.
SUBSCRIBER_BACKLOG = 100
#: Event names that change what a page shows (a run appeared or moved, a job changed).
LIVE_PREFIXES = ("job.", "master.tick", "run.", "ops.")


@dataclass(frozen=True)
class Notice:
    """What a live page is told: which kind of thing changed, and which job."""

    kind: str  # "run", "tick" or "job"
    job_id: str | None


def notice_of(event: TelemetryEvent) -> Notice | None:
    """The live notice an event stands for, or None when no page shows it."""
    name = event.name
    if not name.startswith(LIVE_PREFIXES):
        return None
    job_id = event.fields.get("job_id")
    job = job_id if isinstance(job_id, str) else None
    if name == "master.tick":
        return Notice("tick", None)
    if name.startswith("ops."):
        return Notice("job", job)
    return Notice("run", job)


class EventLog:
    """A telemetry sink keeping the latest events and fanning notices out to subscribers."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._events: collections.deque[TelemetryEvent] = collections.deque(maxlen=capacity)
        self._subscribers: set[asyncio.Queue[Notice | None]] = set()
        self._closed = False

    def emit(self, event: TelemetryEvent) -> None:
        self._events.append(event)
        notice = notice_of(event)
        if notice is None:
            return
        for queue in list(self._subscribers):
            _offer(queue, notice)

    def events(self) -> list[TelemetryEvent]:
        """Every kept event, oldest first."""
        return list(self._events)

    def named(self, name: str, limit: int) -> list[TelemetryEvent]:
        """The latest ``limit`` events called ``name``, newest first."""
        found: list[TelemetryEvent] = []
        for event in reversed(self._events):
            if event.name == name:
                found.append(event)
                if len(found) >= limit:
                    break
        return found

    def of_run(self, job_id: str, execution_id: str) -> list[TelemetryEvent]:
        """The kept events of one execution, oldest first."""
        return [e for e in self._events
                if e.fields.get("execution_id") == execution_id
                and e.fields.get("job_id") == job_id]

    @property
    def capacity(self) -> int:
        return self._events.maxlen or 0

    def close(self) -> None:
        """End every subscription (the service is stopping); later ones end at once."""
        self._closed = True
        for queue in list(self._subscribers):
            _offer(queue, None)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Notice | None]]:
        """A queue of notices for one live page; ``None`` in it means the log closed."""
        queue: asyncio.Queue[Notice | None] = asyncio.Queue(SUBSCRIBER_BACKLOG)
        if self._closed:
            queue.put_nowait(None)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)


def _offer(queue: asyncio.Queue[Notice | None], notice: Notice | None) -> None:
    """Put without blocking; a full queue drops its oldest notice first."""
    while True:
        try:
            queue.put_nowait(notice)
            return
        except asyncio.QueueFull:
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()


def attempts_of(events: Iterable[TelemetryEvent]) -> list[dict[str, Any]]:
    """One row per attempt seen in ``events`` (a run's, oldest first): start, end, outcome."""
    rows: dict[int, dict[str, Any]] = {}
    for event in events:
        attempt = event.fields.get("attempt")
        if not isinstance(attempt, int):
            continue
        row = rows.setdefault(attempt, {"attempt": attempt, "started_at": None,
                                        "finished_at": None, "status": None,
                                        "duration_ms": None, "error": None,
                                        "traceback": None, "taken_over": False})
        if event.name == "job.started":
            row["started_at"] = event.timestamp
            row["taken_over"] = bool(event.fields.get("taken_over"))
        elif event.name in ("job.succeeded", "job.failed", "job.skipped", "job.lease_lost"):
            row["finished_at"] = event.timestamp
            row["status"] = event.fields.get("status") or event.name.removeprefix("job.")
            row["duration_ms"] = event.fields.get("duration_ms")
            row["error"] = event.fields.get("error")
            row["traceback"] = event.fields.get("traceback")
    return [rows[k] for k in sorted(rows)]
