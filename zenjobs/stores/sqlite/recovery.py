"""The SQLite store's overdue-run index: ``runs.due_at``, its query, deferral and migration.

Every run write (:func:`.schema.put_run`, :func:`.schema.update_run`)
stores ``due_at`` (:func:`~.transitions.run_due_at`: when the run's next step
was due; NULL once it is final). The partial index ``runs_overdue`` holds only
the non-NULL ones, ordered as the reconciler reads them, so
:data:`OVERDUE_QUERY` is a range scan that stops after ``limit`` rows: its cost
follows the overdue runs, never the finished history.

Schema version 3 added the column and the index. A version-2 file gets them on
open (``SqliteJobStore._migrate``), in the same ``BEGIN IMMEDIATE`` as the
version bump, and every run that is not final gets its ``due_at`` computed from
its row, so a run stuck before the upgrade is found after it.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from .. import config_codec as cc
from .. import transitions as t
from ..records import OverdueRun, RunStatus
from . import schema as schema

#: Created after the column exists (a version-2 table gains it first, by ALTER TABLE).
INDEX = ("CREATE INDEX IF NOT EXISTS runs_overdue ON runs (due_at, job_id, execution_id)"
         " WHERE due_at IS NOT NULL")

_NOT_FINAL = tuple(status.value for status in RunStatus if not status.is_final)

#: ``INDEXED BY`` makes SQLite fail loudly rather than fall back to a table scan; the
#: ``due_at IS NOT NULL`` term is what lets the planner use the partial index. The status
#: term only matters for a row hand-edited to a final status (its ``due_at`` left behind).
OVERDUE_QUERY = (f"SELECT {schema.RUN_COLUMNS}, due_at FROM runs INDEXED BY runs_overdue"
                 " WHERE due_at IS NOT NULL AND due_at <= ?"
                 f" AND status IN ({', '.join(repr(v) for v in _NOT_FINAL)})"
                 " ORDER BY due_at, job_id, execution_id LIMIT ?")


def upgrade(conn: sqlite3.Connection) -> None:
    """Give a version-2 ``runs`` table its ``due_at`` column (backfilled) and the index.

    Idempotent: a table that has the column only gets ``CREATE INDEX IF NOT EXISTS``.
    """
    columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    if "due_at" not in columns:
        conn.execute("ALTER TABLE runs ADD COLUMN due_at INTEGER")
        marks = schema.marks(len(_NOT_FINAL))
        rows = conn.execute(f"SELECT {schema.RUN_COLUMNS} FROM runs WHERE status IN ({marks})",
                            _NOT_FINAL).fetchall()
        for row in rows:
            run = schema.decode_run(row)
            conn.execute("UPDATE runs SET due_at = ? WHERE job_id = ? AND execution_id = ?",
                         (schema.to_micros(t.run_due_at(run)), run.job_id, run.execution_id))
    conn.execute(INDEX)


def _due_at(value: object) -> datetime | None:
    """A stored ``due_at``; None for one a hand edit made unreadable (never an exception)."""
    try:
        return schema.read_micros(value)
    except cc.FieldProblem:
        return None


def overdue_runs(conn: sqlite3.Connection, cutoff: datetime, limit: int) -> list[OverdueRun]:
    found = []
    for row in conn.execute(OVERDUE_QUERY, (schema.to_micros(cutoff), limit)):
        due_at, run = _due_at(row["due_at"]), schema.decode_run(row)
        if due_at is not None and not run.status.is_final:  # final: a row it cannot read
            found.append(OverdueRun(run, due_at))
    return found


def defer(conn: sqlite3.Connection, seen: OverdueRun, until: datetime) -> bool:
    """Move ``due_at`` to ``until`` if the row is still as ``seen`` (inside a write transaction)."""
    key = (seen.run.job_id, seen.run.execution_id)
    row = conn.execute(f"SELECT {schema.RUN_COLUMNS}, due_at FROM runs"
                       " WHERE job_id = ? AND execution_id = ?", key).fetchone()
    if row is None or not t.may_defer(schema.decode_run(row), _due_at(row["due_at"]), seen):
        return False
    conn.execute("UPDATE runs SET due_at = ? WHERE job_id = ? AND execution_id = ?",
                 (schema.to_micros(until), *key))
    return True
