"""The real clock, read only at composition roots (the executor, the CLI).

Everything below the composition root takes ``now`` as an argument, which is
what lets tests drive the runtime with :class:`zenjobs.testing.VirtualClock`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone


class SystemClock:
    """Wall-clock time in UTC and real sleeping."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))
