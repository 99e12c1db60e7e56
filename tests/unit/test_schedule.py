"""Schedule math: cron in a time zone with the DST rule, the periodic grid, bounds, catch-up.

Every expected instant is written out by hand (UTC), so a change in the rules
shows up as a diff of instants, not as a diff of two computations.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zenjobs import JobDescriptor, JobType
from zenjobs.schedule import (
    EPOCH,
    catch_up,
    end_instant,
    format_instant,
    local_date,
    local_to_utc,
    next_fire,
    next_periodic_fire,
    parse_instant,
    require_utc,
    upcoming,
    zone,
)

UTC = timezone.utc


def at(text: str) -> datetime:
    return parse_instant(text)


def cron(expr: str, tz: str = "UTC", **fields: Any) -> JobDescriptor:
    return JobDescriptor(id="job", type=JobType.SCHEDULED, cron=expr, timezone=tz, **fields)


def every(interval: timedelta, **fields: Any) -> JobDescriptor:
    return JobDescriptor(id="job", type=JobType.PERIODIC, interval=interval, **fields)


def fires(d: JobDescriptor, after: str, count: int) -> list[str]:
    return [format_instant(f) for f in upcoming(d, at(after), count)]


# -- DST: a daily time inside the spring-forward gap fires once, at the transition


@pytest.mark.parametrize(
    ("tz", "after", "expected"),
    [
        # Berlin: 2026-03-29 02:00 CET -> 03:00 CEST at 01:00Z.
        (
            "Europe/Berlin",
            "2026-03-28T12:00:00Z",
            ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"],
        ),
        # New York: 2026-03-08 02:00 EST -> 03:00 EDT at 07:00Z.
        (
            "America/New_York",
            "2026-03-07T12:00:00Z",
            ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"],
        ),
        # Sydney: 2026-10-04 02:00 AEST -> 03:00 AEDT at 2026-10-03 16:00Z.
        (
            "Australia/Sydney",
            "2026-10-03T00:00:00Z",
            ["2026-10-03T16:00:00Z", "2026-10-04T15:30:00Z", "2026-10-05T15:30:00Z"],
        ),
    ],
)
def test_time_in_spring_forward_gap_fires_once_at_the_transition(
    tz: str, after: str, expected: list[str]
) -> None:
    assert fires(cron("30 2 * * *", tz), after, 3) == expected


@pytest.mark.parametrize(
    ("tz", "after", "expected"),
    [
        (
            "Europe/Berlin",
            "2026-03-28T12:00:00Z",
            ["2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z", "2026-03-30T00:15:00Z"],
        ),
        (
            "America/New_York",
            "2026-03-07T12:00:00Z",
            ["2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z", "2026-03-09T06:15:00Z"],
        ),
        (
            "Australia/Sydney",
            "2026-10-03T00:00:00Z",
            ["2026-10-03T16:00:00Z", "2026-10-04T15:00:00Z", "2026-10-04T15:15:00Z"],
        ),
    ],
)
def test_every_quarter_hour_inside_the_gap_fires_once(
    tz: str, after: str, expected: list[str]
) -> None:
    # 02:00, 02:15, 02:30 and 02:45 do not exist that night: one run, not four.
    assert fires(cron("*/15 2 * * *", tz), after, 3) == expected


# -- DST: a time that occurs twice (fall-back) fires once, at its first occurrence


@pytest.mark.parametrize(
    ("expr", "tz", "after", "expected"),
    [
        # New York: 2026-11-01 02:00 EDT -> 01:00 EST at 06:00Z; 01:30 EDT is 05:30Z.
        (
            "30 1 * * *",
            "America/New_York",
            "2026-10-31T12:00:00Z",
            ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z", "2026-11-03T06:30:00Z"],
        ),
        # Berlin: 2026-10-25 03:00 CEST -> 02:00 CET at 01:00Z; 02:30 CEST is 00:30Z.
        (
            "30 2 * * *",
            "Europe/Berlin",
            "2026-10-24T12:00:00Z",
            ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z", "2026-10-27T01:30:00Z"],
        ),
        # Sydney: 2026-04-05 03:00 AEDT -> 02:00 AEST at 2026-04-04 16:00Z.
        (
            "30 2 * * *",
            "Australia/Sydney",
            "2026-04-04T00:00:00Z",
            ["2026-04-04T15:30:00Z", "2026-04-05T16:30:00Z", "2026-04-06T16:30:00Z"],
        ),
    ],
)
def test_repeated_time_fires_once_at_its_first_occurrence(
    expr: str, tz: str, after: str, expected: list[str]
) -> None:
    assert fires(cron(expr, tz), after, 3) == expected


def test_repeated_time_asked_during_its_second_occurrence_waits_for_tomorrow() -> None:
    # 06:10Z is 01:10 EST, inside the repeated hour; 01:30 already fired at 05:30Z.
    d = cron("30 1 * * *", "America/New_York")
    assert format_instant(next_fire(d, at("2026-11-01T06:10:00Z"))) == "2026-11-02T06:30:00Z"  # type: ignore[arg-type]


def test_quarter_hours_in_the_repeated_hour_fire_only_in_the_first_pass() -> None:
    assert fires(cron("*/15 1 * * *", "America/New_York"), "2026-11-01T04:00:00Z", 5) == [
        "2026-11-01T05:00:00Z",
        "2026-11-01T05:15:00Z",
        "2026-11-01T05:30:00Z",
        "2026-11-01T05:45:00Z",
        "2026-11-02T06:00:00Z",
    ]


# -- DST: an hourly cron across both transitions -----------------------------------


@pytest.mark.parametrize(
    ("tz", "after", "expected"),
    [
        # Spring: 02:00 does not exist and 03:00 is the same instant: one fire at 01:00Z.
        (
            "Europe/Berlin",
            "2026-03-28T23:30:00Z",
            [
                "2026-03-29T00:00:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T02:00:00Z",
                "2026-03-29T03:00:00Z",
            ],
        ),
        # Fall: 02:00 CET (01:00Z) is the second 02:00 and does not fire.
        (
            "Europe/Berlin",
            "2026-10-24T23:30:00Z",
            [
                "2026-10-25T00:00:00Z",
                "2026-10-25T02:00:00Z",
                "2026-10-25T03:00:00Z",
                "2026-10-25T04:00:00Z",
            ],
        ),
        (
            "America/New_York",
            "2026-03-08T05:30:00Z",
            [
                "2026-03-08T06:00:00Z",
                "2026-03-08T07:00:00Z",
                "2026-03-08T08:00:00Z",
                "2026-03-08T09:00:00Z",
            ],
        ),
        (
            "America/New_York",
            "2026-11-01T03:30:00Z",
            [
                "2026-11-01T04:00:00Z",
                "2026-11-01T05:00:00Z",
                "2026-11-01T07:00:00Z",
                "2026-11-01T08:00:00Z",
            ],
        ),
        (
            "Australia/Sydney",
            "2026-10-03T14:30:00Z",
            [
                "2026-10-03T15:00:00Z",
                "2026-10-03T16:00:00Z",
                "2026-10-03T17:00:00Z",
                "2026-10-03T18:00:00Z",
            ],
        ),
        (
            "Australia/Sydney",
            "2026-04-04T13:30:00Z",
            [
                "2026-04-04T14:00:00Z",
                "2026-04-04T15:00:00Z",
                "2026-04-04T17:00:00Z",
                "2026-04-04T18:00:00Z",
            ],
        ),
    ],
)
def test_hourly_cron_across_transitions(tz: str, after: str, expected: list[str]) -> None:
    assert fires(cron("0 * * * *", tz), after, 4) == expected


def test_local_to_utc_applies_the_dst_rule_directly() -> None:
    berlin = zone("Europe/Berlin")
    assert local_to_utc(datetime(2026, 3, 29, 2, 30), berlin) == at("2026-03-29T01:00:00Z")
    assert local_to_utc(datetime(2026, 10, 25, 2, 30), berlin) == at("2026-10-25T00:30:00Z")
    assert local_to_utc(datetime(2026, 7, 1, 12, 0), berlin) == at("2026-07-01T10:00:00Z")


# -- calendar edges ------------------------------------------------------------------


def test_february_29th_fires_in_leap_years_only() -> None:
    assert fires(cron("0 0 29 2 *"), "2026-01-01T00:00:00Z", 3) == [
        "2028-02-29T00:00:00Z",
        "2032-02-29T00:00:00Z",
        "2036-02-29T00:00:00Z",
    ]


def test_day_31_skips_shorter_months() -> None:
    assert fires(cron("0 0 31 * *"), "2026-01-01T00:00:00Z", 4) == [
        "2026-01-31T00:00:00Z",
        "2026-03-31T00:00:00Z",
        "2026-05-31T00:00:00Z",
        "2026-07-31T00:00:00Z",
    ]


def test_last_day_of_month_with_l() -> None:
    assert fires(cron("0 0 L * *"), "2027-12-15T00:00:00Z", 4) == [
        "2027-12-31T00:00:00Z",
        "2028-01-31T00:00:00Z",
        "2028-02-29T00:00:00Z",
        "2028-03-31T00:00:00Z",
    ]


def test_month_end_in_a_time_zone_is_the_local_month_end() -> None:
    # Midnight on Jan 31st in Tokyo is 15:00Z on Jan 30th.
    assert fires(cron("0 0 L * *", "Asia/Tokyo"), "2026-01-01T00:00:00Z", 2) == [
        "2026-01-30T15:00:00Z",
        "2026-02-27T15:00:00Z",
    ]


def test_next_fire_is_strictly_after() -> None:
    d = cron("0 * * * *")
    assert next_fire(d, at("2026-01-01T10:00:00Z")) == at("2026-01-01T11:00:00Z")
    assert next_fire(d, at("2026-01-01T09:59:59.999999Z")) == at("2026-01-01T10:00:00Z")


def test_endpoint_jobs_never_fire_on_their_own() -> None:
    d = JobDescriptor(id="job", type=JobType.ENDPOINT)
    assert next_fire(d, at("2026-01-01T00:00:00Z")) is None
    assert upcoming(d, at("2026-01-01T00:00:00Z"), 3) == []


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire(cron("0 * * * *"), datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_instant("2026-01-01T00:00:00")


# -- periodic: a fixed grid that never drifts -----------------------------------------


def test_seven_minute_grid_is_anchored_on_the_epoch() -> None:
    d = every(timedelta(minutes=7))
    # 2026-01-01T00:00Z is 29,453,760 minutes after the epoch: a multiple of 7.
    assert fires(d, "2026-01-01T00:00:00Z", 2) == ["2026-01-01T00:07:00Z", "2026-01-01T00:14:00Z"]
    # 1440 is not a multiple of 7, so the next day's slots are shifted by 2 minutes.
    assert fires(d, "2026-01-01T23:58:00Z", 1) == ["2026-01-02T00:02:00Z"]


def test_a_late_tick_does_not_shift_later_slots() -> None:
    d = every(timedelta(minutes=7))
    assert next_fire(d, at("2026-01-01T00:07:40Z")) == at("2026-01-01T00:14:00Z")
    assert next_periodic_fire(timedelta(minutes=7), EPOCH, at("2026-01-01T00:13:59Z")) == at(
        "2026-01-01T00:14:00Z"
    )


def test_ninety_minute_grid_anchored_on_start_at() -> None:
    d = every(timedelta(minutes=90), start_at=at("2026-01-01T00:10:00+01:00"))
    assert fires(d, "2025-12-01T00:00:00Z", 3) == [
        "2025-12-31T23:10:00Z",  # start_at itself is the first slot
        "2026-01-01T00:40:00Z",
        "2026-01-01T02:10:00Z",
    ]
    assert fires(d, "2026-01-02T00:00:00Z", 1) == ["2026-01-02T00:40:00Z"]


def test_twenty_five_hour_grid_on_the_epoch_and_on_start_at() -> None:
    # 29,453,760 minutes / 1500 = 19635.84, so the next epoch slot is 240 minutes later.
    assert fires(every(timedelta(hours=25)), "2026-01-01T00:00:00Z", 2) == [
        "2026-01-01T04:00:00Z",
        "2026-01-02T05:00:00Z",
    ]
    d = every(timedelta(hours=25), start_at=at("2026-01-01T00:00:00Z"))
    assert fires(d, "2026-01-05T12:00:00Z", 2) == ["2026-01-06T05:00:00Z", "2026-01-07T06:00:00Z"]


def test_periodic_grid_ignores_dst() -> None:
    # An interval is elapsed time: two hours are two hours across the Berlin gap.
    d = every(timedelta(hours=2), timezone="Europe/Berlin")
    assert fires(d, "2026-03-28T23:00:00Z", 2) == ["2026-03-29T00:00:00Z", "2026-03-29T02:00:00Z"]


# -- start_at and end_at -------------------------------------------------------------


def test_cron_does_not_fire_before_start_at() -> None:
    d = cron("0 9 * * *", start_at=at("2026-05-10T12:00:00Z"))
    assert fires(d, "2026-05-01T00:00:00Z", 1) == ["2026-05-11T09:00:00Z"]


def test_start_at_on_a_cron_slot_fires_at_start_at() -> None:
    d = cron("0 9 * * *", start_at=at("2026-05-10T09:00:00Z"))
    assert fires(d, "2026-05-01T00:00:00Z", 1) == ["2026-05-10T09:00:00Z"]


def test_end_at_is_inclusive_in_the_jobs_time_zone() -> None:
    # 08:30 in Tokyo is 23:30Z the day before: the last fire is on June 29th in UTC.
    d = cron("30 8 * * *", "Asia/Tokyo", end_at=date(2026, 6, 30))
    assert fires(d, "2026-06-28T00:00:00Z", 5) == ["2026-06-28T23:30:00Z", "2026-06-29T23:30:00Z"]
    assert next_fire(d, at("2026-06-29T23:30:00Z")) is None
    assert end_instant(d) == at("2026-06-30T15:00:00Z")


def test_periodic_end_at_includes_the_whole_local_day() -> None:
    d = every(timedelta(hours=1), timezone="Europe/Berlin", end_at=date(2026, 6, 30))
    # 21:00Z is 23:00 CEST on June 30th; 22:00Z is already July 1st in Berlin.
    assert fires(d, "2026-06-30T20:30:00Z", 3) == ["2026-06-30T21:00:00Z"]


def test_local_date_uses_the_jobs_time_zone() -> None:
    d = cron("0 * * * *", "America/New_York")
    assert local_date(d, at("2026-03-01T03:00:00Z")) == date(2026, 2, 28)


# -- catch-up ------------------------------------------------------------------------


def test_missed_slots_collapse_into_one_run_for_the_oldest_slot() -> None:
    d = every(timedelta(hours=1))
    result = catch_up(d, due_slot=at("2026-01-01T10:00:00Z"), now=at("2026-01-01T13:20:00Z"))
    assert result is not None
    assert result.slot == at("2026-01-01T10:00:00Z")
    assert result.next_run_at == at("2026-01-01T14:00:00Z")


def test_catch_up_next_slot_is_strictly_after_now() -> None:
    d = every(timedelta(hours=1))
    result = catch_up(d, due_slot=at("2026-01-01T13:00:00Z"), now=at("2026-01-01T13:00:00Z"))
    assert result is not None
    assert (result.slot, result.next_run_at) == (
        at("2026-01-01T13:00:00Z"),
        at("2026-01-01T14:00:00Z"),
    )


def test_catch_up_returns_none_when_not_due() -> None:
    d = every(timedelta(hours=1))
    assert catch_up(d, due_slot=at("2026-01-01T14:00:00Z"), now=at("2026-01-01T13:59:59Z")) is None


def test_catch_up_after_the_end_leaves_no_next_run() -> None:
    d = cron("0 12 * * *", end_at=date(2026, 1, 3))
    result = catch_up(d, due_slot=at("2026-01-02T12:00:00Z"), now=at("2026-01-05T00:00:00Z"))
    assert result is not None
    assert (result.slot, result.next_run_at) == (at("2026-01-02T12:00:00Z"), None)


def test_catch_up_of_a_cron_follows_the_dst_rule() -> None:
    d = cron("30 2 * * *", "Europe/Berlin")
    result = catch_up(d, due_slot=at("2026-03-27T01:30:00Z"), now=at("2026-03-28T12:00:00Z"))
    assert result is not None
    assert result.next_run_at == at("2026-03-29T01:00:00Z")


def test_catch_up_refuses_naive_now() -> None:
    with pytest.raises(ValueError, match="now"):
        catch_up(every(timedelta(hours=1)), at("2026-01-01T00:00:00Z"), datetime(2026, 1, 1))


# -- instant text ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-29T01:00:00Z", "2026-03-29T01:00:00Z"),
        ("2026-03-29T01:00:00z", "2026-03-29T01:00:00Z"),
        ("2026-03-29T03:00:00+02:00", "2026-03-29T01:00:00Z"),
        ("2026-03-28T21:00:00-04:00", "2026-03-29T01:00:00Z"),
    ],
)
def test_instants_parse_with_offset_and_format_in_utc(text: str, expected: str) -> None:
    assert format_instant(parse_instant(text)) == expected


@pytest.mark.parametrize("text", ["2026-03-29", "2026-03-29T01:00:00", "yesterday", ""])
def test_unparseable_or_naive_instants_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_instant(text)


def test_require_utc_converts_aware_values() -> None:
    assert require_utc(at("2026-01-01T01:00:00+01:00")).tzinfo is UTC


# -- properties over many instants -------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe"]
CRONS = ["0 * * * *", "*/15 * * * *", "30 2 * * *", "30 1 * * *", "*/10 1-3 * * 0", "0 0 L * *"]
INSTANTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None, database=None)
@given(expr=st.sampled_from(CRONS), tz=st.sampled_from(ZONES), after=INSTANTS)
def test_cron_fires_are_increasing_and_each_wall_time_fires_once(
    expr: str, tz: str, after: datetime
) -> None:
    d = cron(expr, tz)
    instants = upcoming(d, after, 6)
    assert instants[0] > after
    assert instants == sorted(set(instants))
    # Wall-clock times strictly increase: a repeated (fall-back) time never fires twice.
    walls = [i.astimezone(zone(tz)).replace(tzinfo=None) for i in instants]
    assert walls == sorted(set(walls))
    # Asking again from just before a fire finds that same fire: nothing is skipped.
    assert next_fire(d, instants[1] - timedelta(seconds=1)) == instants[1]


@settings(max_examples=300, deadline=None, database=None)
@given(
    minutes=st.integers(min_value=1, max_value=3000),
    anchor=st.one_of(st.none(), INSTANTS),
    after=INSTANTS,
)
def test_periodic_fires_stay_on_the_grid(
    minutes: int, anchor: datetime | None, after: datetime
) -> None:
    interval = timedelta(minutes=minutes)
    fire = next_fire(every(interval, start_at=anchor), after)
    assert fire is not None
    origin = anchor or EPOCH
    assert (fire - origin) % interval == timedelta(0)
    assert fire > after
    assert fire == origin or fire - interval <= after
