"""Edits through ``zenjobs.ops`` and the CLI: never lost to a concurrent edit, always recorded.

The race of issue 12 (``enable`` and ``set`` at the same moment) is replayed
deterministically with a store that makes the other edit between the command's
read and its write; the CLI tests check who is recorded (``--actor``,
``$ZENJOBS_ACTOR``, else user@host) and that ``zenjobs status JOB`` shows it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.ops.ops_registry import jobs
from zenjobs import ops
from zenjobs.cli import main
from zenjobs.errors import ConfigurationError
from zenjobs.runtime.effective import effective_descriptor
from zenjobs.schedule import next_fire
from zenjobs.stores.memory import MemoryJobStore
from zenjobs.stores.records import JobConfig, JobRecord

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 10, 17, tzinfo=UTC)
REGISTRY = "tests.ops.ops_registry:jobs"


class InterleavingStore(MemoryJobStore):
    """A memory store that runs ``between`` once, right after a command reads the document.

    That is the moment a second operator's edit landed in the lost-update race:
    after ``ensure_job`` gave the first command its copy, before it writes.
    """

    def __init__(self) -> None:
        super().__init__()
        self.between: Callable[[], Awaitable[Any]] | None = None

    async def ensure_job(self, job_id: str, config: JobConfig, next_run_at: datetime | None,
                         now: datetime) -> tuple[JobRecord, bool]:
        result = await super().ensure_job(job_id, config, next_run_at, now)
        hook, self.between = self.between, None
        if hook is not None:
            await hook()
        return result


async def test_enable_and_set_at_the_same_moment_both_kept() -> None:
    store = InterleavingStore()
    await ops.sync(jobs, store, NOW)
    await ops.disable(jobs, store, "nightly", NOW, actor="ana")
    store.between = lambda: ops.set_schedule(jobs, store, "nightly", NOW, cron="0 3 * * *",
                                             actor="bo")

    change = await ops.enable(jobs, store, "nightly", NOW, actor="ana")

    job = await store.get_job("nightly")
    assert job is not None and job.config.enabled and job.config.cron == "0 3 * * *"
    # The next slot follows the schedule as stored at the write: the new cron.
    effective = effective_descriptor(jobs.get("nightly"), job.config)
    assert job.next_run_at == change.next_run_at == next_fire(effective, NOW)
    assert (change.before, change.after) == ("disabled", "enabled")
    history = await store.list_edits("nightly", 5)
    assert [(e.seq, e.actor, e.command) for e in history] == [
        (3, "ana", "enable"), (2, "bo", "set"), (1, "ana", "disable")]
    assert change.edit == history[0]


async def test_a_concurrent_edit_that_breaks_the_merged_config_refuses_the_second() -> None:
    """Validation runs on the merged document, not on the command's stale copy."""
    store = InterleavingStore()
    await ops.sync(jobs, store, NOW)
    store.between = lambda: store.update_job("nightly", misconfigured="field 'x': bad", now=NOW)

    with pytest.raises(ConfigurationError, match="misconfigured"):
        await ops.set_schedule(jobs, store, "nightly", NOW, timezone="UTC", actor="ana")

    job = await store.get_job("nightly")
    assert job is not None and job.config.timezone == "Europe/Berlin"
    assert await store.list_edits("nightly", 5) == []


async def test_an_edit_that_changes_nothing_records_nothing_and_reset_is_recorded() -> None:
    store = MemoryJobStore()
    await ops.sync(jobs, store, NOW)

    again = await ops.enable(jobs, store, "nightly", NOW, actor="ana")
    await ops.set_schedule(jobs, store, "nightly", NOW, cron="0 3 * * *", actor="ana")
    report = await ops.sync(jobs, store, NOW, reset=["nightly"], actor="carol")

    assert not again.changed and again.edit is None
    assert report.reset == ("nightly",)
    [reset, edit] = await store.list_edits("nightly", 5)
    assert (reset.actor, reset.command) == ("carol", "sync --reset")
    assert [(c.field, c.before, c.after) for c in reset.changes] == [
        ("cron", "0 3 * * *", "30 2 * * *")]
    assert (edit.actor, edit.command) == ("ana", "set")


async def test_an_actor_is_checked_before_anything_is_written() -> None:
    store = MemoryJobStore()
    with pytest.raises(ConfigurationError, match="actor"):
        await ops.disable(jobs, store, "nightly", NOW, actor="ana\n")
    assert await store.get_job("nightly") is None
    default = ops.default_actor()
    assert ops.resolve_actor(None) == default and "@" in default and default.isprintable()


# -- the CLI -----------------------------------------------------------------------------------


def zj(*args: str, store: str, env: dict[str, str | None] | None = None) -> Result:
    environment: dict[str, str | None] = {"ZENJOBS_ACTOR": None, "ZENJOBS_STORE": None,
                                          "ZENJOBS_REGISTRY": None}
    environment.update(env or {})
    return CliRunner().invoke(main, [*args, "--store", store, "--registry", REGISTRY],
                              env=environment)


def status_jobs(store: str, *args: str) -> Any:
    """The ``jobs`` of ``zenjobs status ARGS --json``."""
    result = zj("status", *args, "--json", store=store)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["jobs"]


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no pyproject.toml: settings from options and environment
    return f"sqlite:{tmp_path / 'jobs.sqlite3'}"


def test_status_shows_who_changed_what_and_when(store_url: str) -> None:
    zj("sync", store=store_url)
    disabled = zj("disable", "nightly", "--actor", "ana@laptop", store=store_url)
    set_ = zj("set", "nightly", "--cron", "0 3 * * *", store=store_url,
              env={"ZENJOBS_ACTOR": "bo@ci"})
    zj("enable", "nightly", store=store_url)  # no actor given: user@host

    text = zj("status", "nightly", store=store_url)
    data = status_jobs(store_url, "nightly")
    one = status_jobs(store_url, "nightly", "--edits", "1")
    none = status_jobs(store_url, "nightly", "--edits", "0")

    assert disabled.exit_code == 0 and set_.exit_code == 0, disabled.output + set_.output
    lines = text.stdout.splitlines()
    at = lines.index("  edits (latest first):")
    assert lines[at + 1].endswith(f"#3  {ops.default_actor()}  enable: enabled false -> true")
    assert lines[at + 2].endswith('#2  bo@ci  set: cron "30 2 * * *" -> "0 3 * * *"')
    assert lines[at + 3].endswith("#1  ana@laptop  disable: enabled true -> false")
    [nightly] = data
    assert [(e["seq"], e["actor"], e["command"]) for e in nightly["edits"]] == [
        (3, ops.default_actor(), "enable"), (2, "bo@ci", "set"), (1, "ana@laptop", "disable")]
    assert nightly["edits"][1]["changes"] == [
        {"field": "cron", "before": "30 2 * * *", "after": "0 3 * * *"}]
    assert nightly["edits"][1]["at"].endswith("Z")
    assert [e["seq"] for e in one[0]["edits"]] == [3] and none[0]["edits"] == []


def test_sync_reset_is_recorded_as_an_edit(store_url: str) -> None:
    zj("sync", store=store_url)
    zj("set", "hourly", "--interval", "15m", "--actor", "ana", store=store_url)

    reset = zj("sync", "--reset", "hourly", "--actor", "carol", store=store_url)

    assert reset.exit_code == 0, reset.output
    [hourly] = status_jobs(store_url, "hourly")
    assert [(e["actor"], e["command"], e["changes"]) for e in hourly["edits"]] == [
        ("carol", "sync --reset",
         [{"field": "interval_seconds", "before": 900, "after": 3600}]),
        ("ana", "set", [{"field": "interval_seconds", "before": 3600, "after": 900}])]


@pytest.mark.parametrize(("args", "env"), [
    (("--actor", "ana\x1b[31m"), {}),
    (("--actor", "x" * 129), {}),
    ((), {"ZENJOBS_ACTOR": " ana"}),
])
def test_an_unusable_actor_is_a_usage_error_and_writes_nothing(
        store_url: str, args: tuple[str, ...], env: dict[str, str | None]) -> None:
    zj("sync", store=store_url)

    result = zj("disable", "nightly", *args, store=store_url, env=env)

    assert result.exit_code == 2
    assert result.stderr.startswith("error: Invalid value for '--actor'")
    [nightly] = status_jobs(store_url, "nightly")
    assert nightly["config"]["enabled"] is True and nightly["edits"] == []
