"""trigger and replay, with who asked: the one implementation behind the CLI and the dashboard.

The engine runs the execution (:meth:`~zenjobs.runtime.engine.JobEngine.trigger`,
:meth:`~zenjobs.runtime.engine.JobEngine.replay`); this module adds what an
operator's action owes the audit trail: the actor is checked before anything is
written (:func:`~.actors.resolve_actor`), and an ``ops.triggered`` /
``ops.replayed`` event names who did it, to which execution. Config edits
(``enable``, ``disable``, ``set``) are recorded in the job's edit history by the
store itself (:mod:`.edits`); :func:`edit_event` turns one into the matching
``ops.edited`` event for a caller that also reports to telemetry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..runtime.engine import JobEngine
from ..schedule import require_utc
from ..stores.records import RunRecord
from ..telemetry.protocol import TelemetryEvent, emit_safely
from .actors import resolve_actor
from .edits import Change


async def trigger(engine: JobEngine, job_id: str, payload: Any, now: datetime, *,
                  actor: str | None = None, idempotency_key: str | None = None) -> str:
    """Run ``job_id`` once now (trigger ``manual``); returns the execution id."""
    now = require_utc(now, "now")
    who = resolve_actor(actor)
    execution_id = await engine.trigger(job_id, payload, idempotency_key=idempotency_key)
    emit_safely(engine.telemetry, TelemetryEvent("ops.triggered", now, {
        "job_id": job_id, "execution_id": execution_id, "actor": who}))
    return execution_id


async def replay(engine: JobEngine, execution_id: str, now: datetime, *,
                 job_id: str | None = None, actor: str | None = None) -> RunRecord:
    """Run a failed or dead execution again as its next attempt; returns the reopened run."""
    now = require_utc(now, "now")
    who = resolve_actor(actor)
    run = await engine.replay(execution_id, job_id=job_id)
    emit_safely(engine.telemetry, TelemetryEvent("ops.replayed", now, {
        "job_id": run.job_id, "execution_id": execution_id, "attempt": run.attempt,
        "actor": who}))
    return run


def edit_event(change: Change, now: datetime) -> TelemetryEvent | None:
    """The ``ops.edited`` event of a recorded edit (None when the edit changed nothing)."""
    edit = change.edit
    if edit is None:
        return None
    return TelemetryEvent("ops.edited", require_utc(now, "now"), {
        "job_id": change.job_id, "actor": edit.actor, "command": edit.command,
        "changes": [{"field": c.field, "before": c.before, "after": c.after}
                    for c in edit.changes]})
