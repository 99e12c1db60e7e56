"""The loop-lag monitor names the running jobs when a handler blocks the event loop."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

from zenjobs.runtime.looplag import LoopLagMonitor
from zenjobs.telemetry.protocol import TelemetryEvent

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


class ListSink:
    def __init__(self) -> None:
        self.events: list[TelemetryEvent] = []

    def emit(self, event: TelemetryEvent) -> None:
        self.events.append(event)


class RaisingSink:
    def __init__(self) -> None:
        self.calls = 0

    def emit(self, event: TelemetryEvent) -> None:
        self.calls += 1
        raise RuntimeError("telemetry backend down")


class Jobs:
    """Stands in for the engine's set of running executions."""

    def __init__(self) -> None:
        self.running: set[str] = set()

    def snapshot(self) -> tuple[str, ...]:
        return tuple(sorted(self.running))


async def blocking_job(jobs: Jobs, name: str, seconds: float) -> None:
    jobs.running.add(name)
    try:
        time.sleep(seconds)  # the bug the monitor exists to expose  # noqa: ASYNC251
    finally:
        jobs.running.discard(name)


async def settle(monitor: LoopLagMonitor) -> None:
    """Let the monitor take a few on-time samples."""
    for _ in range(3):
        await asyncio.sleep(monitor.interval)


async def test_blocking_the_loop_emits_one_event_naming_the_running_jobs() -> None:
    sink, jobs = ListSink(), Jobs()
    monitor = LoopLagMonitor(sink, now=lambda: T0, running=jobs.snapshot)
    jobs.running.add("bystander")
    await monitor.start()
    await settle(monitor)
    await blocking_job(jobs, "blocker", 0.4)
    await settle(monitor)
    await monitor.stop()

    assert [e.name for e in sink.events] == ["loop.blocked"]
    event = sink.events[0]
    assert event.timestamp == T0
    assert event.fields["running_jobs"] == ["blocker", "bystander"]
    assert event.fields["lag_ms"] > 250


async def test_a_job_that_starts_and_blocks_at_once_is_still_named() -> None:
    sink, jobs = ListSink(), Jobs()
    monitor = LoopLagMonitor(sink, now=lambda: T0, running=jobs.snapshot)
    await monitor.start()
    await settle(monitor)
    # Started and finished inside one blocked stretch: only the watchdog can see it.
    await asyncio.create_task(blocking_job(jobs, "sneaky", 0.4))
    await settle(monitor)
    await monitor.stop()
    assert [e.fields["running_jobs"] for e in sink.events] == [["sneaky"]]


async def test_no_event_under_the_threshold() -> None:
    sink, jobs = ListSink(), Jobs()
    monitor = LoopLagMonitor(sink, now=lambda: T0, running=jobs.snapshot, threshold=0.25)
    await monitor.start()
    await settle(monitor)
    await blocking_job(jobs, "quick", 0.05)
    await settle(monitor)
    await monitor.stop()
    assert sink.events == []


async def test_a_raising_sink_never_escapes() -> None:
    sink, jobs = RaisingSink(), Jobs()
    monitor = LoopLagMonitor(sink, now=lambda: T0, running=jobs.snapshot)
    await monitor.start()
    await settle(monitor)
    await blocking_job(jobs, "blocker", 0.4)
    await settle(monitor)
    assert monitor.is_running  # the monitor survived the failing sink
    await monitor.stop()
    assert sink.calls == 1


async def test_start_and_stop_are_idempotent() -> None:
    monitor = LoopLagMonitor(ListSink(), now=lambda: T0, running=tuple)
    await monitor.start()
    await monitor.start()
    assert monitor.is_running
    await monitor.stop()
    await monitor.stop()
    assert not monitor.is_running
