"""Pieces the end-to-end tests share: a counting job registry, a late-bound ASGI app, polling.

The served executor runs on uvicorn's event loop (``serve_app`` runs it in a
thread) while the test drives it from its own loop, exactly as a Cloud Run
instance is driven by Cloud Tasks and Cloud Scheduler: only over HTTP. The
store is read back from the test side through its own store object.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from zenjobs import BackoffPolicy, JobContext, JobType, Weight, ZenJobs
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.records import RunRecord

#: Backoff of the failing job: 5 s, then 10 s (jitter ±10 %, deterministic).
FLAKY_BACKOFF = BackoffPolicy(initial=timedelta(seconds=5), maximum=timedelta(minutes=1))
ENDPOINT_JOBS = ("send_email", "flaky", "slow")


class Calls:
    """Handler invocations per job id (handlers run on the server's thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self.contexts: list[JobContext] = []

    def record(self, ctx: JobContext) -> None:
        with self._lock:
            self._counts[ctx.job_id] += 1
            self.contexts.append(ctx)

    def __getitem__(self, job_id: str) -> int:
        with self._lock:
            return self._counts[job_id]

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())


def build_registry(calls: Calls, *, periodic: bool = False, light: int = 0) -> ZenJobs:
    """Endpoint jobs only (a tick then has nothing to run), plus periodic jobs on demand.

    * ``send_email`` succeeds; ``flaky`` always fails (2 retries, then ``dead``);
    * ``slow`` yields to the loop for a moment, so concurrent duplicates overlap it;
    * ``rollup`` (``periodic=True``) runs every minute as its own Cloud Task;
    * ``light_00``... (``light=N``) run every minute inside the tick.
    """
    jobs = ZenJobs()

    @jobs.job("send_email", type=JobType.ENDPOINT, max_retries=3)
    async def send_email(ctx: JobContext) -> None:
        calls.record(ctx)

    @jobs.job("flaky", type=JobType.ENDPOINT, max_retries=2, backoff=FLAKY_BACKOFF)
    async def flaky(ctx: JobContext) -> None:
        calls.record(ctx)
        raise RuntimeError(f"provider down (attempt {ctx.attempt})")

    @jobs.job("slow", type=JobType.ENDPOINT)
    async def slow(ctx: JobContext) -> None:
        calls.record(ctx)
        await asyncio.sleep(0.05)  # keeps the lease held while duplicates arrive

    if periodic:
        @jobs.job("rollup", type=JobType.PERIODIC, interval=timedelta(minutes=1),
                  weight=Weight.MEDIUM)
        async def rollup(ctx: JobContext) -> None:
            calls.record(ctx)

    async def light_job(ctx: JobContext) -> None:
        calls.record(ctx)

    for index in range(light):
        jobs.job(f"light_{index:02d}", type=JobType.PERIODIC,
                 interval=timedelta(minutes=1))(light_job)
    return jobs


class LateApp:
    """An ASGI app forwarding to ``target``, which is set once the served URL is known.

    The executor needs its own URL (task URLs, the OIDC audience) before it can
    be built, and the URL exists only once uvicorn listens: this breaks the cycle
    the same way ``ZenJobsExecutor.development`` binds its in-process pusher.
    """

    def __init__(self) -> None:
        self.target: Any = None
        #: The server's event loop, known from the first request on.
        self.loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.target is None:
            raise RuntimeError("LateApp served before its target was set")
        self.loop = asyncio.get_running_loop()
        await self.target(scope, receive, send)


async def runs_of(store: JobStore, job_ids: tuple[str, ...] | list[str]) -> list[RunRecord]:
    """Every run record of the given jobs."""
    found: list[RunRecord] = []
    for job_id in job_ids:
        found.extend(await store.list_runs(job_id, 1000))
    return found


async def eventually(check: Callable[[], Awaitable[bool]], what: str,
                     limit: float = 20.0) -> None:
    """Poll ``check`` until true; ``limit`` only bounds a failing test (never asserted on)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.05)
