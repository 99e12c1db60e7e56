"""The dashboard's input domains: every query parameter and form field, checked before use.

Anything outside its domain is refused with :class:`FieldError` naming the
field (the page answers 400, or shows the message inline beside the field);
nothing is read from the store or written for it. The domains
(``docs/dashboard.md``):

* ``q``: at most 200 printable characters; ``type``: a job type or empty;
  ``status``: one of :data:`~.views.STATUS_FILTERS` or empty; ``sort``: one of
  :data:`~.views.SORT_KEYS`; ``order``: ``asc``/``desc``; ``page``: 1..100000.
* ``before``: a run cursor as this dashboard writes it (``instant|job|execution``).
* ``job``: a job id (:data:`~zenjobs.vocabulary.JOB_ID_PATTERN`);
  ``execution``: an execution id (:data:`~zenjobs.vocabulary.EXECUTION_ID_PATTERN`),
  at most 100 of them in one replay.
* ``payload``: empty (no payload) or JSON, at most :data:`MAX_PAYLOAD_CHARS`.
* ``schedule``: ``cron``, ``interval`` (``90s``, ``15m``, ``2h``, ``1d`` or seconds)
  and ``timezone``, each at most 200 characters; validated by the registration
  rules in :func:`~zenjobs.ops.set_schedule`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ..errors import ZenjobsError
from ..schedule import in_instant_range, parse_instant, require_utc
from ..stores.records import RunCursor
from ..vocabulary import EXECUTION_ID_PATTERN, JOB_ID_PATTERN, JobType
from .views import SORT_KEYS, STATUS_FILTERS, JobsQuery

MAX_TEXT_CHARS = 200
MAX_PAGE = 100_000
MAX_PAYLOAD_CHARS = 64 * 1024
MAX_REPLAY_SELECTION = 100
_INTERVAL = re.compile(r"^\s*([0-9]{1,9})\s*([smhd]?)\s*$")
_PAGE = re.compile(r"[0-9]{1,6}")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class FieldError(ZenjobsError):
    """A query parameter or form field outside its domain (shown as 400 or inline)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def text(params: Mapping[str, str], name: str, limit: int = MAX_TEXT_CHARS) -> str:
    value = params.get(name, "")
    if len(value) > limit:
        raise FieldError(name, f"at most {limit} characters, got {len(value)}")
    if not value.isprintable():
        raise FieldError(name, "must be printable text")
    return value.strip()


def choice(params: Mapping[str, str], name: str, allowed: tuple[str, ...],
           default: str = "") -> str:
    value = params.get(name, default) or default
    if value and value not in allowed:
        raise FieldError(name, f"must be one of {', '.join(allowed)}; got {value[:40]!r}")
    return value


def page_number(params: Mapping[str, str], name: str = "page") -> int:
    raw = params.get(name, "1") or "1"
    if not _PAGE.fullmatch(raw) or not 1 <= int(raw) <= MAX_PAGE:
        raise FieldError(name, f"must be a whole number from 1 to {MAX_PAGE}")
    return int(raw)


def jobs_query(params: Mapping[str, str]) -> JobsQuery:
    """The jobs list's ``?q=&type=&status=&sort=&order=&page=``."""
    return JobsQuery(
        text=text(params, "q"),
        type=choice(params, "type", tuple(t.value for t in JobType)),
        status=choice(params, "status", STATUS_FILTERS),
        sort=choice(params, "sort", SORT_KEYS, "id"),
        descending=choice(params, "order", ("asc", "desc"), "asc") == "desc",
        page=page_number(params),
    )


def job_id(value: str, name: str = "job") -> str:
    if not JOB_ID_PATTERN.fullmatch(value):
        raise FieldError(name, "not a job id (a letter, then letters, digits, '_' or '-')")
    return value


def execution_id(value: str, name: str = "execution") -> str:
    if not EXECUTION_ID_PATTERN.fullmatch(value):
        raise FieldError(name, "not an execution id zenjobs makes")
    return value


def cursor_text(cursor: RunCursor) -> str:
    """How a run cursor travels in a link (``?before=``)."""
    # Microseconds kept: runs created in the same second must not be skipped.
    return f"{require_utc(cursor[0]).isoformat()}|{cursor[1]}|{cursor[2]}"


def cursor(params: Mapping[str, str], name: str = "before") -> RunCursor | None:
    raw = params.get(name, "")
    if not raw:
        return None
    parts = raw.split("|")
    if len(parts) != 3 or len(raw) > 400:
        raise FieldError(name, "not a page cursor from this dashboard")
    try:
        instant = parse_instant(parts[0])
        if not in_instant_range(instant):
            raise ValueError
    except (ValueError, OverflowError):
        raise FieldError(name, "not a page cursor from this dashboard") from None
    return (instant, job_id(parts[1], name), execution_id(parts[2], name))


def payload(form: Mapping[str, str]) -> Any:
    """The trigger form's JSON payload; empty means no payload (None)."""
    raw = form.get("payload", "")
    if len(raw) > MAX_PAYLOAD_CHARS:
        raise FieldError("payload", f"at most {MAX_PAYLOAD_CHARS} characters")
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise FieldError("payload", f"not valid JSON: {exc}") from None
    except RecursionError:
        raise FieldError("payload", "nested too deeply") from None


@dataclass(frozen=True)
class ScheduleForm:
    cron: str | None
    interval: timedelta | None
    timezone: str | None


def schedule(form: Mapping[str, str], job_type: JobType) -> ScheduleForm:
    """The schedule editor's fields; the registration rules check them afterwards."""
    tz = text(form, "timezone") or None
    if job_type is JobType.SCHEDULED:
        cron = text(form, "cron")
        if not cron:
            raise FieldError("cron", "a cron expression is required, e.g. '30 2 * * *'")
        return ScheduleForm(cron, None, tz)
    if job_type is JobType.PERIODIC:
        raw = text(form, "interval")
        match = _INTERVAL.match(raw)
        if not match:
            raise FieldError("interval", "a whole number of s, m, h or d, e.g. '15m'")
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
        return ScheduleForm(None, timedelta(seconds=seconds), tz)
    raise FieldError("schedule", "an endpoint job has no schedule: it runs on demand")


def selection(form: Mapping[str, Any], name: str = "execution") -> list[tuple[str, str]]:
    """The dead-runs page's ticked runs: ``job/execution`` values."""
    getlist = getattr(form, "getlist", None)
    values: list[str] = list(getlist(name)) if getlist is not None else [form.get(name, "")]
    values = [v for v in values if v]
    if not values:
        raise FieldError(name, "tick at least one run to replay")
    if len(values) > MAX_REPLAY_SELECTION:
        raise FieldError(name, f"at most {MAX_REPLAY_SELECTION} runs at once")
    chosen = []
    for value in values:
        job, _, execution = str(value).partition("/")
        chosen.append((job_id(job, name), execution_id(execution, name)))
    return chosen
