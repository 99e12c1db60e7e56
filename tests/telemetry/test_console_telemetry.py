"""The dev console's event lines: one aligned, readable line per telemetry event.

They are what ``zenjobs dev --verbose`` prints for every event, and what the
default console prints for the events that are not run outcomes (see
``test_console_digest.py`` for the default console).
"""

from __future__ import annotations

import io
from datetime import datetime, timezone
from typing import Any

from zenjobs.telemetry.console import ConsoleTelemetrySink, format_event
from zenjobs.telemetry.lines import ConsoleOptions
from zenjobs.telemetry.protocol import TelemetryEvent

AT = datetime(2026, 11, 29, 12, 1, 0, tzinfo=timezone.utc)
EXEC = "sync_analytics-20261129T120100Z"


def event(name: str, **fields: Any) -> TelemetryEvent:
    return TelemetryEvent(name, AT, fields)


def test_succeeded_line_shows_time_event_job_execution_attempt_and_duration() -> None:
    line = format_event(event("job.succeeded", job_id="cleanup_temp_files",
                              execution_id="cleanup_temp_files-x", attempt=1, trigger="schedule",
                              scheduled_for=AT, duration_ms=21, status="success"))
    assert line == ("12:01:00 job.succeeded        cleanup_temp_files    "
                    "exec=cleanup_temp_files-x attempt=1 21ms")


def test_started_line_shows_trigger_and_takeover() -> None:
    line = format_event(event("job.started", job_id="sync_analytics", execution_id=EXEC,
                              attempt=2, trigger="schedule", scheduled_for=AT, taken_over=True))
    assert line.endswith(f"exec={EXEC} attempt=2 trigger=schedule taken_over=true")


def test_failed_line_shows_status_final_and_error_on_one_line() -> None:
    line = format_event(event("job.failed", job_id="sync_analytics", execution_id=EXEC,
                              attempt=3, duration_ms=12_345, status="dead", final=True,
                              error="FlakyProviderError: down\nsecond line"))
    assert "\n" not in line
    assert line.endswith("attempt=3 12.3s status=dead final=true "
                         "error=FlakyProviderError: down second line")


def test_retry_line_shows_next_attempt_delay_and_when() -> None:
    line = format_event(event("job.retry_scheduled", job_id="sync_analytics", execution_id=EXEC,
                              attempt=1, duration_ms=3, next_attempt=2, delay_ms=5409,
                              next_attempt_at=datetime(2026, 11, 29, 12, 1, 5,
                                                       tzinfo=timezone.utc)))
    assert line.startswith("12:01:00 job.retry_scheduled  sync_analytics")
    assert line.endswith(f"exec={EXEC} next_attempt=2 in 5.4s (at 12:01:05)")


def test_skip_line_shows_status_and_reason() -> None:
    line = format_event(event("job.skipped", job_id="send_digest", execution_id="d-1", attempt=1,
                              duration_ms=0, status="skipped_dependency_failed",
                              reason="nightly_report last completed run is dead"))
    assert line.endswith("attempt=1 status=skipped_dependency_failed "
                         "reason=nightly_report last completed run is dead")


def test_master_tick_line_shows_the_counts_in_order() -> None:
    line = format_event(event("master.tick", now="2026-11-29T12:01:00Z", due=2, claimed=2,
                              ran=1, enqueued=1, skipped=0, failed=0, batch_size=100))
    assert line == ("12:01:00 master.tick          "
                    "due=2 claimed=2 ran=1 enqueued=1 skipped=0 failed=0")


def test_other_events_show_their_fields() -> None:
    line = format_event(event("runtime.loop_lag", lag_ms=300, threshold_ms=250,
                              running_jobs=["render_thumbnails"]))
    assert line.startswith("12:01:00 runtime.loop_lag")
    assert line.endswith("lag_ms=300 threshold_ms=250 running_jobs=['render_thumbnails']")


def test_long_values_are_cut() -> None:
    line = format_event(event("job.failed", job_id="j", execution_id="j-1", attempt=1,
                              error="x" * 5000, final=False))
    assert len(line) < 500
    assert line.endswith("...")


def test_verbose_sink_writes_every_event_and_a_date_line_when_the_day_changes() -> None:
    out = io.StringIO()
    sink = ConsoleTelemetrySink(out, ConsoleOptions(verbose=True))
    sink.emit(event("master.tick", due=0, claimed=0, ran=0, enqueued=0, skipped=0, failed=0))
    sink.emit(event("master.tick", due=1, claimed=1, ran=1, enqueued=0, skipped=0, failed=0))
    sink.emit(TelemetryEvent("master.tick", datetime(2026, 11, 30, 0, 0, tzinfo=timezone.utc),
                             {"due": 0}))
    assert out.getvalue().splitlines() == [
        "-- 2026-11-29 (UTC) --",
        "12:01:00 master.tick          due=0 claimed=0 ran=0 enqueued=0 skipped=0 failed=0",
        "12:01:00 master.tick          due=1 claimed=1 ran=1 enqueued=0 skipped=0 failed=0",
        "-- 2026-11-30 (UTC) --",
        "00:00:00 master.tick          due=0",
    ]
