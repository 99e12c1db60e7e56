"""Start, reach and stop the Cloud Tasks emulator (PyPI ``gcloud-tasks-emulator``).

It runs from its own virtualenv (``scripts/tasks-emulator-venv.sh`` creates
``.emulators/tasks-venv``; it pins protobuf < 5) through
``scripts/run_tasks_emulator.py``, which binds its gRPC API to 127.0.0.1 only.
A missing venv is an error that says how to create it, never a skip.

Pytest uses :func:`start_tasks_emulator` through the session fixture
``tasks_emulator`` of ``tests/emulators/fixtures.py`` (or reuses the emulator
named by ``$CLOUD_TASKS_EMULATOR_HOST``, when CI started one). Shell use::

    eval "$(.venv/bin/python -m tests.emulators.cloud_tasks start --pid-file .ci/tasks.pid)"
    # ... CLOUD_TASKS_EMULATOR_HOST=127.0.0.1:PORT is now exported ...
    .venv/bin/python -m tests.emulators.cloud_tasks stop --pid-file .ci/tasks.pid
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.emulators.process import EmulatorError, cli, free_port, launch, stop_group

__all__ = ["HOST_ENV", "VENV_ENV", "RunningTasksEmulator", "TasksEmulatorError",
           "emulator_python", "free_port", "start_tasks_emulator"]

ROOT = Path(__file__).resolve().parents[2]
VENV_ENV = "TASKS_EMULATOR_VENV"
HOST_ENV = "CLOUD_TASKS_EMULATOR_HOST"
DEFAULT_VENV = ROOT / ".emulators" / "tasks-venv"
WRAPPER = ROOT / "scripts" / "run_tasks_emulator.py"
SETUP_HINT = "create it with: bash scripts/tasks-emulator-venv.sh"


class TasksEmulatorError(EmulatorError):
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


@dataclass
class RunningTasksEmulator:
    """An emulator to talk to; ``host`` is ``127.0.0.1:PORT`` (plain gRPC)."""

    host: str
    pid: int | None = None  # None: started by someone else (CI), not ours to stop
    process: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self.pid is not None:
            stop_group(self.pid, self.process)


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
    process = launch(f"the Cloud Tasks emulator on 127.0.0.1:{port}", command, _printed_ready,
                     timeout=timeout, log_path=log_path, read_stdout=True,
                     error=TasksEmulatorError)
    return RunningTasksEmulator(host=f"127.0.0.1:{port}", pid=process.pid, process=process)


def _printed_ready(process: subprocess.Popen[bytes], left: float) -> bool:
    """True once the wrapper printed its ``READY <port>`` line."""
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], min(left, 0.5))
    if not readable:
        return False
    line = process.stdout.readline()
    if not line:  # end of output: it is exiting, which launch() sees next
        time.sleep(min(left, 0.05))
    return line.startswith(b"READY")


def _main(argv: list[str] | None = None) -> int:
    return cli(argv, prog="python -m tests.emulators.cloud_tasks",
               name="the Cloud Tasks emulator", host_env=HOST_ENV,
               start=lambda port, log: start_tasks_emulator(port, log_path=log,
                                                            reuse_env=False))


if __name__ == "__main__":
    sys.exit(_main())
