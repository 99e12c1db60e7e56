"""``zenjobs scheduler pause | resume | run``: the master Cloud Scheduler job.

Resolves project, location and job name (option > environment >
``[tool.zenjobs]``) and calls :class:`~zenjobs.gcp.scheduler.SchedulerControl`,
imported only when a command runs so ``zenjobs --help`` never loads google.cloud.
"""

from __future__ import annotations

from typing import Any

import click

from ..schedule import format_instant
from ..vocabulary import MASTER_JOB_ID
from .common import debug_option, json_option, main, project_option
from .ops_support import EXIT_USAGE, Settings, close_quietly, run_async
from .output import emit, examples, fail

_WHERE = "--project acme-prod --region europe-west1"


@main.group("scheduler", epilog=examples(
    f"zenjobs scheduler pause {_WHERE}",
    f"zenjobs scheduler resume {_WHERE} --json",
))
def scheduler_group() -> None:
    """Pause, resume or run the master Cloud Scheduler job (all schedules at once)."""


def _scheduler_command(verb: str, done: str, summary: str) -> None:
    @scheduler_group.command(verb, help=summary, epilog=examples(
        f"zenjobs scheduler {verb} {_WHERE}",
        f"ZENJOBS_PROJECT=acme-prod ZENJOBS_LOCATION=europe-west1 zenjobs scheduler {verb} "
        "--json",
    ))
    @project_option("Google Cloud project (else zenjobs --project, $ZENJOBS_PROJECT, "
                    "$GOOGLE_CLOUD_PROJECT, [tool.zenjobs] project).")
    @click.option("--location", "--region", "location", default=None,
                  help="Region of the job (else $ZENJOBS_LOCATION, [tool.zenjobs] location / "
                       "region).")
    @click.option("--job-name", "job_name", default=None,
                  help=f"Cloud Scheduler job (else [tool.zenjobs] scheduler_job_name, "
                       f"{MASTER_JOB_ID}).")
    @click.option("--endpoint", default=None, hidden=True,
                  help="host:port of a plain-gRPC Cloud Scheduler stand-in (tests).")
    @json_option("Print the JSON object of docs/operations.md (project, location, job, state).")
    @debug_option
    def command(as_json: bool, **options: Any) -> None:
        from ..gcp.scheduler import MasterJobState, SchedulerControl

        settings = Settings.load(options)
        project, location = settings.project, settings.location
        missing = [name for name, value in (("--project", project), ("--location", location))
                   if not value]
        if missing:
            fail(f"missing {', '.join(missing)} (or set them in the environment or under "
                 "[tool.zenjobs])", EXIT_USAGE, field=missing[0])
        assert project is not None and location is not None
        job_name = settings.get("job_name", ("ZENJOBS_SCHEDULER_JOB",),
                                ("scheduler_job_name",), MASTER_JOB_ID) or MASTER_JOB_ID
        endpoint = settings.get("endpoint", ("ZENJOBS_SCHEDULER_ENDPOINT",))
        control = SchedulerControl(project, location, job_name, endpoint=endpoint)

        async def body() -> MasterJobState:
            try:
                result: MasterJobState = await getattr(control, verb)()
                return result
            finally:
                await close_quietly(control)

        state = run_async(body)
        if as_json:
            emit({"project": project, "location": location, "job": control.job_path,
                  "state": state.state, "schedule": state.schedule,
                  "next_schedule_time": format_instant(state.next_schedule_time)
                  if state.next_schedule_time else None})
            return
        click.echo(f"{done} {control.job_path} (state {state.state})")

    del command


_scheduler_command("pause", "paused", "Pause the master tick: no scheduled or periodic job "
                   "fires until resume (endpoint jobs still run).")
_scheduler_command("resume", "resumed", "Resume the master tick.")
_scheduler_command("run", "ran", "Send one master tick now.")
