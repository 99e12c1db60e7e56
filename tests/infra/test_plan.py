"""The plan: queues, limits, routing and bindings derived from a registry, and the cost model."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from infra_support import EXAMPLE_SETTINGS as SETTINGS

from examples.newsletter.jobs import jobs as newsletter
from zenjobs import ConfigurationError, DefinitionError, JobDescriptor, JobType, RateLimit, Weight
from zenjobs.infra.cost import format_usd, monthly_cost, scheduler_cost
from zenjobs.infra.plan import (
    BACKSTOP_MAX_BACKOFF_CAP,
    BACKSTOP_MAX_BACKOFF_FLOOR,
    InfraSettings,
    build_plan,
)
from zenjobs.queues.limits import QueueSettings
from zenjobs.vocabulary import DEFAULT_LEASE_GRACE

PRIMITIVE = {"roles/owner", "roles/editor", "roles/viewer"}


def endpoint(job_id: str, **fields: object) -> JobDescriptor:
    return JobDescriptor(id=job_id, type=JobType.ENDPOINT, **fields)  # type: ignore[arg-type]


def test_example_queues_follow_the_descriptor_queue_rule() -> None:
    plan = build_plan(newsletter.descriptors, SETTINGS)
    assert [q.name for q in plan.queues] == sorted({d.queue_id for d in newsletter})
    for queue in plan.queues:
        assert set(queue.jobs) == {d.id for d in newsletter if d.queue_id == queue.name}
    light = plan.queue("zenjobs-light")
    assert (light.max_dispatches_per_second, light.max_concurrent_dispatches) == (20, 10)
    heavy = plan.queue("zenjobs-heavy")
    assert heavy.heavy and heavy.jobs == ("render_thumbnails",)
    assert heavy.target_url == SETTINGS.service_url  # no heavy worker configured
    assert not plan.queue("zenjobs-medium").heavy
    assert plan.scheduler_jobs == 1
    assert plan.scheduler.uri == "https://newsletter-abc-ew.a.run.app/_zenjobs/master"
    assert plan.scheduler.audience == SETTINGS.service_url
    assert plan.scheduler.name == "zen_master_scheduler"
    assert len(plan.recurring_jobs) == 5


def test_strictest_rate_limit_wins_per_queue_and_unset_fields_do_not_count() -> None:
    descriptors = [
        endpoint("a", queue="mail", rate_limit=RateLimit(max_dispatches_per_second=50)),
        endpoint("b", queue="mail", rate_limit=RateLimit(5.5, 40)),
        endpoint("c", queue="mail", rate_limit=RateLimit(max_concurrent_dispatches=8)),
        endpoint("d", queue="mail"),
        endpoint("e", rate_limit=RateLimit(1, 1)),
    ]
    plan = build_plan(descriptors, SETTINGS)
    assert [q.name for q in plan.queues] == ["mail", "zenjobs-light"]
    mail = plan.queue("mail")
    assert mail.jobs == ("a", "b", "c", "d")
    assert (mail.max_dispatches_per_second, mail.max_concurrent_dispatches) == (5.5, 8)
    assert plan.queue("zenjobs-light").max_dispatches_per_second == 1


def test_queue_without_rate_limits_leaves_them_to_cloud_tasks_defaults() -> None:
    queue = build_plan([endpoint("a", weight=Weight.MEDIUM)], SETTINGS).queue("zenjobs-medium")
    assert queue.max_dispatches_per_second is None
    assert queue.max_concurrent_dispatches is None


def test_every_weight_class_in_use_gets_its_queue_and_only_those() -> None:
    plan = build_plan([endpoint("a"), endpoint("b", weight="medium")], SETTINGS)
    assert [q.name for q in plan.queues] == ["zenjobs-light", "zenjobs-medium"]


def test_heavy_jobs_sharing_a_queue_with_other_weights_is_an_error_naming_job_and_field() -> None:
    descriptors = [
        endpoint("light_one", queue="shared"),
        endpoint("crunch", queue="shared", weight=Weight.HEAVY),
    ]
    with pytest.raises(DefinitionError) as info:
        build_plan(descriptors, SETTINGS)
    assert (info.value.job_id, info.value.field) == ("crunch", "queue")
    assert "light_one" in str(info.value)


def test_heavy_queue_targets_the_heavy_worker_when_configured() -> None:
    settings = replace(SETTINGS, heavy_service="newsletter-heavy",
                       heavy_service_url="https://newsletter-heavy-abc-ew.a.run.app")
    plan = build_plan([endpoint("a"), endpoint("b", weight="heavy")], settings)
    assert plan.queue("zenjobs-heavy").target_url == "https://newsletter-heavy-abc-ew.a.run.app"
    assert plan.queue("zenjobs-light").target_url == "https://newsletter-abc-ew.a.run.app"
    invoked = {b.resource for b in plan.bindings if b.role == "roles/run.invoker"}
    assert invoked == {"Cloud Run service newsletter", "Cloud Run service newsletter-heavy"}


def test_backstop_backoff_covers_the_longest_timeout_within_bounds() -> None:
    plan = build_plan(
        [
            endpoint("quick", timeout=timedelta(seconds=30)),
            endpoint("slow", weight="medium", timeout=timedelta(minutes=20)),
            endpoint("endless", weight="heavy", timeout=timedelta(hours=5)),
        ],
        SETTINGS,
    )
    assert plan.queue("zenjobs-light").max_backoff == BACKSTOP_MAX_BACKOFF_FLOOR
    assert plan.queue("zenjobs-medium").max_backoff == timedelta(minutes=20)
    assert plan.queue("zenjobs-heavy").max_backoff == BACKSTOP_MAX_BACKOFF_CAP
    assert all(1 <= q.max_attempts <= 10 for q in plan.queues)


def test_backstop_retries_outlast_a_crashed_holders_lease_with_margin() -> None:
    """Rule: max_retry_duration = max(2 x window, window + max_backoff), window = the
    longest timeout on the queue + the runtime's lease grace, so some delivery lands
    after a crashed holder's lease expired (Cloud Tasks stops only when both limits
    are spent)."""
    descriptors = [
        endpoint("quick", timeout=timedelta(seconds=30)),
        endpoint("slow", weight="medium", timeout=timedelta(minutes=20)),
        endpoint("also_medium", weight="medium"),
        endpoint("endless", weight="heavy", timeout=timedelta(hours=5)),
    ]
    plan = build_plan(descriptors, SETTINGS)
    light, medium, heavy = (plan.queue(f"zenjobs-{w}") for w in ("light", "medium", "heavy"))
    # 30 s + 30 s grace = 1 min; one 5 min backoff after it is longer than 2 windows.
    assert light.max_retry_duration == timedelta(minutes=6)
    assert medium.max_retry_duration == 2 * (timedelta(minutes=20) + DEFAULT_LEASE_GRACE)
    assert heavy.max_retry_duration == 2 * (timedelta(hours=5) + DEFAULT_LEASE_GRACE)
    example = build_plan(newsletter.descriptors, SETTINGS)
    for queue in (*plan.queues, *example.queues):
        longest = max(d.timeout for d in [*descriptors, *newsletter] if d.id in queue.jobs)
        window = longest + DEFAULT_LEASE_GRACE
        assert queue.max_retry_duration >= 2 * window
        assert queue.max_retry_duration >= window + queue.max_backoff
        assert queue.max_retry_duration.microseconds == 0  # Cloud Tasks truncates to seconds
        # Replay the queue's own retry schedule: some attempt falls after the lease.
        settings = QueueSettings(
            max_attempts=queue.max_attempts, min_backoff=queue.min_backoff,
            max_backoff=queue.max_backoff, max_doublings=queue.max_doublings,
            max_retry_duration=queue.max_retry_duration,
        )
        age, attempts = timedelta(0), 1
        while not settings.gives_up(attempts, age) and age <= window:
            age += settings.backoff(attempts)
            attempts += 1
        assert age > window, queue.name


def test_a_timeout_longer_than_cloud_tasks_keeps_a_task_is_refused_naming_the_job() -> None:
    with pytest.raises(DefinitionError) as info:
        build_plan([endpoint("forever", weight="heavy", timeout=timedelta(days=20))], SETTINGS)
    assert (info.value.job_id, info.value.field) == ("forever", "timeout")
    assert "30 days" in str(info.value)


def test_bindings_are_least_privilege() -> None:
    plan = build_plan(newsletter.descriptors, SETTINGS)
    roles = [b.role for b in plan.bindings]
    assert not PRIMITIVE & set(roles)
    assert [b.resource for b in plan.bindings if b.role == "roles/run.invoker"] == [
        "Cloud Run service newsletter"
    ]
    enqueue = sorted(b.resource for b in plan.bindings if b.role == "roles/cloudtasks.enqueuer")
    assert enqueue == [f"Cloud Tasks queue {q.name}" for q in plan.queues]
    assert roles.count("roles/iam.serviceAccountUser") == 1


def test_registration_order_does_not_change_the_plan() -> None:
    descriptors = list(newsletter.descriptors)
    assert build_plan(descriptors, SETTINGS) == build_plan(descriptors[::-1], SETTINGS)


def test_empty_registry_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="no jobs"):
        build_plan([], SETTINGS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("project", "Demo_Project"),
        ("region", "europe west1"),
        ("service", "Newsletter"),
        ("service_url", "http://newsletter.a.run.app"),
        ("service_url", "https://newsletter.a.run.app/"),
        ("service_url", 'https://x"${file("/etc/passwd")}'),
        ("runtime_service_account", "someone@example.com"),
    ],
)
def test_invalid_settings_are_refused_naming_the_setting(field: str, value: str) -> None:
    fields = {
        "project": "demo-project",
        "region": "europe-west1",
        "service": "svc",
        "service_url": "https://svc.a.run.app",
        field: value,
    }
    with pytest.raises(ConfigurationError, match=field):
        InfraSettings(**fields)


def test_heavy_service_and_url_go_together() -> None:
    with pytest.raises(ConfigurationError, match="heavy_service and heavy_service_url"):
        InfraSettings("demo-project", "europe-west1", "svc", "https://s.run.app", heavy_service="h")


def test_scheduler_cost_master_job_against_one_job_per_schedule() -> None:
    assert monthly_cost(1) == 0
    assert monthly_cost(3) == 0
    assert monthly_cost(5) == Decimal("0.20")
    assert monthly_cost(1, other_jobs_on_account=3) == Decimal("0.10")
    assert monthly_cost(2, other_jobs_on_account=2) == Decimal("0.10")
    cost = scheduler_cost(1000)
    assert (cost.master_jobs, cost.per_schedule_jobs) == (1, 1000)
    assert cost.master_monthly == 0
    assert cost.per_schedule_monthly == Decimal("99.70")
    assert cost.saving == Decimal("99.70")
    assert format_usd(cost.per_schedule_monthly) == "$99.70"
    with pytest.raises(ValueError):
        monthly_cost(-1)


def test_plan_and_cost_import_neither_jinja2_nor_click() -> None:
    code = (
        "import sys, zenjobs, zenjobs.infra.plan, zenjobs.infra.cost\n"
        "bad = sorted(m for m in ('jinja2', 'click') if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
