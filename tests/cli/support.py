"""Running the CLI in-process for tests/cli: a clean environment, JSON parsed."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

from zenjobs.cli import main

OPS_REGISTRY = "tests.ops.ops_registry:jobs"
EXAMPLE = "examples.newsletter.jobs:jobs"
REGISTRIES = "tests.unit.registries"

#: No setting leaks in from the developer's shell.
CLEAN_ENV: dict[str, str | None] = {
    name: None for name in (
        "ZENJOBS_REGISTRY", "ZENJOBS_STORE", "ZENJOBS_PROJECT", "GOOGLE_CLOUD_PROJECT",
        "ZENJOBS_LOCATION", "ZENJOBS_SERVICE_URL", "ZENJOBS_INVOKER_SA", "ZENJOBS_DEBUG",
        "ZENJOBS_SCHEDULER_ENDPOINT", "ZENJOBS_SCHEDULER_JOB", "FIRESTORE_EMULATOR_HOST",
        "ZENJOBS_ACTOR")
}


def zj(*args: str, env: dict[str, str | None] | None = None) -> Result:
    environment = dict(CLEAN_ENV)
    environment.update(env or {})
    return CliRunner().invoke(main, list(args), env=environment)


def as_json(result: Result) -> Any:
    """The one JSON object a ``--json`` command prints on stdout."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        result.exception)
    return json.loads(result.stdout)
