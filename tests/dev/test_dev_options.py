"""``zenjobs dev`` refuses what would be unsafe or wrong before starting anything."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from click.testing import CliRunner

from examples.newsletter.jobs import jobs
from zenjobs import ZenJobs
from zenjobs.cli import dev as dev_cli
from zenjobs.cli import main
from zenjobs.dev.server import (
    DevOptions,
    PortInUseError,
    bind_listeners,
    check_loopback,
    configure_logging,
    dev_queue_settings,
)
from zenjobs.errors import ConfigurationError
from zenjobs.infra.plan import InfraSettings, build_plan
from zenjobs.telemetry.console import OutsideRuns
from zenjobs.telemetry.lines import ConsoleOptions


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


@pytest.mark.parametrize("store", ["firestore", "firestore:jobs"])
def test_cli_refuses_a_firestore_store(store: str) -> None:
    result = CliRunner().invoke(main, ["dev", "--registry", "examples.newsletter.jobs:jobs",
                                       "--store", store])
    assert result.exit_code == 2
    assert "--store" in result.output and "embedded store" in result.output


def test_the_dev_store_alias_names_the_default_file() -> None:
    assert dev_cli._store_path("dev") == ".zenjobs/dev.sqlite3"
    assert dev_cli._store_path("sqlite:x/y.sqlite3") == "x/y.sqlite3"
    assert dev_cli._store_path("memory:") == ":memory:"


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


def test_cli_refuses_quiet_with_verbose_and_unknown_statuses() -> None:
    args = ["dev", "--registry", "examples.newsletter.jobs:jobs"]
    both = CliRunner().invoke(main, [*args, "--quiet", "--verbose"])
    assert both.exit_code == 2 and "--quiet and --verbose" in both.output
    wrong = CliRunner().invoke(main, [*args, "--status", "exploded"])
    assert wrong.exit_code == 2 and "--status" in wrong.output


def test_cli_passes_the_console_options_and_the_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[DevOptions] = []

    async def fake_serve(options: DevOptions) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(dev_cli, "serve_dev", fake_serve)
    monkeypatch.setattr(dev_cli, "configure_logging", lambda: None)
    result = CliRunner().invoke(main, [
        "dev", "--registry", "examples.newsletter.jobs:jobs", "--speed", "60", "--job",
        "sync_analytics", "--job", "send_welcome_email", "--status", "DEAD", "--status",
        "skipped", "-q"])
    assert result.exit_code == 0, result.output
    console = seen[0].console
    assert console == ConsoleOptions(quiet=True, jobs=frozenset({"sync_analytics",
                                                                 "send_welcome_email"}),
                                     statuses=frozenset({"dead", "skipped"}))
    assert seen[0].speed == 60  # the server gives it to the console


def test_configure_logging_sends_info_to_the_console_and_warnings_to_stderr() -> None:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        configure_logging()
        configure_logging()  # once is enough
        ours = [h for h in root.handlers if h not in handlers]
        assert len(ours) == 1 and ours[0].level == logging.WARNING
        assert any(isinstance(f, OutsideRuns) for f in ours[0].filters)
        assert root.level == logging.INFO  # a handler's log.info reaches the run-log handler
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


def test_a_taken_port_is_refused_before_anything_starts() -> None:
    first = bind_listeners("127.0.0.1", 0)
    try:
        port = first[0].getsockname()[1]
        first[0].listen()
        with pytest.raises(PortInUseError, match=rf"port {port} is already in use.*--port"):
            bind_listeners("127.0.0.1", port)
    finally:
        for sock in first:
            sock.close()
    for sock in bind_listeners("localhost", port):  # free again; every address of the name
        assert sock.getsockname()[1] == port
        sock.close()


def test_help_lists_the_console_options_and_ends_with_examples() -> None:
    result = CliRunner().invoke(main, ["dev", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--job", "--status", "--quiet", "--verbose", "--port", "NO_COLOR"):
        assert option in result.output
    examples = result.output.split("Examples:\n", 1)[1].split("\n")
    assert all(line.strip().startswith("$ ") and "zenjobs dev" in line
               for line in examples if line.strip())
