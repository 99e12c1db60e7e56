"""``zenjobs dev`` across restarts: the store, not the process, holds the work.

The simulated queue lives in memory, so its tasks end with the process; the
run records in the SQLite store do not. On start, simulated time resumes no
earlier than the store has seen (:func:`simulated_start`), and every unfinished
run is enqueued again under its deterministic task name
(:func:`recover_unfinished`), so a stop, a crash or a second Ctrl-C loses nothing.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from ..queues.protocol import EnqueueOutcome
from ..runtime.envelope import Envelope
from ..runtime.executor import ZenJobsExecutor
from ..stores.records import RunRecord, RunStatus

#: Most recent runs per job scanned for unfinished ones at start.
RECOVERY_SCAN_LIMIT = 500


async def simulated_start(store: str, wall_now: datetime) -> datetime:
    """Where simulated time starts: the wall clock, or later if the store has seen later.

    A session at ``--speed 120`` runs ahead of the wall clock; starting the next
    one at the wall clock would move time backwards and leave every job waiting
    for slots already claimed. Simulated time never runs backwards.
    """
    if store == ":memory:" or not await asyncio.to_thread(Path(store).is_file):
        return wall_now
    from ..stores.sqlite.store import SqliteJobStore

    with SqliteJobStore(store) as opened:
        jobs = await opened.list_jobs()
    seen = [j.updated_at for j in jobs if j.updated_at is not None]
    return max([wall_now, *seen])


def _redelivery(run: RunRecord, now: datetime) -> tuple[Envelope, datetime | None] | None:
    """The task that continues an unfinished run, and when it is due (None: now)."""
    if run.status is RunStatus.RUNNING:
        when = run.lease_expires_at  # delivered after the lease expires: taken over
    elif run.status is RunStatus.RETRY_SCHEDULED:
        when = run.next_attempt_at
    elif run.status is RunStatus.PENDING:
        when = run.scheduled_for if run.attempt == 1 else None
    else:
        return None
    env = Envelope(job_id=run.job_id, execution_id=run.execution_id, attempt=run.attempt,
                   trigger=run.trigger, scheduled_for=run.scheduled_for, payload=run.payload)
    return env, (when if when is not None and when > now else None)


async def recover_unfinished(executor: ZenJobsExecutor,
                             limit: int = RECOVERY_SCAN_LIMIT) -> int:
    """Enqueue a task for every unfinished run in the store; returns how many were new.

    The simulated queue lives in memory, so its tasks end with the process;
    the run records do not. Task names are derived from (execution, attempt),
    so enqueueing a task that still exists is harmless (ALREADY_EXISTS).
    """
    engine = executor.engine
    now = executor.clock.now()
    count = 0
    for desc in executor.jobs:
        for run in await executor.store.list_runs(desc.id, limit):
            plan = _redelivery(run, now)
            if plan is None:
                continue
            env, when = plan
            outcome = await engine.queue.enqueue(engine.deps.task_for(desc, env, when))
            count += outcome is EnqueueOutcome.CREATED
    return count
