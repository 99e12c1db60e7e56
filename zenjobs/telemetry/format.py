"""How event fields read as text and JSON, shared by every sink that writes lines."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any

from .protocol import TelemetryEvent

_PLAIN = frozenset({str, int, float, bool})


def severity_of(event: TelemetryEvent) -> str:
    """Cloud Logging severity for an event: failures stand out, the rest is INFO."""
    if event.name == "job.failed":
        return "ERROR" if event.fields.get("final", True) else "WARNING"
    if event.name in ("job.retry_scheduled", "loop.blocked", "master.job_skipped",
                      "request.rejected"):
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
