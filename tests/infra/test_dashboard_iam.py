"""Dashboard access: ``InfraSettings.dashboard_members`` → ``roles/run.invoker`` on the service.

Checked at every layer: the settings refuse every bad form naming the field and the
value; the plan, the summary and the rendered root carry the members (sorted), and a
root without members is unchanged; the generated directory is ``terraform fmt`` clean
and passes real ``terraform init`` + ``validate`` (tfharness, offline, google 6.50.0
schema); and the module's own ``dashboard_members`` validation blocks, which
``terraform validate`` evaluates for literal module arguments, refuse what gen-infra
refuses, ``allUsers`` and ``allAuthenticatedUsers`` first.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from infra_support import (
    EXAMPLE_ARGS,
    EXAMPLE_INFRA,
    EXAMPLE_SETTINGS,
    HEAVY_SETTINGS,
    MODULE_DIR,
    generate_dir,
    parse_dir,
    resources,
    tfharness,
    varied_registry,
)

from examples.newsletter.jobs import jobs as newsletter
from zenjobs import ConfigurationError
from zenjobs.cli import main
from zenjobs.infra.files import generate
from zenjobs.infra.plan import DASHBOARD_PATH, InfraSettings, build_plan
from zenjobs.infra.render import hcl_string
from zenjobs.infra.report import summary_lines

MEMBERS = (
    "user:oncall@example.com",
    "group:ops-team@example.co.uk",
    "serviceAccount:ops-bot@demo-project.iam.gserviceaccount.com",
    "domain:example.com",
)
GOOD = (
    *MEMBERS,
    "user:first.last+tag@example.com",
    "serviceAccount:123456789-compute@developer.gserviceaccount.com",
)
PUBLIC = ("allUsers", "allAuthenticatedUsers", "AllUsers", " allUsers")
MALFORMED = (
    "oncall@example.com",  # bare email: IAM needs the kind
    "User:oncall@example.com",  # IAM spells the prefixes exactly
    "serviceaccount:bot@demo-project.iam.gserviceaccount.com",
    "group:ops",
    "domain:localhost",
    "user:",
    "",
    "user:oncall@example.com ",
    "user:oncall@example.com\n",
    'user:x"${file("/etc/passwd")}"@example.com',
    "principalSet://iam.googleapis.com/locations/global/workforcePools/p/*",
    "deleted:user:oncall@example.com?uid=123",
)
TWICE = ("user:oncall@example.com", "user:OnCall@Example.com")


def settings(*members: str) -> InfraSettings:
    return replace(EXAMPLE_SETTINGS, dashboard_members=members)


# --- settings ---------------------------------------------------------------------------


def test_default_is_no_members_and_good_forms_are_kept_in_order() -> None:
    assert EXAMPLE_SETTINGS.dashboard_members == ()
    assert settings(*GOOD).dashboard_members == GOOD


def test_a_list_is_kept_as_a_tuple() -> None:
    built = InfraSettings("demo-project", "europe-west1", "svc", "https://svc.a.run.app",
                          dashboard_members=list(MEMBERS))  # type: ignore[arg-type]
    assert built.dashboard_members == MEMBERS
    hash(built)  # still a frozen, hashable value


@pytest.mark.parametrize("member", PUBLIC)
def test_public_members_are_refused_naming_field_and_value(member: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        settings("user:oncall@example.com", member)
    message = str(info.value)
    assert f"dashboard_members {member!r}" in message
    assert "public" in message


@pytest.mark.parametrize("member", MALFORMED)
def test_malformed_members_are_refused_naming_field_and_value(member: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        settings(member)
    message = str(info.value)
    assert f"dashboard_members {member!r}" in message
    assert "user:EMAIL, group:EMAIL, serviceAccount:EMAIL or domain:DOMAIN" in message


def test_duplicates_are_refused_case_insensitively_naming_both() -> None:
    with pytest.raises(ConfigurationError) as info:
        settings(*TWICE)
    assert f"dashboard_members {TWICE[1]!r} is listed twice (also as {TWICE[0]!r})" in str(
        info.value
    )
    with pytest.raises(ConfigurationError, match="listed twice"):
        settings(MEMBERS[0], MEMBERS[0])


@pytest.mark.parametrize("value", ["user:oncall@example.com", None, 3])
def test_a_single_value_instead_of_a_list_is_refused(value: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"dashboard_members .* must be a list"):
        replace(EXAMPLE_SETTINGS, dashboard_members=value)


def test_a_non_string_member_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"dashboard_members 7 is not a string"):
        settings(7)  # type: ignore[arg-type]


def test_every_bad_member_is_named_in_one_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        settings("allUsers", "oncall@example.com", *TWICE)
    message = str(info.value)
    for bad in ("'allUsers'", "'oncall@example.com'", repr(TWICE[1])):
        assert bad in message


# --- plan, summary, rendered root ------------------------------------------------------


def test_plan_grants_run_invoker_on_the_main_service_only_sorted() -> None:
    plan = build_plan(varied_registry(), replace(HEAVY_SETTINGS, dashboard_members=MEMBERS))
    assert plan.dashboard_members == tuple(sorted(MEMBERS))
    granted = [b for b in plan.bindings if b.member in MEMBERS]
    assert [b.member for b in granted] == sorted(MEMBERS)
    assert {b.role for b in granted} == {"roles/run.invoker"}
    assert {b.resource for b in granted} == {f"Cloud Run service api (dashboard {DASHBOARD_PATH})"}
    # Flag order changes nothing.
    reordered = replace(HEAVY_SETTINGS, dashboard_members=MEMBERS[::-1])
    assert build_plan(varied_registry(), reordered).bindings == plan.bindings


def test_summary_mentions_the_members_only_when_present() -> None:
    without = summary_lines(build_plan(newsletter.descriptors, EXAMPLE_SETTINGS))
    assert not [line for line in without if "dashboard" in line]
    lines = summary_lines(build_plan(newsletter.descriptors, settings(*MEMBERS)))
    text = "\n".join(lines)
    assert "IAM bindings: 12" in text
    assert (
        "dashboard access: 4 members may reach https://newsletter-abc-ew.a.run.app/_zenjobs/ui "
        "(roles/run.invoker on Cloud Run service newsletter" in text
    )
    for member in MEMBERS:
        assert f"  {member}\n" in text + "\n"
        pattern = rf"roles/run\.invoker +{re.escape(member)} on Cloud Run service newsletter \("
        assert re.search(pattern + re.escape(f"dashboard {DASHBOARD_PATH})"), text), member
    assert "group: members reach the service" in text  # the dashboard cannot match groups
    solo = summary_lines(build_plan(newsletter.descriptors, settings(MEMBERS[0])))
    assert not [line for line in solo if "group:" in line]
    assert "dashboard access: 1 member may reach" in "\n".join(solo)


def module_block(directory: Path) -> dict[str, Any]:
    (block,) = [m for b in parse_dir(directory)["main.tf"]["module"] for m in b.values()]
    body: dict[str, Any] = block
    return body


def test_rendered_root_passes_the_members_sorted(tmp_path: Path) -> None:
    generate_dir(tmp_path, newsletter.descriptors, settings(*MEMBERS))
    assert module_block(tmp_path)["dashboard_members"] == sorted(MEMBERS)
    main_tf = (tmp_path / "main.tf").read_text()
    listed = "".join(f"    {hcl_string(m)},\n" for m in sorted(MEMBERS))
    assert f"  dashboard_members = [\n{listed}  ]\n" in main_tf
    outputs = parse_dir(tmp_path)["outputs.tf"]["output"]
    assert {"dashboard_members": {"value": "${module.zenjobs.dashboard_members}"}} in outputs


def test_root_without_members_does_not_pass_the_variable(tmp_path: Path) -> None:
    generate_dir(tmp_path, newsletter.descriptors, EXAMPLE_SETTINGS)
    assert "dashboard_members" not in module_block(tmp_path)
    assert "dashboard_members" not in (tmp_path / "main.tf").read_text()
    # ... so the committed example's main.tf stays what it was.
    assert "dashboard_members" not in (EXAMPLE_INFRA / "main.tf").read_text()


def test_members_render_deterministically() -> None:
    plan = build_plan(newsletter.descriptors, settings(*MEMBERS))
    reordered = build_plan(newsletter.descriptors, settings(*MEMBERS[::-1]))
    assert generate(plan, "r:j") == generate(reordered, "r:j")


def test_module_grants_run_invoker_per_member_on_the_main_service() -> None:
    parsed = parse_dir(MODULE_DIR)
    grants = resources(parsed, "google_cloud_run_v2_service_iam_member")
    dashboard = grants["iam.tf:dashboard"]
    invoker = grants["iam.tf:invoker"]
    assert dashboard["for_each"] == "${toset(var.dashboard_members)}"
    assert dashboard["role"] == "roles/run.invoker"
    assert dashboard["member"] == "${each.value}"
    assert dashboard["name"] == "${var.service_name}"  # never the heavy worker
    assert (dashboard["project"], dashboard["location"]) == (
        invoker["project"], invoker["location"])
    (variable,) = [v["dashboard_members"] for doc in parsed.values()
                   for v in doc.get("variable", []) if "dashboard_members" in v]
    assert variable["type"] == "${list(string)}" and variable["default"] == []
    (output,) = [o["dashboard_members"] for doc in parsed.values()
                 for o in doc.get("output", []) if "dashboard_members" in o]
    assert "google_cloud_run_v2_service_iam_member.dashboard" in output["value"]


# --- real Terraform ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def harness() -> Any:
    """The per-process harness the other infra tests share (tfharness.default_harness)."""
    return tfharness().default_harness()


@pytest.mark.parametrize(
    ("descriptors", "base"),
    [(list(newsletter.descriptors), EXAMPLE_SETTINGS), (varied_registry(), HEAVY_SETTINGS)],
    ids=["newsletter", "varied-heavy-worker"],
)
def test_generated_root_with_members_is_fmt_clean_and_validates(
    harness: Any, tmp_path: Path, descriptors: list[Any], base: InfraSettings
) -> None:
    generate_dir(tmp_path, descriptors, replace(base, dashboard_members=MEMBERS))
    assert tfharness().terraform_fmt_check(tmp_path) == []
    result = harness.validate(tmp_path)
    assert result.valid, str(result)


def test_generated_root_refuses_all_users_added_by_hand(harness: Any, tmp_path: Path) -> None:
    """Editing the generated root to make the dashboard public fails `terraform validate`."""
    generate_dir(tmp_path, newsletter.descriptors, settings(*MEMBERS))
    main_tf = tmp_path / "main.tf"
    main_tf.write_text(main_tf.read_text().replace(
        '  dashboard_members = [\n', '  dashboard_members = [\n    "allUsers",\n'))
    result = harness.validate(tmp_path)
    assert not result.valid
    summaries = [(d.summary, d.filename) for d in result.errors]
    assert summaries == [("Invalid value for variable", "main.tf")], str(result)
    assert "must not be public" in result.errors[0].detail


VERSIONS = """\
terraform {
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8"
    }
  }
}
"""


def module_calls(root: Path, cases: list[list[str]]) -> dict[int, int]:
    """A root calling the module once per case with literal arguments.

    Returns the line of each call's ``dashboard_members`` → the case's index, so a
    diagnostic (which points at that line) says which case Terraform refused.
    """
    root.mkdir(parents=True)
    source = os.path.relpath(MODULE_DIR, root)
    lines: list[str] = []
    where: dict[int, int] = {}
    for index, members in enumerate(cases):
        lines += [
            f'module "case{index}" {{',
            f'  source            = "{source}"',
            '  project_id        = "demo-project"',
            '  region            = "europe-west1"',
            '  service_name      = "newsletter"',
            '  service_url       = "https://newsletter-abc-ew.a.run.app"',
            '  queues            = { "zenjobs-light" = {} }',
            f'  invoker_account_id = "zj-invoker-{index}"',
        ]
        where[len(lines) + 1] = index
        lines += [f"  dashboard_members = [{', '.join(hcl_string(m) for m in members)}]", "}", ""]
    (root / "versions.tf").write_text(VERSIONS)
    (root / "main.tf").write_text("\n".join(lines))
    return where


def refused_by_terraform(harness: Any, root: Path, cases: list[list[str]]) -> dict[int, str]:
    """Which cases the module's validation blocks refuse (index → error details)."""
    where = module_calls(root, cases)
    result = harness.validate(root)
    refused: dict[int, str] = {}
    for diagnostic in result.errors:
        assert diagnostic.summary == "Invalid value for variable", str(result)
        assert diagnostic.filename == "main.tf" and diagnostic.line in where, str(result)
        index = where[diagnostic.line]
        refused[index] = refused.get(index, "") + diagnostic.detail
    assert result.valid == (not refused), str(result)
    return refused


def test_module_validation_refuses_what_gen_infra_refuses(harness: Any, tmp_path: Path) -> None:
    """`terraform validate` evaluates the variable's validation blocks for literal module
    arguments, so the module itself refuses a public dashboard even when written by hand;
    and it accepts and refuses exactly the members InfraSettings does."""
    cases = [[m] for m in (*GOOD, *PUBLIC, *MALFORMED)] + [list(TWICE), list(MEMBERS), []]
    refused = refused_by_terraform(harness, tmp_path / "root", cases)
    for index, members in enumerate(cases):
        try:
            settings(*members)
        except ConfigurationError:
            python_refuses = True
        else:
            python_refuses = False
        assert (index in refused) == python_refuses, (members, refused.get(index))
    for member in PUBLIC:
        detail = refused[cases.index([member])]
        assert "must never hold allUsers or allAuthenticatedUsers" in detail, member
        assert "must be user:EMAIL" not in detail, member  # one clear message
    assert "list each member once" in refused[cases.index(list(TWICE))]
    assert "must be user:EMAIL" in refused[cases.index(["oncall@example.com"])]


# --- the CLI -----------------------------------------------------------------------------


def gen(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    previous = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = CliRunner().invoke(main, ["gen-infra", *args])
    finally:
        os.chdir(previous)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_cli_dashboard_member_is_repeatable(tmp_path: Path) -> None:
    flags = [arg for m in MEMBERS for arg in ("--dashboard-member", m)]
    code, out, err = gen(*EXAMPLE_ARGS, "--out", str(tmp_path), *flags)
    assert code == 0, err
    assert module_block(tmp_path)["dashboard_members"] == sorted(MEMBERS)
    assert "dashboard access: 4 members" in out


def test_cli_refuses_a_public_member_with_exit_2(tmp_path: Path) -> None:
    code, _, err = gen(*EXAMPLE_ARGS, "--out", str(tmp_path / "o"),
                       "--dashboard-member", "allUsers")
    assert code == 2
    assert "dashboard_members 'allUsers' would make the dashboard public" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_cli_help_documents_the_option_with_an_example() -> None:
    result = CliRunner().invoke(main, ["gen-infra", "--help"])
    text = " ".join(result.output.split())
    assert "--dashboard-member MEMBER" in text
    assert "--dashboard-member user:oncall@example.com" in text
    assert "[tool.zenjobs] dashboard_members" in text


def write_project(directory: Path, members: str) -> None:
    (directory / "pyproject.toml").write_text(
        "[tool.zenjobs]\n"
        f"registry = {EXAMPLE_ARGS[1]!r}\n"
        'project = "demo-project"\n'
        'region = "europe-west1"\n'
        'service = "newsletter"\n'
        'service_url = "https://newsletter-abc-ew.a.run.app"\n'
        'infra_out = "infra"\n'
        f"dashboard_members = {members}\n"
    )


def test_tool_zenjobs_dashboard_members_and_flags_replace_them(tmp_path: Path) -> None:
    write_project(tmp_path, '["user:oncall@example.com", "domain:example.com"]')
    code, _, err = gen(cwd=tmp_path)
    assert code == 0, err
    members = module_block(tmp_path / "infra")["dashboard_members"]
    assert members == ["domain:example.com", "user:oncall@example.com"]
    # Any --dashboard-member replaces the whole list from pyproject.toml.
    code, _, err = gen("--dashboard-member", "group:ops-team@example.co.uk", cwd=tmp_path)
    assert code == 0, err
    assert module_block(tmp_path / "infra")["dashboard_members"] == [
        "group:ops-team@example.co.uk"]


@pytest.mark.parametrize("members", ['"user:oncall@example.com"', "[1, 2]"])
def test_tool_zenjobs_dashboard_members_must_be_a_list_of_strings(
    tmp_path: Path, members: str
) -> None:
    write_project(tmp_path, members)
    code, _, err = gen(cwd=tmp_path)
    assert code == 2
    assert "[tool.zenjobs] dashboard_members must be a list of strings" in err
    assert not (tmp_path / "infra").exists()


def test_tool_zenjobs_public_member_is_refused(tmp_path: Path) -> None:
    write_project(tmp_path, '["allAuthenticatedUsers"]')
    code, _, err = gen(cwd=tmp_path)
    assert code == 2
    assert "dashboard_members 'allAuthenticatedUsers' would make the dashboard public" in err
