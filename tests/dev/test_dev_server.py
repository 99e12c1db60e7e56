"""End to end: ``zenjobs dev`` as a real process, real uvicorn, real HTTP, SQLite on disk.

The first test runs the command ``make dev`` runs, with ``--speed 120`` (a
simulated minute every half real second) and a free port. It reads the
console until it has seen the "Done when" of issue 3 (a master tick running
the periodic job, a welcome email succeeding with its handler's log line
under it, the failing demo job retried with backoff and then dead),
subscribes a user over HTTP and sees that email sent, then stops the server
with SIGINT and checks the exit code, that the failing job's repeats were
collapsed (issue 14), and the store. The second proves the Ctrl-C guarantee
for a run that does not finish in the grace period: it keeps its lease and
the next start takes it over (the first start runs with ``--verbose``, every
event on its line; the second with the default console). The third starts
``zenjobs dev`` on a taken port: one line of error naming ``--port``, exit 1.

Every wait is for an event (a line on the console, the process exiting) under
its own generous ceiling: a process that never shows a line fails the test,
with everything it printed. Nothing is asserted about how fast anything
happens, and no budget is shared between waits, so a slow or loaded machine
only makes the test slower.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from zenjobs.stores.records import RunStatus
from zenjobs.stores.sqlite.store import SqliteJobStore
from zenjobs.telemetry.lines import TIMES

REPO = Path(__file__).resolve().parents[2]
ZENJOBS = Path(sys.executable).with_name("zenjobs")
#: How long one expected event may take. It bounds a broken test only: a passing
#: one never waits for it, so it is far above what a loaded machine needs.
CEILING = 90.0
#: The per-test timeout of pyproject.toml would otherwise be a budget shared by
#: all of a test's waits; each wait has its own ceiling instead.
pytestmark = pytest.mark.timeout(20 * CEILING)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Console:
    """The process's output, read on a thread, searchable with a bounded wait."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, what: str, match: Callable[[str], bool]) -> str:
        """The first line (seen before or printed from now on) that ``match``es."""
        for seen in self.lines:
            if match(seen):
                return seen
        deadline = time.monotonic() + CEILING
        while True:
            left = deadline - time.monotonic()
            line: str | None
            try:
                line = self._queue.get(timeout=max(left, 0.01))
            except queue.Empty:
                line = None
                if left > 0:
                    continue
            if line is None:
                output = "\n".join(self.lines[-80:])
                raise AssertionError(f"zenjobs dev never showed {what}; output:\n{output}")
            self.lines.append(line)
            if match(line):
                return line

    def rest(self) -> str:
        self._thread.join(timeout=CEILING)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return "\n".join(self.lines)


def fields(line: str) -> list[str]:
    return line.split()


def start_dev(store: Path, *args: str) -> tuple[Console, int]:
    if not ZENJOBS.exists():
        pytest.fail(f"the zenjobs console script is missing at {ZENJOBS}")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZENJOBS_")}
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        [str(ZENJOBS), "dev", *args, "--port", str(port), "--store", str(store)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return Console(proc), port


def stop(console: Console) -> str:
    """SIGINT, as Ctrl-C sends; the process must exit 0. Returns all it printed."""
    console.proc.send_signal(signal.SIGINT)
    code = console.proc.wait(timeout=CEILING)
    output = console.rest()
    assert code == 0, output
    assert "Traceback" not in output
    return output


@pytest.fixture
def started() -> Iterator[list[Console]]:
    """Processes a test starts; any still running when it ends (a failure) are killed."""
    consoles: list[Console] = []
    yield consoles
    for console in consoles:
        if console.proc.poll() is None:
            console.proc.kill()
            console.proc.wait(timeout=CEILING)


async def test_make_dev_shows_the_done_when_and_stops_cleanly(
        tmp_path: Path, started: list[Console]) -> None:
    store_path = tmp_path / "dev.sqlite3"
    console, port = start_dev(store_path, "--registry", "examples.newsletter.jobs:jobs",
                              "--speed", "120")
    started.append(console)
    base = f"http://127.0.0.1:{port}"
    console.wait_for("the serving banner", lambda s: s.startswith(f"zenjobs dev: serving {base}"))

    async with httpx.AsyncClient(base_url=base, trust_env=False) as client:
        index = await client.get("/")
        assert index.status_code == 200
        assert index.json()["mode"] == "development"
        health = await client.get("/_zenjobs/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        answer = await client.post("/subscribe", json={"user_id": "e2e-user"})
        assert answer.status_code == 202, answer.text
        subscribed = answer.json()["execution_id"]
        form = await client.post("/subscribe", data={"user_id": "e2e-user"})
        assert form.json()["execution_id"] == subscribed  # one email per user
        bad = await client.post("/subscribe", json={"name": "no id"})
        assert bad.status_code == 400 and "user_id" in bad.json()["error"]["message"]

    console.wait_for("the subscriber's email succeeding",
                     lambda s: fields(s)[1:3] == ["send_welcome_email", "success"]
                     and f"exec={subscribed}" in s)
    demo = console.wait_for("the demo welcome email succeeding",
                            lambda s: fields(s)[1:3] == ["send_welcome_email", "success"]
                            and f"exec={subscribed}" not in s)
    demo_log = console.lines[console.lines.index(demo) + 1]
    assert demo_log.lstrip().startswith("│ INFO newsletter: welcome email sent to "
                                        "demo-subscriber"), demo_log
    console.wait_for("the first master tick running a job",
                     lambda s: fields(s)[1:3] == ["master.tick", "first"]
                     and re.search(r"\bran=[1-9]", s) is not None)
    line = console.wait_for("the failing job's retry with backoff",
                            lambda s: fields(s)[1:3] == ["sync_analytics", "retry_scheduled"]
                            and "next retry in " in s)
    execution = next(f for f in fields(line) if f.startswith("exec="))
    console.wait_for("the failing job dead",
                     lambda s: fields(s)[1:3] == ["sync_analytics", "dead"]
                     and execution in s and "attempt=3" in s)
    await wait_for_dead_runs(store_path, "sync_analytics", 3)  # two more, not printed

    output = stop(console)
    assert "zenjobs dev: stopping" in output
    assert f"zenjobs dev: stopped; state kept in {store_path}" in output
    assert "\x1b[" not in output  # no colour codes into a pipe
    assert console.lines[0].startswith("zenjobs dev: dashboard: ")
    failing = [s for s in console.lines if fields(s)[1:2] == ["sync_analytics"]]
    # Its first run shows a retry and dead; every later one, failing alike, is counted in a
    # "dead" line with a count (after 30 s, then 60, 120, ... and at exit), never on its own.
    assert len(failing) <= 8, "\n".join(failing)
    assert all(fields(s)[2] in ("retry_scheduled", "dead") for s in failing), failing
    counted = sum(int(fields(s)[3].removeprefix(TIMES)) for s in failing
                  if fields(s)[2] == "dead" and fields(s)[3].startswith(TIMES))

    with SqliteJobStore(store_path) as store:
        dead = await store.get_run("sync_analytics", execution.removeprefix("exec="))
        assert dead is not None
        assert dead.status is RunStatus.DEAD and dead.attempt == 3
        assert dead.error_type == "FlakyProviderError"
        email = await store.get_run("send_welcome_email", subscribed)
        assert email is not None and email.status is RunStatus.SUCCESS
        assert email.payload == {"user_id": "e2e-user"}
        emails = await store.list_runs("send_welcome_email", 10)
        assert sum(r.status is RunStatus.SUCCESS for r in emails) >= 2  # demo + subscriber
        job = await store.get_job("sync_analytics")
        assert job is not None and job.last_status is RunStatus.DEAD
        dead = sum(r.status is RunStatus.DEAD
                   for r in await store.list_runs("sync_analytics", 10_000))
    # Every dead run after the first is counted in a "dead" line (a run the stop interrupted
    # between recording its outcome and emitting it may be missing from the count).
    assert dead - 2 <= counted <= dead - 1, (dead, failing)


async def wait_for_dead_runs(store_path: Path, job_id: str, count: int) -> None:
    deadline = time.monotonic() + CEILING
    while True:
        with SqliteJobStore(store_path) as store:
            runs = await store.list_runs(job_id, 10_000)
        if sum(r.status is RunStatus.DEAD for r in runs) >= count:
            return
        assert time.monotonic() < deadline, f"fewer than {count} dead runs of {job_id}"
        await asyncio.sleep(0.2)


async def test_a_run_stopped_by_ctrl_c_keeps_its_lease_and_is_taken_over_next_start(
        tmp_path: Path, started: list[Console]) -> None:
    store_path = tmp_path / "dev.sqlite3"
    args = ("--app", "tests.dev.slow_app:app", "--speed", "600", "--grace", "1")
    first, _ = start_dev(store_path, *args, "--verbose")
    started.append(first)
    line = first.wait_for("the slow job started",
                          lambda s: fields(s)[1:3] == ["job.started", "stuck_once"])
    execution = next(f for f in fields(line) if f.startswith("exec=")).removeprefix("exec=")
    output = stop(first)
    assert "grace period over" in output

    with SqliteJobStore(store_path) as store:
        left = await store.get_run("stuck_once", execution)
    assert left is not None
    assert left.status is RunStatus.RUNNING and left.attempt == 1
    assert left.lease_holder is not None and left.lease_expires_at is not None

    second, _ = start_dev(store_path, *args)
    started.append(second)
    # More 15-minute slots (1.5 s each at this speed) may have started before the stop
    # on a busy machine, so the recovery may re-enqueue more than this one run.
    second.wait_for("the recovery",
                    lambda s: re.search(r"re-enqueued [1-9]\d* unfinished run\(s\)", s) is not None)
    taken = second.wait_for("the run taken over and finished",
                            lambda s: fields(s)[1:3] == ["stuck_once", "success"]
                            and f"exec={execution}" in s)
    assert "attempt=2" in taken and "taken_over=true" in taken
    stop(second)
    with SqliteJobStore(store_path) as store:
        done = await store.get_run("stuck_once", execution)
    assert done is not None and done.status is RunStatus.SUCCESS and done.attempt == 2


def test_a_busy_port_is_one_line_naming_port_and_exit_1(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZENJOBS_")}
        done = subprocess.run(
            [str(ZENJOBS), "dev", "--registry", "examples.newsletter.jobs:jobs",
             "--port", str(port), "--store", str(tmp_path / "dev.sqlite3")],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=CEILING)
    assert done.returncode == 1
    assert done.stdout == ""  # nothing started, not even the dashboard line
    assert done.stderr.splitlines() == [
        f"error: port {port} is already in use on 127.0.0.1 (another zenjobs dev?); "
        f"choose another one with --port, e.g. --port {port + 1}"]
    assert not (tmp_path / "dev.sqlite3").exists()
