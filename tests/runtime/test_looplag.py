"""The loop-lag monitor names the running jobs when a handler blocks the event loop.

Lag is measured on a clock the test moves itself, so a block "of 0.4 s" lasts
exactly 0.4 s for the monitor however loaded the machine is, and a slow
machine can never fake one. The blocking handlers really hold the loop, for
as long as it takes the monitor's watchdog thread to look at it (an event,
under a generous ceiling), which is what a long block gives it in production.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timezone

from zenjobs.telemetry.looplag import LoopLagMonitor
from zenjobs.telemetry.protocol import TelemetryEvent

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
#: Bounds a broken test only: a passing one never waits for it.
CEILING = 30.0


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


class ManualClock:
    """Monotonic seconds for the monitor, moved only by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Jobs:
    """Stands in for the engine's set of running executions, and sees who looks at it.

    The monitor snapshots ``running()`` on the loop once per wake-up (a *beat*),
    and its watchdog thread snapshots it while the loop is stuck.
    """

    def __init__(self) -> None:
        self.running: set[str] = set()
        self.beats = 0
        self._beat = asyncio.Event()
        self._loop_thread = threading.get_ident()
        self.watched: list[tuple[str, ...]] = []
        self.watchdog_looked = threading.Event()

    def snapshot(self) -> tuple[str, ...]:
        jobs = tuple(sorted(self.running))
        if threading.get_ident() == self._loop_thread:
            self.beats += 1
            self._beat.set()
        else:
            self.watched.append(jobs)
            self.watchdog_looked.set()
        return jobs

    async def wait_beats(self, count: int = 2) -> None:
        """Wait until the monitor woke ``count`` more times.

        It reads its next expected wake-up time right after each beat, before it
        sleeps again, so from here on a block is measured from the clock as it is now.
        """
        target = self.beats + count
        while self.beats < target:
            self._beat.clear()
            await asyncio.wait_for(self._beat.wait(), CEILING)


async def blocking_job(jobs: Jobs, clock: ManualClock, name: str, seconds: float, *,
                       watched: bool = True) -> None:
    """A handler that blocks the loop for ``seconds`` of the monitor's time.

    It holds the loop for real until the watchdog has looked at the stuck loop
    (``watched``), as it would during a real block that long; a block too short
    for the watchdog to care about just moves the clock.
    """
    jobs.running.add(name)
    try:
        jobs.watchdog_looked.clear()
        clock.advance(seconds)
        if watched:
            # The bug the monitor exists to expose: a blocking call on the loop.
            assert jobs.watchdog_looked.wait(CEILING), "the watchdog never saw the stuck loop"
    finally:
        jobs.running.discard(name)


def monitor_for(sink: ListSink | RaisingSink, jobs: Jobs, clock: ManualClock,
                **options: float) -> LoopLagMonitor:
    return LoopLagMonitor(sink, now=lambda: T0, running=jobs.snapshot, clock=clock, **options)


async def test_blocking_the_loop_emits_one_event_naming_the_running_jobs() -> None:
    sink, jobs, clock = ListSink(), Jobs(), ManualClock()
    monitor = monitor_for(sink, jobs, clock)
    jobs.running.add("bystander")
    await monitor.start()
    await jobs.wait_beats()
    await blocking_job(jobs, clock, "blocker", 0.4)
    await jobs.wait_beats()  # the late wake-up that reports it, then an on-time one
    await monitor.stop()

    assert [e.name for e in sink.events] == ["loop.blocked"]
    event = sink.events[0]
    assert event.timestamp == T0
    assert event.fields["running_jobs"] == ["blocker", "bystander"]
    assert event.fields["lag_ms"] == 350  # 0.4 s asleep for a 0.05 s interval
    assert event.fields["threshold_ms"] == 250


async def test_a_job_that_starts_and_blocks_at_once_is_still_named() -> None:
    sink, jobs, clock = ListSink(), Jobs(), ManualClock()
    monitor = monitor_for(sink, jobs, clock)
    await monitor.start()
    await jobs.wait_beats()
    # Started and finished inside one blocked stretch: only the watchdog can see it.
    await asyncio.create_task(blocking_job(jobs, clock, "sneaky", 0.4))
    await jobs.wait_beats()
    await monitor.stop()
    assert [e.fields["running_jobs"] for e in sink.events] == [["sneaky"]]
    assert ("sneaky",) in jobs.watched


async def test_no_event_under_the_threshold() -> None:
    sink, jobs, clock = ListSink(), Jobs(), ManualClock()
    # Binary fractions, so the lag below is exactly the threshold, not a rounding of it.
    monitor = monitor_for(sink, jobs, clock, threshold=0.25, interval=0.0625)
    await monitor.start()
    await jobs.wait_beats()
    await blocking_job(jobs, clock, "quick", 0.0625 + 0.25, watched=False)  # lag = threshold
    await jobs.wait_beats()
    assert sink.events == [] and jobs.watched == []

    await blocking_job(jobs, clock, "slow", 0.0625 + 0.25 + 2**-7)  # just past it
    await jobs.wait_beats()
    await monitor.stop()
    assert [e.fields["running_jobs"] for e in sink.events] == [["slow"]]
    assert sink.events[0].fields["lag_ms"] == 258  # 0.2578125 s


async def test_a_raising_sink_never_escapes() -> None:
    sink, jobs, clock = RaisingSink(), Jobs(), ManualClock()
    monitor = monitor_for(sink, jobs, clock)
    await monitor.start()
    await jobs.wait_beats()
    await blocking_job(jobs, clock, "blocker", 0.4)
    await jobs.wait_beats()
    assert monitor.is_running  # the monitor survived the failing sink
    await monitor.stop()
    assert sink.calls == 1


async def test_by_default_lag_is_measured_on_the_loops_own_clock() -> None:
    """Production passes no clock. A real 0.6 s block shows as at least 0.55 s of lag
    (0.6 s minus the 0.05 s interval); a loaded machine can only make it longer, so only
    lower bounds are asserted, and waiting for the report is bounded by events."""
    sink, jobs = ListSink(), Jobs()
    monitor = LoopLagMonitor(sink, now=lambda: T0, running=jobs.snapshot)
    await monitor.start()
    await jobs.wait_beats()
    jobs.running.add("blocker")  # still running when the monitor wakes: named either way
    time.sleep(0.6)  # a real blocking call  # noqa: ASYNC251
    await jobs.wait_beats()
    await monitor.stop()
    named = [e for e in sink.events if "blocker" in e.fields["running_jobs"]]
    assert named and max(e.fields["lag_ms"] for e in named) >= 550


async def test_start_and_stop_are_idempotent() -> None:
    monitor = LoopLagMonitor(ListSink(), now=lambda: T0, running=tuple)
    await monitor.start()
    await monitor.start()
    assert monitor.is_running
    await monitor.stop()
    await monitor.stop()
    assert not monitor.is_running
