"""The harness itself, end to end: Chromium reaches the running example service, and the
``zenjobs`` command reads the store that service writes."""

from __future__ import annotations

import json

from playwright.sync_api import Page, expect

from .harness import ExampleService, ZenjobsCli

#: Jobs of examples/newsletter/jobs.py that the service's store must know.
EXAMPLE_JOBS = {"nightly_report", "cleanup_temp_files", "send_welcome_email"}


def test_browser_reaches_the_health_endpoint(page: Page,
                                             example_service: ExampleService) -> None:
    response = page.goto(f"{example_service.url}/_zenjobs/health")
    assert response is not None, example_service.printed()
    assert response.ok, f"{response.status}\n{example_service.printed()}"
    expect(page.locator("body")).to_contain_text('"status"')


def test_cli_reads_the_service_store(example_service: ExampleService,
                                     zenjobs_cli: ZenjobsCli) -> None:
    assert example_service.store.is_file(), example_service.printed()
    result = zenjobs_cli("status", "--json", "--store", f"sqlite:{example_service.store}")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["command"] == "status" and data["store"] == f"sqlite:{example_service.store}"
    listed = {job["job_id"] for job in data["jobs"]}
    assert listed >= EXAMPLE_JOBS, listed
