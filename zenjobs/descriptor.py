"""Job descriptors: inert metadata about a job, separate from its handler.

A :class:`JobDescriptor` says *what* a job is and *when* it runs; it never runs
anything. Constructing one checks the rules that concern that job alone (id
format, cron syntax, time zone, interval granularity, ...) and raises a
:class:`~zenjobs.errors.DefinitionError` naming the job and the field.
Cross-job rules (dependencies, handlers) are checked by the registry.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from .errors import DefinitionError
from .validation import check_descriptor
from .vocabulary import (
    QUEUE_PREFIX,
    BackoffPolicy,
    DstPolicy,
    ErrorTypes,
    JobType,
    RateLimit,
    Weight,
)


def _fail(job_id: str, field_name: str, message: str) -> DefinitionError:
    return DefinitionError(job_id, field_name, message)


@dataclass(frozen=True)
class JobDescriptor:
    """Everything zenjobs needs to know about a job, and nothing executable.

    Collections given as lists are stored as tuples/frozensets so a descriptor
    is hashable and can never be mutated after validation.
    """

    id: str
    type: JobType
    cron: str | None = None
    interval: timedelta | None = None
    timezone: str = "UTC"
    max_retries: int = 3
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    timeout: timedelta = timedelta(minutes=5)
    weight: Weight = Weight.LIGHT
    queue: str | None = None
    rate_limit: RateLimit | None = None
    dependencies: tuple[str, ...] = ()
    start_at: datetime | None = None
    end_at: date | None = None
    skip_dates: frozenset[date] = frozenset()
    enabled: bool = True
    description: str = ""
    permanent_errors: ErrorTypes = ()
    priority: int = 0
    dst: DstPolicy | None = None
    """How a cron job's wall times map across DST transitions; None: ``DstPolicy()``."""
    jitter: timedelta | None = None
    """Every slot later by a fixed offset in ``[0, jitter)`` derived from the id."""
    pause_after_dead: int | None = None
    """Disable the job after this many consecutive ``dead`` runs; None: never."""

    def __post_init__(self) -> None:
        # Normalise friendly inputs (lists, strings) before checking anything.
        set_ = object.__setattr__
        job = self.id if isinstance(self.id, str) else repr(self.id)
        if isinstance(self.type, str) and not isinstance(self.type, JobType):
            set_(self, "type", _enum(JobType, self.type, job, "type"))
        if isinstance(self.weight, str) and not isinstance(self.weight, Weight):
            set_(self, "weight", _enum(Weight, self.weight, job, "weight"))
        set_(self, "dependencies", tuple(_iterable(self.dependencies, job, "dependencies")))
        set_(self, "skip_dates", frozenset(_iterable(self.skip_dates, job, "skip_dates")))
        set_(
            self,
            "permanent_errors",
            tuple(_iterable(self.permanent_errors, job, "permanent_errors")),
        )
        check_descriptor(self)

    @property
    def is_recurring(self) -> bool:
        """True for jobs the master tick fires (scheduled and periodic)."""
        return self.type is not JobType.ENDPOINT

    @property
    def queue_id(self) -> str:
        """The Cloud Tasks queue this job's tasks go to.

        ``queue`` when the descriptor names one, else one queue per weight class
        (``zenjobs-light``, ``zenjobs-medium``, ``zenjobs-heavy``). gen-infra and
        the runtime both call this, so they can never disagree.
        """
        return self.queue or f"{QUEUE_PREFIX}-{self.weight.value}"

    @property
    def schedule_text(self) -> str:
        """A short human description of when the job fires."""
        if self.type is JobType.SCHEDULED:
            return f"cron {self.cron!r}"
        if self.type is JobType.PERIODIC and self.interval is not None:
            return f"every {format_interval(self.interval)}"
        return "on demand"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view for ``zenjobs list --json`` and for stores."""
        return {
            "id": self.id,
            "type": self.type.value,
            "cron": self.cron,
            "interval_seconds": (
                int(self.interval.total_seconds()) if self.interval is not None else None
            ),
            "timezone": self.timezone,
            "weight": self.weight.value,
            "queue": self.queue,
            "max_retries": self.max_retries,
            "timeout_seconds": self.timeout.total_seconds(),
            "dependencies": list(self.dependencies),
            "start_at": self.start_at.isoformat() if self.start_at else None,
            "end_at": self.end_at.isoformat() if self.end_at else None,
            "skip_dates": sorted(d.isoformat() for d in self.skip_dates),
            "enabled": self.enabled,
            "priority": self.priority,
            "description": self.description,
            "dst": self.dst.to_dict() if self.dst is not None else None,
            "jitter_seconds": (
                int(self.jitter.total_seconds()) if self.jitter is not None else None
            ),
            "pause_after_dead": self.pause_after_dead,
        }


def format_interval(interval: timedelta) -> str:
    """``timedelta(minutes=90)`` → ``"90m"``; ``timedelta(hours=1)`` → ``"1h"``."""
    minutes = int(interval.total_seconds() // 60)
    if minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def _enum(kind: type[enum.Enum], value: str, job_id: str, field_name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in kind)
        raise _fail(job_id, field_name, f"{value!r} is not one of {allowed}") from None


def _iterable(value: Any, job_id: str, field_name: str) -> Iterable[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise _fail(job_id, field_name, f"expected a list, got {type(value).__name__}")
    return value
