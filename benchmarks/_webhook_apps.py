"""The two ASGI apps figure 2 serves under identical uvicorn settings (one worker, 127.0.0.1).

* ``bare_app``: a Starlette route ``POST /_zenjobs/run/noop`` answering 200.
* ``zenjobs_app``: the zenjobs webhook over a SQLite store, OIDC verification
  ON. Google's certificates are "fetched" from the JSON file named by
  ``BENCH_CERTS_FILE`` (no network) and then cached like in production.

Environment: ``BENCH_CERTS_FILE``, ``BENCH_SQLITE`` (store path),
``BENCH_AUDIENCE``, ``BENCH_INVOKER``, ``BENCH_TELEMETRY`` (``log``: the
production default, JSON lines on stdout; ``null``: discarded) and
``BENCH_PRECREATE`` (``PREFIX:COUNT``: at startup, create the pending run
records of executions ``noop-PREFIX-0`` .. ``COUNT-1``, as ``schedule()``
would have before enqueueing them; without it every delivery creates its own
record from the envelope, the path for a caller that died before writing it).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from _doubles import NoQueue, NullTelemetry, noop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from zenjobs import JobType, ZenJobs, ZenJobsExecutor
from zenjobs.gcp.oidc import CertsResponse, OidcVerifier
from zenjobs.stores.records import RunRecord, Trigger


async def ok(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


bare_app = Starlette(routes=[Route("/_zenjobs/run/noop", ok, methods=["POST"])])

jobs = ZenJobs()


jobs.job("noop", type=JobType.ENDPOINT, description="Does nothing: measures the webhook.")(noop)


def _fetch_from_file(url: str) -> CertsResponse:
    return CertsResponse(certs=json.loads(Path(url).read_text()), max_age=19_800)


def _build() -> Any:
    from zenjobs.stores.sqlite.store import SqliteJobStore

    audience = os.environ["BENCH_AUDIENCE"]
    verifier = OidcVerifier(audience, [os.environ["BENCH_INVOKER"]],
                            certs_url=os.environ["BENCH_CERTS_FILE"], fetch=_fetch_from_file)
    telemetry = NullTelemetry() if os.environ.get("BENCH_TELEMETRY") == "null" else None
    executor = ZenJobsExecutor.production(
        jobs, project="bench-project", service_url=audience,
        invoker_service_account=os.environ["BENCH_INVOKER"],
        store=SqliteJobStore(os.environ["BENCH_SQLITE"]), queue=NoQueue(),
        verifier=verifier, telemetry=telemetry, loop_lag_threshold=None, environ={},
    )
    inner = executor.app

    async def precreate() -> None:
        spec = os.environ.get("BENCH_PRECREATE")
        if not spec:
            return
        prefix, count = spec.rsplit(":", 1)
        when = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
        for n in range(int(count)):
            await executor.store.create_run(RunRecord(
                job_id="noop", execution_id=f"noop-{prefix}-{n}", trigger=Trigger.ENDPOINT,
                scheduled_for=when, attempt=1, payload={"n": n}, created_at=when))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await executor.start()
                    await precreate()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await executor.shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await inner(scope, receive, send)

    return app


zenjobs_app = _build() if os.environ.get("BENCH_SQLITE") else None
