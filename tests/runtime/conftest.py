"""Shared fixtures for runtime tests: stores (memory and SQLite), a recording queue, an engine."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from zenjobs import ZenJobs
from zenjobs.queues.protocol import EnqueueOutcome, HttpTask
from zenjobs.runtime.engine import JobEngine
from zenjobs.runtime.envelope import Envelope, decode_envelope
from zenjobs.runtime.protocol import DeliveryOutcome
from zenjobs.stores.memory import MemoryJobStore
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.sqlite.store import SqliteJobStore
from zenjobs.testing import MemoryTelemetry, VirtualClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SERVICE = "https://svc.example"


class RecordingQueue:
    """A TaskQueue that keeps tasks (deduplicating names) for the test to deliver by hand."""

    def __init__(self) -> None:
        self.tasks: list[HttpTask] = []
        self._names: set[tuple[str, str]] = set()
        self.fail_with: Exception | None = None

    async def enqueue(self, task: HttpTask) -> EnqueueOutcome:
        if self.fail_with is not None:
            raise self.fail_with
        key = (task.queue, task.name)
        if key in self._names:
            return EnqueueOutcome.ALREADY_EXISTS
        self._names.add(key)
        self.tasks.append(task)
        return EnqueueOutcome.CREATED

    def pop(self) -> HttpTask:
        return self.tasks.pop(0)

    def envelopes(self) -> list[Envelope]:
        return [decode_envelope(t.body, t.url.rsplit("/", 1)[1]) for t in self.tasks]


async def deliver(engine: JobEngine, task: HttpTask) -> DeliveryOutcome:
    """Deliver ``task`` to ``engine`` the way the webhook would."""
    job_id = task.url.rsplit("/", 1)[1]
    return await engine.deliver(job_id, task.body, {"content-type": "application/json"})


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    s: Any = MemoryJobStore() if request.param == "memory" else SqliteJobStore(
        tmp_path / "jobs.sqlite3")
    yield s
    s.close()


@pytest.fixture
def memory_store() -> MemoryJobStore:
    return MemoryJobStore()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


@pytest.fixture
def telemetry() -> MemoryTelemetry:
    return MemoryTelemetry()


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


def counter_ids() -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"id{next(numbers)}"


EngineFactory = Callable[..., JobEngine]


@pytest.fixture
def make_engine(store: JobStore, queue: RecordingQueue, clock: VirtualClock,
                telemetry: MemoryTelemetry) -> EngineFactory:
    def build(jobs: ZenJobs, **kwargs: Any) -> JobEngine:
        options: dict[str, Any] = {"service_url": SERVICE, "id_source": counter_ids()}
        options.update(kwargs)
        return JobEngine(jobs, kwargs.pop("store", store), queue, clock, telemetry,
                         **{k: v for k, v in options.items() if k != "store"})
    return build

