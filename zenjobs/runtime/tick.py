"""The master tick: claim every due job once per slot, run or enqueue it.

One tick at logical time ``now``:

1. ``store.due_jobs(now, batch_size)``: one indexed query, in priority order;
   anything beyond the batch stays due for the next tick. A document whose job
   this revision does not register (an *orphan*: removed from the code, still
   in the store, or added by a newer revision) is skipped: its slot is moved
   to the next one of its own stored schedule (``claim_slot``, so one tick
   reports it, once per skipped slot, with ``master.job_skipped``), and the
   query is asked again, at most ``MAX_DUE_ROUNDS`` times, so orphans never
   take a registered job's place in the batch.
2. For each due job: the effective descriptor (a misconfigured document is
   skipped with a ``master.job_skipped`` event naming the job and the reason;
   the other jobs go on), ``catch_up`` (missed slots collapse into one run for
   the oldest), then ``claim_slot`` advancing ``next_run_at`` atomically, so
   that of any number of concurrent ticks exactly one proceeds per slot.
3. The winner creates the run record (create-if-absent, execution id derived
   from job and slot) and either runs it inline (``light`` jobs, all of them
   concurrently, each under its timeout) or enqueues its Cloud Task
   (``medium``/``heavy``, task name derived from the execution id).
4. Last, :func:`~zenjobs.runtime.reconcile.reconcile` sends again the runs
   whose next step is overdue (a retry or task never created, a lease nobody
   took over), at most ``batch_size``; their count is the summary's ``recovered``.

When writing the record or enqueueing fails (store or queue outage), the
claim is handed back so the next tick retries the same slot under the same
execution id. Known window (docs/runtime.md): an instance that *dies* between
the claim and writing the run record loses that one slot (a record written but
never enqueued is found by step 4); the next slot fires as usual.
Eligibility is checked when the run starts, not here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..descriptor import JobDescriptor
from ..errors import ConfigurationError, DefinitionError
from ..schedule import catch_up, format_instant
from ..stores.records import JobRecord, RunRecord, RunStatus, Trigger
from ..vocabulary import JobType, Weight
from .effective import resolve_descriptor
from .envelope import Envelope, slot_execution_id
from .reconcile import reconcile
from .runner import RuntimeDeps, run_delivery

#: How many claims one tick sends to the store at once.
CLAIM_CONCURRENCY = 16
#: At most this many due queries per tick: each round moves the orphans it found
#: out of the due query, so a tick handles up to this many batches of orphans.
MAX_DUE_ROUNDS = 4
#: Why an orphan's slot is skipped (the ``reason`` of its ``master.job_skipped``).
ORPHAN_REASON = "not in this revision's registry"


@dataclass
class _Counts:
    claimed: int = 0
    ran: int = 0
    enqueued: int = 0
    skipped: int = 0
    failed: int = 0


async def master_tick(deps: RuntimeDeps, now: datetime, batch_size: int) -> dict[str, Any]:
    """Run one tick at logical time ``now``; returns the JSON summary."""
    counts = _Counts()
    started = deps.clock.now()
    gate = asyncio.Semaphore(CLAIM_CONCURRENCY)
    due, orphans = await _due_registered(deps, now, batch_size, gate, counts)
    inline: list[Envelope] = []

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
    recovered = await reconcile(deps, now, batch_size)
    summary: dict[str, Any] = {
        "now": format_instant(now),
        "due": len(due) + orphans,
        "claimed": counts.claimed,
        "ran": counts.ran,
        "enqueued": counts.enqueued,
        "skipped": counts.skipped,
        "failed": counts.failed,
        "recovered": recovered,
        "batch_size": batch_size,
        "duration_ms": max(int((deps.clock.now() - started).total_seconds() * 1000), 0),
    }
    deps.emit("master.tick", now, **summary)
    return summary


async def _due_registered(deps: RuntimeDeps, now: datetime, batch_size: int,
                          gate: asyncio.Semaphore,
                          counts: _Counts) -> tuple[list[JobRecord], int]:
    """The due documents of registered jobs (one batch), and how many orphans were skipped.

    Each round skips the orphans it finds (their ``next_run_at`` leaves the due
    query) and, when the batch was full, asks again, so orphans cost a tick at
    most ``MAX_DUE_ROUNDS`` queries and never a registered job its turn.
    """
    orphans: set[str] = set()
    registered: list[JobRecord] = []

    async def skip(record: JobRecord) -> None:
        async with gate:
            await _skip_orphan(deps, record, now)
    for _ in range(MAX_DUE_ROUNDS):
        due = await deps.store.due_jobs(now, batch_size)
        registered = [record for record in due if record.job_id in deps.registry]
        found = [record for record in due if record.job_id not in deps.registry]
        if not found:
            break
        orphans.update(record.job_id for record in found)
        await asyncio.gather(*(skip(record) for record in found))
        if len(due) < batch_size:
            break  # the query returned everything due: no need to ask again
    counts.skipped += len(orphans)
    return registered, len(orphans)


async def _skip_orphan(deps: RuntimeDeps, record: JobRecord, now: datetime) -> None:
    """Skip the due slot of a job this revision does not know; report it once.

    ``next_run_at`` moves to the next slot of the document's own stored
    schedule (or to none, when that schedule is unusable or over), with the
    same compare-and-set as a claim: of concurrent ticks exactly one moves it
    and reports it. A revision that registers the job finds it waiting for its
    next slot, as if it had never left; the skipped slot does not run.
    """
    if record.next_run_at is None:
        return
    following = _stored_next_slot(record, now)
    if await deps.store.claim_slot(record.job_id, record.next_run_at, following, now):
        deps.emit("master.job_skipped", now, job_id=record.job_id, reason=ORPHAN_REASON,
                  slot=record.next_run_at, next_run_at=following)


def _stored_next_slot(record: JobRecord, now: datetime) -> datetime | None:
    """The first slot after ``now`` of the schedule stored in ``record``, or None."""
    config = record.config
    if record.misconfigured or record.next_run_at is None:
        return None
    try:
        desc = JobDescriptor(
            id=record.job_id,
            type=JobType.SCHEDULED if config.cron is not None else JobType.PERIODIC,
            cron=config.cron,
            interval=(timedelta(seconds=config.interval_seconds)
                      if config.interval_seconds is not None else None),
            timezone=config.timezone, start_at=config.start_at, end_at=config.end_at)
        caught_up = catch_up(desc, record.next_run_at, now)
    except (DefinitionError, TypeError, ValueError, OverflowError):
        return None
    return caught_up.next_run_at if caught_up is not None else None


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
    """The effective descriptor, or None (with telemetry) when the document cannot be used."""
    try:
        return resolve_descriptor(deps.registry.get(record.job_id), record)
    except ConfigurationError as exc:
        reason = str(exc)
    counts.skipped += 1
    deps.emit("master.job_skipped", now, job_id=record.job_id, reason=reason)
    return None
