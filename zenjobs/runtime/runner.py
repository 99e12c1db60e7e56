"""One delivery of one execution attempt: lease, eligibility, handler, outcome.

The runner is where the exactly-once guarantee is enforced. Every delivery,
whether a Cloud Task or a light job run inline by the master tick, first asks
the store for the lease on (execution id, attempt):

* FINISHED / STALE: the run is already decided, so the delivery is acknowledged
  (200) and nothing runs (a STALE delivery of a run waiting for its retry first
  enqueues that retry again, in case the queue refused it the first time);
* HELD: another holder's lease is live, so :class:`LeaseHeldError` makes the
  webhook answer 503 and Cloud Tasks delivers again later;
* MISSING: an endpoint or manual delivery whose record is missing (it was
  enqueued by a caller that died between enqueue and create, or the record
  was deleted) has its record created from the envelope and runs; a scheduled
  or replay delivery without a record is acknowledged without running, since
  only a tick or a replay creates those and a missing one means an operator
  removed it;
* ACQUIRED: eligibility is checked, then the handler runs under its timeout.

Every holder name is unique per delivery, so two deliveries of the same task
to one instance can never both pass the lease. A handler that ran to any
outcome is answered 200: the outcome is recorded and retries are decided here
(a new task with an explicit, deterministic backoff), never by the queue.
"""

from __future__ import annotations

import asyncio
import inspect
import secrets
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..clocks.protocol import Clock
from ..descriptor import JobDescriptor
from ..errors import (
    ConfigurationError,
    HeavyJobError,
    JobTimeoutError,
    LeaseHeldError,
    PermanentError,
)
from ..queues.protocol import HttpTask, TaskQueue
from ..registry import JobContext, ZenJobs
from ..stores.protocol import JobStore
from ..stores.records import LeaseOutcome, RunRecord, RunResult, RunStatus, Trigger
from ..telemetry.protocol import TelemetryEvent, TelemetrySink, emit_safely
from ..vocabulary import DEFAULT_LEASE_GRACE, Weight
from .effective import check_eligibility, resolve_descriptor
from .envelope import Envelope, encode_envelope, task_name
from .pause import pause_if_dead_streak
from .protocol import DeliveryOutcome
from .retry import backoff_delay

HeavyRunner = Callable[[Callable[..., Any], JobContext, float], Awaitable[Any]]

#: Triggers whose delivery may create its own missing run record.
SELF_CREATING = (Trigger.ENDPOINT, Trigger.MANUAL)
#: How long a cancelled handler gets to unwind after its timeout.
CANCEL_GRACE_SECONDS = 5.0
MAX_ERROR_CHARS = 2000
#: The end of a failed attempt's traceback that ``job.failed`` carries (the dashboard shows it).
MAX_TRACEBACK_CHARS = 8000


def new_token() -> str:
    return secrets.token_hex(8)


@dataclass
class RuntimeDeps:
    """The collaborators every runtime step needs, wired once by the engine."""

    registry: ZenJobs
    store: JobStore
    queue: TaskQueue
    clock: Clock
    telemetry: TelemetrySink | None
    service_url: str
    instance: str = field(default_factory=new_token)
    lease_grace: timedelta = DEFAULT_LEASE_GRACE
    heavy_runner: HeavyRunner | None = None
    id_source: Callable[[], str] = new_token
    running: dict[str, str] = field(default_factory=dict)  # execution id -> job id

    def emit(self, name: str, timestamp: datetime, **fields: Any) -> None:
        emit_safely(self.telemetry, TelemetryEvent(name, timestamp, fields))

    def holder(self) -> str:
        """A lease holder name unique to one delivery on this instance."""
        return f"{self.instance}/{self.id_source()}"

    def task_for(self, desc: JobDescriptor, env: Envelope,
                 schedule_time: datetime | None) -> HttpTask:
        """The Cloud Task that delivers ``env`` to this service (validates the payload)."""
        return HttpTask(
            queue=desc.queue_id,
            name=task_name(env.execution_id, env.attempt),
            url=f"{self.service_url.rstrip('/')}/_zenjobs/run/{env.job_id}",
            body=encode_envelope(env),
            headers={"Content-Type": "application/json"},
            schedule_time=schedule_time,
        )


def _ack(state: str, env: Envelope, attempt: int | None = None) -> DeliveryOutcome:
    return DeliveryOutcome(200, {
        "status": state,
        "job_id": env.job_id,
        "execution_id": env.execution_id,
        "attempt": attempt if attempt is not None else env.attempt,
    })


async def run_delivery(deps: RuntimeDeps, env: Envelope) -> DeliveryOutcome:
    """Handle one delivery of ``env``; see the module docstring for the outcomes.

    Raises :class:`~zenjobs.errors.UnknownJobError` (404) for a job this
    revision does not know and :class:`LeaseHeldError` (503) while another
    holder runs the execution; store and queue outages propagate (503).
    """
    base = deps.registry.get(env.job_id)
    job = await deps.store.get_job(env.job_id)
    config_error: ConfigurationError | None = None
    try:
        desc = resolve_descriptor(base, job)
    except ConfigurationError as exc:
        desc, config_error = base, exc
    now = deps.clock.now()
    holder = deps.holder()
    lease_until = now + desc.timeout + deps.lease_grace
    lease = await deps.store.acquire_lease(env.job_id, env.execution_id, env.attempt, holder,
                                           now, lease_until)
    if lease.outcome is LeaseOutcome.MISSING and env.trigger in SELF_CREATING:
        await deps.store.create_run(RunRecord(
            job_id=env.job_id, execution_id=env.execution_id, trigger=env.trigger,
            scheduled_for=env.scheduled_for, attempt=env.attempt, payload=env.payload,
            created_at=now,
        ))
        lease = await deps.store.acquire_lease(env.job_id, env.execution_id, env.attempt,
                                               holder, now, lease_until)
    if lease.outcome is LeaseOutcome.MISSING:
        deps.emit("job.orphaned", now, job_id=env.job_id, execution_id=env.execution_id,
                  attempt=env.attempt, trigger=env.trigger.value,
                  scheduled_for=env.scheduled_for,
                  error="no run record for this delivery; acknowledged without running")
        return _ack("missing", env)
    if lease.outcome in (LeaseOutcome.FINISHED, LeaseOutcome.STALE):
        status = lease.run.status.value if lease.run is not None else lease.outcome.value
        if (lease.outcome is LeaseOutcome.STALE and lease.run is not None
                and lease.run.status is RunStatus.RETRY_SCHEDULED):
            # This attempt's retry was recorded but its task may not have been sent
            # (queue outage, crash): send it again; the same name deduplicates.
            await deps.queue.enqueue(_retry_task(deps, desc, env, lease.run))
        return _ack(status if lease.outcome is LeaseOutcome.FINISHED else "stale", env)
    if lease.outcome is LeaseOutcome.HELD:
        raise LeaseHeldError(
            f"job {env.job_id!r}: execution {env.execution_id!r} attempt {env.attempt} is "
            "held by another instance; retry later"
        )
    assert lease.run is not None
    return await _attempt(deps, desc, env, lease.run, holder, now, config_error,
                          taken_over=lease.taken_over)


async def _attempt(deps: RuntimeDeps, desc: JobDescriptor, env: Envelope, run: RunRecord,
                   holder: str, now: datetime, config_error: ConfigurationError | None,
                   *, taken_over: bool) -> DeliveryOutcome:
    attempt = run.attempt
    fields: dict[str, Any] = {
        "job_id": run.job_id, "execution_id": run.execution_id, "attempt": attempt,
        "trigger": env.trigger.value, "scheduled_for": run.scheduled_for,
    }
    if taken_over and attempt > desc.max_retries + 1:
        return await _exhausted_by_takeover(deps, env, run, holder, now, fields)
    if config_error is None:
        skip = await check_eligibility(desc, deps.store, run.scheduled_for, now)
        if skip is not None:
            await deps.store.record_skip(run.evolve(
                status=skip.status, finished_at=now, duration_ms=0, error_message=skip.reason))
            deps.emit("job.skipped", now, **fields, status=skip.status.value, reason=skip.reason,
                      duration_ms=0, error=None)
            return _ack(skip.status.value, env, attempt)

    deps.emit("job.started", now, **fields, taken_over=taken_over)
    ctx = JobContext(job_id=run.job_id, execution_id=run.execution_id, attempt=attempt,
                     payload=env.payload, scheduled_for=run.scheduled_for,
                     trigger=env.trigger.value)
    deps.running[run.execution_id] = run.job_id
    error: Exception | None = None
    try:
        if config_error is not None:
            raise config_error
        await invoke(deps, desc, ctx)
    except Exception as exc:
        error = exc
    finally:
        deps.running.pop(run.execution_id, None)
    end = deps.clock.now()
    duration_ms = max(int((end - now).total_seconds() * 1000), 0)
    fields["duration_ms"] = duration_ms

    if error is None:
        result = RunResult(RunStatus.SUCCESS, finished_at=end, duration_ms=duration_ms)
        if await deps.store.finish_attempt(run.job_id, run.execution_id, holder, result) is None:
            return _lease_lost(deps, env, fields, end)
        deps.emit("job.succeeded", end, **fields, status=RunStatus.SUCCESS.value, error=None)
        return _ack(RunStatus.SUCCESS.value, env, attempt)
    return await _failed(deps, desc, env, run, holder, error, end, fields)


async def _failed(deps: RuntimeDeps, desc: JobDescriptor, env: Envelope, run: RunRecord,
                  holder: str, error: Exception, end: datetime,
                  fields: dict[str, Any]) -> DeliveryOutcome:
    attempt = run.attempt
    # A heavy handler's unpicklable error crosses the process boundary by name.
    error_type = error.error_type if isinstance(error, HeavyJobError) else type(error).__name__
    message = (error.error_message if isinstance(error, HeavyJobError) else str(error))[
        :MAX_ERROR_CHARS
    ]
    fields["error"] = f"{error_type}: {message}" if message else error_type
    common = {"finished_at": end, "duration_ms": fields["duration_ms"],
              "error_type": error_type, "error_message": message}
    if is_permanent(desc, error):
        status = RunStatus.FAILURE
        result = RunResult(status, **common)
    elif attempt <= desc.max_retries:
        status = RunStatus.RETRY_SCHEDULED
        next_at = end + backoff_delay(desc.backoff, attempt, run.execution_id)
        result = RunResult(status, next_attempt=attempt + 1, next_attempt_at=next_at, **common)
    else:
        status = RunStatus.DEAD
        result = RunResult(status, **common)
    if await deps.store.finish_attempt(run.job_id, run.execution_id, holder, result) is None:
        return _lease_lost(deps, env, fields, end)
    final = status is not RunStatus.RETRY_SCHEDULED
    deps.emit("job.failed", end, **fields, status=status.value, final=final,
              traceback=traceback_text(error))
    if not final:
        deps.emit("job.retry_scheduled", end, **fields, next_attempt=attempt + 1,
                  next_attempt_at=result.next_attempt_at,
                  delay_ms=int((result.next_attempt_at - end).total_seconds() * 1000)
                  if result.next_attempt_at else None)
        # Recorded first, sent second: if the queue is down, the error (503) makes
        # Cloud Tasks deliver this attempt again, and that delivery finds the record
        # ahead (STALE) and sends the retry again instead of running the handler. The
        # reverse order left the lease with this finished delivery, so every
        # redelivery was refused as HELD until the lease expired and the handler
        # ran a second time for this attempt (or never, if the queue gave up first).
        await deps.queue.enqueue(_retry_task(deps, desc, env, run.evolve(
            attempt=attempt + 1, next_attempt_at=result.next_attempt_at)))
    elif status is RunStatus.DEAD:
        await _dead(deps, run, end)
    return _ack(status.value, env, attempt)


async def _exhausted_by_takeover(deps: RuntimeDeps, env: Envelope, run: RunRecord,
                                 holder: str, now: datetime,
                                 fields: dict[str, Any]) -> DeliveryOutcome:
    """A takeover past the last allowed attempt: the crashed attempt used the budget up.

    The store advances the attempt on takeover (the crashed one counts), so running
    the handler here would exceed ``max_retries``; the run is ``dead`` instead.
    """
    error_type = "LeaseExpired"
    message = (f"attempt {run.attempt - 1} lost its lease (crashed or hung instance) "
               "and no retries are left")
    fields.update(duration_ms=0, error=f"{error_type}: {message}")
    result = RunResult(RunStatus.DEAD, finished_at=now, duration_ms=0,
                       error_type=error_type, error_message=message)
    if await deps.store.finish_attempt(run.job_id, run.execution_id, holder, result) is None:
        return _lease_lost(deps, env, fields, now)
    deps.emit("job.failed", now, **fields, status=RunStatus.DEAD.value, final=True,
              taken_over=True)
    await _dead(deps, run, now)
    return _ack(RunStatus.DEAD.value, env, run.attempt)


async def _dead(deps: RuntimeDeps, run: RunRecord, now: datetime) -> None:
    """A run just became dead: ``pause_after_dead`` may disable its job (never raises)."""
    desc = deps.registry.get(run.job_id)
    if desc.pause_after_dead is not None:
        await pause_if_dead_streak(deps.store, deps.telemetry, desc, run.execution_id, now)


def traceback_text(error: BaseException) -> str:
    """The formatted traceback of ``error`` (with a heavy child's, its cause), tail kept."""
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return text if len(text) <= MAX_TRACEBACK_CHARS else "…" + text[-MAX_TRACEBACK_CHARS:]


def attempt_envelope(run: RunRecord, trigger: Trigger) -> Envelope:
    """The envelope of ``run``'s current attempt: what its task carries.

    With :meth:`RuntimeDeps.task_for` this makes the task of any attempt of any
    recorded run, named ``task_name(execution_id, attempt)``, so every sender
    (a retry, a re-sent schedule or replay, the reconciler) makes the same task.
    """
    return Envelope(job_id=run.job_id, execution_id=run.execution_id, attempt=run.attempt,
                    trigger=trigger, scheduled_for=run.scheduled_for, payload=run.payload)


def awaiting_replay(run: RunRecord) -> bool:
    """Reopened by a replay and not delivered yet (only ``reopen_run`` makes these).

    Its attempt is carried with trigger ``replay``; the record keeps the trigger
    that created the execution.
    """
    return (run.status is RunStatus.PENDING and run.attempt > 1
            and run.next_attempt_at is not None)


def _retry_task(deps: RuntimeDeps, desc: JobDescriptor, env: Envelope,
                run: RunRecord) -> HttpTask:
    """The task of ``run``'s scheduled retry: its attempt, due at ``next_attempt_at``."""
    retry = attempt_envelope(run.evolve(payload=env.payload), env.trigger)
    return deps.task_for(desc, retry, run.next_attempt_at)


def _lease_lost(deps: RuntimeDeps, env: Envelope, fields: dict[str, Any],
                end: datetime) -> DeliveryOutcome:
    """Our lease expired and someone took over: their outcome is the one recorded."""
    deps.emit("job.lease_lost", end, **fields)
    return _ack("lease_lost", env, fields.get("attempt"))


def is_permanent(desc: JobDescriptor, error: BaseException) -> bool:
    """PermanentError, or an error class the descriptor lists, stops retrying."""
    if isinstance(error, PermanentError):
        return True
    return bool(desc.permanent_errors) and isinstance(error, desc.permanent_errors)


async def invoke(deps: RuntimeDeps, desc: JobDescriptor, ctx: JobContext) -> Any:
    """Run the handler of ``desc`` under its timeout; a timeout raises JobTimeoutError."""
    fn = deps.registry.handler_for(desc.id)
    timeout = desc.timeout.total_seconds()
    if desc.weight is Weight.HEAVY:
        runner = deps.heavy_runner or _default_heavy_runner
        return await runner(fn, ctx, timeout)
    task = asyncio.ensure_future(_call(fn, ctx))
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_GRACE_SECONDS)
        if task.done() and not task.cancelled():
            task.exception()  # retrieved so asyncio does not log it as never retrieved
        raise JobTimeoutError(f"job {desc.id!r} ran past its timeout of {timeout:g}s")
    return task.result()


async def _call(fn: Callable[..., Any], ctx: JobContext) -> Any:
    result = fn(ctx)
    if inspect.isawaitable(result):
        return await result
    return result


async def _default_heavy_runner(fn: Callable[..., Any], ctx: JobContext, timeout: float) -> Any:
    from .heavy import run_heavy

    return await run_heavy(fn, ctx, timeout)
