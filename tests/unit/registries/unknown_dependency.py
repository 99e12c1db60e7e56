"""Broken registry: a job depends on a job that is not registered."""

from __future__ import annotations

from zenjobs import JobContext, ZenJobs

jobs = ZenJobs()


@jobs.job("send_digest", type="scheduled", cron="0 7 * * *", dependencies=["nightly_reprot"])
async def send_digest(ctx: JobContext) -> None: ...
