"""sync, enable, disable and set: the edits of job documents (rules in ``zenjobs.ops``).

Every edit is one :meth:`~zenjobs.stores.protocol.JobStore.edit_job`: only the
fields the command sets, applied by the store to the document as stored inside
its atomic step, validated there against the merged config (the ``plan``
callbacks below), and recorded with who and when. Reading the document here and
writing it back whole would lose a concurrent edit of another field (issue 12:
``enable`` and ``set`` at the same moment kept only one of the two).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from ..descriptor import JobDescriptor
from ..errors import ConfigurationError, DefinitionError
from ..registry import ZenJobs
from ..runtime.effective import config_from_descriptor, effective_descriptor
from ..schedule import next_fire, require_utc
from ..stores.protocol import JobStore
from ..stores.records import (
    CONFIG_FIELD_NAMES,
    KEEP,
    ConfigEdit,
    EditRecord,
    EditResult,
    JobConfig,
    JobRecord,
    NextRun,
)
from ..validation import cron_expression_error, interval_rule_error, timezone_error
from ..vocabulary import JobType
from .actors import resolve_actor

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
               reset: Iterable[str] = (), *, actor: str | None = None) -> SyncReport:
    """Create missing job documents from the registry; restore those named in ``reset``.

    What sync owns: the *creation* of a document (every config field from the
    registry, ``next_run_at`` = the job's first slot after ``now``), nothing after
    it. An existing document is left exactly as it is (runtime edits win) unless
    its job is in ``reset``: then config, ``next_run_at`` and the ``misconfigured``
    flag are rewritten from the registry in one recorded edit (command ``sync
    --reset``, by ``actor``). Every id in ``reset`` must be registered (checked
    before anything is written).
    """
    now = require_utc(now, "now")
    who = resolve_actor(actor)
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
        record, new = await store.ensure_job(desc.id, config, first, now)
        if new:
            created.append(desc.id)
            continue
        if desc.id in to_reset:
            restore = ConfigEdit({name: getattr(config, name) for name in CONFIG_FIELD_NAMES},
                                 who, "sync --reset", _fixed_slot(first), restore=True)
            await store.edit_job(desc.id, restore, now)
            restored.append(desc.id)
            continue
        unchanged.append(desc.id)
        differs = config_differences(record.config, config)
        if differs:
            edited.append((desc.id, differs))
    orphans = sorted(job_id for job_id in existing if job_id not in registry)
    return SyncReport(created=tuple(sorted(created)), unchanged=tuple(sorted(unchanged)),
                      reset=tuple(sorted(restored)), edited=tuple(sorted(edited)),
                      orphans=tuple(orphans))


def _fixed_slot(first: datetime | None) -> Callable[[JobRecord, JobConfig], NextRun]:
    def plan(before: JobRecord, config: JobConfig) -> NextRun:
        return first

    return plan


# -- edits -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One edit of one job: the field (group) changed, its value before and after.

    ``before`` is the document as the store found it inside the edit's atomic
    step (so it includes a concurrent edit made just before); ``edit`` is what
    was recorded, None when nothing changed.
    """

    job_id: str
    field: str
    before: str
    after: str
    next_run_at: datetime | None
    created: bool = False  # the document did not exist and was created from the registry
    edit: EditRecord | None = None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _refuse_misconfigured(record: JobRecord) -> None:
    """See the package docstring: unreadable fields were defaulted, never write them back."""
    if record.misconfigured:
        job_id = record.job_id
        raise ConfigurationError(
            f"job {job_id!r}: the stored document is misconfigured ({record.misconfigured}); "
            f"fix it by hand or restore the registry's config with "
            f"`zenjobs sync --reset {job_id}`, then edit it again")


async def _document(registry: ZenJobs, store: JobStore, job_id: str,
                    now: datetime) -> tuple[JobDescriptor, bool]:
    """The job's descriptor; its document is created from the registry if missing (as sync).

    Refuses a misconfigured document now (even for an edit that would change
    nothing); the edit's plan checks again on the document it actually edits.
    """
    desc = registry.get(job_id)
    record, created = await store.ensure_job(job_id, config_from_descriptor(desc),
                                             _first_slot(desc, now), now)
    _refuse_misconfigured(record)
    return desc, created


def _rescheduled(desc: JobDescriptor, now: datetime) -> Callable[[JobRecord, JobConfig], NextRun]:
    """A plan: validate the merged config with the registration rules, next slot after ``now``."""
    def plan(before: JobRecord, config: JobConfig) -> NextRun:
        _refuse_misconfigured(before)
        return _first_slot(effective_descriptor(desc, config), now)  # DefinitionError names it

    return plan


def _kept(before: JobRecord, config: JobConfig) -> NextRun:
    """A plan that moves nothing: disabling a job with a broken schedule must still work."""
    _refuse_misconfigured(before)
    return KEEP


async def enable(registry: ZenJobs, store: JobStore, job_id: str, now: datetime, *,
                 actor: str | None = None) -> Change:
    """Enable ``job_id``; its next slot is recomputed from ``now``.

    Slots missed while the job was disabled are not caught up: like resuming a
    Cloud Scheduler job, the job fires next at its first slot after ``now``.
    """
    now = require_utc(now, "now")
    who = resolve_actor(actor)
    desc, created = await _document(registry, store, job_id, now)
    edit = ConfigEdit({"enabled": True}, who, "enable", _rescheduled(desc, now))
    return _enabled_change(await store.edit_job(job_id, edit, now), created)


async def disable(registry: ZenJobs, store: JobStore, job_id: str, now: datetime, *,
                  actor: str | None = None) -> Change:
    """Disable ``job_id``: the master tick no longer finds it due; runs already queued skip."""
    now = require_utc(now, "now")
    who = resolve_actor(actor)
    _, created = await _document(registry, store, job_id, now)
    edit = ConfigEdit({"enabled": False}, who, "disable", _kept)
    return _enabled_change(await store.edit_job(job_id, edit, now), created)


def _enabled_change(result: EditResult, created: bool) -> Change:
    return Change(result.job.job_id, "enabled", _enabled_text(result.before.config.enabled),
                  _enabled_text(result.job.config.enabled), result.job.next_run_at, created,
                  result.edit)


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
                       timezone: str | None = None, actor: str | None = None) -> Change:
    """Change the cron (scheduled jobs) or interval (periodic jobs) and/or the time zone.

    The arguments are validated before anything is written, and the merged
    config (these fields over the document as stored at the write) before the
    write; ``next_run_at`` becomes the first slot of the new schedule after
    ``now``. A job's type comes from the code, so a cron job cannot be given an
    interval or the reverse.
    """
    now = require_utc(now, "now")
    who = resolve_actor(actor)
    desc = registry.get(job_id)
    _check_schedule_args(desc, cron, interval, timezone)
    _, created = await _document(registry, store, job_id, now)
    changes: dict[str, object] = {}
    if cron is not None:
        changes["cron"] = cron.strip()
    if interval is not None:
        changes["interval_seconds"] = int(interval.total_seconds())
    if timezone is not None:
        changes["timezone"] = timezone
    edit = ConfigEdit(changes, who, "set", _rescheduled(desc, now))
    result = await store.edit_job(job_id, edit, now)
    return Change(job_id, "schedule", schedule_text(result.before.config),
                  schedule_text(result.job.config), result.job.next_run_at, created, result.edit)


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
