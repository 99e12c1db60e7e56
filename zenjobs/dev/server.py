"""``zenjobs dev``: the whole runtime on one laptop, with no cloud account.

One process runs:

* the service (an ASGI app) under uvicorn on a loopback address only;
* a simulated Cloud Tasks queue that pushes tasks over real HTTP to that
  service, with schedule times, name dedup, rate limits and retries;
* a master tick every simulated minute: an HTTP ``POST /_zenjobs/master``
  with ``X-CloudScheduler-ScheduleTime``, exactly as Cloud Scheduler sends it;
* the SQLite store (``.zenjobs/dev.sqlite3``), which outlives the process;
* a clock that may run ``speed`` times faster than real time;
* the console: one line per run outcome, the handlers' log lines under their
  run, repeats collapsed (:mod:`zenjobs.telemetry.digest`; ``--verbose`` prints
  every event).

The listening socket is bound first, before anything is printed or loaded, so
a busy port is one line of error (:class:`PortInUseError`) and a non-zero exit.

The app gets these collaborators through a :class:`~zenjobs.runtime.devsession.DevSession`
(see that module): its ``ZenJobsExecutor.development(jobs)`` needs no dev-only code.

Stopping (Ctrl-C / SIGTERM): the tick loop stops, the queue starts no new
push and waits (up to ``grace`` real seconds) for the pushes in flight, then
uvicorn drains its requests and the app's lifespan closes the store. A run
still going after the grace keeps its lease; tasks still queued are not lost
either: the store is the source of truth, and on the next start every
unfinished run (pending, retry scheduled, or running with a lease that will
expire) is enqueued again under its deterministic task name
(:mod:`zenjobs.dev.recovery`). A second Ctrl-C exits at once
(:mod:`zenjobs.dev.stopping`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import ipaddress
import logging
import socket
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from ..clocks.system import sleep_until
from ..dashboard import PREFIX as DASHBOARD_PREFIX
from ..dashboard import Dashboard
from ..errors import ConfigurationError, DefinitionError, RegistryLoadError
from ..loader import import_object
from ..queues.pushers import HttpPusher
from ..queues.simulated import QueueSettings, SimulatedCloudTasks
from ..registry import ZenJobs
from ..runtime.devsession import DevSession, activated
from ..runtime.executor import ZenJobsExecutor
from ..schedule import TICK, format_instant, next_tick
from ..telemetry.console import ConsoleTelemetrySink, OutsideRuns, capturing_run_logs
from ..telemetry.lines import ConsoleOptions
from .recovery import RECOVERY_SCAN_LIMIT as RECOVERY_SCAN_LIMIT
from .recovery import recover_unfinished as recover_unfinished
from .recovery import simulated_start as simulated_start
from .scaled_clock import ScaledClock
from .stopping import DevServer, QuietCancellation
from .stopping import shield_heavy_runs_from_ctrl_c as shield_heavy_runs_from_ctrl_c

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_STORE = ".zenjobs/dev.sqlite3"
DEFAULT_GRACE_SECONDS = 10.0
TICK_INTERVAL = TICK
APP_ENV = "ZENJOBS_APP"


@dataclass(frozen=True)
class DevOptions:
    """Everything ``zenjobs dev`` was asked for; see ``docs/dev.md``."""

    app_spec: str | None  # module:attr of an ASGI app, or None for a bare webhook app
    registry: ZenJobs | None  # needed when app_spec is None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    store: str = DEFAULT_STORE
    speed: float = 1.0
    grace: float = DEFAULT_GRACE_SECONDS
    console: ConsoleOptions = field(default_factory=ConsoleOptions)  # speed: from ``speed``

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def check_loopback(host: str) -> str:
    """``host`` if it is a loopback address; the dev webhook has no authentication."""
    if host == "localhost":
        return host
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ConfigurationError(
        f"{host!r} is not a loopback address: zenjobs dev serves the webhook without "
        "authentication, so it only listens on 127.0.0.1, ::1 or localhost. "
        "To serve other machines, deploy with ZenJobsExecutor.production (OIDC required).")


class PortInUseError(ConfigurationError):
    """The port ``zenjobs dev`` was asked to listen on is taken."""


def bind_listeners(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to every address of ``host`` on ``port``, for uvicorn to listen on.

    What ``loop.create_server(host=..., port=...)`` would bind (``localhost`` may
    be both 127.0.0.1 and ::1), bound here so that a taken port is reported in
    one line instead of uvicorn's log record, before the app is even imported.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc}") from None
    sockets: list[socket.socket] = []
    seen: set[tuple[int, Any]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.set_inheritable(True)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"port {port} is already in use on {host} (another zenjobs dev?); "
                f"choose another one with --port, e.g. --port {port + 1 if port < 65535 else 8081}"
            ) from None
        raise ConfigurationError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    return sockets


def load_asgi_app(spec: str, cwd: Path | None = None) -> Any:
    """Import ``module:attribute`` (the working directory is importable) and return it."""
    try:
        app = import_object(spec, "app", cwd)
    except DefinitionError as exc:  # whatever the app module raises is its failure to load
        raise RegistryLoadError(
            f"cannot import app {spec!r}: {type(exc).__name__}: {exc}") from exc
    if not callable(app):
        raise RegistryLoadError(f"{spec!r} is not an ASGI application")
    return app


def bare_app(jobs: ZenJobs) -> Starlette:
    """A service that is only the zenjobs webhook, for a registry without an app."""
    executor = ZenJobsExecutor.development(jobs)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await executor.start()
        try:
            yield
        finally:
            await executor.shutdown()

    return Starlette(routes=[Mount("/", app=executor.app)], lifespan=lifespan)


def dev_queue_settings(jobs: ZenJobs) -> dict[str, QueueSettings]:
    """Each queue's limits and retry config exactly as ``gen-infra`` creates it in Cloud Tasks.

    The plan's rules (strictest rate limit per queue, the backstop RetryConfig
    that outlasts a crashed holder's lease) are reused, not restated, so the dev
    queue throttles and retries like the deployed one. The placeholder settings
    only satisfy the plan's checks.
    """
    if not len(jobs):
        return {}
    from ..infra.plan import InfraSettings, build_plan

    plan = build_plan(jobs, InfraSettings(project="zenjobs-dev", region="local-dev1",
                                          service="zenjobs-dev",
                                          service_url="https://localhost"))
    default = QueueSettings()
    return {
        queue.name: QueueSettings(
            max_dispatches_per_second=(queue.max_dispatches_per_second
                                       or default.max_dispatches_per_second),
            max_concurrent_dispatches=(queue.max_concurrent_dispatches
                                       or default.max_concurrent_dispatches),
            max_attempts=queue.max_attempts, min_backoff=queue.min_backoff,
            max_backoff=queue.max_backoff, max_doublings=queue.max_doublings,
            max_retry_duration=queue.max_retry_duration)
        for queue in plan.queues
    }


async def _ticker(url: str, clock: ScaledClock, stop: asyncio.Event, out: TextIO) -> None:
    """Cloud Scheduler's part: POST the master tick at every whole simulated minute."""
    # verify=False: plain HTTP to loopback; it also skips loading CA files on the loop.
    async with httpx.AsyncClient(trust_env=False, timeout=None, verify=False) as client:
        while not stop.is_set():
            due = next_tick(clock.now(), TICK_INTERVAL)
            if not await sleep_until(clock, due, stop):
                return
            try:
                response = await client.post(
                    f"{url}/_zenjobs/master",
                    headers={"X-CloudScheduler-ScheduleTime": format_instant(due),
                             "User-Agent": "Google-Cloud-Scheduler"})
            except httpx.HTTPError as exc:
                _say(out, f"master tick {format_instant(due)} not delivered: {exc!r}")
                continue
            if response.status_code >= 300:
                _say(out, f"master tick {format_instant(due)} answered "
                          f"{response.status_code}: {response.text[:300]}")


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    loop.call_soon_threadsafe(callback)


def _say(out: TextIO, message: str) -> None:
    out.write(f"zenjobs dev: {message}\n")
    out.flush()


async def _drive(server: DevServer, session: DevSession, queue: SimulatedCloudTasks,
                 clock: ScaledClock, stop: asyncio.Event, options: DevOptions,
                 out: TextIO) -> None:
    """Wait for the server, recover, run the loops until ``stop``, then drain and stop it."""
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(0.05)
    try:
        recovered = 0
        for executor in session.executors:
            shield_heavy_runs_from_ctrl_c(executor.jobs)
            recovered += await recover_unfinished(executor)
        if not session.executors:
            _say(out, "warning: the app built no ZenJobsExecutor.development(...) while "
                      "loading; ticks and tasks will reach it over HTTP only")
        if recovered:
            _say(out, f"re-enqueued {recovered} unfinished run(s) from the store")
    except Exception as exc:
        _say(out, f"could not recover unfinished runs: {type(exc).__name__}: {exc}")
    _say(out, f"serving {options.url} (Ctrl-C to stop)")
    loops = [asyncio.ensure_future(queue.serve(stop)),
             asyncio.ensure_future(_ticker(options.url, clock, stop, out))]
    await stop.wait()
    for executor in session.executors:
        executor.stopping()  # end the dashboard's event streams: the server need not wait
    in_flight = sum(1 for t in queue.scheduled() if t.in_flight)
    _say(out, f"stopping: {in_flight} delivery(ies) in flight, waiting up to "
              f"{options.grace:g}s for them")
    _, pending = await asyncio.wait(loops, timeout=options.grace)
    if pending:
        _say(out, "grace period over: runs still going are stopped with their lease kept; "
                  "they are taken over on the next start")
    # uvicorn drains its open requests for at most the grace period, then cancels them,
    # which ends the pushes still waiting for an answer.
    server.finish()
    for task in pending:
        task.cancel()
    await asyncio.gather(*loops, return_exceptions=True)
    waiting = queue.pending()
    if waiting:
        _say(out, f"{waiting} queued task(s) not delivered yet: their runs are in the store "
                  "and are enqueued again on the next start")


async def serve_dev(options: DevOptions, out: TextIO | None = None) -> int:
    """Run ``zenjobs dev`` until a signal; returns the process exit code.

    Raises :class:`PortInUseError` (a ConfigurationError) when the port is taken,
    before printing anything.
    """
    out = out if out is not None else sys.stdout
    check_loopback(options.host)
    listeners = bind_listeners(options.host, options.port)
    try:
        return await _serve(options, out, listeners)
    finally:
        for sock in listeners:
            sock.close()


async def _serve(options: DevOptions, out: TextIO, listeners: list[socket.socket]) -> int:
    wall_now = datetime.now(timezone.utc)  # the composition root reads the wall clock once
    start = await simulated_start(options.store, wall_now)
    clock = ScaledClock(options.speed, start)
    pusher = HttpPusher()
    settings = dev_queue_settings(options.registry) if options.registry is not None else {}
    queue = SimulatedCloudTasks(clock, pusher, settings)
    console = ConsoleTelemetrySink(out, dataclasses.replace(options.console, speed=options.speed))
    session = DevSession(store=options.store, clock=clock, telemetry=console,
                         queue=queue, service_url=options.url, dashboard=Dashboard())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Import httpx's transport (httpcore, h11, certifi) now rather than on the first push,
    # where it would block the loop under the app's loop-lag monitor.
    await httpx.AsyncClient(trust_env=False).aclose()
    with activated(session), capturing_run_logs(console):
        if options.app_spec is not None:
            app = load_asgi_app(options.app_spec)
        elif options.registry is not None:
            app = bare_app(options.registry)
        else:
            raise ConfigurationError("zenjobs dev needs an app (--app) or a registry (--registry)")
        config = uvicorn.Config(app, host=options.host, port=options.port, lifespan="on",
                                log_level="warning", access_log=False,
                                timeout_graceful_shutdown=max(int(options.grace), 1))
        server = DevServer(config, lambda: _call_soon(loop, stop.set))
        logging.getLogger("uvicorn.error").addFilter(QuietCancellation())
        _say(out, f"dashboard: {options.url}{DASHBOARD_PREFIX}/")
        speed = f", simulated time x{options.speed:g}" if options.speed != 1 else ""
        _say(out, f"app {options.app_spec or '(webhook only)'}, store {options.store}"
                  f"{speed}, starting at {format_instant(start)}")
        if not options.console.verbose:
            _say(out, "console: one line per run outcome, handler logs under it, repeats "
                      "collapsed, ticks summed up hourly (--verbose: every event)")
        driver = asyncio.ensure_future(_drive(server, session, queue, clock, stop, options, out))
        try:
            await server.serve(sockets=listeners)
        finally:
            stop.set()
            if not driver.done():
                driver.cancel()
            await asyncio.gather(driver, return_exceptions=True)
            await pusher.aclose()
            console.close()  # the repeats and ticks counted but not printed yet
    _say(out, f"stopped; state kept in {options.store}")
    return 0


def configure_logging() -> None:
    """Warnings and errors to stderr, without timestamps (telemetry has them); INFO reaches
    the console's run-log handler, which shows a handler's records under its run.

    The root logger is set to INFO so that a handler's ``log.info`` gets that far; the
    stderr handler keeps WARNING and leaves the records taken by the console alone.
    """
    root = logging.getLogger()
    if not any(getattr(handler, "zenjobs_dev", False) for handler in root.handlers):
        handler = logging.StreamHandler()
        handler.setLevel(logging.WARNING)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler.addFilter(OutsideRuns())
        handler.zenjobs_dev = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)

