"""The public test kit: virtual clock, request builders, run_until_idle bounds."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from zenjobs.runtime.envelope import decode_envelope, task_name
from zenjobs.stores.records import Trigger
from zenjobs.testing import (
    VirtualClock,
    cloud_scheduler_request,
    cloud_tasks_request,
    envelope,
    lowered,
    run_until_idle,
)

from .conftest import T0


async def test_virtual_sleep_returns_only_when_virtual_time_passes() -> None:
    clock = VirtualClock(T0)
    woke: list[datetime] = []

    async def sleeper(seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(clock.now())

    tasks = [asyncio.ensure_future(sleeper(s)) for s in (10, 60)]
    await asyncio.sleep(0)
    assert clock.sleepers == 2
    clock.advance(9)
    await asyncio.sleep(0)
    assert woke == []
    clock.advance(timedelta(seconds=1))
    await asyncio.sleep(0)
    assert woke == [T0 + timedelta(seconds=10)]
    clock.set(T0 + timedelta(minutes=5))
    await asyncio.gather(*tasks)
    assert woke[1] == T0 + timedelta(minutes=5) and clock.sleepers == 0
    await clock.sleep(0)  # zero sleep yields without waiting


def test_virtual_clock_only_moves_forward() -> None:
    clock = VirtualClock(T0)
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set(T0 - timedelta(seconds=1))
    with pytest.raises(ValueError):
        VirtualClock(datetime(2026, 1, 1))  # naive


def test_cloud_tasks_request_has_the_headers_cloud_tasks_sends() -> None:
    env = envelope("mail", {"a": 1}, execution_id="mail-1", attempt=2)
    path, headers, body = cloud_tasks_request(env, queue="zenjobs-light", retry_count=3,
                                              token="tok")
    assert path == "/_zenjobs/run/mail"
    assert headers["X-CloudTasks-QueueName"] == "zenjobs-light"
    assert headers["X-CloudTasks-TaskName"] == task_name("mail-1", 2)
    assert headers["X-CloudTasks-TaskRetryCount"] == "3"
    assert headers["X-CloudTasks-TaskExecutionCount"] == "3"
    assert headers["X-CloudTasks-TaskETA"] == f"{T0.timestamp():.6f}"
    assert headers["Authorization"] == "Bearer tok"
    assert headers["Content-Type"] == "application/json"
    decoded = decode_envelope(body, "mail")
    assert decoded.attempt == 2 and decoded.trigger is Trigger.ENDPOINT
    assert cloud_tasks_request(env, body=b"{oops")[2] == b"{oops"
    assert lowered(headers)["x-cloudtasks-queuename"] == "zenjobs-light"


def test_cloud_scheduler_request_carries_the_schedule_time() -> None:
    path, headers, body = cloud_scheduler_request(T0 + timedelta(minutes=1))
    assert path == "/_zenjobs/master" and body == b""
    assert headers["X-CloudScheduler-ScheduleTime"] == "2026-01-05T09:01:00.000000Z"
    assert headers["X-CloudScheduler"] == "true"
    assert "Content-Type" not in headers
    _, no_time, _ = cloud_scheduler_request(None, body=b"{}")
    assert "X-CloudScheduler-ScheduleTime" not in no_time
    assert no_time["Content-Type"] == "application/json"


class EndlessQueue:
    """Always one task due a second from now: a job that re-enqueues itself forever."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock

    def pending(self) -> int:
        return 1

    def next_due_at(self) -> datetime | None:
        return self._clock.now() + timedelta(seconds=1)

    async def dispatch_due(self) -> int:
        return 0


async def test_run_until_idle_is_bounded() -> None:
    clock = VirtualClock(T0)
    with pytest.raises(RuntimeError, match="still pending"):
        await run_until_idle(EndlessQueue(clock), clock=clock, max_steps=5)
    assert clock.now() == T0 + timedelta(seconds=5)
    assert await run_until_idle(EndlessQueue(clock), clock=clock,
                                until=T0 + timedelta(seconds=7)) == 0
    assert clock.now() == T0 + timedelta(seconds=7)
    with pytest.raises(TypeError, match="VirtualClock"):
        await run_until_idle(EndlessQueue(clock))
