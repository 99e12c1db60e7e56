"""Production mode with everything real but Google: Firestore and Cloud Tasks emulators, OIDC.

``ZenJobsExecutor.production`` gets a :class:`FirestoreJobStore` on the
Firestore emulator, a :class:`CloudTasksQueue` on the gcloud-tasks-emulator and
an :class:`OidcVerifier` reading certificates from a local endpoint. The
emulator mints no OIDC token, so the queue's ``extra_headers`` carry one minted
here for the invoker account and the service URL, and the webhook verifies it
on every push exactly as it would verify Google's.

The served executor's gRPC clients live on uvicorn's loop (they are created by
the first request that needs them); the test reads Firestore through a store
of its own and runs executor calls on the server loop (``Served.on_server``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import grpc  # type: ignore[import-untyped]
import httpx
import pytest
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcAsyncIOTransport

from tests.emulators.cloud_tasks import RunningTasksEmulator
from tests.emulators.firestore import reset
from tests.emulators.process import free_port
from tests.webhook.test_oidc import INVOKER, Key, mint
from zenjobs import ZenJobs
from zenjobs.gcp.oidc import OidcVerifier
from zenjobs.ops import disable, sync
from zenjobs.queues.cloud_tasks import CloudTasksQueue
from zenjobs.runtime.envelope import slot_execution_id
from zenjobs.runtime.executor import ZenJobsExecutor
from zenjobs.runtime.retry import backoff_delay
from zenjobs.stores.firestore.store import FirestoreJobStore
from zenjobs.stores.records import RunStatus
from zenjobs.testing import (
    MemoryTelemetry,
    VirtualClock,
    cloud_scheduler_request,
    cloud_tasks_request,
    envelope,
)

from .conftest import Served, serve_executor
from .support import Calls, build_registry, eventually

LOCATION = "europe-west1"
QUEUES = ("zenjobs-light", "zenjobs-medium")


def emulator_client(host: str) -> Any:
    channel = grpc.aio.insecure_channel(host, options=[("grpc.enable_http_proxy", 0)])
    return tasks_v2.CloudTasksAsyncClient(transport=CloudTasksGrpcAsyncIOTransport(channel=channel))


@dataclass
class RecordingTasksClient:
    """A TasksClient that opens its emulator channel on first use (on the server's loop)
    and keeps every CreateTaskRequest, so the test can read schedule times and names."""

    host: str
    requests: list[Any] = field(default_factory=list)
    inner: Any = None

    async def create_task(self, request: Any = None, *, retry: Any = None,
                          timeout: Any = None) -> Any:
        if self.inner is None:
            self.inner = emulator_client(self.host)
        self.requests.append(request)
        return await self.inner.create_task(request=request, retry=retry, timeout=timeout)

    async def close(self) -> None:
        if self.inner is not None:
            await self.inner.transport.close()
            self.inner = None


@dataclass
class Production:
    served: Served
    store: FirestoreJobStore  # the test's own view of the same Firestore project
    tasks: RecordingTasksClient
    token: str
    project: str


@pytest.fixture
def light_jobs() -> int:
    """How many light periodic jobs the registry has (override with parametrize)."""
    return 0


@pytest.fixture
async def production(firestore_emulator: str, tasks_emulator: RunningTasksEmulator,
                     certs_url: str, oidc_key: Key, calls: Calls,
                     light_jobs: int) -> AsyncIterator[Production]:
    project = f"zj-e2e-{uuid.uuid4().hex[:10]}"  # own project: own documents and queues
    admin = emulator_client(tasks_emulator.host)
    parent = f"projects/{project}/locations/{LOCATION}"
    for queue_id in QUEUES:
        await admin.create_queue(parent=parent,
                                 queue=tasks_v2.Queue(name=f"{parent}/queues/{queue_id}"))
    await admin.transport.close()
    registry: ZenJobs = build_registry(calls, periodic=True, light=light_jobs)
    clock = VirtualClock()
    tasks = RecordingTasksClient(tasks_emulator.host)
    tokens: list[str] = []

    def build(base_url: str) -> ZenJobsExecutor:
        token = mint(oidc_key, aud=base_url)  # what Cloud Tasks would sign for the invoker
        tokens.append(token)
        queue = CloudTasksQueue(project, LOCATION, invoker_service_account=INVOKER,
                                audience=base_url, client=tasks,
                                extra_headers={"Authorization": f"Bearer {token}"})
        return ZenJobsExecutor.production(
            registry, project=project, location=LOCATION, service_url=base_url,
            invoker_service_account=INVOKER, store=FirestoreJobStore(project, rpc_timeout=10),
            queue=queue, verifier=OidcVerifier(base_url, [INVOKER], certs_url=certs_url),
            clock=clock, telemetry=MemoryTelemetry(), loop_lag_threshold=None, environ={})

    store = FirestoreJobStore(project, rpc_timeout=10)
    try:
        with serve_executor(build) as served:
            await sync(registry, store, clock.now())  # `zenjobs sync` before the first tick
            try:
                yield Production(served, store, tasks, tokens[0], project)
            finally:
                if served.app.loop is not None:
                    await served.on_server(served.executor.shutdown())
                    await served.on_server(tasks.close())
    finally:
        await store.close()
        reset(firestore_emulator, project)


async def post_tick(http: httpx.AsyncClient, when: datetime, token: str) -> dict[str, Any]:
    path, headers, body = cloud_scheduler_request(when, token=token)
    response = await http.post(path, content=body, headers=headers)
    assert response.status_code == 200, response.text
    summary: dict[str, Any] = response.json()
    return summary


async def test_master_tick_claims_in_firestore_and_the_emulator_delivers_once(
        production: Production, calls: Calls) -> None:
    store, served = production.store, production.served
    job = await store.get_job("rollup")
    assert job is not None and job.next_run_at is not None
    slot = job.next_run_at
    execution_id = slot_execution_id("rollup", slot)
    async with httpx.AsyncClient(base_url=served.base_url, trust_env=False) as http:
        # Without a token the tick is refused and claims nothing.
        path, headers, body = cloud_scheduler_request(slot)
        assert (await http.post(path, content=body, headers=headers)).status_code == 401

        summary = await post_tick(http, slot, production.token)
        assert (summary["due"], summary["claimed"], summary["enqueued"]) == (1, 1, 1)
        claimed = await store.get_job("rollup")
        assert claimed is not None and claimed.next_run_at == slot + timedelta(minutes=1)

        async def finished() -> bool:
            run = await store.get_run("rollup", execution_id)
            return run is not None and run.status.is_final

        await eventually(finished, "the emulator to deliver the rollup task")
        # Cloud Scheduler retries the same tick: the same logical time claims nothing.
        retried = await post_tick(http, slot, production.token)
        assert (retried["claimed"], retried["enqueued"]) == (0, 0)

    run = await store.get_run("rollup", execution_id)
    assert run is not None and run.status is RunStatus.SUCCESS and run.attempt == 1
    assert run.scheduled_for == slot
    assert calls["rollup"] == 1
    assert [r.task.http_request.url for r in production.tasks.requests] == [
        f"{served.base_url}/_zenjobs/run/rollup"]
    assert production.tasks.requests[0].task.http_request.oidc_token.audience == served.base_url


async def test_endpoint_job_scheduled_through_the_api_runs_once(
        production: Production, calls: Calls) -> None:
    served, store = production.served, production.store
    async with httpx.AsyncClient(base_url=served.base_url, trust_env=False) as http:
        assert (await http.get("/_zenjobs/health")).status_code == 200  # binds the server loop
    execution_id = await served.on_server(
        served.executor.schedule("send_email", {"user": 9}, idempotency_key="welcome-9"))
    again = await served.on_server(
        served.executor.schedule("send_email", {"user": 9}, idempotency_key="welcome-9"))
    assert again == execution_id

    async def succeeded() -> bool:
        run = await store.get_run("send_email", execution_id)
        return run is not None and run.status is RunStatus.SUCCESS

    await eventually(succeeded, "the welcome email to run")
    assert calls["send_email"] == 1
    assert calls.contexts[0].payload == {"user": 9}


async def test_failing_job_is_reenqueued_with_computed_delays_then_dead(
        production: Production, calls: Calls) -> None:
    served, store = production.served, production.store
    async with httpx.AsyncClient(base_url=served.base_url, trust_env=False) as http:
        assert (await http.get("/_zenjobs/health")).status_code == 200
    clock = served.executor.clock
    execution_id = await served.on_server(
        served.executor.schedule("flaky", None, idempotency_key="flaky-1"))

    async def dead() -> bool:
        run = await store.get_run("flaky", execution_id)
        return run is not None and run.status is RunStatus.DEAD

    await eventually(dead, "the flaky job to end dead")
    assert calls["flaky"] == 3
    policy = served.executor.jobs.get("flaky").backoff
    # Each retry is a new Cloud Task, named per attempt, due after the computed backoff
    # (the server's virtual clock stands still, so "end" is its now).
    retries = [r.task for r in production.tasks.requests if "flaky" in r.task.name][1:]
    assert [t.name.rsplit("-", 1)[1] for t in retries] == ["a2", "a3"]
    assert [t.schedule_time - clock.now() for t in retries] == [
        backoff_delay(policy, 1, execution_id), backoff_delay(policy, 2, execution_id)]


async def test_ten_concurrent_ticks_run_the_slot_once_and_disable_stops_the_next(
        production: Production, calls: Calls) -> None:
    store, served = production.store, production.served
    job = await store.get_job("rollup")
    assert job is not None and job.next_run_at is not None
    slot = job.next_run_at
    async with httpx.AsyncClient(base_url=served.base_url, trust_env=False) as http:
        # Ten deliveries of ticks inside the same minute race for one Firestore claim.
        summaries = await asyncio.gather(*(
            post_tick(http, slot + timedelta(seconds=i), production.token) for i in range(10)))
        assert sum(s["claimed"] for s in summaries) == 1
        assert sum(s["enqueued"] for s in summaries) == 1

        async def succeeded() -> bool:
            run = await store.get_run("rollup", slot_execution_id("rollup", slot))
            return run is not None and run.status is RunStatus.SUCCESS

        await eventually(succeeded, "the rollup slot to run")

        # `zenjobs disable rollup` edits the Firestore document; the next tick skips the job.
        await disable(served.executor.jobs, store, "rollup", slot)
        following = slot + timedelta(minutes=1)
        summary = await post_tick(http, following, production.token)
        assert (summary["claimed"], summary["enqueued"]) == (0, 0)
    assert await store.get_run("rollup", slot_execution_id("rollup", following)) is None
    assert calls["rollup"] == 1
    assert len(production.tasks.requests) == 1


def dead_queue(production: Production) -> CloudTasksQueue:
    """A Cloud Tasks client whose endpoint refuses connections (an outage)."""
    return CloudTasksQueue(production.project, LOCATION, invoker_service_account=INVOKER,
                           audience=production.served.base_url,
                           emulator_host=f"127.0.0.1:{free_port()}", max_attempts=2,
                           initial_backoff=0.01, call_timeout=2.0)


async def test_cloud_tasks_outage_hands_the_slot_back_and_the_next_tick_runs_it_once(
        production: Production, calls: Calls) -> None:
    store, served = production.store, production.served
    job = await store.get_job("rollup")
    assert job is not None and job.next_run_at is not None
    slot = job.next_run_at
    engine = served.executor.engine
    healthy, dead = engine.queue, dead_queue(production)
    async with httpx.AsyncClient(base_url=served.base_url, trust_env=False) as http:
        engine.queue = dead
        try:
            summary = await post_tick(http, slot, production.token)
        finally:
            engine.queue = healthy
            await served.on_server(dead.close())
        assert (summary["claimed"], summary["enqueued"], summary["failed"]) == (1, 0, 1)
        handed_back = await store.get_job("rollup")
        assert handed_back is not None and handed_back.next_run_at == slot

        # Cloud Scheduler's next attempt of the same tick, with Cloud Tasks back.
        summary = await post_tick(http, slot, production.token)
        assert (summary["claimed"], summary["enqueued"]) == (1, 1)

        async def succeeded() -> bool:
            run = await store.get_run("rollup", slot_execution_id("rollup", slot))
            return run is not None and run.status is RunStatus.SUCCESS

        await eventually(succeeded, "the handed-back slot to run")
    assert calls["rollup"] == 1


async def test_queue_outage_during_a_retry_answers_503_and_loses_nothing(
        production: Production, calls: Calls) -> None:
    """The retry of a failed attempt cannot be enqueued: 503, and Cloud Tasks' redelivery
    of that attempt sends the retry without running the handler a second time."""
    store, served = production.store, production.served
    engine = served.executor.engine
    healthy, dead = engine.queue, dead_queue(production)
    task = envelope("flaky", None, execution_id="flaky-outage")
    async with httpx.AsyncClient(base_url=served.base_url, trust_env=False) as http:
        path, headers, body = cloud_tasks_request(task, token=production.token)
        engine.queue = dead
        try:
            first = await http.post(path, content=body, headers=headers)
        finally:
            engine.queue = healthy
            await served.on_server(dead.close())
        assert first.status_code == 503, first.text
        assert first.json()["error"]["code"] == "backend_unavailable"
        recorded = await store.get_run("flaky", "flaky-outage")
        assert recorded is not None and recorded.status is RunStatus.RETRY_SCHEDULED
        assert recorded.attempt == 2 and recorded.lease_holder is None

        # Cloud Tasks delivers attempt 1 again (the backstop retry of the 503).
        path, headers, body = cloud_tasks_request(task, token=production.token, retry_count=1)
        again = await http.post(path, content=body, headers=headers)
        assert again.status_code == 200, again.text
        assert again.json()["status"] == "stale"

        async def dead_run() -> bool:
            run = await store.get_run("flaky", "flaky-outage")
            return run is not None and run.status is RunStatus.DEAD

        await eventually(dead_run, "attempts 2 and 3 to run through the emulator")
    assert [c.attempt for c in calls.contexts] == [1, 2, 3]  # attempt 1 ran once


@pytest.mark.parametrize("light_jobs", [20])
async def test_concurrent_ticks_over_many_due_jobs_run_each_slot_once_on_firestore(
        production: Production, calls: Calls, light_jobs: int) -> None:
    """Ten concurrent ticks race for 21 due jobs in Firestore transactions: one run each."""
    store, served = production.store, production.served
    job = await store.get_job("light_00")
    assert job is not None and job.next_run_at is not None
    slot = job.next_run_at
    async with httpx.AsyncClient(base_url=served.base_url, trust_env=False) as http:
        summaries = await asyncio.gather(*(
            post_tick(http, slot + timedelta(seconds=i), production.token) for i in range(10)))
        assert sum(s["claimed"] for s in summaries) == light_jobs + 1
        assert sum(s["ran"] for s in summaries) == light_jobs  # light: inside the tick
        assert sum(s["failed"] for s in summaries) == 0

        async def rollup_done() -> bool:
            run = await store.get_run("rollup", slot_execution_id("rollup", slot))
            return run is not None and run.status is RunStatus.SUCCESS

        await eventually(rollup_done, "the medium job's task to run")
    for index in range(light_jobs):
        job_id = f"light_{index:02d}"
        assert calls[job_id] == 1, job_id
        run = await store.get_run(job_id, slot_execution_id(job_id, slot))
        assert run is not None and run.status is RunStatus.SUCCESS
    assert calls.total() == light_jobs + 1
