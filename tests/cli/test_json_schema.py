"""``--json`` on every command: one object with ``command`` (and ``registry``, ``store``,
``project`` where they apply), the schema of docs/operations.md ("JSON output"); a failure
prints ``{"error": {...}}`` in the same object and keeps its exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .support import EXAMPLE, OPS_REGISTRY, REGISTRIES, as_json, zj

REPO = Path(__file__).resolve().parents[2]
OPS_HEAD = {"command", "registry", "store", "project"}
CHANGE = OPS_HEAD | {"job", "changed", "created", "field", "before", "after", "next_run_at",
                     "edit"}
RUN = OPS_HEAD | {"job", "execution_id", "delivery", "run", "pending"}
ERROR = {"message", "field", "job", "exit_code"}
GEN_INFRA = ("--registry", EXAMPLE, "--project", "demo-project", "--region", "europe-west1",
             "--service", "newsletter", "--service-url", "https://newsletter-abc-ew.a.run.app")


@pytest.fixture(autouse=True)
def _workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(REPO))


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:{tmp_path / 'jobs.sqlite3'}"


def ops(*args: str, store: str) -> Any:
    result = zj(*args, "--registry", OPS_REGISTRY, "--store", store, "--json")
    assert result.exit_code == 0, result.output
    data = as_json(result)
    assert (data["command"], data["registry"], data["store"], data["project"]) == (
        args[0], OPS_REGISTRY, store, None)
    return data


# -- the definition commands -----------------------------------------------------------------


def test_validate() -> None:
    data = as_json(zj("validate", "--registry", EXAMPLE, "--json"))

    assert data == {
        "command": "validate", "registry": EXAMPLE, "ok": True, "jobs": 6,
        "types": {"endpoint": 1, "scheduled": 2, "periodic": 3},
        "summary": f"ok: 6 jobs (1 endpoint, 2 scheduled, 3 periodic) in {EXAMPLE}",
        "problems": []}


def test_validate_invalid_exits_1_with_the_problems() -> None:
    spec = f"{REGISTRIES}.cycle:jobs"
    result = zj("validate", "--registry", spec, "--json")

    assert result.exit_code == 1
    data = as_json(result)
    problem = {"job": "extract", "field": "dependencies",
               "message": "dependency cycle: extract -> load -> transform -> extract"}
    assert (data["ok"], data["problems"]) == (False, [problem])
    assert data["error"] == {"message": f"invalid: 1 problem in {spec}", "field": "dependencies",
                             "job": "extract", "exit_code": 1, "problems": [problem]}


def test_list() -> None:
    data = as_json(zj("list", "--registry", EXAMPLE, "--json"))

    assert set(data) == {"command", "registry", "jobs"}
    assert data["command"] == "list" and len(data["jobs"]) == 6
    assert {"id", "type", "schedule", "timezone", "weight", "queue", "max_retries",
            "dependencies"} <= set(data["jobs"][0])


def test_next() -> None:
    data = as_json(zj("next", "--registry", EXAMPLE, "--job", "nightly_report", "--from",
                      "2026-12-24T12:00:00Z", "--count", "1", "--json"))

    assert data == {
        "command": "next", "registry": EXAMPLE, "after": "2026-12-24T12:00:00Z", "count": 1,
        "fires": {"nightly_report": ["2026-12-25T01:30:00Z"]},
        "jobs": [{"job_id": "nightly_report", "type": "scheduled",
                  "schedule": "cron '30 2 * * *'", "timezone": "Europe/Berlin", "enabled": True,
                  "dst": {"gap": "shift", "fold": "first"}, "jitter_seconds": None,
                  "offset_seconds": 0,
                  "fires": [{"at": "2026-12-25T01:30:00Z", "local": "2026-12-25T02:30:00+01:00",
                             "skipped": True, "dst": None, "dst_effect": None,
                             "dst_skipped": []}]}]}


def test_gen_infra_write_then_check(tmp_path: Path) -> None:
    out = str(tmp_path / "infra")
    written = as_json(zj("gen-infra", *GEN_INFRA, "--out", out, "--json"))
    checked = as_json(zj("gen-infra", *GEN_INFRA, "--out", out, "--check", "--json"))

    assert set(written) == {"command", "registry", "out", "check", "files", "changes",
                            "unchanged", "plan"}
    assert (written["out"], written["check"], written["files"], written["unchanged"]) == (
        out, False, 12, 0)
    assert {"path": "main.tf", "change": "created"} in written["changes"]
    assert set(written["plan"]) == {"queues", "scheduler", "iam_bindings", "dashboard_members",
                                    "recurring_jobs"}
    assert written["plan"]["scheduler"]["name"] == "zen_master_scheduler"
    assert checked == {"command": "gen-infra", "registry": EXAMPLE, "out": out, "check": True,
                       "files": 12, "up_to_date": True, "differences": []}


def test_gen_infra_check_out_of_date_exits_1_with_the_differences(tmp_path: Path) -> None:
    out = tmp_path / "infra"
    zj("gen-infra", *GEN_INFRA, "--out", str(out))
    (out / "outputs.tf").unlink()

    result = zj("gen-infra", *GEN_INFRA, "--out", str(out), "--check", "--json")

    assert result.exit_code == 1
    data = as_json(result)
    assert (data["up_to_date"], data["differences"]) == (
        False, [{"path": "outputs.tf", "reason": "missing"}])
    assert data["error"] == {
        "message": f"{out} is out of date: run zenjobs gen-infra without --check",
        "field": None, "job": None, "exit_code": 1}


# -- the operations commands -----------------------------------------------------------------


def test_sync(store: str) -> None:
    data = ops("sync", store=store)

    assert set(data) == OPS_HEAD | {"created", "reset", "unchanged", "edited", "orphans"}
    assert data["created"] == ["boom", "digest", "flaky", "hourly", "nightly", "welcome"]
    ops("disable", "nightly", store=store)
    assert ops("sync", store=store)["edited"] == [{"job_id": "nightly", "fields": ["enabled"]}]


def test_enable_disable_set(store: str) -> None:
    disabled = ops("disable", "nightly", "--actor", "ana", store=store)
    again = ops("disable", "nightly", store=store)
    enabled = ops("enable", "nightly", store=store)
    set_ = ops("set", "hourly", "--interval", "90m", store=store)

    for data in (disabled, again, enabled, set_):
        assert set(data) == CHANGE
    assert {k: disabled[k] for k in ("job", "changed", "created", "field", "before", "after")} \
        == {"job": "nightly", "changed": True, "created": True, "field": "enabled",
            "before": "enabled", "after": "disabled"}
    assert (disabled["edit"]["actor"], disabled["edit"]["command"]) == ("ana", "disable")
    assert (again["changed"], again["edit"]) == (False, None)
    assert enabled["next_run_at"].endswith("Z")
    assert (set_["field"], set_["before"], set_["after"]) == (
        "schedule", "every 1h in UTC", "every 90m in UTC")


def test_status(store: str) -> None:
    data = ops("status", "nightly", store=store)

    assert set(data) == OPS_HEAD | {"now", "jobs"}
    [nightly] = data["jobs"]
    assert nightly["job_id"] == "nightly" and nightly["synced"] is False


def test_trigger_and_replay(store: str) -> None:
    triggered = ops("trigger", "welcome", "--payload", '{"user_id": 7}', store=store)

    assert set(triggered) == RUN
    assert (triggered["job"], triggered["delivery"], triggered["pending"]) == (
        "welcome", "here", 0)
    assert triggered["run"]["status"] == "success"
    assert triggered["run"]["execution_id"] == triggered["execution_id"]

    failed = zj("trigger", "boom", "--registry", OPS_REGISTRY, "--store", store, "--json")
    assert failed.exit_code == 1
    boom = as_json(failed)
    assert set(boom) == RUN | {"error"}
    assert boom["run"]["status"] == "dead"
    assert boom["error"] == {
        "message": f"run {boom['execution_id']} ended dead: ValueError: boom", "field": None,
        "job": "boom", "exit_code": 1}

    replayed = zj("replay", boom["execution_id"], "--registry", OPS_REGISTRY, "--store", store,
                  "--json")
    assert replayed.exit_code == 1
    again = as_json(replayed)
    assert set(again) == RUN | {"attempt", "error"}
    assert (again["command"], again["job"], again["attempt"]) == ("replay", "boom", 2)


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "field", "code"), [
    (("set", "hourly"), None, 2),
    (("set", "hourly", "--interval", "90s"), "--interval", 2),
    (("enable",), "JOB", 2),
    (("status", "--runs", "-1"), "--runs", 2),
    (("status", "--nope"), "--nope", 2),
    (("trigger", "welcome", "--payload", "{nope"), "--payload", 2),
    (("set", "nightly", "--cron", "0 25 * * *"), "cron", 1),
])
def test_usage_and_request_errors(store: str, args: tuple[str, ...], field: str | None,
                                  code: int) -> None:
    result = zj(*args, "--registry", OPS_REGISTRY, "--store", store, "--json")

    assert result.exit_code == code
    assert result.stderr == ""
    data = as_json(result)
    assert data["command"] == args[0]
    assert set(data) == OPS_HEAD | {"error"}
    assert set(data["error"]) == ERROR
    assert (data["error"]["field"], data["error"]["exit_code"]) == (field, code)
    assert "\n" not in data["error"]["message"]


def test_an_unknown_job_names_the_job(store: str) -> None:
    result = zj("status", "ghost", "--registry", OPS_REGISTRY, "--store", store, "--json")

    assert result.exit_code == 1
    assert as_json(result)["error"] == {"message": "unknown job 'ghost'", "field": None,
                                        "job": "ghost", "exit_code": 1}


def test_a_registry_with_several_invalid_jobs(tmp_path: Path) -> None:
    (tmp_path / "two_bad.py").write_text(
        "from zenjobs import JobContext, ZenJobs\n"
        "jobs = ZenJobs()\n"
        "@jobs.job('a', type='scheduled', cron='0 7 * * *', dependencies=['ghost'])\n"
        "async def a(ctx: JobContext) -> None: ...\n"
        "@jobs.job('b', type='scheduled', cron='0 8 * * *', dependencies=['phantom'])\n"
        "async def b(ctx: JobContext) -> None: ...\n")

    result = zj("gen-infra", *GEN_INFRA[2:], "--registry", "two_bad:jobs", "--out",
                str(tmp_path / "infra"), "--json")
    text = zj("gen-infra", *GEN_INFRA[2:], "--registry", "two_bad:jobs", "--out",
              str(tmp_path / "infra"))

    assert result.exit_code == text.exit_code == 1
    error = as_json(result)["error"]
    assert [(p["job"], p["field"]) for p in error["problems"]] == [
        ("a", "dependencies"), ("b", "dependencies")]
    assert (error["job"], error["field"]) == ("a", "dependencies")
    assert error["message"].startswith("2 problems, the first: job 'a', field 'dependencies'")
    assert [line.split(",")[0] for line in text.stderr.splitlines()] == [
        "error: job 'a'", "error: job 'b'"]


def test_a_registry_that_cannot_load() -> None:
    result = zj("list", "--registry", f"{REGISTRIES}.not_importable:jobs", "--json")

    assert result.exit_code == 2
    data = as_json(result)
    assert data["command"] == "list"
    assert data["registry"] == f"{REGISTRIES}.not_importable:jobs"
    assert data["error"]["field"] == "--registry"
    assert "not_importable.py:5: cannot import registry module" in data["error"]["message"]


def test_a_definition_error_at_import_lists_the_problem() -> None:
    result = zj("list", "--registry", f"{REGISTRIES}.bad_cron:jobs", "--json")

    assert result.exit_code == 1
    error = as_json(result)["error"]
    assert (error["job"], error["field"]) == ("bad_cron_job", "cron")
    assert error["problems"][0]["job"] == "bad_cron_job"


def test_no_registry_anywhere() -> None:
    result = zj("list", "--json")

    assert result.exit_code == 2
    data = as_json(result)
    assert (data["registry"], data["error"]["field"]) == (None, "--registry")
    assert data["error"]["message"].startswith("no registry given")
