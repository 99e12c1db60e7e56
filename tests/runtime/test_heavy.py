"""Heavy handlers run in a child process: isolation, timeouts that kill, errors that carry names."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from zenjobs import JobContext, JobDescriptor, JobType, PermanentError, Weight, ZenJobs
from zenjobs.errors import DefinitionError, HeavyJobError, JobTimeoutError
from zenjobs.runtime.engine import JobEngine
from zenjobs.runtime.envelope import decode_envelope
from zenjobs.runtime.heavy import RemoteTraceback, run_heavy
from zenjobs.runtime.protocol import DeliveryOutcome
from zenjobs.runtime.webhook import create_app
from zenjobs.stores.memory import MemoryJobStore
from zenjobs.stores.records import RunStatus
from zenjobs.testing import MemoryTelemetry, VirtualClock
from zenjobs.testing.http import serve_app

from . import heavy_job_fns as fns
from .conftest import SERVICE, RecordingQueue, deliver

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
#: Bounds a broken test only: a passing one never waits for it.
CEILING = 30.0


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
    """A request is answered while a CPU-bound heavy job spins, and the job cannot end first.

    The job spins until the test tells it to stop, which it does only once the
    request has been answered. A heavy job holding the event loop (or the GIL:
    the result shows another process ran it) would never let that answer
    through, and the request would fail at its ceiling; nothing here depends
    on how fast a loaded machine happens to be.
    """
    pidfile, stop = tmp_path / "burn.pid", tmp_path / "burn.stop"
    envelope = {
        "version": 1,
        "job_id": "crunch",
        "execution_id": "crunch-k1",
        "attempt": 1,
        "trigger": "manual",
        "scheduled_for": "2026-01-05T09:00:00Z",
        "payload": {"pidfile": str(pidfile), "stop": str(stop)},
    }
    heavy_response: list[httpx.Response] = []
    app = create_app(HeavyHandler({"crunch": fns.burn_until_told}))
    with serve_app(app) as base_url:

        def send_heavy() -> None:
            with httpx.Client(base_url=base_url, timeout=CEILING) as http:
                heavy_response.append(http.post("/_zenjobs/run/crunch", json=envelope))

        sender = threading.Thread(target=send_heavy)
        sender.start()
        try:
            deadline = time.monotonic() + CEILING
            while (pid := read_pid(pidfile)) is None:  # the child is spinning from here on
                assert time.monotonic() < deadline and sender.is_alive(), "heavy job never started"
                time.sleep(0.01)
            with httpx.Client(base_url=base_url, timeout=CEILING) as http:
                health = http.get("/_zenjobs/health")
            answered_while_spinning = heavy_response == [] and alive(pid)
        finally:
            stop.touch()
            sender.join(timeout=CEILING)

    assert health.status_code == 200
    assert answered_while_spinning, "the request must be answered while the heavy job runs"
    assert heavy_response[0].status_code == 200
    result = heavy_response[0].json()["result"]
    assert result["pid"] == pid != os.getpid() and result["spins"] > 0


@pytest.fixture(autouse=True, scope="module")
def started_forkserver() -> None:
    """Start the forkserver once, before any timed test: on a loaded machine its first
    start (an interpreter importing zenjobs) could eat a short timeout by itself, and a
    child killed before it wrote its pid would leave nothing to check."""
    asyncio.run(run_heavy(fns.echo_context, context(), CEILING))


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


async def test_a_heavy_job_past_its_timeout_is_killed_recorded_and_uses_its_attempt(
        tmp_path: Path) -> None:
    """The runner's wiring: the descriptor's timeout reaches the child, which is killed;
    the timeout is recorded as a failure and consumes the attempt, like any other."""
    jobs = ZenJobs()
    jobs.register(JobDescriptor(id="crunch", type=JobType.ENDPOINT, weight=Weight.HEAVY,
                                timeout=timedelta(seconds=2), max_retries=1))
    jobs.register_handler("crunch", fns.forever)
    store, queue, telemetry = MemoryJobStore(), RecordingQueue(), MemoryTelemetry()
    engine = JobEngine(jobs, store, queue, VirtualClock(T0), telemetry, service_url=SERVICE)
    pidfile = tmp_path / "crunch.pid"
    pids: list[int] = []

    async def deliver_next() -> str:
        pidfile.unlink(missing_ok=True)
        outcome = await asyncio.wait_for(deliver(engine, queue.pop()), CEILING)
        assert outcome.status_code == 200
        pid = read_pid(pidfile)
        assert pid is not None and not alive(pid), "the timed-out child must be killed"
        pids.append(pid)
        return str(outcome.body["status"])

    execution_id = await engine.schedule("crunch", {"pidfile": str(pidfile)})
    assert await deliver_next() == "retry_scheduled"
    run = await store.get_run("crunch", execution_id)
    assert run is not None and run.status is RunStatus.RETRY_SCHEDULED and run.attempt == 2
    assert run.error_type == "JobTimeoutError" and run.error_message is not None
    assert "timeout of 2s" in run.error_message and "killed" in run.error_message
    failed = telemetry.assert_emitted("job.failed", execution_id=execution_id, attempt=1)
    assert failed.fields["final"] is False and "JobTimeoutError" in failed.fields["error"]
    assert [e.attempt for e in queue.envelopes()] == [2]

    assert await deliver_next() == "dead"  # the last attempt timed out too: no retry left
    run = await store.get_run("crunch", execution_id)
    assert run is not None and run.status is RunStatus.DEAD and run.attempt == 2
    assert run.error_type == "JobTimeoutError"
    assert queue.tasks == [] and len(set(pids)) == 2
