"""The dashboard in real headless Chromium, against the example service under a real server.

``example_service`` is ``zenjobs dev`` for the newsletter example (simulated time
x60, so its deliberately failing ``sync_analytics`` is dead within seconds). Every
wait is Playwright's ``expect``, which waits on the page, never a sleep; live
changes arrive over Server-Sent Events (htmx refreshes the region that shows them).

The tests run in file order against one service: the first is the issue's "done
when" path (a newcomer finds why ``sync_analytics`` fails, disables it, replays its
dead run), which leaves that job disabled.
"""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Page, Route, expect

from zenjobs import JobContext, JobType, ZenJobs, ZenJobsExecutor
from zenjobs.dashboard import Dashboard
from zenjobs.stores.memory import MemoryJobStore
from zenjobs.testing.http import serve_app

from .harness import ExampleService, Screenshots, ZenjobsCli

EXAMPLE_JOBS = ("cleanup_temp_files", "nightly_report", "render_thumbnails", "send_digest",
                "send_welcome_email", "sync_analytics")
#: sync_analytics fails every attempt; its first run is dead after three attempts.
DEAD_WITHIN_MS = 45_000


def ui(service: ExampleService, path: str = "") -> str:
    return f"{service.url}/_zenjobs/ui/{path}"


def status_of(zenjobs_cli: ZenjobsCli, service: ExampleService, job: str) -> dict[str, Any]:
    result = zenjobs_cli("status", job, "--json", "--store", f"sqlite:{service.store}")
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = next(j for j in json.loads(result.stdout)["jobs"]
                                 if j["job_id"] == job)
    return found


def wait_for_run(zenjobs_cli: ZenjobsCli, service: ExampleService, job: str, execution: str,
                 status: str, attempts: int = 60) -> None:
    """Ask ``zenjobs status`` until the run has ``status`` (each ask is a real round trip)."""
    seen = None
    for _ in range(attempts):
        runs = status_of(zenjobs_cli, service, job)["runs"]
        seen = next((r["status"] for r in runs if r["execution_id"] == execution), None)
        if seen == status:
            return
    raise AssertionError(f"{execution} is {seen}, not {status}, after {attempts} looks")


def test_a_newcomer_finds_why_sync_analytics_fails_disables_it_and_replays_its_dead_run(
        page: Page, example_service: ExampleService, zenjobs_cli: ZenjobsCli,
        screenshots: Screenshots) -> None:
    page.goto(ui(example_service))
    for job in EXAMPLE_JOBS:
        expect(page.locator(f'tr[data-job="{job}"]')).to_be_visible()
    row = page.locator('tr[data-job="sync_analytics"]')
    # The row turns dead by itself: the page refreshes on the run events it is sent.
    expect(row.locator(".status.s-dead")).to_be_visible(timeout=DEAD_WITHIN_MS)
    screenshots.save(page, "jobs")

    row.get_by_role("link", name="sync_analytics").click()
    failure = page.locator("#latest-failure")
    expect(failure).to_contain_text("FlakyProviderError: analytics provider unavailable")
    screenshots.save(page, "job")
    failure.get_by_role("link").click()
    expect(page.locator("#run-error")).to_contain_text("analytics provider unavailable")
    expect(page.locator(".attempts details").first).to_be_attached()  # tracebacks
    screenshots.save(page, "run")

    page.goto(ui(example_service, "jobs/sync_analytics"))
    page.locator("#disable").click()
    expect(page.locator("#enabled-state")).to_have_text("disabled")
    expect(page.locator(".notice")).to_contain_text("Job disabled")
    assert status_of(zenjobs_cli, example_service, "sync_analytics")["config"]["enabled"] is False

    page.goto(ui(example_service, "dead?job=sync_analytics"))
    first = page.locator('input[name="execution"]').first
    execution = (first.get_attribute("value") or "").partition("/")[2]
    assert execution.startswith("sync_analytics-")
    screenshots.save(page, "dead")
    first.check()
    page.locator("#replay-selected").click()
    expect(page.locator("#replay-results")).to_contain_text(f"{execution}: replaying")
    # The replay runs as the next attempt; the job is disabled now, so (as documented)
    # the run is recorded skipped_disabled, and the run page shows it live.
    page.goto(ui(example_service, f"jobs/sync_analytics/runs/{execution}"))
    expect(page.locator("h1 .status")).to_have_text("skipped_disabled")
    expect(page.locator(".attempts")).to_contain_text("4")


def test_triggering_a_job_shows_the_run_appear_and_finish_live(
        page: Page, example_service: ExampleService, zenjobs_cli: ZenjobsCli) -> None:
    page.goto(ui(example_service, "jobs/send_welcome_email"))
    page.locator("#payload").fill('{"user_id": "browser-test"}')
    page.locator("#trigger").click()
    expect(page.locator(".notice")).to_contain_text("Run started")
    expect(page.locator("h1 .status")).to_have_text("success")
    expect(page.locator("dd pre")).to_contain_text('"user_id": "browser-test"')

    # The job page, opened before the next run, shows it arrive without a reload, even
    # when its event stream only opens after the run has finished (a slow connection,
    # a reconnect): every page reloads its live region when its stream opens.
    held: list[Route] = []
    page.route("**/_zenjobs/ui/events*", lambda route: held.append(route))
    page.goto(ui(example_service, "jobs/send_welcome_email"))
    runs = page.locator("#runs-live tbody tr[data-execution]")
    count = runs.count()
    page.locator("#payload").fill('{"user_id": "browser-test-2"}')
    run_url = page.evaluate("""async () => (await fetch(
        document.querySelector('form.trigger').action, {method: 'POST',
        body: new URLSearchParams(new FormData(document.querySelector('form.trigger')))})).url""")
    execution = str(run_url).split("/runs/")[1].split("?")[0]
    wait_for_run(zenjobs_cli, example_service, "send_welcome_email", execution, "success")
    assert runs.count() == count  # nothing reached the page yet
    for route in held:
        route.continue_()
    page.unroute("**/_zenjobs/ui/events*")
    expect(runs).to_have_count(count + 1)
    expect(runs.first).to_have_attribute("data-execution", execution)
    expect(runs.first.locator(".status")).to_have_text("success")


def test_an_invalid_payload_or_cron_is_shown_inline(
        page: Page, example_service: ExampleService, screenshots: Screenshots) -> None:
    page.goto(ui(example_service, "jobs/send_welcome_email"))
    page.locator("#payload").fill("{not json")
    page.locator("#trigger").click()
    expect(page.locator("#payload-error")).to_contain_text("not valid JSON")
    assert page.url.endswith("/jobs/send_welcome_email")  # nothing was sent

    page.goto(ui(example_service, "jobs/nightly_report"))
    page.locator("#cron").fill("0 3 * * *")
    expect(page.locator("#preview table.fires tbody tr")).to_have_count(10)
    page.locator("#cron").fill("61 2 * * *")
    expect(page.locator("#schedule-error")).to_contain_text("minute field '61'")
    screenshots.save(page, "schedule-error")
    page.locator("#save-schedule").click()
    expect(page.locator("#form-error")).to_contain_text("minute field '61'")
    page.goto(ui(example_service, "jobs/nightly_report"))
    expect(page.locator("#cron")).to_have_value("30 2 * * *")  # nothing was saved


def test_ticks_and_backends_are_shown(page: Page, example_service: ExampleService,
                                      screenshots: Screenshots) -> None:
    page.goto(ui(example_service, "ticks"))
    expect(page.locator("#ticks-live tbody tr").first).to_contain_text("Z")
    expect(page.locator("#backends")).to_contain_text(f"SQLite {example_service.store}")
    expect(page.locator("#backends")).to_contain_text("simulated Cloud Tasks")
    screenshots.save(page, "ticks")


def test_production_mode_answers_401_without_credentials(page: Page) -> None:
    jobs = ZenJobs()

    @jobs.job("hello", type=JobType.ENDPOINT)
    async def hello(ctx: JobContext) -> None:
        return None

    executor = ZenJobsExecutor.production(
        jobs, project="demo-project", location="europe-west1",
        service_url="https://hello.example.run.app",
        invoker_service_account="invoker@demo-project.iam.gserviceaccount.com",
        store=MemoryJobStore(), queue=MemoryQueue(),
        dashboard=Dashboard(operators=["user:ops@example.com"]))
    with serve_app(executor.app) as url:
        response = page.goto(f"{url}/_zenjobs/ui/")
        assert response is not None and response.status == 401
        assert response.headers.get("www-authenticate") == "Bearer"
        expect(page.locator("body")).to_contain_text("Authorization")


class MemoryQueue:
    """A queue that keeps tasks (the production test never delivers any)."""

    def __init__(self) -> None:
        self.tasks: list[Any] = []

    async def enqueue(self, task: Any) -> None:
        self.tasks.append(task)
