"""The FastAPI example's jobs: a receipt sent on demand and a price refresh every 15 minutes."""

from __future__ import annotations

import logging
from datetime import timedelta

from zenjobs import JobContext, JobType, PermanentError, ZenJobs

log = logging.getLogger("shop")

jobs = ZenJobs()


@jobs.job("send_receipt", type=JobType.ENDPOINT, max_retries=3,
          description="Email the receipt of an order.")
async def send_receipt(ctx: JobContext) -> None:
    """Payload ``{"order_id": ..., "email": ...}``, as ``POST /orders`` sends it."""
    payload = ctx.payload if isinstance(ctx.payload, dict) else {}
    if not payload.get("order_id") or not payload.get("email"):
        raise PermanentError('payload must be an object like {"order_id": ..., "email": ...}')
    log.info("receipt for order %s sent to %s (execution %s)", payload["order_id"],
             payload["email"], ctx.execution_id)


@jobs.job("refresh_prices", type=JobType.PERIODIC, interval=timedelta(minutes=15),
          description="Refresh the price cache from the catalogue.")
async def refresh_prices(ctx: JobContext) -> None:
    log.info("prices refreshed (trigger %s)", ctx.trigger)
