"""Global options before the command: ``zenjobs --registry X --store Y --project P --debug CMD``.

Each is accepted on the group as well as on the command; when both are given,
the command's own value wins.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import EXAMPLE, OPS_REGISTRY, REGISTRIES, as_json, zj

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _in_a_directory_without_pyproject(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings come from options and the environment only; registries import from the repo.
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(REPO))


def test_registry_before_the_command() -> None:
    result = zj("--registry", EXAMPLE, "list")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].split()[:3] == ["ID", "TYPE", "SCHEDULE"]
    assert len(result.stdout.splitlines()) == 7


def test_the_commands_own_registry_wins() -> None:
    result = zj("--registry", f"{REGISTRIES}.no_such_module:jobs", "list", "--registry", EXAMPLE,
                "--json")

    assert result.exit_code == 0, result.output
    assert as_json(result)["registry"] == EXAMPLE


def test_the_groups_registry_beats_the_environment() -> None:
    result = zj("--registry", EXAMPLE, "validate", env={"ZENJOBS_REGISTRY": "nope:jobs"})

    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(f"in {EXAMPLE}\n")


def test_store_and_project_before_the_command(tmp_path: Path) -> None:
    store = f"sqlite:{tmp_path / 'jobs.sqlite3'}"

    synced = zj("--registry", OPS_REGISTRY, "--store", store, "sync", "--json")
    firestore = zj("--registry", OPS_REGISTRY, "--store", "firestore", "--project", "acme",
                   "trigger", "welcome", "--json")

    assert synced.exit_code == 0, synced.output
    assert (as_json(synced)["store"], len(as_json(synced)["created"])) == (store, 6)
    # The group's --project reached the command: what is missing now is the deployment.
    assert firestore.exit_code == 4
    assert "needs a Google Cloud project" not in as_json(firestore)["error"]["message"]
    assert as_json(firestore)["project"] == "acme"


def test_the_commands_own_store_wins(tmp_path: Path) -> None:
    own = f"sqlite:{tmp_path / 'own.sqlite3'}"

    result = zj("--store", "sqlite:group.sqlite3", "status", "--registry", OPS_REGISTRY,
                "--store", own, "--json")

    assert result.exit_code == 0, result.output
    assert as_json(result)["store"] == own
    assert not (tmp_path / "group.sqlite3").exists()


def test_project_before_gen_infra(tmp_path: Path) -> None:
    result = zj("--project", "demo-project", "gen-infra", "--registry", EXAMPLE, "--region",
                "europe-west1", "--service", "newsletter", "--service-url",
                "https://newsletter-abc-ew.a.run.app", "--out", str(tmp_path / "infra"), "--json")

    assert result.exit_code == 0, result.output
    data = as_json(result)
    assert (data["command"], data["files"]) == ("gen-infra", 12)
    assert 'project = "demo-project"' in (tmp_path / "infra" / "main.tf").read_text()


@pytest.mark.parametrize("where", ["group", "command", "environment"])
def test_debug_shows_the_traceback_of_an_import_failure(where: str) -> None:
    spec = f"{REGISTRIES}.not_importable:jobs"
    args = {"group": ("--debug", "list", "--registry", spec),
            "command": ("list", "--registry", spec, "--debug"),
            "environment": ("list", "--registry", spec)}[where]

    result = zj(*args, env={"ZENJOBS_DEBUG": "1"} if where == "environment" else None)

    assert result.exit_code == 2
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert 'not_importable.py", line 5, in <module>' in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: ") and "not_importable.py:5: cannot import registry" in last


def test_without_debug_an_import_failure_is_one_line() -> None:
    result = zj("list", "--registry", f"{REGISTRIES}.not_importable:jobs",
                env={"ZENJOBS_DEBUG": "0"})

    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def test_unknown_global_option_is_one_line() -> None:
    result = zj("--bogus", "list")

    assert result.exit_code == 2
    assert result.stderr.startswith("error: No such option") and result.stdout == ""
