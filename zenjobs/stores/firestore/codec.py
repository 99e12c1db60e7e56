"""The one parser between Firestore documents and zenjobs records.

Job documents are edited by hand in the console, so reading one must never
crash the tick: :func:`decode_job` always returns a :class:`JobRecord`, and
every unknown field or value of the wrong type is collected into its
``misconfigured`` reason, which names each field. The runtime skips
misconfigured jobs and reports them; every other job keeps running. The field
readers are :mod:`zenjobs.stores.config_codec`, shared with the SQLite store.

A readable but invalid value (a cron that does not parse, an unknown time
zone) is kept as stored, exactly as the SQLite store does: ``zenjobs status``
and the master tick report it through the runtime's re-validation, naming the
field, and ``zenjobs set`` can fix it in place (``docs/operations.md``).

Formats (see ``docs/firestore.md``): instants are native Firestore timestamps,
dates (``end_at``, ``skip_dates``) are ``"YYYY-MM-DD"`` strings because
Firestore has no date type, a run's payload is stored as JSON text because
Firestore refuses some JSON shapes (arrays directly inside arrays).

This module imports nothing from google.cloud: the timestamps the client
returns are ``datetime`` subclasses, and the encoder hands it plain datetimes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from ...errors import PayloadError
from .. import config_codec
from ..config_codec import (
    CONFIG_FIELDS,
    CORRUPT_RUN,
    FieldProblem,
    FieldReader,
    decode_config,
    describe,
    optional,
    read_completed_status,
    read_enum,
    read_int,
    read_str,
)
from ..records import EditRecord, FieldChange, JobConfig, JobRecord, RunRecord, RunStatus, Trigger
from ..transitions import run_due_at

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

STATE_FIELDS = ("next_run_at", "last_status", "last_run_at", "last_execution_id",
                "misconfigured", "updated_at")
#: Edits recorded so far (``jobs/{id}/edits/{seq % EDIT_HISTORY}`` holds edit ``seq``).
EDIT_COUNT = "edit_count"
JOB_FIELDS = frozenset(("job_id", *CONFIG_FIELDS, *STATE_FIELDS, EDIT_COUNT))
RUN_FIELDS = frozenset(("job_id", "execution_id", "trigger", "scheduled_for", "status", "attempt",
                        "payload_json", "created_at", "started_at", "finished_at", "duration_ms",
                        "error_type", "error_message", "next_attempt_at", "lease_holder",
                        "lease_expires_at", "expire_at", "due_at"))


def read_instant(value: object) -> datetime:
    """A Firestore timestamp as a plain UTC datetime (nanoseconds beyond µs are dropped)."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise FieldProblem(f"expected a timestamp, got {describe(value)}")
    v = value.astimezone(UTC)
    return datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, tzinfo=UTC)


# -- job documents ---------------------------------------------------------------------------

def encode_config(config: JobConfig) -> dict[str, Any]:
    return config_codec.encode_config(config, lambda instant: instant)


def encode_job(job: JobRecord) -> dict[str, Any]:
    """The full document for a new job."""
    return {
        "job_id": job.job_id,
        **encode_config(job.config),
        "next_run_at": job.next_run_at,
        "last_status": None if job.last_status is None else job.last_status.value,
        "last_run_at": job.last_run_at,
        "last_execution_id": job.last_execution_id,
        "misconfigured": job.misconfigured,
        "updated_at": job.updated_at,
    }


def decode_job(job_id: str, data: Mapping[str, Any]) -> JobRecord:
    """Parse a job document; problems go to ``misconfigured`` instead of raising.

    When the document itself has problems they are the reason (a reason the
    runtime stored earlier is then dropped, so rewriting the reason never makes
    it grow); otherwise the stored ``misconfigured`` value is kept.
    """
    r = FieldReader(data)
    r.unknown(JOB_FIELDS)
    stored_id = r.get("job_id", optional(read_str), None)
    if stored_id is not None and stored_id != job_id:
        r.problems.append(f"field 'job_id': {stored_id!r} does not match document id {job_id!r}")
    config = decode_config(r, read_instant)
    stored_reason = r.get("misconfigured", optional(read_str), None)
    record = JobRecord(
        job_id=job_id,
        config=config,
        next_run_at=r.get("next_run_at", optional(read_instant), None),
        last_status=r.get("last_status", optional(read_completed_status), None),
        last_run_at=r.get("last_run_at", optional(read_instant), None),
        last_execution_id=r.get("last_execution_id", optional(read_str), None),
        updated_at=r.get("updated_at", optional(read_instant), None),
    )
    reason = "; ".join(r.problems) if r.problems else stored_reason
    return replace(record, misconfigured=reason)


# -- edit history ----------------------------------------------------------------------------

def edit_count(data: Mapping[str, Any]) -> int:
    """How many edits the job document says were recorded (0 when absent or unreadable).

    Not a config field: an unreadable count only means the next edit reuses a slot.
    """
    try:
        count = read_int(data.get(EDIT_COUNT, 0))
    except FieldProblem:
        return 0
    return max(count, 0)


def encode_edit(record: EditRecord) -> dict[str, Any]:
    return {
        "job_id": record.job_id,
        "seq": record.seq,
        "at": record.at,
        "actor": record.actor,
        "command": record.command,
        "changes": [{"field": c.field, "before": c.before, "after": c.after}
                    for c in record.changes],
    }


def decode_edit(job_id: str, data: Mapping[str, Any]) -> tuple[EditRecord, list[str]]:
    """Parse an edit document; never raises (history is informative, kept readable)."""
    r = FieldReader(data)
    changes: list[FieldChange] = []
    raw = data.get("changes")
    if isinstance(raw, list):
        for index, item in enumerate(raw):
            if isinstance(item, Mapping) and isinstance(item.get("field"), str):
                changes.append(FieldChange(item["field"], item.get("before"), item.get("after")))
            else:
                r.problems.append(f"field 'changes': item {index}: {describe(item)}")
    elif raw is not None:
        r.problems.append(f"field 'changes': expected an array, got {describe(raw)}")
    record = EditRecord(
        job_id=job_id, seq=r.get("seq", read_int, 0), at=r.get("at", read_instant, EPOCH),
        actor=r.get("actor", read_str, "?"), command=r.get("command", read_str, "?"),
        changes=tuple(changes))
    return record, r.problems


# -- run records -----------------------------------------------------------------------------

def expire_at(run: RunRecord, retention: timedelta) -> datetime:
    """When Firestore's TTL policy may delete the record.

    Final runs are kept ``retention`` after they finished; unfinished ones
    ``retention`` after the latest instant they are still waiting for, so a run
    delayed for weeks is never deleted before it runs.
    """
    if run.status.is_final and run.finished_at is not None:
        return run.finished_at + retention
    waiting = [i for i in (run.scheduled_for, run.created_at, run.next_attempt_at,
                           run.lease_expires_at) if i is not None]
    return max(waiting) + retention


def encode_run(run: RunRecord, retention: timedelta) -> dict[str, Any]:
    try:
        payload_json = json.dumps(run.payload, allow_nan=False, separators=(",", ":"),
                                  sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise PayloadError(run.job_id, f"not JSON-serialisable: {exc}") from exc
    return {
        "job_id": run.job_id,
        "execution_id": run.execution_id,
        "trigger": run.trigger.value,
        "scheduled_for": run.scheduled_for,
        "status": run.status.value,
        "attempt": run.attempt,
        "payload_json": payload_json,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_ms": run.duration_ms,
        "error_type": run.error_type,
        "error_message": run.error_message,
        "next_attempt_at": run.next_attempt_at,
        "lease_holder": run.lease_holder,
        "lease_expires_at": run.lease_expires_at,
        "expire_at": expire_at(run, retention),
        # When the next step is due; null once final, so a final run is in no index
        # range the reconciler's collection-group query reads (docs/firestore.md).
        "due_at": run_due_at(run),
    }


def stored_due_at(data: Mapping[str, Any]) -> datetime | None:
    """A run document's ``due_at``; None when absent, null or unreadable (never raises)."""
    try:
        return optional(read_instant)(data.get("due_at"))
    except FieldProblem:
        return None


def _json(value: object) -> Any:
    text = read_str(value)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise FieldProblem(f"expected JSON text, got {text[:40]!r}: {exc}") from None



def decode_run(job_id: str, execution_id: str, data: Mapping[str, Any]
               ) -> tuple[RunRecord, list[str]]:
    """Parse a run record; never raises.

    Returns the record and the problems found. A record whose ``status``,
    ``trigger`` or ``scheduled_for`` cannot be read is returned as a FAILURE
    with ``error_type`` ``CorruptRunRecord`` and the problems as its message:
    final (so no delivery runs it again blindly), visible in ``zenjobs
    status`` and replayable once fixed.
    """
    r = FieldReader(data)
    r.unknown(RUN_FIELDS)
    status = r.get("status", read_enum(RunStatus), None)
    trigger = r.get("trigger", read_enum(Trigger), None)
    scheduled_for = r.get("scheduled_for", read_instant, None)
    for name, value in (("status", status), ("trigger", trigger),
                        ("scheduled_for", scheduled_for)):
        if value is None and name not in data:
            r.problems.append(f"field {name!r}: missing")
    run = RunRecord(
        job_id=job_id,
        execution_id=execution_id,
        trigger=trigger or Trigger.SCHEDULE,
        scheduled_for=scheduled_for or EPOCH,
        status=status or RunStatus.FAILURE,
        attempt=r.get("attempt", read_int, 1),
        payload=r.get("payload_json", _json, None),
        created_at=r.get("created_at", optional(read_instant), None),
        started_at=r.get("started_at", optional(read_instant), None),
        finished_at=r.get("finished_at", optional(read_instant), None),
        duration_ms=r.get("duration_ms", optional(read_int), None),
        error_type=r.get("error_type", optional(read_str), None),
        error_message=r.get("error_message", optional(read_str), None),
        next_attempt_at=r.get("next_attempt_at", optional(read_instant), None),
        lease_holder=r.get("lease_holder", optional(read_str), None),
        lease_expires_at=r.get("lease_expires_at", optional(read_instant), None),
    )
    r.get("expire_at", optional(read_instant), None)
    r.get("due_at", optional(read_instant), None)
    if status is None or trigger is None or scheduled_for is None:
        run = run.evolve(status=RunStatus.FAILURE, error_type=CORRUPT_RUN,
                         error_message="; ".join(r.problems), lease_holder=None,
                         lease_expires_at=None)
    return run, r.problems

