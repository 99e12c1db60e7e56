"""The master tick: claim every due job once per slot, run or enqueue it.

One tick at logical time ``now``:

1. ``store.due_jobs(now, batch_size)``: one indexed query, in priority order;
   anything beyond the batch stays due for the next tick.
2. For each due job: the effective descriptor (a misconfigured document is
   skipped with a ``master.job_skipped`` event naming the job and the reason;
   the other jobs go on), ``catch_up`` (missed slots collapse into one run for
   the oldest), then ``claim_slot`` advancing ``next_run_at`` atomically, so
   that of any number of concurrent ticks exactly one proceeds per slot.
3. The winner creates the run record (create-if-absent, execution id derived
   from job and slot) and either runs it inline (``light`` jobs, all of them
   concurrently, each under its timeout) or enqueues its Cloud Task
   (``medium``/``heavy``, task name derived from the execution id).

When writing the record or enqueueing fails (store or queue outage), the
claim is handed back so the next tick retries the same slot under the same
execution id. Known window (docs/runtime.md): an instance that *dies* between
the claim and the enqueue loses that one slot; the next slot fires as usual.
Eligibility is checked when the run starts, not here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..descriptor import JobDescriptor
from ..errors import ConfigurationError, UnknownJobError
from ..schedule import catch_up, format_instant
from ..stores.records import JobRecord, RunRecord, RunStatus, Trigger
from ..vocabulary import Weight
from .effective import resolve_descriptor
from .envelope import Envelope, slot_execution_id
from .runner import RuntimeDeps, run_delivery

#: How many claims one tick sends to the store at once.
CLAIM_CONCURRENCY = 16


@dataclass
class _Counts:
    claimed: int = 0
    ran: int = 0
    enqueued: int = 0
    skipped: int = 0
    failed: int = 0


async def master_tick(deps: RuntimeDeps, now: datetime, batch_size: int) -> dict[str, Any]:
    """Run one tick at logical time ``now``; returns the JSON summary."""
    due = await deps.store.due_jobs(now, batch_size)
    counts = _Counts()
    inline: list[Envelope] = []
    gate = asyncio.Semaphore(CLAIM_CONCURRENCY)

    async def claim(record: JobRecord) -> None:
        async with gate:
            env = await _claim_one(deps, record, now, counts)
        if env is not None:
            inline.append(env)

    await asyncio.gather(*(claim(record) for record in due))
    if inline:
        outcomes = await asyncio.gather(*(run_delivery(deps, env) for env in inline),
                                        return_exceptions=True)
        for env, outcome in zip(inline, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                counts.failed += 1
                deps.emit("master.run_error", now, job_id=env.job_id,
                          execution_id=env.execution_id,
                          error=f"{type(outcome).__name__}: {outcome}")
            elif str(outcome.body.get("status", "")).startswith("skipped_"):
                counts.skipped += 1
            else:
                counts.ran += 1
    summary: dict[str, Any] = {
        "now": format_instant(now),
        "due": len(due),
        "claimed": counts.claimed,
        "ran": counts.ran,
        "enqueued": counts.enqueued,
        "skipped": counts.skipped,
        "failed": counts.failed,
        "batch_size": batch_size,
    }
    deps.emit("master.tick", now, **summary)
    return summary


async def _claim_one(deps: RuntimeDeps, record: JobRecord, now: datetime,
                     counts: _Counts) -> Envelope | None:
    """Claim ``record``'s slot; returns the envelope to run inline, if any."""
    desc = _effective(deps, record, now, counts)
    if desc is None or record.next_run_at is None:
        return None
    cs = catch_up(desc, record.next_run_at, now)
    if cs is None:
        return None
    if not await deps.store.claim_slot(record.job_id, record.next_run_at, cs.next_run_at, now):
        return None  # another tick won this slot
    counts.claimed += 1
    env = Envelope(job_id=record.job_id, execution_id=slot_execution_id(record.job_id, cs.slot),
                   attempt=1, trigger=Trigger.SCHEDULE, scheduled_for=cs.slot)
    try:
        await deps.store.create_run(RunRecord(
            job_id=env.job_id, execution_id=env.execution_id, trigger=Trigger.SCHEDULE,
            scheduled_for=cs.slot, status=RunStatus.PENDING, attempt=1, created_at=now,
        ))
        if desc.weight is Weight.LIGHT:
            return env
        await deps.queue.enqueue(deps.task_for(desc, env, None))
    except Exception as exc:
        counts.failed += 1
        deps.emit("master.run_error", now, job_id=env.job_id, execution_id=env.execution_id,
                  error=f"{type(exc).__name__}: {exc}")
        await _unclaim(deps, record, cs.next_run_at, now)
        return None
    counts.enqueued += 1
    return None


async def _unclaim(deps: RuntimeDeps, record: JobRecord, claimed: datetime | None,
                   now: datetime) -> None:
    """Best effort: give the slot back so the next tick retries it under the same id.

    The run record and task name are derived from the slot, so a second try
    deduplicates against whatever the first one managed to write.
    """
    if claimed is None or record.next_run_at is None:
        return
    try:
        await deps.store.claim_slot(record.job_id, claimed, record.next_run_at, now)
    except Exception as exc:
        deps.emit("master.run_error", now, job_id=record.job_id,
                  error=f"could not release the claim: {type(exc).__name__}: {exc}")


def _effective(deps: RuntimeDeps, record: JobRecord, now: datetime,
               counts: _Counts) -> JobDescriptor | None:
    """The effective descriptor, or None (with telemetry) when the job cannot be used."""
    try:
        base = deps.registry.get(record.job_id)
        return resolve_descriptor(base, record)
    except UnknownJobError:
        reason = "not in this revision's registry"
    except ConfigurationError as exc:
        reason = str(exc)
    counts.skipped += 1
    deps.emit("master.job_skipped", now, job_id=record.job_id, reason=reason)
    return None
