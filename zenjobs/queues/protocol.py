"""The task-queue seam: enqueue one HTTP task, named so a duplicate is refused.

Implementations sit beside it: :mod:`.simulated` (Cloud Tasks' behaviour in
process, for tests and ``zenjobs dev``) and :mod:`.cloud_tasks` (production).
Both check tasks against the same limits (:mod:`.limits`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class HttpTask:
    """One Cloud Tasks HTTP task, as the runtime asks for it."""

    queue: str
    name: str  # deterministic, derived from execution id and attempt
    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    schedule_time: datetime | None = None


class EnqueueOutcome(str, enum.Enum):
    CREATED = "created"
    ALREADY_EXISTS = "already_exists"  # a task with this name exists: already scheduled


@runtime_checkable
class TaskQueue(Protocol):
    async def enqueue(self, task: HttpTask) -> EnqueueOutcome: ...
