"""The web dashboard at ``/_zenjobs/ui``: see and operate every job and run.

Served by the service itself (no separate deployment, no Node build): pass a
:class:`Dashboard` to the executor and its ASGI app serves the pages beside the
webhook::

    executor = ZenJobsExecutor.production(
        jobs, dashboard=Dashboard(operators=["user:ops@example.com"],
                                  viewers=["domain:example.com"]))

``zenjobs dev`` turns it on for development executors (no sign-in: the dev
server listens on loopback only). In production it is off unless given, and
never served without a Google-signed identity (IAP or an OIDC ID token)
checked against ``viewers`` (read-only) and ``operators`` (may act). See
``docs/dashboard.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ConfigurationError
from .auth import DashboardAuth, GoogleIdentityAuth, LocalAuth, Principal, Role
from .events import DEFAULT_CAPACITY, EventLog
from .views import Site

PREFIX = "/_zenjobs/ui"


class Dashboard:
    """The dashboard option of :class:`~zenjobs.ZenJobsExecutor` (an ``AppExtension``).

    ``operators`` and ``viewers`` are principals (``user:EMAIL``,
    ``serviceAccount:EMAIL``, ``domain:DOMAIN``); ``iap_audience`` accepts IAP's
    signed header, ``oidc_audience`` (default: the service URL) an ID token in
    ``Authorization: Bearer``. ``auth`` replaces all of that (tests, custom
    sign-in). ``events`` keeps the latest ``capacity`` telemetry events for the
    run and tick pages and the live updates.
    """

    prefix = PREFIX

    #: Environment variables :meth:`from_env` reads (comma-separated principals).
    ENV = ("ZENJOBS_DASHBOARD_OPERATORS", "ZENJOBS_DASHBOARD_VIEWERS",
           "ZENJOBS_DASHBOARD_IAP_AUDIENCE")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Dashboard | None:
        """A dashboard from ``ZENJOBS_DASHBOARD_*``, or None (off) when no principal is set.

        ``ZENJOBS_DASHBOARD_OPERATORS`` and ``ZENJOBS_DASHBOARD_VIEWERS`` hold
        comma-separated principals, ``ZENJOBS_DASHBOARD_IAP_AUDIENCE`` IAP's audience:
        a deployment turns the dashboard on without a code change.
        """
        operators, viewers, iap = (environ.get(name, "").strip() for name in cls.ENV)

        def split(text: str) -> list[str]:
            return [item.strip() for item in text.split(",") if item.strip()]

        if not (split(operators) or split(viewers)):
            return None
        return cls(operators=split(operators), viewers=split(viewers),
                   iap_audience=iap or None)

    def __init__(self, *, operators: Iterable[str] = (), viewers: Iterable[str] = (),
                 iap_audience: str | None = None, oidc_audience: str | None = None,
                 auth: DashboardAuth | None = None, capacity: int = DEFAULT_CAPACITY) -> None:
        self.operators = tuple(operators)
        self.viewers = tuple(viewers)
        self.iap_audience = iap_audience
        self.oidc_audience = oidc_audience
        self.auth = auth
        self.events = EventLog(capacity)
        self._app: Any = None

    @property
    def sink(self) -> EventLog:
        return self.events

    def authenticator(self, mode: str, service_url: str) -> DashboardAuth:
        """Who may see and act: development signs nobody in; production always checks."""
        if self.auth is not None:
            return self.auth
        if mode == "development" and not (self.operators or self.viewers):
            return LocalAuth()
        if not (self.operators or self.viewers):
            raise ConfigurationError(
                "the production dashboard needs principals: Dashboard(operators=[...], "
                "viewers=[...]) (it is never served without sign-in)")
        return GoogleIdentityAuth(viewers=self.viewers, operators=self.operators,
                                  oidc_audience=self.oidc_audience or service_url,
                                  iap_audience=self.iap_audience)

    def site(self, executor: Any) -> Site:
        """What the pages of ``executor`` (a ``ZenJobsExecutor``) read (tests use it too)."""
        engine = executor.engine
        return Site(registry=executor.jobs, store=engine.store, engine=engine,
                    clock=executor.clock, events=self.events, mode=executor.mode,
                    backends=describe(executor))

    def asgi(self, executor: Any) -> Any:
        """The dashboard app for ``executor``, built once."""
        if self._app is None:
            from .app import create_dashboard_app

            self._app = create_dashboard_app(
                self.site(executor),
                self.authenticator(executor.mode, executor.engine.deps.service_url))
        return self._app

    def close(self) -> None:
        self.events.close()


def describe(executor: Any) -> tuple[tuple[str, str], ...]:
    """Which store and queue this service uses, as every page's header says."""
    store = executor.store
    queue = executor.queue
    kind = type(store).__name__
    if hasattr(store, "collection"):
        text = (f"Firestore project {store.project or '(default)'}, database "
                f"{store.database}, collection {store.collection}")
    elif hasattr(store, "path"):
        text = f"SQLite {store.path}"
    else:
        text = kind.removesuffix("JobStore") or kind
    if hasattr(queue, "location"):
        queue_text = f"Cloud Tasks project {queue.project}, location {queue.location}"
    else:
        name = type(queue).__name__
        queue_text = "simulated Cloud Tasks (in process)" if "Simulated" in name else name
    return (("store", text), ("queue", queue_text), ("mode", executor.mode))


__all__ = ["PREFIX", "Dashboard", "DashboardAuth", "EventLog", "GoogleIdentityAuth",
           "LocalAuth", "Principal", "Role"]
