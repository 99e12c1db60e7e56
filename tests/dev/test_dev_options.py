"""``zenjobs dev`` refuses what would be unsafe or wrong before starting anything."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from examples.newsletter.jobs import jobs
from zenjobs import ZenJobs
from zenjobs.cli import main
from zenjobs.dev.server import check_loopback, dev_queue_settings
from zenjobs.errors import ConfigurationError
from zenjobs.infra.plan import InfraSettings, build_plan


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com", ""])
def test_non_loopback_hosts_are_refused(host: str) -> None:
    with pytest.raises(ConfigurationError, match="not a loopback address"):
        check_loopback(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_hosts_are_accepted(host: str) -> None:
    assert check_loopback(host) == host


def test_cli_refuses_host_0000_with_a_clear_error_and_exit_2() -> None:
    result = CliRunner().invoke(main, ["dev", "--registry", "examples.newsletter.jobs:jobs",
                                       "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "--host" in result.output
    assert "'0.0.0.0' is not a loopback address" in result.output
    assert "Traceback" not in result.output


def test_cli_refuses_a_zero_speed() -> None:
    result = CliRunner().invoke(main, ["dev", "--registry", "examples.newsletter.jobs:jobs",
                                       "--speed", "0"])
    assert result.exit_code == 2
    assert "--speed" in result.output


def test_cli_reports_a_registry_that_cannot_load() -> None:
    result = CliRunner().invoke(main, ["dev", "--registry", "no_such_module_zj:jobs"])
    assert result.exit_code == 2
    assert "no_such_module_zj" in result.output


def test_dev_queues_are_configured_as_gen_infra_creates_them() -> None:
    settings = dev_queue_settings(jobs)
    assert set(settings) == {desc.queue_id for desc in jobs}
    welcome = settings[jobs.get("send_welcome_email").queue_id]
    assert welcome.max_dispatches_per_second == 20  # the job's RateLimit
    assert welcome.max_concurrent_dispatches == 10
    assert (welcome.max_attempts, welcome.min_backoff) == (5, timedelta(seconds=10))  # backstop
    plan = build_plan(jobs, InfraSettings(project="demo-project", region="europe-west1",
                                          service="s", service_url="https://s.example"))
    for queue in plan.queues:  # the retry config is derived from the plan, not copied
        dev = settings[queue.name]
        assert (dev.max_attempts, dev.min_backoff, dev.max_backoff, dev.max_doublings,
                dev.max_retry_duration) == (queue.max_attempts, queue.min_backoff,
                                            queue.max_backoff, queue.max_doublings,
                                            queue.max_retry_duration)
    # Default 5 min timeout + 30 s lease grace, twice: redelivered after a crashed lease.
    assert welcome.max_retry_duration == timedelta(seconds=660)
    assert dev_queue_settings(ZenJobs()) == {}
