"""``zenjobs validate``, ``list`` and ``next``, via click and via the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from zenjobs.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = "examples.newsletter.jobs:jobs"
REGISTRIES = "tests.unit.registries"


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # Registries are importable from the working directory, as for a user.
    monkeypatch.chdir(REPO)


def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    environment: dict[str, str | None] = {"ZENJOBS_REGISTRY": None}
    environment.update(env or {})
    return CliRunner().invoke(main, list(args), env=environment)


# -- validate ----------------------------------------------------------------------


def test_validate_example_registry_exits_0_with_a_summary() -> None:
    result = run("validate", "--registry", EXAMPLE)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "ok: 6 jobs (1 endpoint, 2 scheduled, 3 periodic) in examples.newsletter.jobs:jobs\n"
    )


def test_validate_finds_the_registry_in_the_environment() -> None:
    result = run("validate", env={"ZENJOBS_REGISTRY": f"{REGISTRIES}.dst_jobs:jobs"})
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: 6 jobs (1 endpoint, 3 scheduled, 2 periodic)")


def test_validate_finds_the_registry_in_pyproject() -> None:
    # The repository's own pyproject.toml names the newsletter example.
    result = run("validate")
    assert result.exit_code == 0, result.output
    assert "examples.newsletter.jobs:jobs" in result.stdout


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("bad_cron", "job 'bad_cron_job', field 'cron': '61 * * * *' does not parse"),
        ("unknown_tz", "job 'martian_report', field 'timezone': unknown IANA time zone"),
        (
            "cycle",
            "job 'extract', field 'dependencies': dependency cycle: "
            "extract -> load -> transform -> extract",
        ),
        (
            "unknown_dependency",
            "job 'send_digest', field 'dependencies': unknown job 'nightly_reprot'",
        ),
        ("duplicate_id", "job 'cleanup', field 'id': a job with this id is already registered"),
        ("sync_handler", "job 'resize_images', field 'handler': a synchronous (blocking) handler"),
        ("interval_90s", "job 'poll_feed', field 'interval': must be a whole number of minutes"),
        ("missing_handler", "job 'orphan', field 'handler': no handler registered"),
    ],
)
def test_validate_broken_registry_exits_1_naming_job_and_field(module: str, expected: str) -> None:
    result = run("validate", "--registry", f"{REGISTRIES}.{module}:jobs")
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1, lines  # one line per problem
    assert lines[0].startswith(expected)
    assert result.stderr.startswith("invalid: 1 problem in ")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (f"{REGISTRIES}.not_importable:jobs", "No module named 'zenjobs_no_such_dependency'"),
        (f"{REGISTRIES}.no_such_module:jobs",
         f"cannot import registry module '{REGISTRIES}.no_such_module' (from --registry): "
         f"no module named '{REGISTRIES}.no_such_module' in the working directory"),
        (f"{REGISTRIES}.not_a_registry:jobs", "not a zenjobs.ZenJobs registry"),
        ("nocolon", "must look like 'module:attribute'"),
    ],
)
def test_validate_unloadable_registry_exits_2_with_a_clear_message(spec: str, message: str) -> None:
    result = run("validate", "--registry", spec)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert "Traceback" not in result.output


# -- list --------------------------------------------------------------------------


def test_list_prints_a_table_of_every_job() -> None:
    result = run("list", "--registry", EXAMPLE)
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == [
        "ID",
        "TYPE",
        "SCHEDULE",
        "TIMEZONE",
        "WEIGHT",
        "QUEUE",
        "RETRIES",
        "DEPENDENCIES",
    ]
    assert len(rows) == 6
    digest = next(r for r in rows if r.startswith("send_digest "))
    assert digest.split() == [
        "send_digest",
        "scheduled",
        "cron",
        "'0",
        "7",
        "*",
        "*",
        "1-5'",
        "Europe/Berlin",
        "light",
        "zenjobs-light",
        "3",
        "nightly_report",
    ]


def test_list_json_has_every_field_the_table_shows() -> None:
    result = run("list", "--registry", EXAMPLE, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["command"], data["registry"]) == ("list", EXAMPLE)
    rows = data["jobs"]
    assert [r["id"] for r in rows] == [
        "send_welcome_email",
        "cleanup_temp_files",
        "nightly_report",
        "send_digest",
        "render_thumbnails",
        "sync_analytics",
    ]
    heavy = rows[4]
    assert heavy["type"] == "periodic"
    assert heavy["schedule"] == "every 30m"
    assert heavy["interval_seconds"] == 1800
    assert (heavy["weight"], heavy["queue"], heavy["max_retries"]) == ("heavy", "zenjobs-heavy", 1)
    assert rows[3]["dependencies"] == ["nightly_report"]
    assert rows[2]["timezone"] == "Europe/Berlin"


def test_list_with_a_broken_definition_exits_1_without_a_traceback() -> None:
    result = run("list", "--registry", f"{REGISTRIES}.bad_cron:jobs")
    assert result.exit_code == 1
    assert "job 'bad_cron_job', field 'cron'" in result.stderr
    assert "Traceback" not in result.output


# -- next --------------------------------------------------------------------------


def fires(result: Result) -> object:
    """``{job_id: [UTC instants]}`` from ``zenjobs next --json`` (its ``fires`` key)."""
    data = json.loads(result.stdout)
    assert data["command"] == "next"
    return data["fires"]


def test_next_json_follows_the_dst_rule() -> None:
    result = run(
        "next",
        "--registry",
        EXAMPLE,
        "--job",
        "nightly_report",
        "--from",
        "2026-03-28T12:00:00Z",
        "--count",
        "3",
        "--json",
    )
    assert result.exit_code == 0, result.output
    # 02:30 does not exist in Berlin on March 29th: one fire at the end of the gap.
    assert fires(result) == {
        "nightly_report": ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"]
    }
    [job] = json.loads(result.stdout)["jobs"]
    assert job["fires"][0] == {
        "at": "2026-03-29T01:00:00Z", "local": "2026-03-29T03:00:00+02:00", "skipped": False,
        "dst": "moved to 03:00: the scheduled wall time does not exist that day "
               "(DST gap in Europe/Berlin)", "dst_effect": "moved", "dst_skipped": []}


def test_next_json_maps_every_recurring_job_to_exact_instants() -> None:
    result = run(
        "next",
        "--registry",
        f"{REGISTRIES}.dst_jobs:jobs",
        "--from",
        "2026-10-03T14:30:00Z",
        "--count",
        "4",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert fires(result) == {
        # Fall-back in New York is a month later; these are plain EDT days.
        "ny_backup": [
            "2026-10-04T05:30:00Z",
            "2026-10-05T05:30:00Z",
            "2026-10-06T05:30:00Z",
            "2026-10-07T05:30:00Z",
        ],
        "berlin_quarterly": [
            "2026-10-04T00:00:00Z",
            "2026-10-04T00:15:00Z",
            "2026-10-04T00:30:00Z",
            "2026-10-04T00:45:00Z",
        ],
        # Sydney springs forward at 16:00Z: 02:00 and 03:00 are both that instant.
        "sydney_hourly": [
            "2026-10-03T15:00:00Z",
            "2026-10-03T16:00:00Z",
            "2026-10-03T17:00:00Z",
            "2026-10-03T18:00:00Z",
        ],
        "every_25h": [],  # ended on 2026-01-04
        "paused": [  # disabled jobs still have slots (recorded as skipped_disabled)
            "2026-10-04T00:00:00Z",
            "2026-10-05T00:00:00Z",
            "2026-10-06T00:00:00Z",
            "2026-10-07T00:00:00Z",
        ],
    }


def test_next_json_on_a_fall_back_day() -> None:
    result = run(
        "next",
        "--registry",
        f"{REGISTRIES}.dst_jobs:jobs",
        "--job",
        "ny_backup",
        "--from",
        "2026-10-31T12:00:00-04:00",
        "--count",
        "2",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert fires(result) == {
        "ny_backup": ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]
    }


def test_next_text_shows_local_time_and_marks_skip_dates() -> None:
    result = run(
        "next",
        "--registry",
        EXAMPLE,
        "--job",
        "nightly_report",
        "--from",
        "2026-12-24T12:00:00+01:00",
        "--count",
        "2",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "nightly_report: cron '30 2 * * *' in Europe/Berlin",
        "  2026-12-25T01:30:00Z  2026-12-25 02:30 CET  skipped: date in skip_dates",
        "  2026-12-26T01:30:00Z  2026-12-26 02:30 CET",
    ]


def test_next_text_for_an_ended_and_an_endpoint_job() -> None:
    spec = f"{REGISTRIES}.dst_jobs:jobs"
    ended = run("next", "--registry", spec, "--job", "every_25h", "--from", "2025-12-31T00:00:00Z")
    assert ended.stdout.splitlines() == [
        "every_25h: every 25h in UTC",
        "  2026-01-01T00:00:00Z  2026-01-01 00:00 UTC",
        "  2026-01-02T01:00:00Z  2026-01-02 01:00 UTC  skipped: date in skip_dates",
        "  2026-01-03T02:00:00Z  2026-01-03 02:00 UTC",
        "  2026-01-04T03:00:00Z  2026-01-04 03:00 UTC",
    ]
    after_end = run("next", "--registry", spec, "--job", "every_25h", "--from", "2026-02-01T00:00Z")
    assert after_end.stdout.splitlines() == [
        "every_25h: every 25h in UTC",
        "  no fire after 2026-02-01T00:00:00Z (end_at 2026-01-04)",
    ]
    paused = run("next", "--registry", spec, "--job", "paused", "--from", "2026-01-01T00:00Z")
    assert paused.stdout.splitlines()[:2] == [
        "paused: every 1d in UTC  [disabled: runs will be skipped]",
        "  2026-01-02T00:00:00Z  2026-01-02 00:00 UTC",
    ]
    endpoint = run("next", "--registry", spec, "--job", "welcome")
    assert endpoint.exit_code == 0
    assert endpoint.stdout == "welcome: endpoint job, runs on demand: no fire instants\n"


def test_next_without_from_uses_the_current_time() -> None:
    result = run("next", "--registry", EXAMPLE, "--job", "cleanup_temp_files", "--json")
    assert result.exit_code == 0, result.output
    (instants,) = json.loads(result.stdout)["fires"].values()
    assert len(instants) == 5
    assert all(i.endswith(":00:00Z") for i in instants)  # hourly grid on the epoch


@pytest.mark.parametrize("value", ["2026-03-28T12:00:00", "2026-03-28", "tomorrow"])
def test_next_refuses_a_naive_or_malformed_from(value: str) -> None:
    result = run("next", "--registry", EXAMPLE, "--from", value)
    assert result.exit_code == 2
    assert "offset or Z" in result.stderr
    assert "Traceback" not in result.output


def test_next_rejects_an_unknown_job_and_a_bad_count() -> None:
    unknown = run("next", "--registry", EXAMPLE, "--job", "nope")
    assert unknown.exit_code == 2
    assert "unknown job 'nope'" in unknown.stderr
    zero = run("next", "--registry", EXAMPLE, "--count", "0")
    assert zero.exit_code == 2


# -- the installed console script ------------------------------------------------------


def console(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "zenjobs"
    env = {k: v for k, v in os.environ.items() if k != "ZENJOBS_REGISTRY"}
    return subprocess.run(
        [str(script), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def test_console_script_validates_the_example() -> None:
    done = console("validate", "--registry", EXAMPLE)
    assert (done.returncode, done.stdout) == (
        0,
        "ok: 6 jobs (1 endpoint, 2 scheduled, 3 periodic) in examples.newsletter.jobs:jobs\n",
    )


def test_console_script_exit_codes_for_broken_registries() -> None:
    invalid = console("validate", "--registry", f"{REGISTRIES}.cycle:jobs")
    assert invalid.returncode == 1
    assert invalid.stdout.startswith("job 'extract', field 'dependencies': dependency cycle")
    unloadable = console("validate", "--registry", f"{REGISTRIES}.not_importable:jobs")
    assert unloadable.returncode == 2
    assert "Traceback" not in unloadable.stderr


def test_console_script_next_json() -> None:
    done = console(
        "next",
        "--registry",
        f"{REGISTRIES}.dst_jobs:jobs",
        "--job",
        "berlin_quarterly",
        "--from",
        "2026-03-28T12:00:00Z",
        "--count",
        "2",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["fires"] == {
        "berlin_quarterly": ["2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z"]
    }
