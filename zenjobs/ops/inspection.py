"""What the definition-side commands show: validation reports, job tables, fire instants.

These functions return plain data and never print, parse options or read the
wall clock, so ``zenjobs validate``, ``list`` and ``next`` stay thin and the
answers they give can be tested (and reused, e.g. by a dashboard) without click.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..descriptor import JobDescriptor
from ..errors import DefinitionError, Problem, RegistryValidationError
from ..loader import load_registry, resolve_registry_spec
from ..registry import ZenJobs
from ..schedule import (
    format_instant,
    gap_walls_between,
    local_date,
    require_utc,
    slot_offset,
    upcoming,
    zone,
)
from ..vocabulary import DEFAULT_DST, DstFold, DstGap, JobType


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of loading and validating one registry.

    ``registry`` is None when a job definition failed while the module was
    being imported: registration stops at the first bad declaration, so that
    one problem is all there is to report.
    """

    spec: str
    registry: ZenJobs | None
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def summary(self) -> str:
        """One line: ``ok: 6 jobs (1 endpoint, 2 scheduled, 3 periodic) in mod:attr``."""
        if not self.ok:
            count = len(self.problems)
            return f"invalid: {count} problem{'s' if count != 1 else ''} in {self.spec}"
        assert self.registry is not None
        jobs = self.registry.descriptors
        by_type = Counter(d.type for d in jobs)
        parts = [f"{by_type[t]} {t.value}" for t in JobType if by_type[t]]
        detail = f" ({', '.join(parts)})" if parts else ""
        return f"ok: {len(jobs)} job{'s' if len(jobs) != 1 else ''}{detail} in {self.spec}"

    def problem_lines(self) -> list[str]:
        """One line per problem, newlines inside messages flattened."""
        return [" ".join(str(p).splitlines()) for p in self.problems]


def check_registry(
    explicit: str | None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ValidationReport:
    """Find, import and validate a registry, collecting every problem.

    Raises :class:`~zenjobs.errors.RegistryLoadError` when the registry cannot
    be found or imported at all; a :class:`~zenjobs.errors.DefinitionError`
    raised while its jobs are declared is reported as a problem instead.
    Handlers are required, as the runtime requires them before it starts.
    """
    spec = resolve_registry_spec(explicit, environ, cwd)
    try:
        registry = load_registry(spec, cwd)
    except DefinitionError as exc:
        return ValidationReport(spec, None, tuple(problems_of(exc)))
    return ValidationReport(spec, registry, tuple(registry.problems(require_handlers=True)))


def problems_of(error: DefinitionError) -> list[Problem]:
    """The problems a definition error stands for (several for a validation error)."""
    if isinstance(error, RegistryValidationError):
        return list(error.problems)
    return [error.problem]


def job_rows(registry: ZenJobs) -> list[dict[str, Any]]:
    """One JSON-ready row per job, in registration order, for ``zenjobs list``."""
    rows = []
    for d in registry.descriptors:
        row = d.to_dict()
        row["schedule"] = d.schedule_text
        row["queue"] = d.queue_id
        rows.append(row)
    return rows


@dataclass(frozen=True)
class Fire:
    """One upcoming fire instant of a job, with what the job's wall clock shows then."""

    instant: datetime
    local: datetime
    skipped: bool
    """True when the local date is in ``skip_dates``: the run will be skipped."""
    dst: str | None = None
    """How the job's DST policy placed this fire (:func:`dst_note`), else None."""
    dst_effect: str | None = None
    """The same, for programs: one of :data:`DST_EFFECTS`, else None."""
    dst_skipped: tuple[datetime, ...] = ()
    """Wall times (naive, job's zone) that ``gap="skip"`` dropped since the previous fire."""
    dst_skipped_note: str | None = None
    """What ``dst_skipped`` means, in words, or None when it is empty."""


#: What a DST policy did to a fire (``Fire.dst_effect``, ``zenjobs next --json``):
#: ``moved`` to the end of a gap (``gap="shift"``); a repeated wall time fired at
#: its ``first_only`` or ``second_only`` occurrence (``fold="first"``/``"second"``),
#: or ``doubled``: at both (``fold="both"``; the note says which one this is).
DST_EFFECTS = ("moved", "first_only", "second_only", "doubled")


def dst_mark(d: JobDescriptor, local: datetime) -> tuple[str, str] | None:
    """``(effect, note)`` for a cron fire at wall time ``local``, or None when DST did nothing.

    ``local`` is the fire's instant without the job's jitter offset, in the job's
    zone (its ``fold`` attribute says which occurrence of a repeated wall time
    it is, as ``astimezone`` sets it). The rules: docs/scheduling.md.
    """
    if d.cron is None or local.tzinfo is None:
        return None
    from croniter import croniter

    policy = d.dst or DEFAULT_DST
    wall = local.replace(tzinfo=None)
    if not croniter.match(d.cron, wall):
        return "moved", (f"moved to {wall:%H:%M}: the scheduled wall time does not exist "
                         f"that day (DST gap in {d.timezone})")
    first = wall.replace(tzinfo=local.tzinfo, fold=0).utcoffset()
    second = wall.replace(tzinfo=local.tzinfo, fold=1).utcoffset()
    if first == second:
        return None
    twice = f"{wall:%H:%M} occurs twice that day (DST fold in {d.timezone})"
    if policy.fold is DstFold.SECOND:
        return "second_only", f"{twice}: fires at the second occurrence only"
    if policy.fold is DstFold.BOTH:
        which = "second" if local.fold else "first"
        return "doubled", f"{twice}: fires at both occurrences, this is the {which}"
    return "first_only", f"{twice}: fires at the first occurrence only"


def dst_note(d: JobDescriptor, local: datetime) -> str | None:
    """How the job's DST policy placed a cron fire at wall time ``local`` (see :func:`dst_mark`).

    The default rule (``docs/scheduling.md``): a wall time that does not exist
    (spring forward) fires at the end of the gap, so the fire's wall time is not
    one the cron names; a wall time that occurs twice (fall back) fires at its
    first occurrence only. ``fold="second"``/``"both"`` say so instead.
    """
    mark = dst_mark(d, local)
    return mark[1] if mark is not None else None


def skipped_note(d: JobDescriptor, walls: tuple[datetime, ...]) -> str | None:
    """The words for the wall times ``gap="skip"`` dropped (naive, in ``d``'s zone)."""
    if not walls:
        return None
    day = walls[0].date()
    times = [f"{w:%H:%M}" if w.date() == day else f"{w:%Y-%m-%d %H:%M}" for w in walls]
    where = f"DST gap in {d.timezone}, dst gap='skip'"
    if len(walls) == 1:
        return f"skipped {times[0]} on {day}: that wall time does not exist ({where})"
    listed = ", ".join(times) if len(walls) <= 4 else f"{times[0]} to {times[-1]}"
    return (f"skipped {len(walls)} wall times on {day}, {listed}: they do not exist "
            f"({where})")


def job_fires(d: JobDescriptor, after: datetime, count: int) -> list[Fire]:
    """The next ``count`` fires of ``d`` strictly after ``after`` (fewer if it ends).

    A jittered job's instants are its slots; the DST marks are read on the
    schedule's own instants (the slots less the jitter offset).
    """
    tz = zone(d.timezone)
    offset = slot_offset(d)
    skips = d.cron is not None and (d.dst or DEFAULT_DST).gap is DstGap.SKIP
    previous = require_utc(after, "after")
    if d.start_at is not None:
        previous = max(previous, require_utc(d.start_at))
    fires = []
    for instant in upcoming(d, after, count):
        mark = dst_mark(d, (instant - offset).astimezone(tz))
        walls: tuple[datetime, ...] = ()
        if skips and d.cron is not None:
            walls = tuple(gap_walls_between(d.cron, d.timezone, previous - offset,
                                            instant - offset))
        fires.append(Fire(instant=instant, local=instant.astimezone(tz),
                          skipped=local_date(d, instant) in d.skip_dates,
                          dst=mark[1] if mark else None, dst_effect=mark[0] if mark else None,
                          dst_skipped=walls, dst_skipped_note=skipped_note(d, walls)))
        previous = instant
    return fires


def upcoming_fires(
    registry: ZenJobs, after: datetime, count: int, job_id: str | None = None
) -> dict[str, list[Fire]]:
    """Upcoming fires of every scheduled and periodic job, or of ``job_id`` alone.

    ``after`` must be timezone-aware (a naive value is refused, not guessed).
    An endpoint job named by ``job_id`` maps to an empty list: it fires only
    on demand. Raises :class:`~zenjobs.errors.UnknownJobError` for an unknown id.
    """
    after = require_utc(after, "after")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if job_id is not None:
        d = registry.get(job_id)
        return {d.id: job_fires(d, after, count) if d.is_recurring else []}
    return {d.id: job_fires(d, after, count) for d in registry.descriptors if d.is_recurring}


def fires_as_json(fires: Mapping[str, list[Fire]]) -> dict[str, list[str]]:
    """``{job_id: ["YYYY-MM-DDTHH:MM:SSZ", ...]}``, the shape of ``zenjobs next --json``."""
    return {job_id: [format_instant(f.instant) for f in items] for job_id, items in fires.items()}


__all__ = [
    "DST_EFFECTS",
    "Fire",
    "ValidationReport",
    "check_registry",
    "dst_mark",
    "dst_note",
    "fires_as_json",
    "job_fires",
    "job_rows",
    "problems_of",
    "skipped_note",
    "upcoming_fires",
]
