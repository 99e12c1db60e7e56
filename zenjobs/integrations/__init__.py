"""Add the zenjobs runtime to a Starlette or FastAPI service in one line.

::

    from fastapi import FastAPI
    from zenjobs import ZenJobsExecutor
    from zenjobs.dashboard import Dashboard
    from zenjobs.integrations import mount

    executor = ZenJobsExecutor.from_env(jobs, dashboard_factory=Dashboard.from_env)
    app = FastAPI(lifespan=my_lifespan)
    mount(app, executor)

:func:`mount` puts the executor's routes under ``/_zenjobs`` only (the
webhook, its health check and the dashboard at ``/_zenjobs/ui``), ahead of the
app's own routes, so neither side shadows the other; and it runs the
executor's start and shutdown around the app's own lifespan: the executor is
started before your startup code (which may schedule jobs) and shut down
after your shutdown code. ``docs/integration.md`` has the rules.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount, Router

from ..errors import ConfigurationError
from ..runtime.executor import MOUNT_PATH, ZenJobsExecutor

__all__ = ["MOUNT_PATH", "mount"]


def mount(app: Starlette | Router, executor: ZenJobsExecutor, *,
          lifespan: bool = True) -> None:
    """Serve ``executor`` from ``app`` (Starlette, FastAPI, or their router), in place.

    * Routes: ``executor.routes()`` (a ``Mount("/_zenjobs")``) are inserted
      *first* in the app's routes, so ``/_zenjobs/...`` is always the
      executor's, even behind a catch-all route of the app, and every other
      path is only the app's: its routes answer, and an unknown path gets the
      app's own 404. Routes the app adds later (FastAPI decorators) are fine.
    * Lifespan (unless ``lifespan=False``): the app's lifespan is wrapped so
      that ``executor.start()`` runs before the app's startup code and
      ``executor.shutdown()`` after its shutdown code (also when the app's
      lifespan fails). The state the app's lifespan yields is kept.

    Raises :class:`ConfigurationError` if ``app`` already serves ``/_zenjobs``
    through a Mount (one executor per service).
    """
    router = app.router if isinstance(app, Starlette) else app
    if not isinstance(router, Router):
        raise TypeError(f"mount() takes a Starlette or FastAPI app (or its router), "
                        f"not {type(app).__name__}")
    for route in router.routes:
        if isinstance(route, Mount) and route.path == MOUNT_PATH:
            raise ConfigurationError(
                f"this app already serves {MOUNT_PATH} (an executor is mounted): "
                "one executor per service")
    router.routes[0:0] = executor.routes()
    changed = getattr(router, "_mark_routes_changed", None)
    if callable(changed):  # FastAPI caches views of its routes (OpenAPI, included routers)
        changed()
    if not lifespan:
        return
    own = router.lifespan_context

    @contextlib.asynccontextmanager
    async def with_executor(target: Any) -> AsyncIterator[Any]:
        async with executor.lifespan(target), own(target) as state:
            yield state

    router.lifespan_context = with_executor
