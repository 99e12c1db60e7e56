"""Broken registry: a descriptor without a handler (imports fine, fails validate)."""

from __future__ import annotations

from datetime import timedelta

from zenjobs import JobDescriptor, JobType, ZenJobs

jobs = ZenJobs()
jobs.register(JobDescriptor(id="orphan", type=JobType.PERIODIC, interval=timedelta(hours=1)))
