"""Operations on a deployed registry's job documents: sync, enable, disable, set, status.

These are the library functions behind ``zenjobs sync / enable / disable / set /
status / trigger / replay`` and the dashboard's actions. Each takes the registry,
a :class:`~zenjobs.stores.protocol.JobStore` (or the engine) and ``now`` (the
caller's composition root reads the clock), and returns a small frozen result
describing what changed; none of them prints.

Rules (``docs/operations.md``):

* The store holds the runtime-editable config; the registry holds the defaults.
  :func:`sync` only *creates* missing documents and never overwrites a field
  edited at runtime, unless the job is named in ``reset``.
* Every edit is validated with the registration rules *before* anything is
  written, so a wrong cron, time zone or interval leaves the document as it was
  and raises :class:`~zenjobs.errors.DefinitionError` naming the job and field.
* A misconfigured document (unreadable fields, a bad hand edit) is never
  patched field by field, because the unreadable values were replaced by
  defaults when the document was read and writing them back would hide the
  problem; ``sync --reset JOB`` restores the registry's config instead.
* Every edit (``enable``, ``disable``, ``set``, ``sync --reset``) is field-level
  and atomic in the store (:meth:`~zenjobs.stores.protocol.JobStore.edit_job`):
  concurrent edits of different fields are all kept, and each is recorded with
  its ``actor`` (:mod:`.actors`), time, and every field's old and new value;
  :func:`status` shows the latest.
"""

from __future__ import annotations

from .actions import edit_event, replay, trigger
from .actors import ACTOR_ENV, default_actor, resolve_actor
from .edits import (
    Change,
    SyncReport,
    config_differences,
    disable,
    enable,
    format_duration,
    schedule_text,
    set_schedule,
    sync,
)
from .status import JobStatus, RunSummary, edit_dict, misconfiguration, status

__all__ = [
    "ACTOR_ENV",
    "Change",
    "JobStatus",
    "RunSummary",
    "SyncReport",
    "config_differences",
    "default_actor",
    "disable",
    "edit_dict",
    "edit_event",
    "enable",
    "format_duration",
    "misconfiguration",
    "replay",
    "resolve_actor",
    "schedule_text",
    "set_schedule",
    "status",
    "sync",
    "trigger",
]
