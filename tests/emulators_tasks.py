"""Start, reach and stop the Cloud Tasks emulator (PyPI ``gcloud-tasks-emulator``).

It runs from its own virtualenv (``scripts/tasks-emulator-venv.sh`` creates
``.emulators/tasks-venv``; it pins protobuf < 5) through
``scripts/run_tasks_emulator.py``, which binds its gRPC API to 127.0.0.1 only.
A missing venv is an error that says how to create it, never a skip.

Pytest uses :func:`start_tasks_emulator` (or reuses the emulator named by
``$CLOUD_TASKS_EMULATOR_HOST``, when CI started one). Shell use::

    eval "$(.venv/bin/python -m tests.emulators_tasks start --pid-file .ci/tasks.pid)"
    # ... CLOUD_TASKS_EMULATOR_HOST=127.0.0.1:PORT is now exported ...
    .venv/bin/python -m tests.emulators_tasks stop --pid-file .ci/tasks.pid
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_ENV = "TASKS_EMULATOR_VENV"
HOST_ENV = "CLOUD_TASKS_EMULATOR_HOST"
DEFAULT_VENV = ROOT / ".emulators" / "tasks-venv"
WRAPPER = ROOT / "scripts" / "run_tasks_emulator.py"
SETUP_HINT = "create it with: bash scripts/tasks-emulator-venv.sh"


class TasksEmulatorError(RuntimeError):
    """The emulator cannot be found or started; the message says how to fix it."""


def emulator_python() -> Path:
    """The interpreter of the emulator's virtualenv, checked to import the emulator."""
    venv = Path(os.environ.get(VENV_ENV) or DEFAULT_VENV)
    python = venv / "bin" / "python"
    if not python.is_file():
        raise TasksEmulatorError(f"no Cloud Tasks emulator venv at {venv}; {SETUP_HINT}")
    probe = subprocess.run([str(python), "-c", "import gcloud_tasks_emulator.server"],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        raise TasksEmulatorError(f"{venv} cannot import gcloud_tasks_emulator "
                                 f"({probe.stderr.strip().splitlines()[-1:]}); {SETUP_HINT}")
    return python


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningTasksEmulator:
    """An emulator to talk to; ``host`` is ``127.0.0.1:PORT`` (plain gRPC)."""

    host: str
    pid: int | None = None  # None: started by someone else (CI), not ours to stop
    process: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self.pid is None:
            return
        if self.process is None:
            stop_pid(self.pid)
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)  # reaps it: a zombie would still "exist"
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_tasks_emulator(port: int | None = None, *, max_retries: int = -1,
                         timeout: float = 30.0, log_path: Path | None = None,
                         reuse_env: bool = True) -> RunningTasksEmulator:
    """Start the emulator on 127.0.0.1 and wait for its READY line.

    With ``reuse_env`` and ``$CLOUD_TASKS_EMULATOR_HOST`` set, that emulator is
    used instead (tests isolate themselves by using queues of their own).
    """
    existing = os.environ.get(HOST_ENV)
    if reuse_env and existing:
        return RunningTasksEmulator(host=existing)
    python = emulator_python()
    port = port or free_port()
    command = [str(python), str(WRAPPER), "--port", str(port), "--max-retries", str(max_retries)]
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        if log_path:
            log.close()  # type: ignore[union-attr]
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([process.stdout], [], [], max(left, 0))
        line = process.stdout.readline() if ready else b""
        if line.startswith(b"READY"):
            return RunningTasksEmulator(host=f"127.0.0.1:{port}", pid=process.pid,
                                        process=process)
        if process.poll() is not None or left <= 0 or (ready and not line):
            stop_pid(process.pid)
            raise TasksEmulatorError(
                f"the Cloud Tasks emulator did not start on 127.0.0.1:{port} "
                f"(exit code {process.poll()}): {' '.join(command)}")


def stop_pid(pid: int) -> None:
    """Stop the process group we started (the emulator is its session leader)."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.emulators_tasks",
                                     description="Start or stop the Cloud Tasks emulator.")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start it and print the export line")
    start.add_argument("--port", type=int, default=0)
    start.add_argument("--pid-file", type=Path, required=True)
    start.add_argument("--log", type=Path, default=None)
    stop = sub.add_parser("stop", help="stop the emulator whose PID is in --pid-file")
    stop.add_argument("--pid-file", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            emulator = start_tasks_emulator(args.port or None, log_path=args.log,
                                            reuse_env=False)
            args.pid_file.write_text(f"{emulator.pid}\n")
            print(f"export {HOST_ENV}={emulator.host}")
            print(f"cloud tasks emulator on {emulator.host} (pid {emulator.pid})",
                  file=sys.stderr)
        elif args.pid_file.exists():
            stop_pid(int(args.pid_file.read_text().strip()))
            args.pid_file.unlink()
    except TasksEmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())
