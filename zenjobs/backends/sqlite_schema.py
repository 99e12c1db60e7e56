"""The SQLite store's schema and the mapping between rows and records.

Instants are integer microseconds since the Unix epoch (UTC): exact, sortable
and indexable. A job's editable config is one JSON column, with the two fields
the due query needs (``enabled``, ``priority``) copied into indexed columns.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime, timedelta, timezone
from typing import Any

from . import transitions as t
from .base import JobConfig, JobRecord, RunRecord, RunStatus, Trigger

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

SCHEMA_VERSION = 1

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
    PRIMARY KEY (job_id, execution_id)
);
CREATE INDEX IF NOT EXISTS runs_recent ON runs (job_id, created_at, execution_id);
"""

JOB_COLUMNS = ("job_id, config, enabled, priority, next_run_at, last_status, last_run_at, "
               "last_execution_id, misconfigured, updated_at")

#: The master tick's query: a range scan of ``jobs_due`` (``INDEXED BY`` makes
#: SQLite fail loudly rather than fall back to a table scan), then a sort of
#: only the due rows.
DUE_QUERY = (f"SELECT {JOB_COLUMNS} FROM jobs INDEXED BY jobs_due"
             " WHERE enabled = 1 AND next_run_at IS NOT NULL AND next_run_at <= ?"
             " ORDER BY priority DESC, next_run_at ASC, job_id ASC LIMIT ?")
RUN_COLUMNS = ("job_id, execution_id, trigger, scheduled_for, status, attempt, payload, "
               "created_at, started_at, finished_at, duration_ms, error_type, error_message, "
               "next_attempt_at, lease_holder, lease_expires_at")


def to_micros(instant: datetime | None) -> int | None:
    """Microseconds since the epoch, computed exactly (no float rounding)."""
    if instant is None:
        return None
    delta = t.to_utc(instant, "instant") - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int | None) -> datetime | None:
    return None if micros is None else EPOCH + timedelta(microseconds=micros)


def config_json(config: JobConfig) -> str:
    return json.dumps({
        "enabled": config.enabled, "cron": config.cron,
        "interval_seconds": config.interval_seconds, "timezone": config.timezone,
        "start_at": to_micros(config.start_at),
        "end_at": None if config.end_at is None else config.end_at.isoformat(),
        "skip_dates": [d.isoformat() for d in config.skip_dates],
        "dependencies": list(config.dependencies), "max_retries": config.max_retries,
        "priority": config.priority,
    }, sort_keys=True)


def decode_config(text: str) -> JobConfig:
    raw: dict[str, Any] = json.loads(text)
    end_at = raw.get("end_at")
    return JobConfig(
        enabled=bool(raw["enabled"]), cron=raw.get("cron"),
        interval_seconds=raw.get("interval_seconds"), timezone=raw.get("timezone", "UTC"),
        start_at=from_micros(raw.get("start_at")),
        end_at=None if end_at is None else date.fromisoformat(end_at),
        skip_dates=tuple(date.fromisoformat(d) for d in raw.get("skip_dates", ())),
        dependencies=tuple(raw.get("dependencies", ())),
        max_retries=int(raw.get("max_retries", 3)), priority=int(raw.get("priority", 0)),
    )


def decode_job(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        job_id=row["job_id"], config=decode_config(row["config"]),
        next_run_at=from_micros(row["next_run_at"]),
        last_status=None if row["last_status"] is None else RunStatus(row["last_status"]),
        last_run_at=from_micros(row["last_run_at"]), last_execution_id=row["last_execution_id"],
        misconfigured=row["misconfigured"], updated_at=from_micros(row["updated_at"]),
    )


def job_row(job: JobRecord) -> tuple[Any, ...]:
    return (job.job_id, config_json(job.config), int(job.config.enabled), job.config.priority,
            to_micros(job.next_run_at), None if job.last_status is None else job.last_status.value,
            to_micros(job.last_run_at), job.last_execution_id, job.misconfigured,
            to_micros(job.updated_at))


def decode_run(row: sqlite3.Row) -> RunRecord:
    scheduled_for = from_micros(row["scheduled_for"])
    assert scheduled_for is not None
    return RunRecord(
        job_id=row["job_id"], execution_id=row["execution_id"], trigger=Trigger(row["trigger"]),
        scheduled_for=scheduled_for, status=RunStatus(row["status"]), attempt=row["attempt"],
        payload=json.loads(row["payload"]), created_at=from_micros(row["created_at"]),
        started_at=from_micros(row["started_at"]), finished_at=from_micros(row["finished_at"]),
        duration_ms=row["duration_ms"], error_type=row["error_type"],
        error_message=row["error_message"], next_attempt_at=from_micros(row["next_attempt_at"]),
        lease_holder=row["lease_holder"], lease_expires_at=from_micros(row["lease_expires_at"]),
    )


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
    conn.execute(f"INSERT OR REPLACE INTO jobs ({JOB_COLUMNS}) VALUES ({marks(10)})",
                 job_row(job))


def get_run(conn: sqlite3.Connection, job_id: str, execution_id: str) -> RunRecord | None:
    row = conn.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE job_id = ? AND execution_id = ?",
                       (job_id, execution_id)).fetchone()
    return None if row is None else decode_run(row)


def put_run(conn: sqlite3.Connection, run: RunRecord) -> None:
    conn.execute(f"INSERT OR REPLACE INTO runs ({RUN_COLUMNS}) VALUES ({marks(16)})",
                 run_row(run))


def marks(n: int) -> str:
    return ", ".join("?" * n)
