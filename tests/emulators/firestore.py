"""Start, reach and reset Google's Firestore emulator: for pytest fixtures and for CI scripts.

The emulator is the real component the Firestore store is proved against (see
``docs/firestore.md``). Rules from DESIGN.md: it listens on 127.0.0.1 only, it
is stopped by the PID we started, and a missing Java or jar is an error, never
a skip.

Shell use (``.ci/run``, the Makefile)::

    eval "$(.venv/bin/python -m tests.emulators.firestore start --pid-file .ci/firestore.pid)"
    # ... FIRESTORE_EMULATOR_HOST is now exported ...
    .venv/bin/python -m tests.emulators.firestore stop --pid-file .ci/firestore.pid

``start`` prints ``export FIRESTORE_EMULATOR_HOST=127.0.0.1:PORT`` once the
emulator answers HTTP and leaves it running in the background.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.emulators.process import EmulatorError, cli, free_port, launch, stop_group

__all__ = ["EmulatorError", "RunningEmulator", "ensure_emulator", "find_jar", "find_java",
           "free_port", "project_for", "reset", "start_emulator", "stop_started"]

EMULATOR_PACKAGE = "google-cloud-cli-firestore-emulator"
KNOWN_JAR = Path(
    "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
)
MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
HOST_ENV = "FIRESTORE_EMULATOR_HOST"
JAR_ENV = "FIRESTORE_EMULATOR_JAR"


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
        stop_group(self.pid, self.process)


def start_emulator(port: int | None = None, timeout: float = 60.0,
                   log_path: Path | None = None) -> RunningEmulator:
    """Start the emulator on 127.0.0.1 and wait until it answers HTTP.

    Its output goes to ``log_path`` (or is discarded); see
    :func:`tests.emulators.process.launch` for the session and the stop on failure.
    """
    java = find_java()
    jar = find_jar()
    port = port or free_port()
    host = f"127.0.0.1:{port}"
    command = [java, "-cp", str(jar), MAIN_CLASS, "start", "--host=127.0.0.1",
               f"--port={port}", "--database-mode=firestore-native"]

    def serves(_process: subprocess.Popen[bytes], left: float) -> bool:
        if answers_http(host, timeout=min(0.5, max(left, 0.05))):
            return True
        time.sleep(min(0.1, left))
        return False

    began = time.monotonic()
    process = launch(f"the Firestore emulator on {host}", command, serves, timeout=timeout,
                     log_path=log_path)
    return RunningEmulator(host=host, pid=process.pid, process=process,
                           started_in=time.monotonic() - began)


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


def started() -> RunningEmulator:
    """The emulator this test session started (fault-injection tests pause it by PID).

    One found through ``$FIRESTORE_EMULATOR_HOST`` is not ours to pause: that fails.
    """
    if _started is None:
        raise EmulatorError(
            f"this test pauses the Firestore emulator, so the session must start its own: "
            f"unset ${HOST_ENV}")
    return _started


def stop_started() -> None:
    """Stop the emulator :func:`ensure_emulator` started, if any (by its PID)."""
    global _started
    if _started is not None:
        if os.environ.get(HOST_ENV) == _started.host:
            del os.environ[HOST_ENV]
        _started.stop()
        _started = None


def project_for(key: str) -> str:
    """A valid project id derived from ``key`` (e.g. a tmp_path): same key, same data."""
    return "zj-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def reset(host: str, project: str, database: str = "(default)") -> None:
    """Delete every document of one project's database (the emulator's reset endpoint)."""
    url = f"http://{host}/emulator/v1/projects/{project}/databases/{database}/documents"
    request = urllib.request.Request(url, method="DELETE")
    with urllib.request.urlopen(request, timeout=10) as response:
        if int(response.status) != 200:
            raise EmulatorError(f"reset of {url} answered {response.status}")


def _main(argv: list[str] | None = None) -> int:
    return cli(argv, prog="python -m tests.emulators.firestore", name="the Firestore emulator",
               host_env=HOST_ENV,
               start=lambda port, log: start_emulator(port, log_path=log))


if __name__ == "__main__":
    sys.exit(_main())
