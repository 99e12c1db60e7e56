"""What the ``zenjobs dev`` console prints by default: outcomes, not events.

The runtime emits several events per run (``job.started``, ``job.failed``,
``job.retry_scheduled``, ...) and one ``master.tick`` per simulated minute. A
developer wants to know how each run ended, with what its handler logged, and
to notice what changed. :class:`Digest` turns events (and the log records of
the handlers, grouped by run) into the lines worth printing:

* one line per run outcome (``success``, ``retry_scheduled``, ``failure``,
  ``dead``, ``skipped_*``); ``job.started`` prints nothing;
* within a run, a retry failing with the same error as the attempt before is
  not printed again (the final line says how many were left out);
* repeated failures of one job collapse: once a job's run ended with an error,
  later runs failing with the same error (digits ignored) are counted, and one
  line (``dead`` and the count) sums them up after ``collapse_window`` real
  seconds (then twice as long each time, up to ``max_collapse_window``), when
  the job next succeeds or fails differently, and at exit;
* the first master tick that had something due is printed; after it, ticks
  are summed up in one line every ``ticks_per_summary`` ticks;
* the other events (loop lag, lease lost, recovery, ...) print their
  :func:`~zenjobs.telemetry.console.format_event` line; an identical one
  within ``collapse_window`` real seconds is counted instead;
* durations are real time; with ``speed`` != 1 the simulated one is shown apart.

Filters (``--job``, ``--status``, ``--quiet``) hide lines, and the log lines
of the runs they hide; ``verbose`` prints every event as it comes instead.
A digest is pure: the caller passes the real (monotonic) time of each call and
renders the :class:`Line` objects it returns (``zenjobs.telemetry.console``).
"""

from __future__ import annotations

import dataclasses
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .lines import (
    MAX_BUFFERED_LOG_LINES,
    MAX_RUNS,
    OUTCOMES,
    QUIET_STATUSES,
    TICK_FIELDS,
    TIMES,
    ConsoleOptions,
    Line,
    RunKey,
    Tone,
    clock,
    int_or_zero,
    joined,
    ms_text,
    one_line,
    signature,
    span,
    status_matches,
    text_or_none,
    tick_counts,
)
from .protocol import TelemetryEvent


@dataclass
class _Run:
    job_id: str
    execution_id: str
    started_real: float
    started_at: datetime | None = None
    attempt: int | None = None
    logs: list[Line] = field(default_factory=list)
    dropped_logs: int = 0
    live: bool = False  # a "running" line was printed: log lines print as they come
    shown_errors: set[str] = field(default_factory=set)
    hidden_retries: int = 0
    taken_over: bool = False  # this attempt took over a crashed one's lease


@dataclass
class _Streak:
    """A job's run failures that look alike, counted instead of printed."""

    signature: str
    shown_real: float  # when a line about it was last printed
    window: float  # real seconds from then before the next one
    since: datetime  # simulated time of that line
    hidden: Counter[str] = field(default_factory=Counter)  # status -> runs/attempts counted
    last_at: datetime | None = None
    last_error: str = ""
    last_execution: str | None = None
    next_retry: str | None = None


@dataclass
class _Repeat:
    shown_real: float
    since: datetime | None
    hidden: int = 0
    last: Line | None = None


@dataclass
class _Ticks:
    count: int = 0
    idle: int = 0
    since: datetime | None = None
    last: datetime | None = None
    totals: Counter[str] = field(default_factory=Counter)


class Digest:
    """Decides which lines the console prints; see the module docstring. Not thread-safe."""

    def __init__(self, options: ConsoleOptions | None = None) -> None:
        self.options = options if options is not None else ConsoleOptions()
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._finished: OrderedDict[str, str] = OrderedDict()  # execution id -> job id
        self._streaks: dict[str, _Streak] = {}
        self._repeats: dict[tuple[str, ...], _Repeat] = {}
        self._ticks = _Ticks()
        self._first_busy_tick_shown = False

    # -- events ---------------------------------------------------------------------------

    def event(self, event: TelemetryEvent, now: float) -> list[Line]:
        """The lines to print for ``event``, received at real (monotonic) time ``now``."""
        fields = event.fields
        name = event.name
        execution = fields.get("execution_id")
        if self.options.verbose:
            if name == "job.started" and isinstance(execution, str):
                self._start(event, execution, now)
            elif name in OUTCOMES and isinstance(execution, str):
                self._end(execution, final=name != "job.failed" or bool(fields.get("final")))
            return [self._event_line(event)] if self._verbose_shows(event) else []
        if name == "job.started" and isinstance(execution, str):
            self._start(event, execution, now)
            return []
        if name == "job.succeeded":
            return self._succeeded(event, now)
        if name == "job.failed":
            if not fields.get("final", True):
                return []  # its job.retry_scheduled, next, says it all
            return self._failed_for_good(event, now)
        if name == "job.retry_scheduled":
            return self._retrying(event, now)
        if name == "job.skipped":
            return self._skipped(event, now)
        if name == "master.tick":
            return self._tick(event)
        if name == "job.lease_lost" and isinstance(execution, str):
            self._end(execution, final=True)
        key = (name, str(fields.get("job_id")), signature(fields.get("error")),
               signature(fields.get("reason")))
        return self._repeatable(self._event_line(event), now, key)

    def log(self, run: RunKey, level: int, text_lines: list[str], now: float) -> list[Line]:
        """The lines to print now for a log record emitted while ``run`` ran."""
        lines = [Line("log", job=run.job_id, detail=text, execution_id=run.execution_id,
                      level=level, tone=_log_tone(level)) for text in text_lines]
        if not lines:
            return []
        if self.options.verbose or run.execution_id in self._finished:
            return lines if self._job_shown(run.job_id) else []
        state = self._runs.get(run.execution_id)
        if state is None:  # a record ahead of its job.started (the sink sets the context)
            state = self._remember(_Run(run.job_id, run.execution_id, now,
                                        attempt=run.attempt))
        if not self._job_shown(run.job_id):
            return []
        if state.live:
            return [_under(line) for line in lines]
        room = MAX_BUFFERED_LOG_LINES - len(state.logs)
        state.logs.extend(_under(line) for line in lines[:max(room, 0)])
        state.dropped_logs += max(len(lines) - max(room, 0), 0)
        if now - state.started_real < self.options.live_after:
            return []
        state.live = True  # a long run: show what it logged so far, and the rest as it comes
        header = Line("run", at=state.started_at, job=state.job_id, label="running",
                      detail=joined([f"attempt={state.attempt}" if state.attempt else None,
                                      f"for {ms_text((now - state.started_real) * 1000)} "
                                      "(real), log lines so far:"]),
                      execution_id=state.execution_id, tone="dim")
        return [header, *self._take_logs(state)]

    def close(self, now: float) -> list[Line]:
        """What is left to say at exit: the counts not printed yet, logs of unfinished runs."""
        if self.options.verbose:
            return []
        out: list[Line] = []
        for job in list(self._streaks):
            out += self._end_streak(job)
        for key, repeat in list(self._repeats.items()):
            if repeat.hidden and repeat.last is not None:
                out += self._shown(self._repeat_line(repeat))
            del self._repeats[key]
        out += self._tick_summary()
        for state in list(self._runs.values()):
            if state.logs and self._job_shown(state.job_id):
                out.append(Line("run", at=state.started_at, job=state.job_id,
                                label="running", detail="not finished at exit; it logged:",
                                execution_id=state.execution_id, tone="dim"))
                out += self._take_logs(state)
        return out

    # -- runs -----------------------------------------------------------------------------

    def _remember(self, state: _Run) -> _Run:
        self._runs[state.execution_id] = state
        self._runs.move_to_end(state.execution_id)
        while len(self._runs) > MAX_RUNS:
            self._runs.popitem(last=False)
        return state

    def _start(self, event: TelemetryEvent, execution: str, now: float) -> None:
        job = str(event.fields.get("job_id"))
        attempt = event.fields.get("attempt")
        previous = self._runs.get(execution)
        state = self._remember(previous or _Run(job, execution, now))
        state.started_real, state.started_at = now, event.timestamp
        state.attempt = attempt if isinstance(attempt, int) else None
        state.live = False
        state.taken_over = bool(event.fields.get("taken_over"))
        self._finished.pop(execution, None)

    def _end(self, execution: str, *, final: bool) -> _Run | None:
        """The run's state, forgotten if ``final`` (its logs are the caller's to print)."""
        state = self._runs.get(execution)
        if final:
            self._runs.pop(execution, None)
            if state is not None:
                self._finished[execution] = state.job_id
                while len(self._finished) > MAX_RUNS:
                    self._finished.popitem(last=False)
        return state

    def _take_logs(self, state: _Run) -> list[Line]:
        logs, state.logs = state.logs, []
        if state.dropped_logs:
            logs.append(Line("log", execution_id=state.execution_id, tone="dim",
                             detail=f"... {state.dropped_logs} more log line(s) not shown"))
            state.dropped_logs = 0
        return logs

    def _with_logs(self, line: Line, state: _Run | None) -> list[Line]:
        logs = self._take_logs(state) if state is not None else []
        if not self._line_shown(line, (line.label.split(" ")[0],)):
            return []
        return [line, *logs]

    def _succeeded(self, event: TelemetryEvent, now: float) -> list[Line]:
        fields = event.fields
        job = str(fields.get("job_id"))
        state = self._end(str(fields.get("execution_id")), final=True)
        out = self._end_streak(job)
        attempt = fields.get("attempt")
        trigger = fields.get("trigger")
        detail = joined([
            span(fields.get("duration_ms"), self.options.speed),
            f"attempt={attempt}" if isinstance(attempt, int) and attempt > 1 else None,
            f"trigger={trigger}" if trigger not in (None, "schedule") else None,
            "taken_over=true" if _taken_over(fields, state) else None,
        ])
        line = Line("run", at=event.timestamp, job=job, label="success", detail=detail,
                    execution_id=text_or_none(fields.get("execution_id")), tone="good")
        return out + self._with_logs(line, state)

    def _retrying(self, event: TelemetryEvent, now: float) -> list[Line]:
        fields = event.fields
        job = str(fields.get("job_id"))
        execution = str(fields.get("execution_id"))
        state = self._end(execution, final=False)
        error = one_line(fields.get("error") or "")
        sig = signature(error)
        delay = span(fields.get("delay_ms"), self.options.speed)
        when = fields.get("next_attempt_at")
        retry = joined([f"in {delay}" if delay else None,
                         f"at {clock(when)}" if when is not None else None])
        streak = self._streaks.get(job)
        if streak is not None and streak.signature == sig:
            if state is not None:
                state.logs, state.dropped_logs = [], 0
            streak.hidden["retry_scheduled"] += 1
            self._note(streak, event, error)
            streak.next_retry = retry or None
            return self._streak_due(job, streak, now)
        if state is not None and sig in state.shown_errors:
            state.hidden_retries += 1
            state.logs, state.dropped_logs = [], 0
            return []
        if state is not None:
            state.shown_errors.add(sig)
        detail = joined([
            f"attempt={fields.get('attempt')}",
            span(fields.get("duration_ms"), self.options.speed),
            f"next retry {retry}" if retry else "retry scheduled",
        ])
        line = Line("run", at=event.timestamp, job=job, label="retry_scheduled",
                    detail=f"{detail}: {error}" if error else detail,
                    execution_id=execution, tone="warn")
        return self._with_logs(line, state)

    def _failed_for_good(self, event: TelemetryEvent, now: float) -> list[Line]:
        fields = event.fields
        job = str(fields.get("job_id"))
        execution = str(fields.get("execution_id"))
        status = str(fields.get("status") or "failure")
        state = self._end(execution, final=True)
        error = one_line(fields.get("error") or "")
        sig = signature(error)
        streak = self._streaks.get(job)
        if streak is not None and streak.signature == sig:
            streak.hidden[status] += 1
            if state is not None:
                streak.hidden["retry_scheduled"] += state.hidden_retries
            self._note(streak, event, error)
            streak.next_retry = None
            return self._streak_due(job, streak, now)
        out = self._end_streak(job)
        self._streaks[job] = _Streak(sig, shown_real=now, window=self.options.collapse_window,
                                     since=event.timestamp)
        hidden = state.hidden_retries if state is not None else 0
        detail = joined([
            f"attempt={fields.get('attempt')}",
            span(fields.get("duration_ms"), self.options.speed),
            "taken_over=true" if _taken_over(fields, state) else None,
            f"({hidden} earlier retr{'y' if hidden == 1 else 'ies'} with this error not shown)"
            if hidden else None,
        ])
        line = Line("run", at=event.timestamp, job=job, label=status,
                    detail=f"{detail}: {error}" if error else detail,
                    execution_id=execution, tone="bad")
        return out + self._with_logs(line, state)

    @staticmethod
    def _note(streak: _Streak, event: TelemetryEvent, error: str) -> None:
        streak.last_at = event.timestamp
        streak.last_error = error
        streak.last_execution = text_or_none(event.fields.get("execution_id"))

    def _streak_due(self, job: str, streak: _Streak, now: float) -> list[Line]:
        if now - streak.shown_real < streak.window:
            return []
        line = self._streak_line(job, streak)
        streak.hidden.clear()
        streak.shown_real, streak.since = now, streak.last_at or streak.since
        streak.window = min(streak.window * 2, self.options.max_collapse_window)
        return line

    def _end_streak(self, job: str) -> list[Line]:
        streak = self._streaks.pop(job, None)
        return self._streak_line(job, streak) if streak is not None else []

    def _streak_line(self, job: str, streak: _Streak) -> list[Line]:
        if not +streak.hidden:
            return []
        retries = streak.hidden.get("retry_scheduled", 0)
        finals = {status: n for status, n in streak.hidden.items()
                  if status != "retry_scheduled" and n}
        if finals:
            count = sum(finals.values())
            label = next(iter(finals)) if len(finals) == 1 else "failed"
            extra = f" (+{retries} retr{'y' if retries == 1 else 'ies'})" if retries else ""
        else:
            count, label, extra = retries, "retry_scheduled", ""
        detail = f"since {clock(streak.since)}{extra}, same error: {streak.last_error}"
        if streak.next_retry:
            detail += f"; next retry {streak.next_retry}"
        line = Line("run", at=streak.last_at, job=job, label=f"{label} {TIMES}{count}",
                    detail=detail, execution_id=streak.last_execution,
                    tone="bad" if finals else "warn")
        return [line] if self._line_shown(line, tuple(streak.hidden)) else []

    # -- ticks ----------------------------------------------------------------------------

    def _tick(self, event: TelemetryEvent) -> list[Line]:
        counts = {key: int_or_zero(event.fields.get(key)) for key in TICK_FIELDS}
        busy = any(counts.values())
        if busy and not self._first_busy_tick_shown:
            self._first_busy_tick_shown = True
            every = self.options.ticks_per_summary
            line = Line("tick", at=event.timestamp, job="master.tick", label="first",
                        detail=f"{tick_counts(counts)} (ticks are summed up every {every}; "
                               "--verbose shows each)", tone="dim")
            return [line] if self._line_shown(line, ()) else []
        ticks = self._ticks
        ticks.count += 1
        ticks.idle += not busy
        ticks.since = ticks.since or event.timestamp
        ticks.last = event.timestamp
        ticks.totals.update(counts)
        out: list[Line] = []
        if counts["failed"] or counts["recovered"]:  # not shown by any job line
            out.append(self._event_line(event))
        if ticks.count >= self.options.ticks_per_summary:
            out += self._tick_summary()
        return out

    def _tick_summary(self) -> list[Line]:
        ticks, self._ticks = self._ticks, _Ticks()
        if not ticks.count:
            return []
        counts = {key: ticks.totals.get(key, 0) for key in TICK_FIELDS}
        line = Line("tick", at=ticks.last, job="master.tick", label=f"{TIMES}{ticks.count}",
                    detail=f"since {clock(ticks.since)}: {tick_counts(counts)}, {ticks.idle} idle",
                    tone="dim")
        return [line] if self._line_shown(line, ()) else []

    # -- other events ---------------------------------------------------------------------

    def _skipped(self, event: TelemetryEvent, now: float) -> list[Line]:
        fields = event.fields
        job = str(fields.get("job_id"))
        status = str(fields.get("status") or "skipped")
        self._end(str(fields.get("execution_id")), final=True)
        line = Line("run", at=event.timestamp, job=job, label=status,
                    detail=one_line(fields.get("reason") or ""),
                    execution_id=text_or_none(fields.get("execution_id")), tone="skip")
        return self._repeatable(line, now, ("skip", job, status, signature(line.detail)))

    def _repeatable(self, line: Line, now: float, key: tuple[str, ...]) -> list[Line]:
        """``line``, unless the same was printed less than ``collapse_window`` ago (counted)."""
        repeat = self._repeats.get(key)
        if repeat is not None and now - repeat.shown_real < self.options.collapse_window:
            repeat.hidden += 1
            repeat.last = line
            return []
        out: list[Line] = []
        if repeat is not None and repeat.hidden and repeat.last is not None:
            out += self._shown(self._repeat_line(repeat))
        self._repeats[key] = _Repeat(shown_real=now, since=line.at)
        return out + self._shown(line)

    @staticmethod
    def _repeat_line(repeat: _Repeat) -> Line:
        assert repeat.last is not None
        since = f" since {clock(repeat.since)}" if repeat.since is not None else ""
        note = f"({TIMES}{repeat.hidden} like this{since})"
        last = repeat.last
        return dataclasses.replace(last, detail=f"{last.detail} {note}".strip(), tone="dim")

    def _event_line(self, event: TelemetryEvent) -> Line:
        return Line("event", at=event.timestamp, event=event,
                    job=text_or_none(event.fields.get("job_id")), tone=_event_tone(event))

    def _shown(self, line: Line) -> list[Line]:
        if line.kind == "run":
            status: str | None = line.label.split(" ")[0]
        else:
            status = _event_status(line.event) if line.event is not None else None
        return [line] if self._line_shown(line, (status,) if status else ()) else []

    # -- filters --------------------------------------------------------------------------

    def _job_shown(self, job: str | None) -> bool:
        return not self.options.jobs or job is None or job in self.options.jobs

    def _line_shown(self, line: Line, statuses: Iterable[str]) -> bool:
        options = self.options
        if line.kind == "tick":
            return not (options.jobs or options.statuses or options.quiet)
        job = line.job
        if line.event is not None:
            job = text_or_none(line.event.fields.get("job_id"))
        if not self._job_shown(job):
            return False
        found = [s for s in statuses if s]
        if line.kind == "run":
            if options.quiet and not any(s in QUIET_STATUSES for s in found):
                return False
            if options.statuses and not any(status_matches(s, options.statuses)
                                            for s in found):
                return False
        return True

    def _verbose_shows(self, event: TelemetryEvent) -> bool:
        options = self.options
        if event.name == "master.tick":
            return not (options.jobs or options.statuses)
        if not self._job_shown(text_or_none(event.fields.get("job_id"))):
            return False
        if options.statuses and event.name.startswith("job."):
            status = _event_status(event)
            return status is not None and status_matches(status, options.statuses)
        return True


def _taken_over(fields: Mapping[str, Any], state: _Run | None) -> bool:
    return bool(fields.get("taken_over")) or (state is not None and state.taken_over)


def _event_status(event: TelemetryEvent) -> str | None:
    if event.name == "job.retry_scheduled":
        return "retry_scheduled"
    if event.name == "job.succeeded":
        return "success"
    status = event.fields.get("status")
    return str(status) if status is not None else None


def _event_tone(event: TelemetryEvent) -> Tone:
    if event.name == "job.failed":
        return "bad" if event.fields.get("final", True) else "warn"
    if event.name == "job.succeeded":
        return "good"
    if event.name == "job.skipped":
        return "skip"
    if event.name in ("job.started", "master.tick"):
        return "plain"
    return "warn"


def _log_tone(level: int) -> Tone:
    if level >= 40:
        return "bad"
    if level >= 30:
        return "warn"
    return "dim"


def _under(line: Line) -> Line:
    """A log line printed under its run's line (no job prefix needed)."""
    return Line("log", detail=line.detail, level=line.level, tone=line.tone,
                execution_id=line.execution_id)
