"""Broken registry: a periodic interval of 90 seconds (not a whole number of minutes)."""

from __future__ import annotations

from datetime import timedelta

from zenjobs import JobContext, ZenJobs

jobs = ZenJobs()


@jobs.job("poll_feed", type="periodic", interval=timedelta(seconds=90))
async def poll_feed(ctx: JobContext) -> None: ...
