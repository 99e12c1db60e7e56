"""The words a job is declared in: its type, weight, retry and rate policies, id rules.

These are the small value types and constants that a :class:`~zenjobs.descriptor.JobDescriptor`
is built from. They live apart from the descriptor so that the schedule math
and the validation rules can use them without importing the descriptor, which
itself runs those rules when it is built.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

#: A job id: every store can hold it as a key (a valid Firestore document id). The id
#: patterns end in ``\Z``, not ``$``, which would also match before a final newline.
JOB_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,62}\Z")
#: An execution id: what every store can hold as a key (Firestore refuses ``/``, ``.``,
#: ``..`` and ``__x__`` ids) and what fits a Cloud Tasks task name with its hash prefix
#: and attempt suffix. Every id zenjobs makes matches it; the webhook refuses others.
EXECUTION_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,199}\Z")
#: The longest idempotency key (any UTF-8 text: it is hashed into the execution id).
MAX_IDEMPOTENCY_KEY_CHARS = 1024
#: Attempt numbers a run can reach (retries and replays included).
MAX_ATTEMPT = 1_000_000
#: The instants a task or a tick may name: from the Unix epoch to the end of year 2999,
#: far from ``datetime``'s own limits, so no arithmetic on them can overflow.
EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST_INSTANT = datetime(2999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
#: How deeply a payload may nest arrays and objects (a JSON document, not a data store).
MAX_PAYLOAD_DEPTH = 64
QUEUE_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,62}$")

#: Prefix of the per-weight default queues.
QUEUE_PREFIX = "zenjobs"

#: The id of the one master job that Cloud Scheduler triggers every minute.
MASTER_JOB_ID = "zen_master_scheduler"

#: A delivery's lease on a run lasts the job's ``timeout`` plus this grace, so a
#: crashed holder's run is taken over once it has expired. gen-infra sizes each
#: queue's backstop retries to outlast it, so the runtime and the plan share it.
DEFAULT_LEASE_GRACE = timedelta(seconds=30)
#: The longest periodic interval: a year and a day (longer ones are a cron's job).
MAX_INTERVAL = timedelta(days=366)

#: Exception classes a handler may raise to stop retrying (the field's type).
ErrorTypes = tuple[type[BaseException], ...]


class JobType(str, enum.Enum):
    """How a job is triggered."""

    ENDPOINT = "endpoint"
    """On demand, through ``executor.schedule(...)`` and Cloud Tasks."""
    SCHEDULED = "scheduled"
    """On a cron expression, evaluated in the job's time zone."""
    PERIODIC = "periodic"
    """Every ``interval``, on a fixed grid anchored on ``start_at`` or the epoch."""


class Weight(str, enum.Enum):
    """Where a run executes, chosen by how much it costs the event loop."""

    LIGHT = "light"
    """Async, quick: runs inside the master tick (or its own task for endpoint jobs)."""
    MEDIUM = "medium"
    """Async, longer: always runs as its own Cloud Task."""
    HEAVY = "heavy"
    """CPU-bound or blocking: its own queue, run in a separate process."""


@dataclass(frozen=True)
class BackoffPolicy:
    """Exponential backoff between attempts: ``initial * multiplier**(n-1)``, capped.

    ``jitter`` is a fraction (0.1 = up to ±10 %) applied deterministically from
    the execution id, so a test sees the same delays on every run.
    """

    initial: timedelta = timedelta(seconds=10)
    maximum: timedelta = timedelta(minutes=10)
    multiplier: float = 2.0
    jitter: float = 0.1


@dataclass(frozen=True)
class RateLimit:
    """Cloud Tasks queue limits a job asks for; the strictest wins per queue."""

    max_dispatches_per_second: float | None = None
    max_concurrent_dispatches: int | None = None


class DstGap(str, enum.Enum):
    """What a cron job does with a wall-clock time that does not exist (spring forward)."""

    SHIFT = "shift"
    """Fire once at the end of the gap, the transition itself (the default)."""
    SKIP = "skip"
    """Do not fire: that wall time never happens that day."""


class DstFold(str, enum.Enum):
    """What a cron job does with a wall-clock time that occurs twice (fall back)."""

    FIRST = "first"
    """Fire at the first occurrence only (the default)."""
    SECOND = "second"
    """Fire at the second (later) occurrence only."""
    BOTH = "both"
    """Fire at both occurrences, two distinct instants, in order."""


def _dst_member(kind: type[enum.Enum], value: Any) -> Any:
    """``value`` as a member of ``kind`` when it names one, else ``value`` unchanged."""
    if isinstance(value, kind):
        return value
    raw = value.value if isinstance(value, enum.Enum) else value
    if isinstance(raw, str):
        try:
            return kind(raw)
        except ValueError:
            pass
    return value


@dataclass(frozen=True)
class DstPolicy:
    """How a cron job's wall-clock times are mapped across daylight-saving transitions.

    ``gap`` and ``fold`` take the strings above or any enum whose values are
    those strings; they are stored as :class:`DstGap` / :class:`DstFold`. A
    value that is neither is kept as given and refused when the job is declared,
    with a message naming the job and the field ``dst`` (docs/validation.md).
    ``DstPolicy()`` is the rule of every cron job that declares none.
    """

    gap: DstGap | str = DstGap.SHIFT
    fold: DstFold | str = DstFold.FIRST

    def __post_init__(self) -> None:
        object.__setattr__(self, "gap", _dst_member(DstGap, self.gap))
        object.__setattr__(self, "fold", _dst_member(DstFold, self.fold))

    @property
    def is_default(self) -> bool:
        """True for the rule zenjobs applies when a cron job declares no ``dst``."""
        return self.gap is DstGap.SHIFT and self.fold is DstFold.FIRST

    def to_dict(self) -> dict[str, str]:
        """``{"gap": "shift", "fold": "first"}``: the JSON form (``zenjobs next --json``)."""
        return {"gap": _text(self.gap), "fold": _text(self.fold)}

    def __str__(self) -> str:
        return f"gap={_text(self.gap)}, fold={_text(self.fold)}"


def _text(value: object) -> str:
    return value.value if isinstance(value, (DstGap, DstFold)) else repr(value)


#: The DST rule of a cron job that declares none (docs/scheduling.md).
DEFAULT_DST = DstPolicy()
