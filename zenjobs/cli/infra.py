"""``zenjobs gen-infra``: write (or check) the Terraform for the registry.

Settings come from the options, else from ``[tool.zenjobs]`` in
``pyproject.toml`` (keys ``project``, ``region``, ``service``, ``service_url``,
``heavy_service``, ``heavy_service_url``, ``runtime_service_account``,
``dashboard_members`` (a list), ``infra_out``); any ``--dashboard-member``
replaces the whole ``dashboard_members`` list. Exit codes: 0 written or up to
date; 1 registry invalid or (``--check``) files differ; 2 registry cannot load
or a setting is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import ConfigurationError, DefinitionError, RegistryLoadError
from ..infra.files import differences, generate, write
from ..infra.plan import InfraSettings, build_plan
from ..infra.report import summary_lines
from ..loader import project_settings, resolve_registry_spec
from .common import EXIT_INVALID, EXIT_LOAD_ERROR, main, open_registry, registry_option

_REQUIRED = ("project", "region", "service", "service_url")
_OPTIONAL = ("heavy_service", "heavy_service_url", "runtime_service_account")


def _dashboard_members(given: tuple[str, ...], table: dict[str, Any]) -> tuple[str, ...]:
    """``--dashboard-member`` values, else ``[tool.zenjobs] dashboard_members``."""
    if given:
        return given
    value = table.get("dashboard_members", [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise click.UsageError(
            f"[tool.zenjobs] dashboard_members must be a list of strings, got {value!r}"
        )
    return tuple(value)


def _setting(options: dict[str, Any], table: dict[str, Any], key: str) -> str | None:
    value = options.get(key)
    if value is None:
        value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise click.UsageError(f"[tool.zenjobs] {key} must be a string, got {value!r}")
    return value


@main.command("gen-infra")
@registry_option
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output directory (else [tool.zenjobs] infra_out).")
@click.option("--project", default=None, help="Google Cloud project id.")
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
def gen_infra(
    registry_spec: str | None,
    out: Path | None,
    check: bool,
    dashboard_members: tuple[str, ...],
    **options: Any,
) -> None:
    """Generate Terraform for the registry: queues, ONE Cloud Scheduler job, least-privilege IAM."""
    table = project_settings()
    values = {key: _setting(options, table, key) for key in _REQUIRED + _OPTIONAL}
    members = _dashboard_members(dashboard_members, table)
    missing = [key for key in _REQUIRED if not values[key]]
    if missing:
        flags = ", ".join("--" + key.replace("_", "-") for key in missing)
        raise click.UsageError(
            f"missing {flags} (or set them under [tool.zenjobs] in pyproject.toml)"
        )
    out_dir = out if out is not None else _out_from_table(table)
    try:
        spec = resolve_registry_spec(registry_spec)
    except RegistryLoadError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_LOAD_ERROR) from None
    registry = open_registry(spec)
    problems = registry.problems(require_handlers=False)
    try:
        if problems:
            raise DefinitionError(problems[0].job_id, problems[0].field, problems[0].message)
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
        raise click.UsageError(str(exc)) from None
    except DefinitionError as exc:
        for problem in problems or [exc.problem]:
            click.echo(f"error: {problem}", err=True)
        raise SystemExit(EXIT_INVALID) from None
    files = generate(plan, spec)
    if check:
        diffs = differences(out_dir, files)
        for diff in diffs:
            click.echo(f"{diff.reason}: {out_dir / diff.path}")
        if diffs:
            click.echo(f"{out_dir} is out of date: run zenjobs gen-infra without --check", err=True)
            raise SystemExit(1)
        click.echo(f"{out_dir} is up to date ({len(files)} files)")
        return
    changes = write(out_dir, files)
    click.echo(f"wrote {out_dir}: {len(changes)} changed, {len(files) - len(changes)} unchanged")
    verbs = {"missing": "created", "differs": "updated", "stale": "removed"}
    for change in changes:
        click.echo(f"  {verbs[change.reason]}: {change.path}")
    for line in summary_lines(plan):
        click.echo(line)


def _out_from_table(table: dict[str, Any]) -> Path:
    value = table.get("infra_out")
    if not isinstance(value, str) or not value:
        raise click.UsageError("missing --out (or set infra_out under [tool.zenjobs])")
    return Path(value)
