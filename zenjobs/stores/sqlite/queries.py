"""The SQLite store's dashboard queries: batch job reads, run pages, dead runs, run counts.

Each is one statement (one per :data:`CHUNK` ids for the batch ones) that reads
an index range, never the whole ``jobs`` or ``runs`` table:

* :func:`get_jobs`: ``job_id IN (...)`` on the primary key;
* :func:`list_runs`: the ``runs_recent`` range of one job, from the cursor on
  (a row-value comparison ``(created_at, execution_id) < (?, ?)``);
* :func:`dead_runs`: the ``status = 'dead'`` range of ``runs_by_status``
  (:data:`INDEX`), newest first, from the cursor on;
* :func:`run_counts`: ``GROUP BY job_id, status`` over the ``runs_recent``
  ranges ``created_at >= since`` of the jobs asked for.

``INDEXED BY`` makes SQLite fail loudly rather than fall back to a table scan.
The ``runs_by_status`` index is created on open (``SqliteJobStore._migrate``),
so a database made before it gets it too; it only adds an index, so the file
stays readable by a zenjobs that does not know it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime

from .. import transitions as t
from ..records import JobRecord, RunCursor, RunRecord, RunStatus
from . import schema as schema

#: Ids per ``IN (...)`` list: well under SQLite's bound on parameters (999 before 3.32).
CHUNK = 500

#: The dead-runs page: equality on ``status``, then the page order.
INDEX = ("CREATE INDEX IF NOT EXISTS runs_by_status"
         " ON runs (status, created_at, job_id, execution_id)")
SCHEMA = INDEX + ";\n"

_DEAD = RunStatus.DEAD.value


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def get_jobs(conn: sqlite3.Connection, job_ids: Sequence[str]) -> dict[str, JobRecord]:
    found: dict[str, JobRecord] = {}
    for chunk in _chunks(job_ids):
        rows = conn.execute(f"SELECT {schema.JOB_COLUMNS} FROM jobs"
                            f" WHERE job_id IN ({schema.marks(len(chunk))})", tuple(chunk))
        for row in rows:
            job = schema.decode_job(row)
            found[job.job_id] = job
    return found


def list_runs_query(with_cursor: bool) -> str:
    """One job's runs, newest first; with a cursor, only those after it."""
    after = " AND (created_at, execution_id) < (?, ?)" if with_cursor else ""
    return (f"SELECT {schema.RUN_COLUMNS} FROM runs INDEXED BY runs_recent WHERE job_id = ?"
            f"{after} ORDER BY created_at DESC, execution_id DESC LIMIT ?")


def list_runs(conn: sqlite3.Connection, job_id: str, limit: int,
              before: RunCursor | None) -> list[RunRecord]:
    if before is None:
        params: tuple[object, ...] = (job_id, limit)
    else:
        params = (job_id, schema.to_micros(before[0]), before[2], limit)
    return [schema.decode_run(row)
            for row in conn.execute(list_runs_query(before is not None), params)]


def dead_runs_query(*, one_job: bool, with_cursor: bool) -> str:
    """DEAD runs (of one job), newest first by (created_at, job_id, execution_id)."""
    job = " AND job_id = ?" if one_job else ""
    after = " AND (created_at, job_id, execution_id) < (?, ?, ?)" if with_cursor else ""
    return (f"SELECT {schema.RUN_COLUMNS} FROM runs INDEXED BY runs_by_status"
            f" WHERE status = ?{job}{after}"
            " ORDER BY created_at DESC, job_id DESC, execution_id DESC LIMIT ?")


def dead_runs(conn: sqlite3.Connection, limit: int, job_id: str | None,
              before: RunCursor | None) -> list[RunRecord]:
    params: list[object] = [_DEAD]
    if job_id is not None:
        params.append(job_id)
    if before is not None:
        params += [schema.to_micros(before[0]), before[1], before[2]]
    params.append(limit)
    query = dead_runs_query(one_job=job_id is not None, with_cursor=before is not None)
    return [schema.decode_run(row) for row in conn.execute(query, params)]


def run_counts_query(ids: int) -> str:
    """Runs per (job, status) created at or after ``?``, for ``ids`` job ids."""
    return ("SELECT job_id, status, COUNT(*) FROM runs INDEXED BY runs_recent"
            f" WHERE job_id IN ({schema.marks(ids)}) AND created_at >= ?"
            " GROUP BY job_id, status")


def run_counts(conn: sqlite3.Connection, job_ids: Sequence[str],
               since: datetime) -> dict[str, dict[str, int]]:
    counts = t.empty_counts(job_ids)
    micros = schema.to_micros(since)
    for chunk in _chunks(job_ids):
        for job_id, status, count in conn.execute(run_counts_query(len(chunk)),
                                                  (*chunk, micros)):
            bucket = t.BUCKET_OF_STATUS.get(status)  # None: a hand-edited status
            if bucket is not None and job_id in counts:
                counts[job_id][bucket] += int(count)
    return counts
