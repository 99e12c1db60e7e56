"""The OpenTelemetry sink, read back through the SDK's in-memory metric reader."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from zenjobs.telemetry.otel import OpenTelemetrySink
from zenjobs.telemetry.protocol import TelemetryEvent

AT = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def collect(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    found: dict[str, list[Any]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found[metric.name] = list(metric.data.data_points)
    return found


def test_events_are_counted_and_durations_recorded_without_execution_ids() -> None:
    reader = InMemoryMetricReader()
    sink = OpenTelemetrySink(MeterProvider(metric_readers=[reader]).get_meter("test"))
    common = {"job_id": "mail", "execution_id": "mail-1", "attempt": 1, "trigger": "endpoint"}
    sink.emit(TelemetryEvent("job.started", AT, common))
    sink.emit(TelemetryEvent("job.succeeded", AT, {**common, "duration_ms": 42,
                                                    "status": "success"}))
    sink.emit(TelemetryEvent("job.succeeded", AT, {**common, "execution_id": "mail-2",
                                                    "duration_ms": 8, "status": "success"}))

    metrics = collect(reader)
    counts = {(p.attributes["event"], p.attributes.get("status")): p.value
              for p in metrics["zenjobs.events"]}
    assert counts == {("job.started", None): 1, ("job.succeeded", "success"): 2}
    assert all("execution_id" not in p.attributes for p in metrics["zenjobs.events"])
    (duration,) = metrics["zenjobs.job.duration"]
    assert duration.count == 2 and duration.sum == 50
    assert duration.attributes["job_id"] == "mail"
