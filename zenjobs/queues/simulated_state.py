"""The state of one simulated Cloud Tasks queue, and what a push looks like on the wire.

:class:`~zenjobs.queues.simulated.SimulatedCloudTasks` decides *when*
to push; this module holds *what* it decides on: each task's entry (ETA,
counts, previous answer), each queue's waiting heap and token bucket
(``max_dispatches_per_second`` with ``max_burst_size``), the records tests read
(:class:`Delivery`, :class:`ScheduledTask`), and the headers Cloud Tasks sends.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .limits import QueueSettings
from .protocol import HttpTask

USER_AGENT = "Google-Cloud-Tasks"
#: Headers a task cannot set: Cloud Tasks computes or reserves them.
_RESERVED_PREFIXES = ("x-cloudtasks-", "x-google-", "x-appengine-")
_RESERVED_HEADERS = frozenset({"host", "content-length", "user-agent"})


@dataclass(frozen=True)
class Delivery:
    """One push attempt, as tests and the dev log see it."""

    task_name: str
    queue: str
    url: str
    retry_count: int  # X-CloudTasks-TaskRetryCount sent with this attempt
    execution_count: int  # X-CloudTasks-TaskExecutionCount sent with this attempt
    status: int
    eta: datetime  # the schedule time this attempt was due at
    at: datetime  # clock time when the push started

    @property
    def attempt(self) -> int:
        return self.retry_count + 1


@dataclass(frozen=True)
class ScheduledTask:
    """A task still in the queue (waiting or being pushed)."""

    task: HttpTask
    eta: datetime
    retry_count: int
    in_flight: bool


@dataclass(eq=False)
class Entry:
    """One task in a queue, with what Cloud Tasks tracks about its pushes."""

    task: HttpTask
    name: str
    seq: int
    eta: datetime
    dispatch_count: int = 0
    response_count: int = 0  # answers that were not 5xx (X-CloudTasks-TaskExecutionCount)
    first_attempt_at: datetime | None = None
    previous_status: int | None = None
    in_flight: bool = False
    ticket: int = 0  # renewed each time the entry starts waiting; older heap items are stale


@dataclass(eq=False)
class QueueState:
    """One queue: its tasks, the heap of those waiting, and its rate-limit token bucket."""

    name: str
    settings: QueueSettings
    tokens: float
    refilled_at: datetime | None = None
    in_flight: int = 0
    entries: dict[str, Entry] = field(default_factory=dict)
    #: Waiting entries as a heap of (eta, seq, ticket, name); items whose entry has
    #: since started, finished or been rescheduled are skipped lazily, so finding
    #: the next task costs O(log n), not a scan of the queue.
    waiting: list[tuple[datetime, int, int, str]] = field(default_factory=list)

    def wait(self, entry: Entry, ticket: int) -> None:
        entry.ticket = ticket
        heapq.heappush(self.waiting, (entry.eta, entry.seq, ticket, entry.name))

    def head(self) -> Entry | None:
        """The waiting entry with the smallest (eta, seq), dropping stale heap items."""
        while self.waiting:
            _, _, ticket, name = self.waiting[0]
            entry = self.entries.get(name)
            if entry is not None and not entry.in_flight and entry.ticket == ticket:
                return entry
            heapq.heappop(self.waiting)
        return None

    def refill(self, now: datetime) -> None:
        if self.refilled_at is not None and now > self.refilled_at:
            rate = self.settings.max_dispatches_per_second
            gained = (now - self.refilled_at).total_seconds() * rate
            self.tokens = min(float(self.settings.max_burst_size), self.tokens + gained)
        if self.refilled_at is None or now > self.refilled_at:
            self.refilled_at = now

    def take_token(self, now: datetime) -> bool:
        self.refill(now)
        if self.tokens >= 1.0 - 1e-9:
            self.tokens = max(self.tokens - 1.0, 0.0)
            return True
        return False

    def token_ready_at(self, now: datetime) -> datetime:
        self.refill(now)
        missing = 1.0 - self.tokens
        if missing <= 1e-9:
            return now
        micros = math.ceil(missing / self.settings.max_dispatches_per_second * 1_000_000)
        return now + timedelta(microseconds=micros)


def push_headers(queue: str, entry: Entry) -> dict[str, str]:
    """What Cloud Tasks sends with a push: the task's headers less the reserved ones, plus its own.

    The runtime's webhook reads the ``X-CloudTasks-*`` headers (retry count,
    task name), so they must be exactly what the service sends.
    """
    headers = {k: v for k, v in entry.task.headers.items()
               if k.lower() not in _RESERVED_HEADERS
               and not k.lower().startswith(_RESERVED_PREFIXES)}
    if entry.task.body and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/octet-stream"
    headers.update({
        "User-Agent": USER_AGENT,
        "X-CloudTasks-QueueName": queue,
        "X-CloudTasks-TaskName": entry.name,
        "X-CloudTasks-TaskRetryCount": str(entry.dispatch_count),
        "X-CloudTasks-TaskExecutionCount": str(entry.response_count),
        "X-CloudTasks-TaskETA": f"{entry.eta.timestamp():.6f}",
    })
    if entry.previous_status is not None:
        headers["X-CloudTasks-TaskPreviousResponse"] = str(entry.previous_status)
    return headers
