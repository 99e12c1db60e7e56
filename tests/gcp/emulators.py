"""Start, reach and reset Google's Firestore emulator: for pytest fixtures and for CI scripts.

The emulator is the real component the Firestore store is proved against (see
``docs/firestore.md``). Rules from DESIGN.md: it listens on 127.0.0.1 only, it
is stopped by the PID we started, and a missing Java or jar is an error, never
a skip.

Shell use (``.ci/run``, the Makefile)::

    eval "$(.venv/bin/python -m tests.gcp.emulators start --pid-file .ci/firestore.pid)"
    # ... FIRESTORE_EMULATOR_HOST is now exported ...
    .venv/bin/python -m tests.gcp.emulators stop --pid-file .ci/firestore.pid

``start`` prints ``export FIRESTORE_EMULATOR_HOST=127.0.0.1:PORT`` once the
emulator answers HTTP and leaves it running in the background.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

EMULATOR_PACKAGE = "google-cloud-cli-firestore-emulator"
KNOWN_JAR = Path(
    "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
)
MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
HOST_ENV = "FIRESTORE_EMULATOR_HOST"
JAR_ENV = "FIRESTORE_EMULATOR_JAR"


class EmulatorError(RuntimeError):
    """The emulator cannot be found or started; the message says what to install."""


def find_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise EmulatorError(
            "the Firestore emulator needs Java 17+, but `java` is not on PATH "
            "(Debian: apt-get install openjdk-17-jre-headless)"
        )
    return java


def find_jar() -> Path:
    """The jar: $FIRESTORE_EMULATOR_JAR, else the Debian package's, else the usual path."""
    override = os.environ.get(JAR_ENV)
    if override:
        if not Path(override).is_file():
            raise EmulatorError(f"{JAR_ENV}={override} does not exist")
        return Path(override)
    try:
        listing = subprocess.run(
            ["dpkg", "-L", EMULATOR_PACKAGE], capture_output=True, text=True, check=False
        ).stdout
    except FileNotFoundError:
        listing = ""
    for line in listing.splitlines():
        if line.endswith(".jar") and Path(line).is_file():
            return Path(line)
    if KNOWN_JAR.is_file():
        return KNOWN_JAR
    raise EmulatorError(
        f"Firestore emulator jar not found: install the Debian package {EMULATOR_PACKAGE} "
        f"(or set {JAR_ENV}=/path/to/cloud-firestore-emulator.jar)"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers_http(host: str, timeout: float = 0.5) -> bool:
    """True once the emulator's HTTP endpoint replies (it says ``Ok`` on ``/``)."""
    try:
        with urllib.request.urlopen(f"http://{host}/", timeout=timeout) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class RunningEmulator:
    """A Firestore emulator we started; ``host`` is the value for FIRESTORE_EMULATOR_HOST."""

    host: str
    pid: int
    process: subprocess.Popen[bytes] | None = None
    started_in: float = 0.0

    def stop(self) -> None:
        stop_pid(self.pid)
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_emulator(port: int | None = None, timeout: float = 60.0,
                   log_path: Path | None = None) -> RunningEmulator:
    """Start the emulator on 127.0.0.1 and wait until it answers HTTP.

    The process gets its own session so that stopping it by PID also stops the
    JVM's children; its output goes to ``log_path`` (or is discarded) so a
    chatty emulator never blocks on a full pipe.
    """
    java = find_java()
    jar = find_jar()
    port = port or free_port()
    host = f"127.0.0.1:{port}"
    command = [java, "-cp", str(jar), MAIN_CLASS, "start", "--host=127.0.0.1",
               f"--port={port}", "--database-mode=firestore-native"]
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    began = time.monotonic()
    try:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        if log_path:
            log.close()  # type: ignore[union-attr]
    while not answers_http(host):
        if process.poll() is not None:
            raise EmulatorError(
                f"the Firestore emulator exited with code {process.returncode} "
                f"before answering on {host}: {' '.join(command)}"
            )
        if time.monotonic() - began > timeout:
            stop_pid(process.pid)
            raise EmulatorError(f"the Firestore emulator did not answer on {host} in {timeout}s")
        time.sleep(0.1)
    return RunningEmulator(host=host, pid=process.pid, process=process,
                           started_in=time.monotonic() - began)


def stop_pid(pid: int) -> None:
    """Stop the process group we started (the emulator's session leader is ``pid``)."""
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
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


_started: RunningEmulator | None = None


def ensure_emulator() -> str:
    """The emulator host for this process: $FIRESTORE_EMULATOR_HOST, else one we start.

    The one we start is shared by every fixture of the process (the gcp tests
    and the store contract suite), exported in the environment so that
    ``AsyncClient`` finds it, and stopped by :func:`stop_started` or at exit.
    """
    global _started
    host = os.environ.get(HOST_ENV)
    if host:
        return host
    _started = start_emulator()
    atexit.register(stop_started)
    os.environ[HOST_ENV] = _started.host
    return _started.host


def stop_started() -> None:
    """Stop the emulator :func:`ensure_emulator` started, if any (by its PID)."""
    global _started
    if _started is not None:
        if os.environ.get(HOST_ENV) == _started.host:
            del os.environ[HOST_ENV]
        _started.stop()
        _started = None


def reset(host: str, project: str, database: str = "(default)") -> None:
    """Delete every document of one project's database (the emulator's reset endpoint)."""
    url = f"http://{host}/emulator/v1/projects/{project}/databases/{database}/documents"
    request = urllib.request.Request(url, method="DELETE")
    with urllib.request.urlopen(request, timeout=10) as response:
        if int(response.status) != 200:
            raise EmulatorError(f"reset of {url} answered {response.status}")


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.gcp.emulators",
                                     description="Start or stop the Firestore emulator.")
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
            emulator = start_emulator(args.port or None, log_path=args.log)
            args.pid_file.write_text(f"{emulator.pid}\n")
            print(f"export {HOST_ENV}={emulator.host}")
            print(f"firestore emulator on {emulator.host} (pid {emulator.pid}, "
                  f"started in {emulator.started_in:.1f}s)", file=sys.stderr)
        else:
            if args.pid_file.exists():
                stop_pid(int(args.pid_file.read_text().strip()))
                args.pid_file.unlink()
    except EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())
