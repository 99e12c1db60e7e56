"""The one parser between Firestore documents and zenjobs records.

Job documents are edited by hand in the console, so reading one must never
crash the tick: :func:`decode_job` always returns a :class:`JobRecord`, and
every unknown field, wrong type or unusable value (a cron that does not parse,
an unknown time zone) is collected into its ``misconfigured`` reason, which
names each field. The runtime skips misconfigured jobs and reports them; every
other job keeps running.

Formats (see ``docs/firestore.md``): instants are native Firestore timestamps,
dates (``end_at``, ``skip_dates``) are ``"YYYY-MM-DD"`` strings because
Firestore has no date type, a run's payload is stored as JSON text because
Firestore refuses some JSON shapes (arrays directly inside arrays).

This module imports nothing from google.cloud: the timestamps the client
returns are ``datetime`` subclasses, and the encoder hands it plain datetimes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar

from ...errors import PayloadError
from ...validation import cron_expression_error, timezone_error
from ..base import JobConfig, JobRecord, RunRecord, RunStatus, Trigger

UTC = timezone.utc
T = TypeVar("T")

CONFIG_FIELDS = ("enabled", "cron", "interval_seconds", "timezone", "start_at", "end_at",
                 "skip_dates", "dependencies", "max_retries", "priority")
STATE_FIELDS = ("next_run_at", "last_status", "last_run_at", "last_execution_id",
                "misconfigured", "updated_at")
JOB_FIELDS = frozenset(("job_id", *CONFIG_FIELDS, *STATE_FIELDS))
RUN_FIELDS = frozenset(("job_id", "execution_id", "trigger", "scheduled_for", "status", "attempt",
                        "payload_json", "created_at", "started_at", "finished_at", "duration_ms",
                        "error_type", "error_message", "next_attempt_at", "lease_holder",
                        "lease_expires_at", "expire_at"))


class FieldProblem(ValueError):
    """One field's value cannot be used; the message says what was expected."""


# -- scalar readers: each returns the value or raises FieldProblem -------------------------

def _describe(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def read_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise FieldProblem(f"expected a boolean, got {_describe(value)}")
    return value


def read_int(value: object) -> int:
    """An integer; a whole float is accepted (the console may store numbers as doubles)."""
    if isinstance(value, bool):
        raise FieldProblem(f"expected an integer, got {_describe(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise FieldProblem(f"expected an integer, got {_describe(value)}")


def read_str(value: object) -> str:
    if not isinstance(value, str):
        raise FieldProblem(f"expected a string, got {_describe(value)}")
    return value


def read_instant(value: object) -> datetime:
    """A Firestore timestamp as a plain UTC datetime (nanoseconds beyond µs are dropped)."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise FieldProblem(f"expected a timestamp, got {_describe(value)}")
    v = value.astimezone(UTC)
    return datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, tzinfo=UTC)


def read_date(value: object) -> date:
    if not isinstance(value, str):
        raise FieldProblem(f"expected a date string YYYY-MM-DD, got {_describe(value)}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FieldProblem(f"expected a date string YYYY-MM-DD, got {value!r}") from None


def read_list(item: Callable[[object], T]) -> Callable[[object], tuple[T, ...]]:
    def reader(value: object) -> tuple[T, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise FieldProblem(f"expected an array, got {_describe(value)}")
        items = []
        for index, element in enumerate(value):
            try:
                items.append(item(element))
            except FieldProblem as exc:
                raise FieldProblem(f"item {index}: {exc}") from None
        return tuple(items)
    return reader


def optional(reader: Callable[[object], T]) -> Callable[[object], T | None]:
    def read(value: object) -> T | None:
        return None if value is None else reader(value)
    return read


@dataclass
class _Reader:
    """Reads fields of one document, collecting problems instead of raising."""

    data: Mapping[str, Any]
    problems: list[str] = field(default_factory=list)

    def get(self, name: str, reader: Callable[[object], T], default: T) -> T:
        if name not in self.data:
            return default
        try:
            return reader(self.data[name])
        except FieldProblem as exc:
            self.problems.append(f"field {name!r}: {exc}")
            return default

    def check(self, name: str, error: str | None) -> None:
        if error:
            self.problems.append(f"field {name!r}: {error}")

    def unknown(self, known: frozenset[str]) -> None:
        for name in sorted(set(self.data) - known):
            self.problems.append(f"unknown field {name!r}")


# -- job documents ---------------------------------------------------------------------------

def encode_config(config: JobConfig) -> dict[str, Any]:
    return {
        "enabled": config.enabled,
        "cron": config.cron,
        "interval_seconds": config.interval_seconds,
        "timezone": config.timezone,
        "start_at": config.start_at,
        "end_at": None if config.end_at is None else config.end_at.isoformat(),
        "skip_dates": [d.isoformat() for d in config.skip_dates],
        "dependencies": list(config.dependencies),
        "max_retries": config.max_retries,
        "priority": config.priority,
    }


def encode_job(job: JobRecord) -> dict[str, Any]:
    """The full document for a new job."""
    return {
        "job_id": job.job_id,
        **encode_config(job.config),
        "next_run_at": job.next_run_at,
        "last_status": None if job.last_status is None else job.last_status.value,
        "last_run_at": job.last_run_at,
        "last_execution_id": job.last_execution_id,
        "misconfigured": job.misconfigured,
        "updated_at": job.updated_at,
    }


def _completed_status(value: object) -> RunStatus:
    status = _enum(RunStatus, value)
    if not status.is_completed:
        raise FieldProblem(f"expected success, failure or dead, got {status.value!r}")
    return status


E = TypeVar("E", RunStatus, Trigger)


def _enum(kind: type[E], value: object) -> E:
    text = read_str(value)
    try:
        return kind(text)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise FieldProblem(f"expected one of {allowed}, got {text!r}") from None


def decode_job(job_id: str, data: Mapping[str, Any]) -> JobRecord:
    """Parse a job document; problems go to ``misconfigured`` instead of raising.

    When the document itself has problems they are the reason (a reason the
    runtime stored earlier is then dropped, so rewriting the reason never makes
    it grow); otherwise the stored ``misconfigured`` value is kept.
    """
    r = _Reader(data)
    r.unknown(JOB_FIELDS)
    stored_id = r.get("job_id", optional(read_str), None)
    if stored_id is not None and stored_id != job_id:
        r.problems.append(f"field 'job_id': {stored_id!r} does not match document id {job_id!r}")
    defaults = JobConfig()
    cron = r.get("cron", optional(read_str), None)
    interval = r.get("interval_seconds", optional(read_int), None)
    tz = r.get("timezone", read_str, defaults.timezone)
    max_retries = r.get("max_retries", read_int, defaults.max_retries)
    config = JobConfig(
        enabled=r.get("enabled", read_bool, defaults.enabled),
        cron=cron,
        interval_seconds=interval,
        timezone=tz,
        start_at=r.get("start_at", optional(read_instant), None),
        end_at=r.get("end_at", optional(read_date), None),
        skip_dates=r.get("skip_dates", read_list(read_date), ()),
        dependencies=r.get("dependencies", read_list(read_str), ()),
        max_retries=max_retries,
        priority=r.get("priority", read_int, defaults.priority),
    )
    if cron is not None:
        r.check("cron", cron_expression_error(cron))
    if interval is not None and (interval < 60 or interval % 60):
        r.check("interval_seconds", f"must be a whole number of minutes >= 1, got {interval}s")
    if cron is not None and interval is not None:
        r.check("interval_seconds", "a job takes a cron or an interval, not both")
    r.check("timezone", timezone_error(tz))
    if max_retries < 0:
        r.check("max_retries", f"must be >= 0, got {max_retries}")
    stored_reason = r.get("misconfigured", optional(read_str), None)
    record = JobRecord(
        job_id=job_id,
        config=config,
        next_run_at=r.get("next_run_at", optional(read_instant), None),
        last_status=r.get("last_status", optional(_completed_status), None),
        last_run_at=r.get("last_run_at", optional(read_instant), None),
        last_execution_id=r.get("last_execution_id", optional(read_str), None),
        updated_at=r.get("updated_at", optional(read_instant), None),
    )
    reason = "; ".join(r.problems) if r.problems else stored_reason
    return replace(record, misconfigured=reason)


# -- run records -----------------------------------------------------------------------------

def expire_at(run: RunRecord, retention: timedelta) -> datetime:
    """When Firestore's TTL policy may delete the record.

    Final runs are kept ``retention`` after they finished; unfinished ones
    ``retention`` after the latest instant they are still waiting for, so a run
    delayed for weeks is never deleted before it runs.
    """
    if run.status.is_final and run.finished_at is not None:
        return run.finished_at + retention
    waiting = [i for i in (run.scheduled_for, run.created_at, run.next_attempt_at,
                           run.lease_expires_at) if i is not None]
    return max(waiting) + retention


def encode_run(run: RunRecord, retention: timedelta) -> dict[str, Any]:
    try:
        payload_json = json.dumps(run.payload, allow_nan=False, separators=(",", ":"),
                                  sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise PayloadError(run.job_id, f"not JSON-serialisable: {exc}") from exc
    return {
        "job_id": run.job_id,
        "execution_id": run.execution_id,
        "trigger": run.trigger.value,
        "scheduled_for": run.scheduled_for,
        "status": run.status.value,
        "attempt": run.attempt,
        "payload_json": payload_json,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_ms": run.duration_ms,
        "error_type": run.error_type,
        "error_message": run.error_message,
        "next_attempt_at": run.next_attempt_at,
        "lease_holder": run.lease_holder,
        "lease_expires_at": run.lease_expires_at,
        "expire_at": expire_at(run, retention),
    }


def _json(value: object) -> Any:
    text = read_str(value)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise FieldProblem(f"expected JSON text, got {text[:40]!r}: {exc}") from None


CORRUPT_RUN = "CorruptRunRecord"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def decode_run(job_id: str, execution_id: str, data: Mapping[str, Any]
               ) -> tuple[RunRecord, list[str]]:
    """Parse a run record; never raises.

    Returns the record and the problems found. A record whose ``status``,
    ``trigger`` or ``scheduled_for`` cannot be read is returned as a FAILURE
    with ``error_type`` ``CorruptRunRecord`` and the problems as its message:
    final (so no delivery runs it again blindly), visible in ``zenjobs
    status`` and replayable once fixed.
    """
    r = _Reader(data)
    r.unknown(RUN_FIELDS)
    status = r.get("status", _enum_reader(RunStatus), None)
    trigger = r.get("trigger", _enum_reader(Trigger), None)
    scheduled_for = r.get("scheduled_for", read_instant, None)
    for name, value in (("status", status), ("trigger", trigger),
                        ("scheduled_for", scheduled_for)):
        if value is None and name not in data:
            r.problems.append(f"field {name!r}: missing")
    run = RunRecord(
        job_id=job_id,
        execution_id=execution_id,
        trigger=trigger or Trigger.SCHEDULE,
        scheduled_for=scheduled_for or EPOCH,
        status=status or RunStatus.FAILURE,
        attempt=r.get("attempt", read_int, 1),
        payload=r.get("payload_json", _json, None),
        created_at=r.get("created_at", optional(read_instant), None),
        started_at=r.get("started_at", optional(read_instant), None),
        finished_at=r.get("finished_at", optional(read_instant), None),
        duration_ms=r.get("duration_ms", optional(read_int), None),
        error_type=r.get("error_type", optional(read_str), None),
        error_message=r.get("error_message", optional(read_str), None),
        next_attempt_at=r.get("next_attempt_at", optional(read_instant), None),
        lease_holder=r.get("lease_holder", optional(read_str), None),
        lease_expires_at=r.get("lease_expires_at", optional(read_instant), None),
    )
    r.get("expire_at", optional(read_instant), None)
    if status is None or trigger is None or scheduled_for is None:
        run = run.evolve(status=RunStatus.FAILURE, error_type=CORRUPT_RUN,
                         error_message="; ".join(r.problems), lease_holder=None,
                         lease_expires_at=None)
    return run, r.problems


def _enum_reader(kind: type[E]) -> Callable[[object], E]:
    def read(value: object) -> E:
        return _enum(kind, value)
    return read
