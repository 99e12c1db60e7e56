"""A Cloud Tasks queue simulated in-process, for ``zenjobs dev`` and for tests.

It behaves like the real service where the runtime's correctness depends on it,
so code proved here is not surprised in production (``docs/cloud_tasks.md``
lists what is mimicked and what is not):

- a task is delivered no earlier than its ``schedule_time``;
- a task name is taken while the task exists and for ``dedup_window`` (one hour,
  as for queues created through the Cloud Tasks API) after it completed or was
  given up: a second create answers ``ALREADY_EXISTS``;
- per queue, ``max_dispatches_per_second`` (a token bucket of
  ``max_burst_size`` on the virtual clock) and ``max_concurrent_dispatches``;
- any non-2xx answer (and a connection failure, seen as 503) is retried with
  the queue's RetryConfig backoff until ``max_attempts`` *and*
  ``max_retry_duration`` are both used up, then the task is dropped;
- requests carry the service's ``X-CloudTasks-*`` headers and
  ``User-Agent: Google-Cloud-Tasks``; headers a task may not set are dropped.

Time comes only from the injected :class:`~zenjobs.clocks.protocol.Clock`, so a
test drives deliveries with :meth:`SimulatedCloudTasks.dispatch_due` and a
virtual clock, and ``zenjobs dev`` runs :meth:`SimulatedCloudTasks.serve`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from ..clocks.protocol import Clock
from ..errors import ConfigurationError, ZenjobsError
from .limits import QueueSettings, check_task
from .protocol import EnqueueOutcome, HttpTask
from .pushers import AsgiPusher, HttpPusher, Pusher
from .simulated_state import Delivery, Entry, QueueState, ScheduledTask, push_headers

__all__ = [
    "AsgiPusher",
    "Delivery",
    "HttpPusher",
    "Pusher",
    "QueueSettings",
    "ScheduledTask",
    "SimulatedCloudTasks",
]

logger = logging.getLogger(__name__)

#: Cloud Tasks refuses a schedule_time further ahead than this.
MAX_SCHEDULE_AHEAD = timedelta(days=30)


class SimulatedCloudTasks:
    """In-process Cloud Tasks: implements :class:`~zenjobs.queues.protocol.TaskQueue`.

    ``queues`` gives per-queue settings; a queue not listed gets ``QueueSettings()``
    unless ``strict_queues`` is set, in which case enqueueing to it fails the way
    Cloud Tasks answers NOT_FOUND for a queue Terraform never created.
    """

    def __init__(self, clock: Clock, pusher: Pusher,
                 queues: Mapping[str, QueueSettings] | None = None,
                 dedup_window: timedelta = timedelta(hours=1), *,
                 strict_queues: bool = False) -> None:
        self._clock = clock
        self._pusher = pusher
        self._settings = dict(queues or {})
        self._dedup_window = dedup_window
        self._strict = strict_queues
        self._queues: dict[str, QueueState] = {}
        self._tombstones: dict[tuple[str, str], datetime] = {}
        self._expiries: list[tuple[datetime, tuple[str, str]]] = []  # heap of tombstones
        self._seq = itertools.count(1)
        self._tickets = 0  # the last ticket issued to a waiting entry
        self._wake = asyncio.Event()
        #: Every push attempt, in the order the pushes finished.
        self.deliveries: list[Delivery] = []
        #: Tasks given up after their queue's retry limits (name, queue, last status).
        self.dropped: list[tuple[str, str, int]] = []

    # -- TaskQueue ---------------------------------------------------------------

    async def enqueue(self, task: HttpTask) -> EnqueueOutcome:
        check_task(task)
        now = self._clock.now()
        eta = task.schedule_time or now
        if eta.tzinfo is None:
            raise ZenjobsError(
                f"task {task.name!r} in queue {task.queue!r}: schedule_time must be timezone-aware"
            )
        if eta > now + MAX_SCHEDULE_AHEAD:
            raise ZenjobsError(
                f"task {task.name!r} in queue {task.queue!r}: schedule_time {eta.isoformat()} "
                f"is more than {MAX_SCHEDULE_AHEAD.days} days ahead (Cloud Tasks refuses it)"
            )
        queue = self._queue(task.queue)
        seq = next(self._seq)
        name = task.name or f"{seq:019d}"  # Cloud Tasks generates an id when none is given
        self._forget_expired(now)
        if name in queue.entries or (task.queue, name) in self._tombstones:
            return EnqueueOutcome.ALREADY_EXISTS
        entry = Entry(task=task, name=name, seq=seq, eta=eta)
        queue.entries[name] = entry
        queue.wait(entry, self._ticket())
        self._wake.set()
        return EnqueueOutcome.CREATED

    # -- inspection ----------------------------------------------------------------

    def pending(self) -> int:
        """Tasks not yet completed or given up (waiting or being pushed)."""
        return sum(len(q.entries) for q in self._queues.values())

    def scheduled(self) -> list[ScheduledTask]:
        """The tasks in the queues, earliest first."""
        entries = sorted(self._entries(), key=lambda e: (e.eta, e.seq))
        return [ScheduledTask(e.task, e.eta, e.dispatch_count, e.in_flight) for e in entries]

    def settings(self, queue: str) -> QueueSettings:
        return self._queue(queue).settings

    def next_due_at(self) -> datetime | None:
        """When the next waiting task may be pushed (its ETA, or its queue's next token)."""
        return self._next_due_at(self._clock.now(), skip_saturated=False)

    # -- dispatching ---------------------------------------------------------------

    async def dispatch_due(self) -> int:
        """Push every task due now, within each queue's limits; return the pushes made.

        Tasks that become due during the call (retries, tasks enqueued by the
        handlers) wait for the next call, so a test steps deliveries explicitly.
        Up to ``max_concurrent_dispatches`` pushes per queue run at once.
        """
        now = self._clock.now()
        allowed = (self._tickets, now)  # what was waiting and due when the call began
        running: set[asyncio.Task[None]] = set()
        count = 0
        while True:
            started = self._start_due(self._clock.now(), allowed)
            count += len(started)
            running.update(started)
            if not running:
                return count
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for finished in done:
                finished.result()

    async def serve(self, stop: asyncio.Event) -> None:
        """Deliver tasks as they fall due until ``stop`` is set (the dev-mode loop).

        Sleeps on the clock until the next due task, and wakes early when a task
        is enqueued or a push finishes. In-flight pushes are awaited on stop.
        """
        running: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                self._wake.clear()
                now = self._clock.now()
                for started in self._start_due(now, None):
                    running.add(started)
                    started.add_done_callback(self._push_done(running))
                waiters: list[asyncio.Future[Any]] = [
                    asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
                due = self._next_due_at(now, skip_saturated=True)
                if due is not None:
                    delay = max((due - now).total_seconds(), 0.0)
                    waiters.append(asyncio.ensure_future(self._clock.sleep(delay)))
                try:
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()
                    await asyncio.gather(*waiters, return_exceptions=True)
        finally:
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    # -- internals -----------------------------------------------------------------

    def _queue(self, name: str) -> QueueState:
        queue = self._queues.get(name)
        if queue is None:
            if name not in self._settings and self._strict:
                raise ConfigurationError(
                    f"queue {name!r} does not exist (known: {sorted(self._settings)}); "
                    "Cloud Tasks would answer NOT_FOUND"
                )
            settings = self._settings.get(name) or QueueSettings()
            queue = QueueState(name, settings, tokens=float(settings.max_burst_size))
            self._queues[name] = queue
        return queue

    def _entries(self) -> list[Entry]:
        return [e for q in self._queues.values() for e in q.entries.values()]

    @staticmethod
    def _is_due(entry: Entry, now: datetime) -> bool:
        return not entry.in_flight and entry.eta <= now

    def _ticket(self) -> int:
        self._tickets += 1
        return self._tickets

    def _forget_expired(self, now: datetime) -> None:
        while self._expiries and self._expiries[0][0] <= now:
            until, key = heapq.heappop(self._expiries)
            if self._tombstones.get(key) == until:
                del self._tombstones[key]

    def _next_due_at(self, now: datetime, *, skip_saturated: bool) -> datetime | None:
        best: datetime | None = None
        for queue in self._queues.values():
            head = queue.head()
            if head is None:
                continue
            if skip_saturated and queue.in_flight >= queue.settings.max_concurrent_dispatches:
                continue  # a finishing push wakes the loop
            candidate = max(head.eta, queue.token_ready_at(now))
            best = candidate if best is None else min(best, candidate)
        return best

    def _start_due(self, now: datetime,
                   allowed: tuple[int, datetime] | None) -> list[asyncio.Task[None]]:
        """Start the due tasks each queue's limits allow, earliest (eta, seq) first.

        ``allowed`` = (last ticket, instant): only entries already waiting and
        due then may start (``dispatch_due`` steps deliveries explicitly).
        Each queue's heap yields its due entries in order, so a step costs the
        tasks it starts, not the length of the queue.
        """
        chosen: list[tuple[Entry, QueueState]] = []
        for queue in self._queues.values():
            skipped: list[tuple[datetime, int, int, str]] = []
            while queue.in_flight < queue.settings.max_concurrent_dispatches:
                entry = queue.head()
                if entry is None or not self._is_due(entry, now):
                    break
                if allowed is not None and (entry.ticket > allowed[0] or entry.eta > allowed[1]):
                    skipped.append(heapq.heappop(queue.waiting))
                    continue
                if not queue.take_token(now):
                    break
                heapq.heappop(queue.waiting)
                entry.in_flight = True
                queue.in_flight += 1
                chosen.append((entry, queue))
            for item in skipped:
                heapq.heappush(queue.waiting, item)
        chosen.sort(key=lambda pair: (pair[0].eta, pair[0].seq))
        return [asyncio.ensure_future(self._push(queue, entry, now)) for entry, queue in chosen]

    def _push_done(self, running: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            running.discard(task)
            if not task.cancelled() and task.exception() is not None:
                logger.error("simulated Cloud Tasks push failed", exc_info=task.exception())
        return done

    async def _push(self, queue: QueueState, entry: Entry, started_at: datetime) -> None:
        headers = push_headers(queue.name, entry)
        try:
            status = await self._pusher.push(entry.task.url, entry.task.body, headers)
        except Exception:
            logger.exception("push of task %s to %s raised; counted as 503",
                             entry.name, entry.task.url)
            status = 503
        finally:
            entry.in_flight = False
            queue.in_flight -= 1
            self._wake.set()
        now = self._clock.now()
        self.deliveries.append(Delivery(
            task_name=entry.name, queue=queue.name, url=entry.task.url,
            retry_count=entry.dispatch_count, execution_count=entry.response_count,
            status=status, eta=entry.eta, at=started_at,
        ))
        entry.dispatch_count += 1
        if not 500 <= status < 600:
            entry.response_count += 1
        if entry.first_attempt_at is None:
            entry.first_attempt_at = started_at
        if 200 <= status < 300:
            self._finish(queue, entry, now)
        elif queue.settings.gives_up(entry.dispatch_count, now - entry.first_attempt_at):
            logger.warning("giving up task %s in queue %s after %d attempts (last status %d)",
                           entry.name, queue.name, entry.dispatch_count, status)
            self.dropped.append((entry.name, queue.name, status))
            self._finish(queue, entry, now)
        else:
            entry.previous_status = status
            entry.eta = now + queue.settings.backoff(entry.dispatch_count)
            queue.wait(entry, self._ticket())

    def _finish(self, queue: QueueState, entry: Entry, now: datetime) -> None:
        queue.entries.pop(entry.name, None)
        key, until = (queue.name, entry.name), now + self._dedup_window
        self._tombstones[key] = until
        heapq.heappush(self._expiries, (until, key))

