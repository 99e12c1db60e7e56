"""Cloud Logging structured lines: the production telemetry sink.

:class:`LogTelemetrySink` writes one JSON object per line in the shape Cloud
Logging's agent on Cloud Run parses from stdout: ``severity``, ``message``,
``timestamp``, the labels map and every event field at the top level (they
land in ``jsonPayload``), so events can be filtered with
``jsonPayload.event="job.failed"`` without any client library.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, TextIO

from .format import jsonable, severity_of
from .protocol import TelemetryEvent


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
