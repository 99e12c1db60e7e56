"""Public test kit: drive zenjobs deterministically, without a cloud or a wall clock.

* :class:`VirtualClock`: time that only moves when the test moves it.
* :func:`run_until_idle` / :func:`run_for`: deliver simulated Cloud Tasks and
  advance virtual time until the queue is empty (or a period has passed,
  ticking the master scheduler on the way), so a retry scheduled "in 40
  seconds" runs instantly, and at the same virtual instant every time.
* :func:`cloud_tasks_request` / :func:`cloud_scheduler_request`: HTTP requests
  shaped like the real services send them, for tests of a mounted webhook.
* :class:`MemoryTelemetry`: an in-memory sink with assertion helpers.
* :func:`zenjobs.testing.http.serve_app`: an ASGI app under a real uvicorn on
  127.0.0.1 (imports uvicorn, so it lives in its own module).

Example::

    clock = VirtualClock()
    telemetry = MemoryTelemetry()
    executor = ZenJobsExecutor.development(jobs, store=":memory:", clock=clock,
                                           telemetry=telemetry)
    await executor.start()
    await executor.schedule("send_welcome_email", {"user_id": 7})
    await run_until_idle(executor)
    telemetry.assert_emitted("job.succeeded", job_id="send_welcome_email")
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..clocks.protocol import Clock
from ..runtime.envelope import Envelope, encode_envelope, task_name
from ..schedule import require_utc
from ..stores.records import Trigger
from ..telemetry.memory import MemoryTelemetrySink
from ..vocabulary import MASTER_JOB_ID

__all__ = [
    "MemoryTelemetry",
    "SimulatedQueue",
    "VirtualClock",
    "cloud_scheduler_request",
    "cloud_tasks_request",
    "envelope",
    "lowered",
    "run_for",
    "run_until_idle",
]

UTC = timezone.utc
DEFAULT_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday morning


class MemoryTelemetry(MemoryTelemetrySink):
    """In-memory telemetry with ``names()``, ``of(name, **fields)``, ``assert_emitted``."""


class VirtualClock:
    """A :class:`~zenjobs.clocks.protocol.Clock` whose time moves only on ``advance``/``set``.

    ``await clock.sleep(s)`` returns once virtual time has passed ``s`` seconds
    (that is, when a test advances the clock far enough), never in real time.
    """

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self._now = require_utc(start, "start")
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | float = 0.0) -> datetime:
        """Move time forward by ``delta`` (a timedelta or seconds); returns the new now."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError(f"a clock only moves forward; got {step}")
        return self.set(self._now + step)

    def set(self, instant: datetime) -> datetime:
        """Jump to ``instant`` (not before now) and wake every sleeper that is due."""
        instant = require_utc(instant, "instant")
        if instant < self._now:
            raise ValueError(f"a clock only moves forward: {instant} is before {self._now}")
        self._now = instant
        due = [item for item in self._sleepers if item[0] <= instant]
        self._sleepers = [item for item in self._sleepers if item[0] > instant]
        for _, future in due:
            if not future.done():
                future.set_result(None)
        return instant

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + timedelta(seconds=seconds), future))
        try:
            await future
        finally:
            self._sleepers = [item for item in self._sleepers if item[1] is not future]

    @property
    def sleepers(self) -> int:
        """How many coroutines wait in :meth:`sleep` now."""
        return len(self._sleepers)


@runtime_checkable
class SimulatedQueue(Protocol):
    """What the drivers need from a simulated queue (``SimulatedCloudTasks`` has it)."""

    def pending(self) -> int: ...

    def next_due_at(self) -> datetime | None: ...

    async def dispatch_due(self) -> int: ...


def _parts(target: Any, clock: Any) -> tuple[SimulatedQueue, VirtualClock]:
    queue = getattr(target, "queue", target)
    if not isinstance(queue, SimulatedQueue):
        raise TypeError(f"{type(queue).__name__} is not a simulated queue (pending, next_due_at, "
                        "dispatch_due); build the executor with the default development queue")
    clock = clock if clock is not None else getattr(target, "clock", None)
    if not isinstance(clock, VirtualClock):
        raise TypeError("run_until_idle needs a VirtualClock: pass clock=, or build the "
                        "executor with clock=VirtualClock()")
    return queue, clock


async def run_until_idle(target: Any, *, clock: VirtualClock | None = None,
                         until: datetime | None = None, max_steps: int = 10_000) -> int:
    """Deliver due tasks, jumping virtual time to the next one, until none is pending.

    ``target`` is an executor (its ``queue`` and ``clock`` are used) or a
    simulated queue with ``clock=`` given. With ``until``, time never moves
    past it and tasks due later stay pending. Returns how many deliveries
    were made; raises RuntimeError if still busy after ``max_steps`` steps
    (a job that re-enqueues itself forever, say).
    """
    queue, vclock = _parts(target, clock)
    limit = require_utc(until, "until") if until is not None else None
    delivered = 0
    for _ in range(max_steps):
        count = await queue.dispatch_due()
        delivered += count
        if queue.pending() == 0:
            return delivered
        if count:
            continue
        due = queue.next_due_at()
        if due is None:
            await asyncio.sleep(0)  # tasks in flight: let them finish
            continue
        if limit is not None and due > limit:
            if limit > vclock.now():
                vclock.set(limit)
            return delivered
        if due > vclock.now():
            vclock.set(due)
        else:
            await asyncio.sleep(0)
    raise RuntimeError(f"run_until_idle: {queue.pending()} task(s) still pending after "
                       f"{max_steps} steps")


async def run_for(executor: Any, duration: timedelta, *, tick_every: timedelta | None =
                  timedelta(minutes=1), clock: VirtualClock | None = None) -> int:
    """Simulate ``duration`` of a service: master ticks every ``tick_every`` and all tasks.

    Ticks fall on whole multiples of ``tick_every`` (like Cloud Scheduler's
    ``* * * * *``); between them tasks are delivered at their due instants.
    Returns how many task deliveries were made.
    """
    _, vclock = _parts(executor, clock)
    end = vclock.now() + duration
    delivered = 0
    if tick_every is None:
        return await run_until_idle(executor, clock=vclock, until=end)
    step = tick_every
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    while True:
        next_tick = epoch + ((vclock.now() - epoch) // step + 1) * step
        if next_tick > end:
            delivered += await run_until_idle(executor, clock=vclock, until=end)
            return delivered
        delivered += await run_until_idle(executor, clock=vclock, until=next_tick)
        if vclock.now() < next_tick:
            vclock.set(next_tick)
        await executor.tick(next_tick)
        delivered += await run_until_idle(executor, clock=vclock, until=next_tick)


def envelope(job_id: str, payload: Any = None, *, execution_id: str | None = None,
             attempt: int = 1, trigger: Trigger | str = Trigger.ENDPOINT,
             scheduled_for: datetime = DEFAULT_START) -> Envelope:
    """A task envelope with sensible defaults, for building deliveries by hand."""
    return Envelope(job_id=job_id, execution_id=execution_id or f"{job_id}-test",
                    attempt=attempt, trigger=Trigger(trigger),
                    scheduled_for=require_utc(scheduled_for, "scheduled_for"), payload=payload)


def cloud_tasks_request(task: Envelope, *, queue: str = "zenjobs-light",
                        retry_count: int = 0, execution_count: int | None = None,
                        eta: datetime | None = None, token: str | None = None,
                        body: bytes | None = None, prefix: str = "/_zenjobs",
                        ) -> tuple[str, dict[str, str], bytes]:
    """``(path, headers, body)`` of a Cloud Tasks HTTP push delivering ``task``.

    Headers are those Cloud Tasks adds (``X-CloudTasks-QueueName``,
    ``-TaskName``, ``-TaskRetryCount``, ``-TaskExecutionCount``, ``-TaskETA``)
    plus the task's own ``Content-Type`` and, with ``token``, the OIDC
    ``Authorization`` header. ``body`` overrides the encoded envelope (for
    malformed-input tests).
    """
    when = require_utc(eta, "eta") if eta is not None else task.scheduled_for
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Google-Cloud-Tasks",
        "X-CloudTasks-QueueName": queue,
        "X-CloudTasks-TaskName": task_name(task.execution_id, task.attempt),
        "X-CloudTasks-TaskRetryCount": str(retry_count),
        "X-CloudTasks-TaskExecutionCount": str(
            execution_count if execution_count is not None else retry_count),
        "X-CloudTasks-TaskETA": f"{when.timestamp():.6f}",
    }
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    payload = encode_envelope(task) if body is None else body
    return f"{prefix}/run/{task.job_id}", headers, payload


def cloud_scheduler_request(schedule_time: datetime | None, *, job_name: str = MASTER_JOB_ID,
                            token: str | None = None, body: bytes = b"",
                            content_type: str = "application/json", prefix: str = "/_zenjobs",
                            ) -> tuple[str, dict[str, str], bytes]:
    """``(path, headers, body)`` of the Cloud Scheduler push that triggers the master tick.

    ``X-CloudScheduler-ScheduleTime`` is RFC 3339 in UTC, as the service sends
    it; pass ``None`` to omit it (the engine then uses its clock).
    """
    headers: dict[str, str] = {
        "User-Agent": "Google-Cloud-Scheduler",
        "X-CloudScheduler": "true",
        "X-CloudScheduler-JobName": job_name,
    }
    if schedule_time is not None:
        instant = require_utc(schedule_time, "schedule_time")
        headers["X-CloudScheduler-ScheduleTime"] = instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if body:
        headers["Content-Type"] = content_type
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return f"{prefix}/master", headers, body


def lowered(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased, as :meth:`WebhookHandler.deliver` receives them."""
    return {k.lower(): v for k, v in headers.items()}


if TYPE_CHECKING:
    _clock_is_a_clock: Clock = VirtualClock()
