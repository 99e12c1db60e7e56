"""Broken registry: the same job id registered twice (upstream silently overwrote)."""

from __future__ import annotations

from zenjobs import JobDescriptor, JobType, ZenJobs

jobs = ZenJobs()

jobs.register(JobDescriptor(id="cleanup", type=JobType.ENDPOINT))
jobs.register(JobDescriptor(id="cleanup", type=JobType.ENDPOINT, max_retries=5))
