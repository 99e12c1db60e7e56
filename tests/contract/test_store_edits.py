"""Field-level config edits and their history (``JobStore.edit_job``), on every backend.

The rules (docs/stores.md, "edit_job"): only the fields an edit names are
applied, to the document as stored inside the store's atomic step, so
concurrent edits of different fields are all kept; of the same field the last
writer wins and every edit is recorded; an edit that changes nothing writes
nothing; the history keeps the latest ``EDIT_HISTORY`` per job.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from zenjobs.errors import UnknownJobError
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.records import (
    EDIT_HISTORY,
    KEEP,
    ConfigEdit,
    FieldChange,
    JobConfig,
    JobRecord,
    NextRun,
)
from zenjobs.stores.sqlite.store import SCHEMA_VERSION, SqliteJobStore

from .conftest import PERSISTENT_BACKENDS, close_store, make_store

UTC = timezone.utc
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def edit(actor: str = "ana@laptop", command: str = "set", **changes: Any) -> ConfigEdit:
    return ConfigEdit(changes, actor=actor, command=command)


async def test_an_edit_changes_only_its_fields_and_is_recorded(store: JobStore) -> None:
    await store.ensure_job("job", JobConfig(cron="0 * * * *", priority=2), T0, T0)

    result = await store.edit_job("job", edit(enabled=False, max_retries=7), T0 + MIN)

    stored = await store.get_job("job")
    assert result.changed and result.job == stored
    assert result.before.config == JobConfig(cron="0 * * * *", priority=2)
    assert stored is not None
    assert stored.config == JobConfig(enabled=False, cron="0 * * * *", max_retries=7, priority=2)
    assert stored.next_run_at == T0 and stored.updated_at == T0 + MIN  # plan absent: KEEP
    assert result.edit is not None
    assert (result.edit.job_id, result.edit.seq, result.edit.at, result.edit.actor,
            result.edit.command) == ("job", 1, T0 + MIN, "ana@laptop", "set")
    assert result.edit.changes == (FieldChange("enabled", True, False),
                                   FieldChange("max_retries", 3, 7))
    assert await store.list_edits("job", 10) == [result.edit]


async def test_an_edit_that_changes_nothing_writes_and_records_nothing(store: JobStore) -> None:
    job, _ = await store.ensure_job("job", JobConfig(priority=2), T0, T0)
    called: list[JobConfig] = []

    def plan(before: JobRecord, config: JobConfig) -> NextRun:
        called.append(config)
        return None

    result = await store.edit_job("job", ConfigEdit({"priority": 2}, "ana", "set", plan),
                                  T0 + MIN)

    assert not result.changed and result.edit is None
    assert result.job == result.before == job == await store.get_job("job")
    assert called == [] and await store.list_edits("job", 10) == []


async def test_the_plan_sees_the_merged_config_and_moves_next_run_at(store: JobStore) -> None:
    await store.ensure_job("job", JobConfig(cron="0 * * * *", timezone="UTC"), T0, T0)
    await store.edit_job("job", edit(timezone="Europe/Berlin"), T0)
    seen: list[tuple[str, str | None, str]] = []

    def plan(before: JobRecord, config: JobConfig) -> NextRun:
        seen.append((before.config.timezone, config.cron, config.timezone))
        return (T0 + 5 * MIN).astimezone(timezone(timedelta(hours=2)))

    result = await store.edit_job("job", ConfigEdit({"cron": "5 * * * *"}, "bo", "set", plan),
                                  T0 + MIN)

    assert seen == [("Europe/Berlin", "5 * * * *", "Europe/Berlin")]
    assert result.job.next_run_at == T0 + 5 * MIN
    assert result.job.next_run_at is not None and result.job.next_run_at.tzinfo == UTC
    keep = await store.edit_job("job", ConfigEdit({"priority": 4}, "bo", "set",
                                                  lambda b, c: KEEP), T0 + 2 * MIN)
    ended = await store.edit_job("job", ConfigEdit({"priority": 5}, "bo", "set",
                                                   lambda b, c: None), T0 + 3 * MIN)
    assert keep.job.next_run_at == T0 + 5 * MIN
    assert ended.job.next_run_at is None


async def test_a_refused_plan_or_a_wrong_type_writes_nothing(store: JobStore) -> None:
    job, _ = await store.ensure_job("job", JobConfig(), T0, T0)

    def refuse(before: JobRecord, config: JobConfig) -> NextRun:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        await store.edit_job("job", ConfigEdit({"enabled": False}, "ana", "disable", refuse),
                             T0 + MIN)
    with pytest.raises(ValueError, match="'priority'"):
        await store.edit_job("job", edit(priority="high"), T0 + MIN)
    with pytest.raises(ValueError, match="'skip_dates'"):
        await store.edit_job("job", edit(skip_dates=["2026-03-02"]), T0 + MIN)
    assert await store.get_job("job") == job
    assert await store.list_edits("job", 10) == []


async def test_editing_a_job_without_document_raises(store: JobStore) -> None:
    with pytest.raises(UnknownJobError):
        await store.edit_job("ghost", edit(enabled=False), T0)
    assert await store.get_job("ghost") is None
    assert await store.list_edits("ghost", 5) == []


async def test_every_field_round_trips_through_an_edit(store: JobStore) -> None:
    await store.ensure_job("job", JobConfig(), T0, T0)
    start = datetime(2026, 4, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    changes = {"enabled": False, "cron": "*/5 * * * *", "interval_seconds": 300,
               "timezone": "Asia/Tokyo", "start_at": start, "end_at": date(2026, 12, 31),
               "skip_dates": [date(2026, 12, 24), date(2026, 12, 25)],
               "dependencies": ["a", "b"], "max_retries": 0, "priority": -3}

    result = await store.edit_job("job", ConfigEdit(changes, "ana", "set"), T0 + MIN)

    stored = await store.get_job("job")
    assert stored is not None and stored == result.job
    assert stored.config == JobConfig(
        enabled=False, cron="*/5 * * * *", interval_seconds=300, timezone="Asia/Tokyo",
        start_at=start.astimezone(UTC), end_at=date(2026, 12, 31),
        skip_dates=(date(2026, 12, 24), date(2026, 12, 25)), dependencies=("a", "b"),
        max_retries=0, priority=-3)
    [recorded] = await store.list_edits("job", 5)
    assert recorded == result.edit
    assert {c.field: c.after for c in recorded.changes}["start_at"] == "2026-04-01T07:30:00+00:00"
    assert {c.field: c.after for c in recorded.changes}["skip_dates"] == [
        "2026-12-24", "2026-12-25"]


async def test_concurrent_edits_of_different_fields_are_all_kept(store: JobStore) -> None:
    """The lost update of issue 12: each edit of its own field, all at once, all kept."""
    await store.ensure_job("job", JobConfig(), T0, T0)
    edits = [edit(actor="op0", enabled=False), edit(actor="op1", cron="1 * * * *"),
             edit(actor="op2", interval_seconds=120), edit(actor="op3", timezone="Asia/Tokyo"),
             edit(actor="op4", end_at=date(2027, 1, 1)),
             edit(actor="op5", skip_dates=[date(2026, 5, 1)]),
             edit(actor="op6", dependencies=["other"]), edit(actor="op7", max_retries=9),
             edit(actor="op8", priority=8)]

    results = await asyncio.gather(*(store.edit_job("job", e, T0 + MIN) for e in edits))

    stored = await store.get_job("job")
    assert stored is not None
    assert stored.config == JobConfig(
        enabled=False, cron="1 * * * *", interval_seconds=120, timezone="Asia/Tokyo",
        end_at=date(2027, 1, 1), skip_dates=(date(2026, 5, 1),), dependencies=("other",),
        max_retries=9, priority=8)
    history = await store.list_edits("job", 50)
    assert sorted(e.seq for e in history) == list(range(1, len(edits) + 1))
    assert sorted(r.edit.seq for r in results if r.edit is not None) == list(
        range(1, len(edits) + 1))
    assert {c.field for e in history for c in e.changes} == {
        "enabled", "cron", "interval_seconds", "timezone", "end_at", "skip_dates",
        "dependencies", "max_retries", "priority"}


async def test_concurrent_edits_of_one_field_last_writer_wins_all_recorded(
        store: JobStore) -> None:
    await store.ensure_job("job", JobConfig(priority=0), T0, T0)

    await asyncio.gather(*(store.edit_job("job", edit(actor=f"op{i}", priority=i), T0)
                           for i in range(1, 9)))

    history = list(reversed(await store.list_edits("job", 50)))  # oldest first
    stored = await store.get_job("job")
    assert [e.seq for e in history] == list(range(1, 9))
    chain = [(e.changes[0].before, e.changes[0].after) for e in history]
    assert chain[0][0] == 0  # each edit saw the one before it: one serial order
    assert all(chain[i][1] == chain[i + 1][0] for i in range(len(chain) - 1))
    assert stored is not None and stored.config.priority == chain[-1][1]
    assert sorted(after for _, after in chain) == list(range(1, 9))


async def test_history_keeps_the_latest_edits(store: JobStore) -> None:
    await store.ensure_job("job", JobConfig(), T0, T0)
    await store.ensure_job("other", JobConfig(), T0, T0)
    total = EDIT_HISTORY + 3
    for i in range(1, total + 1):
        await store.edit_job("job", edit(priority=i), T0 + i * MIN)
    await store.edit_job("other", edit(priority=1), T0)

    kept = await store.list_edits("job", 1000)

    assert [e.seq for e in kept] == list(range(total, 3, -1))
    assert [e.at for e in kept[:2]] == [T0 + total * MIN, T0 + (total - 1) * MIN]
    assert [e.seq for e in await store.list_edits("job", 2)] == [total, total - 1]
    assert await store.list_edits("job", 0) == []
    assert [e.job_id for e in await store.list_edits("other", 9)] == ["other"]


async def test_a_restore_rewrites_every_field_and_is_recorded(store: JobStore) -> None:
    await store.ensure_job("job", JobConfig(cron="0 * * * *"), T0, T0)
    await store.update_job("job", misconfigured="field 'x': bad", now=T0)
    await store.edit_job("job", edit(priority=4, enabled=False), T0)
    declared = JobConfig(cron="0 * * * *")
    restore = ConfigEdit({name: getattr(declared, name) for name in JobConfig.__annotations__},
                         "ana", "sync --reset", lambda b, c: T0 + 9 * MIN, restore=True)

    result = await store.edit_job("job", restore, T0 + MIN)
    again = await store.edit_job("job", restore, T0 + 2 * MIN)

    assert result.job.config == declared and result.job.misconfigured is None
    assert result.job.next_run_at == T0 + 9 * MIN
    assert result.edit is not None and result.edit.command == "sync --reset"
    assert {c.field for c in result.edit.changes} == {"enabled", "priority"}
    assert again.edit is not None and again.edit.changes == ()  # recorded even unchanged
    assert [e.seq for e in await store.list_edits("job", 9)] == [3, 2, 1]


def test_an_edit_names_a_bounded_printable_actor_and_known_fields() -> None:
    for actor in ("", "  ", " ana", "a" * 129, "ana\n", "x\x1b[31m", "x\udc80"):
        with pytest.raises(ValueError, match="actor"):
            edit(actor=actor, priority=1)
    with pytest.raises(ValueError, match="unknown config field"):
        ConfigEdit({"enabeld": True}, "ana", "set")
    with pytest.raises(ValueError, match="no field"):
        ConfigEdit({}, "ana", "set")
    with pytest.raises(ValueError, match="restore"):
        ConfigEdit({"enabled": True}, "ana", "sync --reset", restore=True)
    assert edit(actor="ana@host.example", priority=1).actor == "ana@host.example"
    assert edit(actor="a" * 128, priority=1).changes == {"priority": 1}


@pytest.mark.parametrize("backend", PERSISTENT_BACKENDS)
async def test_edits_survive_reopening(backend: str, tmp_path: Path) -> None:
    first = make_store(backend, tmp_path)
    try:
        await first.ensure_job("job", JobConfig(), T0, T0)
        result = await first.edit_job("job", edit(enabled=False), T0)
    finally:
        await close_store(first)
    second = make_store(backend, tmp_path)
    try:
        assert await second.list_edits("job", 5) == [result.edit]
        assert await second.get_job("job") == result.job
    finally:
        await close_store(second)


# --- SQLite specifics ----------------------------------------------------------------------------


async def test_sqlite_edit_keeps_hand_edited_keys_it_does_not_touch(tmp_path: Path) -> None:
    """Field-level inside the JSON column too: a key the edit does not name stays as stored."""
    path = tmp_path / "s.sqlite3"
    with SqliteJobStore(path) as store:
        await store.ensure_job("job", JobConfig(), T0, T0)
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE jobs SET config = json_set(config, '$.note', 'keep me')")
    with SqliteJobStore(path) as store:
        await store.edit_job("job", edit(priority=3), T0)
        job = await store.get_job("job")
    with sqlite3.connect(path) as raw:
        (config,) = raw.execute("SELECT json_extract(config, '$.note') FROM jobs").fetchone()
    assert config == "keep me"
    assert job is not None and job.config.priority == 3
    assert job.misconfigured == "unknown config field 'note'"


async def test_sqlite_version_1_file_gets_the_edit_history_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with SqliteJobStore(path) as store:
        await store.ensure_job("job", JobConfig(), T0, T0)
    with sqlite3.connect(path) as raw:  # as a version-1 zenjobs left it
        raw.execute("DROP TABLE job_edits")
        raw.execute("UPDATE zenjobs_schema SET version = 1")

    with SqliteJobStore(path) as store:
        result = await store.edit_job("job", edit(enabled=False), T0)
        assert await store.list_edits("job", 5) == [result.edit]
    with sqlite3.connect(path) as raw:
        versions = [row[0] for row in raw.execute("SELECT version FROM zenjobs_schema")]
    assert versions == [SCHEMA_VERSION] == [3]
