"""Human-readable telemetry for ``zenjobs dev``: one aligned line per event.

Production logs are JSON for Cloud Logging
(:class:`~zenjobs.telemetry.cloud_logging.LogTelemetrySink`); a developer
watching a terminal wants to scan a column of job ids instead::

    12:01:00 master.tick          due=2 claimed=2 ran=1 enqueued=1 skipped=0 failed=0 recovered=0
    12:01:00 job.started          sync_analytics        exec=sync_analytics-20261129T120100Z
                                                        attempt=1 trigger=schedule
    12:01:00 job.retry_scheduled  sync_analytics        exec=... next_attempt=2 in 5.4s

(each event is one line; it is wrapped here for width).
Times are the event's (simulated, with ``--speed``) UTC time; a line with
the date is printed whenever the day changes. The field names are the same as
in the JSON logs, so what you grep for here you filter on in Cloud Logging.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any, TextIO

from .format import jsonable
from .protocol import TelemetryEvent

#: Fields a line shows in its fixed part (or leaves out), so they are not repeated after it.
_SHOWN = frozenset({"job_id", "execution_id", "attempt", "trigger", "duration_ms", "status",
                    "final", "error", "next_attempt", "next_attempt_at", "delay_ms",
                    "scheduled_for", "taken_over", "reason",
                    "traceback"})  # the dashboard and Cloud Logging show it; a console line won't
_TICK_FIELDS = ("due", "claimed", "ran", "enqueued", "skipped", "failed", "recovered")
NAME_WIDTH = 20
JOB_WIDTH = 21
MAX_VALUE_CHARS = 300


def _clock_time(instant: Any) -> str:
    if isinstance(instant, datetime):
        if instant.tzinfo is not None:
            instant = instant.astimezone(timezone.utc)
        return f"{instant:%H:%M:%S}"
    return str(instant)


def _value(value: Any) -> str:
    text = str(jsonable(value))
    text = " ".join(text.split())  # one event, one line: no newlines from error messages
    if len(text) > MAX_VALUE_CHARS:
        text = text[:MAX_VALUE_CHARS - 3] + "..."
    return text


def _duration(ms: Any) -> str | None:
    if not isinstance(ms, (int, float)) or isinstance(ms, bool):
        return None
    return f"{ms / 1000:.1f}s" if ms >= 1000 else f"{int(ms)}ms"


def _job_parts(fields: Mapping[str, Any], name: str) -> list[str]:
    parts: list[str] = []
    if fields.get("execution_id") is not None:
        parts.append(f"exec={_value(fields['execution_id'])}")
    if name == "job.retry_scheduled":
        if fields.get("next_attempt") is not None:
            parts.append(f"next_attempt={_value(fields['next_attempt'])}")
        delay = _duration(fields.get("delay_ms"))
        if delay is not None:
            parts.append(f"in {delay}")
        if fields.get("next_attempt_at") is not None:
            parts.append(f"(at {_clock_time(fields['next_attempt_at'])})")
        return parts
    if fields.get("attempt") is not None:
        parts.append(f"attempt={_value(fields['attempt'])}")
    if name == "job.started":
        if fields.get("trigger") is not None:
            parts.append(f"trigger={_value(fields['trigger'])}")
        if fields.get("taken_over"):
            parts.append("taken_over=true")
    took = _duration(fields.get("duration_ms"))
    if took is not None and name != "job.skipped":
        parts.append(took)
    if name in ("job.failed", "job.skipped") and fields.get("status") is not None:
        parts.append(f"status={_value(fields['status'])}")
    if "final" in fields:
        parts.append(f"final={'true' if fields['final'] else 'false'}")
    for key in ("reason", "error"):
        if fields.get(key) is not None:
            parts.append(f"{key}={_value(fields[key])}")
    return parts


def format_event(event: TelemetryEvent) -> str:
    """The one line ``zenjobs dev`` prints for ``event`` (no trailing newline)."""
    fields = event.fields
    head = f"{_clock_time(event.timestamp)} {event.name:<{NAME_WIDTH}}"
    parts: list[str]
    if event.name == "master.tick":
        parts = [f"{key}={_value(fields[key])}" for key in _TICK_FIELDS if key in fields]
        return " ".join([head, *parts])
    parts = _job_parts(fields, event.name)
    parts += [f"{key}={_value(value)}" for key, value in fields.items()
              if key not in _SHOWN and value is not None and not key.startswith("_")]
    job = fields.get("job_id")
    if isinstance(job, str):
        head = f"{head} {job:<{JOB_WIDTH}}"
    return " ".join([head, *parts]) if parts else head.rstrip()


class ConsoleTelemetrySink:
    """Writes :func:`format_event` lines to a text stream (stdout by default).

    Thread-safe (the loop-lag watchdog emits from a thread); flushes each line
    so the output interleaves correctly with other writers and pipes.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._day: date | None = None

    def emit(self, event: TelemetryEvent) -> None:
        line = format_event(event)
        stream = self._stream if self._stream is not None else sys.stdout
        with self._lock:
            stamp = event.timestamp
            day = stamp.astimezone(timezone.utc).date() if stamp.tzinfo else stamp.date()
            if day != self._day:
                self._day = day
                stream.write(f"-- {day.isoformat()} (UTC) --\n")
            stream.write(line + "\n")
            stream.flush()
