"""The definition side imports no cloud SDK, gRPC, jinja2, click or starlette.

Each check runs in a fresh interpreter, because this test process has long
since imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("google.cloud", "google.api_core", "grpc", "jinja2", "click", "starlette", "uvicorn")


def modules_loaded_by(code: str) -> list[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def forbidden_in(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]


@pytest.mark.parametrize(
    "code",
    [
        "import zenjobs",
        "import zenjobs.registry, zenjobs.schedule, zenjobs.descriptor",
        "import zenjobs.validation, zenjobs.errors, zenjobs.loader, zenjobs.ops.inspection",
    ],
)
def test_importing_the_definition_side_loads_no_heavy_dependency(code: str) -> None:
    modules = modules_loaded_by(code)
    assert "zenjobs" in modules
    assert forbidden_in(modules) == []


def test_declaring_loading_and_scheduling_jobs_loads_no_heavy_dependency() -> None:
    # Building descriptors parses crons (croniter), and the example registry is
    # what a Cloud Run service or `zenjobs gen-infra` imports first.
    modules = modules_loaded_by(
        "from datetime import datetime, timezone\n"
        "from zenjobs.loader import load_registry\n"
        "from zenjobs.ops.inspection import upcoming_fires, check_registry\n"
        "registry = load_registry('examples.newsletter.jobs:jobs')\n"
        "upcoming_fires(registry, datetime(2026, 1, 1, tzinfo=timezone.utc), 3)\n"
        "assert check_registry('examples.newsletter.jobs:jobs').ok\n"
    )
    assert "examples.newsletter.jobs" in modules
    assert "croniter" in modules  # the probe really exercised cron parsing
    assert forbidden_in(modules) == []


def test_the_executor_is_not_imported_by_import_zenjobs() -> None:
    # ZenJobsExecutor is resolved lazily, on first attribute access.
    modules = modules_loaded_by("import zenjobs")
    seams = ("zenjobs.runtime", "zenjobs.stores", "zenjobs.queues", "zenjobs.gcp")
    assert not [m for m in modules if m.startswith(seams)]
