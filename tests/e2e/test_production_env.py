"""``ZenJobsExecutor.production`` configured only by the environment, against local emulators.

``CLOUD_TASKS_EMULATOR_HOST`` in the environment mapping production reads sends
its Cloud Tasks queue to the emulator (plain gRPC on 127.0.0.1), so a service
deployed with production settings can be run locally without Google. The store
is injected here: Firestore's own client honours ``FIRESTORE_EMULATOR_HOST``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import grpc  # type: ignore[import-untyped]
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcAsyncIOTransport

from tests.emulators.cloud_tasks import RunningTasksEmulator
from tests.emulators.process import free_port
from tests.webhook.test_oidc import INVOKER
from zenjobs import ZenJobs
from zenjobs.queues.protocol import EnqueueOutcome, HttpTask
from zenjobs.runtime.executor import TASKS_EMULATOR_ENV, ZenJobsExecutor
from zenjobs.stores.memory import MemoryJobStore

LOCATION = "europe-west1"
QUEUE = "zenjobs-light"


def emulator_client(host: str) -> Any:
    """The test's own client, to create the queue and list what was enqueued."""
    channel = grpc.aio.insecure_channel(host, options=[("grpc.enable_http_proxy", 0)])
    return tasks_v2.CloudTasksAsyncClient(transport=CloudTasksGrpcAsyncIOTransport(channel=channel))


async def test_production_enqueues_on_the_tasks_emulator_named_by_the_environment(
        tasks_emulator: RunningTasksEmulator) -> None:
    project = f"zj-env-{uuid.uuid4().hex[:10]}"  # own project: own queue and tasks
    parent = f"projects/{project}/locations/{LOCATION}"
    admin = emulator_client(tasks_emulator.host)
    try:
        await admin.create_queue(parent=parent,
                                 queue=tasks_v2.Queue(name=f"{parent}/queues/{QUEUE}"))
        environ = {"GOOGLE_CLOUD_PROJECT": project, "ZENJOBS_LOCATION": LOCATION,
                   "ZENJOBS_SERVICE_URL": "https://svc.example",
                   "ZENJOBS_INVOKER_SA": INVOKER, TASKS_EMULATOR_ENV: tasks_emulator.host}
        executor = ZenJobsExecutor.production(ZenJobs(), environ=environ,
                                              store=MemoryJobStore(), loop_lag_threshold=None)
        # Due tomorrow, at a closed loopback port: the emulator never pushes it anywhere.
        task = HttpTask(queue=QUEUE, name="env-task-1", body=b"{}",
                        url=f"http://127.0.0.1:{free_port()}/_zenjobs/run/nothing",
                        schedule_time=datetime.now(timezone.utc) + timedelta(days=1))
        try:
            assert await executor.queue.enqueue(task) is EnqueueOutcome.CREATED
        finally:
            await executor.shutdown()
        listed = await admin.list_tasks(parent=f"{parent}/queues/{QUEUE}")
        assert [t.name.rsplit("/", 1)[-1] async for t in listed] == ["env-task-1"]
    finally:
        await admin.transport.close()
