"""The descriptor a run actually uses: registry metadata plus the stored job config.

The registry declares a job; the job document in the store carries the
runtime-editable part (enabled, schedule, dates, dependencies, retries,
priority) that operators may change without a deploy. Every run and tick
works on the *effective* descriptor built here, re-validated with the same
rules as registration, so a hand-edited document with a bad cron or an
unknown time zone is reported (naming the job and the field) instead of
crashing a tick.

Eligibility (DESIGN.md, checked when a run starts, first match wins):
disabled → ``skipped_disabled``; ``now`` before ``start_at`` →
``skipped_not_started``; the local date of ``now`` (job time zone) after
``end_at`` → ``skipped_ended``; the local date of ``scheduled_for`` in
``skip_dates`` → ``skipped_date_exclusion``; a dependency whose job has no
completed run or whose latest completed run is not ``success`` →
``skipped_dependency_failed``. It applies to every trigger alike, so an
operator's config (disabled, date exclusions) is never bypassed by a retry or
a replay.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..descriptor import JobDescriptor
from ..errors import ConfigurationError, DefinitionError
from ..schedule import local_date, require_utc
from ..stores.protocol import JobStore
from ..stores.records import JobConfig, JobRecord, RunStatus


def config_from_descriptor(d: JobDescriptor) -> JobConfig:
    """The job document's config as the registry declares it (what sync seeds)."""
    return JobConfig(
        enabled=d.enabled,
        cron=d.cron,
        interval_seconds=int(d.interval.total_seconds()) if d.interval is not None else None,
        timezone=d.timezone,
        start_at=d.start_at,
        end_at=d.end_at,
        skip_dates=tuple(sorted(d.skip_dates)),
        dependencies=tuple(d.dependencies),
        max_retries=d.max_retries,
        priority=d.priority,
    )


def effective_descriptor(d: JobDescriptor, config: JobConfig) -> JobDescriptor:
    """``d`` with the stored config applied, validated like a registration.

    Raises :class:`DefinitionError` naming the job and the offending field.
    A config equal to the declared one (the usual case) returns ``d`` itself:
    it was validated at registration, and rebuilding it on every run was a
    measurable share of a delivery (docs/performance.md).
    """
    if config == _declared_config(d):
        return d
    interval = config.interval_seconds
    try:
        return dataclasses.replace(
            d,
            enabled=config.enabled,
            cron=config.cron,
            interval=timedelta(seconds=interval) if interval is not None else None,
            timezone=config.timezone,
            start_at=config.start_at,
            end_at=config.end_at,
            skip_dates=frozenset(config.skip_dates),
            dependencies=tuple(config.dependencies),
            max_retries=config.max_retries,
            priority=config.priority,
        )
    except DefinitionError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise DefinitionError(d.id, "config", f"stored config is unusable: {exc}") from None


_DECLARED: dict[int, tuple[JobDescriptor, JobConfig]] = {}


def _declared_config(d: JobDescriptor) -> JobConfig:
    """``config_from_descriptor(d)``, memoised per descriptor object (registries are few)."""
    cached = _DECLARED.get(id(d))
    if cached is not None and cached[0] is d:
        return cached[1]
    if len(_DECLARED) >= 4096:
        _DECLARED.clear()
    config = config_from_descriptor(d)
    _DECLARED[id(d)] = (d, config)
    return config


def resolve_descriptor(d: JobDescriptor, record: JobRecord | None) -> JobDescriptor:
    """The effective descriptor for ``record`` (the registry's when there is no document).

    Raises :class:`ConfigurationError` when the document is flagged
    ``misconfigured`` or its config does not validate; the message names the
    job and the reason.
    """
    if record is None:
        return d
    if record.misconfigured:
        raise ConfigurationError(f"job {d.id!r}: document is misconfigured: {record.misconfigured}")
    try:
        return effective_descriptor(d, record.config)
    except DefinitionError as exc:
        raise ConfigurationError(f"stored config invalid: {exc}") from None


@dataclass(frozen=True)
class Skip:
    """Why a run does not run: the status to record and a readable reason."""

    status: RunStatus
    reason: str


async def check_eligibility(d: JobDescriptor, store: JobStore, scheduled_for: datetime,
                            now: datetime) -> Skip | None:
    """The skip that applies to a run of ``d`` starting at ``now``, or None to run it."""
    now = require_utc(now, "now")
    if not d.enabled:
        return Skip(RunStatus.SKIPPED_DISABLED, "job is disabled")
    if d.start_at is not None and now < require_utc(d.start_at):
        return Skip(RunStatus.SKIPPED_NOT_STARTED, f"job starts at {d.start_at.isoformat()}")
    if d.end_at is not None and local_date(d, now) > d.end_at:
        return Skip(RunStatus.SKIPPED_ENDED, f"job ended on {d.end_at.isoformat()}")
    slot_date = local_date(d, scheduled_for)
    if slot_date in d.skip_dates:
        return Skip(RunStatus.SKIPPED_DATE_EXCLUSION, f"{slot_date.isoformat()} is a skip date")
    for dep in d.dependencies:
        record = await store.get_job(dep)
        status = record.last_status if record is not None else None
        if status is not RunStatus.SUCCESS:
            seen = status.value if status is not None else "never completed"
            return Skip(RunStatus.SKIPPED_DEPENDENCY_FAILED, f"dependency {dep!r}: {seen}")
    return None
