"""The browser suite: real headless Chromium (Debian's ``chromium``) driven by Playwright.

The browser is the one ``make browser`` installs with apt (``/usr/bin/chromium``, or
``$ZENJOBS_CHROMIUM``); Playwright never downloads one (never run ``playwright
install``). A missing browser FAILS the run, it never skips.

Fixtures:

* ``browser`` (package): the launched Chromium (``playwright.sync_api.Browser``).
* ``page`` (function): a fresh page in a fresh context (1280x900, 15 s default
  timeout; ``expect(...)`` waits up to 15 s too). Wait on events with
  ``expect(...)``, never on sleeps.
* ``example_service`` (package): ``zenjobs dev`` for the newsletter example as a real
  server on a free port, with ``url``, ``store``, ``pid`` and ``output`` (the lines
  it printed so far); ``printed()`` joins them for failure messages.
* ``zenjobs_cli`` (session): ``zenjobs_cli(*args)`` runs the ``zenjobs`` command in
  the repository and returns the ``subprocess.CompletedProcess`` (text, captured).
* ``screenshots`` (session): ``screenshots.save(page, name)`` writes a full-page PNG
  to ``tests/browser/.screenshots/<name>.png`` (git-ignored).

The types are in ``tests/browser/harness.py``. ``browser`` and ``example_service`` live
once for tests/browser and its subdirectories (package scope), not for the whole
session: while Playwright's sync API is alive its event loop counts as the running
one, which breaks every pytest-asyncio test after it (``Runner.run() cannot be called
from a running event loop``). For the same reason browser tests are plain ``def``
functions, never ``async def``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from tests.emulators.process import free_port

from .harness import ExampleService, Screenshots, ZenjobsCli

REPO = Path(__file__).resolve().parents[2]
#: The console script next to the interpreter running the tests (.venv/bin/zenjobs).
ZENJOBS = Path(sys.executable).with_name("zenjobs")
CHROMIUM_ENV = "ZENJOBS_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
#: Without the background-networking flags Chromium keeps opening connections to
#: Google services, which this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
#: How long one action or ``expect(...)`` may wait for its event (milliseconds).
TIMEOUT_MS = 15_000
#: How long ``zenjobs dev`` may take to print its "serving" line; it bounds a broken
#: start only: a passing one never waits for it.
START_CEILING = 60.0
#: Simulated time runs this much faster, so the example's failing job reaches ``dead``
#: within seconds (a tick every simulated minute is one a second).
SPEED = 60
#: How long SIGINT may take to stop the service before it is killed.
STOP_CEILING = 20.0
SCREENSHOTS = Path(__file__).resolve().parent / ".screenshots"


def chromium_path() -> Path:
    return Path(os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Headless Chromium for tests/browser; fails (never skips) when it is missing."""
    executable = chromium_path()
    if not (executable.is_file() and os.access(executable, os.X_OK)):
        pytest.fail(
            f"Chromium is missing at {executable} (set by ${CHROMIUM_ENV}, default "
            f"{DEFAULT_CHROMIUM}). Install Debian's chromium with `make browser` "
            "(apt-get install -y chromium); never `playwright install`.",
            pytrace=False)
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A new page in its own context (no cookies or storage shared between tests)."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def _pump(proc: subprocess.Popen[str], service: ExampleService, marker: str,
          ready: threading.Event) -> None:
    """Read the process's output until it ends; set ``ready`` on ``marker`` or at the end."""
    assert proc.stdout is not None
    for line in proc.stdout:
        service.output.append(line.rstrip("\n"))
        if marker in line:
            ready.set()
    ready.set()  # the process ended (or closed its output): the waiter sees why


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGINT (Ctrl-C) to that one process, then SIGKILL to it if it does not stop."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=STOP_CEILING)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_CEILING)


@pytest.fixture(scope="package")
def example_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleService]:
    """``zenjobs dev --registry examples.newsletter.jobs:jobs --speed 60`` on a free port and its
    own store, started once for tests/browser and stopped with SIGINT after its last test."""
    if not ZENJOBS.exists():
        pytest.fail(f"the zenjobs console script is missing at {ZENJOBS}", pytrace=False)
    port = free_port()
    store = tmp_path_factory.mktemp("example-service") / "dev.sqlite3"
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [str(ZENJOBS), "dev", "--registry", "examples.newsletter.jobs:jobs",
         "--port", str(port), "--store", str(store), "--speed", str(SPEED)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    service = ExampleService(url=url, store=store, pid=proc.pid)
    ready = threading.Event()
    reader = threading.Thread(target=_pump, args=(proc, service, f"serving {url} ", ready),
                              name="example-service-output", daemon=True)
    reader.start()
    try:
        if not ready.wait(timeout=START_CEILING):
            pytest.fail(f"zenjobs dev did not print 'serving {url}' within "
                        f"{START_CEILING:g}s; output:\n{service.printed()}", pytrace=False)
        if not any(f"serving {url} " in line for line in service.output):
            proc.wait(timeout=STOP_CEILING)
            pytest.fail(f"zenjobs dev exited with {proc.returncode} before serving; "
                        f"output:\n{service.printed()}", pytrace=False)
        yield service
    finally:
        _stop(proc)
        reader.join(timeout=STOP_CEILING)
        if proc.returncode != 0:  # killed, or a crash: worth a look, though no test failed
            warnings.warn(f"zenjobs dev ended with {proc.returncode}; output:\n"
                          f"{service.printed()}", stacklevel=1)


@pytest.fixture(scope="session")
def zenjobs_cli() -> ZenjobsCli:
    """``zenjobs_cli("status", "--json", "--store", f"sqlite:{store}")``: the command's
    result (``returncode``, ``stdout``, ``stderr`` as text); it never raises on failure."""
    if not ZENJOBS.exists():
        pytest.fail(f"the zenjobs console script is missing at {ZENJOBS}", pytrace=False)

    def run(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ZENJOBS), *args], cwd=REPO, capture_output=True,
                              text=True, timeout=timeout, check=False)

    return run


@pytest.fixture(scope="session")
def screenshots() -> Screenshots:
    return Screenshots(SCREENSHOTS)
