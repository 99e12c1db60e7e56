"""A FastAPI service with its own routes and lifespan, and the zenjobs runtime in one line.

* ``GET /``: the service's index.
* ``POST /orders``: ``{"order_id": "...", "email": "..."}`` records the order and
  schedules its ``send_receipt`` job (idempotency key: the order id, so a
  double submit sends one receipt); answers 202 with the execution id.
* ``GET /orders/{order_id}``: the order, or the service's own 404.
* ``/_zenjobs/...``: the webhook (Cloud Tasks, Cloud Scheduler), its health
  check and the dashboard at ``/_zenjobs/ui``, added by
  ``zenjobs.integrations.mount(app, executor)``, which also runs the
  executor's start before this service's startup code and its shutdown after
  this service's shutdown code.

``ZENJOBS_MODE`` picks the mode (``ZenJobsExecutor.from_env``): unset for
development (embedded SQLite store, simulated queue), ``production`` on Cloud
Run. Run it with ``zenjobs dev --app examples.fastapi_app.app:app --registry
examples.fastapi_app.jobs:jobs``, which delivers the development tasks and ticks
(FastAPI is not a zenjobs dependency: ``pip install fastapi``). In production any
ASGI server runs it (``uvicorn examples.fastapi_app.app:app``). See
``docs/integration.md``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

from zenjobs import ZenJobsExecutor
from zenjobs.dashboard import Dashboard
from zenjobs.integrations import mount

from .jobs import jobs


class Order(BaseModel):
    order_id: str = Field(min_length=1, max_length=100)
    email: str = Field(min_length=3, max_length=320)


def create_app(executor: ZenJobsExecutor) -> FastAPI:
    """The service around ``executor`` (tests build it around their own executor)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        # The executor is already started here (mount() runs it first), so startup
        # code may schedule jobs: each instance start refreshes the prices once.
        await executor.trigger("refresh_prices")
        orders: dict[str, dict[str, str]] = {}  # stands in for a database pool
        yield {"orders": orders}
        orders.clear()  # the executor shuts down after this

    app = FastAPI(title="shop", lifespan=lifespan)
    mount(app, executor)  # /_zenjobs/... only; routes declared below stay the service's

    @app.get("/")
    async def index() -> dict[str, Any]:
        return {"service": "shop", "mode": executor.mode,
                "jobs": sorted(desc.id for desc in executor.jobs)}

    @app.post("/orders", status_code=202)
    async def place_order(order: Order, request: Request) -> dict[str, str]:
        request.state.orders[order.order_id] = order.model_dump()
        execution_id = await executor.schedule(
            "send_receipt", payload=order.model_dump(),
            idempotency_key=f"receipt:{order.order_id}")
        return {"order_id": order.order_id, "execution_id": execution_id}

    @app.get("/orders/{order_id}")
    async def get_order(order_id: str, request: Request) -> dict[str, str]:
        order: dict[str, str] | None = request.state.orders.get(order_id)
        if order is None:
            raise HTTPException(status_code=404, detail=f"no order {order_id!r}")
        return order

    return app


# ZENJOBS_MODE picks development or production; in production the dashboard is on
# when ZENJOBS_DASHBOARD_OPERATORS / _VIEWERS name principals.
executor = ZenJobsExecutor.from_env(jobs, dashboard_factory=Dashboard.from_env)
app = create_app(executor)
