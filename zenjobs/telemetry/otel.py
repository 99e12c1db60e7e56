"""An OpenTelemetry telemetry sink (optional extra: ``pip install zenjobs[otel]``).

zenjobs events map onto OpenTelemetry *metrics*, the signal that survives
aggregation across many Cloud Run instances: one counter of events
(``zenjobs.events``) and one histogram of run durations
(``zenjobs.job.duration``, milliseconds). Attributes are kept low-cardinality
(event, job id, trigger, status, final); execution ids stay in the structured
logs, where they can be searched one by one.

Only ``opentelemetry-api`` is imported, and only when the sink is built; the
application configures the SDK and exporter as it already does.
"""

from __future__ import annotations

from typing import Any

from .protocol import TelemetryEvent

#: Event fields copied onto metric attributes (all bounded in cardinality).
ATTRIBUTE_FIELDS = ("job_id", "trigger", "status", "final")
#: Events whose ``duration_ms`` describes a finished attempt.
FINISHED_EVENTS = frozenset({"job.succeeded", "job.failed"})


class OpenTelemetrySink:
    """Counts every event and records attempt durations through an OpenTelemetry meter."""

    def __init__(self, meter: Any = None) -> None:
        if meter is None:
            from opentelemetry import metrics

            meter = metrics.get_meter("zenjobs")
        self._events = meter.create_counter(
            "zenjobs.events", unit="1", description="zenjobs telemetry events, by name and job"
        )
        self._duration = meter.create_histogram(
            "zenjobs.job.duration", unit="ms", description="duration of finished job attempts"
        )

    def emit(self, event: TelemetryEvent) -> None:
        attributes: dict[str, str | bool] = {"event": event.name}
        for name in ATTRIBUTE_FIELDS:
            value = event.fields.get(name)
            if isinstance(value, (str, bool)):
                attributes[name] = value
        self._events.add(1, attributes)
        duration = event.fields.get("duration_ms")
        if event.name in FINISHED_EVENTS and isinstance(duration, (int, float)):
            self._duration.record(duration, attributes)
