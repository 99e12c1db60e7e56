"""Broken registry: a cron expression with minute 61 (fails while declaring)."""

from __future__ import annotations

from zenjobs import JobContext, ZenJobs

jobs = ZenJobs()


@jobs.job("fine_job", type="endpoint")
async def fine_job(ctx: JobContext) -> None:
    """A valid job declared before the broken one."""


@jobs.job("bad_cron_job", type="scheduled", cron="61 * * * *")
async def bad_cron_job(ctx: JobContext) -> None:
    """Never declared: the cron does not parse."""
