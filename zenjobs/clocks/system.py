"""The real clock, read only at composition roots (the executor, the CLI).

Everything below the composition root takes ``now`` as an argument, which is
what lets tests drive the runtime with :class:`zenjobs.testing.VirtualClock`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from .protocol import Clock


class SystemClock:
    """Wall-clock time in UTC and real sleeping."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


async def sleep_until(clock: Clock, due: datetime, stop: asyncio.Event) -> bool:
    """Sleep on ``clock`` until ``due``, or less if ``stop`` is set first.

    Returns whether it is time to act (False once ``stop`` is set). The loops
    that stand in for Cloud Scheduler wait this way so that a stop ends them at
    once, not at the next tick.
    """
    sleeper = asyncio.ensure_future(clock.sleep((due - clock.now()).total_seconds()))
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
    sleeper.cancel()
    stopper.cancel()
    return not stop.is_set()
