"""A service whose job hangs on its first attempt, for the Ctrl-C guarantee test.

``bare_app`` builds its development executor at import, which ``zenjobs dev``
does inside its session (so the store, clock and queue are the dev server's).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from zenjobs import JobContext, JobType, Weight, ZenJobs
from zenjobs.dev.server import bare_app

jobs = ZenJobs()


@jobs.job("stuck_once", type=JobType.PERIODIC, interval=timedelta(minutes=15),
          weight=Weight.MEDIUM, timeout=timedelta(minutes=5), max_retries=1)
async def stuck_once(ctx: JobContext) -> None:
    """Hangs on attempt 1 (an instance stopped mid-run), finishes on any later one."""
    if ctx.attempt == 1:
        await asyncio.sleep(3600)


app = bare_app(jobs)
