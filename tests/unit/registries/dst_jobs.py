"""A valid registry whose schedules cross DST transitions, for ``zenjobs next`` tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from zenjobs import JobContext, ZenJobs

jobs = ZenJobs()


@jobs.job("welcome", type="endpoint")
async def welcome(ctx: JobContext) -> None: ...


@jobs.job("ny_backup", type="scheduled", cron="30 1 * * *", timezone="America/New_York")
async def ny_backup(ctx: JobContext) -> None: ...


@jobs.job("berlin_quarterly", type="scheduled", cron="*/15 2 * * *", timezone="Europe/Berlin")
async def berlin_quarterly(ctx: JobContext) -> None: ...


@jobs.job("sydney_hourly", type="scheduled", cron="0 * * * *", timezone="Australia/Sydney")
async def sydney_hourly(ctx: JobContext) -> None: ...


@jobs.job(
    "every_25h",
    type="periodic",
    interval=timedelta(hours=25),
    start_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
    end_at=date(2026, 1, 4),
    skip_dates=[date(2026, 1, 2)],
)
async def every_25h(ctx: JobContext) -> None: ...


@jobs.job("paused", type="periodic", interval=timedelta(days=1), enabled=False)
async def paused(ctx: JobContext) -> None: ...
