"""Jobs for the concurrent-edit test: 17 cron jobs, and the 50 edits made to them at once.

Each job gets up to three edits of three different fields (``disable``, ``set --cron``,
``set --timezone``): the read-modify-write this replaced lost all but one of
several edits of one job made at the same moment (issue 12, part 4).
"""

from __future__ import annotations

from typing import NamedTuple

from zenjobs import JobContext, JobType, ZenJobs

jobs = ZenJobs()
JOB_IDS = tuple(f"e{index:02d}" for index in range(17))


def _register(job_id: str) -> None:
    @jobs.job(job_id, type=JobType.SCHEDULED, cron="0 * * * *")
    async def handler(ctx: JobContext) -> None:
        return None


for _job_id in JOB_IDS:
    _register(_job_id)


class Edit(NamedTuple):
    """One CLI edit: its arguments, and the config field and value it must leave."""

    job_id: str
    args: tuple[str, ...]
    field: str
    value: object


def _edits_of(index: int, job_id: str) -> list[Edit]:
    cron = f"{index + 1} * * * *"  # never the registry's "0 * * * *": a no-op records nothing
    return [Edit(job_id, ("disable", job_id), "enabled", False),
            Edit(job_id, ("set", job_id, "--cron", cron), "cron", cron),
            Edit(job_id, ("set", job_id, "--timezone", "Asia/Tokyo"), "timezone", "Asia/Tokyo")]


#: 50 edits: three fields of each of the first 16 jobs, two of the 17th.
EDITS = tuple(edit for index, job_id in enumerate(JOB_IDS)
              for edit in _edits_of(index, job_id))[:50]
