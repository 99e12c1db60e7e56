"""The master tick's instants and the shared wait the development tick loops use."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from zenjobs.clocks.system import sleep_until
from zenjobs.schedule import next_tick
from zenjobs.testing import VirtualClock

UTC = timezone.utc


def test_next_tick_is_the_next_whole_minute_strictly_after() -> None:
    assert next_tick(datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)) == \
        datetime(2026, 3, 1, 12, 1, tzinfo=UTC)
    assert next_tick(datetime(2026, 3, 1, 12, 1, tzinfo=UTC)) == \
        datetime(2026, 3, 1, 12, 2, tzinfo=UTC)
    berlin = timezone(timedelta(hours=1))
    assert next_tick(datetime(2026, 3, 1, 13, 0, 59, tzinfo=berlin), timedelta(minutes=5)) == \
        datetime(2026, 3, 1, 12, 5, tzinfo=UTC)


def test_next_tick_refuses_a_naive_instant() -> None:
    with pytest.raises(ValueError, match="after must be timezone-aware"):
        next_tick(datetime(2026, 3, 1, 12, 0))


async def test_sleep_until_returns_false_once_stopped() -> None:
    clock = VirtualClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    stop = asyncio.Event()
    stop.set()
    assert await sleep_until(clock, next_tick(clock.now()), stop) is False
