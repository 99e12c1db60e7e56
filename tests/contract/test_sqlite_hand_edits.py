"""A hand-edited SQLite job row reads as a record, never as an exception.

The same promise the Firestore store makes for console edits (and the same
readers, ``zenjobs.stores.config_codec``): every value the store cannot read
is named in ``misconfigured``, the other jobs keep working, and writes of job
state leave the broken config in place for the operator to see and fix. A
readable but invalid value (a bad cron string, an unknown time zone) is kept
as stored and reported by the runtime's re-validation (docs/operations.md).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from zenjobs import JobContext, JobType, ZenJobs, ops
from zenjobs.stores.records import JobConfig, LeaseOutcome, RunRecord, RunResult, RunStatus, Trigger
from zenjobs.stores.sqlite.store import SqliteJobStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
CONFIG = JobConfig(cron="*/5 * * * *", timezone="Europe/Berlin", max_retries=2, priority=1)

registry = ZenJobs()


@registry.job("good", type=JobType.SCHEDULED, cron="*/5 * * * *", timezone="Europe/Berlin",
              max_retries=2, priority=1)
@registry.job("bad", type=JobType.SCHEDULED, cron="*/5 * * * *", timezone="Europe/Berlin",
              max_retries=2, priority=1)
async def handler(ctx: JobContext) -> None:
    return None

Edit = Callable[[sqlite3.Connection], Any]


def set_config_field(name: str, value: object) -> Edit:
    def edit(raw: sqlite3.Connection) -> None:
        (text,) = raw.execute("SELECT config FROM jobs WHERE job_id = 'bad'").fetchone()
        config = json.loads(text)
        config[name] = value
        raw.execute("UPDATE jobs SET config = ? WHERE job_id = 'bad'", (json.dumps(config),))
    return edit


def set_column(name: str, value: object) -> Edit:
    def edit(raw: sqlite3.Connection) -> None:
        raw.execute(f"UPDATE jobs SET {name} = ? WHERE job_id = 'bad'", (value,))
    return edit


async def store_with_edit(path: Path, edit: Edit) -> SqliteJobStore:
    """A store holding jobs ``good`` and ``bad`` (both due at T0), ``bad`` edited by ``edit``."""
    with SqliteJobStore(path) as store:
        await store.ensure_job("good", CONFIG, T0, T0)
        await store.ensure_job("bad", CONFIG, T0, T0)
    with sqlite3.connect(path) as raw:
        edit(raw)
    return SqliteJobStore(path)


@pytest.mark.parametrize(("edit", "reason"), [
    (set_config_field("max_retries", "three"),
     "config field 'max_retries': expected an integer, got str 'three'"),
    (set_config_field("cron", 5), "config field 'cron': expected a string, got int 5"),
    (set_config_field("timezone", None), "config field 'timezone': expected a string, got "
                                         "NoneType None"),
    (set_config_field("enabled", "yes"), "config field 'enabled': expected a boolean"),
    (set_config_field("skip_dates", ["2026-02-30"]), "config field 'skip_dates': item 0: "
                                                     "expected a date string YYYY-MM-DD"),
    (set_config_field("start_at", "tomorrow"), "config field 'start_at': expected an integer"),
    (set_config_field("colour", "blue"), "unknown config field 'colour'"),
    (set_column("config", "{not json"), "column 'config': expected a JSON object"),
    (set_column("config", "[1, 2]"), "column 'config': expected a JSON object, got list [1, 2]"),
    (set_column("last_status", "running"), "column 'last_status': expected success, failure "
                                           "or dead, got 'running'"),
    (set_column("last_status", "sleepy"), "column 'last_status': expected one of pending"),
    (set_column("next_run_at", "soon"), "column 'next_run_at': expected an integer, got str"),
    (set_column("next_run_at", 10**18), "column 'next_run_at': microseconds since the epoch "
                                        "out of range"),
    (set_column("priority", 7), "column 'priority': 7 disagrees with config field 'priority' (1)"),
], ids=lambda value: value if isinstance(value, str) else "")
async def test_an_unreadable_row_reads_as_misconfigured_naming_the_field(
        tmp_path: Path, edit: Edit, reason: str) -> None:
    with await store_with_edit(tmp_path / "s.sqlite3", edit) as store:
        bad = await store.get_job("bad")
        listed = {job.job_id: job for job in await store.list_jobs()}
        good = await store.get_job("good")

    assert bad is not None and bad.misconfigured is not None
    assert reason in bad.misconfigured
    assert listed["bad"].misconfigured == bad.misconfigured
    assert good is not None and good.misconfigured is None and good.config == CONFIG


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("cron", "every day at noon", "job 'bad', field 'cron': 'every day at noon' must have 5 "
                                  "fields"),
    ("timezone", "Mars/Olympus_Mons", "job 'bad', field 'timezone': unknown IANA time zone "
                                      "'Mars/Olympus_Mons'"),
    ("max_retries", -1, "job 'bad', field 'max_retries'"),
])
async def test_a_readable_but_invalid_value_is_kept_for_the_runtime_to_report(
        tmp_path: Path, name: str, value: object, reason: str) -> None:
    # As documented in docs/operations.md: kept as stored, so `zenjobs set` can fix it in
    # place; `zenjobs status` and the tick name the broken registration rule.
    with await store_with_edit(tmp_path / "s.sqlite3", set_config_field(name, value)) as store:
        bad = await store.get_job("bad")
        statuses = {s.job_id: s.misconfigured for s in await ops.status(registry, store, T0)}

    assert bad is not None and bad.misconfigured is None
    assert getattr(bad.config, name) == value
    assert reason in str(statuses["bad"])
    assert statuses["good"] is None


async def test_several_problems_are_all_named(tmp_path: Path) -> None:
    def edit(raw: sqlite3.Connection) -> None:
        set_config_field("max_retries", "three")(raw)
        set_config_field("skip_dates", "2026-12-25")(raw)
        set_column("last_status", "running")(raw)

    with await store_with_edit(tmp_path / "s.sqlite3", edit) as store:
        bad = await store.get_job("bad")
    assert bad is not None and bad.misconfigured is not None
    for field in ("config field 'max_retries'", "config field 'skip_dates'",
                  "column 'last_status'"):
        assert field in bad.misconfigured


async def test_a_misconfigured_job_is_still_due_so_the_tick_can_report_it(
        tmp_path: Path) -> None:
    with await store_with_edit(tmp_path / "s.sqlite3",
                               set_config_field("cron", ["not", "a", "cron"])) as store:
        due = {job.job_id: job.misconfigured for job in await store.due_jobs(T0, 10)}
    assert set(due) == {"good", "bad"}
    assert due["good"] is None and "config field 'cron'" in str(due["bad"])


async def test_state_writes_keep_the_hand_edit_and_sync_reset_repairs_it(
        tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with await store_with_edit(path, set_config_field("max_retries", "three")) as store:
        assert await store.claim_slot("bad", T0, T0 + timedelta(minutes=5), T0)
        run = RunRecord("bad", "e1", Trigger.MANUAL, T0, created_at=T0)
        assert await store.create_run(run)
        lease = await store.acquire_lease("bad", "e1", 1, "me", T0, T0 + timedelta(minutes=1))
        assert lease.outcome is LeaseOutcome.ACQUIRED
        await store.finish_attempt("bad", "e1", "me", RunResult(RunStatus.SUCCESS, T0))
        after_writes = await store.get_job("bad")

        assert after_writes is not None
        assert after_writes.next_run_at == T0 + timedelta(minutes=5)
        assert after_writes.last_status is RunStatus.SUCCESS
        assert "config field 'max_retries'" in str(after_writes.misconfigured)
        with sqlite3.connect(path) as raw:
            (text,) = raw.execute("SELECT config FROM jobs WHERE job_id = 'bad'").fetchone()
        assert json.loads(text)["max_retries"] == "three"

        repaired = await store.update_job("bad", config=CONFIG, misconfigured=None, now=T0)
        assert repaired.misconfigured is None
        reread = await store.get_job("bad")
    assert reread is not None and reread.misconfigured is None and reread.config == CONFIG


async def test_a_stored_reason_on_a_readable_row_is_kept(tmp_path: Path) -> None:
    with SqliteJobStore(tmp_path / "s.sqlite3") as store:
        await store.ensure_job("job", CONFIG, T0, T0)
        await store.update_job("job", misconfigured="flagged by the runtime", now=T0)
        job = await store.get_job("job")
    assert job is not None and job.misconfigured == "flagged by the runtime"
    assert job.config == CONFIG
