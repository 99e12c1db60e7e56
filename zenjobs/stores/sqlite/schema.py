"""The SQLite store's schema and the mapping between rows and records.

Instants are integer microseconds since the Unix epoch (UTC): exact, sortable
and indexable. A job's editable config is one JSON column, with the two fields
the due query needs (``enabled``, ``priority``) copied into indexed columns.

A job row may be edited by hand (``sqlite3 .zenjobs/dev.sqlite3``), so reading
one never raises: with the Firestore store's readers
(:mod:`zenjobs.stores.config_codec`), every value it cannot read (bad JSON,
a wrong type, an unknown config field, an out-of-range instant) becomes a line
of the record's ``misconfigured`` reason naming the config field or column,
and the runtime skips that job. A readable but invalid value (a cron that does
not parse, an unknown time zone) is kept as stored: the runtime's
re-validation reports it and ``zenjobs set`` can fix it in place. Writes of
job state touch only the columns they change, so a hand edit survives until it
is fixed or ``zenjobs sync --reset`` restores it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from .. import config_codec as cc
from .. import transitions as t
from ..records import JobConfig, JobRecord, RunRecord, RunStatus, Trigger

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
log = logging.getLogger("zenjobs.stores.sqlite.store")

#: 1: jobs and runs; 2: adds ``job_edits`` (:mod:`.edits`), created on open;
#: 3: adds ``runs.due_at`` and its index (:mod:`.recovery`), backfilled on open.
#: The dashboard's ``runs_by_status`` index (:mod:`.queries`) is created on open of a
#: file of any version: an extra index changes nothing an older zenjobs reads or
#: writes (SQLite maintains it), so it needs no new version that would lock one out.
SCHEMA_VERSION = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS zenjobs_schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    next_run_at INTEGER,
    last_status TEXT,
    last_run_at INTEGER,
    last_execution_id TEXT,
    misconfigured TEXT,
    updated_at INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (enabled, next_run_at);
CREATE TABLE IF NOT EXISTS runs (
    job_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    trigger TEXT NOT NULL,
    scheduled_for INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    duration_ms INTEGER,
    error_type TEXT,
    error_message TEXT,
    next_attempt_at INTEGER,
    lease_holder TEXT,
    lease_expires_at INTEGER,
    due_at INTEGER,
    PRIMARY KEY (job_id, execution_id)
);
CREATE INDEX IF NOT EXISTS runs_recent ON runs (job_id, created_at, execution_id);
"""

JOB_COLUMN_NAMES = ("job_id", "config", "enabled", "priority", "next_run_at", "last_status",
                    "last_run_at", "last_execution_id", "misconfigured", "updated_at")
JOB_COLUMNS = ", ".join(JOB_COLUMN_NAMES)
#: The columns a change of the editable config rewrites (the copies the due query needs).
CONFIG_COLUMNS = ("config", "enabled", "priority")

#: The master tick's query: a range scan of ``jobs_due`` (``INDEXED BY`` makes
#: SQLite fail loudly rather than fall back to a table scan), then a sort of
#: only the due rows.
DUE_QUERY = (f"SELECT {JOB_COLUMNS} FROM jobs INDEXED BY jobs_due"
             " WHERE enabled = 1 AND next_run_at IS NOT NULL AND next_run_at <= ?"
             " ORDER BY priority DESC, next_run_at ASC, job_id ASC LIMIT ?")
RUN_COLUMNS = ("job_id, execution_id, trigger, scheduled_for, status, attempt, payload, "
               "created_at, started_at, finished_at, duration_ms, error_type, error_message, "
               "next_attempt_at, lease_holder, lease_expires_at")
#: What a run write sets: the record, and ``due_at`` (never read back into the record).
RUN_WRITE_COLUMNS = f"{RUN_COLUMNS}, due_at"


def to_micros(instant: datetime | None) -> int | None:
    """Microseconds since the epoch, computed exactly (no float rounding)."""
    if instant is None:
        return None
    delta = t.to_utc(instant, "instant") - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int | None) -> datetime | None:
    return None if micros is None else EPOCH + timedelta(microseconds=micros)


def config_json(config: JobConfig) -> str:
    return json.dumps(cc.encode_config(config, to_micros), sort_keys=True)


def read_micros(value: object) -> datetime:
    """An instant stored as integer microseconds since the epoch."""
    micros = cc.read_int(value)
    try:
        return EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise cc.FieldProblem(f"microseconds since the epoch out of range: {micros}") from None


def _config_object(text: object, columns: cc.FieldReader) -> Mapping[str, Any]:
    """The config column's JSON object ({} and a problem when it is not one)."""
    try:
        raw = json.loads(cc.read_str(text))
    except cc.FieldProblem as exc:
        columns.check("config", str(exc))
        return {}
    except ValueError as exc:
        columns.check("config", f"expected a JSON object, got {str(text)[:40]!r}: {exc}")
        return {}
    if not isinstance(raw, dict):
        columns.check("config", f"expected a JSON object, got {cc.describe(raw)}")
        return {}
    return raw


#: The columns decoded apart from the config (read on every fetch of a job row).
STATE_COLUMN_NAMES = ("next_run_at", "last_status", "last_run_at", "last_execution_id",
                      "misconfigured", "updated_at")
_OPTIONAL_MICROS = cc.optional(read_micros)
_OPTIONAL_STATUS = cc.optional(cc.read_completed_status)
_OPTIONAL_STR = cc.optional(cc.read_str)
#: (config column, enabled column, priority column) -> (config, its problems). Decoding is
#: a pure function of those three values and a job's config rarely changes, while its row
#: is read on every delivery (docs/performance.md); bounded, cleared when full.
_CONFIG_CACHE: dict[tuple[Any, Any, Any], tuple[JobConfig, tuple[str, ...]]] = {}
_CONFIG_CACHE_SIZE = 1024


def _decode_config_columns(text: Any, enabled: Any, priority: Any
                           ) -> tuple[JobConfig, tuple[str, ...]]:
    """The config of a job row and the problems of its three config columns, in order."""
    # SQLite values are hashable (int, float, str, bytes, None); the only keys that compare
    # equal across types are an integer and its whole float, which decode alike (read_int).
    key = (text, enabled, priority)
    cached = _CONFIG_CACHE.get(key)
    if cached is not None:
        return cached
    columns = cc.FieldReader({"config": text, "enabled": enabled, "priority": priority},
                             kind="column")
    raw = _config_object(text, columns)
    fields = cc.FieldReader(raw, kind="config field", problems=columns.problems)
    fields.unknown(frozenset(cc.CONFIG_FIELDS))
    config = cc.decode_config(fields, read_micros)
    for name in ("enabled", "priority"):
        copied = columns.get(name, cc.read_int, None)
        if copied is not None and name in raw and not any(
                problem.startswith(f"config field {name!r}") for problem in fields.problems):
            value = int(getattr(config, name))
            if copied != value:
                columns.check(name, f"{copied} disagrees with config field {name!r} "
                                    f"({raw[name]!r}): the due query reads the column")
    decoded = (config, tuple(columns.problems))
    if len(_CONFIG_CACHE) >= _CONFIG_CACHE_SIZE:
        _CONFIG_CACHE.clear()
    _CONFIG_CACHE[key] = decoded
    return decoded


def decode_job(row: sqlite3.Row) -> JobRecord:
    """Parse a job row; problems go to ``misconfigured`` instead of raising.

    When the row itself has problems they are the reason (a reason stored
    earlier is then dropped, as in the Firestore store); otherwise the stored
    ``misconfigured`` value is kept.
    """
    config, config_problems = _decode_config_columns(row["config"], row["enabled"],
                                                     row["priority"])
    columns = cc.FieldReader({name: row[name] for name in STATE_COLUMN_NAMES}, kind="column",
                             problems=list(config_problems))
    next_run_at = columns.get("next_run_at", _OPTIONAL_MICROS, None)
    last_status = columns.get("last_status", _OPTIONAL_STATUS, None)
    last_run_at = columns.get("last_run_at", _OPTIONAL_MICROS, None)
    last_execution_id = columns.get("last_execution_id", _OPTIONAL_STR, None)
    updated_at = columns.get("updated_at", _OPTIONAL_MICROS, None)
    stored_reason = columns.get("misconfigured", _OPTIONAL_STR, None)
    problems = columns.problems
    return JobRecord(
        job_id=str(row["job_id"]), config=config, next_run_at=next_run_at,
        last_status=last_status, last_run_at=last_run_at, last_execution_id=last_execution_id,
        misconfigured="; ".join(problems) if problems else stored_reason, updated_at=updated_at,
    )


def job_row(job: JobRecord) -> tuple[Any, ...]:
    return (job.job_id, config_json(job.config), int(job.config.enabled), job.config.priority,
            to_micros(job.next_run_at), None if job.last_status is None else job.last_status.value,
            to_micros(job.last_run_at), job.last_execution_id, job.misconfigured,
            to_micros(job.updated_at))


def decode_run(row: sqlite3.Row) -> RunRecord:
    """Parse a run row; a hand-edited row never raises (as in the Firestore store).

    The usual row takes the direct path; one that does not decode cleanly is read
    again field by field (:func:`_decode_run_leniently`).
    """
    try:
        scheduled_for = from_micros(row["scheduled_for"])
        attempt = row["attempt"]
        if scheduled_for is None or type(attempt) is not int:
            raise TypeError("scheduled_for or attempt")
        return RunRecord(
            job_id=row["job_id"], execution_id=row["execution_id"],
            trigger=Trigger(row["trigger"]), scheduled_for=scheduled_for,
            status=RunStatus(row["status"]), attempt=attempt,
            payload=json.loads(row["payload"]), created_at=from_micros(row["created_at"]),
            started_at=from_micros(row["started_at"]),
            finished_at=from_micros(row["finished_at"]), duration_ms=row["duration_ms"],
            error_type=row["error_type"], error_message=row["error_message"],
            next_attempt_at=from_micros(row["next_attempt_at"]),
            lease_holder=row["lease_holder"],
            lease_expires_at=from_micros(row["lease_expires_at"]),
        )
    except (TypeError, ValueError, OverflowError):
        return _decode_run_leniently(row)


def _json_text(value: object) -> Any:
    text = cc.read_str(value)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise cc.FieldProblem(f"expected JSON text, got {text[:40]!r}: {exc}") from None


def _decode_run_leniently(row: sqlite3.Row) -> RunRecord:
    """A run row read column by column, like :func:`~zenjobs.stores.firestore.codec.decode_run`.

    A row whose ``status``, ``trigger`` or ``scheduled_for`` cannot be read loads
    as a final FAILURE with ``error_type`` :data:`~.config_codec.CORRUPT_RUN`
    naming the columns: no delivery runs it blindly again and it can be replayed.
    Lesser problems fall back to defaults and are logged.
    """
    r = cc.FieldReader(dict(zip(row.keys(), tuple(row), strict=True)), kind="column")
    status = r.get("status", cc.read_enum(RunStatus), None)
    trigger = r.get("trigger", cc.read_enum(Trigger), None)
    scheduled_for = r.get("scheduled_for", read_micros, None)
    run = RunRecord(
        job_id=str(row["job_id"]), execution_id=str(row["execution_id"]),
        trigger=trigger or Trigger.SCHEDULE, scheduled_for=scheduled_for or EPOCH,
        status=status or RunStatus.FAILURE, attempt=r.get("attempt", cc.read_int, 1),
        payload=r.get("payload", _json_text, None),
        created_at=r.get("created_at", _OPTIONAL_MICROS, None),
        started_at=r.get("started_at", _OPTIONAL_MICROS, None),
        finished_at=r.get("finished_at", _OPTIONAL_MICROS, None),
        duration_ms=r.get("duration_ms", cc.optional(cc.read_int), None),
        error_type=r.get("error_type", _OPTIONAL_STR, None),
        error_message=r.get("error_message", _OPTIONAL_STR, None),
        next_attempt_at=r.get("next_attempt_at", _OPTIONAL_MICROS, None),
        lease_holder=r.get("lease_holder", _OPTIONAL_STR, None),
        lease_expires_at=r.get("lease_expires_at", _OPTIONAL_MICROS, None),
    )
    if r.problems:
        log.warning("run row %s/%s has problems: %s", run.job_id, run.execution_id,
                    "; ".join(r.problems))
    if status is None or trigger is None or scheduled_for is None:
        run = run.evolve(status=RunStatus.FAILURE, error_type=cc.CORRUPT_RUN,
                         error_message="; ".join(r.problems), lease_holder=None,
                         lease_expires_at=None)
    return run


def run_row(run: RunRecord) -> tuple[Any, ...]:
    return (run.job_id, run.execution_id, run.trigger.value, to_micros(run.scheduled_for),
            run.status.value, run.attempt, json.dumps(run.payload), to_micros(run.created_at),
            to_micros(run.started_at), to_micros(run.finished_at), run.duration_ms, run.error_type,
            run.error_message, to_micros(run.next_attempt_at), run.lease_holder,
            to_micros(run.lease_expires_at))


def get_job(conn: sqlite3.Connection, job_id: str) -> JobRecord | None:
    row = conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    return None if row is None else decode_job(row)


def put_job(conn: sqlite3.Connection, job: JobRecord) -> None:
    """Write a whole new job row."""
    conn.execute(f"INSERT OR REPLACE INTO jobs ({JOB_COLUMNS}) VALUES ({marks(10)})",
                 job_row(job))


def get_job_run_state(conn: sqlite3.Connection, job_id: str) -> JobRecord | None:
    """The job row as far as :func:`~.transitions.job_after_run` reads it (``last_run_at``).

    Recording an outcome needs only that column; decoding the whole row (config JSON
    included) for it was a measurable share of a delivery (docs/performance.md). The
    config is left at its default: write back only the ``last_*`` columns. An unreadable
    ``last_run_at`` reads as None, as in :func:`decode_job`.
    """
    row = conn.execute("SELECT last_run_at FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    if row is None:
        return None
    try:
        last_run_at = _OPTIONAL_MICROS(row[0])
    except cc.FieldProblem:
        last_run_at = None
    return JobRecord(job_id=job_id, config=JobConfig(), last_run_at=last_run_at)


def update_job_columns(conn: sqlite3.Connection, job: JobRecord, names: Iterable[str]) -> None:
    """Write only the columns ``names`` of ``job``'s row (the ones the change touched)."""
    chosen = list(dict.fromkeys(names))
    if any(name in CONFIG_COLUMNS for name in chosen):
        values = dict(zip(JOB_COLUMN_NAMES, job_row(job), strict=True))
    else:  # state only: skip encoding the config
        values = {name: _state_value(job, name) for name in chosen}
    assignments = ", ".join(f"{name} = ?" for name in chosen)
    conn.execute(f"UPDATE jobs SET {assignments} WHERE job_id = ?",
                 (*(values[name] for name in chosen), job.job_id))


def _state_value(job: JobRecord, name: str) -> Any:
    """The stored value of one state (non-config) column of ``job``, as :func:`job_row`."""
    value = getattr(job, name)
    if name == "last_status":
        return None if value is None else value.value
    if name in ("next_run_at", "last_run_at", "updated_at"):
        return to_micros(value)
    return value


def get_run(conn: sqlite3.Connection, job_id: str, execution_id: str) -> RunRecord | None:
    row = conn.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE job_id = ? AND execution_id = ?",
                       (job_id, execution_id)).fetchone()
    return None if row is None else decode_run(row)


def put_run(conn: sqlite3.Connection, run: RunRecord, *, replace: bool = True) -> bool:
    """Write the whole row of ``run`` and its ``due_at``; without ``replace``, only if absent."""
    verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
    cursor = conn.execute(f"{verb} INTO runs ({RUN_WRITE_COLUMNS}) VALUES ({marks(17)})",
                          (*run_row(run), to_micros(t.run_due_at(run))))
    return cursor.rowcount == 1


_RUN_FIELDS = tuple(name.strip() for name in RUN_COLUMNS.split(","))
_RUN_INSTANTS = frozenset({"scheduled_for", "created_at", "started_at", "finished_at",
                           "next_attempt_at", "lease_expires_at"})


def _run_value(run: RunRecord, name: str) -> Any:
    """The stored value of one column of ``run``, as :func:`run_row` writes it."""
    value = getattr(run, name)
    if name in _RUN_INSTANTS:
        return to_micros(value)
    if name in ("trigger", "status"):
        return value.value
    if name == "payload":
        return json.dumps(value)
    return value


def update_run(conn: sqlite3.Connection, run: RunRecord, stored: RunRecord) -> None:
    """Write ``run`` over its existing row ``stored`` (as read in the same transaction).

    Only the columns whose values differ are written: the same row as
    :func:`put_run` leaves, without re-encoding the payload or deleting and
    re-inserting the row and its index entries (``INSERT OR REPLACE``), which
    cost a lease or an outcome a third more (docs/performance.md, figure 2).
    """
    if (run.job_id, run.execution_id) != (stored.job_id, stored.execution_id):
        raise ValueError(f"update_run: {run.execution_id!r} is not {stored.execution_id!r}")
    changed = [name for name in _RUN_FIELDS[2:] if getattr(run, name) != getattr(stored, name)]
    if not changed:
        return
    # A state change computes due_at afresh (a reconciler's deferral only lasts until then).
    assignments = ", ".join(f"{name} = ?" for name in [*changed, "due_at"])
    conn.execute(f"UPDATE runs SET {assignments} WHERE job_id = ? AND execution_id = ?",
                 (*(_run_value(run, name) for name in changed), to_micros(t.run_due_at(run)),
                  run.job_id, run.execution_id))


def marks(n: int) -> str:
    return ", ".join("?" * n)
