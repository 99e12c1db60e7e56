"""What each dashboard page shows, as plain data: no HTTP, no HTML, no clock reads.

Every function takes the :class:`Site` (registry, store, event log) and ``now``
and returns dataclasses the templates render, so views are tested over every
store without a server. Store access is bounded by the page, never by the
number of jobs or runs (``docs/dashboard.md``):

* the jobs list filters the registry in memory (type, text), then reads only the
  job documents of the page shown (:meth:`~zenjobs.stores.protocol.JobStore.get_jobs`)
  and their run counts; only a status filter or a sort on a stored field reads
  the documents of every job that passed the other filters;
* run history and dead runs are cursor-paginated indexed queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from ..clocks.protocol import Clock
from ..descriptor import JobDescriptor
from ..errors import DefinitionError
from ..ops.edits import schedule_text
from ..ops.inspection import Fire, job_fires
from ..registry import ZenJobs
from ..runtime.effective import config_from_descriptor, effective_descriptor
from ..runtime.engine import JobEngine
from ..runtime.envelope import task_name
from ..stores.protocol import JobStore
from ..stores.records import (
    RUN_COUNT_BUCKETS,
    EditRecord,
    JobConfig,
    JobRecord,
    RunCursor,
    RunRecord,
    run_cursor,
)
from ..telemetry.protocol import TelemetryEvent
from ..vocabulary import JobType
from .events import EventLog, attempts_of

PAGE_SIZE = 50
RUNS_PAGE_SIZE = 25
DEAD_PAGE_SIZE = 50
TICKS_SHOWN = 50
NEXT_FIRES = 10
COUNT_WINDOW = timedelta(hours=24)

#: Job list filters on the stored state (``?status=``).
STATUS_FILTERS = ("enabled", "disabled", "failing", "succeeding", "never_ran", "misconfigured")
SORT_KEYS = ("id", "type", "next", "last")


@dataclass
class Site:
    """What the pages read: the service's registry, store, engine and recent events."""

    registry: ZenJobs
    store: JobStore
    engine: JobEngine
    clock: Clock
    events: EventLog
    mode: str
    backends: tuple[tuple[str, str], ...] = ()  # ("store", "SQLite .zenjobs/dev.sqlite3"), ...
    _sorted_ids: dict[str, list[JobDescriptor]] = field(default_factory=dict, repr=False)
    _texts: dict[str, str] = field(default_factory=dict, repr=False)

    def search_text(self, d: JobDescriptor) -> str:
        """What the text filter searches: id and description, case-folded once per job."""
        text = self._texts.get(d.id)
        if text is None:
            text = self._texts[d.id] = f"{d.id}\n{d.description or ''}".casefold()
        return text

    def by_id(self, job_type: str = "") -> list[JobDescriptor]:
        """The registry's jobs (of ``job_type``, or all) sorted by id, computed once.

        The registry does not change while the service runs, so the default jobs
        list costs a slice, not a sort of every job, per request.
        """
        if job_type not in self._sorted_ids:
            self._sorted_ids[job_type] = sorted(
                (d for d in self.registry.descriptors
                 if not job_type or d.type.value == job_type), key=lambda d: d.id)
        return self._sorted_ids[job_type]


@dataclass(frozen=True)
class JobRow:
    desc: JobDescriptor
    record: JobRecord | None
    config: JobConfig
    counts: dict[str, int]

    @property
    def id(self) -> str:
        return self.desc.id

    @property
    def schedule(self) -> str:
        return schedule_text(self.config)

    @property
    def next_run_at(self) -> datetime | None:
        return self.record.next_run_at if self.record is not None else None

    @property
    def last_status(self) -> str | None:
        if self.record is None or self.record.last_status is None:
            return None
        return self.record.last_status.value

    @property
    def last_run_at(self) -> datetime | None:
        return self.record.last_run_at if self.record is not None else None

    @property
    def misconfigured(self) -> str | None:
        return self.record.misconfigured if self.record is not None else None


@dataclass(frozen=True)
class JobsQuery:
    """The jobs list's filters, sort and page, already validated (:mod:`.forms`)."""

    text: str = ""
    type: str = ""
    status: str = ""
    sort: str = "id"
    descending: bool = False
    page: int = 1


@dataclass(frozen=True)
class JobsPage:
    rows: list[JobRow]
    query: JobsQuery
    total: int  # jobs matching the filters
    pages: int
    jobs_in_registry: int
    reads_all: bool  # a status filter or stored-field sort read every candidate's document


def _status_matches(status: str, record: JobRecord | None, config: JobConfig) -> bool:
    last = record.last_status.value if record is not None and record.last_status else None
    if status == "enabled":
        return config.enabled
    if status == "disabled":
        return not config.enabled
    if status == "failing":
        return last in ("failure", "dead")
    if status == "succeeding":
        return last == "success"
    if status == "never_ran":
        return last is None
    if status == "misconfigured":
        return bool(record is not None and record.misconfigured)
    return True


def _config(desc: JobDescriptor, record: JobRecord | None) -> JobConfig:
    return record.config if record is not None else config_from_descriptor(desc)


async def jobs_page(site: Site, query: JobsQuery, now: datetime) -> JobsPage:
    """The jobs list: registry filters in memory, store reads for the page (see module doc)."""
    candidates = site.by_id(query.type)  # sorted once per type: a page is a slice of it
    if query.text:
        needle = query.text.casefold()
        candidates = [d for d in candidates if needle in site.search_text(d)]
    reads_all = bool(query.status) or query.sort in ("next", "last")
    records: dict[str, JobRecord] = {}
    if reads_all:
        records = await site.store.get_jobs([d.id for d in candidates])
        if query.status:
            candidates = [d for d in candidates if _status_matches(
                query.status, records.get(d.id), _config(d, records.get(d.id)))]
    if query.sort != "id" or query.descending:
        candidates = _sorted(candidates, records, query)
    total = len(candidates)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(query.page, pages)
    shown = candidates[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    ids = [d.id for d in shown]
    if not reads_all:
        records = await site.store.get_jobs(ids)
    counts = await site.store.run_counts(ids, now - COUNT_WINDOW) if ids else {}
    empty = dict.fromkeys(RUN_COUNT_BUCKETS, 0)
    rows = [JobRow(d, records.get(d.id), _config(d, records.get(d.id)),
                   counts.get(d.id, empty)) for d in shown]
    return JobsPage(rows, JobsQuery(query.text, query.type, query.status, query.sort,
                                    query.descending, page),
                    total, pages, len(site.registry), reads_all)


def _sorted(candidates: list[JobDescriptor], records: dict[str, JobRecord],
            query: JobsQuery) -> list[JobDescriptor]:
    def stored(value: datetime | None) -> tuple[int, datetime]:
        # Jobs without the value (never ran, no next fire) sort after those with one.
        return (1, datetime.max) if value is None else (0, value.replace(tzinfo=None))

    def key(d: JobDescriptor) -> tuple[Any, ...]:
        record = records.get(d.id)
        if query.sort == "type":
            return (d.type.value, d.id)
        if query.sort == "next":
            return (stored(_next(record)), d.id)
        if query.sort == "last":
            return (stored(_last(record)), d.id)
        return (d.id,)

    return sorted(candidates, key=key, reverse=query.descending)


def _next(record: JobRecord | None) -> datetime | None:
    return record.next_run_at if record is not None else None


def _last(record: JobRecord | None) -> datetime | None:
    return record.last_run_at if record is not None else None


# -- one job ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigLine:
    """One effective config field, where its value comes from, and the edit that set it."""

    field: str
    value: Any
    declared: Any
    source: str  # "registry" or "ops edit"
    edit: EditRecord | None


@dataclass(frozen=True)
class JobPage:
    desc: JobDescriptor
    record: JobRecord | None
    config: JobConfig
    lines: list[ConfigLine]
    fires: list[Fire]
    fires_error: str | None
    runs: list[RunRecord]
    next_cursor: RunCursor | None
    edits: list[EditRecord]
    dependents: list[str]
    latest_failure: RunRecord | None = None  # the run behind a failure/dead last_status


async def job_page(site: Site, job_id: str, now: datetime,
                   before: RunCursor | None = None) -> JobPage:
    """One job: effective config with provenance, next fires, run history (paginated)."""
    desc = site.registry.get(job_id)  # UnknownJobError → 404
    record = await site.store.get_job(job_id)
    config = _config(desc, record)
    edits = await site.store.list_edits(job_id, 50) if record is not None else []
    lines = config_lines(desc, config, edits)
    fires: list[Fire] = []
    fires_error = None
    if desc.is_recurring:
        try:
            fires = job_fires(effective_descriptor(desc, config), now, NEXT_FIRES)
        except DefinitionError as exc:
            fires_error = str(exc)
    runs = await site.store.list_runs(job_id, RUNS_PAGE_SIZE + 1, before=before)
    more = len(runs) > RUNS_PAGE_SIZE
    runs = runs[:RUNS_PAGE_SIZE]
    dependents = [d.id for d in site.registry.descriptors if job_id in d.dependencies]
    return JobPage(desc, record, config, lines, fires, fires_error, runs,
                   run_cursor(runs[-1]) if more and runs else None, edits, dependents,
                   await _latest_failure(site, record, runs))


async def _latest_failure(site: Site, record: JobRecord | None,
                          runs: list[RunRecord]) -> RunRecord | None:
    """The run that made the job's last status failure or dead (one read if not on the page)."""
    if (record is None or record.last_execution_id is None or record.last_status is None
            or record.last_status.value not in ("failure", "dead")):
        return None
    shown = next((r for r in runs if r.execution_id == record.last_execution_id), None)
    return shown or await site.store.get_run(record.job_id, record.last_execution_id)


def config_lines(desc: JobDescriptor, config: JobConfig,
                 edits: Sequence[EditRecord]) -> list[ConfigLine]:
    """Each config field: its value, the registry's, and the latest edit that set it."""
    declared = config_from_descriptor(desc)
    lines = []
    for f in fields(JobConfig):
        value, default = getattr(config, f.name), getattr(declared, f.name)
        setter = next((e for e in edits if any(c.field == f.name for c in e.changes)), None)
        source = "registry" if value == default else "ops edit"
        lines.append(ConfigLine(f.name, value, default, source,
                                setter if source != "registry" else None))
    return lines


# -- one run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunPage:
    desc: JobDescriptor | None
    run: RunRecord
    task: str
    attempts: list[dict[str, Any]]
    events: list[TelemetryEvent]
    dependencies: list[tuple[str, str | None]]  # (job id, its last completed status)
    events_capacity: int
    replayable: bool


async def run_page(site: Site, job_id: str, execution_id: str) -> RunPage | None:
    """One execution: the record, every attempt this instance saw, its events, dependencies."""
    run = await site.store.get_run(job_id, execution_id)
    if run is None:
        return None
    desc = site.registry.get(job_id) if job_id in site.registry else None
    events = site.events.of_run(job_id, execution_id)
    deps: list[tuple[str, str | None]] = []
    if desc is not None and desc.dependencies:
        records = await site.store.get_jobs(list(desc.dependencies))
        for dep in desc.dependencies:
            rec = records.get(dep)
            deps.append((dep, rec.last_status.value if rec and rec.last_status else None))
    return RunPage(desc, run, task_name(run.execution_id, run.attempt), attempts_of(events),
                   events, deps, site.events.capacity,
                   run.status.value in ("dead", "failure"))


# -- dead runs and ticks ---------------------------------------------------------------------


@dataclass(frozen=True)
class DeadPage:
    runs: list[RunRecord]
    job_id: str
    next_cursor: RunCursor | None


async def dead_page(site: Site, job_id: str = "", before: RunCursor | None = None) -> DeadPage:
    runs = await site.store.dead_runs(DEAD_PAGE_SIZE + 1, job_id=job_id or None, before=before)
    more = len(runs) > DEAD_PAGE_SIZE
    runs = runs[:DEAD_PAGE_SIZE]
    return DeadPage(runs, job_id, run_cursor(runs[-1]) if more and runs else None)


@dataclass(frozen=True)
class TickRow:
    at: datetime
    summary: dict[str, Any]
    errors: list[str] = field(default_factory=list)


def ticks(site: Site) -> list[TickRow]:
    """The latest master ticks this instance ran, newest first, with their run errors."""
    errors: dict[datetime, list[str]] = {}
    for event in site.events.named("master.run_error", TICKS_SHOWN * 4):
        text = str(event.fields.get("error", ""))
        job = event.fields.get("job_id")
        errors.setdefault(event.timestamp, []).append(f"{job}: {text}" if job else text)
    return [TickRow(e.timestamp, dict(e.fields), errors.get(e.timestamp, []))
            for e in site.events.named("master.tick", TICKS_SHOWN)]


def job_types() -> list[str]:
    return [t.value for t in JobType]
