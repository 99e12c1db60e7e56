"""A Firestore outage mid-load: 503 within the store deadline, then every run completes once.

The served executor talks to Google's Firestore emulator with a 1 s store
deadline. Deliveries arrive concurrently over real HTTP, retried like Cloud
Tasks retries a 503; part-way through, the emulator process is frozen
(SIGSTOP: it accepts connections and answers nothing, as a hung backend does)
and thawed three seconds later with its data intact. Then:

* every refused delivery was answered 503 within twice the deadline (not the
  ~30 s of the Firestore client's own retries), none 500;
* every execution ends ``success`` exactly once in the store, none is lost;
* a handler runs again only where the outage cut between its end and the
  record of its outcome (at-least-once, which is why ``ctx.execution_id`` is
  the idempotency key of a handler's effects); the test reports how often.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.emulators.firestore import reset, started
from tests.emulators.process import paused
from zenjobs import JobContext, JobType, ZenJobs
from zenjobs.runtime.executor import ZenJobsExecutor
from zenjobs.stores.firestore.store import FirestoreJobStore
from zenjobs.stores.records import RunStatus
from zenjobs.testing import MemoryTelemetry, cloud_tasks_request, envelope

from .conftest import Served, serve_executor

DEADLINE = 1.0
EXECUTIONS = 30
OUTAGE_SECONDS = 3.0


def registry(ran: Counter[str]) -> ZenJobs:
    jobs = ZenJobs()

    # A short timeout keeps the lease short (timeout + grace), so a delivery whose
    # outcome the outage swallowed is taken over within seconds, not minutes.
    @jobs.job("outage", type=JobType.ENDPOINT, timeout=timedelta(seconds=2), max_retries=5)
    async def outage(ctx: JobContext) -> None:
        ran[ctx.execution_id] += 1

    return jobs


@pytest.fixture
def served(firestore_emulator: str) -> Iterator[tuple[Served, Counter[str], str]]:
    ran: Counter[str] = Counter()
    project = f"zj-outage-{uuid.uuid4().hex[:10]}"

    def build(base_url: str) -> ZenJobsExecutor:
        return ZenJobsExecutor.development(
            registry(ran), store=FirestoreJobStore(project=project, rpc_timeout=10.0),
            telemetry=MemoryTelemetry(), service_url=base_url, loop_lag_threshold=None,
            lease_grace=timedelta(seconds=1), store_deadline=DEADLINE)

    with serve_executor(build) as target:
        with httpx.Client(base_url=target.base_url, trust_env=False) as http:
            assert http.get("/_zenjobs/health").status_code == 200  # binds the server loop
        asyncio.run(target.on_server(target.executor.start()))
        try:
            yield target, ran, project
        finally:
            asyncio.run(target.on_server(target.executor.shutdown()))
            reset(firestore_emulator, project)


async def deliver_until_done(http: httpx.AsyncClient, body: bytes, headers: dict[str, str],
                             answers: list[tuple[int, float]]) -> None:
    """Post like Cloud Tasks: a 503 is retried (sooner than Retry-After, to keep it short)."""
    while True:
        started_at = time.monotonic()
        response = await http.post("/_zenjobs/run/outage", content=body, headers=headers)
        answers.append((response.status_code, time.monotonic() - started_at))
        if response.status_code == 200:
            return
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"]
        await asyncio.sleep(0.2)


async def load_with_outage(base_url: str, emulator_pid: int) -> list[tuple[int, float]]:
    answers: list[tuple[int, float]] = []
    tasks = [cloud_tasks_request(envelope("outage", {"n": n}, execution_id=f"outage-k{n:04d}"))
             for n in range(EXECUTIONS)]
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=30) as http:
        first, rest = tasks[:EXECUTIONS // 3], tasks[EXECUTIONS // 3:]
        await asyncio.gather(*(deliver_until_done(http, body, headers, answers)
                               for _, headers, body in first))
        deliveries = [asyncio.create_task(deliver_until_done(http, body, headers, answers))
                      for _, headers, body in rest]
        await asyncio.sleep(0.05)  # some are in flight when the store freezes
        with paused(emulator_pid):
            await asyncio.sleep(OUTAGE_SECONDS)
        await asyncio.wait_for(asyncio.gather(*deliveries), timeout=90)
    return answers


def test_a_frozen_store_answers_503_within_the_deadline_and_loses_nothing(
        served: tuple[Served, Counter[str], str]) -> None:
    target, ran, project = served
    answers = asyncio.run(load_with_outage(target.base_url, started().pid))

    refused = [seconds for status, seconds in answers if status == 503]
    assert refused, "the outage never reached a delivery"
    assert max(refused) <= 2 * DEADLINE, sorted(refused)[-5:]

    async def runs() -> list[Any]:
        store = FirestoreJobStore(project=project)
        try:
            return await store.list_runs("outage", 1000)
        finally:
            await store.close()

    records = asyncio.run(runs())
    assert sorted(r.execution_id for r in records) == [f"outage-k{n:04d}"
                                                       for n in range(EXECUTIONS)]
    assert {r.status for r in records} == {RunStatus.SUCCESS}
    assert set(ran) == {r.execution_id for r in records}
    again = sum(count - 1 for count in ran.values())
    print(f"\n{len(answers)} answers, {len(refused)} x 503 (slowest {max(refused):.2f} s, "
          f"deadline {DEADLINE} s); handlers run again after a lost outcome: {again}")
