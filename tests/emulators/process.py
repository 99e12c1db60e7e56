"""Run an emulator as a child process: own session, wait until ready, stop by PID.

Shared by ``tests/emulators/firestore.py`` and ``tests/emulators/cloud_tasks.py``,
which add only what differs: the command, how readiness shows, and how a
missing emulator is reported (an error, never a skip).

Rules from DESIGN.md: the emulator gets a session of its own so that stopping
it by its PID also stops whatever it spawned (the JVM's children), and we only
ever signal process groups we started. Stopping must reap: a child that is
never ``wait()``-ed stays a zombie, and a zombie still "exists" for
``kill(pid, 0)``, so polling for it to vanish would wait the whole grace period
every time. Our own child is reaped with :meth:`subprocess.Popen.wait`; a PID
read from a file (the CLI ``stop``) belongs to another parent, and there a
zombie counts as stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

#: Asked again and again with the seconds left until the start deadline; True once the
#: emulator serves. It may block, but not much longer than the seconds it is given.
ReadyProbe = Callable[[subprocess.Popen[bytes], float], bool]

GRACE_SECONDS = 10.0


class EmulatorError(RuntimeError):
    """An emulator cannot be found or started; the message says how to fix it."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch(name: str, command: list[str], ready: ReadyProbe, *, timeout: float,
           log_path: Path | None = None, read_stdout: bool = False,
           error: type[EmulatorError] = EmulatorError) -> subprocess.Popen[bytes]:
    """Start ``command`` in a session of its own and wait until ``ready`` says it serves.

    With ``read_stdout`` its stdout is a pipe for ``ready`` to read (stderr goes
    to ``log_path``); otherwise both go to ``log_path``, or are discarded, so a
    chatty emulator never blocks on a full pipe. If it exits or is not ready
    within ``timeout`` seconds it is stopped and ``error`` is raised, naming
    ``name`` and the command.
    """
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, start_new_session=True,
            stdout=subprocess.PIPE if read_stdout else log,
            stderr=log if read_stdout else subprocess.STDOUT)
    finally:
        if log_path:
            log.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            if ready(process, max(left, 0.0)):
                return process
        except BaseException:
            stop_group(process.pid, process)
            raise
        if process.poll() is not None:
            stop_group(process.pid, process)
            raise error(f"{name} exited with code {process.returncode} before it was "
                        f"ready: {' '.join(command)}")
        if left <= 0:
            stop_group(process.pid, process)
            raise error(f"{name} was not ready within {timeout:g}s: {' '.join(command)}")


@contextlib.contextmanager
def paused(pid: int) -> Iterator[None]:
    """Freeze the process group led by ``pid`` for the block (SIGSTOP, then SIGCONT).

    A frozen emulator accepts connections and answers nothing, exactly like a
    backend that hangs; its data survives, unlike a kill and restart.
    """
    os.killpg(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(pid, signal.SIGCONT)


def stop_group(pid: int, process: subprocess.Popen[bytes] | None = None,
               grace: float = GRACE_SECONDS) -> None:
    """Stop the process group led by ``pid``: SIGTERM, then SIGKILL after ``grace`` seconds.

    ``process`` is the :class:`subprocess.Popen` when the emulator is our own
    child: it is then reaped by ``wait()``, which returns as soon as it exits.
    """
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass  # already gone; a child of ours must still be reaped below
    except PermissionError:
        return  # the PID now belongs to someone else's process: not ours to stop
    if process is not None:
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            process.wait(timeout=grace)
        if process.stdout is not None:
            process.stdout.close()
        return
    if _vanished(pid, grace):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    _vanished(pid, grace)


def _vanished(pgid: int, within: float) -> bool:
    """Wait up to ``within`` seconds for every live member of group ``pgid`` to exit."""
    deadline = time.monotonic() + within
    while _group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _group_alive(pgid: int) -> bool:
    """True while group ``pgid`` has a member that is not a zombie (no /proc: any member)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for stat in proc.glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            # After "(comm)": state, ppid, pgrp, ... (comm itself may hold spaces or parens).
            state, _ppid, group = text[text.rindex(")") + 2:].split()[:3]
            if int(group) == pgid and state != "Z":
                return True
    return False


class Started(Protocol):
    """What a ``start`` function returns: where the emulator listens, and its PID."""

    @property
    def host(self) -> str: ...

    @property
    def pid(self) -> int | None: ...


def cli(argv: list[str] | None, *, prog: str, name: str, host_env: str,
        start: Callable[[int | None, Path | None], Started]) -> int:
    """``start|stop --pid-file F`` for shell scripts: ``start`` prints ``export HOST_ENV=...``.

    ``start`` leaves the emulator running and writes its PID to the file;
    ``stop`` stops that process group (see :func:`stop_group`) and deletes the file.
    """
    parser = argparse.ArgumentParser(prog=prog, description=f"Start or stop {name}.")
    sub = parser.add_subparsers(dest="command", required=True)
    start_cmd = sub.add_parser("start", help="start it and print the export line")
    start_cmd.add_argument("--port", type=int, default=0)
    start_cmd.add_argument("--pid-file", type=Path, required=True)
    start_cmd.add_argument("--log", type=Path, default=None)
    stop_cmd = sub.add_parser("stop", help="stop the emulator whose PID is in --pid-file")
    stop_cmd.add_argument("--pid-file", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            began = time.monotonic()
            emulator = start(args.port or None, args.log)
            args.pid_file.write_text(f"{emulator.pid}\n")
            print(f"export {host_env}={emulator.host}")
            print(f"{name} on {emulator.host} (pid {emulator.pid}, started in "
                  f"{time.monotonic() - began:.1f}s)", file=sys.stderr)
        elif args.pid_file.exists():
            stop_group(int(args.pid_file.read_text().strip()))
            args.pid_file.unlink()
    except EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
