"""Heavy handlers run in a child process: isolation, timeouts that kill, errors that carry names."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from zenjobs import JobContext, PermanentError
from zenjobs.errors import DefinitionError, HeavyJobError, JobTimeoutError
from zenjobs.runtime.envelope import decode_envelope
from zenjobs.runtime.heavy import RemoteTraceback, run_heavy
from zenjobs.runtime.protocol import DeliveryOutcome
from zenjobs.runtime.webhook import create_app
from zenjobs.testing.http import serve_app

from . import heavy_job_fns as fns

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
#: The loop-lag threshold of DESIGN.md: a heavy job may not delay a request by more.
LOOP_LAG_THRESHOLD = 0.25


def context(payload: Any = None, job_id: str = "crunch") -> JobContext:
    return JobContext(job_id, f"{job_id}-k1", 1, payload, T0, "manual")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def read_pid(pidfile: Path) -> int | None:
    """The pid a heavy child wrote at its start (atomically, by rename), or None yet."""
    return int(pidfile.read_text()) if pidfile.exists() else None


async def wait_for_pid(pidfile: Path, timeout: float = 20.0) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (pid := read_pid(pidfile)) is None:
        assert loop.time() < deadline, "the heavy child never started"
        await asyncio.sleep(0.01)
    return pid


class HeavyHandler:
    """A WebhookHandler double that runs every delivery as a heavy job, like the engine will."""

    def __init__(self, handlers: Mapping[str, Callable[[JobContext], Any]]) -> None:
        self.handlers = handlers

    async def deliver(
        self, job_id: str, body: bytes, headers: Mapping[str, str]
    ) -> DeliveryOutcome:
        envelope = decode_envelope(body, job_id)
        ctx = JobContext(
            envelope.job_id,
            envelope.execution_id,
            envelope.attempt,
            envelope.payload,
            envelope.scheduled_for,
            envelope.trigger.value,
        )
        result = await run_heavy(self.handlers[job_id], ctx, timeout=60)
        return DeliveryOutcome(200, {"status": "success", "result": result})

    async def master_tick(self, schedule_time: datetime | None) -> Mapping[str, Any]:
        return {"due": 0}

    async def health(self) -> Mapping[str, Any]:
        return {"status": "ok"}


def test_cpu_bound_heavy_job_does_not_delay_a_concurrent_request(tmp_path: Path) -> None:
    pidfile = tmp_path / "burn.pid"
    envelope = {
        "version": 1,
        "job_id": "crunch",
        "execution_id": "crunch-k1",
        "attempt": 1,
        "trigger": "manual",
        "scheduled_for": "2026-01-05T09:00:00Z",
        "payload": {"seconds": 1.5, "pidfile": str(pidfile)},
    }
    heavy_response: list[httpx.Response] = []
    app = create_app(HeavyHandler({"crunch": fns.burn}))
    with serve_app(app) as base_url:

        def send_heavy() -> None:
            with httpx.Client(base_url=base_url, timeout=60) as http:
                heavy_response.append(http.post("/_zenjobs/run/crunch", json=envelope))

        sender = threading.Thread(target=send_heavy)
        sender.start()
        deadline = time.monotonic() + 20
        while not pidfile.exists():  # the child is spinning from here on
            assert time.monotonic() < deadline and sender.is_alive(), "heavy job never started"
            time.sleep(0.01)
        with httpx.Client(base_url=base_url, timeout=10) as http:
            started = time.monotonic()
            health = http.get("/_zenjobs/health")
            latency = time.monotonic() - started
        heavy_still_running = sender.is_alive()
        sender.join(timeout=60)

    assert health.status_code == 200
    assert heavy_still_running, "the request must be answered while the heavy job runs"
    assert latency < LOOP_LAG_THRESHOLD, f"request took {latency * 1000:.0f} ms during a heavy job"
    assert heavy_response[0].status_code == 200
    result = heavy_response[0].json()["result"]
    assert result["pid"] != os.getpid() and result["spins"] > 0


async def test_timeout_kills_the_process(tmp_path: Path) -> None:
    pidfile = tmp_path / "forever.pid"
    with pytest.raises(JobTimeoutError, match="crunch"):
        await run_heavy(fns.forever, context({"pidfile": str(pidfile)}), timeout=1.5)
    pid = read_pid(pidfile)
    assert pid is not None and not alive(pid)


async def test_a_child_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "stubborn.pid"
    with pytest.raises(JobTimeoutError):
        await run_heavy(fns.stubborn, context({"pidfile": str(pidfile)}), 1.5, kill_grace=0.2)
    pid = read_pid(pidfile)
    assert pid is not None and not alive(pid)


async def test_cancelling_the_run_kills_the_process(tmp_path: Path) -> None:
    pidfile = tmp_path / "cancelled.pid"
    run = asyncio.ensure_future(run_heavy(fns.forever, context({"pidfile": str(pidfile)}), 60))
    pid = await wait_for_pid(pidfile)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert not alive(pid)


async def test_result_and_context_cross_the_process_boundary() -> None:
    pid, job_id, execution_id, attempt = await run_heavy(fns.echo_context, context(), 30)
    assert pid != os.getpid()
    assert (job_id, execution_id, attempt) == ("crunch", "crunch-k1", 1)


async def test_async_heavy_handler_runs_with_its_own_loop() -> None:
    assert await run_heavy(fns.async_double, context({"n": 21}), 30) == 42


async def test_picklable_error_is_reraised_with_its_type_and_remote_traceback() -> None:
    with pytest.raises(ValueError, match="bad input 7") as caught:
        await run_heavy(fns.fail_value, context({"n": 7}), 30)
    cause = caught.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "fail_value" in str(cause)


async def test_permanent_error_stays_permanent() -> None:
    with pytest.raises(PermanentError, match="recipient"):
        await run_heavy(fns.fail_permanent, context(), 30)


async def test_unpicklable_error_becomes_heavy_job_error_with_type_name() -> None:
    with pytest.raises(HeavyJobError) as caught:
        await run_heavy(fns.fail_unpicklable, context(), 30)
    assert caught.value.error_type == "LockedError"
    assert caught.value.error_message == "holding a lock"


async def test_unpicklable_result_is_an_error_not_a_hang() -> None:
    with pytest.raises(HeavyJobError) as caught:
        await run_heavy(fns.return_unpicklable, context(), 30)
    assert caught.value.error_type == "TypeError"
    assert "result cannot be sent" in caught.value.error_message


async def test_child_dying_without_answer_is_reported() -> None:
    with pytest.raises(HeavyJobError) as caught:
        await run_heavy(fns.die, context(), 30)
    assert caught.value.error_type == "ProcessDied"
    assert "code 3" in str(caught.value)


async def test_local_function_is_refused_before_starting_a_process() -> None:
    def local(ctx: JobContext) -> None:
        return None

    with pytest.raises(DefinitionError) as caught:
        await run_heavy(local, context(), 30)
    assert caught.value.job_id == "crunch" and caught.value.field == "handler"
