"""``zenjobs gen-infra``: write (or check) the Terraform for the registry.

Settings come from the options, else from ``[tool.zenjobs]`` in
``pyproject.toml`` (keys ``project``, ``region``, ``service``, ``service_url``,
``heavy_service``, ``heavy_service_url``, ``runtime_service_account``,
``dashboard_members`` (a list), ``infra_out``); any ``--dashboard-member``
replaces the whole ``dashboard_members`` list. Exit codes: 0 written or up to
date; 1 registry invalid or (``--check``) files differ; 2 registry cannot load
or a setting is missing; 4 the installed zenjobs package lacks a template or the
Terraform module (the message names the file and why).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import ConfigurationError, DefinitionError, RegistryValidationError, ZenjobsError
from ..infra.files import MODULE_DIR, differences, generate, write
from ..infra.plan import InfraPlan, InfraSettings, build_plan
from ..infra.report import summary_lines
from ..loader import project_settings
from .common import (
    debug_option,
    definition_failed,
    json_option,
    main,
    open_registry,
    project_option,
    registry_option,
    resolve_registry,
)
from .output import emit, examples, fail

#: Registry invalid, or (--check) files differ.
EXIT_INVALID = 1
#: A setting is missing or malformed (as click's usage errors).
EXIT_USAGE = 2
#: The package is missing a file it needs (a template, the Terraform module).
EXIT_PACKAGE = 4

_REQUIRED = ("project", "region", "service", "service_url")
_OPTIONAL = ("heavy_service", "heavy_service_url", "runtime_service_account")


def _dashboard_members(given: tuple[str, ...], table: dict[str, Any]) -> tuple[str, ...]:
    """``--dashboard-member`` values, else ``[tool.zenjobs] dashboard_members``."""
    if given:
        return given
    value = table.get("dashboard_members", [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        fail(f"[tool.zenjobs] dashboard_members must be a list of strings, got {value!r}",
             EXIT_USAGE, field="dashboard_members")
    return tuple(value)


def _setting(options: dict[str, Any], table: dict[str, Any], key: str) -> str | None:
    value = options.get(key)
    if value is None:
        value = table.get(key)
    if value is not None and not isinstance(value, str):
        fail(f"[tool.zenjobs] {key} must be a string, got {value!r}", EXIT_USAGE, field=key)
    return value


@main.command("gen-infra", epilog=examples(
    "zenjobs gen-infra --registry examples.newsletter.jobs:jobs --out infra --project "
    "acme-prod --region europe-west1 --service newsletter --service-url "
    "https://newsletter-abc-ew.a.run.app",
    "zenjobs gen-infra --check   # settings from [tool.zenjobs]; exit 1 if out of date",
))
@registry_option
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output directory (else [tool.zenjobs] infra_out).")
@project_option("Google Cloud project id (else zenjobs --project, [tool.zenjobs] project).")
@click.option("--region", default=None, help="Region of the Cloud Run service, e.g. europe-west1.")
@click.option("--service", default=None, help="Cloud Run service name.")
@click.option("--service-url", "service_url", default=None,
              help="https:// base URL of the service (also the OIDC audience).")
@click.option("--heavy-service", "heavy_service", default=None,
              help="Optional separate Cloud Run service for heavy jobs.")
@click.option("--heavy-service-url", "heavy_service_url", default=None,
              help="https:// base URL of the heavy service.")
@click.option("--runtime-service-account", "runtime_service_account", default=None,
              help="Existing service account the service runs as (else the module creates one).")
@click.option("--dashboard-member", "dashboard_members", metavar="MEMBER", multiple=True,
              help="IAM member granted roles/run.invoker on the service so it can reach the "
                   "dashboard (/_zenjobs/ui): user:EMAIL, group:EMAIL, serviceAccount:EMAIL or "
                   "domain:DOMAIN; repeatable, never allUsers/allAuthenticatedUsers (else "
                   "[tool.zenjobs] dashboard_members). Example: --dashboard-member "
                   "user:oncall@example.com --dashboard-member group:ops@example.com")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 listing the files that would change.")
@json_option("Print the JSON object of docs/operations.md (out, files, changes, plan).")
@debug_option
def gen_infra(
    registry_spec: str | None,
    out: Path | None,
    check: bool,
    dashboard_members: tuple[str, ...],
    as_json: bool,
    **options: Any,
) -> None:
    """Generate Terraform for the registry: queues, ONE Cloud Scheduler job, least-privilege IAM."""
    try:
        table = project_settings()
    except ZenjobsError as exc:
        fail(str(exc), EXIT_USAGE)
    values = {key: _setting(options, table, key) for key in _REQUIRED + _OPTIONAL}
    members = _dashboard_members(dashboard_members, table)
    missing = [key for key in _REQUIRED if not values[key]]
    if missing:
        flags = ", ".join("--" + key.replace("_", "-") for key in missing)
        fail(f"missing {flags} (or set them under [tool.zenjobs] in pyproject.toml)",
             EXIT_USAGE, field="--" + missing[0].replace("_", "-"))
    out_dir = out if out is not None else _out_from_table(table)
    spec = resolve_registry(registry_spec)
    registry = open_registry(spec)
    problems = registry.problems(require_handlers=False)
    if problems:
        definition_failed(RegistryValidationError(list(problems)))
    try:
        settings = InfraSettings(
            project=str(values["project"]),
            region=str(values["region"]),
            service=str(values["service"]),
            service_url=str(values["service_url"]),
            heavy_service=values["heavy_service"],
            heavy_service_url=values["heavy_service_url"],
            runtime_service_account=values["runtime_service_account"],
            dashboard_members=members,
        )
        plan = build_plan(registry.descriptors, settings)
    except ConfigurationError as exc:
        fail(str(exc), EXIT_USAGE)
    except DefinitionError as exc:
        definition_failed(exc)
    files = _generate(plan, spec)
    if check:
        diffs = differences(out_dir, files)
        result = {"out": str(out_dir), "check": True, "files": len(files),
                  "up_to_date": not diffs,
                  "differences": [{"path": d.path, "reason": d.reason} for d in diffs]}
        message = f"{out_dir} is out of date: run zenjobs gen-infra without --check"
        if as_json:
            if diffs:
                fail(message, EXIT_INVALID, result=result)
            emit(result)
            return
        for diff in diffs:
            click.echo(f"{diff.reason}: {out_dir / diff.path}")
        if diffs:
            click.echo(message, err=True)
            raise SystemExit(1)
        click.echo(f"{out_dir} is up to date ({len(files)} files)")
        return
    changes = write(out_dir, files)
    verbs = {"missing": "created", "differs": "updated", "stale": "removed"}
    if as_json:
        emit({"out": str(out_dir), "check": False, "files": len(files),
              "changes": [{"path": c.path, "change": verbs[c.reason]} for c in changes],
              "unchanged": len(files) - len(changes), "plan": _plan_dict(plan)})
        return
    click.echo(f"wrote {out_dir}: {len(changes)} changed, {len(files) - len(changes)} unchanged")
    for change in changes:
        click.echo(f"  {verbs[change.reason]}: {change.path}")
    for line in summary_lines(plan):
        click.echo(line)


_REINSTALL = ("reinstall zenjobs (pip install --force-reinstall zenjobs); a wheel or sdist "
              "built without package data lacks it")


def _generate(plan: InfraPlan, spec: str) -> dict[str, str]:
    """The generated files, or exit 4 naming the template / module file that is missing, and
    why (the installed package lacks its data; in a checkout, a broken symlink)."""
    import jinja2

    try:
        files = generate(plan, spec)
    except jinja2.TemplateNotFound as exc:
        fail(f"template {exc.name!r} is missing from the installed zenjobs package "
             f"(zenjobs/infra/templates/{exc.name}): {_REINSTALL}", EXIT_PACKAGE,
             field="template")
    except ValueError as exc:  # jinja2.PackageLoader: no templates directory at all
        if "PackageLoader" not in str(exc) and "templates" not in str(exc):
            raise
        fail(f"the templates directory zenjobs/infra/templates is missing from the installed "
             f"zenjobs package ({exc}): {_REINSTALL}", EXIT_PACKAGE, field="template")
    except (FileNotFoundError, NotADirectoryError) as exc:
        fail(f"the Terraform module zenjobs/infra/module is missing from the installed zenjobs "
             f"package ({exc.strerror or type(exc).__name__}: {exc.filename}): in a checkout "
             f"it is a symlink to terraform/modules/zenjobs, so check that directory exists; "
             f"else {_REINSTALL}", EXIT_PACKAGE, field="module")
    if not any(name.startswith(MODULE_DIR + "/") for name in files):
        fail("the Terraform module zenjobs/infra/module of the installed zenjobs package has "
             "no *.tf file: in a checkout it is a symlink to terraform/modules/zenjobs, so "
             f"check that directory; else {_REINSTALL}", EXIT_PACKAGE, field="module")
    return files


def _plan_dict(plan: InfraPlan) -> dict[str, Any]:
    s = plan.scheduler
    return {
        "queues": [{"name": q.name, "jobs": list(q.jobs), "heavy": q.heavy,
                    "target_url": q.target_url,
                    "max_dispatches_per_second": q.max_dispatches_per_second,
                    "max_concurrent_dispatches": q.max_concurrent_dispatches,
                    "max_attempts": q.max_attempts} for q in plan.queues],
        "scheduler": {"name": s.name, "schedule": s.schedule, "time_zone": s.time_zone,
                      "uri": s.uri,
                      "attempt_deadline_seconds": int(s.attempt_deadline.total_seconds())},
        "iam_bindings": [{"role": b.role, "member": b.member, "resource": b.resource}
                         for b in plan.bindings],
        "dashboard_members": list(plan.dashboard_members),
        "recurring_jobs": list(plan.recurring_jobs),
    }


def _out_from_table(table: dict[str, Any]) -> Path:
    value = table.get("infra_out")
    if not isinstance(value, str) or not value:
        fail("missing --out (or set infra_out under [tool.zenjobs])", EXIT_USAGE,
             field="--out")
    return Path(value)
