"""Broken registry: a cron job in a time zone that does not exist."""

from __future__ import annotations

from zenjobs import JobContext, ZenJobs

jobs = ZenJobs()


@jobs.job("martian_report", type="scheduled", cron="0 6 * * *", timezone="Mars/Olympus_Mons")
async def martian_report(ctx: JobContext) -> None:
    """Never declared: unknown IANA zone."""
