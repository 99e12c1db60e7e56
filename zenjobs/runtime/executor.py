"""``ZenJobsExecutor``: the one public entry point of the runtime.

Two explicit modes, never guessed from the environment (:meth:`ZenJobsExecutor.from_env`
picks one from ``ZENJOBS_MODE``, with the safety rules of :mod:`zenjobs.runtime.modes`):

* :meth:`ZenJobsExecutor.development`: an embedded store (SQLite file by
  default, ``":memory:"`` for tests), a simulated Cloud Tasks queue pushing
  in-process to this executor's own webhook, no OIDC.
* :meth:`ZenJobsExecutor.production`: Firestore and Cloud Tasks, OIDC required
  on every webhook; settings come from arguments, else environment variables,
  and a missing one is an error naming *every* missing setting.

The executor is the composition root: it reads the clock and wires the
collaborators; the :class:`~zenjobs.runtime.engine.JobEngine` does the work.
Cloud SDKs are imported only inside :meth:`production`, so importing this
module (or ``zenjobs``) never imports ``google.cloud``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..clocks.protocol import Clock
from ..clocks.system import SystemClock, sleep_until
from ..errors import ConfigurationError
from ..queues.protocol import TaskQueue
from ..registry import ZenJobs
from ..schedule import next_tick
from ..stores.deadline import DEFAULT_STORE_DEADLINE
from ..stores.protocol import JobStore
from ..stores.records import RunRecord
from ..telemetry.cloud_logging import LogTelemetrySink
from ..telemetry.protocol import FanOutTelemetrySink, TelemetrySink
from ..vocabulary import DEFAULT_LEASE_GRACE
from .engine import DEFAULT_BATCH_SIZE, JobEngine
from .modes import PRODUCTION, resolve_mode, resolve_production_settings
from .modes import PRODUCTION_ENV as PRODUCTION_ENV
from .protocol import MOUNT_PATH as MOUNT_PATH
from .protocol import AppExtension
from .runner import HeavyRunner

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from ..gcp.oidc import OidcVerifier

ASGIApp = Callable[..., Any]
#: Builds the production dashboard from the environment (``Dashboard.from_env``), or None.
DashboardFactory = Callable[[Mapping[str, str]], AppExtension | None]

log = logging.getLogger(__name__)


DEFAULT_DEV_STORE = ".zenjobs/dev.sqlite3"
DEFAULT_DEV_URL = "http://127.0.0.1:8080"

#: ``HOST:PORT`` of a Cloud Tasks emulator (plain gRPC) for the production queue.
#: Firestore's client reads ``FIRESTORE_EMULATOR_HOST`` itself, from ``os.environ``.
TASKS_EMULATOR_ENV = "CLOUD_TASKS_EMULATOR_HOST"


class ZenJobsExecutor:
    """Runs a registry's jobs; build it with :meth:`development` or :meth:`production`."""

    def __init__(self, jobs: ZenJobs, *, mode: str, store: JobStore, queue: TaskQueue | None,
                 clock: Clock, telemetry: TelemetrySink | None, service_url: str,
                 verifier: OidcVerifier | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                 lease_grace: timedelta = DEFAULT_LEASE_GRACE,
                 id_source: Callable[[], str] | None = None,
                 heavy_runner: HeavyRunner | None = None,
                 settings: Mapping[str, str] | None = None,
                 loop_lag_threshold: float | None = 0.25,
                 store_deadline: float | None = None,
                 dashboard: AppExtension | None = None) -> None:
        if mode == "production" and verifier is None:
            # An unauthenticated production webhook would let anyone run any job.
            raise ConfigurationError(
                "a production executor needs an OIDC verifier; build it with "
                "ZenJobsExecutor.production(...), which creates one")
        self.jobs = jobs
        self.mode = mode
        self.settings = dict(settings or {})
        self.loop_lag_threshold = loop_lag_threshold
        self._verifier = verifier
        self._app: ASGIApp | None = None
        self._mounted: ASGIApp | None = None
        self._warned_shadowing = False
        self._monitor: Any = None
        self._closers: list[Any] = []
        self._store = store
        self.dashboard = dashboard
        if dashboard is not None and dashboard.sink is not None:
            sinks = (telemetry, dashboard.sink) if telemetry is not None else (dashboard.sink,)
            telemetry = FanOutTelemetrySink(*sinks)
        self._engine = JobEngine(
            jobs, store, queue if queue is not None else _NoQueue(), clock, telemetry,
            service_url=service_url, batch_size=batch_size, lease_grace=lease_grace,
            id_source=id_source, heavy_runner=heavy_runner, store_deadline=store_deadline,
        )

    # -- construction ------------------------------------------------------

    @classmethod
    def development(cls, jobs: ZenJobs, *, store: str | JobStore = DEFAULT_DEV_STORE,
                    clock: Clock | None = None, telemetry: TelemetrySink | None = None,
                    queue: TaskQueue | None = None, service_url: str = DEFAULT_DEV_URL,
                    batch_size: int = DEFAULT_BATCH_SIZE,
                    lease_grace: timedelta = DEFAULT_LEASE_GRACE,
                    id_source: Callable[[], str] | None = None,
                    heavy_runner: HeavyRunner | None = None,
                    loop_lag_threshold: float | None = 0.25,
                    store_deadline: float | None = None,
                    dashboard: AppExtension | None = None) -> ZenJobsExecutor:
        """An executor on an embedded store and a simulated queue; no cloud, no OIDC.

        ``store`` is a SQLite file path (created with its directory), ``":memory:"``
        for an in-memory store, or any JobStore. Without ``queue``, tasks go to a
        ``SimulatedCloudTasks`` that delivers them in-process to this executor's
        webhook; drive it with :func:`zenjobs.testing.run_until_idle` or its
        ``serve()`` loop. ``dashboard`` (a ``zenjobs.dashboard.Dashboard``) serves
        the web dashboard under ``/_zenjobs/ui``; ``zenjobs dev`` lends one.
        """
        from .devsession import active_session

        session = active_session()  # `zenjobs dev` lends its collaborators (docs/dev.md)
        if session is not None:
            store = session.store if store == DEFAULT_DEV_STORE else store
            clock = clock or session.clock
            telemetry = telemetry if telemetry is not None else session.telemetry
            queue = queue if queue is not None else session.queue
            service_url = session.service_url if service_url == DEFAULT_DEV_URL else service_url
            dashboard = dashboard if dashboard is not None else session.dashboard
        clock = clock or SystemClock()
        executor = cls(jobs, mode="development", store=_dev_store(store), queue=queue,
                       clock=clock, telemetry=telemetry if telemetry is not None
                       else LogTelemetrySink(), service_url=service_url, batch_size=batch_size,
                       lease_grace=lease_grace, id_source=id_source, heavy_runner=heavy_runner,
                       loop_lag_threshold=loop_lag_threshold, store_deadline=store_deadline,
                       dashboard=dashboard)
        if queue is None:
            from ..queues.simulated import AsgiPusher, SimulatedCloudTasks

            async def own_app(scope: Any, receive: Any, send: Any) -> None:
                await executor.app(scope, receive, send)

            pusher = AsgiPusher(own_app)
            executor._closers.append(pusher)
            executor.engine.queue = SimulatedCloudTasks(clock, pusher)
        if session is not None:
            session.executors.append(executor)
        return executor

    @classmethod
    def production(cls, jobs: ZenJobs, *, project: str | None = None,
                   location: str | None = None, service_url: str | None = None,
                   invoker_service_account: str | None = None, collection: str = "jobs",
                   store: JobStore | None = None, queue: TaskQueue | None = None,
                   clock: Clock | None = None, telemetry: TelemetrySink | None = None,
                   verifier: OidcVerifier | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                   loop_lag_threshold: float | None = 0.25,
                   lease_grace: timedelta = DEFAULT_LEASE_GRACE,
                   store_deadline: float | None = DEFAULT_STORE_DEADLINE,
                   environ: Mapping[str, str] | None = None,
                   dashboard: AppExtension | None = None) -> ZenJobsExecutor:
        """An executor on Firestore and Cloud Tasks, with OIDC required on the webhook.

        Each setting is taken from its argument, else from the environment
        (see :data:`PRODUCTION_ENV`); :class:`ConfigurationError` names every
        one that is missing. ``lease_grace`` is added to a job's timeout to
        make its lease (gen-infra sizes the queues' backstop retries with the
        default); ``store_deadline`` bounds, in seconds, how long one delivery
        waits on Firestore in all before answering 503 (None: unbounded).
        ``store``/``queue``/``verifier`` may be injected (tests, emulators);
        otherwise the GCP backends are imported here, and the queue talks to the
        emulator at ``$CLOUD_TASKS_EMULATOR_HOST`` when that is set, so a
        production-configured service runs against local emulators (OIDC is
        still required on the webhook). The dashboard is off unless ``dashboard``
        is given, and then requires a Google identity (``docs/dashboard.md``).
        """
        env = os.environ if environ is None else environ
        settings = resolve_production_settings(
            {"project": project, "location": location, "service_url": service_url,
             "invoker_service_account": invoker_service_account},
            env,
            needs_location=queue is None,
        )
        url = settings["service_url"]
        if store is None:
            from ..stores.firestore.store import FirestoreJobStore

            store = FirestoreJobStore(settings["project"], collection=collection)
        if queue is None:
            from ..queues.cloud_tasks import CloudTasksQueue

            queue = CloudTasksQueue(
                settings["project"], settings["location"],
                invoker_service_account=settings["invoker_service_account"], audience=url,
                emulator_host=env.get(TASKS_EMULATOR_ENV) or None,
            )
        if verifier is None:
            from ..gcp.oidc import OidcVerifier

            verifier = OidcVerifier(url, [settings["invoker_service_account"]])
        return cls(jobs, mode="production", store=store, queue=queue,
                   clock=clock or SystemClock(),
                   telemetry=telemetry if telemetry is not None else LogTelemetrySink(),
                   service_url=url, verifier=verifier, batch_size=batch_size,
                   lease_grace=lease_grace, settings=settings,
                   loop_lag_threshold=loop_lag_threshold, store_deadline=store_deadline,
                   dashboard=dashboard)

    @classmethod
    def from_env(cls, jobs: ZenJobs, environ: Mapping[str, str] | None = None, *,
                 dashboard_factory: DashboardFactory | None = None,
                 **overrides: Any) -> ZenJobsExecutor:
        """The executor ``ZENJOBS_MODE`` asks for: one switch, the same code in every place.

        Unset, empty or ``development`` builds :meth:`development`; ``production``
        builds :meth:`production` (its settings from ``environ``, default
        ``os.environ``; a :class:`ConfigurationError` names every missing one at
        once). Refused with :class:`ConfigurationError`: any other value (naming
        the variable and the allowed values), and development on Cloud Run
        (``K_SERVICE`` set), whose webhook would have no authentication.

        ``overrides`` go to the chosen constructor as keyword arguments
        (``store=``, ``clock=``, ``telemetry=``, ``batch_size=``, ...); one that
        constructor does not take is refused (TypeError naming it and the
        mode), never dropped, so pass only what both modes take, or branch on
        the mode yourself. A string ``store=`` (a SQLite path, ``":memory:"``)
        is a development store and is refused in production.

        ``dashboard_factory`` is called with the environment in production only,
        and the dashboard it returns (None: off) is served under
        ``/_zenjobs/ui``; pass ``zenjobs.dashboard.Dashboard.from_env`` to turn
        the dashboard on from ``ZENJOBS_DASHBOARD_*`` variables. (The runtime
        never imports the dashboard: it is the caller's to choose.) Development
        takes its dashboard from ``zenjobs dev``, or from ``dashboard=``.
        """
        env = os.environ if environ is None else environ
        mode = resolve_mode(env)
        if dashboard_factory is not None and "dashboard" in overrides:
            raise TypeError("from_env() takes dashboard= or dashboard_factory=, not both")
        build = cls.production if mode == PRODUCTION else cls.development
        accepted = inspect.signature(build).parameters
        unknown = sorted(name for name in overrides
                         if name not in accepted or name in ("jobs", "environ"))
        if unknown:
            raise TypeError(
                f"from_env() in {mode} mode: ZenJobsExecutor.{mode}() takes no argument "
                + ", ".join(f"{name}=" for name in unknown))
        if mode == PRODUCTION:
            if isinstance(overrides.get("store"), str):
                raise ConfigurationError(
                    f"store={overrides['store']!r} is a development store; production "
                    "takes a JobStore (or none: Firestore)")
            if dashboard_factory is not None:
                overrides["dashboard"] = dashboard_factory(env)
            return cls.production(jobs, environ=env, **overrides)
        return cls.development(jobs, **overrides)

    # -- accessors ---------------------------------------------------------

    @property
    def engine(self) -> JobEngine:
        return self._engine

    @property
    def store(self) -> JobStore:
        """The store as configured (the engine reaches it through its deadline, if any)."""
        return self._store

    @property
    def queue(self) -> TaskQueue:
        return self._engine.queue

    @property
    def clock(self) -> Clock:
        return self._engine.clock

    @property
    def telemetry(self) -> TelemetrySink | None:
        return self._engine.telemetry

    @property
    def app(self) -> ASGIApp:
        """The executor as a whole ASGI app: every path of a service that is only the executor.

        It answers ``/_zenjobs/...`` (with a dashboard, its pages under the
        dashboard's prefix) and a JSON 404 for every other path. To add the
        executor to a service of your own, use :meth:`routes` or
        ``zenjobs.integrations.mount(app, executor)``: a ``Mount("/", app=executor.app)``
        matches every path, so it answers the zenjobs 404 for each of your routes
        declared after it (``docs/integration.md``).
        """
        if self._app is None:
            from .webhook import create_app, shadowing, with_extension

            webhook = create_app(self._engine, verifier=self._verifier, prefix=MOUNT_PATH)
            whole = webhook if self.dashboard is None else with_extension(
                webhook, self.dashboard.prefix, self.dashboard.asgi(self))

            async def app(scope: Any, receive: Any, send: Any) -> None:
                if not self._warned_shadowing and shadowing(scope):
                    self._warn_shadowing(scope)
                await whole(scope, receive, send)

            self._app = app
        return self._app

    def _warn_shadowing(self, scope: Mapping[str, Any]) -> None:
        # A parent router (Starlette, FastAPI) handed us a path that is not ours: we
        # are mounted at "/" and answer 404 for a route the service may well have.
        self._warned_shadowing = True
        log.warning(
            "executor.app answered 404 for %s: it is mounted at '/' under another router, so it "
            "takes every path no earlier route matched. Use zenjobs.integrations.mount(app, "
            "executor), or executor.routes(), which serve only %s/ (docs/integration.md)",
            scope.get("path"), MOUNT_PATH)

    def routes(self) -> list[BaseRoute]:
        """The executor's routes for a Starlette or FastAPI app: only ``/_zenjobs/...``.

        One ``Mount("/_zenjobs")`` serving the webhook (``/_zenjobs/run/{job_id}``,
        ``/_zenjobs/master``, ``/_zenjobs/health``, a JSON 404 for other paths
        under ``/_zenjobs/``) and the dashboard (``/_zenjobs/ui``), so every
        other path stays the service's own. Put them in the app's routes and
        the executor's lifespan in its lifespan, or let
        ``zenjobs.integrations.mount(app, executor)`` do both.
        """
        from starlette.routing import Mount

        if self._mounted is None:
            from .webhook import create_app, under, with_extension

            # Under the Mount, paths are matched relative to /_zenjobs (root_path).
            self._mounted = create_app(self._engine, verifier=self._verifier, prefix="")
            extension = self.dashboard
            if extension is not None and under(extension.prefix, MOUNT_PATH):
                self._mounted = with_extension(
                    self._mounted, extension.prefix.rstrip("/")[len(MOUNT_PATH):],
                    extension.asgi(self))
        routes: list[BaseRoute] = []
        if self.dashboard is not None and not under(self.dashboard.prefix, MOUNT_PATH):
            routes.append(Mount(self.dashboard.prefix.rstrip("/"),
                                app=self.dashboard.asgi(self)))
        routes.append(Mount(MOUNT_PATH, app=self._mounted))
        return routes

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> list[str]:
        """Validate the registry (handlers required), create missing job documents,
        and start the event-loop lag monitor.

        Returns the ids of the job documents created. Idempotent.
        """
        self.jobs.validate(require_handlers=True)
        created = await self._engine.sync()
        if self.loop_lag_threshold is not None and self._monitor is None:
            from ..telemetry.looplag import LoopLagMonitor
            from ..telemetry.protocol import FanOutTelemetrySink

            sinks = (self.telemetry,) if self.telemetry is not None else ()
            self._monitor = LoopLagMonitor(FanOutTelemetrySink(*sinks), self.clock.now,
                                           self._engine.running, self.loop_lag_threshold)
            await self._monitor.start()
        return created

    async def serve(self, stop: asyncio.Event, *,
                    tick_interval: timedelta = timedelta(minutes=1)) -> None:
        """Development loop: deliver simulated tasks as they fall due and tick the master
        scheduler on every whole ``tick_interval`` of the clock, until ``stop`` is set.

        In-flight deliveries finish before it returns.
        """
        queue_serve = getattr(self.queue, "serve", None)
        jobs = [asyncio.ensure_future(self._ticker(stop, tick_interval))]
        if queue_serve is not None:
            jobs.append(asyncio.ensure_future(queue_serve(stop)))
        try:
            await asyncio.gather(*jobs)
        finally:
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)

    async def _ticker(self, stop: asyncio.Event, interval: timedelta) -> None:
        while not stop.is_set():
            due = next_tick(self.clock.now(), interval)
            if not await sleep_until(self.clock, due, stop):
                return
            await self.tick(due)

    def stopping(self) -> None:
        """The service is about to stop: end the dashboard's event streams so the server
        does not wait on them."""
        if self.dashboard is not None:
            self.dashboard.close()

    async def shutdown(self) -> None:
        """Stop the monitor, release the queue, pushers and store.

        Runs in flight elsewhere keep their leases, which expire and are taken
        over, so nothing is lost.
        """
        self.stopping()
        if self._monitor is not None:
            monitor, self._monitor = self._monitor, None
            await monitor.stop()
        for resource in (*self._closers, self.queue, self.store):
            close = getattr(resource, "aclose", None) or getattr(resource, "close", None)
            if close is None:
                continue
            result = close()
            if inspect.isawaitable(result):
                await result

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        """An ASGI lifespan (``Starlette(lifespan=executor.lifespan)``): start, then shut down."""
        async with self:
            yield

    async def __aenter__(self) -> ZenJobsExecutor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    # -- operations --------------------------------------------------------

    async def schedule(self, job: str, payload: Any = None, *, delay: timedelta | None = None,
                       at: datetime | None = None, idempotency_key: str | None = None) -> str:
        """Schedule a run of an endpoint job; returns its execution id."""
        return await self._engine.schedule(job, payload, delay=delay, at=at,
                                           idempotency_key=idempotency_key)

    async def trigger(self, job: str, payload: Any = None, *,
                      idempotency_key: str | None = None) -> str:
        """Run any job once now (manual trigger); returns its execution id."""
        return await self._engine.trigger(job, payload, idempotency_key=idempotency_key)

    async def tick(self, now: datetime | None = None) -> dict[str, Any]:
        """Run one master tick (default: at the clock's now); returns its summary."""
        return await self._engine.tick(now)

    async def replay(self, execution_id: str, *, job_id: str | None = None) -> RunRecord:
        """Run a failed or dead execution again under a new attempt."""
        return await self._engine.replay(execution_id, job_id=job_id)


def _dev_store(store: str | JobStore) -> JobStore:
    if not isinstance(store, str):
        return store
    if store == ":memory:":
        from ..stores.memory import MemoryJobStore

        return MemoryJobStore()
    from ..stores.sqlite.store import SqliteJobStore

    return SqliteJobStore(store)


class _NoQueue:
    """Placeholder until a queue is wired; enqueueing through it is a configuration error."""

    async def enqueue(self, task: Any) -> Any:
        raise ConfigurationError("no task queue configured for this executor")
