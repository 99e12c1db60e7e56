"""Per-job DST policy: ``dst=DstPolicy(gap=..., fold=...)`` on cron jobs.

Every policy is checked against a brute-force oracle on both transitions of
America/New_York, Europe/Berlin (northern hemisphere), Australia/Sydney and
Australia/Lord_Howe (southern, the latter shifting by 30 minutes), then through
``zenjobs next``, the dashboard's table, the master tick and its catch-up.
"""

from __future__ import annotations

import asyncio
import enum
import json
import textwrap
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from croniter import croniter

import zenjobs
from zenjobs import DefinitionError, DstPolicy, JobContext, JobDescriptor, ZenJobs
from zenjobs.cli import main
from zenjobs.ops.inspection import DST_EFFECTS, dst_note, job_fires
from zenjobs.runtime.engine import JobEngine
from zenjobs.runtime.envelope import slot_execution_id
from zenjobs.schedule import catch_up, next_fire, upcoming
from zenjobs.stores.memory import MemoryJobStore
from zenjobs.testing import MemoryTelemetry, VirtualClock
from zenjobs.vocabulary import DstFold, DstGap

UTC = timezone.utc
MINUTE = timedelta(minutes=1)

#: (zone, kind, the UTC instant of the 2026 transition), each asserted below.
TRANSITIONS = [
    ("America/New_York", "gap", datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
    ("America/New_York", "fold", datetime(2026, 11, 1, 6, 0, tzinfo=UTC)),
    ("Europe/Berlin", "gap", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
    ("Europe/Berlin", "fold", datetime(2026, 10, 25, 1, 0, tzinfo=UTC)),
    ("Australia/Sydney", "fold", datetime(2026, 4, 4, 16, 0, tzinfo=UTC)),
    ("Australia/Sydney", "gap", datetime(2026, 10, 3, 16, 0, tzinfo=UTC)),
    ("Australia/Lord_Howe", "fold", datetime(2026, 4, 4, 15, 0, tzinfo=UTC)),
    ("Australia/Lord_Howe", "gap", datetime(2026, 10, 3, 15, 30, tzinfo=UTC)),
]
TRANSITION_IDS = [f"{tz.split('/')[1]}-{kind}" for tz, kind, _ in TRANSITIONS]
POLICIES = [DstPolicy(gap, fold) for gap in ("shift", "skip") for fold in ("first", "second",
                                                                            "both")]
POLICY_IDS = [f"{p.gap.value}-{p.fold.value}" for p in POLICIES]  # type: ignore[union-attr]
#: Every minute, every quarter hour, hourly, and one daily time inside the gap or fold.
CRONS = ["* * * * *", "*/15 * * * *", "0 * * * *"]
def daily_cron(tz: str, kind: str) -> str:
    """A daily wall time inside the zone's gap or fold (Lord Howe's last 30 minutes)."""
    if tz == "America/New_York":
        return "30 2 * * *" if kind == "gap" else "30 1 * * *"
    if tz == "Australia/Lord_Howe":
        return "15 2 * * *" if kind == "gap" else "45 1 * * *"
    return "30 2 * * *"


def cron_job(cron: str, tz: str, dst: DstPolicy | None = None, **fields: Any) -> JobDescriptor:
    return JobDescriptor(id="job", type="scheduled", cron=cron, timezone=tz,  # type: ignore[arg-type]
                         dst=dst, **fields)


def minutes(start: datetime, end: datetime) -> Iterator[datetime]:
    t = start
    while t < end:
        yield t
        t += MINUTE


def matches(cron: str, wall: datetime) -> bool:
    """Whether ``wall`` is one of ``cron``'s wall times: minute and hour fields of the forms
    ``*``, ``*/n`` and ``n``, the day fields ``*`` (all these tests use), without croniter."""
    minute, hour, *days = cron.split()
    assert days == ["*", "*", "*"], cron

    def field(text: str, value: int) -> bool:
        if text == "*":
            return True
        if text.startswith("*/"):
            return value % int(text[2:]) == 0
        return value == int(text)

    return field(minute, wall.minute) and field(hour, wall.hour)


def oracle(cron: str, tz_name: str, policy: DstPolicy, start: datetime,
           end: datetime) -> list[datetime]:
    """Every fire in ``(start, end)``, from first principles: every UTC minute is tested.

    A minute fires when its wall time matches the cron and the fold rule lets that
    occurrence fire; a matching wall time that never happens (a gap) adds the
    transition instant when the policy shifts it.
    """
    tz = ZoneInfo(tz_name)
    fires: set[datetime] = set()
    for t in minutes(start + MINUTE, end):
        local = t.astimezone(tz)
        wall = local.replace(tzinfo=None)
        if not matches(cron, wall):
            continue
        twice = (wall.replace(tzinfo=tz, fold=0).utcoffset()
                 != wall.replace(tzinfo=tz, fold=1).utcoffset())
        if twice and policy.fold is DstFold.FIRST and local.fold == 1:
            continue
        if twice and policy.fold is DstFold.SECOND and local.fold == 0:
            continue
        fires.add(t)
    if policy.gap is DstGap.SHIFT:
        first_wall = (start + MINUTE).astimezone(tz).replace(tzinfo=None)
        last_wall = end.astimezone(tz).replace(tzinfo=None)
        for wall in minutes(first_wall, last_wall):
            exists = (wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)
                      .replace(tzinfo=None) == wall)
            if not exists and matches(cron, wall):
                # The end of the gap: the first minute whose wall time is past it.
                fires.add(next(t for t in minutes(start, end)
                               if t.astimezone(tz).replace(tzinfo=None) > wall))
    return sorted(fires)


def fires_between(d: JobDescriptor, start: datetime, end: datetime) -> list[datetime]:
    out: list[datetime] = []
    cursor = start
    while (fire := next_fire(d, cursor)) is not None and fire < end:
        out.append(fire)
        cursor = fire
    return out


# -- the transitions are what the tests say they are ---------------------------------------


@pytest.mark.parametrize(("tz", "kind", "at"), TRANSITIONS, ids=TRANSITION_IDS)
def test_the_transitions_table_is_right(tz: str, kind: str, at: datetime) -> None:
    zone = ZoneInfo(tz)
    before, after = (at - MINUTE).astimezone(zone), at.astimezone(zone)
    assert before.utcoffset() != after.utcoffset()
    spring = after.utcoffset() > before.utcoffset()  # type: ignore[operator]
    assert spring is (kind == "gap")


# -- every policy against the oracle ---------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES, ids=POLICY_IDS)
@pytest.mark.parametrize(("tz", "kind", "at"), TRANSITIONS, ids=TRANSITION_IDS)
def test_every_policy_matches_the_oracle_through_each_transition(
        tz: str, kind: str, at: datetime, policy: DstPolicy) -> None:
    start, end = at - timedelta(minutes=100), at + timedelta(minutes=100)
    for cron in [*CRONS, daily_cron(tz, kind)]:
        d = cron_job(cron, tz, policy)
        got = fires_between(d, start, end)
        assert got == oracle(cron, tz, policy, start, end), (cron, policy)
        assert got == sorted(set(got))  # distinct instants, in order
    quarters = cron_job("*/15 * * * *", tz, policy)
    expected = fires_between(quarters, start, end)
    assert upcoming(quarters, start, len(expected)) == expected


@pytest.mark.parametrize(("tz", "kind", "at"), TRANSITIONS, ids=TRANSITION_IDS)
def test_no_policy_is_todays_rule(tz: str, kind: str, at: datetime) -> None:
    start, end = at - timedelta(minutes=100), at + timedelta(minutes=100)
    for cron in [*CRONS, daily_cron(tz, kind)]:
        default = fires_between(cron_job(cron, tz), start, end)
        assert default == fires_between(cron_job(cron, tz, DstPolicy()), start, end)
        assert default == oracle(cron, tz, DstPolicy("shift", "first"), start, end)


FOLDS = [t for t in TRANSITIONS if t[1] == "fold"]
GAPS = [t for t in TRANSITIONS if t[1] == "gap"]


def repeated_span(tz: str, at: datetime) -> timedelta:
    zone = ZoneInfo(tz)
    return (at - MINUTE).astimezone(zone).utcoffset() - at.astimezone(zone).utcoffset()  # type: ignore[operator]


@pytest.mark.parametrize("cron", ["* * * * *", "*/15 * * * *"])
@pytest.mark.parametrize(("tz", "kind", "at"), FOLDS, ids=[i for i in TRANSITION_IDS
                                                            if i.endswith("fold")])
def test_fold_both_fires_each_repeated_wall_time_twice_in_order(
        tz: str, kind: str, at: datetime, cron: str) -> None:
    span = repeated_span(tz, at)  # one hour, or 30 minutes at Lord Howe
    zone = ZoneInfo(tz)
    start, end = at - span - MINUTE, at + span
    both = fires_between(cron_job(cron, tz, DstPolicy(fold="both")), start, end)
    first = fires_between(cron_job(cron, tz, DstPolicy(fold="first")), start, end)
    second = fires_between(cron_job(cron, tz, DstPolicy(fold="second")), start, end)
    step = 1 if cron.startswith("*") and "/" not in cron else 15
    per_span = int(span / timedelta(minutes=step))
    repeated = [t for t in both if at - span <= t < at + span]
    assert len(repeated) == 2 * per_span
    walls = [t.astimezone(zone).replace(tzinfo=None) for t in repeated]
    assert walls[:per_span] == walls[per_span:]  # the same wall times, twice
    assert [t.astimezone(zone).fold for t in repeated] == [0] * per_span + [1] * per_span
    assert repeated == sorted(set(repeated))  # each at a distinct instant, in order
    # fold="first" fires before the transition only, fold="second" after it only.
    assert [t for t in first if at - span <= t < at + span] == repeated[:per_span]
    assert [t for t in second if at - span <= t < at + span] == repeated[per_span:]


@pytest.mark.parametrize("cron", ["* * * * *", "*/15 * * * *", "0 * * * *"])
@pytest.mark.parametrize(("tz", "kind", "at"), GAPS, ids=[i for i in TRANSITION_IDS
                                                           if i.endswith("gap")])
def test_gap_skip_fires_nothing_for_the_missing_wall_times(
        tz: str, kind: str, at: datetime, cron: str) -> None:
    zone = ZoneInfo(tz)
    start, end = at - timedelta(hours=2), at + timedelta(hours=2)
    skip = fires_between(cron_job(cron, tz, DstPolicy(gap="skip")), start, end)
    shift = fires_between(cron_job(cron, tz, DstPolicy(gap="shift")), start, end)
    # Every fire's wall time is one the cron names: none was moved.
    assert all(croniter.match(cron, t.astimezone(zone).replace(tzinfo=None)) for t in skip)
    # Shift differs only by the transition itself, when the wall times there are missing.
    assert set(shift) - set(skip) <= {at}
    if cron == "0 * * * *" and tz == "Australia/Lord_Howe":
        assert at in shift and at not in skip  # 02:00 is in the gap, 02:30 is not a slot
    if cron == "* * * * *":
        assert at in skip  # 03:00 (02:30 at Lord Howe) exists: it fires under both


# -- the documented examples ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "cron", "policy", "start", "expected"),
    [
        # New York falls back on 2026-11-01: 01:30 EDT is 05:30Z, 01:30 EST is 06:30Z.
        ("America/New_York", "30 1 * * *", DstPolicy(), "2026-11-01T00:00Z",
         ["2026-11-01T05:30Z", "2026-11-02T06:30Z"]),
        ("America/New_York", "30 1 * * *", DstPolicy(fold="second"), "2026-11-01T00:00Z",
         ["2026-11-01T06:30Z", "2026-11-02T06:30Z"]),
        ("America/New_York", "30 1 * * *", DstPolicy(fold="both"), "2026-11-01T00:00Z",
         ["2026-11-01T05:30Z", "2026-11-01T06:30Z", "2026-11-02T06:30Z"]),
        # Berlin springs forward on 2026-03-29: 02:30 does not exist.
        ("Europe/Berlin", "30 2 * * *", DstPolicy(), "2026-03-28T12:00Z",
         ["2026-03-29T01:00Z", "2026-03-30T00:30Z"]),
        ("Europe/Berlin", "30 2 * * *", DstPolicy(gap="skip"), "2026-03-28T12:00Z",
         ["2026-03-30T00:30Z", "2026-03-31T00:30Z"]),
        ("Europe/Berlin", "*/15 2 * * *", DstPolicy(gap="skip"), "2026-03-28T12:00Z",
         ["2026-03-30T00:00Z", "2026-03-30T00:15Z"]),
        # Berlin falls back on 2026-10-25: 02:30 CEST is 00:30Z, 02:30 CET is 01:30Z.
        ("Europe/Berlin", "30 2 * * *", DstPolicy(fold="both"), "2026-10-24T12:00Z",
         ["2026-10-25T00:30Z", "2026-10-25T01:30Z", "2026-10-26T01:30Z"]),
        # Sydney falls back on 2026-04-05 (southern autumn), springs forward on 2026-10-04.
        ("Australia/Sydney", "30 2 * * *", DstPolicy(fold="second"), "2026-04-04T00:00Z",
         ["2026-04-04T16:30Z", "2026-04-05T16:30Z"]),
        ("Australia/Sydney", "30 2 * * *", DstPolicy(gap="skip"), "2026-10-03T00:00Z",
         ["2026-10-04T15:30Z"]),
        # Lord Howe: 01:30-01:59 repeats (+11:00 then +10:30), 02:00-02:29 is skipped.
        ("Australia/Lord_Howe", "45 1 * * *", DstPolicy(fold="both"), "2026-04-04T00:00Z",
         ["2026-04-04T14:45Z", "2026-04-04T15:15Z", "2026-04-05T15:15Z"]),
        ("Australia/Lord_Howe", "15 2 * * *", DstPolicy(), "2026-10-03T00:00Z",
         ["2026-10-03T15:30Z", "2026-10-04T15:15Z"]),
        ("Australia/Lord_Howe", "15 2 * * *", DstPolicy(gap="skip"), "2026-10-03T00:00Z",
         ["2026-10-04T15:15Z"]),
    ],
)
def test_documented_examples(tz: str, cron: str, policy: DstPolicy, start: str,
                             expected: list[str]) -> None:
    def at(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    d = cron_job(cron, tz, policy)
    assert upcoming(d, at(start), len(expected)) == [at(e) for e in expected]


def test_gap_skip_can_leave_a_bounded_job_without_a_fire() -> None:
    # 02:30 on 2026-03-08 is in New York's gap: with gap="skip" the next 02:30 on
    # March 8th is a year later, after end_at.
    d = cron_job("30 2 8 3 *", "America/New_York", DstPolicy(gap="skip"),
                 end_at=date(2026, 12, 31))
    assert next_fire(d, datetime(2026, 3, 1, tzinfo=UTC)) is None  # 2026-03-08 is the gap day
    forever = cron_job("30 2 8 3 *", "America/New_York", DstPolicy(gap="skip"))
    fire = next_fire(forever, datetime(2026, 3, 1, tzinfo=UTC))
    assert fire is not None and fire.year == 2027  # 2027-03-08 is a Monday


def test_start_at_and_end_at_bound_the_policy_fires() -> None:
    d = cron_job("30 1 * * *", "America/New_York", DstPolicy(fold="both"),
                 start_at=datetime(2026, 11, 1, 6, 0, tzinfo=UTC), end_at=date(2026, 11, 1))
    assert upcoming(d, datetime(2026, 10, 31, tzinfo=UTC), 5) == [
        datetime(2026, 11, 1, 6, 30, tzinfo=UTC)]


# -- catch-up ------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES, ids=POLICY_IDS)
@pytest.mark.parametrize(("tz", "kind", "at"), TRANSITIONS, ids=TRANSITION_IDS)
def test_catch_up_across_a_transition_follows_the_policy(
        tz: str, kind: str, at: datetime, policy: DstPolicy) -> None:
    d = cron_job("*/15 * * * *", tz, policy)
    start = at - timedelta(hours=2)
    due = next_fire(d, start)
    assert due is not None
    now = at + timedelta(minutes=20)  # a tick that comes back after the transition
    caught = catch_up(d, due, now)
    assert caught is not None and caught.slot == due
    expected = oracle("*/15 * * * *", tz, policy, now, now + timedelta(hours=3))[0]
    assert caught.next_run_at == expected


# -- the master tick --------------------------------------------------------------------------


class _NoQueue:
    async def enqueue(self, task: Any) -> Any:
        raise AssertionError("light jobs run inline")


def _engine(jobs: ZenJobs, start: datetime) -> tuple[JobEngine, MemoryJobStore, VirtualClock]:
    store, clock = MemoryJobStore(), VirtualClock(start)
    engine = JobEngine(jobs, store, _NoQueue(), clock, MemoryTelemetry(),  # type: ignore[arg-type]
                       service_url="https://svc.example")
    return engine, store, clock


def _registry(cron: str, tz: str, policy: DstPolicy | None, calls: list[JobContext]) -> ZenJobs:
    jobs = ZenJobs()

    @jobs.job("dst_job", type="scheduled", cron=cron, timezone=tz, dst=policy)
    async def handler(ctx: JobContext) -> None:
        calls.append(ctx)

    return jobs


@pytest.mark.parametrize("policy", POLICIES, ids=POLICY_IDS)
@pytest.mark.parametrize(("tz", "kind", "at"), TRANSITIONS, ids=TRANSITION_IDS)
def test_a_tick_every_minute_runs_exactly_the_policy_slots(
        tz: str, kind: str, at: datetime, policy: DstPolicy) -> None:
    calls: list[JobContext] = []
    start, end = at - timedelta(minutes=75), at + timedelta(minutes=75)
    engine, _, _ = _engine(_registry("*/15 * * * *", tz, policy, calls), start)

    async def go() -> None:
        await engine.sync(start)
        for now in minutes(start + MINUTE, end):
            await engine.tick(now)

    asyncio.run(go())
    expected = oracle("*/15 * * * *", tz, policy, start, end - MINUTE)
    assert [c.scheduled_for for c in calls] == expected
    assert [c.execution_id for c in calls] == [slot_execution_id("dst_job", s) for s in expected]


@pytest.mark.parametrize("policy", POLICIES, ids=POLICY_IDS)
@pytest.mark.parametrize(("tz", "kind", "at"), TRANSITIONS, ids=TRANSITION_IDS)
def test_a_late_tick_runs_once_and_waits_for_the_policy_slot(
        tz: str, kind: str, at: datetime, policy: DstPolicy) -> None:
    calls: list[JobContext] = []
    start = at - timedelta(hours=2)
    engine, store, _ = _engine(_registry("*/15 * * * *", tz, policy, calls), start)
    late = at + timedelta(minutes=7)

    async def go() -> datetime | None:
        await engine.sync(start)
        summary = await engine.tick(late)
        assert summary["ran"] == 1
        record = await store.get_job("dst_job")
        assert record is not None
        return record.next_run_at

    next_run_at = asyncio.run(go())
    assert [c.scheduled_for for c in calls] == [oracle("*/15 * * * *", tz, policy, start,
                                                       late)[0]]
    assert next_run_at == oracle("*/15 * * * *", tz, policy, late, late + timedelta(hours=2))[0]


# -- validation ------------------------------------------------------------------------------


class Gap(enum.Enum):
    SKIP = "skip"


class Fold(str, enum.Enum):
    BOTH = "both"


def test_policy_values_are_strings_or_enums_with_those_values() -> None:
    assert DstPolicy().gap is DstGap.SHIFT and DstPolicy().fold is DstFold.FIRST
    assert DstPolicy("skip", "both") == DstPolicy(DstGap.SKIP, DstFold.BOTH)
    assert DstPolicy(Gap.SKIP, Fold.BOTH) == DstPolicy("skip", "both")
    assert str(DstPolicy("skip", "second")) == "gap=skip, fold=second"
    assert DstPolicy().is_default and not DstPolicy(fold="both").is_default
    assert DstPolicy("skip", "both").to_dict() == {"gap": "skip", "fold": "both"}
    assert zenjobs.DstPolicy is DstPolicy and "DstPolicy" in zenjobs.__all__


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "periodic", "interval": timedelta(hours=1), "dst": DstPolicy()},
         "applies to cron (scheduled) jobs only: a periodic job fires on a fixed UTC grid"),
        ({"type": "endpoint", "dst": DstPolicy(fold="both")},
         "applies to cron (scheduled) jobs only: an endpoint job runs on demand"),
        ({"type": "scheduled", "cron": "0 * * * *", "dst": DstPolicy(gap="later")},
         "gap 'later' is not one of 'shift', 'skip'"),
        ({"type": "scheduled", "cron": "0 * * * *", "dst": DstPolicy(fold="last")},
         "fold 'last' is not one of 'first', 'second', 'both'"),
        ({"type": "scheduled", "cron": "0 * * * *", "dst": DstPolicy(gap=1)},  # type: ignore[arg-type]
         "gap 1 is not one of"),
        ({"type": "scheduled", "cron": "0 * * * *", "dst": "skip"},
         "expected a DstPolicy(gap=..., fold=...), got str 'skip'"),
        ({"type": "scheduled", "cron": "0 * * * *", "dst": {"gap": "skip"}},
         "expected a DstPolicy(gap=..., fold=...), got dict"),
    ],
)
def test_invalid_dst_is_refused_naming_job_and_field(fields: dict[str, Any],
                                                     message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        JobDescriptor(id="bad_dst", **fields)
    assert (caught.value.job_id, caught.value.field) == ("bad_dst", "dst")
    assert message in str(caught.value)
    assert str(caught.value).startswith("job 'bad_dst', field 'dst': ")


def test_zenjobs_validate_refuses_dst_on_a_periodic_job(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dst_periodic_registry.py").write_text(textwrap.dedent("""
        from datetime import timedelta
        from zenjobs import DstPolicy, JobContext, ZenJobs

        jobs = ZenJobs()

        @jobs.job("grid", type="periodic", interval=timedelta(hours=1),
                  dst=DstPolicy(gap="skip"))
        async def grid(ctx: JobContext) -> None: ...
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["validate", "--registry", "dst_periodic_registry:jobs"],
                                env={"ZENJOBS_REGISTRY": None})
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith(
        "job 'grid', field 'dst': applies to cron (scheduled) jobs only")


# -- zenjobs next and the dashboard -----------------------------------------------------------


def _write_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "dst_policy_registry.py").write_text(textwrap.dedent("""
        from zenjobs import DstPolicy, JobContext, ZenJobs

        jobs = ZenJobs()

        @jobs.job("ny_twice", type="scheduled", cron="30 1 * * *",
                  timezone="America/New_York", dst=DstPolicy(fold="both"))
        async def ny_twice(ctx: JobContext) -> None: ...

        @jobs.job("ny_second", type="scheduled", cron="30 1 * * *",
                  timezone="America/New_York", dst=DstPolicy(fold="second"))
        async def ny_second(ctx: JobContext) -> None: ...

        @jobs.job("berlin_skip", type="scheduled", cron="30 2 * * *",
                  timezone="Europe/Berlin", dst=DstPolicy(gap="skip"))
        async def berlin_skip(ctx: JobContext) -> None: ...

        @jobs.job("berlin_quarters", type="scheduled", cron="*/15 2 * * *",
                  timezone="Europe/Berlin", dst=DstPolicy(gap="skip"))
        async def berlin_quarters(ctx: JobContext) -> None: ...
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return "dst_policy_registry:jobs"


def _next(spec: str, *args: str) -> Any:
    result = CliRunner().invoke(main, ["next", "--registry", spec, *args],
                                env={"ZENJOBS_REGISTRY": None})
    assert result.exit_code == 0, result.output
    return result


def test_next_text_marks_doubled_and_second_only_fires(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _write_registry(tmp_path, monkeypatch)
    twice = "01:30 occurs twice that day (DST fold in America/New_York)"
    result = _next(spec, "--job", "ny_twice", "--from", "2026-10-31T12:00:00Z", "--count", "3")
    assert result.stdout.splitlines() == [
        "ny_twice: cron '30 1 * * *' in America/New_York  [dst: gap=shift, fold=both]",
        f"  2026-11-01T05:30:00Z  2026-11-01 01:30 EDT  DST: {twice}: fires at both "
        "occurrences, this is the first",
        f"  2026-11-01T06:30:00Z  2026-11-01 01:30 EST  DST: {twice}: fires at both "
        "occurrences, this is the second",
        "  2026-11-02T06:30:00Z  2026-11-02 01:30 EST",
    ]
    second = _next(spec, "--job", "ny_second", "--from", "2026-10-31T12:00:00Z", "--count", "1")
    assert second.stdout.splitlines()[1] == (
        f"  2026-11-01T06:30:00Z  2026-11-01 01:30 EST  DST: {twice}: fires at the second "
        "occurrence only")


def test_next_text_lists_skipped_wall_times_on_their_own_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _write_registry(tmp_path, monkeypatch)
    result = _next(spec, "--job", "berlin_skip", "--from", "2026-03-28T12:00:00Z",
                   "--count", "2")
    assert result.stdout.splitlines() == [
        "berlin_skip: cron '30 2 * * *' in Europe/Berlin  [dst: gap=skip, fold=first]",
        "  -                     2026-03-29 02:30  DST: skipped 02:30 on 2026-03-29: that wall "
        "time does not exist (DST gap in Europe/Berlin, dst gap='skip')",
        "  2026-03-30T00:30:00Z  2026-03-30 02:30 CEST",
        "  2026-03-31T00:30:00Z  2026-03-31 02:30 CEST",
    ]
    quarters = _next(spec, "--job", "berlin_quarters", "--from", "2026-03-29T00:00:00Z",
                     "--count", "1")
    assert quarters.stdout.splitlines()[1] == (
        "  -                     2026-03-29 02:00  DST: skipped 4 wall times on 2026-03-29, "
        "02:00, 02:15, 02:30, 02:45: they do not exist (DST gap in Europe/Berlin, "
        "dst gap='skip')")


def test_next_json_has_the_policy_and_a_dst_mark_per_fire(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _write_registry(tmp_path, monkeypatch)
    data = json.loads(_next(spec, "--from", "2026-03-28T12:00:00Z", "--count", "1",
                            "--json").stdout)
    jobs = {job["job_id"]: job for job in data["jobs"]}
    skip = jobs["berlin_skip"]
    assert skip["dst"] == {"gap": "skip", "fold": "first"}
    assert skip["fires"] == [{
        "at": "2026-03-30T00:30:00Z", "local": "2026-03-30T02:30:00+02:00", "skipped": False,
        "dst": None, "dst_effect": None, "dst_skipped": ["2026-03-29T02:30"]}]
    quarters = jobs["berlin_quarters"]["fires"][0]
    assert quarters["dst_skipped"] == ["2026-03-29T02:00", "2026-03-29T02:15",
                                       "2026-03-29T02:30", "2026-03-29T02:45"]
    fall = json.loads(_next(spec, "--job", "ny_twice", "--from", "2026-10-31T12:00:00Z",
                            "--count", "2", "--json").stdout)
    fires = fall["jobs"][0]["fires"]
    assert [f["dst_effect"] for f in fires] == ["doubled", "doubled"]
    assert {f["dst_effect"] for f in fires} <= set(DST_EFFECTS)


@pytest.mark.parametrize(
    ("policy", "effect", "ends"),
    [(DstPolicy(), "first_only", "fires at the first occurrence only"),
     (DstPolicy(fold="second"), "second_only", "fires at the second occurrence only"),
     (DstPolicy(fold="both"), "doubled", "fires at both occurrences, this is the first")],
)
def test_job_fires_marks_each_fold_policy(policy: DstPolicy, effect: str, ends: str) -> None:
    d = cron_job("30 2 * * *", "Australia/Sydney", policy)
    [fire] = job_fires(d, datetime(2026, 4, 4, tzinfo=UTC), 1)
    assert fire.dst_effect == effect and fire.dst is not None and fire.dst.endswith(ends)
    assert dst_note(d, fire.local) == fire.dst


def test_the_dashboard_table_marks_moved_doubled_and_skipped() -> None:
    from zenjobs.dashboard.render import environment

    now = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    skip = cron_job("30 2 * * *", "Europe/Berlin", DstPolicy(gap="skip"))
    moved = cron_job("30 2 * * *", "Europe/Berlin")
    both = cron_job("30 2 * * *", "Europe/Berlin", DstPolicy(fold="both"))
    table = environment().get_template("_fires_table.html")

    def render(d: JobDescriptor, after: datetime) -> str:
        return table.render(fires=job_fires(d, after, 2), tz=d.timezone, now=now)

    skipped = render(skip, now)
    assert 'data-dst="skipped"' in skipped and "DST skipped" in skipped
    assert "skipped 02:30 on 2026-03-29" in skipped
    assert 'data-dst="moved"' in render(moved, now)
    doubled = render(both, datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    assert doubled.count('data-dst="doubled"') == 2 and "DST twice" in doubled
