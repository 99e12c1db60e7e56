"""ScaledClock: simulated time runs ``speed`` times faster, driven by an injected counter."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from zenjobs.clocks.protocol import Clock
from zenjobs.dev.scaled_clock import ScaledClock

START = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)


class Counter:
    """A hand-driven monotonic counter (real seconds)."""

    def __init__(self, value: float = 1000.0) -> None:
        self.value = value

    def __call__(self) -> float:
        return self.value


class SleepRecorder:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_now_is_start_plus_scaled_elapsed_time() -> None:
    counter = Counter()
    clock = ScaledClock(120, START, monotonic=counter)
    assert clock.now() == START
    counter.value += 0.5  # half a real second is a simulated minute at x120
    assert clock.now() == START + timedelta(minutes=1)
    counter.value += 30
    assert clock.now() == START + timedelta(minutes=61)


def test_speed_one_is_real_time() -> None:
    counter = Counter()
    clock = ScaledClock(1, START, monotonic=counter)
    counter.value += 2.25
    assert clock.now() == START + timedelta(seconds=2.25)


def test_a_counter_going_backwards_never_moves_time_before_start() -> None:
    counter = Counter()
    clock = ScaledClock(10, START, monotonic=counter)
    counter.value -= 5
    assert clock.now() == START


async def test_sleep_waits_simulated_seconds_divided_by_speed() -> None:
    sleeps = SleepRecorder()
    clock = ScaledClock(120, START, monotonic=Counter(), real_sleep=sleeps)
    await clock.sleep(60)
    await clock.sleep(-3)
    assert sleeps.calls == [0.5, 0.0]


def test_start_must_be_aware_and_is_kept_in_utc() -> None:
    with pytest.raises(ValueError, match="start"):
        ScaledClock(2, datetime(2026, 1, 1))
    berlin = timezone(timedelta(hours=1))
    clock = ScaledClock(2, datetime(2026, 1, 1, 13, 0, tzinfo=berlin), monotonic=Counter())
    assert clock.now() == datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert clock.now().utcoffset() == timedelta(0)


@pytest.mark.parametrize("speed", [0, -1, float("nan"), float("inf"), 1e9])
def test_speed_must_be_positive_finite_and_bounded(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        ScaledClock(speed, START)


def test_it_is_a_clock_and_converts_durations_for_messages() -> None:
    clock = ScaledClock(60, START, monotonic=Counter())
    assert isinstance(clock, Clock)
    assert clock.real_seconds(timedelta(hours=1)) == 60.0
