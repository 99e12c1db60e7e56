"""What Cloud Scheduler costs: one master job against one job per schedule.

Firebase scheduled functions and django-cloud-tasks create one Cloud Scheduler
job per schedule; zenjobs creates one master job and finds due jobs itself.
Cloud Scheduler bills $0.10 per job per month, with 3 jobs free per billing
account (the free jobs are shared by every project on that account).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

PRICE_PER_JOB_MONTH = Decimal("0.10")
FREE_JOBS_PER_BILLING_ACCOUNT = 3


@dataclass(frozen=True)
class SchedulerCost:
    """Monthly Cloud Scheduler cost of both approaches, in US dollars."""

    master_jobs: int
    per_schedule_jobs: int
    master_monthly: Decimal
    per_schedule_monthly: Decimal

    @property
    def saving(self) -> Decimal:
        return self.per_schedule_monthly - self.master_monthly


def monthly_cost(jobs: int, other_jobs_on_account: int = 0) -> Decimal:
    """The added monthly cost of ``jobs`` Scheduler jobs on a billing account
    that already runs ``other_jobs_on_account`` (which use the free ones first)."""
    if jobs < 0 or other_jobs_on_account < 0:
        raise ValueError("job counts cannot be negative")
    free_left = max(0, FREE_JOBS_PER_BILLING_ACCOUNT - other_jobs_on_account)
    return PRICE_PER_JOB_MONTH * max(0, jobs - free_left)


def scheduler_cost(recurring_jobs: int, other_jobs_on_account: int = 0) -> SchedulerCost:
    """Compare 1 master job with one job per scheduled or periodic job."""
    return SchedulerCost(
        master_jobs=1,
        per_schedule_jobs=recurring_jobs,
        master_monthly=monthly_cost(1, other_jobs_on_account),
        per_schedule_monthly=monthly_cost(recurring_jobs, other_jobs_on_account),
    )


def format_usd(amount: Decimal) -> str:
    return f"${amount.quantize(Decimal('0.01'))}"
