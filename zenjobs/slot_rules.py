"""The rules of the options that move a recurring job's slots: ``dst`` and ``jitter``.

:func:`~zenjobs.validation.check_descriptor` calls these once a descriptor's
type, schedule and time zone are known to be valid. Each returns why the option
is refused, or None; the caller names the job and the field. The effect of the
options is in :mod:`zenjobs.schedule`; the rules are stated in
docs/scheduling.md and docs/validation.md.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

from .schedule import parse_cron
from .vocabulary import DstFold, DstGap, DstPolicy, JobType

if TYPE_CHECKING:
    from .descriptor import JobDescriptor

#: The longest spacing :func:`cron_min_spacing` reports: a cron that fires at one
#: minute of one hour fires at most once a day.
_DAY = timedelta(days=1)


def dst_error(d: JobDescriptor) -> str | None:
    """Why ``d.dst`` is refused, or None (it is None, or a valid policy of a cron job)."""
    if d.dst is None:
        return None
    if d.type is JobType.PERIODIC:
        return ("applies to cron (scheduled) jobs only: a periodic job fires on a fixed UTC "
                "grid, which daylight saving time never moves; remove dst=")
    if d.type is JobType.ENDPOINT:
        return "applies to cron (scheduled) jobs only: an endpoint job runs on demand"
    if not isinstance(d.dst, DstPolicy):
        return (f"expected a DstPolicy(gap=..., fold=...), got {type(d.dst).__name__} "
                f"{d.dst!r}")
    if not isinstance(d.dst.gap, DstGap):
        allowed = ", ".join(repr(m.value) for m in DstGap)
        return f"gap {d.dst.gap!r} is not one of {allowed}"
    if not isinstance(d.dst.fold, DstFold):
        allowed = ", ".join(repr(m.value) for m in DstFold)
        return f"fold {d.dst.fold!r} is not one of {allowed}"
    return None


def jitter_error(d: JobDescriptor) -> str | None:
    """Why ``d.jitter`` is refused, or None.

    A jitter is a ``timedelta`` of whole seconds, ``>= 0``, of a recurring job,
    shorter than the job's shortest spacing: the interval of a periodic job,
    :func:`cron_min_spacing` of a cron job.
    """
    jitter = d.jitter
    if jitter is None:
        return None
    if d.type is JobType.ENDPOINT:
        return "applies to scheduled and periodic jobs only: an endpoint job runs on demand"
    if not isinstance(jitter, timedelta):
        return f"expected a timedelta, got {type(jitter).__name__}"
    if jitter < timedelta(0):
        return f"must be >= 0, got {_seconds(jitter)}"
    if jitter % timedelta(seconds=1):
        return f"must be a whole number of seconds, got {jitter.total_seconds():g}s"
    if d.type is JobType.PERIODIC and d.interval is not None:
        if jitter >= d.interval:
            return (f"must be shorter than the interval ({_seconds(d.interval)}), "
                    f"got {_seconds(jitter)}")
    elif d.cron is not None:
        spacing = cron_min_spacing(d.cron)
        if jitter >= spacing:
            return (f"must be shorter than the cron's shortest spacing ({_seconds(spacing)} "
                    f"for {d.cron!r}, from its minute and hour fields), got {_seconds(jitter)}")
    return None


def cron_min_spacing(expr: str) -> timedelta:
    """A lower bound of the wall-clock time between two fires of ``expr``, at most a day.

    Read from the minute and hour fields alone: the smallest step between two
    listed minutes, or from the last listed minute of an hour to the first of
    the next listed hour (across midnight too). Day fields only make fires
    rarer, so the bound holds for any cron; a weekly cron reports a day.
    DST can bring two fires closer on a transition day (docs/scheduling.md).
    """
    minute_field, hour_field = parse_cron(expr).expanded[:2]
    minutes = sorted(range(60) if minute_field == ["*"] else (int(m) for m in minute_field))
    hours = sorted(range(24) if hour_field == ["*"] else (int(h) for h in hour_field))
    steps = [b - a for a, b in pairwise(minutes)]
    hour_steps = [b - a for a, b in pairwise(hours)] + [24 - hours[-1] + hours[0]]
    steps.append(60 * min(hour_steps) - (minutes[-1] - minutes[0]))
    return min(timedelta(minutes=min(steps)), _DAY)


def _seconds(value: timedelta) -> str:
    """``timedelta(minutes=90)`` → ``"5400s (1:30:00)"``: exact, and readable."""
    return f"{value.total_seconds():g}s ({value})"
