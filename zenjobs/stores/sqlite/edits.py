"""The SQLite store's field-level config edits and their history (table ``job_edits``).

Kept apart from :mod:`.schema` (rows of jobs and runs) because an edit
touches the job row differently from every other write: only the config keys it
changes are rewritten inside the stored JSON object, so a concurrent edit of
another key (serialised by ``BEGIN IMMEDIATE``) and a hand-edited key the edit
does not touch are both kept, as a Firestore field update keeps them.

History: one row per edit, ``(job_id, seq)`` the key, the changed fields as
JSON; the latest :data:`~.records.EDIT_HISTORY` per job are kept, older ones
deleted in the same transaction. Schema version 2 added the table; a version-1
dev database gets it on open (``SqliteJobStore._migrate``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from .. import config_codec as cc
from ..records import EDIT_HISTORY, EditRecord, FieldChange, JobRecord
from . import schema as schema

log = logging.getLogger("zenjobs.stores.sqlite.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS job_edits (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    command TEXT NOT NULL,
    changes TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);
"""


def next_seq(conn: sqlite3.Connection, job_id: str) -> int:
    """The number the job's next edit gets (one more than the newest kept)."""
    row = conn.execute("SELECT MAX(seq) FROM job_edits WHERE job_id = ?", (job_id,)).fetchone()
    return 1 if row[0] is None else int(row[0]) + 1


def _config_text(conn: sqlite3.Connection, job: JobRecord, fields: list[str],
                 restore: bool) -> str:
    """The config column after the edit: only ``fields`` rewritten inside the stored object.

    A restore, or a column that is not a JSON object, is written whole.
    """
    whole = schema.config_json(job.config)
    if restore:
        return whole
    row = conn.execute("SELECT config FROM jobs WHERE job_id = ?", (job.job_id,)).fetchone()
    try:
        stored = json.loads(row[0])
    except (TypeError, ValueError):
        return whole
    if not isinstance(stored, dict):
        return whole
    encoded = cc.encode_config(job.config, schema.to_micros)
    stored.update({name: encoded[name] for name in fields})
    return json.dumps(stored, sort_keys=True)


def write_edit(conn: sqlite3.Connection, before: JobRecord, after: JobRecord,
               record: EditRecord, restore: bool) -> None:
    """Write the edited job's changed columns and record the edit (inside the transaction)."""
    fields = [change.field for change in record.changes]
    values: dict[str, Any] = {"config": _config_text(conn, after, fields, restore),
                              "updated_at": schema.to_micros(after.updated_at)}
    if restore or "enabled" in fields:
        values["enabled"] = int(after.config.enabled)
    if restore or "priority" in fields:
        values["priority"] = after.config.priority
    if after.next_run_at != before.next_run_at:
        values["next_run_at"] = schema.to_micros(after.next_run_at)
    if restore:
        values["misconfigured"] = None
    assignments = ", ".join(f"{name} = ?" for name in values)
    conn.execute(f"UPDATE jobs SET {assignments} WHERE job_id = ?",
                 (*values.values(), after.job_id))
    changes = json.dumps([{"field": c.field, "before": c.before, "after": c.after}
                          for c in record.changes])
    conn.execute("INSERT INTO job_edits (job_id, seq, at, actor, command, changes)"
                 " VALUES (?, ?, ?, ?, ?, ?)",
                 (record.job_id, record.seq, schema.to_micros(record.at), record.actor,
                  record.command, changes))
    conn.execute("DELETE FROM job_edits WHERE job_id = ? AND seq <= ?",
                 (record.job_id, record.seq - EDIT_HISTORY))


def list_edits(conn: sqlite3.Connection, job_id: str, limit: int) -> list[EditRecord]:
    rows = conn.execute("SELECT job_id, seq, at, actor, command, changes FROM job_edits"
                        " WHERE job_id = ? ORDER BY seq DESC LIMIT ?", (job_id, limit))
    return [_decode(row) for row in rows]


def _decode(row: sqlite3.Row) -> EditRecord:
    """An edit row; a hand-edited one reads with what can be read (history is informative)."""
    r = cc.FieldReader(dict(zip(row.keys(), tuple(row), strict=True)), kind="column")
    changes: list[FieldChange] = []
    try:
        for item in json.loads(cc.read_str(row["changes"])):
            changes.append(FieldChange(str(item["field"]), item.get("before"),
                                       item.get("after")))
    except (cc.FieldProblem, ValueError, TypeError, KeyError, AttributeError) as exc:
        r.problems.append(f"column 'changes': {exc}")
    record = EditRecord(
        job_id=str(row["job_id"]), seq=r.get("seq", cc.read_int, 0),
        at=r.get("at", schema.read_micros, schema.EPOCH),
        actor=r.get("actor", cc.read_str, "?"), command=r.get("command", cc.read_str, "?"),
        changes=tuple(changes))
    if r.problems:
        log.warning("edit row %s/%s has problems: %s", record.job_id, record.seq,
                    "; ".join(r.problems))
    return record
