"""The reconciler: runs whose next step never came are sent again, under the same task name.

Why it exists. Every step of a run is carried by a Cloud Task or by an inline
run inside the master tick. When the task cannot be created at the moment it
must be (Cloud Tasks unreachable while a light job that failed inside the tick
sends its retry; an instance that dies between writing a record and sending its
task, or in the middle of an inline light run, which has no task to redeliver
it), nothing else would ever deliver that run again: it would stay
``retry_scheduled``, ``pending`` or ``running`` for good.

What it does, once per master tick (:func:`reconcile`, called last by
:func:`~zenjobs.runtime.tick.master_tick`), at the tick's logical time ``now``:

1. ``store.overdue_runs(now - RECOVERY_SLACK, limit)``: one indexed query on the
   ``due_at`` every run write stores (:func:`~zenjobs.stores.transitions.run_due_at`),
   so its cost follows the stuck runs, never the run history. The slack leaves
   alone a task that is merely on its way (Cloud Tasks dispatches a little
   late, a lease is renewed, a tick is still running its inline jobs).
2. For each run (at most ``limit``, the tick's batch size), the task of its
   current attempt, built as every sender builds it
   (:func:`~zenjobs.runtime.runner.attempt_envelope` and
   :meth:`~zenjobs.runtime.runner.RuntimeDeps.task_for`): same envelope, same
   deterministic name ``task_name(execution_id, attempt)``. A task that does exist
   makes the queue answer ``ALREADY_EXISTS``, so nothing is ever doubled; one that
   does not is created and delivered now. The delivery goes through the lease
   like any other, so a run is never run twice for one attempt: a pending or
   retry-scheduled run is acquired, a running one whose lease expired is taken
   over (the lost attempt counts), a finished one is acknowledged.
3. ``store.defer_overdue(seen, now + RECOVERY_BACKOFF)``: the run leaves the
   overdue range until then (conditional: a delivery that changed the run
   meanwhile wrote a ``due_at`` of its own), so the next ticks do not send it
   again while its task is on its way; it comes back only if still stuck.
4. ``run.recovered`` (``job_id``, ``execution_id``, ``attempt``, ``status``,
   ``overdue_ms``, ``outcome`` = ``created`` | ``already_exists``, ``queue``,
   ``next_check_at``).

Failures never fail the tick. The runs of one queue are sent together only
after the first of them got an answer (a probe), so a queue outage
(``BackendUnavailableError``, or no answer within ``RECOVERY_ENQUEUE_TIMEOUT``)
costs one failed send per queue per tick; that run and the rest of its queue are
left as they are, most overdue first for the next tick. A run whose task cannot
be made or is refused for good (its job is not registered here, the queue
refuses the task) is deferred like a recovered one, so it never holds up the
runs behind it. Both emit ``run.recovery_failed`` with ``error``. A store error
in the query is reported as ``master.run_error`` and ends this tick's
reconciliation; one in a deferral only means the run is found again.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..errors import BackendUnavailableError
from ..queues.protocol import HttpTask
from ..stores.records import OverdueRun, Trigger
from .runner import RuntimeDeps, attempt_envelope, awaiting_replay

#: How far past its ``due_at`` a run must be before it is sent again: one tick
#: (Cloud Scheduler's minute), so a task dispatched a little late, or a run a
#: concurrent tick is still starting, is left alone.
RECOVERY_SLACK = timedelta(minutes=1)
#: How long a recovered run stays out of the overdue range: time enough for the
#: task just sent to be delivered and move the run on (which writes a new
#: ``due_at``). One still stuck then (a task name Cloud Tasks still remembers,
#: a queue refusing it) is tried again, once per backoff, not once per tick.
RECOVERY_BACKOFF = timedelta(minutes=5)
#: Seconds one enqueue may take before the queue is taken for down for this tick.
RECOVERY_ENQUEUE_TIMEOUT = 10.0
#: How many recoveries one tick sends to the queue at once.
RECOVERY_CONCURRENCY = 16


class _Sent(enum.Enum):
    RECOVERED = "recovered"  # created, or it already existed
    REFUSED = "refused"  # this run cannot be sent now: deferred, reported
    DOWN = "down"  # the queue did not answer: the run stays for the next tick


@dataclass
class _Entry:
    item: OverdueRun
    task: HttpTask
    fields: dict[str, Any]


async def reconcile(deps: RuntimeDeps, now: datetime, limit: int) -> int:
    """Send again the runs overdue at ``now`` (at most ``limit``); returns how many were sent.

    A run counts as recovered when its task was created or already existed. The
    runs of each queue are sent at once, after a first one got through (a probe):
    a queue that is down costs one failed send per tick, not one per run.
    """
    if limit <= 0:
        return 0
    try:
        overdue = await deps.store.overdue_runs(now - RECOVERY_SLACK, limit)
    except Exception as exc:
        deps.emit("master.run_error", now, error=f"recovery: {type(exc).__name__}: {exc}")
        return 0
    by_queue: dict[str, list[_Entry]] = {}
    for item in overdue:
        entry = await _prepare(deps, item, now)
        if entry is not None:
            by_queue.setdefault(entry.task.queue, []).append(entry)
    gate = asyncio.Semaphore(RECOVERY_CONCURRENCY)

    async def send(entry: _Entry) -> _Sent:
        async with gate:
            return await _send(deps, entry, now)

    async def drain(entries: list[_Entry]) -> int:
        probe = await send(entries[0])
        if probe is _Sent.DOWN:
            return 0  # the rest stay overdue: the next tick tries them first
        rest = await asyncio.gather(*(send(entry) for entry in entries[1:]))
        return [probe, *rest].count(_Sent.RECOVERED)

    return sum(await asyncio.gather(*(drain(entries) for entries in by_queue.values())))


async def _prepare(deps: RuntimeDeps, item: OverdueRun, now: datetime) -> _Entry | None:
    """The task of the run's current attempt, exactly as every sender makes it; or None
    (reported, deferred) when it cannot be made here."""
    run = item.run
    fields: dict[str, Any] = {
        "job_id": run.job_id, "execution_id": run.execution_id, "attempt": run.attempt,
        "status": run.status.value,
        "overdue_ms": max(int((now - item.due_at).total_seconds() * 1000), 0),
    }
    try:
        desc = deps.registry.get(run.job_id)
        trigger = Trigger.REPLAY if awaiting_replay(run) else run.trigger
        task = deps.task_for(desc, attempt_envelope(run, trigger), None)
    except Exception as exc:  # not registered here, or a payload that can no longer be sent
        await _refused(deps, item, now, fields, exc)
        return None
    fields["queue"] = task.queue
    return _Entry(item, task, fields)


async def _send(deps: RuntimeDeps, entry: _Entry, now: datetime) -> _Sent:
    try:
        outcome = await asyncio.wait_for(deps.queue.enqueue(entry.task),
                                         RECOVERY_ENQUEUE_TIMEOUT)
    except (BackendUnavailableError, asyncio.TimeoutError) as exc:
        deps.emit("run.recovery_failed", now, **entry.fields, error=_describe(exc),
                  next_check_at=None)
        return _Sent.DOWN
    except Exception as exc:
        await _refused(deps, entry.item, now, entry.fields, exc)
        return _Sent.REFUSED
    next_check_at = await _defer(deps, entry.item, now)
    deps.emit("run.recovered", now, **entry.fields, outcome=outcome.value,
              next_check_at=next_check_at)
    return _Sent.RECOVERED


async def _refused(deps: RuntimeDeps, item: OverdueRun, now: datetime, fields: dict[str, Any],
                   exc: Exception) -> None:
    """A run that cannot be sent now: deferred, so it never holds up the runs behind it."""
    next_check_at = await _defer(deps, item, now)
    deps.emit("run.recovery_failed", now, **fields, error=_describe(exc),
              next_check_at=next_check_at)


async def _defer(deps: RuntimeDeps, item: OverdueRun, now: datetime) -> datetime | None:
    """Push the run's ``due_at`` to ``now + RECOVERY_BACKOFF``; when it landed, or None.

    None when the run changed since it was read (its own new ``due_at`` stands) or
    the store failed: then the next tick finds it again, and its task deduplicates.
    """
    until = now + RECOVERY_BACKOFF
    try:
        return until if await deps.store.defer_overdue(item, until) else None
    except Exception:
        return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return f"TimeoutError: no answer within {RECOVERY_ENQUEUE_TIMEOUT:g} s"
    return f"{type(exc).__name__}: {exc}"
