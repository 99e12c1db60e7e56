"""Every per-descriptor validation rule: each error names the job and the field."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from zenjobs import (
    MASTER_JOB_ID,
    BackoffPolicy,
    DefinitionError,
    JobDescriptor,
    JobType,
    RateLimit,
    Weight,
    ZenjobsError,
)
from zenjobs.validation import ZONE_AREAS, timezone_error

UTC = timezone.utc


def make(**overrides: Any) -> JobDescriptor:
    fields: dict[str, Any] = {"id": "job", "type": JobType.SCHEDULED, "cron": "0 * * * *"}
    fields.update(overrides)
    return JobDescriptor(**fields)


def refused(field: str, job: str = "job", **overrides: Any) -> DefinitionError:
    """Build a descriptor that must fail, and check the error names job and field."""
    with pytest.raises(DefinitionError) as info:
        make(**overrides)
    error = info.value
    assert isinstance(error, ZenjobsError)
    assert (error.job_id, error.field) == (job, field)
    assert str(error).startswith(f"job {job!r}, field {field!r}: ")
    return error


# -- id ------------------------------------------------------------------


@pytest.mark.parametrize("job_id", ["a", "a" * 63, "send_welcome_email", "job-2", "x_y-z9"])
def test_valid_ids_are_accepted(job_id: str) -> None:
    assert make(id=job_id).id == job_id


@pytest.mark.parametrize(
    "job_id",
    ["a" * 64, "", "1job", "_job", "-job", "Job", "send email", "job.x", "jöb", "job\n", "job/x"],
)
def test_invalid_ids_are_refused(job_id: str) -> None:
    error = refused("id", job=job_id, id=job_id)
    assert "^[a-z][a-z0-9_-]{0,62}$" in str(error)


def test_id_length_limit_is_63() -> None:
    assert len(make(id="a" * 63).id) == 63
    assert "at most 63 characters" in str(refused("id", job="a" * 64, id="a" * 64))


def test_non_string_id_is_refused_and_named() -> None:
    refused("id", job="42", id=42)


def test_master_job_id_is_reserved() -> None:
    assert "reserved" in str(refused("id", job=MASTER_JOB_ID, id=MASTER_JOB_ID))


# -- type and weight -----------------------------------------------------


def test_type_accepts_enum_and_string() -> None:
    assert make(type="scheduled").type is JobType.SCHEDULED
    assert make(type=JobType.SCHEDULED).type is JobType.SCHEDULED


@pytest.mark.parametrize("value", ["cron", None, 3])
def test_unknown_type_is_refused(value: object) -> None:
    refused("type", type=value)


def test_weight_accepts_enum_and_string() -> None:
    assert make(weight="heavy").weight is Weight.HEAVY


@pytest.mark.parametrize("value", ["huge", None])
def test_unknown_weight_is_refused(value: object) -> None:
    refused("weight", weight=value)


# -- schedule fields must match the type ---------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"type": "scheduled", "cron": None}, "cron"),
        ({"type": "scheduled", "interval": timedelta(hours=1)}, "interval"),
        ({"type": "periodic", "cron": None}, "interval"),
        ({"type": "periodic", "interval": timedelta(hours=1)}, "cron"),
        ({"type": "endpoint"}, "cron"),
        ({"type": "endpoint", "cron": None, "interval": timedelta(hours=1)}, "interval"),
    ],
)
def test_schedule_fields_must_match_the_type(overrides: dict[str, Any], field: str) -> None:
    refused(field, **overrides)


# -- cron ----------------------------------------------------------------


@pytest.mark.parametrize(
    "cron", ["0 0 * * *", "*/15 2 * * 1-5", "0 0 29 2 *", "0 0 31 * *", "30 2 * * SUN", "0 0 L * *"]
)
def test_valid_crons_are_accepted(cron: str) -> None:
    assert make(cron=cron).cron == cron


@pytest.mark.parametrize(
    "cron",
    ["61 * * * *", "* 24 * * *", "0 0 * * 8", "every hour x y z", "*/0 * * * *", "0 0 0 * *"],
)
def test_cron_that_does_not_parse_is_refused(cron: str) -> None:
    assert "does not parse" in str(refused("cron", cron=cron))


@pytest.mark.parametrize(
    ("cron", "count"), [("0 0 * * * *", 6), ("0 0 * *", 4), ("@daily", 1), ("", 0)]
)
def test_cron_must_have_five_fields(cron: str, count: int) -> None:
    assert f"must have 5 fields (minute hour day month weekday), got {count}" in str(
        refused("cron", cron=cron)
    )


@pytest.mark.parametrize("cron", ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *"])
def test_cron_that_never_fires_is_refused(cron: str) -> None:
    assert "never fires" in str(refused("cron", cron=cron))


@pytest.mark.parametrize("cron", ["R * * * *", "0 R(0-5) * * *"])
def test_random_cron_fields_are_refused(cron: str) -> None:
    assert "deterministic" in str(refused("cron", cron=cron))


def test_cron_error_names_the_bad_field() -> None:
    assert "the hour field '24' is not valid (allowed: 0-23)" in str(
        refused("cron", cron="0 24 * * *")
    )


def test_non_string_cron_is_refused() -> None:
    refused("cron", cron=5)


# -- time zone -----------------------------------------------------------


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney"])
def test_known_time_zones_are_accepted(tz: str) -> None:
    assert make(timezone=tz).timezone == tz


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "America", "", "../etc/passwd", "utc", "CEST"])
def test_unknown_time_zone_is_refused(tz: str) -> None:
    assert "unknown IANA time zone" in str(refused("timezone", timezone=tz))


def test_non_string_time_zone_is_refused() -> None:
    refused("timezone", timezone=None)


# The zone rule of docs/scheduling.md ("Time zones"): a place (Area/Location) or UTC.


@pytest.mark.parametrize("tz", [
    "UTC", "Etc/UTC",  # the two names of UTC that are kept
    "America/Argentina/Buenos_Aires", "America/Indiana/Indianapolis",  # three levels
    "Antarctica/Troll", "Arctic/Longyearbyen", "Atlantic/Reykjavik", "Indian/Maldives",
    "Pacific/Honolulu", "Africa/Abidjan", "Asia/Kolkata", "Australia/Lord_Howe",
    "Asia/Calcutta", "Europe/Kiev",  # renamed places: aliases inside an area are places
])
def test_utc_and_the_zones_of_places_are_kept(tz: str) -> None:
    assert make(timezone=tz).timezone == tz


@pytest.mark.parametrize(("tz", "use"), [
    ("EST5EDT", "'America/New_York'"), ("CST6CDT", "'America/Chicago'"),
    ("MST7MDT", "'America/Denver'"), ("PST8PDT", "'America/Los_Angeles'"),
])
def test_posix_style_us_zones_are_refused_naming_the_place(tz: str, use: str) -> None:
    message = str(refused("timezone", timezone=tz))
    assert "POSIX-style" in message and message.endswith(f"use {use}")


@pytest.mark.parametrize(("tz", "use"), [
    ("EST", "'America/New_York' for US Eastern time (with daylight saving time), "
            "or 'America/Panama' for UTC-05:00 all year"),
    ("MST", "'America/Denver' for US Mountain time (with daylight saving time), "
            "or 'America/Phoenix' for UTC-07:00 all year"),
    ("HST", "'Pacific/Honolulu' for Hawaii time"),
])
def test_fixed_offset_abbreviations_are_refused_naming_the_place(tz: str, use: str) -> None:
    message = str(refused("timezone", timezone=tz))
    assert "fixed offset" in message and message.endswith(f"use {use}")


@pytest.mark.parametrize(("tz", "use"), [
    ("CET", "'Europe/Berlin'"), ("MET", "'Europe/Berlin'"), ("EET", "'Europe/Athens'"),
    ("WET", "'Europe/Lisbon'"),
])
def test_european_abbreviation_zones_are_refused_naming_a_place(tz: str, use: str) -> None:
    message = str(refused("timezone", timezone=tz))
    assert "abbreviation" in message and message.endswith(f"such as {use}")


@pytest.mark.parametrize(("tz", "offset"), [
    ("Etc/GMT+5", "UTC-05:00"), ("Etc/GMT-14", "UTC+14:00"), ("Etc/GMT+12", "UTC-12:00"),
    ("GMT+5", "UTC-05:00"),  # not in the database, but the same mistake: explained alike
])
def test_fixed_offsets_are_refused_with_their_real_sign(tz: str, offset: str) -> None:
    message = str(refused("timezone", timezone=tz))
    assert f"fixed offset ({offset}," in message and "inverted sign" in message
    assert "Area/Location" in message and message.endswith("or 'UTC'")


@pytest.mark.parametrize("tz", ["UCT", "Universal", "Zulu", "Etc/UCT", "Etc/Universal",
                                "Etc/Zulu"])
def test_other_names_of_utc_are_refused_for_utc(tz: str) -> None:
    assert str(refused("timezone", timezone=tz)).endswith("another name of UTC: use 'UTC'")


@pytest.mark.parametrize("tz", ["GMT", "GMT0", "GMT+0", "GMT-0", "Greenwich", "Etc/GMT",
                                "Etc/GMT0", "Etc/GMT-0", "Etc/Greenwich"])
def test_gmt_is_refused_as_neither_utc_nor_uk_time(tz: str) -> None:
    message = str(refused("timezone", timezone=tz))
    assert "not UK time" in message
    assert message.endswith("use 'UTC', or 'Europe/London' for UK time with summer time")


@pytest.mark.parametrize(("tz", "use"), [
    ("US/Eastern", "America/New_York"), ("US/Pacific", "America/Los_Angeles"),
    ("US/Arizona", "America/Phoenix"), ("Canada/Newfoundland", "America/St_Johns"),
    ("Mexico/General", "America/Mexico_City"), ("Brazil/East", "America/Sao_Paulo"),
    ("Chile/EasterIsland", "Pacific/Easter"), ("GB", "Europe/London"),
    ("Japan", "Asia/Tokyo"), ("NZ", "Pacific/Auckland"), ("W-SU", "Europe/Moscow"),
    ("Iceland", "Atlantic/Reykjavik"),
    ("US/Pacific-New", "America/Los_Angeles"),  # gone from the database: still explained
])
def test_old_aliases_outside_the_areas_are_refused_naming_the_zone(tz: str, use: str) -> None:
    message = str(refused("timezone", timezone=tz))
    assert message.endswith(f"backward compatibility: use {use!r}")


@pytest.mark.parametrize(("tz", "why"), [
    ("right/Europe/Berlin", "leap-second variant of 'Europe/Berlin'"),
    ("posix/Europe/Berlin", "a copy of 'Europe/Berlin'"),
])
def test_database_copies_are_refused_naming_the_zone(tz: str, why: str) -> None:
    message = str(refused("timezone", timezone=tz))
    assert why in message and message.endswith("use 'Europe/Berlin'")


@pytest.mark.parametrize("tz", ["Factory", "posix/EST"])
def test_other_zones_that_are_no_place_are_refused(tz: str) -> None:
    message = str(refused("timezone", timezone=tz))
    assert "not the IANA zone of a place" in message and message.endswith("or 'UTC'")


def test_every_zone_of_the_database_is_a_place_utc_or_refused_with_advice() -> None:
    """Over the whole installed database: the rule leaves nothing unexplained, and
    every zone a refusal recommends is itself accepted."""
    from zoneinfo import available_timezones

    recommended: set[str] = set()
    for tz in sorted(available_timezones()):
        error = timezone_error(tz)
        place = tz.split("/", 1)[0] in ZONE_AREAS
        if tz in ("UTC", "Etc/UTC") or place:
            assert error is None, (tz, error)
            continue
        assert error is not None and "unknown" not in error, tz
        named = re.findall(r"'([A-Z][A-Za-z_]+/[A-Za-z_/+-]+|UTC)'", error)
        recommended.update(zone for zone in named if zone != tz)
    assert {"America/New_York", "Europe/London", "UTC"} <= recommended
    assert all(timezone_error(tz) is None for tz in recommended), recommended


# -- interval ------------------------------------------------------------


def periodic(interval: object, **overrides: Any) -> JobDescriptor:
    return make(type="periodic", cron=None, interval=interval, **overrides)


@pytest.mark.parametrize(
    "interval",
    [timedelta(minutes=1), timedelta(minutes=7), timedelta(minutes=90), timedelta(hours=25),
     timedelta(days=366)],
)
def test_whole_minute_intervals_are_accepted(interval: timedelta) -> None:
    assert periodic(interval).interval == interval


@pytest.mark.parametrize(
    ("interval", "message"),
    [
        (timedelta(seconds=90), "must be a whole number of minutes, got 90s"),
        (timedelta(minutes=1, seconds=1), "must be a whole number of minutes, got 61s"),
        (timedelta(minutes=5, microseconds=1), "must be a whole number of minutes"),
        (timedelta(0), "must be at least 1 minute"),
        (
            timedelta(seconds=30),
            "must be at least 1 minute (Cloud Scheduler's granularity), got 30s",
        ),
        (timedelta(minutes=-5), "must be at least 1 minute"),
        (timedelta(days=366, minutes=1), "must be at most 366 days, got 366 days, 0:01:00"),
        (timedelta(days=999_999_999), "must be at most 366 days"),  # next_fire would overflow
        (60, "expected a timedelta, got int"),
    ],
)
def test_bad_intervals_are_refused(interval: object, message: str) -> None:
    with pytest.raises(DefinitionError) as info:
        periodic(interval)
    assert (info.value.job_id, info.value.field) == ("job", "interval")
    assert message in str(info.value)


# -- retries, timeout, backoff -------------------------------------------


@pytest.mark.parametrize("value", [-1, 1.5, True, "3"])
def test_bad_max_retries_is_refused(value: object) -> None:
    refused("max_retries", max_retries=value)


def test_zero_retries_is_allowed() -> None:
    assert make(max_retries=0).max_retries == 0


@pytest.mark.parametrize("value", [0, -1, True, False, "3", 2.0])
def test_bad_pause_after_dead_is_refused(value: object) -> None:
    error = refused("pause_after_dead", pause_after_dead=value)
    assert f"must be None or a whole number >= 1, got {value!r}" in str(error)


@pytest.mark.parametrize("job_type", list(JobType))
def test_pause_after_dead_is_off_by_default_and_takes_any_positive_int(job_type: JobType) -> None:
    schedules: dict[JobType, dict[str, Any]] = {
        JobType.SCHEDULED: {"cron": "0 * * * *"},
        JobType.PERIODIC: {"cron": None, "interval": timedelta(hours=1)},
        JobType.ENDPOINT: {"cron": None}}
    schedule = schedules[job_type]
    assert make(type=job_type, **schedule).pause_after_dead is None
    desc = make(type=job_type, pause_after_dead=1, **schedule)
    assert desc.pause_after_dead == 1 and desc.to_dict()["pause_after_dead"] == 1
    assert make(type=job_type, pause_after_dead=50, **schedule).pause_after_dead == 50


@pytest.mark.parametrize("value", [timedelta(0), timedelta(seconds=-1), 30])
def test_bad_timeout_is_refused(value: object) -> None:
    refused("timeout", timeout=value)


@pytest.mark.parametrize(
    "backoff",
    [
        BackoffPolicy(initial=timedelta(0)),
        BackoffPolicy(initial=timedelta(minutes=5), maximum=timedelta(minutes=1)),
        BackoffPolicy(multiplier=0.5),
        BackoffPolicy(jitter=2.0),
        BackoffPolicy(jitter=-0.1),
        "exponential",
    ],
)
def test_bad_backoff_is_refused(backoff: object) -> None:
    refused("backoff", backoff=backoff)


# -- queue and rate limits -----------------------------------------------


@pytest.mark.parametrize("queue", ["reports", "reports-eu", "q" * 63])
def test_valid_queue_names_are_accepted(queue: str) -> None:
    assert make(queue=queue).queue_id == queue


@pytest.mark.parametrize("queue", ["Reports", "reports_eu", "1reports", "", "q" * 64, "q\n", 7])
def test_bad_queue_names_are_refused(queue: object) -> None:
    refused("queue", queue=queue)


def test_default_queue_is_per_weight() -> None:
    assert make(weight="heavy").queue_id == "zenjobs-heavy"
    assert make().queue_id == "zenjobs-light"


@pytest.mark.parametrize(
    "limit",
    [
        RateLimit(max_dispatches_per_second=500, max_concurrent_dispatches=5000),
        RateLimit(max_dispatches_per_second=0.1, max_concurrent_dispatches=1),
    ],
)
def test_rate_limits_at_the_bounds_are_accepted(limit: RateLimit) -> None:
    assert make(rate_limit=limit).rate_limit == limit


@pytest.mark.parametrize(
    "limit",
    [
        RateLimit(max_dispatches_per_second=0),
        RateLimit(max_dispatches_per_second=-1),
        RateLimit(max_dispatches_per_second=500.5),
        RateLimit(max_dispatches_per_second=True),
        RateLimit(max_concurrent_dispatches=0),
        RateLimit(max_concurrent_dispatches=5001),
        RateLimit(max_concurrent_dispatches=2.5),  # type: ignore[arg-type]
        {"max_dispatches_per_second": 5},
    ],
)
def test_rate_limits_out_of_bounds_are_refused(limit: object) -> None:
    refused("rate_limit", rate_limit=limit)


# -- dependencies --------------------------------------------------------


def test_dependencies_are_normalised_to_a_tuple() -> None:
    assert make(dependencies=["a", "b"]).dependencies == ("a", "b")


@pytest.mark.parametrize("deps", [["Bad Id"], [3], "other_job", None])
def test_bad_dependencies_are_refused(deps: object) -> None:
    refused("dependencies", dependencies=deps)


def test_self_dependency_is_refused() -> None:
    assert "itself" in str(refused("dependencies", dependencies=["job"]))


# -- start_at, end_at, skip_dates ----------------------------------------


def test_naive_start_at_is_refused() -> None:
    error = refused("start_at", start_at=datetime(2026, 1, 1, 9, 0))
    assert "timezone-aware" in str(error)


def test_start_at_must_be_a_datetime() -> None:
    refused("start_at", start_at=date(2026, 1, 1))


def test_end_at_before_start_at_is_refused() -> None:
    error = refused(
        "end_at", start_at=datetime(2026, 3, 1, 12, tzinfo=UTC), end_at=date(2026, 2, 28)
    )
    assert "before start_at" in str(error)


def test_end_at_is_compared_with_start_at_in_the_jobs_time_zone() -> None:
    # 00:30 UTC on March 1st is still February 28th in New York.
    start = datetime(2026, 3, 1, 0, 30, tzinfo=UTC)
    ok = make(timezone="America/New_York", start_at=start, end_at=date(2026, 2, 28))
    assert ok.end_at == date(2026, 2, 28)
    refused("end_at", start_at=start, end_at=date(2026, 2, 28))  # in UTC it is March 1st


def test_end_at_on_the_start_day_is_allowed() -> None:
    d = make(start_at=datetime(2026, 3, 1, 12, tzinfo=UTC), end_at=date(2026, 3, 1))
    assert d.end_at == date(2026, 3, 1)


def test_end_at_must_be_a_date_not_a_datetime() -> None:
    refused("end_at", end_at=datetime(2026, 3, 1, tzinfo=UTC))


@pytest.mark.parametrize("skips", [[datetime(2026, 12, 25, tzinfo=UTC)], ["2026-12-25"], "x"])
def test_bad_skip_dates_are_refused(skips: object) -> None:
    refused("skip_dates", skip_dates=skips)


def test_skip_dates_are_normalised_to_a_frozenset() -> None:
    assert make(skip_dates=[date(2026, 12, 25)]).skip_dates == frozenset({date(2026, 12, 25)})


# -- the remaining fields ------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("permanent_errors", ["ValueError"]),
        ("permanent_errors", [ValueError()]),
        ("enabled", "yes"),
        ("priority", "high"),
        ("priority", 1.5),
        ("description", 5),
    ],
)
def test_other_field_types_are_checked(field: str, value: object) -> None:
    overrides: dict[str, Any] = {field: value}
    refused(field, **overrides)


def test_descriptor_is_frozen_and_hashable() -> None:
    d = make(dependencies=["other"], permanent_errors=[KeyError])
    assert hash(d) == hash(make(dependencies=("other",), permanent_errors=(KeyError,)))
    with pytest.raises(AttributeError):
        d.id = "other"  # type: ignore[misc]
