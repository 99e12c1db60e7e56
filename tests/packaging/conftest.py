"""Session fixtures: the built artefacts, and a user's service outside the repository."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .packaging_support import REPO, TIMINGS, Dists, build_dists, fresh_venv

#: A user's own registry: one job of each type (what `zenjobs validate` and `gen-infra` read).
REGISTRY = '''\
from datetime import timedelta

from zenjobs import JobContext, JobType, ZenJobs

jobs = ZenJobs()
GREETED = []


@jobs.job("greet", type=JobType.ENDPOINT, max_retries=2)
async def greet(ctx: JobContext) -> None:
    GREETED.append((ctx.execution_id, ctx.payload))


@jobs.job("nightly", type=JobType.SCHEDULED, cron="30 2 * * *", timezone="Europe/Berlin")
async def nightly(ctx: JobContext) -> None:
    return None


@jobs.job("tidy", type=JobType.PERIODIC, interval=timedelta(hours=1))
async def tidy(ctx: JobContext) -> None:
    return None
'''


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """The sdist and the wheel, built once per session into a temporary directory."""
    return build_dists(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def venvs(tmp_path_factory: pytest.TempPathFactory, dists: Dists) -> dict[str, Path]:
    """Two fresh virtualenvs outside the repository, made side by side (pip waits on I/O).

    ``wheel``: ``pip install`` of the wheel, with its dependencies. ``sdist``: ``pip
    install`` of the sdist, which builds its own wheel first.
    """
    jobs = {
        "wheel": (dists.wheel, "pip install wheel (fresh venv, with dependencies)"),
        "sdist": (dists.sdist, "pip install sdist (fresh venv, builds the wheel)"),
    }
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {
            kind: pool.submit(fresh_venv, tmp_path_factory.mktemp(f"{kind}-env") / "venv",
                              artefact, label)
            for kind, (artefact, label) in jobs.items()
        }
        return {kind: future.result() for kind, future in futures.items()}


@pytest.fixture(scope="session")
def wheel_venv(venvs: dict[str, Path]) -> Path:
    return venvs["wheel"]


@pytest.fixture(scope="session")
def sdist_venv(venvs: dict[str, Path]) -> Path:
    return venvs["sdist"]


@pytest.fixture
def service(tmp_path: Path) -> Path:
    """A user's service directory outside the repository holding only its registry."""
    assert not tmp_path.resolve().is_relative_to(REPO)
    (tmp_path / "registry.py").write_text(REGISTRY)
    return tmp_path


@pytest.fixture(scope="session", autouse=True)
def report_timings() -> Iterator[None]:
    yield
    if TIMINGS:
        print("\npackaging timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in TIMINGS.items()))
