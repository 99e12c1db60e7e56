"""Pure schedule math: when does a job fire after a given instant?

Every function here takes the instant to start from as an argument and
returns UTC-aware datetimes; nothing reads the wall clock, so the rules can be
tested with any date, including DST transitions.

Rules (see ``docs/scheduling.md``):

* **Periodic** jobs fire on the grid ``anchor + k * interval`` where the anchor
  is ``start_at`` or the Unix epoch. A late tick never moves later slots.
* **Cron** jobs are evaluated on the wall clock of the job's time zone. The
  job's :class:`~zenjobs.vocabulary.DstPolicy` maps the wall times DST breaks:
  by default a local time that does not exist (spring-forward gap) fires once,
  at the first instant after the gap (``gap="shift"``; ``"skip"`` drops it),
  and a local time that occurs twice (fall-back) fires once, at its first
  occurrence (``fold="first"``; ``"second"`` or ``"both"`` otherwise).
* **Jitter**: a job declaring ``jitter`` has every slot moved later by the same
  offset in ``[0, jitter)``, a pure function of its id (:func:`jitter_offset`).
  The moved instant *is* the slot: ``start_at``, ``end_at``, catch-up and the
  execution id all see it.
* ``start_at`` is an instant: nothing fires before it. ``end_at`` is a date,
  inclusive, in the job's time zone: nothing fires after that local day.
* **Catch-up**: when slots were missed, one run covers them all; the next slot
  is the first one strictly after "now".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .vocabulary import (
    DEFAULT_DST,
    EARLIEST_INSTANT,
    LATEST_INSTANT,
    DstFold,
    DstGap,
    DstPolicy,
    JobType,
)

if TYPE_CHECKING:
    from .descriptor import JobDescriptor

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name (cached: lookups are on the hot path)."""
    return ZoneInfo(name)


_CRON_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31 or L"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-6 or SUN-SAT"),
)


def parse_cron(expr: str) -> Any:
    """Check a five-field cron expression; raise ValueError naming the bad field."""
    from croniter import croniter

    fields = expr.split()
    if len(fields) != 5:
        raise ValueError("a cron expression has 5 fields")
    for (name, _), text in zip(_CRON_FIELDS, fields, strict=True):
        # croniter reads "R" as "pick a random value": a schedule must be deterministic.
        if any(token.upper().startswith("R") for token in re.split(r"[,/\-]", text)):
            raise ValueError(
                f"the {name} field {text!r} is random ('R'); schedules must be deterministic"
            )
    try:
        return croniter(expr, datetime(2000, 1, 1))
    except ValueError as exc:  # CroniterBadCronError is a ValueError
        reason = str(exc)
    # Find the field to blame by checking each one alone, the others being '*'.
    for index, (name, allowed) in enumerate(_CRON_FIELDS):
        alone = ["*"] * 5
        alone[index] = fields[index]
        try:
            croniter(" ".join(alone), datetime(2000, 1, 1))
        except ValueError:
            raise ValueError(
                f"the {name} field {fields[index]!r} is not valid (allowed: {allowed})"
            ) from None
    raise ValueError(reason)


def cron_never_fires(expr: str) -> bool:
    """True for expressions such as ``0 0 30 2 *`` that match no date at all."""
    from croniter import CroniterBadDateError

    it = parse_cron(expr)
    try:
        it.get_next(datetime)
    except CroniterBadDateError:
        return True
    return False


#: How zenjobs prints an instant (always UTC, whole seconds).
INSTANT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: The accepted range, as error messages state it.
INSTANT_RANGE = (f"between {EARLIEST_INSTANT.strftime(INSTANT_FORMAT)} and "
                 f"{LATEST_INSTANT.strftime(INSTANT_FORMAT)}")


def in_instant_range(instant: datetime) -> bool:
    """Whether an aware ``instant`` lies within ``EARLIEST_INSTANT``..``LATEST_INSTANT``.

    Aware datetimes compare without being converted, so year 1 or 9999 with an
    offset is answered here instead of overflowing in a later ``astimezone``.
    """
    return EARLIEST_INSTANT <= instant <= LATEST_INSTANT


def require_utc(instant: datetime, name: str = "instant") -> datetime:
    """Return ``instant`` in UTC; naive datetimes are refused, not guessed."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {instant!r}")
    return instant.astimezone(UTC)


def local_to_utc(wall: datetime, tz: ZoneInfo) -> datetime:
    """Map a naive wall-clock time in ``tz`` to a UTC instant, with the DST rule.

    An ambiguous time (fall-back) maps to its first occurrence. A time inside a
    spring-forward gap maps to the first instant after the gap, that is, the
    transition itself.
    """
    utc = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) == wall:
        return utc
    # In a gap, fold=0 reads the wall time with the offset from before the
    # transition (landing after it) and fold=1 with the offset after it
    # (landing before it); the transition lies between the two.
    late = utc
    early = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if early > late:
        early, late = late, early
    after_offset = late.astimezone(tz).utcoffset()
    lo, hi = early, late
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == after_offset:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def wall_instants(wall: datetime, tz: ZoneInfo,
                  dst: DstPolicy = DEFAULT_DST) -> tuple[datetime, tuple[datetime, ...]]:
    """Where the naive wall time ``wall`` in ``tz`` fires under ``dst``.

    Returns ``(lower, instants)``: the UTC instants, in order (none for a
    skipped gap time, two for a fold time with ``fold="both"``), and
    ``lower = local_to_utc(wall, tz)``, which no instant of ``wall`` or of any
    later wall time precedes (the mapping of wall times it makes is monotonic).
    """
    u0 = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if u0.astimezone(tz).replace(tzinfo=None) != wall:  # in a spring-forward gap
        shifted = local_to_utc(wall, tz)
        return shifted, ((shifted,) if dst.gap is DstGap.SHIFT else ())
    if dst.fold is DstFold.FIRST:
        return u0, (u0,)
    u1 = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if u1 == u0:  # not in a fall-back fold
        return u0, (u0,)
    return u0, ((u1,) if dst.fold is DstFold.SECOND else (u0, u1))


def wall_exists(wall: datetime, tz: ZoneInfo) -> bool:
    """Whether the naive wall time ``wall`` happens in ``tz`` (False inside a DST gap)."""
    return bool(wall.replace(tzinfo=tz, fold=0).astimezone(UTC).astimezone(tz)
                .replace(tzinfo=None) == wall)


#: Looking this far ahead finds a fall-back transition whose repeated wall times
#: precede ``after``'s own (the largest fold in the database is two hours).
_FOLD_HORIZON = timedelta(hours=3)


def next_cron_fire(expr: str, tz_name: str, after: datetime,
                   dst: DstPolicy = DEFAULT_DST) -> datetime | None:
    """The first instant strictly after ``after`` at which ``expr`` fires in ``tz_name``.

    None when no wall time up to the end of year 2999 fires under ``dst``
    (possible only with ``gap="skip"`` and a cron naming gap times alone).
    """
    after = require_utc(after, "after")
    from croniter import croniter

    tz = zone(tz_name)
    local = after.astimezone(tz)
    start = local.replace(tzinfo=None)
    if dst.fold is not DstFold.FIRST:
        # The second occurrence of a repeated wall time earlier than ``after``'s
        # can still lie after ``after``: start before the fold just ahead.
        # That happens only within one fold's length before the transition.
        ahead = (after + _FOLD_HORIZON).astimezone(tz).utcoffset()
        now_offset = local.utcoffset()
        if ahead is not None and now_offset is not None and ahead < now_offset:
            fold = now_offset - ahead
            if (after + fold).astimezone(tz).utcoffset() != now_offset:
                start -= fold + timedelta(minutes=1)
    it = croniter(expr, start)
    # The wall clock is iterated naively and each wall time mapped to UTC. The
    # instants come in order except with fold="both" (a repeated hour's first
    # occurrences, then its second ones), so that case keeps the earliest one
    # found until the wall times' lower bound passes it.
    best: datetime | None = None
    while True:
        wall = it.get_next(datetime)
        if wall.year > LATEST_INSTANT.year:
            return best
        lower, instants = wall_instants(wall, tz, dst)
        if best is not None and lower >= best:
            return best
        for instant in instants:
            if instant > after and (best is None or instant < best):
                best = instant
        if best is not None and dst.fold is not DstFold.BOTH:
            return best


def gap_walls_between(expr: str, tz_name: str, start: datetime, end: datetime,
                      limit: int = 1440) -> list[datetime]:
    """The wall times of ``expr`` strictly between those of two instants that do not exist.

    What ``gap="skip"`` drops between two fires (``zenjobs next`` lists them).
    Naive wall times in ``tz_name``, at most ``limit`` of them, in order.
    """
    from croniter import croniter

    tz = zone(tz_name)
    stop = require_utc(end, "end").astimezone(tz).replace(tzinfo=None)
    it = croniter(expr, require_utc(start, "start").astimezone(tz).replace(tzinfo=None))
    walls: list[datetime] = []
    while len(walls) < limit:
        wall = it.get_next(datetime)
        if wall >= stop:
            break
        if not wall_exists(wall, tz):
            walls.append(wall)
    return walls


def next_periodic_fire(interval: timedelta, anchor: datetime, after: datetime) -> datetime:
    """The first grid slot ``anchor + k * interval`` strictly after ``after`` (k >= 0)."""
    after = require_utc(after, "after")
    anchor = require_utc(anchor, "anchor")
    if after < anchor:
        return anchor
    k = (after - anchor) // interval + 1
    return anchor + k * interval


def end_instant(d: JobDescriptor) -> datetime | None:
    """The first instant after ``d.end_at`` (midnight after that day, job's time zone)."""
    if d.end_at is None:
        return None
    return local_to_utc(datetime.combine(d.end_at + timedelta(days=1), time()), zone(d.timezone))


def local_date(d: JobDescriptor, instant: datetime) -> date:
    """The calendar date of ``instant`` in the job's time zone."""
    return require_utc(instant).astimezone(zone(d.timezone)).date()


@lru_cache(maxsize=4096)
def jitter_offset(job_id: str, jitter: timedelta) -> timedelta:
    """The fixed offset in ``[0, jitter)`` of ``job_id``'s slots: whole seconds.

    A pure function of the id (the SHA-256 of its UTF-8 bytes, modulo the
    jitter's seconds), so every instance, process and restart agrees on it.
    """
    seconds = int(jitter.total_seconds())
    if seconds <= 0:
        return timedelta(0)
    import hashlib

    digest = hashlib.sha256(job_id.encode("utf-8")).digest()
    return timedelta(seconds=int.from_bytes(digest[:8], "big") % seconds)


def slot_offset(d: JobDescriptor) -> timedelta:
    """How much later than its schedule's own instants ``d``'s slots fall (its jitter offset)."""
    return jitter_offset(d.id, d.jitter) if d.jitter else timedelta(0)


def next_fire(d: JobDescriptor, after: datetime) -> datetime | None:
    """The job's first fire instant strictly after ``after``, or None if it never fires again.

    Endpoint jobs never fire on their own and always return None. A jittered
    job's instants are its schedule's moved by :func:`slot_offset`; ``start_at``
    and ``end_at`` bound those moved instants.
    """
    after = require_utc(after, "after")
    if d.start_at is not None:
        start = require_utc(d.start_at)
        # Fire at start_at itself if it is a slot: look from just before it.
        after = max(after, start - timedelta(microseconds=1))
    offset = slot_offset(d)
    base_after = after - offset
    base: datetime | None
    if d.type is JobType.PERIODIC and d.interval is not None:
        base = next_periodic_fire(d.interval, d.start_at or EPOCH, base_after)
    elif d.type is JobType.SCHEDULED and d.cron is not None:
        base = next_cron_fire(d.cron, d.timezone, base_after, d.dst or DEFAULT_DST)
    else:
        return None
    if base is None:
        return None
    fire = base + offset
    end = end_instant(d)
    if end is not None and fire >= end:
        return None
    return fire


def upcoming(d: JobDescriptor, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire instants of ``d`` after ``after`` (fewer if it ends)."""
    fires: list[datetime] = []
    cursor = after
    while len(fires) < count:
        fire = next_fire(d, cursor)
        if fire is None:
            break
        fires.append(fire)
        cursor = fire
    return fires


@dataclass(frozen=True)
class CatchUp:
    """What a tick does with a due job: run ``slot`` once, then wait for ``next_run_at``."""

    slot: datetime
    next_run_at: datetime | None


def catch_up(d: JobDescriptor, due_slot: datetime, now: datetime) -> CatchUp | None:
    """Collapse every slot missed up to ``now`` into one run.

    ``due_slot`` is the job's stored ``next_run_at``. The run stands for that
    slot (the oldest missed one), which keeps its execution id stable however
    late the tick is; the next slot is the first one strictly after ``now``, so
    a tick that comes back after an outage runs each job once, not once per
    missed slot. Returns None when the job is not due yet.
    """
    due_slot = require_utc(due_slot, "due_slot")
    now = require_utc(now, "now")
    if due_slot > now:
        return None
    return CatchUp(slot=due_slot, next_run_at=next_fire(d, now))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TICK = timedelta(minutes=1)


def next_tick(after: datetime, interval: timedelta = TICK) -> datetime:
    """The first whole ``interval`` since the Unix epoch strictly after ``after``.

    The master tick's instants: Cloud Scheduler fires ``* * * * *`` on whole
    UTC minutes, and the development loops that stand in for it must too.
    """
    after = require_utc(after, "after")
    return _EPOCH + ((after - _EPOCH) // interval + 1) * interval


def format_instant(instant: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC, the format of every instant zenjobs prints."""
    return require_utc(instant).strftime(INSTANT_FORMAT)


def parse_instant(text: str) -> datetime:
    """Parse an ISO-8601 instant with an offset or ``Z``; naive input is refused."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    return require_utc(parsed, repr(text))
