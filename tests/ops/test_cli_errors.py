"""Every CLI failure is one ``error:`` line with the documented exit code (docs/operations.md)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from google.auth.exceptions import DefaultCredentialsError

from zenjobs.cli import main
from zenjobs.cli.ops_support import EXIT_CONFIGURATION, run_async

REGISTRY = "tests.ops.ops_registry:jobs"
CLEAN_ENV: dict[str, str | None] = {
    name: None for name in ("ZENJOBS_REGISTRY", "ZENJOBS_PROJECT", "GOOGLE_CLOUD_PROJECT",
                            "ZENJOBS_LOCATION", "ZENJOBS_SCHEDULER_ENDPOINT")
}


@pytest.mark.parametrize(("args", "message"), [
    (("bogus",), "error: No such command 'bogus'."),
    (("enable",), "error: Missing argument 'JOB'."),
    (("list", "--registry", REGISTRY, "--nope"), "error: No such option: --nope"),
    (("next", "--registry", REGISTRY, "--job", "ghost"),
     "error: Invalid value for '--job': unknown job 'ghost'"),
    (("scheduler", "pause"),
     "error: missing --project, --location (or set them in the environment or under "
     "[tool.zenjobs])"),
])
def test_usage_errors_are_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    result = CliRunner().invoke(main, list(args), env=CLEAN_ENV)

    assert result.exit_code == 2
    assert result.stdout == ""
    # click's wording of "No such option" varies across versions; the shape does not.
    first = message.split(":")[0] + ":" + message.split(":")[1]
    assert result.stderr.startswith(first)
    assert len(result.stderr.splitlines()) == 1


def test_help_and_the_bare_group_still_show_usage() -> None:
    helped = CliRunner().invoke(main, ["--help"], prog_name="zenjobs")
    assert helped.exit_code == 0 and helped.stdout.startswith("Usage: zenjobs [OPTIONS]")
    bare = CliRunner().invoke(main, ["scheduler"], prog_name="zenjobs")
    assert "Usage: zenjobs scheduler" in bare.output and "error:" not in bare.output


def test_missing_google_credentials_exit_4_with_what_to_do(
        capsys: pytest.CaptureFixture[str]) -> None:
    async def work() -> None:
        raise DefaultCredentialsError("Your default credentials were not found.")

    with pytest.raises(SystemExit) as exited:
        run_async(work)

    assert exited.value.code == EXIT_CONFIGURATION
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: no usable Google credentials (DefaultCredentialsError")
    assert "gcloud auth application-default login" in lines[0]
