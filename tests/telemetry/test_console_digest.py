"""The default ``zenjobs dev`` console: run outcomes, handler logs under them, repeats collapsed.

The first tests run the newsletter example for an hour of simulated time
(``run_for``, a virtual clock, its deliberately failing ``sync_analytics``
every minute) with the console sink live, and replay the recorded events
into fresh sinks; the rest feed hand-made events to check one rule each.
The sinks get a fake monotonic clock, so the real-time windows are explicit.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from examples.newsletter.jobs import jobs as newsletter
from zenjobs import ZenJobsExecutor
from zenjobs.telemetry.console import (
    ConsoleTelemetrySink,
    OutsideRuns,
    capturing_run_logs,
    color_wanted,
    current_run,
    run_context,
)
from zenjobs.telemetry.lines import TIMES, ConsoleOptions, span, status_matches
from zenjobs.telemetry.protocol import FanOutTelemetrySink, TelemetryEvent
from zenjobs.testing import MemoryTelemetry, VirtualClock, run_for

START = datetime(2026, 12, 7, 9, 0, 30, tzinfo=timezone.utc)
AT = datetime(2026, 11, 29, 12, 1, 0, tzinfo=timezone.utc)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class Monotonic:
    """A real-time clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sink_for(options: ConsoleOptions | None = None,
             stream: io.StringIO | None = None) -> tuple[ConsoleTelemetrySink, io.StringIO,
                                                         Monotonic]:
    out = stream if stream is not None else io.StringIO()
    clock = Monotonic()
    return ConsoleTelemetrySink(out, options, monotonic=clock), out, clock


def lines(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


@pytest.fixture
def newsletter_logs() -> Iterator[None]:
    """The example's handlers log at INFO on "newsletter" (zenjobs dev sets the root to INFO)."""
    logger = logging.getLogger("newsletter")
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(previous)


async def run_example_hour(sink: ConsoleTelemetrySink) -> MemoryTelemetry:
    recorded = MemoryTelemetry()
    executor = ZenJobsExecutor.development(
        newsletter, store=":memory:", clock=VirtualClock(START),
        telemetry=FanOutTelemetrySink(recorded, sink))
    with capturing_run_logs(sink):
        await executor.start()
        try:
            await executor.schedule("send_welcome_email", {"user_id": "ada"})
            await run_for(executor, timedelta(hours=1))
        finally:
            await executor.shutdown()
    sink.close()
    return recorded


@pytest.mark.timeout(300)
async def test_an_hour_of_the_example_reads_in_a_few_lines(newsletter_logs: None) -> None:
    sink, out, _ = sink_for()
    recorded = await run_example_hour(sink)
    printed = lines(out)
    events = len(recorded.events)
    dead = len(recorded.of("job.failed", job_id="sync_analytics", status="dead"))
    assert events > 500 and dead == 60  # the failing job ran every minute
    assert len(printed) <= 15, "\n".join(printed)

    assert printed[0] == "-- 2026-12-07 (UTC) --"
    email = next(i for i, s in enumerate(printed)
                 if s.split()[1:3] == ["send_welcome_email", "success"])
    assert "trigger=endpoint" in printed[email]
    sent = recorded.assert_emitted("job.succeeded", job_id="send_welcome_email")
    assert printed[email + 1].strip() == (
        f"│ INFO newsletter: welcome email sent to ada (execution {sent.fields['execution_id']})")
    cleanup = next(i for i, s in enumerate(printed)
                   if s.split()[1:3] == ["cleanup_temp_files", "success"])
    assert printed[cleanup + 1].strip().startswith("│ INFO newsletter: cleaned temp files")

    failing = [s for s in printed if s.split()[1:2] == ["sync_analytics"]]
    assert [s.split()[2] for s in failing] == ["retry_scheduled", "dead", "dead"]
    assert "next retry in 5." in failing[0] and "attempt=1" in failing[0]
    assert "attempt=3" in failing[1] and "(1 earlier retry with this error not shown)" in failing[1]
    collapsed = failing[2].split()
    assert collapsed[3] == f"{TIMES}{dead - 1}"  # one line for the 59 repeats (and their retries)
    assert "(+118 retries), same error: FlakyProviderError" in failing[2]

    ticks = [s for s in printed if s.split()[1:2] == ["master.tick"]]
    assert ticks[0].split()[2] == "first" and ticks[1].split()[2] == f"{TIMES}59"
    assert not any(ANSI.search(s) for s in printed)  # a StringIO is not a terminal


@pytest.mark.timeout(300)
async def test_recorded_events_replayed_verbose_print_one_line_each(
        newsletter_logs: None) -> None:
    live, _, _ = sink_for()
    recorded = await run_example_hour(live)

    verbose, out, _ = sink_for(ConsoleOptions(verbose=True))
    for event in recorded.events:
        verbose.emit(event)
    verbose.close()
    printed = lines(out)
    assert len(printed) == len(recorded.events) + 1  # and the date line
    assert sum(s.split()[1] == "job.failed" and " sync_analytics " in s for s in printed) == 180

    quiet, out, _ = sink_for(ConsoleOptions(quiet=True))
    for event in recorded.events:
        quiet.emit(event)
    quiet.close()
    assert [s.split()[1:3] for s in lines(out)[1:]] == [["sync_analytics", "dead"]] * 2


def emit(sink: ConsoleTelemetrySink, name: str, at: datetime = AT, **fields: Any) -> None:
    sink.emit(TelemetryEvent(name, at, fields))


def run_events(sink: ConsoleTelemetrySink, job: str, execution: str, *, attempts: int,
               error: str | None = "Boom: down", at: datetime = AT, final: str = "dead",
               retry: bool = True) -> None:
    """The events of one run: ``attempts`` attempts, the last one ``final`` (or success)."""
    for attempt in range(1, attempts + 1):
        common = {"job_id": job, "execution_id": execution, "attempt": attempt,
                  "trigger": "schedule", "scheduled_for": at}
        emit(sink, "job.started", at, **common, taken_over=False)
        last = attempt == attempts
        if last and final == "success":
            emit(sink, "job.succeeded", at, **common, duration_ms=12, status="success",
                 error=None)
        elif last or not retry:
            emit(sink, "job.failed", at, **common, duration_ms=12, error=error, status=final,
                 final=True)
        else:
            emit(sink, "job.failed", at, **common, duration_ms=12, error=error,
                 status="retry_scheduled", final=False)
            emit(sink, "job.retry_scheduled", at, **common, duration_ms=12, error=error,
                 next_attempt=attempt + 1, next_attempt_at=at + timedelta(seconds=5),
                 delay_ms=5000)
        at += timedelta(seconds=5)


def test_a_success_is_one_line() -> None:
    sink, out, _ = sink_for()
    run_events(sink, "cleanup", "cleanup-1", attempts=1, final="success")
    assert lines(out) == [
        "-- 2026-11-29 (UTC) --",
        "12:01:00 cleanup               success          12ms  exec=cleanup-1",
    ]


def test_durations_are_real_time_with_simulated_time_apart() -> None:
    assert span(1200, 1.0) == "1.2s"
    assert span(6000, 60.0) == "100ms (sim 6.0s)"
    assert span(30, 60.0) == "0.5ms (sim 30ms)"
    assert span(240_000, 1.0) == "4min"
    assert span(None, 60.0) is None
    sink, out, _ = sink_for(ConsoleOptions(speed=60))
    run_events(sink, "sync", "sync-1", attempts=2)
    assert "attempt=1 0.2ms (sim 12ms) next retry in 83ms (sim 5.0s) at 12:01:05: Boom: down" \
        in lines(out)[1]


def test_repeats_of_one_failure_collapse_until_the_window_passes_then_it_doubles() -> None:
    sink, out, clock = sink_for()
    at = AT
    for run in range(6):
        run_events(sink, "sync", f"sync-{run}", attempts=3, at=at,
                   error=f"Boom: down (attempt {run})")  # numbers differ: still the same error
        at += timedelta(minutes=1)
        clock.now += 10  # real seconds
    printed = lines(out)[1:]
    # run 0: retry + dead; runs 1-2 counted; run 3's first retry comes 30 s after the dead
    # line: the count so far; the rest falls in the doubled window (60 s), counted until close.
    assert [s.split()[2:4] for s in printed] == [
        ["retry_scheduled", "attempt=1"], ["dead", "attempt=3"], ["dead", f"{TIMES}2"]]
    assert printed[2].endswith("since 12:01:10 (+5 retries), same error: Boom: down (attempt 3); "
                               "next retry in 5.0s at 12:04:05  exec=sync-3")
    sink.close()
    assert lines(out)[-1].split()[2:4] == ["dead", f"{TIMES}3"]
    assert "(+5 retries), same error: Boom: down (attempt 5)" in lines(out)[-1]


def test_a_success_or_another_error_ends_the_collapse_with_its_count_first() -> None:
    sink, out, _ = sink_for()
    run_events(sink, "sync", "sync-1", attempts=2)
    run_events(sink, "sync", "sync-2", attempts=2)
    run_events(sink, "sync", "sync-3", attempts=2, final="success")
    run_events(sink, "sync", "sync-4", attempts=1, error="Other: broken")
    assert [s.split()[2:4] for s in lines(out)[1:]] == [
        ["retry_scheduled", "attempt=1"], ["dead", "attempt=2"],
        ["dead", f"{TIMES}1"],  # sync-2, before the success that ends the streak
        ["success", "12ms"],  # sync-3 on its second attempt: its failure was counted
        ["dead", "attempt=1"]]
    assert "attempt=2" in lines(out)[4]


def test_a_failure_without_retries_is_one_line_and_permanent_shows_failure() -> None:
    sink, out, _ = sink_for()
    run_events(sink, "email", "email-1", attempts=1, final="failure", error="PermanentError: x")
    assert lines(out)[1:] == [
        "12:01:00 email                 failure          attempt=1 12ms: PermanentError: x  "
        "exec=email-1"]


async def test_log_records_show_under_their_run_even_when_runs_interleave() -> None:
    sink, out, _ = sink_for()
    log = logging.getLogger("tests.console.handler")
    log.setLevel(logging.INFO)
    both_started = asyncio.Event()
    started = 0

    async def run(job: str, execution: str) -> None:
        nonlocal started
        common = {"job_id": job, "execution_id": execution, "attempt": 1}
        emit(sink, "job.started", **common)  # sets the run of this task's context
        started += 1
        if started == 2:
            both_started.set()

        async def handler() -> None:  # like the runner: the handler is a task of its own
            log.info("%s: step 1", job)
            await both_started.wait()
            log.warning("%s: step 2", job)
        await asyncio.ensure_future(handler())
        emit(sink, "job.succeeded", **common, duration_ms=3)

    with capturing_run_logs(sink):
        log.info("outside any run: not shown")
        await asyncio.gather(run("a", "a-1"), run("b", "b-1"))
    assert current_run() is None
    assert lines(out)[1:] == [
        "12:01:00 a                     success          3ms  exec=a-1",
        "         │ INFO tests.console.handler: a: step 1",
        "         │ WARNING tests.console.handler: a: step 2",
        "12:01:00 b                     success          3ms  exec=b-1",
        "         │ INFO tests.console.handler: b: step 1",
        "         │ WARNING tests.console.handler: b: step 2",
    ]


def test_a_runtime_set_run_context_is_enough_stand_in_for_the_hook() -> None:
    """A runtime that sets the run around the handler needs no job.started seen first."""
    sink, out, _ = sink_for()
    log = logging.getLogger("tests.console.hook")
    with capturing_run_logs(sink), run_context("report", "report-1", 2):
        log.warning("half done")
        try:
            raise ValueError("bad row")
        except ValueError:
            log.exception("row skipped")
    emit(sink, "job.succeeded", job_id="report", execution_id="report-1", attempt=2,
         duration_ms=5)
    printed = lines(out)[1:]
    assert printed[0] == ("12:01:00 report                success          5ms attempt=2  "
                          "exec=report-1")
    assert printed[1] == "         │ WARNING tests.console.hook: half done"
    assert printed[2] == "         │ ERROR tests.console.hook: row skipped"
    assert printed[3] == "         │ Traceback (most recent call last):"
    assert printed[-1] == "         │ ValueError: bad row"


def test_other_handlers_leave_the_records_of_runs_to_the_console() -> None:
    sink, _, _ = sink_for()
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "m", None, None)
    keep = OutsideRuns()
    assert keep.filter(record)
    with run_context("j", "j-1"):
        assert keep.filter(record)  # nobody captures: the other handlers print it
        with capturing_run_logs(sink):
            assert not keep.filter(record)


def test_a_long_run_prints_its_log_lines_as_they_come() -> None:
    sink, out, clock = sink_for(ConsoleOptions(live_after=5))
    log = logging.getLogger("tests.console.slow")
    log.setLevel(logging.INFO)
    emit(sink, "job.started", job_id="slow", execution_id="slow-1", attempt=1)
    with capturing_run_logs(sink):
        with run_context("slow", "slow-1", 1):
            log.info("one")
        clock.now += 6
        with run_context("slow", "slow-1", 1):
            log.info("two")
            log.info("three")
    emit(sink, "job.succeeded", job_id="slow", execution_id="slow-1", attempt=1,
         duration_ms=6000)
    assert lines(out)[1:] == [
        "12:01:00 slow                  running          attempt=1 for 6.0s (real), "
        "log lines so far:  exec=slow-1",
        "         │ INFO tests.console.slow: one",
        "         │ INFO tests.console.slow: two",
        "         │ INFO tests.console.slow: three",
        "12:01:00 slow                  success          6.0s  exec=slow-1",
    ]


def test_the_first_busy_tick_is_shown_then_ticks_are_summed_up() -> None:
    sink, out, _ = sink_for(ConsoleOptions(ticks_per_summary=3))
    counts = {"due": 0, "claimed": 0, "ran": 0, "enqueued": 0, "skipped": 0, "failed": 0,
              "recovered": 0}
    for minute in range(8):
        busy = minute % 2
        emit(sink, "master.tick", AT + timedelta(minutes=minute),
             **{**counts, "due": busy, "claimed": busy, "ran": busy})
    sink.close()
    printed = lines(out)[1:]
    assert printed[0].startswith("12:02:00 master.tick           first            due=1 ")
    # 12:01 (idle, before the first busy one), 12:03 (idle), 12:04: three ticks summed up
    assert printed[1] == (f"12:04:00 master.tick           {TIMES}3               since "
                          "12:01:00: due=1 claimed=1 ran=1 enqueued=0 skipped=0 failed=0 "
                          "recovered=0, 2 idle")
    assert printed[2].split()[:3] == ["12:07:00", "master.tick", f"{TIMES}3"]
    assert printed[3].split()[:3] == ["12:08:00", "master.tick", f"{TIMES}1"]  # at close
    assert len(printed) == 4


def test_a_tick_that_failed_or_recovered_something_is_shown() -> None:
    sink, out, _ = sink_for()
    emit(sink, "master.tick", due=1, claimed=1, ran=1, enqueued=0, skipped=0, failed=0,
         recovered=0)
    emit(sink, "master.tick", due=0, claimed=0, ran=0, enqueued=0, skipped=0, failed=0,
         recovered=2)
    assert lines(out)[-1] == ("12:01:00 master.tick          due=0 claimed=0 ran=0 enqueued=0 "
                              "skipped=0 failed=0 recovered=2")


def test_other_events_print_their_line_and_identical_ones_are_counted() -> None:
    sink, out, clock = sink_for()
    for _ in range(3):
        emit(sink, "runtime.loop_lag", lag_ms=300, threshold_ms=250)
    clock.now += 31
    emit(sink, "runtime.loop_lag", lag_ms=320, threshold_ms=250)
    printed = lines(out)[1:]
    assert printed[0] == "12:01:00 runtime.loop_lag     lag_ms=300 threshold_ms=250"
    assert printed[1] == ("12:01:00 runtime.loop_lag     lag_ms=300 threshold_ms=250 "
                          f"({TIMES}2 like this since 12:01:00)")
    assert printed[2] == "12:01:00 runtime.loop_lag     lag_ms=320 threshold_ms=250"


def test_a_skip_is_one_line_and_the_same_skip_again_is_counted() -> None:
    sink, out, clock = sink_for()
    for day in range(3):
        emit(sink, "job.skipped", AT + timedelta(days=day), job_id="digest",
             execution_id=f"d-{day}", attempt=1, duration_ms=0,
             status="skipped_dependency_failed", reason="nightly_report is dead")
        clock.now += 20
    printed = [s for s in lines(out) if not s.startswith("--")]
    assert printed == ["12:01:00 digest                skipped_dependency_failed "
                       "nightly_report is dead  exec=d-0",
                       "12:01:00 digest                skipped_dependency_failed "
                       f"nightly_report is dead ({TIMES}1 like this since 12:01:00)  exec=d-1",
                       "12:01:00 digest                skipped_dependency_failed "
                       "nightly_report is dead  exec=d-2"]


@pytest.mark.parametrize(("options", "shown"), [
    (ConsoleOptions(jobs=frozenset({"email"})), ["email success", "email dead"]),
    (ConsoleOptions(statuses=frozenset({"success"})), ["email success", "cleanup success"]),
    (ConsoleOptions(statuses=frozenset({"failed"})),
     ["sync retry_scheduled", "sync dead", "email dead"]),
    (ConsoleOptions(quiet=True), ["sync dead", "email dead"]),
    (ConsoleOptions(statuses=frozenset({"skipped"})), ["digest skipped_disabled"]),
    (ConsoleOptions(), ["master.tick first", "email success", "sync retry_scheduled",
                        "sync dead", "email dead", "cleanup success",
                        "digest skipped_disabled"]),
])
def test_filters_hide_lines_and_the_logs_of_hidden_runs(options: ConsoleOptions,
                                                        shown: list[str]) -> None:
    sink, out, _ = sink_for(options)
    log = logging.getLogger("tests.console.filter")
    log.setLevel(logging.INFO)
    with capturing_run_logs(sink):
        emit(sink, "master.tick", due=1, claimed=1, ran=1)
        emit(sink, "job.started", job_id="email", execution_id="email-1", attempt=1)
        log.info("sent")
        emit(sink, "job.succeeded", job_id="email", execution_id="email-1", attempt=1,
             duration_ms=1)
        run_events(sink, "sync", "sync-1", attempts=2)
        run_events(sink, "email", "email-2", attempts=1)
        run_events(sink, "cleanup", "cleanup-1", attempts=1, final="success")
        emit(sink, "job.skipped", job_id="digest", execution_id="digest-1", attempt=1,
             status="skipped_disabled", reason="disabled")
    printed = [s for s in lines(out) if not s.startswith("--")]
    assert [" ".join(s.split()[1:3]) for s in printed if not s.startswith(" ")] == shown
    assert any("INFO tests.console.filter: sent" in s for s in printed) == \
        ("email success" in shown)


def test_status_words() -> None:
    assert status_matches("dead", {"failed"}) and status_matches("retry_scheduled", {"failed"})
    assert not status_matches("success", {"failed"})
    assert status_matches("skipped_disabled", {"skipped"})
    assert status_matches("dead", {"dead"}) and not status_matches("failure", {"dead"})


def test_verbose_prints_every_event_and_logs_as_they_come() -> None:
    sink, out, _ = sink_for(ConsoleOptions(verbose=True))
    log = logging.getLogger("tests.console.verbose")
    log.setLevel(logging.INFO)
    with capturing_run_logs(sink):
        emit(sink, "job.started", job_id="a", execution_id="a-1", attempt=1, trigger="schedule")
        log.info("working")
        emit(sink, "job.succeeded", job_id="a", execution_id="a-1", attempt=1, duration_ms=2)
    assert lines(out)[1:] == [
        "12:01:00 job.started          a                     exec=a-1 attempt=1 trigger=schedule",
        "         │ a: INFO tests.console.verbose: working",
        "12:01:00 job.succeeded        a                     exec=a-1 attempt=1 2ms",
    ]


def test_colour_on_a_terminal_only_and_never_with_no_color(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    sink, out, _ = sink_for(stream=Tty())
    run_events(sink, "sync", "sync-1", attempts=1)
    assert "\x1b[1;31mdead" in out.getvalue()
    assert ANSI.sub("", lines(out)[1]).split()[1:3] == ["sync", "dead"]

    monkeypatch.setenv("NO_COLOR", "1")
    sink, out, _ = sink_for(stream=Tty())
    run_events(sink, "sync", "sync-1", attempts=1)
    assert not ANSI.search(out.getvalue())
    assert color_wanted(Tty(), {}) and not color_wanted(Tty(), {"NO_COLOR": "1"})
    assert color_wanted(Tty(), {"NO_COLOR": ""})  # set but empty: no-color.org says colour
    assert not color_wanted(io.StringIO(), {})


def test_close_shows_what_an_unfinished_run_logged() -> None:
    sink, out, _ = sink_for()
    log = logging.getLogger("tests.console.unfinished")
    log.setLevel(logging.INFO)
    with capturing_run_logs(sink), run_context("hang", "hang-1", 1):
        emit(sink, "job.started", job_id="hang", execution_id="hang-1", attempt=1)
        log.info("waiting for the provider")
    assert lines(out) == []
    sink.close()
    assert lines(out)[1:] == [
        "12:01:00 hang                  running          not finished at exit; it logged:  "
        "exec=hang-1",
        "         │ INFO tests.console.unfinished: waiting for the provider",
    ]


def test_a_chatty_run_keeps_its_first_log_lines_and_a_late_record_names_its_job() -> None:
    sink, out, _ = sink_for()
    log = logging.getLogger("tests.console.chatty")
    log.setLevel(logging.INFO)
    with capturing_run_logs(sink), run_context("chatty", "chatty-1", 1):
        emit(sink, "job.started", job_id="chatty", execution_id="chatty-1", attempt=1)
        for n in range(60):
            log.info("line %d", n)
        left_behind = contextvars.copy_context()  # a task the handler started, say
        emit(sink, "job.succeeded", job_id="chatty", execution_id="chatty-1", attempt=1,
             duration_ms=1)
        left_behind.run(log.warning, "from a task the handler left behind")
    printed = lines(out)[1:]
    assert len(printed) == 1 + 50 + 1 + 1
    assert printed[50] == "         │ INFO tests.console.chatty: line 49"
    assert printed[51] == "         │ ... 10 more log line(s) not shown"
    assert printed[52] == ("         │ chatty: WARNING tests.console.chatty: "
                           "from a task the handler left behind")
