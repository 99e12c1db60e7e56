"""End to end: ``zenjobs dev`` as a real process, real uvicorn, real HTTP, SQLite on disk.

The command is the one ``make dev`` runs, with ``--speed 120`` (a simulated
minute every half real second) and a free port. The test reads the console
until it has seen the "Done when" of issue 3 (a master tick running the
periodic job, a welcome email succeeding, the failing demo job retried with
backoff and then dead), subscribes a user over HTTP and sees that email sent,
then stops the server with SIGINT and checks the exit code and the store.
Waits are bounded (a process that never shows a line fails the test, with
everything it printed); nothing is asserted about how fast it happens.
"""

from __future__ import annotations

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

from zenjobs.backends.base import RunStatus
from zenjobs.backends.sqlite import SqliteJobStore

REPO = Path(__file__).resolve().parents[2]
ZENJOBS = Path(sys.executable).with_name("zenjobs")
BOUND_SECONDS = 60.0


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
        self._deadline = time.monotonic() + BOUND_SECONDS

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, what: str, match: Callable[[str], bool]) -> str:
        for seen in self.lines:
            if match(seen):
                return seen
        while True:
            left = self._deadline - time.monotonic()
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
        self._thread.join(timeout=30)
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


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[tuple[Console, int, Path]]:
    if not ZENJOBS.exists():
        pytest.fail(f"the zenjobs console script is missing at {ZENJOBS}")
    port = free_port()
    store = tmp_path / "dev.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZENJOBS_")}
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        [str(ZENJOBS), "dev", "--registry", "examples.newsletter.jobs:jobs",
         "--speed", "120", "--port", str(port), "--store", str(store)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    console = Console(proc)
    try:
        yield console, port, store
    finally:
        if proc.poll() is None:
            proc.kill()  # only if the test failed before stopping it itself
            proc.wait(timeout=30)


async def test_make_dev_shows_the_done_when_and_stops_cleanly(
        dev_server: tuple[Console, int, Path]) -> None:
    console, port, store_path = dev_server
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
                     lambda s: "job.succeeded" in s and f"exec={subscribed}" in s)
    console.wait_for("the demo welcome email succeeding",
                     lambda s: fields(s)[1:3] == ["job.succeeded", "send_welcome_email"]
                     and f"exec={subscribed}" not in s)
    console.wait_for("a master tick running a job",
                     lambda s: "master.tick" in s and re.search(r"\bran=[1-9]", s) is not None)
    started = console.wait_for("the periodic job started by the tick",
                               lambda s: fields(s)[1:3] == ["job.started", "sync_analytics"]
                               and "trigger=schedule" in s)
    execution = next(f for f in fields(started) if f.startswith("exec="))
    console.wait_for("the failing job's retry with backoff",
                     lambda s: fields(s)[1:3] == ["job.retry_scheduled", "sync_analytics"]
                     and execution in s and " in " in s)
    console.wait_for("the failing job dead",
                     lambda s: fields(s)[1:3] == ["job.failed", "sync_analytics"]
                     and execution in s and "status=dead final=true" in s)

    console.proc.send_signal(signal.SIGINT)
    assert console.proc.wait(timeout=BOUND_SECONDS) == 0
    output = console.rest()
    assert "zenjobs dev: stopping" in output
    assert f"zenjobs dev: stopped; state kept in {store_path}" in output
    assert "Traceback" not in output

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
