"""The human summary ``zenjobs gen-infra`` prints after writing."""

from __future__ import annotations

from .cost import FREE_JOBS_PER_BILLING_ACCOUNT, PRICE_PER_JOB_MONTH, format_usd, scheduler_cost
from .plan import DASHBOARD_PATH, InfraPlan, QueuePlan


def _limits(queue: QueuePlan) -> str:
    parts: list[str] = []
    if queue.max_dispatches_per_second is not None:
        parts.append(f"{queue.max_dispatches_per_second:g}/s")
    if queue.max_concurrent_dispatches is not None:
        parts.append(f"{queue.max_concurrent_dispatches} concurrent")
    return ", ".join(parts) or "default limits"


def _dashboard_lines(plan: InfraPlan) -> list[str]:
    """Who may reach the dashboard; nothing when no member is granted."""
    members = plan.dashboard_members
    if not members:
        return []
    s = plan.settings
    count = f"{len(members)} member{'s' if len(members) != 1 else ''}"
    lines = [
        f"dashboard access: {count} may reach {s.service_url}{DASHBOARD_PATH} "
        f"(roles/run.invoker on Cloud Run service {s.service}; the dashboard's "
        f"operators and viewers still decide what each may do)"
    ]
    lines.extend(f"  {member}" for member in members)
    if any(member.startswith("group:") for member in members):
        lines.append("  group: members reach the service, but the dashboard matches emails and "
                     "domains only: list them (or their domain) as its operators or viewers")
    return lines


def summary_lines(plan: InfraPlan) -> list[str]:
    """Queues, the one scheduler job, IAM bindings, dashboard access and the Scheduler cost."""
    lines = [f"queues: {len(plan.queues)}"]
    width = max(len(q.name) for q in plan.queues)
    for q in plan.queues:
        jobs = f"{len(q.jobs)} job{'s' if len(q.jobs) != 1 else ''}"
        target = f" -> {q.target_url}" if q.heavy else ""
        heavy = ", heavy" if q.heavy else ""
        lines.append(f"  {q.name.ljust(width)}  {jobs}, {_limits(q)}{heavy}{target}")
    s = plan.scheduler
    lines.append(
        f"scheduler jobs: {plan.scheduler_jobs} "
        f"({s.name}, {s.schedule!r} {s.time_zone}, POST {s.uri})"
    )
    deadline = int(s.attempt_deadline.total_seconds())
    lines.append(f"  attempt deadline {deadline}s: deploy the service with a request "
                 f"timeout of at least {deadline}s (light recurring jobs run inside the tick)")
    lines.append(f"IAM bindings: {len(plan.bindings)}")
    role_width = max(len(b.role) for b in plan.bindings)
    lines.extend(f"  {b.role.ljust(role_width)}  {b.member} on {b.resource}" for b in plan.bindings)
    lines.extend(_dashboard_lines(plan))
    cost = scheduler_cost(len(plan.recurring_jobs))
    lines.append(
        f"Cloud Scheduler: {format_usd(cost.master_monthly)}/month "
        f"for {cost.master_jobs} master job; "
        f"one job per schedule would be {cost.per_schedule_jobs} jobs = "
        f"{format_usd(cost.per_schedule_monthly)}/month "
        f"({format_usd(PRICE_PER_JOB_MONTH)} per job per month beyond "
        f"{FREE_JOBS_PER_BILLING_ACCOUNT} free per billing account)"
    )
    return lines
