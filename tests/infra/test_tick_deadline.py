"""The master tick's Cloud Scheduler attempt deadline covers the light jobs it runs inline.

Light recurring jobs run inside the tick, each under its timeout, so a tick can
last as long as the longest of them; a deadline shorter than that makes Cloud
Scheduler abandon and retry ticks that are still working.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from infra_support import EXAMPLE_SETTINGS as SETTINGS

from examples.newsletter.jobs import jobs as newsletter
from zenjobs import DefinitionError, JobDescriptor, JobType, Weight
from zenjobs.infra.files import generate
from zenjobs.infra.plan import (
    MASTER_ATTEMPT_DEADLINE_FLOOR,
    MASTER_ATTEMPT_DEADLINE_MARGIN,
    build_plan,
)
from zenjobs.infra.report import summary_lines

EXAMPLE_MAIN = Path(__file__).resolve().parents[2] / "examples" / "newsletter" / "infra" / "main.tf"


def periodic(job_id: str, **fields: object) -> JobDescriptor:
    return JobDescriptor(id=job_id, type=JobType.PERIODIC, interval=timedelta(minutes=5),
                         **fields)  # type: ignore[arg-type]


def test_the_deadline_outlasts_the_longest_light_recurring_job() -> None:
    plan = build_plan(newsletter.descriptors, SETTINGS)
    longest = max(d.timeout for d in newsletter.descriptors
                  if d.weight is Weight.LIGHT and d.is_recurring)
    assert plan.scheduler.attempt_deadline == longest + MASTER_ATTEMPT_DEADLINE_MARGIN


def test_short_light_jobs_keep_the_floor_and_other_weights_do_not_count() -> None:
    descriptors = [
        periodic("quick", timeout=timedelta(seconds=20)),
        periodic("slow_medium", weight=Weight.MEDIUM, timeout=timedelta(minutes=25)),
        JobDescriptor(id="slow_endpoint", type=JobType.ENDPOINT, timeout=timedelta(minutes=25)),
    ]
    plan = build_plan(descriptors, SETTINGS)
    assert plan.scheduler.attempt_deadline == MASTER_ATTEMPT_DEADLINE_FLOOR


def test_a_light_recurring_job_too_long_for_any_tick_is_refused() -> None:
    with pytest.raises(DefinitionError) as caught:
        build_plan([periodic("endless", timeout=timedelta(minutes=29, seconds=30))], SETTINGS)
    assert "endless" in str(caught.value) and "timeout" in str(caught.value)


def test_the_deadline_reaches_the_generated_files() -> None:
    plan = build_plan(newsletter.descriptors, SETTINGS)
    main = generate(plan, "examples.newsletter.jobs:jobs")["main.tf"]
    seconds = int(plan.scheduler.attempt_deadline.total_seconds())
    assert f'master_attempt_deadline = "{seconds}s"' in main
    assert f'master_attempt_deadline = "{seconds}s"' in EXAMPLE_MAIN.read_text()


def test_the_report_tells_the_cloud_run_timeout_to_deploy_with() -> None:
    plan = build_plan(newsletter.descriptors, SETTINGS)
    seconds = int(plan.scheduler.attempt_deadline.total_seconds())
    assert any(f"request timeout of at least {seconds}s" in line for line in summary_lines(plan))
