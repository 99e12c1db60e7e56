"""``pause_after_dead=N``: disable a job after N consecutive dead runs (docs/scheduling.md).

Called by the runner once an attempt has been recorded ``dead``. The rule: the
job's N newest runs (by ``created_at``, one :meth:`~zenjobs.stores.protocol.JobStore.list_runs`
query) are all ``dead`` and were all created after the job was last enabled
(the newest recorded edit that set ``enabled`` to true, read only then); a newer
run in any other state (a success, a failure, a skip, a run still pending or
retrying) breaks the streak. Then the job is disabled by
one recorded, field-level :meth:`~zenjobs.stores.protocol.JobStore.edit_job`
(command ``pause``, actor ``zenjobs``, ``next_run_at`` kept) and ``job.paused``
is emitted, only when that edit changed the document, so a duplicate delivery
or a concurrent dead run emits it once. The step is best-effort: an error here
(a store outage) is logged and never changes the delivery's answer; the next
dead run checks again.
"""

from __future__ import annotations

import logging
from datetime import datetime

from ..descriptor import JobDescriptor
from ..errors import ConfigurationError, UnknownJobError
from ..schedule import next_fire
from ..stores.protocol import JobStore
from ..stores.records import (
    EDIT_HISTORY,
    KEEP,
    ConfigEdit,
    JobConfig,
    JobRecord,
    NextRun,
    RunRecord,
    RunStatus,
)
from ..telemetry.protocol import TelemetryEvent, TelemetrySink, emit_safely
from .effective import config_from_descriptor

log = logging.getLogger(__name__)

#: Who the edit history says paused the job, and the command it records.
PAUSE_ACTOR = "zenjobs"
PAUSE_COMMAND = "pause"


def _kept(before: JobRecord, config: JobConfig) -> NextRun:
    """Move nothing; never write back a misconfigured document (as ``zenjobs disable``)."""
    if before.misconfigured:
        raise ConfigurationError(f"job {before.job_id!r}: the stored document is misconfigured "
                                 f"({before.misconfigured}); not paused")
    return KEEP


async def pause_if_dead_streak(store: JobStore, telemetry: TelemetrySink | None,
                               desc: JobDescriptor, execution_id: str, now: datetime) -> bool:
    """Pause ``desc``'s job if its ``pause_after_dead`` newest runs are all dead.

    ``desc`` is the registry's descriptor (``pause_after_dead`` is not a stored
    config field; a missing document is created from it, as ``zenjobs disable``
    does). True when this call disabled the job. Never raises: any error is
    logged and the pause is left to the next dead run.
    """
    limit = desc.pause_after_dead
    if limit is None:
        return False
    try:
        runs = await store.list_runs(desc.id, limit)
        if len(runs) < limit or any(run.status is not RunStatus.DEAD for run in runs):
            return False
        if not await _since_enabled(store, desc.id, runs):
            return False
        edit = ConfigEdit({"enabled": False}, PAUSE_ACTOR, PAUSE_COMMAND, _kept)
        try:
            result = await store.edit_job(desc.id, edit, now)
        except UnknownJobError:
            first = next_fire(desc, now) if desc.is_recurring else None
            await store.ensure_job(desc.id, config_from_descriptor(desc), first, now)
            result = await store.edit_job(desc.id, edit, now)
    except Exception:
        log.warning("job %r: pause_after_dead=%d check failed; the next dead run checks again",
                    desc.id, limit, exc_info=True)
        return False
    if not result.changed:
        return False
    emit_safely(telemetry, TelemetryEvent("job.paused", now, {
        "job_id": desc.id, "execution_id": execution_id, "dead_runs": limit,
        "reason": f"paused after {limit} consecutive dead runs",
    }))
    return True


async def _since_enabled(store: JobStore, job_id: str, runs: list[RunRecord]) -> bool:
    """True when every run of ``runs`` was created after the job was last enabled.

    An operator's ``zenjobs enable`` (or any edit setting ``enabled`` to true)
    starts a new streak: the dead runs before it never count again.
    """
    for edit in await store.list_edits(job_id, EDIT_HISTORY):
        if any(c.field == "enabled" and c.after is True for c in edit.changes):
            return all(run.created_at is not None and run.created_at > edit.at for run in runs)
    return True
