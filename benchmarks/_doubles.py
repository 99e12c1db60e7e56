"""Collaborators the benchmarks share: a no-op handler, a silent sink, an unused queue."""

from __future__ import annotations

from zenjobs import JobContext
from zenjobs.backends.base import EnqueueOutcome, HttpTask, TelemetryEvent


async def noop(ctx: JobContext) -> None:
    return None


class NullTelemetry:
    def emit(self, event: TelemetryEvent) -> None:
        return None


class NoQueue:
    """The measured jobs never fail and run in place, so an enqueue is a benchmark bug."""

    async def enqueue(self, task: HttpTask) -> EnqueueOutcome:
        raise RuntimeError(f"unexpected enqueue of {task.name}")
