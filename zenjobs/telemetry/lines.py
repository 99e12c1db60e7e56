"""What a ``zenjobs dev`` console line is made of: options, line records and text helpers.

Pure and shared by :mod:`.digest` (which lines to print) and :mod:`.console`
(how to print them), so a duration, a clock time or a tick's counts read the
same in both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from .protocol import TelemetryEvent

Kind = Literal["run", "tick", "event", "log"]
Tone = Literal["plain", "good", "warn", "bad", "skip", "dim"]

TIMES = "\N{MULTIPLICATION SIGN}"  # "dead x12"
#: ``--status`` words beyond the run statuses: any failed attempt, any skip.
FAILED_STATUSES = frozenset({"retry_scheduled", "failure", "dead"})
STATUS_ALIASES = ("failed", "skipped")
#: What ``--quiet`` keeps of the run lines.
QUIET_STATUSES = frozenset({"failure", "dead"})
TICK_FIELDS = ("due", "claimed", "ran", "enqueued", "skipped", "failed", "recovered")
#: Outcome events: they end a run's attempt (and its log capture).
OUTCOMES = frozenset({"job.succeeded", "job.failed", "job.skipped", "job.lease_lost"})
#: Log lines kept per attempt while waiting for its outcome; the rest are counted.
MAX_BUFFERED_LOG_LINES = 50
#: Runs remembered (started, not finished yet; and finished recently).
MAX_RUNS = 1000


@dataclass(frozen=True)
class ConsoleOptions:
    """How the ``zenjobs dev`` console reads; see ``docs/dev.md``."""

    verbose: bool = False  # every event line, log lines as they come
    quiet: bool = False  # only final failures and runtime problems
    jobs: frozenset[str] = frozenset()  # only these jobs (empty: all)
    statuses: frozenset[str] = frozenset()  # only run lines with these statuses (empty: all)
    speed: float = 1.0  # simulated seconds per real second (``--speed``)
    color: bool | None = None  # None: on a TTY, unless NO_COLOR is set
    collapse_window: float = 30.0  # real seconds before the first line about a repeat
    max_collapse_window: float = 600.0  # the window doubles after each such line, up to this
    ticks_per_summary: int = 60  # one tick summary per this many ticks (an hour)
    live_after: float = 5.0  # real seconds before a running run's log lines print at once


@dataclass(frozen=True)
class RunKey:
    """The attempt a log record belongs to."""

    job_id: str
    execution_id: str
    attempt: int | None = None


@dataclass(frozen=True)
class Line:
    """One thing to print. ``event`` lines print :func:`format_event` of ``event``."""

    kind: Kind
    at: datetime | None = None  # simulated UTC time shown first (None: a log line)
    job: str | None = None
    label: str = ""  # the status column
    detail: str = ""
    execution_id: str | None = None
    tone: Tone = "plain"
    event: TelemetryEvent | None = None
    level: int = 0  # log lines: the record's level number


def status_matches(status: str, selected: Iterable[str]) -> bool:
    """Whether run ``status`` is one ``--status`` asked for (with the aliases)."""
    chosen = set(selected)
    return (status in chosen
            or ("failed" in chosen and status in FAILED_STATUSES)
            or ("skipped" in chosen and status.startswith("skipped_")))


def signature(error: Any) -> str:
    """What makes two errors "the same": the text with every number masked."""
    return re.sub(r"\d+", "#", " ".join(str(error or "").split()))


def ms_text(ms: float) -> str:
    if ms >= 3_600_000:
        return f"{ms / 3_600_000:.1f}h"
    if ms >= 120_000:
        return f"{ms / 60_000:.0f}min"
    if ms >= 1000:
        return f"{ms / 1000:.1f}s"
    if ms >= 10 or ms == int(ms):
        return f"{ms:.0f}ms"
    return f"{ms:.1f}ms"


def span(simulated_ms: Any, speed: float) -> str | None:
    """A duration in real time; the simulated one apart when time runs faster."""
    if not isinstance(simulated_ms, (int, float)) or isinstance(simulated_ms, bool):
        return None
    if speed == 1:
        return ms_text(simulated_ms)
    return f"{ms_text(simulated_ms / speed)} (sim {ms_text(simulated_ms)})"


def clock(instant: Any) -> str:
    if isinstance(instant, datetime):
        if instant.tzinfo is not None:
            instant = instant.astimezone(timezone.utc)
        return f"{instant:%H:%M:%S}"
    return str(instant)


def one_line(value: Any, limit: int = 300) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def tick_counts(counts: Mapping[str, int]) -> str:
    return " ".join(f"{key}={counts[key]}" for key in TICK_FIELDS)


def joined(parts: Iterable[str | None]) -> str:
    return " ".join(part for part in parts if part)


def text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def int_or_zero(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
