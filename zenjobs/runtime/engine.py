"""The job engine: the runtime behind the webhook, the executor and the CLI.

:class:`JobEngine` implements :class:`~zenjobs.runtime.protocol.WebhookHandler`
(deliveries, master ticks, health) and the operations callers start
(``schedule``, ``trigger``, ``replay``, ``sync``). It is the composition root
for time: each entry point reads ``now`` from the injected clock once and
passes it down, so nothing below it reads the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from ..clocks.protocol import Clock
from ..descriptor import JobDescriptor
from ..errors import InvalidRequestError, ZenjobsError
from ..queues.protocol import TaskQueue
from ..registry import ZenJobs
from ..schedule import format_instant, next_fire, require_utc
from ..stores.deadline import bounded, store_budget
from ..stores.protocol import JobStore
from ..stores.records import RunRecord, RunStatus, Trigger
from ..telemetry.protocol import TelemetryEvent, TelemetrySink, emit_safely
from ..vocabulary import (
    DEFAULT_LEASE_GRACE,
    EXECUTION_ID_PATTERN,
    MAX_IDEMPOTENCY_KEY_CHARS,
    JobType,
)
from .effective import config_from_descriptor
from .envelope import Envelope, decode_envelope, key_execution_id, token_execution_id
from .protocol import DeliveryOutcome, Rejection
from .runner import (
    HeavyRunner,
    RuntimeDeps,
    attempt_envelope,
    awaiting_replay,
    new_token,
    run_delivery,
)
from .tick import master_tick

DEFAULT_BATCH_SIZE = 100


class JobEngine:
    """Runs jobs of one registry over a store, a task queue, a clock and a telemetry sink."""

    def __init__(self, registry: ZenJobs, store: JobStore, queue: TaskQueue, clock: Clock,
                 telemetry: TelemetrySink | None = None, *, service_url: str,
                 batch_size: int = DEFAULT_BATCH_SIZE,
                 lease_grace: timedelta = DEFAULT_LEASE_GRACE,
                 instance: str | None = None, id_source: Callable[[], str] | None = None,
                 heavy_runner: HeavyRunner | None = None,
                 store_deadline: float | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.registry = registry
        self.batch_size = batch_size
        #: Seconds a delivery may wait on the store in all (None: unbounded); docs/runtime.md.
        self.store_deadline = store_deadline
        self._startup_store = store  # sync runs at start-up, off any request path: unbounded
        source = id_source or new_token
        self.deps = RuntimeDeps(
            registry=registry, store=bounded(store, store_deadline), queue=queue, clock=clock,
            telemetry=telemetry,
            service_url=service_url, instance=instance or source(), lease_grace=lease_grace,
            heavy_runner=heavy_runner, id_source=source,
        )

    # -- collaborators -----------------------------------------------------

    @property
    def store(self) -> JobStore:
        return self.deps.store

    @property
    def queue(self) -> TaskQueue:
        return self.deps.queue

    @queue.setter
    def queue(self, queue: TaskQueue) -> None:
        self.deps.queue = queue

    @property
    def clock(self) -> Clock:
        return self.deps.clock

    @property
    def telemetry(self) -> TelemetrySink | None:
        return self.deps.telemetry

    def running(self) -> list[str]:
        """Job ids with a handler running in this process now (for the loop-lag monitor)."""
        # A dict copy is atomic under the GIL: the loop-lag watchdog calls this from a thread.
        return sorted(set(self.deps.running.copy().values()))

    # -- WebhookHandler ----------------------------------------------------

    async def deliver(self, job_id: str, body: bytes,
                      headers: Mapping[str, str]) -> DeliveryOutcome:
        """``POST /_zenjobs/run/{job_id}``: decode the envelope and run that attempt."""
        self.registry.get(job_id)  # UnknownJobError (404) before parsing anything else
        envelope = decode_envelope(body, job_id)
        if self.store_deadline is None:
            return await run_delivery(self.deps, envelope)
        with store_budget(self.store_deadline):
            return await run_delivery(self.deps, envelope)

    async def master_tick(self, schedule_time: datetime | None) -> Mapping[str, Any]:
        """``POST /_zenjobs/master``: a tick at the scheduler's logical time, else now."""
        return await self.tick(schedule_time)

    async def health(self) -> Mapping[str, Any]:
        return {
            "status": "ok",
            "jobs": len(self.registry),
            "instance": self.deps.instance,
            "running": self.running(),
            "now": format_instant(self.clock.now()),
        }

    def rejected(self, rejection: Rejection) -> None:
        """Emit ``request.rejected``: who is sending what this service refuses, and why."""
        fields = {"route": rejection.route, "status": rejection.status, "code": rejection.code,
                  "field": rejection.field, "job_id": rejection.job_id,
                  "message": rejection.message}
        emit_safely(self.telemetry, TelemetryEvent("request.rejected", self.clock.now(), fields))

    # -- operations --------------------------------------------------------

    async def tick(self, now: datetime | None = None) -> dict[str, Any]:
        """One master tick at ``now`` (default: the clock's now)."""
        instant = require_utc(now, "now") if now is not None else self.clock.now()
        return await master_tick(self.deps, instant, self.batch_size)

    async def sync(self, now: datetime | None = None) -> list[str]:
        """Create the job document of every registered job that has none.

        Existing documents are never overwritten (runtime edits win). Returns
        the ids of the documents created.
        """
        instant = now or self.clock.now()
        created: list[str] = []
        for desc in self.registry:
            first = next_fire(desc, instant) if desc.is_recurring else None
            _, new = await self._startup_store.ensure_job(
                desc.id, config_from_descriptor(desc), first, instant)
            if new:
                created.append(desc.id)
        return created

    async def schedule(self, job_id: str, payload: Any = None, *, delay: timedelta | None = None,
                       at: datetime | None = None, idempotency_key: str | None = None) -> str:
        """Schedule a run of the endpoint job ``job_id``; returns its execution id.

        The payload is checked (JSON, size) before anything is written. The same
        ``idempotency_key`` always yields the same execution id and one run.
        """
        desc = self.registry.get(job_id)
        if desc.type is not JobType.ENDPOINT:
            raise InvalidRequestError(
                f"job {job_id!r}, field 'type': schedule() is for endpoint jobs, this one is "
                f"{desc.type.value}; use trigger() to run it once now")
        return await self._enqueue_new(desc, payload, Trigger.ENDPOINT, delay, at,
                                       idempotency_key)

    async def trigger(self, job_id: str, payload: Any = None, *,
                      idempotency_key: str | None = None) -> str:
        """Run any job once now, outside its schedule (``zenjobs trigger``)."""
        desc = self.registry.get(job_id)
        return await self._enqueue_new(desc, payload, Trigger.MANUAL, None, None,
                                       idempotency_key)

    async def _enqueue_new(self, desc: JobDescriptor, payload: Any, trigger: Trigger,
                           delay: timedelta | None, at: datetime | None,
                           idempotency_key: str | None) -> str:
        if delay is not None and at is not None:
            raise InvalidRequestError(f"job {desc.id!r}, field 'at': give delay or at, not both")
        if delay is not None and delay < timedelta(0):
            raise InvalidRequestError(f"job {desc.id!r}, field 'delay': must not be negative")
        if idempotency_key is not None:
            check_idempotency_key(desc.id, idempotency_key)
        if at is not None and (not isinstance(at, datetime) or at.utcoffset() is None):
            raise InvalidRequestError(
                f"job {desc.id!r}, field 'at': must be a timezone-aware datetime, got {at!r}")
        now = self.clock.now()
        # An `at` already past runs now, as Cloud Tasks does with a past schedule_time:
        # a caller's `at=now` is always a little in the past by the time it arrives.
        when = require_utc(at, "at") if at is not None else now + (delay or timedelta(0))
        execution_id = (key_execution_id(desc.id, idempotency_key) if idempotency_key
                        else token_execution_id(desc.id, self.deps.id_source()))
        env = Envelope(job_id=desc.id, execution_id=execution_id, attempt=1, trigger=trigger,
                       scheduled_for=when, payload=payload)
        task = self.deps.task_for(desc, env, when if when > now else None)  # checks the payload
        created = await self.store.create_run(RunRecord(
            job_id=desc.id, execution_id=execution_id, trigger=trigger, scheduled_for=when,
            attempt=1, payload=payload, created_at=now))
        if not created:
            existing = await self.store.get_run(desc.id, execution_id)
            if (existing is None or existing.attempt != 1
                    or existing.status is not RunStatus.PENDING):
                return execution_id  # already ran or running: nothing to send again
            # A first call may have died before enqueueing: send the original again
            # (the task name is the same, so the queue deduplicates).
            env = attempt_envelope(existing, existing.trigger)
            when = existing.scheduled_for
            task = self.deps.task_for(desc, env, when if when > now else None)
        await self.queue.enqueue(task)
        return execution_id

    async def replay(self, execution_id: str, *, job_id: str | None = None) -> RunRecord:
        """Run a failed or dead execution again, as a new attempt with trigger ``replay``.

        ``job_id`` may be omitted: it is found from the execution id's prefix.
        """
        if not isinstance(execution_id, str) or not EXECUTION_ID_PATTERN.fullmatch(execution_id):
            raise InvalidRequestError(
                f"execution id {execution_id!r} is not one zenjobs makes (letters, digits, "
                "'_' and '-', at most 200 characters)", field="execution_id")
        now = self.clock.now()
        job = job_id or await self._job_of(execution_id)
        desc = self.registry.get(job)
        run = await self.store.reopen_run(job, execution_id, now)
        if run is None:
            existing = await self.store.get_run(job, execution_id)
            if existing is None or not awaiting_replay(existing):
                state = existing.status.value if existing is not None else "not found"
                raise ZenjobsError(f"job {job!r}: execution {execution_id!r} cannot be "
                                   f"replayed ({state}); only failure and dead runs can")
            # A replay reopened it but died before (or failed at) enqueueing: send that
            # attempt's task again; the same name deduplicates one already sent.
            run = existing
        await self.queue.enqueue(self.deps.task_for(desc, attempt_envelope(run, Trigger.REPLAY),
                                                    None))
        return run

    async def _job_of(self, execution_id: str) -> str:
        candidates = sorted((d.id for d in self.registry if execution_id.startswith(d.id + "-")),
                            key=len, reverse=True)
        for candidate in candidates:
            if await self.store.get_run(candidate, execution_id) is not None:
                return candidate
        raise ZenjobsError(f"no run with execution id {execution_id!r} in any registered job")


def check_idempotency_key(job_id: str, key: object) -> None:
    """Refuse a key that cannot name a run: not text, empty, too long, or not UTF-8."""
    problem = None
    if not isinstance(key, str):
        problem = f"must be a string, got {type(key).__name__}"
    elif not key:
        problem = "empty"
    elif len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
        problem = f"longer than {MAX_IDEMPOTENCY_KEY_CHARS} characters"
    else:
        try:
            key.encode()
        except UnicodeEncodeError:
            problem = "not valid UTF-8 text (a lone surrogate)"
    if problem is not None:
        raise InvalidRequestError(f"job {job_id!r}, field 'idempotency_key': {problem}",
                                  field="idempotency_key")

