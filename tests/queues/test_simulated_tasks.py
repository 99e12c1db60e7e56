"""The simulated Cloud Tasks queue behaves like the real service where the runtime relies on it.

Everything runs on a VirtualClock: deliveries are stepped with
``dispatch_due()`` / ``run_until_idle()``, so timings are exact instants, not
measurements.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest

from zenjobs.errors import ConfigurationError, PayloadError, ZenjobsError
from zenjobs.queues.protocol import EnqueueOutcome, HttpTask, TaskQueue
from zenjobs.queues.simulated import (
    AsgiPusher,
    HttpPusher,
    Pusher,
    QueueSettings,
    SimulatedCloudTasks,
)
from zenjobs.testing import VirtualClock, run_until_idle

from .conftest import RecordingTarget, ServedTarget

URL = "http://service.test/_zenjobs/run/send_email"


class ScriptedPusher:
    """Answers scripted statuses (then 200) and records what it was sent."""

    def __init__(self, clock: VirtualClock, statuses: list[int] | None = None) -> None:
        self.clock = clock
        self.statuses = list(statuses or [])
        self.sent: list[tuple[str, bytes, dict[str, str], datetime]] = []

    async def push(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.sent.append((url, body, dict(headers), self.clock.now()))
        return self.statuses.pop(0) if self.statuses else 200


class GatedPusher:
    """Holds every push open for a few loop turns and records the peak concurrency."""

    def __init__(self) -> None:
        self.active = 0
        self.peak = 0
        self.done = 0

    async def push(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.active += 1
        self.peak = max(self.peak, self.active)
        for _ in range(5):
            await asyncio.sleep(0)
        self.active -= 1
        self.done += 1
        return 200


def task(name: str = "t1", *, queue: str = "zenjobs-medium", at: datetime | None = None,
         body: bytes = b'{"a":1}', headers: Mapping[str, str] | None = None,
         url: str = URL) -> HttpTask:
    return HttpTask(queue=queue, name=name, url=url, body=body,
                    headers=dict(headers or {"Content-Type": "application/json"}),
                    schedule_time=at)


def make(clock: VirtualClock, pusher: Pusher, **settings: Any) -> SimulatedCloudTasks:
    queues = {"zenjobs-medium": QueueSettings(**settings)} if settings else None
    return SimulatedCloudTasks(clock, pusher, queues)


async def test_is_a_task_queue() -> None:
    clock = VirtualClock()
    assert isinstance(SimulatedCloudTasks(clock, ScriptedPusher(clock)), TaskQueue)


async def test_task_name_is_deduplicated_while_queued_and_an_hour_after_it_ran() -> None:
    clock = VirtualClock()
    pusher = ScriptedPusher(clock)
    queue = make(clock, pusher)
    assert await queue.enqueue(task("dup")) is EnqueueOutcome.CREATED
    assert await queue.enqueue(task("dup")) is EnqueueOutcome.ALREADY_EXISTS
    assert await queue.dispatch_due() == 1
    assert queue.pending() == 0

    clock.advance(timedelta(minutes=59, seconds=59))
    assert await queue.enqueue(task("dup")) is EnqueueOutcome.ALREADY_EXISTS
    # Same id in another queue is another task.
    assert await queue.enqueue(task("dup", queue="other")) is EnqueueOutcome.CREATED
    clock.advance(timedelta(seconds=1))
    assert await queue.enqueue(task("dup")) is EnqueueOutcome.CREATED
    assert await queue.dispatch_due() == 2
    assert [d.task_name for d in queue.deliveries] == ["dup", "dup", "dup"]


async def test_unnamed_tasks_get_generated_names_and_never_collide() -> None:
    clock = VirtualClock()
    queue = make(clock, ScriptedPusher(clock))
    assert await queue.enqueue(task("")) is EnqueueOutcome.CREATED
    assert await queue.enqueue(task("")) is EnqueueOutcome.CREATED
    assert await queue.dispatch_due() == 2
    names = {d.task_name for d in queue.deliveries}
    assert len(names) == 2 and all(name.isdigit() for name in names)


async def test_schedule_time_is_honoured() -> None:
    clock = VirtualClock()
    pusher = ScriptedPusher(clock)
    queue = make(clock, pusher)
    eta = clock.now() + timedelta(seconds=30)
    await queue.enqueue(task(at=eta))
    assert queue.next_due_at() == eta
    assert await queue.dispatch_due() == 0
    clock.advance(timedelta(seconds=29, microseconds=999_999))
    assert await queue.dispatch_due() == 0
    clock.set(eta)
    assert await queue.dispatch_due() == 1
    assert pusher.sent[0][3] == eta
    assert queue.next_due_at() is None


async def test_past_schedule_time_runs_now_and_far_future_is_refused() -> None:
    clock = VirtualClock()
    queue = make(clock, ScriptedPusher(clock))
    await queue.enqueue(task("late", at=clock.now() - timedelta(hours=1)))
    assert await queue.dispatch_due() == 1
    with pytest.raises(ZenjobsError, match="30 days"):
        await queue.enqueue(task("far", at=clock.now() + timedelta(days=31)))


async def test_rate_limit_is_a_token_bucket_on_the_virtual_clock() -> None:
    clock = VirtualClock()
    start = clock.now()
    pusher = ScriptedPusher(clock)
    queue = make(clock, pusher, max_dispatches_per_second=2.0, max_burst_size=2)
    for i in range(5):
        await queue.enqueue(task(f"r{i}"))
    assert await queue.dispatch_due() == 2  # the burst
    assert queue.next_due_at() == start + timedelta(seconds=0.5)
    assert await run_until_idle(queue, clock=clock) == 3
    offsets = [(sent[3] - start).total_seconds() for sent in pusher.sent]
    assert offsets == [0.0, 0.0, 0.5, 1.0, 1.5]
    assert [sent[2]["X-CloudTasks-TaskName"] for sent in pusher.sent] == [
        "r0", "r1", "r2", "r3", "r4"]


async def test_max_concurrent_dispatches_bounds_pushes_in_flight() -> None:
    clock = VirtualClock()
    pusher = GatedPusher()
    queue = make(clock, pusher, max_concurrent_dispatches=2)
    for i in range(6):
        await queue.enqueue(task(f"c{i}"))
    assert await queue.dispatch_due() == 6
    assert pusher.done == 6
    assert pusher.peak == 2


async def test_default_settings_push_concurrently() -> None:
    clock = VirtualClock()
    pusher = GatedPusher()
    queue = make(clock, pusher)
    for i in range(6):
        await queue.enqueue(task(f"d{i}"))
    assert await queue.dispatch_due() == 6
    assert pusher.peak == 6


async def test_5xx_and_429_are_retried_with_the_queue_backoff() -> None:
    clock = VirtualClock()
    start = clock.now()
    pusher = ScriptedPusher(clock, [503, 429, 500, 503, 503, 200])
    queue = make(clock, pusher, min_backoff=timedelta(seconds=1),
                 max_backoff=timedelta(seconds=10), max_doublings=2)
    await queue.enqueue(task("flaky"))
    assert await run_until_idle(queue, clock=clock) == 6
    offsets = [(sent[3] - start).total_seconds() for sent in pusher.sent]
    # retry delays 1, 2, 4 (doublings), then linear 8, then capped at 10
    assert offsets == [0, 1, 3, 7, 15, 25]
    headers = [sent[2] for sent in pusher.sent]
    assert [h["X-CloudTasks-TaskRetryCount"] for h in headers] == ["0", "1", "2", "3", "4", "5"]
    # Only answers that were not 5xx count as executions (the 429).
    assert [h["X-CloudTasks-TaskExecutionCount"] for h in headers] == [
        "0", "0", "1", "1", "1", "1"]
    assert "X-CloudTasks-TaskPreviousResponse" not in headers[0]
    assert [h["X-CloudTasks-TaskPreviousResponse"] for h in headers[1:]] == [
        "503", "429", "500", "503", "503"]
    assert headers[3]["X-CloudTasks-TaskETA"] == f"{(start + timedelta(seconds=7)).timestamp():.6f}"
    assert [d.status for d in queue.deliveries] == [503, 429, 500, 503, 503, 200]
    assert queue.dropped == []


async def test_any_non_2xx_is_retried_like_cloud_tasks() -> None:
    clock = VirtualClock()
    pusher = ScriptedPusher(clock, [404, 400, 302, 204])
    queue = make(clock, pusher)
    await queue.enqueue(task("picky"))
    assert await run_until_idle(queue, clock=clock) == 4
    assert [d.status for d in queue.deliveries] == [404, 400, 302, 204]
    assert [d.attempt for d in queue.deliveries] == [1, 2, 3, 4]


async def test_task_is_dropped_when_max_attempts_are_used_and_name_stays_taken() -> None:
    clock = VirtualClock()
    pusher = ScriptedPusher(clock, [503] * 10)
    queue = make(clock, pusher, max_attempts=3, min_backoff=timedelta(seconds=2))
    await queue.enqueue(task("doomed"))
    assert await run_until_idle(queue, clock=clock) == 3
    assert queue.pending() == 0
    assert queue.dropped == [("doomed", "zenjobs-medium", 503)]
    assert await queue.enqueue(task("doomed")) is EnqueueOutcome.ALREADY_EXISTS


async def test_max_retry_duration_keeps_retrying_until_both_limits_are_used() -> None:
    clock = VirtualClock()
    start = clock.now()
    pusher = ScriptedPusher(clock, [503] * 10)
    queue = make(clock, pusher, max_attempts=2, min_backoff=timedelta(seconds=10),
                 max_backoff=timedelta(seconds=10), max_retry_duration=timedelta(seconds=35))
    await queue.enqueue(task("aged"))
    await run_until_idle(queue, clock=clock)
    offsets = [(sent[3] - start).total_seconds() for sent in pusher.sent]
    assert offsets == [0, 10, 20, 30, 40]  # the 5th attempt is the first past 35 s


def test_backoff_follows_retryconfig_documentation_example() -> None:
    settings = QueueSettings(min_backoff=timedelta(seconds=10), max_backoff=timedelta(seconds=300),
                             max_doublings=3)
    delays = [settings.backoff(n).total_seconds() for n in range(1, 9)]
    assert delays == [10, 20, 40, 80, 160, 240, 300, 300]


def test_queue_settings_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="max_attempts"):
        QueueSettings(max_attempts=0)
    with pytest.raises(ConfigurationError, match="max_dispatches_per_second"):
        QueueSettings(max_dispatches_per_second=0)
    assert QueueSettings().max_attempts == 100


async def test_headers_are_those_of_the_service_and_reserved_ones_are_replaced() -> None:
    clock = VirtualClock()
    pusher = ScriptedPusher(clock)
    queue = make(clock, pusher)
    eta = clock.now() + timedelta(seconds=5)
    await queue.enqueue(task("h1", at=eta, headers={
        "Content-Type": "application/json", "X-Custom": "kept", "User-Agent": "me",
        "X-CloudTasks-QueueName": "forged", "Host": "evil.test",
    }))
    clock.set(eta)
    await queue.dispatch_due()
    url, body, headers, _ = pusher.sent[0]
    assert url == URL and body == b'{"a":1}'
    assert headers == {
        "Content-Type": "application/json",
        "X-Custom": "kept",
        "User-Agent": "Google-Cloud-Tasks",
        "X-CloudTasks-QueueName": "zenjobs-medium",
        "X-CloudTasks-TaskName": "h1",
        "X-CloudTasks-TaskRetryCount": "0",
        "X-CloudTasks-TaskExecutionCount": "0",
        "X-CloudTasks-TaskETA": f"{eta.timestamp():.6f}",
    }


async def test_body_without_content_type_is_sent_as_octet_stream() -> None:
    clock = VirtualClock()
    pusher = ScriptedPusher(clock)
    queue = make(clock, pusher)
    await queue.enqueue(HttpTask(queue="q", name="raw", url=URL, body=b"x"))
    await queue.dispatch_due()
    assert pusher.sent[0][2]["Content-Type"] == "application/octet-stream"


async def test_invalid_tasks_are_refused_before_queueing() -> None:
    clock = VirtualClock()
    queue = make(clock, ScriptedPusher(clock))
    with pytest.raises(ZenjobsError, match="task id"):
        await queue.enqueue(task("bad/name"))
    with pytest.raises(PayloadError, match="send_email") as refused:
        await queue.enqueue(task("big", body=b"x" * 1_048_577))
    assert refused.value.job_id == "send_email"
    assert queue.pending() == 0


async def test_strict_queues_refuse_unknown_queue() -> None:
    clock = VirtualClock()
    queue = SimulatedCloudTasks(clock, ScriptedPusher(clock), {"known": QueueSettings()},
                                strict_queues=True)
    with pytest.raises(ConfigurationError, match="'unknown'"):
        await queue.enqueue(task(queue="unknown"))
    assert await queue.enqueue(task(queue="known")) is EnqueueOutcome.CREATED


async def test_asgi_pusher_delivers_in_process_and_app_errors_are_retried() -> None:
    clock = VirtualClock()

    async def broken(scope: object, receive: object, send: object) -> None:
        raise RuntimeError("handler bug")

    target = RecordingTarget()
    queue = make(clock, AsgiPusher(target))
    await queue.enqueue(task("asgi"))
    assert await queue.dispatch_due() == 1
    pushed = target.requests[0]
    assert (pushed.method, pushed.path, pushed.body) == ("POST", "/_zenjobs/run/send_email",
                                                         b'{"a":1}')
    assert pushed.headers["x-cloudtasks-taskname"] == "asgi"
    assert pushed.headers["user-agent"] == "Google-Cloud-Tasks"

    failing = make(clock, AsgiPusher(broken), max_attempts=2)
    await failing.enqueue(task("crash"))
    await run_until_idle(failing, clock=clock)
    assert [d.status for d in failing.deliveries] == [500, 500]


async def test_http_pusher_delivers_over_real_http(http_target: ServedTarget) -> None:
    clock = VirtualClock()
    http_target.target.statuses = [503]
    pusher = HttpPusher(timeout=10)
    queue = make(clock, pusher)
    try:
        await queue.enqueue(task("real", url=f"{http_target.base_url}/_zenjobs/run/send_email"))
        assert await run_until_idle(queue, clock=clock) == 2
    finally:
        await pusher.aclose()
    first, second = http_target.target.requests
    assert first.path == second.path == "/_zenjobs/run/send_email"
    assert second.body == b'{"a":1}'
    assert second.headers["content-type"] == "application/json"
    assert second.headers["x-cloudtasks-taskretrycount"] == "1"
    assert second.headers["x-cloudtasks-queuename"] == "zenjobs-medium"
    assert [d.status for d in queue.deliveries] == [503, 200]


async def test_http_pusher_counts_connection_failure_as_503() -> None:
    from tests.emulators.process import free_port

    pusher = HttpPusher(timeout=5)
    try:
        status = await pusher.push(f"http://127.0.0.1:{free_port()}/x", b"", {})
    finally:
        await pusher.aclose()
    assert status == 503


async def test_http_pusher_counts_a_missed_deadline_as_504(http_target: ServedTarget) -> None:
    http_target.target.delay = 1.0
    pusher = HttpPusher(timeout=0.1)
    try:
        status = await pusher.push(f"{http_target.base_url}/slow", b"", {})
    finally:
        await pusher.aclose()
    assert status == 504


async def test_serve_delivers_when_the_clock_reaches_the_task_and_stops_cleanly() -> None:
    clock = VirtualClock()
    pusher = ScriptedPusher(clock)
    queue = make(clock, pusher)
    stop = asyncio.Event()
    serving = asyncio.ensure_future(queue.serve(stop))
    await queue.enqueue(task("now"))
    await queue.enqueue(task("later", at=clock.now() + timedelta(seconds=10)))
    await _turns(lambda: len(pusher.sent) == 1 and clock.sleepers == 1)
    assert [h["X-CloudTasks-TaskName"] for _, _, h, _ in pusher.sent] == ["now"]
    clock.advance(10)
    await _turns(lambda: len(pusher.sent) == 2)
    stop.set()
    await serving
    assert queue.pending() == 0
    assert [h["X-CloudTasks-TaskName"] for _, _, h, _ in pusher.sent] == ["now", "later"]


async def _turns(condition: Callable[[], bool], turns: int = 1000) -> None:
    """Let the loop run until ``condition()`` holds (bounded by turns, not time)."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")
