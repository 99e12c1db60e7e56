"""The operations commands name their store and never guess one (issue 14, point 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import OPS_REGISTRY, as_json, zj

REPO = Path(__file__).resolve().parents[2]
NO_STORE = ("error: no store named, and zenjobs never guesses which store to edit: pass --store "
            "URL (sqlite:PATH, firestore, firestore:COLLECTION, or dev for "
            "sqlite:.zenjobs/dev.sqlite3), set ZENJOBS_STORE, or add store = \"URL\" under "
            "[tool.zenjobs] in pyproject.toml\n")

COMMANDS = [
    ("sync",),
    ("enable", "nightly"),
    ("disable", "nightly"),
    ("set", "nightly", "--cron", "0 3 * * *"),
    ("status",),
    ("trigger", "welcome"),
    ("replay", "welcome-r0"),
]


@pytest.fixture(autouse=True)
def _workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(REPO))


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: args[0])
def test_without_a_store_every_ops_command_says_how_to_name_one(
        tmp_path: Path, args: tuple[str, ...]) -> None:
    result = zj(*args, "--registry", OPS_REGISTRY)

    assert result.exit_code == 2
    assert (result.stdout, result.stderr) == ("", NO_STORE)
    assert not (tmp_path / ".zenjobs").exists()  # the dev file was not created behind our back


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: args[0])
def test_without_a_store_the_json_error_names_the_field(args: tuple[str, ...]) -> None:
    result = zj(*args, "--registry", OPS_REGISTRY, "--json")

    assert result.exit_code == 2
    data = as_json(result)
    assert (data["command"], data["store"], data["project"]) == (args[0], None, None)
    assert data["error"]["field"] == "--store" and data["error"]["exit_code"] == 2
    assert data["error"]["message"] == NO_STORE.removeprefix("error: ").rstrip("\n")


@pytest.mark.parametrize("where", ["option", "group", "environment", "pyproject"])
def test_dev_names_the_development_file(tmp_path: Path, where: str) -> None:
    args = ["status", "--registry", OPS_REGISTRY]
    env: dict[str, str | None] = {}
    if where == "option":
        args += ["--store", "dev"]
    elif where == "group":
        args = ["--store", "dev", *args]
    elif where == "environment":
        env["ZENJOBS_STORE"] = "dev"
    else:
        (tmp_path / "pyproject.toml").write_text('[tool.zenjobs]\nstore = "dev"\n')

    result = zj(*args, env=env)

    assert result.exit_code == 0, result.output
    source = {"option": "--store", "group": "--store", "environment": "$ZENJOBS_STORE",
              "pyproject": "[tool.zenjobs] store"}[where]
    assert result.stdout.startswith(f"store: sqlite:.zenjobs/dev.sqlite3 (from {source})\n")
    assert (tmp_path / ".zenjobs" / "dev.sqlite3").is_file()


def test_the_explicit_dev_url_works_too(tmp_path: Path) -> None:
    result = zj("sync", "--registry", OPS_REGISTRY, "--store", "sqlite:.zenjobs/dev.sqlite3",
                "--json")

    assert result.exit_code == 0, result.output
    assert as_json(result)["store"] == "sqlite:.zenjobs/dev.sqlite3"
    assert (tmp_path / ".zenjobs" / "dev.sqlite3").is_file()


def test_status_text_names_the_store_it_read(tmp_path: Path) -> None:
    store = f"sqlite:{tmp_path / 'jobs.sqlite3'}"

    result = zj("status", "hourly", "--registry", OPS_REGISTRY, "--store", store)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"store: {store} (from --store)"
    assert lines[1] == "" and lines[2].startswith("hourly  [periodic, enabled]")


def test_a_firestore_store_names_its_project() -> None:
    # No emulator needed: the store line is printed only after success, but the JSON
    # error of a run that cannot reach Firestore still names store and project.
    result = zj("trigger", "welcome", "--registry", OPS_REGISTRY, "--store", "firestore:ops",
                "--project", "acme", "--json")

    data = as_json(result)
    assert (data["store"], data["project"]) == ("firestore:ops", "acme")
    assert result.exit_code == data["error"]["exit_code"] == 4
