"""The clock seam: where the composition roots read time.

Everything below a composition root takes ``now`` as an argument. The
implementations are :class:`~zenjobs.clocks.system.SystemClock` (production),
:class:`~zenjobs.dev.scaled_clock.ScaledClock` (``zenjobs dev --speed``) and
:class:`~zenjobs.testing.VirtualClock` (tests), each where it is used.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Where the runtime's composition root reads time; tests pass a virtual one."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...
