"""How long ``zenjobs gen-infra`` takes for a registry of 1,000 jobs (issue 4: under a second).

Measures registry → plan → rendered files (what the command does before
writing), plus one write to a temporary directory, best of several rounds.
Run: ``.venv/bin/python benchmarks/bench_gen_infra.py [JOBS]``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from zenjobs import JobDescriptor, JobType, RateLimit, Weight
from zenjobs.infra.files import generate, write
from zenjobs.infra.plan import InfraSettings, build_plan

SETTINGS = InfraSettings(
    project="bench-project",
    region="europe-west1",
    service="bench",
    service_url="https://bench-abc-ew.a.run.app",
)


def registry(size: int) -> list[JobDescriptor]:
    """A mix of every type and weight, 23 custom queues, some rate limits."""
    weights = (Weight.LIGHT, Weight.LIGHT, Weight.MEDIUM, Weight.HEAVY)
    types = (JobType.ENDPOINT, JobType.SCHEDULED, JobType.PERIODIC)
    jobs: list[JobDescriptor] = []
    for i in range(size):
        weight = weights[i % len(weights)]
        kind = types[i % len(types)]
        jobs.append(
            JobDescriptor(
                id=f"job_{i}",
                type=kind,
                cron=f"{i % 60} {i % 24} * * *" if kind is JobType.SCHEDULED else None,
                interval=timedelta(minutes=1 + i % 120) if kind is JobType.PERIODIC else None,
                weight=weight,
                queue=f"custom-{i % 23}" if i % 5 == 0 and weight is not Weight.HEAVY else None,
                rate_limit=RateLimit(1 + i % 50) if i % 7 == 0 else None,
            )
        )
    return jobs


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    descriptors = registry(size)
    best = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(5):
            started = time.perf_counter()
            plan = build_plan(descriptors, SETTINGS)
            files = generate(plan, "bench:jobs")
            write(Path(tmp) / f"r{round_}", files)
            best = min(best, time.perf_counter() - started)
    print(f"gen-infra, {size} jobs, {len(plan.queues)} queues, {len(files)} files: "
          f"best of 5 = {best * 1000:.1f} ms")


if __name__ == "__main__":
    main()
