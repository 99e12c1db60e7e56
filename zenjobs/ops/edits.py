"""sync, enable, disable and set: the edits of job documents (rules in ``zenjobs.ops``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta

from ..descriptor import JobDescriptor
from ..errors import ConfigurationError, DefinitionError
from ..registry import ZenJobs
from ..runtime.effective import config_from_descriptor, effective_descriptor
from ..schedule import next_fire, require_utc
from ..stores.protocol import JobStore
from ..stores.records import JobConfig, JobRecord
from ..validation import cron_expression_error, interval_rule_error, timezone_error
from ..vocabulary import JobType

# -- sync ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncReport:
    """What :func:`sync` did, job ids sorted within each group.

    ``edited`` names the kept documents whose config differs from the registry
    (job id, differing fields): runtime edits that ``--reset`` would undo.
    ``orphans`` are documents of jobs the registry no longer declares; sync
    leaves them alone.
    """

    created: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    reset: tuple[str, ...] = ()
    edited: tuple[tuple[str, tuple[str, ...]], ...] = ()
    orphans: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.created or self.reset)


def config_differences(stored: JobConfig, declared: JobConfig) -> tuple[str, ...]:
    """Names of the config fields whose stored value differs from the registry's."""
    return tuple(f.name for f in fields(JobConfig)
                 if getattr(stored, f.name) != getattr(declared, f.name))


def _first_slot(desc: JobDescriptor, now: datetime) -> datetime | None:
    return next_fire(desc, now) if desc.is_recurring else None


async def sync(registry: ZenJobs, store: JobStore, now: datetime,
               reset: Iterable[str] = ()) -> SyncReport:
    """Create missing job documents from the registry; restore those named in ``reset``.

    A new document gets the registry's config and ``next_run_at`` = the job's
    first slot after ``now``. An existing one is left exactly as it is (runtime
    edits win) unless its job is in ``reset``: then config, ``next_run_at`` and
    the ``misconfigured`` flag are rewritten from the registry. Every id in
    ``reset`` must be registered (checked before anything is written).
    """
    now = require_utc(now, "now")
    to_reset = set(reset)
    for job_id in sorted(to_reset):
        registry.get(job_id)  # UnknownJobError before any write
    existing = {record.job_id: record for record in await store.list_jobs()}
    created: list[str] = []
    unchanged: list[str] = []
    restored: list[str] = []
    edited: list[tuple[str, tuple[str, ...]]] = []
    for desc in registry:
        config = config_from_descriptor(desc)
        first = _first_slot(desc, now)
        if desc.id in existing and desc.id in to_reset:
            await store.update_job(desc.id, config=config, next_run_at=first,
                                   misconfigured=None, now=now)
            restored.append(desc.id)
            continue
        record, new = await store.ensure_job(desc.id, config, first, now)
        if new:
            created.append(desc.id)
            continue
        unchanged.append(desc.id)
        differs = config_differences(record.config, config)
        if differs:
            edited.append((desc.id, differs))
    orphans = sorted(job_id for job_id in existing if job_id not in registry)
    return SyncReport(created=tuple(sorted(created)), unchanged=tuple(sorted(unchanged)),
                      reset=tuple(sorted(restored)), edited=tuple(sorted(edited)),
                      orphans=tuple(orphans))


# -- edits -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One edit of one job: the field (group) changed, its value before and after."""

    job_id: str
    field: str
    before: str
    after: str
    next_run_at: datetime | None
    created: bool = False  # the document did not exist and was created from the registry

    @property
    def changed(self) -> bool:
        return self.before != self.after


async def _document(registry: ZenJobs, store: JobStore, job_id: str,
                    now: datetime) -> tuple[JobDescriptor, JobRecord, bool]:
    """The job's descriptor and document (created from the registry if missing, as sync would).

    Refuses a misconfigured document: see the module docstring.
    """
    desc = registry.get(job_id)
    record, created = await store.ensure_job(job_id, config_from_descriptor(desc),
                                             _first_slot(desc, now), now)
    if record.misconfigured:
        raise ConfigurationError(
            f"job {job_id!r}: the stored document is misconfigured ({record.misconfigured}); "
            f"fix it by hand or restore the registry's config with "
            f"`zenjobs sync --reset {job_id}`, then edit it again")
    return desc, record, created


async def enable(registry: ZenJobs, store: JobStore, job_id: str, now: datetime) -> Change:
    """Enable ``job_id``; its next slot is recomputed from ``now``.

    Slots missed while the job was disabled are not caught up: like resuming a
    Cloud Scheduler job, the job fires next at its first slot after ``now``.
    """
    now = require_utc(now, "now")
    desc, record, created = await _document(registry, store, job_id, now)
    before = _enabled_text(record.config.enabled)
    if record.config.enabled:
        return Change(job_id, "enabled", before, before, record.next_run_at, created)
    config = replace(record.config, enabled=True)
    effective = effective_descriptor(desc, config)
    updated = await store.update_job(job_id, config=config,
                                     next_run_at=_first_slot(effective, now), now=now)
    return Change(job_id, "enabled", before, _enabled_text(True), updated.next_run_at, created)


async def disable(registry: ZenJobs, store: JobStore, job_id: str, now: datetime) -> Change:
    """Disable ``job_id``: the master tick no longer finds it due; runs already queued skip."""
    now = require_utc(now, "now")
    _, record, created = await _document(registry, store, job_id, now)
    before = _enabled_text(record.config.enabled)
    if not record.config.enabled:
        return Change(job_id, "enabled", before, before, record.next_run_at, created)
    updated = await store.update_job(job_id, config=replace(record.config, enabled=False),
                                     now=now)
    return Change(job_id, "enabled", before, _enabled_text(False), updated.next_run_at, created)


def _enabled_text(enabled: bool) -> str:
    return "enabled" if enabled else "disabled"


def schedule_text(config: JobConfig) -> str:
    """``cron '30 2 * * *' in Europe/Berlin`` / ``every 15m in UTC`` / ``on demand``."""
    if config.cron is not None:
        what = f"cron {config.cron!r}"
    elif config.interval_seconds is not None:
        what = f"every {format_duration(config.interval_seconds)}"
    else:
        return "on demand"
    return f"{what} in {config.timezone}"


def format_duration(seconds: int) -> str:
    """Whole minutes as ``90m``, ``1h``, ``1d``; anything else as seconds."""
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


async def set_schedule(registry: ZenJobs, store: JobStore, job_id: str, now: datetime, *,
                       cron: str | None = None, interval: timedelta | None = None,
                       timezone: str | None = None) -> Change:
    """Change the cron (scheduled jobs) or interval (periodic jobs) and/or the time zone.

    Everything is validated before the write; ``next_run_at`` becomes the first
    slot of the new schedule after ``now``. A job's type comes from the code, so
    a cron job cannot be given an interval or the reverse.
    """
    now = require_utc(now, "now")
    desc = registry.get(job_id)
    _check_schedule_args(desc, cron, interval, timezone)
    _, record, created = await _document(registry, store, job_id, now)
    config = record.config
    if cron is not None:
        config = replace(config, cron=cron.strip())
    if interval is not None:
        config = replace(config, interval_seconds=int(interval.total_seconds()))
    if timezone is not None:
        config = replace(config, timezone=timezone)
    effective = effective_descriptor(desc, config)  # DefinitionError names job and field
    before, after = schedule_text(record.config), schedule_text(config)
    if config == record.config:
        return Change(job_id, "schedule", before, after, record.next_run_at, created)
    first = _first_slot(effective, now)
    updated = await store.update_job(job_id, config=config, next_run_at=first, now=now)
    return Change(job_id, "schedule", before, after, updated.next_run_at, created)


def _check_schedule_args(desc: JobDescriptor, cron: str | None, interval: timedelta | None,
                         timezone: str | None) -> None:
    job = desc.id
    if cron is None and interval is None and timezone is None:
        raise DefinitionError(job, "schedule", "give a cron, an interval or a time zone to set")
    if cron is not None and interval is not None:
        raise DefinitionError(job, "schedule", "give a cron or an interval, not both")
    if desc.type is JobType.ENDPOINT:
        raise DefinitionError(job, "type", "an endpoint job runs on demand and has no schedule")
    if cron is not None:
        if desc.type is not JobType.SCHEDULED:
            raise DefinitionError(job, "cron", "a periodic job takes an interval, not a cron")
        error = cron_expression_error(cron.strip())
        if error:
            raise DefinitionError(job, "cron", error)
    if interval is not None:
        if desc.type is not JobType.PERIODIC:
            raise DefinitionError(job, "interval",
                                  "a scheduled (cron) job takes a cron, not an interval")
        error = interval_rule_error(interval)
        if error:
            raise DefinitionError(job, "interval", error)
    if timezone is not None:
        error = timezone_error(timezone)
        if error:
            raise DefinitionError(job, "timezone", error)
