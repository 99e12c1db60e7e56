"""Broken registry: extract -> transform -> load -> extract (a 3-cycle).

Each descriptor is valid alone, so the module imports; ``validate`` finds the cycle.
"""

from __future__ import annotations

from zenjobs import JobContext, ZenJobs

jobs = ZenJobs()


@jobs.job("extract", type="scheduled", cron="0 1 * * *", dependencies=["load"])
async def extract(ctx: JobContext) -> None: ...


@jobs.job("transform", type="scheduled", cron="0 2 * * *", dependencies=["extract"])
async def transform(ctx: JobContext) -> None: ...


@jobs.job("load", type="scheduled", cron="0 3 * * *", dependencies=["transform"])
async def load(ctx: JobContext) -> None: ...
