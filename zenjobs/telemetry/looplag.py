"""Event-loop lag monitoring: name the jobs running when something blocks the loop.

A coroutine sleeps ``interval`` seconds in a loop and measures, with
``loop.time()`` (or the ``clock`` given), how late it wakes up. Lateness
beyond ``threshold`` means some callback held the loop that long (a handler
doing blocking work), and a ``loop.blocked`` telemetry event is emitted with
the lag and the jobs running.

Naming the culprit is the point, and a job that blocks at its first step and
finishes within the block would be gone by the time the late coroutine wakes.
So a small watchdog thread also looks while the loop is stuck (heartbeat
overdue by more than the threshold) and snapshots ``running()`` then; the
event names the union of that snapshot, the snapshot from before the block and
the jobs running after it. ``running`` must therefore be safe to call from
another thread (return a copy, e.g. ``tuple(self._running)``). Emission itself
happens on the loop; sink errors are logged and never escape.

``clock`` (monotonic seconds, default the running loop's ``loop.time``) is what
lag is measured on; tests pass a clock they move themselves, so a block of any
length is simulated exactly and a slow machine cannot fake one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from .protocol import TelemetryEvent, TelemetrySink

log = logging.getLogger(__name__)

EVENT_NAME = "loop.blocked"


class LoopLagMonitor:
    """Measures event-loop lag and emits ``loop.blocked`` past ``threshold`` seconds."""

    def __init__(
        self,
        sink: TelemetrySink,
        now: Callable[[], datetime],
        running: Callable[[], Sequence[str]],
        threshold: float = 0.25,
        interval: float = 0.05,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if threshold <= 0 or interval <= 0:
            raise ValueError("threshold and interval must be positive")
        self._sink = sink
        self._now = now
        self._running = running
        self.threshold = threshold
        self.interval = interval
        self._clock = clock
        self._time: Callable[[], float] = clock or time.monotonic
        self._task: asyncio.Task[None] | None = None
        self._watchdog: threading.Thread | None = None
        self._stop_watchdog = threading.Event()
        self._lock = threading.Lock()
        self._last_beat = 0.0  # loop.time() of the last on-time wake-up
        self._stuck_sample: set[str] = set()

    @property
    def is_running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start monitoring the running loop (idempotent)."""
        if self.is_running:
            return
        loop = asyncio.get_running_loop()
        self._time = self._clock or loop.time
        self._last_beat = self._time()
        self._stop_watchdog.clear()
        self._task = loop.create_task(self._monitor(), name="zenjobs-looplag")
        self._watchdog = threading.Thread(
            target=self._watch, name="zenjobs-looplag-watchdog", daemon=True
        )
        self._watchdog.start()

    async def stop(self) -> None:
        """Stop monitoring (idempotent); waits for the monitor task to end."""
        task, self._task = self._task, None
        watchdog, self._watchdog = self._watchdog, None
        self._stop_watchdog.set()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if watchdog is not None:
            # The watchdog wakes at once on the event; joining off-loop costs nothing.
            await asyncio.to_thread(watchdog.join)

    async def _monitor(self) -> None:
        before = self._snapshot()
        while True:
            expected = self._time() + self.interval
            await asyncio.sleep(self.interval)
            woke = self._time()
            lag = woke - expected
            with self._lock:
                self._last_beat = woke
                stuck, self._stuck_sample = self._stuck_sample, set()
            after = self._snapshot()
            if lag > self.threshold:
                self._emit(lag, before | stuck | after)
            before = after

    def _watch(self) -> None:
        """Watchdog thread: snapshot ``running()`` while the loop is stuck."""
        while not self._stop_watchdog.wait(self.interval):
            with self._lock:
                beat = self._last_beat
            if self._time() - beat - self.interval > self.threshold:
                sample = self._snapshot()
                with self._lock:
                    if self._last_beat == beat:  # still the same stuck period
                        self._stuck_sample |= sample

    def _snapshot(self) -> set[str]:
        try:
            return {str(job) for job in self._running()}
        except Exception:
            log.exception("loop-lag monitor: running() failed")
            return set()

    def _emit(self, lag: float, jobs: set[str]) -> None:
        try:
            event = TelemetryEvent(
                name=EVENT_NAME,
                timestamp=self._now(),
                fields={
                    "lag_ms": round(lag * 1000),
                    "threshold_ms": round(self.threshold * 1000),
                    "running_jobs": sorted(jobs),
                },
            )
            self._sink.emit(event)
        except Exception:
            log.exception("loop-lag monitor: emitting %s failed", EVENT_NAME)
