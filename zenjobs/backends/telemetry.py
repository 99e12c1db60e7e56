"""Telemetry sinks: Cloud Logging structured lines, in-memory, and safe emission.

Telemetry is best-effort (DESIGN.md): the runtime emits through
:func:`emit_safely`, which swallows and logs whatever a sink raises, so a
broken exporter can never turn a successful run into a failure.

:class:`LogTelemetrySink` writes one JSON object per line in the shape Cloud
Logging's agent on Cloud Run parses from stdout: ``severity``, ``message``,
``timestamp``, the labels map and every event field at the top level (they
land in ``jsonPayload``), so events can be filtered with
``jsonPayload.event="job.failed"`` without any client library.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import sys
import threading
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any, TextIO

from .base import TelemetryEvent, TelemetrySink

log = logging.getLogger("zenjobs.telemetry")

#: Field names of every job.* event, in the order people read them.
JOB_FIELDS = ("job_id", "execution_id", "attempt", "trigger", "scheduled_for", "duration_ms",
              "error")


_PLAIN = frozenset({str, int, float, bool})


def severity_of(event: TelemetryEvent) -> str:
    """Cloud Logging severity for an event: failures stand out, the rest is INFO."""
    if event.name == "job.failed":
        return "ERROR" if event.fields.get("final", True) else "WARNING"
    if event.name in ("job.retry_scheduled", "runtime.loop_lag", "master.job_skipped"):
        return "WARNING"
    return "INFO"


def jsonable(value: Any) -> Any:
    """A JSON-ready copy of a field value (instants as RFC 3339 UTC, enums by value)."""
    if value is None or type(value) in _PLAIN:  # most fields; not str/int-based enums
        return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def summary_line(event: TelemetryEvent) -> str:
    """A one-line human summary: ``job.failed job_id=x attempt=2 error=...``."""
    parts = [event.name]
    for key, value in event.fields.items():
        if value is None:
            continue
        parts.append(f"{key}={jsonable(value)}")
    return " ".join(parts)


def cloud_logging_entry(event: TelemetryEvent) -> dict[str, Any]:
    """The structured log entry for ``event`` (one line of Cloud Logging JSON)."""
    entry: dict[str, Any] = {}
    parts = [event.name]  # summary_line's text, from the values converted once
    for key, value in event.fields.items():
        converted = jsonable(value)
        entry[str(key)] = converted
        if value is not None:
            parts.append(f"{key}={converted}")
    entry.update({
        "severity": severity_of(event),
        "message": " ".join(parts),
        "timestamp": jsonable(event.timestamp),
        "event": event.name,
        "logging.googleapis.com/labels": {"zenjobs_event": event.name},
    })
    job_id = event.fields.get("job_id")
    if isinstance(job_id, str):
        entry["logging.googleapis.com/labels"]["zenjobs_job"] = job_id
    return entry


#: One encoder for every line (``json.dumps`` with options builds a new one per call).
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=str)


class LogTelemetrySink:
    """Structured JSON lines on a text stream (stdout by default, as Cloud Run expects)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def emit(self, event: TelemetryEvent) -> None:
        line = _ENCODER.encode(cloud_logging_entry(event))
        stream = self._stream if self._stream is not None else sys.stdout
        with self._lock:
            stream.write(line + "\n")
            stream.flush()


class FanOutTelemetrySink:
    """Sends every event to several sinks; one failing sink does not starve the others."""

    def __init__(self, *sinks: TelemetrySink) -> None:
        self.sinks = sinks

    def emit(self, event: TelemetryEvent) -> None:
        for sink in self.sinks:
            emit_safely(sink, event)


class MemoryTelemetrySink:
    """Keeps events in a list; the assertion helpers make tests short and readable."""

    def __init__(self) -> None:
        self.events: list[TelemetryEvent] = []

    def emit(self, event: TelemetryEvent) -> None:
        self.events.append(event)

    def clear(self) -> None:
        self.events.clear()

    def names(self) -> list[str]:
        """Event names in emission order."""
        return [e.name for e in self.events]

    def of(self, name: str, **fields: Any) -> list[TelemetryEvent]:
        """Events called ``name`` whose fields include every ``fields`` item."""
        return [e for e in self.events if e.name == name and _matches(e, fields)]

    def assert_emitted(self, name: str, **fields: Any) -> TelemetryEvent:
        """The last matching event; AssertionError listing what was emitted otherwise."""
        found = self.of(name, **fields)
        if not found:
            seen = "\n  ".join(summary_line(e) for e in self.events) or "(nothing)"
            raise AssertionError(f"no {name} event with {fields}; emitted:\n  {seen}")
        return found[-1]

    def assert_not_emitted(self, name: str, **fields: Any) -> None:
        found = self.of(name, **fields)
        if found:
            raise AssertionError(f"unexpected {name} event(s): "
                                 + "; ".join(summary_line(e) for e in found))


def _matches(event: TelemetryEvent, fields: Mapping[str, Any]) -> bool:
    for key, want in fields.items():
        if key not in event.fields:
            return False
        have = event.fields[key]
        if have != want and jsonable(have) != jsonable(want):
            return False
    return True


def emit_safely(sink: TelemetrySink | None, event: TelemetryEvent) -> None:
    """Emit ``event``; anything the sink raises is logged and swallowed, never propagated."""
    if sink is None:
        return
    try:
        sink.emit(event)
    except Exception:
        # Even logging the failure must not be able to break a run.
        with contextlib.suppress(Exception):
            log.warning("telemetry sink %r failed on %s", sink, event.name, exc_info=True)
