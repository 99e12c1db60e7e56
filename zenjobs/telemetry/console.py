"""Human-readable telemetry for ``zenjobs dev``: run outcomes, with what the handlers logged.

Production logs are JSON for Cloud Logging
(:class:`~zenjobs.telemetry.cloud_logging.LogTelemetrySink`); a developer
watching a terminal wants to see how each run ended instead. By default
(:mod:`zenjobs.telemetry.digest` decides what is worth a line)::

    05:58:31 send_welcome_email    success          0.6ms (sim 37ms) trigger=endpoint  exec=...
             | INFO newsletter: welcome email sent to demo-subscriber (execution ...)
    05:59:05 sync_analytics        retry_scheduled  attempt=1 ... next retry in ...: Flaky...
    05:59:20 sync_analytics        dead             attempt=3 ...: FlakyProviderError: ...

(a job's later failures with the same error are counted and summed up in one
line, ticks are summed up every hour). With ``verbose``, every event prints
its :func:`format_event` line instead, one aligned line per event::

    12:01:00 job.started          sync_analytics        exec=... attempt=1 trigger=schedule
    12:01:00 job.retry_scheduled  sync_analytics        exec=... next_attempt=2 in 5.4s (at ...)

Times are the event's (simulated, with ``--speed``) UTC time; a line with
the date is printed whenever the day changes. The field names are the same as
in the JSON logs, so what you grep for here you filter on in Cloud Logging.

Handler log lines: :func:`capturing_run_logs` installs a :class:`RunLogHandler`
on the root logger that takes the records emitted while a run's handler runs
and hands them to the sink, which prints them under the run's outcome line.
A record belongs to the run in :func:`current_run`, a context variable the
sink itself sets when it receives ``job.started``: the runtime emits that event
synchronously in the task that then starts the handler, and asyncio copies the
context into the handler's task (and ``asyncio.to_thread`` into its thread), so
records of concurrent runs never mix. :func:`run_context` sets it explicitly
(a runtime that sets it around the handler makes the capture independent of
which sink is installed).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from datetime import date, timezone
from typing import Any, TextIO

from .digest import Digest
from .format import jsonable
from .lines import TICK_FIELDS, TIMES, ConsoleOptions, Line, RunKey, Tone, clock
from .protocol import TelemetryEvent

#: Fields a line shows in its fixed part (or leaves out), so they are not repeated after it.
_SHOWN = frozenset({"job_id", "execution_id", "attempt", "trigger", "duration_ms", "status",
                    "final", "error", "next_attempt", "next_attempt_at", "delay_ms",
                    "scheduled_for", "taken_over", "reason",
                    "traceback"})  # the dashboard and Cloud Logging show it; a console line won't
NAME_WIDTH = 20
JOB_WIDTH = 21
MAX_VALUE_CHARS = 300


def _value(value: Any) -> str:
    text = str(jsonable(value))
    text = " ".join(text.split())  # one event, one line: no newlines from error messages
    if len(text) > MAX_VALUE_CHARS:
        text = text[:MAX_VALUE_CHARS - 3] + "..."
    return text


def _duration(ms: Any) -> str | None:
    if not isinstance(ms, (int, float)) or isinstance(ms, bool):
        return None
    return f"{ms / 1000:.1f}s" if ms >= 1000 else f"{int(ms)}ms"


def _job_parts(fields: Mapping[str, Any], name: str) -> list[str]:
    parts: list[str] = []
    if fields.get("execution_id") is not None:
        parts.append(f"exec={_value(fields['execution_id'])}")
    if name == "job.retry_scheduled":
        if fields.get("next_attempt") is not None:
            parts.append(f"next_attempt={_value(fields['next_attempt'])}")
        delay = _duration(fields.get("delay_ms"))
        if delay is not None:
            parts.append(f"in {delay}")
        if fields.get("next_attempt_at") is not None:
            parts.append(f"(at {clock(fields['next_attempt_at'])})")
        return parts
    if fields.get("attempt") is not None:
        parts.append(f"attempt={_value(fields['attempt'])}")
    if name == "job.started":
        if fields.get("trigger") is not None:
            parts.append(f"trigger={_value(fields['trigger'])}")
        if fields.get("taken_over"):
            parts.append("taken_over=true")
    took = _duration(fields.get("duration_ms"))
    if took is not None and name != "job.skipped":
        parts.append(took)
    if name in ("job.failed", "job.skipped") and fields.get("status") is not None:
        parts.append(f"status={_value(fields['status'])}")
    if "final" in fields:
        parts.append(f"final={'true' if fields['final'] else 'false'}")
    for key in ("reason", "error"):
        if fields.get(key) is not None:
            parts.append(f"{key}={_value(fields[key])}")
    return parts


def format_event(event: TelemetryEvent) -> str:
    """The one line ``zenjobs dev`` prints for ``event`` (no trailing newline)."""
    fields = event.fields
    head = f"{clock(event.timestamp)} {event.name:<{NAME_WIDTH}}"
    parts: list[str]
    if event.name == "master.tick":
        parts = [f"{key}={_value(fields[key])}" for key in TICK_FIELDS if key in fields]
        return " ".join([head, *parts])
    parts = _job_parts(fields, event.name)
    parts += [f"{key}={_value(value)}" for key, value in fields.items()
              if key not in _SHOWN and value is not None and not key.startswith("_")]
    job = fields.get("job_id")
    if isinstance(job, str):
        head = f"{head} {job:<{JOB_WIDTH}}"
    return " ".join([head, *parts]) if parts else head.rstrip()


# -- which run is running here ------------------------------------------------------------

_RUN: ContextVar[RunKey | None] = ContextVar("zenjobs_console_run", default=None)
_capturing = 0  # RunLogHandlers installed (the in-run filter only drops what one takes)


def current_run() -> RunKey | None:
    """The run whose handler is running in this context, if the console knows it."""
    return _RUN.get()


@contextlib.contextmanager
def run_context(job_id: str, execution_id: str, attempt: int | None = None) -> Iterator[RunKey]:
    """Attribute the log records emitted inside the block to this run."""
    key = RunKey(job_id, execution_id, attempt)
    token = _RUN.set(key)
    try:
        yield key
    finally:
        _RUN.reset(token)


class RunLogHandler(logging.Handler):
    """Hands the records emitted inside a run (:func:`current_run`) to the console sink."""

    def __init__(self, sink: ConsoleTelemetrySink, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        run = _RUN.get()
        if run is None:
            return
        try:
            self.sink.log_record(run, record)
        except Exception:
            self.handleError(record)


class OutsideRuns(logging.Filter):
    """For the other handlers: drop the records a :class:`RunLogHandler` shows under a run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_capturing and _RUN.get() is not None and record.levelno >= logging.INFO)


@contextlib.contextmanager
def capturing_run_logs(sink: ConsoleTelemetrySink,
                       level: int = logging.INFO) -> Iterator[RunLogHandler]:
    """Show the records of ``level`` and above emitted inside runs under them, for the block.

    The handler goes on the root logger; records still have to pass their
    loggers' levels (``zenjobs dev`` sets the root logger to INFO and its stderr
    handler to WARNING, with :class:`OutsideRuns`).
    """
    global _capturing
    handler = RunLogHandler(sink, level)
    root = logging.getLogger()
    root.addHandler(handler)
    _capturing += 1
    try:
        yield handler
    finally:
        _capturing -= 1
        root.removeHandler(handler)


MAX_RECORD_LINES = 20


def record_lines(record: logging.LogRecord) -> list[str]:
    """``LEVEL logger: message``, then the message's further lines and any traceback."""
    text = record.getMessage()
    if record.exc_info:
        text += "\n" + logging.Formatter().formatException(record.exc_info)
    elif record.exc_text:
        text += "\n" + record.exc_text
    lines = text.rstrip().splitlines() or [""]
    lines[0] = f"{record.levelname} {record.name}: {lines[0]}"
    if len(lines) > MAX_RECORD_LINES:
        more = len(lines) - MAX_RECORD_LINES
        lines = [*lines[:MAX_RECORD_LINES], f"... {more} more line(s)"]
    return lines


# -- writing ------------------------------------------------------------------------------

_COLORS: dict[Tone, str] = {"good": "32", "warn": "33", "bad": "1;31", "skip": "36", "dim": "2"}
LABEL_WIDTH = 16


def color_wanted(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Colour on a terminal only, and never when ``NO_COLOR`` is set (https://no-color.org)."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):
        return False


def _unicode_ok(stream: TextIO) -> bool:
    encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "")
    return encoding.startswith("utf")


class ConsoleTelemetrySink:
    """Writes what the console shows (:class:`~zenjobs.telemetry.digest.Digest`) to a stream.

    ``stream`` defaults to stdout; ``options`` to the readable default (see
    :mod:`zenjobs.telemetry.digest`); ``monotonic`` is the real clock the
    digest's windows use (injectable for tests). Thread-safe (the loop-lag
    watchdog emits from a thread, handlers may log from threads); each batch of
    lines is flushed so the output interleaves correctly with other writers.
    Call :meth:`close` at exit for the counts not printed yet.
    """

    def __init__(self, stream: TextIO | None = None, options: ConsoleOptions | None = None,
                 *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self.options = options if options is not None else ConsoleOptions()
        self._digest = Digest(self.options)
        self._monotonic = monotonic
        self._lock = threading.RLock()
        self._day: date | None = None
        self._color: bool | None = self.options.color
        self._glyph: str | None = None

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    def emit(self, event: TelemetryEvent) -> None:
        _follow_run(event)
        with self._lock:
            self._write(self._digest.event(event, self._monotonic()))

    def log_record(self, run: RunKey, record: logging.LogRecord) -> None:
        """Show ``record``, emitted while ``run`` ran (see :class:`RunLogHandler`)."""
        lines = record_lines(record)
        with self._lock:
            self._write(self._digest.log(run, record.levelno, lines, self._monotonic()))

    def close(self) -> None:
        """Print what was counted and not printed yet (repeats, ticks, unfinished runs' logs)."""
        with self._lock:
            self._write(self._digest.close(self._monotonic()))

    def _write(self, lines: list[Line]) -> None:
        if not lines:
            return
        stream = self.stream
        if self._color is None:
            self._color = color_wanted(stream)
        if self._glyph is None:
            self._glyph = "│" if _unicode_ok(stream) else "|"
        out: list[str] = []
        for line in lines:
            if line.at is not None:
                stamp = line.at
                day = stamp.astimezone(timezone.utc).date() if stamp.tzinfo else stamp.date()
                if day != self._day:
                    self._day = day
                    out.append(f"-- {day.isoformat()} (UTC) --")
            out.append(self._render(line))
        text = "\n".join(out) + "\n"
        if not _unicode_ok(stream):
            text = text.replace(TIMES, "x")
        stream.write(text)
        stream.flush()

    def _render(self, line: Line) -> str:
        paint = self._paint
        if line.kind == "event" and line.event is not None:
            text = format_event(line.event)
            if line.detail:
                text = f"{text} {line.detail}"
            return paint(text, line.tone) if line.tone in ("warn", "bad", "dim") else text
        if line.kind == "log":
            prefix = f"{line.job}: " if line.job else ""
            return " " * 9 + paint(f"{self._glyph} {prefix}{line.detail}", line.tone)
        label = f"{line.label:<{LABEL_WIDTH}}"
        tick = line.kind == "tick"  # dim as a whole
        stamp = clock(line.at) if line.at is not None else " " * 8
        text = (f"{stamp} {line.job or '':<{JOB_WIDTH}} "
                f"{label if tick else paint(label, line.tone)}")
        if line.detail:
            text += f" {line.detail}"
        if line.execution_id:
            text += f"  exec={line.execution_id}"
        return paint(text, "dim") if tick else text

    def _paint(self, text: str, tone: Tone) -> str:
        code = _COLORS.get(tone)
        return f"\x1b[{code}m{text}\x1b[0m" if self._color and code else text


def _follow_run(event: TelemetryEvent) -> None:
    """Set (on ``job.started``) or clear (on its outcome) the run of the emitting context."""
    execution = event.fields.get("execution_id")
    if not isinstance(execution, str):
        return
    if event.name == "job.started":
        attempt = event.fields.get("attempt")
        _RUN.set(RunKey(str(event.fields.get("job_id")), execution,
                        attempt if isinstance(attempt, int) else None))
    elif event.name in ("job.succeeded", "job.failed", "job.skipped", "job.lease_lost"):
        current = _RUN.get()
        if current is not None and current.execution_id == execution:
            _RUN.set(None)
