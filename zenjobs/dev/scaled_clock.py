"""A clock that runs N times faster than real time, for ``zenjobs dev --speed N``.

Watching an hourly job or a 30-second retry backoff in real time is slow, so
the dev server can run *simulated* time faster: ``now()`` is the start instant
plus the real (monotonic) time elapsed since, multiplied by ``speed``, and
``sleep(s)`` waits ``s / speed`` real seconds. Everything that reads the
runtime's clock (master ticks, next slots, retry delays, leases, the simulated
queue's schedule times) then moves together, so behaviour is the same as at
speed 1, only sooner. Handler timeouts are real seconds: a handler's work does
not get faster because the clock does.

It reads a monotonic counter (never the wall clock after ``start``), so a
wall-clock jump (NTP, laptop sleep) cannot make simulated time run backwards.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from ..schedule import require_utc

#: Upper bound on ``speed``: beyond it a minute lasts less than a scheduler hop.
MAX_SPEED = 10_000.0


class ScaledClock:
    """Simulated UTC time running ``speed`` times faster than real time.

    ``monotonic`` and ``real_sleep`` are injectable so tests can drive the
    clock without waiting; by default they are :func:`time.monotonic` and
    :func:`asyncio.sleep`.
    """

    def __init__(self, speed: float, start: datetime, *,
                 monotonic: Callable[[], float] = time.monotonic,
                 real_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if not (isinstance(speed, (int, float)) and math.isfinite(speed)
                and 0 < speed <= MAX_SPEED):
            raise ValueError(f"speed must be a number in (0, {MAX_SPEED:g}], got {speed!r}")
        self.speed = float(speed)
        self.start = require_utc(start, "start")
        self._monotonic = monotonic
        self._real_sleep = real_sleep
        self._origin = monotonic()

    def now(self) -> datetime:
        elapsed = max(self._monotonic() - self._origin, 0.0)
        return self.start + timedelta(seconds=elapsed * self.speed)

    async def sleep(self, seconds: float) -> None:
        await self._real_sleep(max(seconds, 0.0) / self.speed)

    def real_seconds(self, simulated: timedelta) -> float:
        """How long ``simulated`` lasts in real seconds (for messages to the user)."""
        return simulated.total_seconds() / self.speed
