"""The newsletter example's job registry.

A realistic small service: welcome emails on demand, hourly cleanup, a
nightly report in Berlin time that a digest depends on, a CPU-heavy thumbnail
job, and a deliberately flaky demo job that shows retries ending in ``dead``.
The handlers are small on purpose; the point is the declarations.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date, timedelta

from zenjobs import (
    BackoffPolicy,
    JobContext,
    JobDescriptor,
    JobType,
    PermanentError,
    RateLimit,
    Weight,
    ZenJobs,
)

log = logging.getLogger("newsletter")

jobs = ZenJobs()


class MailboxRejected(Exception):
    """The mail provider refused the address: retrying will not help."""


@jobs.job(
    "send_welcome_email",
    type=JobType.ENDPOINT,
    max_retries=5,
    rate_limit=RateLimit(max_dispatches_per_second=20, max_concurrent_dispatches=10),
    permanent_errors=(MailboxRejected,),
    description="Send the welcome email to a new subscriber.",
)
async def send_welcome_email(ctx: JobContext) -> None:
    """Payload ``{"user_id": ...}`` (as ``POST /subscribe`` and ``zenjobs trigger --payload``
    send it); a payload without a user id fails at once, without retries."""
    payload = ctx.payload if isinstance(ctx.payload, dict) else {}
    user_id = payload.get("user_id")
    if not user_id:
        raise PermanentError('payload must be an object like {"user_id": "..."}')
    log.info("welcome email sent to %s (execution %s)", user_id, ctx.execution_id)


@jobs.job(
    "cleanup_temp_files",
    type=JobType.PERIODIC,
    interval=timedelta(hours=1),
    description="Delete temporary uploads older than a day.",
)
async def cleanup_temp_files(ctx: JobContext) -> None:
    log.info("cleaned temp files for slot %s", ctx.scheduled_for.isoformat())


@jobs.job(
    "nightly_report",
    type=JobType.SCHEDULED,
    cron="30 2 * * *",
    timezone="Europe/Berlin",
    weight=Weight.MEDIUM,
    timeout=timedelta(minutes=15),
    skip_dates=[date(2026, 12, 25)],
    description="Build yesterday's subscriber report (02:30 Berlin time, DST-safe).",
)
async def nightly_report(ctx: JobContext) -> None:
    log.info("nightly report built for %s", ctx.scheduled_for.date())


@jobs.job(
    "send_digest",
    type=JobType.SCHEDULED,
    cron="0 7 * * 1-5",
    timezone="Europe/Berlin",
    dependencies=["nightly_report"],
    priority=10,
    description="Email the weekday digest, only if the nightly report succeeded.",
)
async def send_digest(ctx: JobContext) -> None:
    log.info("digest sent for %s", ctx.scheduled_for.date())


def render_thumbnails(ctx: JobContext) -> str:
    """CPU-bound work: runs in a separate process, never on the event loop."""
    digest = b"zenjobs"
    for _ in range(200_000):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


jobs.register_handler("render_thumbnails", render_thumbnails)
jobs.register(
    JobDescriptor(
        id="render_thumbnails",
        type=JobType.PERIODIC,
        interval=timedelta(minutes=30),
        weight=Weight.HEAVY,
        timeout=timedelta(minutes=2),
        max_retries=1,
        description="Regenerate thumbnails for new uploads (CPU-heavy).",
    )
)


class FlakyProviderError(Exception):
    """A transient failure of the (imaginary) analytics provider."""


@jobs.job(
    "sync_analytics",
    type=JobType.PERIODIC,
    interval=timedelta(minutes=1),
    max_retries=2,
    backoff=BackoffPolicy(initial=timedelta(seconds=5), maximum=timedelta(seconds=30)),
    description="Demo of visible retries: always fails, is retried with backoff, then dead.",
)
async def sync_analytics(ctx: JobContext) -> None:
    raise FlakyProviderError(f"analytics provider unavailable (attempt {ctx.attempt})")
