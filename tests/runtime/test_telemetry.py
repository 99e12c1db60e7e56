"""Telemetry sinks: Cloud Logging JSON lines, the memory sink helpers, safe emission."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

import pytest

from zenjobs.stores.records import RunStatus
from zenjobs.telemetry.cloud_logging import LogTelemetrySink
from zenjobs.telemetry.looplag import EVENT_NAME as LOOP_BLOCKED
from zenjobs.telemetry.protocol import FanOutTelemetrySink, TelemetryEvent, emit_safely
from zenjobs.testing import MemoryTelemetry

from .conftest import T0


def failed_event(final: bool) -> TelemetryEvent:
    return TelemetryEvent("job.failed", T0 + timedelta(milliseconds=250), {
        "job_id": "mail", "execution_id": "mail-1", "attempt": 2, "trigger": "endpoint",
        "scheduled_for": T0, "duration_ms": 12, "error": "Boom: down", "final": final,
        "status": RunStatus.DEAD if final else RunStatus.RETRY_SCHEDULED,
    })


def test_log_sink_writes_one_cloud_logging_json_line_per_event() -> None:
    stream = io.StringIO()
    sink = LogTelemetrySink(stream)
    sink.emit(failed_event(final=True))
    sink.emit(failed_event(final=False))
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["severity"] == "ERROR" and second["severity"] == "WARNING"
    assert first["timestamp"] == "2026-01-05T09:00:00.250000Z"
    assert first["event"] == "job.failed" and first["status"] == "dead"
    assert first["scheduled_for"] == "2026-01-05T09:00:00Z"
    assert first["job_id"] == "mail" and first["attempt"] == 2 and first["final"] is True
    assert first["message"].startswith("job.failed job_id=mail execution_id=mail-1 attempt=2")
    assert first["logging.googleapis.com/labels"] == {"zenjobs_event": "job.failed",
                                                      "zenjobs_job": "mail"}


@pytest.mark.parametrize("name", [LOOP_BLOCKED, "job.retry_scheduled", "master.job_skipped"])
def test_warnings_are_logged_at_warning_severity(name: str) -> None:
    # The loop-lag monitor's own event name, so a rename cannot silently demote it to INFO.
    stream = io.StringIO()
    LogTelemetrySink(stream).emit(TelemetryEvent(name, T0, {"job_id": "mail"}))
    assert json.loads(stream.getvalue())["severity"] == "WARNING"


class Broken:
    def emit(self, event: TelemetryEvent) -> None:
        raise RuntimeError("exporter down")


def test_emit_safely_swallows_and_logs_sink_errors(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="zenjobs.telemetry"):
        emit_safely(Broken(), failed_event(final=True))
    assert "job.failed" in caplog.text and "exporter down" in caplog.text
    emit_safely(None, failed_event(final=True))  # no sink: nothing to do


def test_fan_out_keeps_feeding_the_healthy_sinks() -> None:
    memory = MemoryTelemetry()
    FanOutTelemetrySink(Broken(), memory).emit(failed_event(final=False))
    assert memory.names() == ["job.failed"]


def test_memory_helpers_match_fields_and_explain_misses() -> None:
    memory = MemoryTelemetry()
    memory.emit(failed_event(final=False))
    memory.emit(failed_event(final=True))
    assert len(memory.of("job.failed")) == 2
    assert memory.assert_emitted("job.failed", final=True, status="dead").fields["final"]
    assert memory.of("job.failed", scheduled_for="2026-01-05T09:00:00Z")  # JSON form matches
    with pytest.raises(AssertionError, match=r"(?s)no job\.succeeded event.*job\.failed job_id"):
        memory.assert_emitted("job.succeeded", job_id="mail")
    with pytest.raises(AssertionError, match="unexpected"):
        memory.assert_not_emitted("job.failed", final=True)
    memory.clear()
    assert memory.names() == []
