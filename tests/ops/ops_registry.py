"""A small registry for the operations tests: one job of each kind, a dependency, a failure."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from zenjobs import BackoffPolicy, JobContext, JobType, ZenJobs

jobs = ZenJobs()

#: Payloads the ``welcome`` handler received (the CLI tests run in this process).
SEEN: list[Any] = []


@jobs.job("hourly", type=JobType.PERIODIC, interval=timedelta(hours=1))
async def hourly(ctx: JobContext) -> None:
    return None


@jobs.job("nightly", type=JobType.SCHEDULED, cron="30 2 * * *", timezone="Europe/Berlin")
async def nightly(ctx: JobContext) -> None:
    return None


@jobs.job("digest", type=JobType.SCHEDULED, cron="0 7 * * 1-5", dependencies=["nightly"])
async def digest(ctx: JobContext) -> None:
    return None


@jobs.job("welcome", type=JobType.ENDPOINT)
async def welcome(ctx: JobContext) -> None:
    SEEN.append(ctx.payload)


@jobs.job("boom", type=JobType.ENDPOINT, max_retries=0)
async def boom(ctx: JobContext) -> None:
    raise ValueError("boom")


@jobs.job("flaky", type=JobType.ENDPOINT, max_retries=1,
          backoff=BackoffPolicy(initial=timedelta(milliseconds=20),
                                maximum=timedelta(milliseconds=20), jitter=0))
async def flaky(ctx: JobContext) -> None:
    raise RuntimeError(f"attempt {ctx.attempt} failed")
