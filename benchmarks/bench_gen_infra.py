"""Figure 5: ``zenjobs gen-infra`` scales linearly with the number of jobs.

In process, for 100, 1,000 and 10,000 jobs (a mix of every type and weight,
23 custom queues, some rate limits): register the descriptors in a
``ZenJobs`` registry, validate it, build the plan, render the files and
write them to a temporary directory, as the command does; best of several
rounds. Figures: time per job, and the 10k/1k ratio of the time per job
(linear: <= 1.5). End to end, ``zenjobs gen-infra`` on a 1,000-job registry
module (a fresh process, Python start included) against ``zenjobs --help``
(the same CLI start doing nothing): target < 1 s.

Run alone: ``.venv/bin/python benchmarks/bench_gen_infra.py [--quick] [--json PATH]``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _common import Figure, child_env, cli, median, publish

from zenjobs import JobDescriptor, JobType, RateLimit, Weight, ZenJobs
from zenjobs.infra.files import generate, write
from zenjobs.infra.plan import InfraSettings, build_plan

SETTINGS = InfraSettings(
    project="bench-project",
    region="europe-west1",
    service="bench",
    service_url="https://bench-abc-ew.a.run.app",
)
LINEAR_TARGET = 1.5
CLI_TARGET_S = 1.0
REGISTRY_MODULE = '''
import sys
sys.path.insert(0, {bench_dir!r})
from bench_gen_infra import registry
from zenjobs import ZenJobs

jobs = ZenJobs()
for desc in registry({size}):
    jobs.register(desc)
'''


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


def generate_once(descriptors: list[JobDescriptor], out: Path) -> float:
    """Seconds for registry -> validation -> plan -> files -> disk."""
    began = time.perf_counter()
    jobs = ZenJobs()
    for desc in descriptors:
        jobs.register(desc)
    problems = jobs.problems(require_handlers=False)
    if problems:
        raise RuntimeError(f"benchmark registry is invalid: {problems[0]}")
    plan = build_plan(jobs.descriptors, SETTINGS)
    write(out, generate(plan, "bench:jobs"))
    return time.perf_counter() - began


def cli_seconds(args: list[str], env: dict[str, str]) -> float:
    zenjobs = str(Path(sys.executable).with_name("zenjobs"))
    began = time.perf_counter()
    subprocess.run([zenjobs, *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - began


def main() -> None:
    args = cli(__doc__ or "")
    sizes = (100, 1_000, 10_000)
    rounds = 3 if args.quick else 5
    best: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="zenjobs-bench-") as tmp:
        for size in sizes:
            descriptors = registry(size)
            best[size] = min(generate_once(descriptors, Path(tmp) / f"n{size}-r{r}")
                             for r in range(rounds))
        module = Path(tmp) / "bench_registry_1000.py"
        module.write_text(REGISTRY_MODULE.format(bench_dir=str(Path(__file__).parent),
                                                 size=1_000))
        env = child_env(PYTHONPATH=f"{tmp}:{child_env()['PYTHONPATH']}")
        command = ["gen-infra", "--registry", "bench_registry_1000:jobs", "--project",
                   SETTINGS.project, "--region", SETTINGS.region, "--service", SETTINGS.service,
                   "--service-url", SETTINGS.service_url]
        cli_runs, help_runs = [], []
        for r in range(3):
            cli_runs.append(cli_seconds([*command, "--out", str(Path(tmp) / f"cli{r}")], env))
            help_runs.append(cli_seconds(["--help"], env))
    per_job = {size: best[size] / size for size in sizes}
    scaling = per_job[10_000] / per_job[1_000]
    cli_1000 = median(cli_runs)
    figures = [
        Figure(id=f"gen_infra_{size}", title=f"gen-infra in process, {size:,} jobs",
               value=per_job[size] * 1e6, unit="us/job", target="reported", met=None,
               details={"total_ms": best[size] * 1000, "rounds": rounds})
        for size in sizes
    ]
    figures.append(Figure(
        id="gen_infra_linear", title="gen-infra time per job, 10,000 vs 1,000 jobs",
        value=per_job[10_000] * 1e6, unit="us/job", target=f"ratio <= {LINEAR_TARGET} (linear)",
        met=scaling <= LINEAR_TARGET, baseline=per_job[1_000] * 1e6, baseline_label="1,000 jobs",
        ratio=scaling, details={"total_ratio_10k_1k": best[10_000] / best[1_000]}))
    figures.append(Figure(
        id="gen_infra_cli_1000", title="zenjobs gen-infra, 1,000 jobs, end to end (new process)",
        value=cli_1000 * 1000, unit="ms", target=f"< {CLI_TARGET_S * 1000:.0f} ms",
        met=cli_1000 < CLI_TARGET_S, baseline=median(help_runs) * 1000,
        baseline_label="zenjobs --help", ratio=cli_1000 / median(help_runs),
        details={"runs_s": cli_runs, "help_runs_s": help_runs}))
    publish("5. gen-infra scaling", figures, args.json)


if __name__ == "__main__":
    main()
