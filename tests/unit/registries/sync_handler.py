"""Broken registry: a blocking (def, not async def) handler on a light job."""

from __future__ import annotations

import time

from zenjobs import JobContext, JobDescriptor, JobType, ZenJobs

jobs = ZenJobs()
jobs.register(JobDescriptor(id="resize_images", type=JobType.ENDPOINT))


@jobs.handler("resize_images")
def resize_images(ctx: JobContext) -> None:
    time.sleep(0)
