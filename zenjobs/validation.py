"""The validation rules of DESIGN.md, one function per scope.

:func:`check_descriptor` covers what one descriptor can know about itself and
runs when a descriptor is built. :func:`registry_problems` covers what needs
the whole registry (dependencies, cycles, handlers) and collects every problem
instead of stopping at the first, so ``zenjobs validate`` lists them all.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .errors import DefinitionError, Problem
from .schedule import cron_never_fires, parse_cron, zone
from .slot_rules import dst_error, jitter_error
from .vocabulary import (
    JOB_ID_PATTERN,
    MASTER_JOB_ID,
    MAX_INTERVAL,
    QUEUE_NAME_PATTERN,
    BackoffPolicy,
    JobType,
    RateLimit,
    Weight,
)

if TYPE_CHECKING:
    from .descriptor import JobDescriptor


def check_descriptor(d: JobDescriptor) -> None:
    """Raise :class:`DefinitionError` for the first rule ``d`` breaks on its own."""
    job = d.id if isinstance(d.id, str) else repr(d.id)

    def fail(field_name: str, message: str) -> DefinitionError:
        return DefinitionError(job, field_name, message)

    if not isinstance(d.id, str) or not JOB_ID_PATTERN.fullmatch(d.id):
        raise fail(
            "id",
            "must match ^[a-z][a-z0-9_-]{0,62}$ (a lowercase letter, then up to 62 "
            "lowercase letters, digits, '_' or '-'; at most 63 characters)",
        )
    if d.id == MASTER_JOB_ID:
        raise fail("id", f"{MASTER_JOB_ID!r} is reserved for the master tick")
    if not isinstance(d.type, JobType):
        raise fail("type", f"expected a JobType, got {d.type!r}")
    if not isinstance(d.weight, Weight):
        raise fail("weight", f"expected a Weight ('light', 'medium' or 'heavy'), got {d.weight!r}")

    # Schedule fields must match the type exactly: a stray cron on a periodic
    # job is almost always a copy-paste mistake worth reporting.
    if d.type is JobType.SCHEDULED:
        if d.cron is None:
            raise fail("cron", "a scheduled job needs a cron expression")
        if d.interval is not None:
            raise fail("interval", "a scheduled job takes a cron, not an interval")
    elif d.type is JobType.PERIODIC:
        if d.interval is None:
            raise fail("interval", "a periodic job needs an interval")
        if d.cron is not None:
            raise fail("cron", "a periodic job takes an interval, not a cron")
    else:
        if d.cron is not None:
            raise fail("cron", "an endpoint job runs on demand and takes no cron")
        if d.interval is not None:
            raise fail("interval", "an endpoint job runs on demand and takes no interval")

    if not isinstance(d.timezone, str):
        raise fail("timezone", f"expected an IANA time zone name, got {d.timezone!r}")
    tz_error = timezone_error(d.timezone)
    if tz_error:
        raise fail("timezone", tz_error)
    if d.cron is not None:
        cron_error = cron_expression_error(d.cron)
        if cron_error:
            raise fail("cron", cron_error)
    if d.interval is not None:
        interval_error = interval_rule_error(d.interval)
        if interval_error:
            raise fail("interval", interval_error)
    for option, rule in (("dst", dst_error), ("jitter", jitter_error)):
        error = rule(d)
        if error:
            raise fail(option, error)

    if not _is_int(d.max_retries) or d.max_retries < 0:
        raise fail("max_retries", f"must be a whole number >= 0, got {d.max_retries!r}")
    if d.pause_after_dead is not None and (not _is_int(d.pause_after_dead)
                                           or d.pause_after_dead < 1):
        raise fail("pause_after_dead",
                   f"must be None or a whole number >= 1, got {d.pause_after_dead!r}")
    if not isinstance(d.timeout, timedelta) or d.timeout <= timedelta(0):
        raise fail("timeout", f"must be a positive timedelta, got {d.timeout!r}")
    if not isinstance(d.backoff, BackoffPolicy):
        raise fail("backoff", f"expected a BackoffPolicy, got {d.backoff!r}")
    b = d.backoff
    if not isinstance(b.initial, timedelta) or b.initial <= timedelta(0):
        raise fail("backoff", "initial delay must be a positive timedelta")
    if not isinstance(b.maximum, timedelta) or b.maximum < b.initial:
        raise fail("backoff", "maximum delay must be a timedelta >= the initial delay")
    if not isinstance(b.multiplier, (int, float)) or b.multiplier < 1:
        raise fail("backoff", f"multiplier must be >= 1, got {b.multiplier!r}")
    if not isinstance(b.jitter, (int, float)) or not 0 <= b.jitter <= 1:
        raise fail("backoff", f"jitter must be between 0 and 1, got {b.jitter!r}")

    if d.queue is not None and (
        not isinstance(d.queue, str) or not QUEUE_NAME_PATTERN.fullmatch(d.queue)
    ):
        raise fail("queue", "must match ^[a-z][a-z0-9-]{0,62}$ (a Cloud Tasks queue id)")
    if d.rate_limit is not None:
        if not isinstance(d.rate_limit, RateLimit):
            raise fail("rate_limit", f"expected a RateLimit, got {d.rate_limit!r}")
        rps = d.rate_limit.max_dispatches_per_second
        if rps is not None and (not _is_number(rps) or not 0 < rps <= 500):
            raise fail("rate_limit", "max_dispatches_per_second must be in (0, 500]")
        conc = d.rate_limit.max_concurrent_dispatches
        if conc is not None and (not _is_int(conc) or not 1 <= conc <= 5000):
            raise fail("rate_limit", "max_concurrent_dispatches must be in [1, 5000]")

    for dep in d.dependencies:
        if not isinstance(dep, str) or not JOB_ID_PATTERN.fullmatch(dep):
            raise fail("dependencies", f"{dep!r} is not a valid job id")
        if dep == d.id:
            raise fail("dependencies", "a job cannot depend on itself")

    if d.start_at is not None and (
        not isinstance(d.start_at, datetime) or d.start_at.utcoffset() is None
    ):
        raise fail(
            "start_at", f"must be a timezone-aware datetime (an instant), got {d.start_at!r}"
        )
    if d.end_at is not None:
        if not isinstance(d.end_at, date) or isinstance(d.end_at, datetime):
            raise fail("end_at", "must be a date (inclusive, in the job's time zone)")
        if d.start_at is not None:
            # end_at is a local date in the job's zone, so compare it with the
            # local date of start_at there, not with start_at's own offset.
            start_day = d.start_at.astimezone(zone(d.timezone)).date()
            if d.end_at < start_day:
                raise fail(
                    "end_at",
                    f"{d.end_at.isoformat()} is before start_at "
                    f"({start_day.isoformat()} in {d.timezone})",
                )
    for skip in d.skip_dates:
        if not isinstance(skip, date) or isinstance(skip, datetime):
            raise fail("skip_dates", f"{skip!r} is not a date")
    for err in d.permanent_errors:
        if not (isinstance(err, type) and issubclass(err, BaseException)):
            raise fail("permanent_errors", f"{err!r} is not an exception class")
    if not isinstance(d.enabled, bool):
        raise fail("enabled", f"must be True or False, got {d.enabled!r}")
    if not _is_int(d.priority):
        raise fail("priority", f"must be an integer, got {d.priority!r}")
    if not isinstance(d.description, str):
        raise fail("description", "must be a string")


#: The geographic areas of the IANA database: every zone named ``Area/Location``
#: with one of these areas is a place, with that place's whole history of offsets
#: and daylight-saving rules. Only these, ``UTC`` and ``Etc/UTC`` are accepted.
ZONE_AREAS = frozenset({"Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic",
                        "Australia", "Europe", "Indian", "Pacific"})
#: The two names of UTC that are accepted.
UTC_NAMES = frozenset({"UTC", "Etc/UTC"})

_EASTERN, _CENTRAL, _MOUNTAIN, _PACIFIC = (
    "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
#: POSIX-style zones: US daylight-saving rules on a fixed base offset, no local history.
_US_RULE_ZONES = {"EST5EDT": _EASTERN, "CST6CDT": _CENTRAL, "MST7MDT": _MOUNTAIN,
                  "PST8PDT": _PACIFIC}
#: Abbreviations that are fixed offsets: (offset, the local time people usually mean
#: and its zone, a place that keeps the offset all year, if that is another zone).
_FIXED_ABBREVIATIONS = {
    "EST": ("UTC-05:00", "US Eastern time", _EASTERN, "America/Panama"),
    "MST": ("UTC-07:00", "US Mountain time", _MOUNTAIN, "America/Phoenix"),
    "HST": ("UTC-10:00", "Hawaii time", "Pacific/Honolulu", None),
}
#: European abbreviation zones (continental rules, no local history).
_EUROPEAN_ABBREVIATIONS = {"CET": "Europe/Berlin", "MET": "Europe/Berlin",
                           "EET": "Europe/Athens", "WET": "Europe/Lisbon"}
_UTC_ALIASES = frozenset({"UCT", "Universal", "Zulu", "Etc/UCT", "Etc/Universal", "Etc/Zulu"})
_GMT_ALIASES = frozenset({"GMT", "GMT0", "GMT+0", "GMT-0", "Greenwich", "Etc/GMT", "Etc/GMT0",
                          "Etc/GMT+0", "Etc/GMT-0", "Etc/Greenwich"})
#: Old names outside the geographic areas (the database's ``backward`` file),
#: each with the zone it stands for.
_BACKWARD_ALIASES = {
    "US/Alaska": "America/Anchorage", "US/Aleutian": "America/Adak",
    "US/Arizona": "America/Phoenix", "US/Central": _CENTRAL,
    "US/East-Indiana": "America/Indiana/Indianapolis", "US/Eastern": _EASTERN,
    "US/Hawaii": "Pacific/Honolulu", "US/Indiana-Starke": "America/Indiana/Knox",
    "US/Michigan": "America/Detroit", "US/Mountain": _MOUNTAIN, "US/Pacific": _PACIFIC,
    "US/Pacific-New": _PACIFIC, "US/Samoa": "Pacific/Pago_Pago", "Navajo": _MOUNTAIN,
    "Canada/Atlantic": "America/Halifax", "Canada/Central": "America/Winnipeg",
    "Canada/East-Saskatchewan": "America/Regina", "Canada/Eastern": "America/Toronto",
    "Canada/Mountain": "America/Edmonton", "Canada/Newfoundland": "America/St_Johns",
    "Canada/Pacific": "America/Vancouver", "Canada/Saskatchewan": "America/Regina",
    "Canada/Yukon": "America/Whitehorse",
    "Mexico/BajaNorte": "America/Tijuana", "Mexico/BajaSur": "America/Mazatlan",
    "Mexico/General": "America/Mexico_City",
    "Brazil/Acre": "America/Rio_Branco", "Brazil/DeNoronha": "America/Noronha",
    "Brazil/East": "America/Sao_Paulo", "Brazil/West": "America/Manaus",
    "Chile/Continental": "America/Santiago", "Chile/EasterIsland": "Pacific/Easter",
    "Cuba": "America/Havana", "Jamaica": "America/Jamaica",
    "Egypt": "Africa/Cairo", "Libya": "Africa/Tripoli",
    "Eire": "Europe/Dublin", "GB": "Europe/London", "GB-Eire": "Europe/London",
    "Iceland": "Atlantic/Reykjavik", "Poland": "Europe/Warsaw", "Portugal": "Europe/Lisbon",
    "Turkey": "Europe/Istanbul", "W-SU": "Europe/Moscow",
    "Hongkong": "Asia/Hong_Kong", "Iran": "Asia/Tehran", "Israel": "Asia/Jerusalem",
    "Japan": "Asia/Tokyo", "PRC": "Asia/Shanghai", "ROC": "Asia/Taipei", "ROK": "Asia/Seoul",
    "Singapore": "Asia/Singapore",
    "Kwajalein": "Pacific/Kwajalein", "NZ": "Pacific/Auckland", "NZ-CHAT": "Pacific/Chatham",
}
_FIXED_OFFSET = re.compile(r"(?:Etc/)?GMT([+-])(\d{1,2})")
_EXAMPLE = "such as 'Europe/Berlin' or 'America/New_York'"


def timezone_error(name: str) -> str | None:
    """Why ``name`` is not a usable time zone, or None if it is.

    Accepted: ``UTC``, ``Etc/UTC`` and the IANA zones of a place,
    ``Area/Location`` with ``Area`` in :data:`ZONE_AREAS`. Refused, with the
    zone to use instead: abbreviations and POSIX-style zones (``EST``,
    ``EST5EDT``, ``CET``, ...), fixed offsets (``Etc/GMT+5``), the other names
    of UTC and GMT, the old aliases outside the areas (``US/Eastern``), the
    ``posix/`` and ``right/`` copies of the database, and anything the
    database does not have. The rule and its reasons: docs/scheduling.md.
    """
    if name in UTC_NAMES:
        return None
    advice = _legacy_zone_advice(name)
    if advice is not None:
        return advice
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a directory of the database such as "America" is not a zone.
        return f"unknown IANA time zone {name!r}"
    if name.split("/", 1)[0] not in ZONE_AREAS or "/" not in name:
        return (f"{name!r} is not the IANA zone of a place: use an Area/Location zone "
                f"({_EXAMPLE}) or 'UTC'")
    return None


def _legacy_zone_advice(name: str) -> str | None:
    """The refusal, naming the zone to use, for a name known to be no place."""
    not_a_place = f"{name!r} is not a place"
    if name in _US_RULE_ZONES:
        return (f"{not_a_place} but a legacy POSIX-style zone (US daylight-saving rules "
                f"without the local history): use {_US_RULE_ZONES[name]!r}")
    if name in _FIXED_ABBREVIATIONS:
        offset, region, usual, all_year = _FIXED_ABBREVIATIONS[name]
        fixed_offset = f"{not_a_place} but a fixed offset ({offset}, no daylight saving time)"
        if all_year is None:
            return f"{fixed_offset}: use {usual!r} for {region}"
        return (f"{fixed_offset}: use {usual!r} for {region} (with daylight saving time), "
                f"or {all_year!r} for {offset} all year")
    if name in _EUROPEAN_ABBREVIATIONS:
        return (f"{not_a_place} but a legacy zone named after an abbreviation: use the zone "
                f"of the place, such as {_EUROPEAN_ABBREVIATIONS[name]!r}")
    if name in _UTC_ALIASES:
        return f"{name!r} is another name of UTC: use 'UTC'"
    if name in _GMT_ALIASES:
        return (f"{name!r} is UTC+00:00 all year, not UK time: use 'UTC', or "
                "'Europe/London' for UK time with summer time")
    fixed = _FIXED_OFFSET.fullmatch(name)
    if fixed is not None and 1 <= int(fixed.group(2)) <= 14:
        # POSIX sign convention: Etc/GMT+5 is five hours *behind* UTC.
        sign = "-" if fixed.group(1) == "+" else "+"
        return (f"{not_a_place} but a fixed offset (UTC{sign}{int(fixed.group(2)):02d}:00, "
                "no daylight saving time; note the inverted sign): use the Area/Location "
                f"zone of the place whose clock you mean ({_EXAMPLE}), or 'UTC'")
    if name in _BACKWARD_ALIASES:
        return (f"{name!r} is an old alias kept only for backward compatibility: "
                f"use {_BACKWARD_ALIASES[name]!r}")
    prefix, _, rest = name.partition("/")
    if prefix in ("posix", "right") and rest and timezone_error(rest) is None:
        if prefix == "right":
            return (f"{name!r} is the leap-second variant of {rest!r}, whose clock is off "
                    f"from UTC by the leap seconds: use {rest!r}")
        return f"{name!r} is a copy of {rest!r} in the database's posix/ directory: use {rest!r}"
    return None


def cron_expression_error(expr: str) -> str | None:
    """Why ``expr`` is not a usable five-field cron expression, or None."""
    if not isinstance(expr, str):
        return f"expected a string, got {type(expr).__name__}"
    fields = expr.split()
    if len(fields) != 5:
        return f"{expr!r} must have 5 fields (minute hour day month weekday), got {len(fields)}"
    try:
        parse_cron(expr)
    except ValueError as exc:
        return f"{expr!r} does not parse: {exc}"
    if cron_never_fires(expr):
        return f"{expr!r} never fires (no matching date)"
    return None


def interval_rule_error(interval: object) -> str | None:
    """Why ``interval`` is not a whole number of minutes from 1 to MAX_INTERVAL, or None."""
    if not isinstance(interval, timedelta):
        return f"expected a timedelta, got {type(interval).__name__}"
    seconds = interval.total_seconds()
    if seconds < 60:
        return f"must be at least 1 minute (Cloud Scheduler's granularity), got {seconds:g}s"
    if interval > MAX_INTERVAL:
        return f"must be at most {MAX_INTERVAL.days} days, got {interval}"
    return f"must be a whole number of minutes, got {seconds:g}s" if interval % timedelta(
        minutes=1) else None


def registry_problems(
    descriptors: Mapping[str, JobDescriptor],
    handlers: Mapping[str, Callable[..., Any]],
    *,
    require_handlers: bool,
) -> list[Problem]:
    """Every cross-job problem in a registry, in a stable order."""
    problems: list[Problem] = []
    for job_id, d in descriptors.items():
        for dep in d.dependencies:
            if dep not in descriptors:
                problems.append(Problem(job_id, "dependencies", f"unknown job {dep!r}"))
        if job_id in handlers:
            error = handler_error(d, handlers[job_id])
            if error:
                problems.append(Problem(job_id, "handler", error))
        elif require_handlers:
            problems.append(Problem(job_id, "handler", "no handler registered"))
    for job_id in handlers:
        if job_id not in descriptors:
            problems.append(Problem(job_id, "handler", "handler for a job that is not registered"))
    problems.extend(_cycle_problems(descriptors))
    return problems


def handler_error(d: JobDescriptor, fn: Callable[..., Any]) -> str | None:
    """Why ``fn`` cannot be ``d``'s handler, or None."""
    if not callable(fn):
        return f"{fn!r} is not callable"
    if d.weight is Weight.HEAVY:
        # Heavy handlers run in another process, which imports them by name.
        qualname = getattr(fn, "__qualname__", "")
        if (
            not inspect.isfunction(fn)
            or "<" in qualname
            or not getattr(fn, "__module__", None)
        ):
            return (
                "a heavy handler must be a module-level function importable by name "
                f"(it runs in a separate process), got {qualname or fn!r}"
            )
        return None
    is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004  (an object with async __call__)
    )
    if not is_async:
        return "a synchronous (blocking) handler is only allowed for a job declared weight='heavy'"
    return None


def _cycle_problems(descriptors: Mapping[str, JobDescriptor]) -> list[Problem]:
    """One problem per dependency cycle, naming its path.

    Iterative depth-first search, so a long dependency chain cannot hit
    Python's recursion limit.
    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(descriptors, white)
    problems: list[Problem] = []

    for root in descriptors:
        if colour[root] != white:
            continue
        path: list[str] = [root]
        pending: list[Iterator[str]] = [iter(descriptors[root].dependencies)]
        colour[root] = grey
        while pending:
            dep = next(pending[-1], None)
            if dep is None:
                colour[path.pop()] = black
                pending.pop()
            elif dep not in descriptors:
                continue
            elif colour[dep] == grey:
                cycle = [*path[path.index(dep) :], dep]
                problems.append(
                    Problem(dep, "dependencies", "dependency cycle: " + " -> ".join(cycle))
                )
            elif colour[dep] == white:
                colour[dep] = grey
                path.append(dep)
                pending.append(iter(descriptors[dep].dependencies))
    return problems


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
