"""``zenjobs trigger`` and ``zenjobs replay``: run one execution through an executor.

Unlike the other operations commands, these start a
:class:`~zenjobs.runtime.executor.ZenJobsExecutor` on the store: on Firestore
it enqueues the run to Cloud Tasks for the deployed service; on a development
store it runs it here, pushing the simulated queue's due tasks to this process.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click

from .. import ops
from ..ops.status import RunSummary
from ..registry import ZenJobs
from ..runtime.executor import ZenJobsExecutor
from ..stores.protocol import JobStore
from ..stores.records import RunRecord
from ..telemetry.console import ConsoleTelemetrySink
from .common import debug_option, json_option, main, open_registry, registry_option
from .ops_support import (
    EXIT_FAILED,
    EXIT_USAGE,
    Settings,
    StoreSpec,
    actor_option,
    close_quietly,
    open_store,
    resolve_store,
    run_async,
    store_line,
    store_options,
)
from .output import emit, examples, fail


def production_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Settings a firestore store needs to enqueue Cloud Tasks (as ZenJobsExecutor.production)."""
    fn = click.option("--invoker-service-account", "invoker_service_account", default=None,
                      help="Invoker account (else $ZENJOBS_INVOKER_SA, [tool.zenjobs] "
                           "invoker_service_account, zenjobs-invoker@PROJECT).")(fn)
    fn = click.option("--service-url", "service_url", default=None,
                      help="Service URL (else $ZENJOBS_SERVICE_URL, [tool.zenjobs] "
                           "service_url).")(fn)
    fn = click.option("--location", "--region", "location", default=None,
                      help="Cloud Tasks location (else $ZENJOBS_LOCATION, [tool.zenjobs] "
                           "location / region).")(fn)
    return fn


def _executor(registry: ZenJobs, settings: Settings, spec: StoreSpec,
              store: JobStore) -> ZenJobsExecutor:
    telemetry = ConsoleTelemetrySink(sys.stderr)
    if not spec.is_production:
        return ZenJobsExecutor.development(registry, store=store, telemetry=telemetry)
    project = settings.project
    invoker = settings.get("invoker_service_account", ("ZENJOBS_INVOKER_SA",),
                           ("invoker_service_account",),
                           f"zenjobs-invoker@{project}.iam.gserviceaccount.com"
                           if project else None)
    return ZenJobsExecutor.production(
        registry, project=project, location=settings.location,
        service_url=settings.get("service_url", ("ZENJOBS_SERVICE_URL",), ("service_url",)),
        invoker_service_account=invoker, collection=spec.target, store=store,
        telemetry=telemetry)


async def _deliver_here(executor: ZenJobsExecutor, wait: bool) -> int:
    """Development: push the simulated queue's due tasks to this process's webhook.

    With ``wait``, retries scheduled later are awaited in real time too.
    Returns how many tasks are still pending (lost when the process exits).
    """
    queue: Any = executor.queue
    if not hasattr(queue, "dispatch_due"):
        return 0
    while queue.pending():
        await queue.dispatch_due()
        due = queue.next_due_at()
        if not wait or due is None or not queue.pending():
            break
        await executor.clock.sleep(max((due - executor.clock.now()).total_seconds(), 0.0))
    return int(queue.pending())


def _run_with_executor(registry: ZenJobs, settings: Settings, wait: bool,
                       act: Callable[[ZenJobsExecutor], Awaitable[tuple[str, str]]],
                       ) -> tuple[RunRecord | None, str, bool, int]:
    """Start an executor on the store, ``act`` (returns job and execution id), report the run."""
    spec = resolve_store(settings)

    async def body() -> tuple[RunRecord | None, str, bool, int]:
        store = open_store(spec, settings.project)
        try:
            executor = _executor(registry, settings, spec, store)
            try:
                await executor.start()
                job_id, execution_id = await act(executor)
                pending = await _deliver_here(executor, wait) if not spec.is_production else 0
                run = await executor.store.get_run(job_id, execution_id)
                return run, execution_id, spec.is_production, pending
            finally:
                await executor.shutdown()
        finally:
            await close_quietly(store)

    return run_async(body)


def _report_run(job_id: str, run: RunRecord | None, execution_id: str, production: bool,
                pending: int, as_json: bool, extra: dict[str, Any]) -> None:
    """Print what happened to the run; exit 1 when it ended ``failure`` or ``dead`` here."""
    failed = (run is not None and not production and run.status.is_completed
              and run.status.value != "success")
    if as_json:
        result = {"job": job_id, "execution_id": execution_id, **extra,
                  "delivery": "cloud_tasks" if production else "here",
                  "run": RunSummary.of(run).to_dict() if run is not None else None,
                  "pending": pending}
        if failed:
            assert run is not None
            fail(f"run {execution_id} ended {run.status.value}"
                 + (f": {run.error_type}: {run.error_message}" if run.error_type else ""),
                 EXIT_FAILED, job=job_id, result=result)
        emit(result)
        return
    if production:
        click.echo(f"enqueued {execution_id} to Cloud Tasks; the service runs it "
                   f"(zenjobs status shows the outcome)")
        return
    if run is None:
        click.echo(f"{execution_id}: no run record found")
        return
    took = f" in {run.duration_ms} ms" if run.duration_ms is not None else ""
    error = f": {run.error_type}: {run.error_message}" if run.error_type else ""
    click.echo(f"ran {execution_id} here: {run.status.value} (attempt {run.attempt}){took}"
               f"{error}")
    if pending:
        click.echo(f"{pending} task(s) scheduled later were not delivered by this process: "
                   f"the next `zenjobs dev` start enqueues unfinished runs again, or pass "
                   f"--wait to wait for them here")
    if failed:
        raise SystemExit(EXIT_FAILED)


_WAIT_HELP = ("Development stores: also wait (in real time) for retries scheduled later; "
              "without it only what is due now runs in this process.")


_RUN_JSON = ("Print the JSON object of docs/operations.md (execution_id, delivery, run, "
             "pending).")


@main.command("trigger", epilog=examples(
    "zenjobs trigger send_welcome_email --payload '{\"user_id\": 7}' --store dev",
    "zenjobs trigger sync_analytics --wait --store dev --json",
    "zenjobs trigger nightly_report --store firestore --project acme-prod --region "
    "europe-west1 --service-url https://newsletter-abc-ew.a.run.app",
))
@registry_option
@store_options
@production_options
@click.argument("job")
@click.option("--payload", default=None, metavar="JSON", help="JSON payload for the handler.")
@click.option("--wait", is_flag=True, help=_WAIT_HELP)
@actor_option
@json_option(_RUN_JSON)
@debug_option
def trigger_command(registry_spec: str | None, job: str, payload: str | None, wait: bool,
                    actor: str, as_json: bool, **options: Any) -> None:
    """Run JOB once now, outside its schedule (recorded and enqueued like any run)."""
    data: Any = None
    if payload is not None:
        try:
            data = json.loads(payload)
        except ValueError as exc:
            fail(f"Invalid value for '--payload': not valid JSON: {exc}", EXIT_USAGE,
                 field="--payload")
    registry = open_registry(registry_spec)
    if job not in registry:
        fail(f"unknown job {job!r}", EXIT_FAILED, field="JOB", job=job)
    settings = Settings.load(options)

    async def act(executor: ZenJobsExecutor) -> tuple[str, str]:
        return job, await ops.trigger(executor.engine, job, data, executor.clock.now(),
                                      actor=actor)

    run, execution_id, production, pending = _run_with_executor(registry, settings, wait, act)
    if not as_json:
        click.echo(store_line())
        click.echo(f"triggered {job}: execution {execution_id}")
    _report_run(job, run, execution_id, production, pending, as_json, {})


@main.command("replay", epilog=examples(
    "zenjobs replay sync_analytics-rd1fe7a3fc127d5bfb60a20eb --store dev",
    "zenjobs replay sync_analytics-rd1fe7a3fc127d5bfb60a20eb --wait --store dev --json",
))
@registry_option
@store_options
@production_options
@click.argument("execution_id")
@click.option("--wait", is_flag=True, help=_WAIT_HELP)
@actor_option
@json_option(_RUN_JSON)
@debug_option
def replay_command(registry_spec: str | None, execution_id: str, wait: bool, actor: str,
                   as_json: bool, **options: Any) -> None:
    """Run a failed or dead execution again, as its next attempt."""
    registry = open_registry(registry_spec)
    settings = Settings.load(options)

    reopened_as: list[tuple[str, int]] = []

    async def act(executor: ZenJobsExecutor) -> tuple[str, str]:
        reopened = await ops.replay(executor.engine, execution_id, executor.clock.now(),
                                    actor=actor)
        reopened_as.append((reopened.job_id, reopened.attempt))
        return reopened.job_id, execution_id

    run, _, production, pending = _run_with_executor(registry, settings, wait, act)
    job_id, attempt = reopened_as[0]
    if not as_json:
        click.echo(store_line())
        click.echo(f"replaying {execution_id} as attempt {attempt}")
    _report_run(job_id, run, execution_id, production, pending, as_json, {"attempt": attempt})
