"""Collaborators the benchmarks share: a no-op handler, a silent sink, an unused queue."""

from __future__ import annotations

from zenjobs import JobContext
from zenjobs.queues.protocol import EnqueueOutcome, HttpTask
from zenjobs.telemetry.protocol import TelemetryEvent


async def noop(ctx: JobContext) -> None:
    return None


class NullTelemetry:
    def emit(self, event: TelemetryEvent) -> None:
        return None


class NoQueue:
    """The measured jobs never fail and run in place, so an enqueue is a benchmark bug."""

    async def enqueue(self, task: HttpTask) -> EnqueueOutcome:
        raise RuntimeError(f"unexpected enqueue of {task.name}")
