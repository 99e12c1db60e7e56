"""Cloud Tasks frozen during a tick, then back: the light job's retry completes exactly once.

Everything real but Google, as in ``test_production_emulators.py``: a production
executor served by uvicorn, Firestore and Cloud Tasks emulators, OIDC on every
request. The light job runs inside the master tick; its first attempt freezes
the Cloud Tasks emulator (SIGSTOP: connections accepted, nothing answered, data
kept) and fails. Its retry cannot be created, so the tick ends with the run
``retry_scheduled`` and no task anywhere: before the reconciler, it stayed so
forever. The emulator is thawed; the next tick whose time is past the retry's
(plus the recovery slack) creates the retry's task under its deterministic
name, the emulator delivers it over HTTP, and the run ends ``success``: each
attempt ran once, and later ticks send nothing more.

The emulator is this test's own (started and stopped by PID here), so freezing
it touches no other test.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from google.cloud import tasks_v2

from tests.emulators.cloud_tasks import RunningTasksEmulator, start_tasks_emulator
from tests.emulators.firestore import reset
from tests.emulators.process import paused
from tests.webhook.test_oidc import INVOKER, Key, mint
from zenjobs import BackoffPolicy, JobContext, JobType, ZenJobs
from zenjobs.gcp.oidc import OidcVerifier
from zenjobs.ops import sync
from zenjobs.queues.cloud_tasks import CloudTasksQueue
from zenjobs.runtime.envelope import slot_execution_id, task_name
from zenjobs.runtime.executor import ZenJobsExecutor
from zenjobs.runtime.reconcile import RECOVERY_SLACK
from zenjobs.stores.firestore.store import FirestoreJobStore
from zenjobs.stores.records import RunStatus
from zenjobs.testing import MemoryTelemetry, VirtualClock

from .conftest import Served, serve_executor
from .support import eventually
from .test_production_emulators import LOCATION, RecordingTasksClient, emulator_client, post_tick

START = datetime(2026, 1, 5, 8, 59, 30, tzinfo=timezone.utc)
SLOT = START + timedelta(seconds=30)  # the hourly light job's first slot, 09:00
QUEUE = "zenjobs-light"
CALL_TIMEOUT = 5.0


@pytest.fixture
def own_tasks_emulator() -> Iterator[RunningTasksEmulator]:
    emulator = start_tasks_emulator(reuse_env=False)
    try:
        yield emulator
    finally:
        emulator.stop()


@dataclass
class Outage:
    served: Served
    store: FirestoreJobStore  # the test's own view of the same Firestore project
    tasks: RecordingTasksClient
    telemetry: MemoryTelemetry
    clock: VirtualClock
    attempts: Counter[int]
    token: str
    frozen: contextlib.ExitStack  # holds the pause the handler started; close() thaws


@pytest.fixture
async def outage(firestore_emulator: str, own_tasks_emulator: RunningTasksEmulator,
                 certs_url: str, oidc_key: Key) -> AsyncIterator[Outage]:
    assert own_tasks_emulator.pid is not None
    project = f"zj-outage-{uuid.uuid4().hex[:10]}"
    admin = emulator_client(own_tasks_emulator.host)
    parent = f"projects/{project}/locations/{LOCATION}"
    await admin.create_queue(parent=parent, queue=tasks_v2.Queue(name=f"{parent}/queues/{QUEUE}"))
    await admin.transport.close()

    attempts: Counter[int] = Counter()
    frozen = contextlib.ExitStack()
    jobs = ZenJobs()

    @jobs.job("fragile", type=JobType.PERIODIC, interval=timedelta(hours=1), max_retries=2,
              backoff=BackoffPolicy(initial=timedelta(seconds=5)))
    async def fragile(ctx: JobContext) -> None:
        attempts[ctx.attempt] += 1
        if ctx.attempt == 1:  # Cloud Tasks goes down mid-tick, just before the retry is sent
            frozen.enter_context(paused(own_tasks_emulator.pid))  # type: ignore[arg-type]
            raise RuntimeError("upstream hiccup")

    clock, telemetry = VirtualClock(START), MemoryTelemetry()
    tasks = RecordingTasksClient(own_tasks_emulator.host)
    tokens: list[str] = []

    def build(base_url: str) -> ZenJobsExecutor:
        token = mint(oidc_key, aud=base_url)  # what Cloud Tasks would sign for the invoker
        tokens.append(token)
        # One try per send, with a ceiling far above a healthy local create: the frozen
        # emulator costs the tick 5 s, and a slow machine never turns a create that
        # landed into a timeout (the emulator ignores task names, so a retried create
        # would make a second task).
        queue = CloudTasksQueue(project, LOCATION, invoker_service_account=INVOKER,
                                audience=base_url, client=tasks, max_attempts=1,
                                call_timeout=CALL_TIMEOUT,
                                extra_headers={"Authorization": f"Bearer {token}"})
        return ZenJobsExecutor.production(
            jobs, project=project, location=LOCATION, service_url=base_url,
            invoker_service_account=INVOKER, store=FirestoreJobStore(project, rpc_timeout=10),
            queue=queue, verifier=OidcVerifier(base_url, [INVOKER], certs_url=certs_url),
            clock=clock, telemetry=telemetry, loop_lag_threshold=None, environ={})

    store = FirestoreJobStore(project, rpc_timeout=10)
    try:
        with frozen, serve_executor(build) as served:  # thawed on the way out, whatever happens
            await sync(jobs, store, clock.now())  # `zenjobs sync` before the first tick
            try:
                yield Outage(served, store, tasks, telemetry, clock, attempts, tokens[0],
                             frozen)
            finally:
                if served.app.loop is not None:
                    await served.on_server(served.executor.shutdown())
                    await served.on_server(tasks.close())
    finally:
        await store.close()
        reset(firestore_emulator, project)


async def test_cloud_tasks_frozen_during_a_tick_then_back_the_run_completes_exactly_once(
        outage: Outage) -> None:
    store, served, clock = outage.store, outage.served, outage.clock
    execution_id = slot_execution_id("fragile", SLOT)
    retry_name = task_name(execution_id, 2)

    def names() -> list[str]:
        return [r.task.name.rsplit("/", 1)[1] for r in outage.tasks.requests]

    async with httpx.AsyncClient(base_url=served.base_url, trust_env=False, timeout=60) as http:
        clock.set(SLOT)
        summary = await post_tick(http, SLOT, outage.token)  # freezes Cloud Tasks mid-tick
        assert (summary["claimed"], summary["failed"], summary["recovered"]) == (1, 1, 0)
        stuck = await store.get_run("fragile", execution_id)
        assert stuck is not None and stuck.status is RunStatus.RETRY_SCHEDULED
        assert stuck.attempt == 2 and stuck.next_attempt_at is not None
        assert names() == [retry_name]  # the send timed out: no task exists
        outage.telemetry.assert_emitted("master.run_error", execution_id=execution_id)

        # Cloud Tasks is back. The next tick is too early (the retry is not overdue yet);
        # the one after it sends the retry.
        outage.frozen.close()  # SIGCONT
        summary = await post_tick(http, clock.set(SLOT + RECOVERY_SLACK), outage.token)
        assert summary["recovered"] == 0 and names() == [retry_name]
        summary = await post_tick(http, clock.set(SLOT + 2 * RECOVERY_SLACK), outage.token)
        assert summary["recovered"] == 1
        assert names() == [retry_name, retry_name]

        async def succeeded() -> bool:
            run = await store.get_run("fragile", execution_id)
            return run is not None and run.status is RunStatus.SUCCESS

        await eventually(succeeded, "the recovered retry to be delivered by the emulator")
        event = outage.telemetry.assert_emitted("run.recovered", execution_id=execution_id)
        assert (event.fields["attempt"], event.fields["status"], event.fields["outcome"]) == (
            2, "retry_scheduled", "created")

        # Later ticks find nothing to send: the finished run left the index.
        for minutes in (10, 20):
            summary = await post_tick(http, clock.set(SLOT + timedelta(minutes=minutes)),
                                      outage.token)
            assert (summary["claimed"], summary["recovered"]) == (0, 0)

    run = await store.get_run("fragile", execution_id)
    assert run is not None and (run.status, run.attempt) == (RunStatus.SUCCESS, 2)
    assert outage.attempts == Counter({1: 1, 2: 1})  # each attempt ran exactly once
    assert names() == [retry_name] * 2
    assert len(outage.telemetry.of("run.recovered")) == 1
    assert len(outage.telemetry.of("job.succeeded", execution_id=execution_id)) == 1
