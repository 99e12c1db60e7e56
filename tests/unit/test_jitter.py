"""Deterministic jitter: ``jitter=timedelta(...)`` moves every slot of a job by a fixed offset.

The offset is a pure function of the job id (same on every instance, process
and restart), lies in ``[0, jitter)``, and the moved instant *is* the slot:
``next_run_at``, ``scheduled_for`` and the execution id all use it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from zenjobs import DefinitionError, JobContext, JobDescriptor, ZenJobs
from zenjobs.cli import main
from zenjobs.ops.inspection import job_fires
from zenjobs.runtime.engine import JobEngine
from zenjobs.runtime.envelope import slot_execution_id
from zenjobs.schedule import jitter_offset, next_fire, slot_offset, upcoming
from zenjobs.slot_rules import cron_min_spacing
from zenjobs.stores.memory import MemoryJobStore
from zenjobs.testing import MemoryTelemetry, VirtualClock

UTC = timezone.utc
REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def cron_job(job_id: str = "report", cron: str = "0 * * * *", **fields: Any) -> JobDescriptor:
    return JobDescriptor(id=job_id, type="scheduled", cron=cron, **fields)  # type: ignore[arg-type]


# -- the offset -------------------------------------------------------------------------------


def test_the_offset_is_the_sha256_of_the_id_modulo_the_jitter_seconds() -> None:
    digest = hashlib.sha256(b"nightly_report").digest()
    expected = int.from_bytes(digest[:8], "big") % 3600
    assert jitter_offset("nightly_report", HOUR) == timedelta(seconds=expected)
    assert jitter_offset("nightly_report", timedelta(0)) == timedelta(0)
    d = cron_job("nightly_report", jitter=HOUR - timedelta(seconds=1))
    assert slot_offset(d) == timedelta(seconds=int.from_bytes(digest[:8], "big") % 3599)
    assert slot_offset(cron_job("nightly_report")) == timedelta(0)


def test_the_offset_is_the_same_in_every_process() -> None:
    ids = ["report", "cleanup", "send_digest", "a", "z9_-"]
    probe = ("import json\nfrom datetime import timedelta\n"
             "from zenjobs.schedule import jitter_offset\n"
             f"print(json.dumps([jitter_offset(i, timedelta(minutes=45)).total_seconds() "
             f"for i in {ids!r}]))")
    runs = [subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                           text=True, timeout=60, env={"PYTHONHASHSEED": seed})
            for seed in ("1", "2")]
    for run in runs:
        assert run.returncode == 0, run.stderr
    here = [jitter_offset(i, timedelta(minutes=45)).total_seconds() for i in ids]
    assert json.loads(runs[0].stdout) == json.loads(runs[1].stdout) == here


def test_offsets_spread_evenly_over_1000_ids() -> None:
    offsets = [jitter_offset(f"job_{n}", HOUR) for n in range(1000)]
    assert all(timedelta(0) <= o < HOUR for o in offsets)
    assert all(o % timedelta(seconds=1) == timedelta(0) for o in offsets)
    assert len(set(offsets)) > 850  # 1000 draws from 3600 seconds: ~870 distinct
    # Six 10-minute buckets of ~167 each; a fair spread stays well inside [120, 215].
    buckets = Counter(int(o / timedelta(minutes=10)) for o in offsets)
    assert sorted(buckets) == list(range(6))
    assert all(120 <= n <= 215 for n in buckets.values()), buckets
    # Every job declared on "0 * * * *" would otherwise fire in the same minute.
    minutes = Counter(int(o / timedelta(minutes=1)) for o in offsets)
    assert max(minutes.values()) <= 40


# -- the schedule -----------------------------------------------------------------------------


def test_cron_slots_move_by_the_offset() -> None:
    plain = cron_job()
    jittered = cron_job(jitter=timedelta(minutes=30))
    offset = jitter_offset("report", timedelta(minutes=30))
    assert offset > timedelta(0)
    base = upcoming(plain, T0 - timedelta(microseconds=1), 5)  # 09:00, 10:00, ...
    assert upcoming(jittered, T0, 5) == [b + offset for b in base]  # 09:00 + offset first
    # Strictly after: asking from a slot gives the next one, never the same one.
    first = upcoming(jittered, T0, 1)[0]
    assert next_fire(jittered, first) == first + HOUR
    assert next_fire(jittered, first - timedelta(microseconds=1)) == first
    # Asking from between the base slot and the jittered slot still finds this hour's slot.
    assert next_fire(jittered, base[0]) == first


def test_periodic_slots_move_by_the_offset() -> None:
    d = JobDescriptor(id="sweep", type="periodic", interval=timedelta(minutes=10),  # type: ignore[arg-type]
                      jitter=timedelta(minutes=5))
    offset = jitter_offset("sweep", timedelta(minutes=5))
    assert upcoming(d, T0, 3) == [T0 + offset + timedelta(minutes=10) * k for k in (0, 1, 2)]
    fires = upcoming(d, T0, 6)
    assert {f - fires[0] for f in fires} == {timedelta(minutes=10) * k for k in range(6)}
    assert all((f - offset - T0) % timedelta(minutes=10) == timedelta(0) for f in fires)


def test_start_at_and_end_at_bound_the_jittered_slots() -> None:
    jitter = timedelta(minutes=50)
    offset = jitter_offset("report", jitter)
    start = T0 + offset  # exactly the jittered 09:00 slot: it fires
    d = cron_job(jitter=jitter, start_at=start, end_at=date(2026, 1, 5))
    fires = upcoming(d, T0 - timedelta(days=1), 30)
    assert fires[0] == start
    assert fires[-1] < datetime(2026, 1, 6, tzinfo=UTC)  # the end of the end_at day
    assert fires[-1] + HOUR >= datetime(2026, 1, 6, tzinfo=UTC)
    late = cron_job(jitter=jitter, start_at=start + timedelta(seconds=1))
    assert upcoming(late, T0 - timedelta(days=1), 1) == [start + HOUR]


def test_jitter_and_a_dst_policy_compose() -> None:
    from zenjobs import DstPolicy

    d = cron_job(cron="30 1 * * *", timezone="America/New_York", dst=DstPolicy(fold="both"),
                 jitter=timedelta(minutes=20))
    offset = slot_offset(d)
    fires = job_fires(d, datetime(2026, 10, 31, 12, tzinfo=UTC), 3)
    assert [f.instant - offset for f in fires] == [
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC), datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
        datetime(2026, 11, 2, 6, 30, tzinfo=UTC)]
    # The DST marks are read on the schedule's own instants, not the jittered ones.
    assert [f.dst_effect for f in fires] == ["doubled", "doubled", None]


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "spacing"),
    [("* * * * *", timedelta(minutes=1)), ("*/15 * * * *", timedelta(minutes=15)),
     ("0 * * * *", HOUR), ("5,50 * * * *", timedelta(minutes=15)),
     ("0 9-17/2 * * *", timedelta(hours=2)), ("30 2 * * *", timedelta(days=1)),
     ("0 0 * * 1", timedelta(days=1)), ("0 23,1 * * *", timedelta(hours=2)),
     ("59 0,1 * * *", HOUR), ("0,59 0 * * *", timedelta(minutes=59))],
)
def test_cron_min_spacing(cron: str, spacing: timedelta) -> None:
    assert cron_min_spacing(cron) == spacing


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "endpoint", "jitter": timedelta(minutes=1)},
         "applies to scheduled and periodic jobs only: an endpoint job runs on demand"),
        ({"type": "scheduled", "cron": "0 * * * *", "jitter": 30},
         "expected a timedelta, got int"),
        ({"type": "scheduled", "cron": "0 * * * *", "jitter": timedelta(seconds=-1)},
         "must be >= 0, got -1s"),
        ({"type": "scheduled", "cron": "0 * * * *", "jitter": timedelta(seconds=1.5)},
         "must be a whole number of seconds, got 1.5s"),
        ({"type": "scheduled", "cron": "0 * * * *", "jitter": HOUR},
         "must be shorter than the cron's shortest spacing (3600s (1:00:00) for '0 * * * *', "
         "from its minute and hour fields), got 3600s (1:00:00)"),
        ({"type": "scheduled", "cron": "*/15 * * * *", "jitter": timedelta(minutes=20)},
         "must be shorter than the cron's shortest spacing (900s"),
        ({"type": "periodic", "interval": timedelta(minutes=10),
          "jitter": timedelta(minutes=10)},
         "must be shorter than the interval (600s (0:10:00)), got 600s (0:10:00)"),
    ],
)
def test_invalid_jitter_is_refused_naming_job_and_field(fields: dict[str, Any],
                                                        message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        JobDescriptor(id="bad_jitter", **fields)
    assert (caught.value.job_id, caught.value.field) == ("bad_jitter", "jitter")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "fields",
    [{"type": "scheduled", "cron": "0 * * * *", "jitter": timedelta(0)},
     {"type": "scheduled", "cron": "0 * * * *", "jitter": timedelta(minutes=59, seconds=59)},
     {"type": "scheduled", "cron": "0 3 * * *", "jitter": timedelta(hours=23)},
     {"type": "periodic", "interval": timedelta(minutes=10), "jitter": timedelta(minutes=9)}],
)
def test_valid_jitters(fields: dict[str, Any]) -> None:
    assert JobDescriptor(id="ok", **fields).jitter == fields["jitter"]


def _write_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> str:
    (tmp_path / "jitter_registry.py").write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return "jitter_registry:jobs"


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"ZENJOBS_REGISTRY": None})


def test_zenjobs_validate_refuses_a_jitter_as_long_as_the_interval(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _write_registry(tmp_path, monkeypatch, """
        from datetime import timedelta
        from zenjobs import JobContext, ZenJobs

        jobs = ZenJobs()

        @jobs.job("sweep", type="periodic", interval=timedelta(minutes=5),
                  jitter=timedelta(minutes=5))
        async def sweep(ctx: JobContext) -> None: ...
    """)
    result = _cli("validate", "--registry", spec)
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("job 'sweep', field 'jitter': must be shorter than the "
                                    "interval")


# -- zenjobs next -----------------------------------------------------------------------------


def test_next_shows_the_jittered_instants(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _write_registry(tmp_path, monkeypatch, """
        from datetime import timedelta
        from zenjobs import JobContext, ZenJobs

        jobs = ZenJobs()

        @jobs.job("hourly_sync", type="scheduled", cron="0 * * * *",
                  jitter=timedelta(minutes=30))
        async def hourly_sync(ctx: JobContext) -> None: ...
    """)
    offset = jitter_offset("hourly_sync", timedelta(minutes=30))
    result = _cli("next", "--registry", spec, "--from", "2026-01-05T09:00:00Z", "--count", "2")
    assert result.exit_code == 0, result.output
    first, second = T0 + offset, T0 + offset + HOUR
    assert result.stdout.splitlines() == [
        f"hourly_sync: cron '0 * * * *' in UTC  [jitter 0:30:00: slots +{offset}]",
        f"  {first:%Y-%m-%dT%H:%M:%SZ}  {first:%Y-%m-%d %H:%M} UTC",
        f"  {second:%Y-%m-%dT%H:%M:%SZ}  {second:%Y-%m-%d %H:%M} UTC",
    ]
    data = json.loads(_cli("next", "--registry", spec, "--from", "2026-01-05T09:00:00Z",
                           "--count", "2", "--json").stdout)
    [job] = data["jobs"]
    assert (job["jitter_seconds"], job["offset_seconds"]) == (1800, offset.total_seconds())
    assert data["fires"]["hourly_sync"] == [f"{first:%Y-%m-%dT%H:%M:%SZ}",
                                            f"{second:%Y-%m-%dT%H:%M:%SZ}"]


# -- the master tick --------------------------------------------------------------------------


class _NoQueue:
    async def enqueue(self, task: Any) -> Any:
        raise AssertionError("light jobs run inline")


@pytest.mark.parametrize("kind", ["cron", "periodic"])
def test_a_tick_fires_a_jittered_job_at_its_slot_and_not_before(kind: str) -> None:
    calls: list[JobContext] = []
    jobs = ZenJobs()
    jitter = timedelta(minutes=40)
    schedule: dict[str, Any] = ({"type": "scheduled", "cron": "0 * * * *"} if kind == "cron"
                                else {"type": "periodic", "interval": HOUR})

    @jobs.job("spread_out", jitter=jitter, **schedule)
    async def handler(ctx: JobContext) -> None:
        calls.append(ctx)

    offset = jitter_offset("spread_out", jitter)
    assert offset >= timedelta(minutes=2)  # so "the minute before" is after 09:00
    slot = T0 + HOUR + offset  # the 10:00 slot, jittered
    store, clock = MemoryJobStore(), VirtualClock(T0)
    engine = JobEngine(jobs, store, _NoQueue(), clock, MemoryTelemetry(),  # type: ignore[arg-type]
                       service_url="https://svc.example")

    async def go() -> list[datetime | None]:
        await engine.sync(T0 + offset)  # just after the 09:00 slot: next is the 10:00 one
        record = await store.get_job("spread_out")
        assert record is not None
        stored = [record.next_run_at]
        before = slot - timedelta(seconds=1)
        assert (await engine.tick(T0 + HOUR))["due"] == 0  # the unjittered slot: not due
        assert (await engine.tick(before))["due"] == 0
        summary = await engine.tick(slot)
        assert summary["ran"] == 1
        record = await store.get_job("spread_out")
        assert record is not None
        stored.append(record.next_run_at)
        return stored

    stored = asyncio.run(go())
    assert stored == [slot, slot + HOUR]
    [ctx] = calls
    assert ctx.scheduled_for == slot
    assert ctx.execution_id == slot_execution_id("spread_out", slot)


def test_a_late_tick_catches_up_onto_the_jittered_grid() -> None:
    calls: list[JobContext] = []
    jobs = ZenJobs()

    @jobs.job("spread_out", type="scheduled", cron="*/10 * * * *", jitter=timedelta(minutes=7))
    async def handler(ctx: JobContext) -> None:
        calls.append(ctx)

    offset = jitter_offset("spread_out", timedelta(minutes=7))
    store = MemoryJobStore()
    engine = JobEngine(jobs, store, _NoQueue(), VirtualClock(T0), MemoryTelemetry(),  # type: ignore[arg-type]
                       service_url="https://svc.example")

    async def go() -> datetime | None:
        await engine.sync(T0)
        await engine.tick(T0 + timedelta(minutes=35))  # three slots late
        record = await store.get_job("spread_out")
        assert record is not None
        return record.next_run_at

    next_run_at = asyncio.run(go())
    assert [c.scheduled_for for c in calls] == [T0 + offset]  # the oldest missed slot, once
    later = [T0 + offset + timedelta(minutes=10) * k for k in range(1, 6)]
    assert next_run_at == min(s for s in later if s > T0 + timedelta(minutes=35))
