"""Figure 4: no-op endpoint jobs per second through the development executor, in process.

zenjobs: ``ZenJobsExecutor.development(jobs, store=":memory:")`` with its default
simulated Cloud Tasks queue (default queue settings: 500 dispatches/s on the
*virtual* clock, burst 100, 1,000 concurrent), N ``schedule()`` calls, then
``run_until_idle``. Each job goes the whole way: run record, task, push into the
webhook ASGI app, lease, eligibility, handler, outcome. Telemetry goes to a
sink that discards events (so the figure is the runtime, not a log stream).

Baseline: the same no-op coroutine run as N bare ``asyncio`` tasks.

Target: >= 5,000 jobs/s. Best of three rounds each.
"""

from __future__ import annotations

import asyncio
import time

from _common import Figure, cli, publish
from _doubles import NullTelemetry, noop

from zenjobs import JobContext, JobType, ZenJobs, ZenJobsExecutor
from zenjobs.testing import VirtualClock, run_until_idle

TARGET = 5_000.0
ROUNDS = 3

jobs = ZenJobs()


jobs.job("noop", type=JobType.ENDPOINT, description="Does nothing: measures the runtime.")(noop)


async def zenjobs_round(count: int) -> float:
    """Seconds to schedule and run ``count`` no-op jobs through the dev executor."""
    clock = VirtualClock()
    executor = ZenJobsExecutor.development(jobs, store=":memory:", clock=clock,
                                           telemetry=NullTelemetry(), loop_lag_threshold=None)
    await executor.start()
    try:
        began = time.perf_counter()
        for i in range(count):
            await executor.schedule("noop", {"i": i})
        delivered = await run_until_idle(executor, max_steps=100 * count)
        elapsed = time.perf_counter() - began
    finally:
        await executor.shutdown()
    if delivered != count:
        raise RuntimeError(f"expected {count} deliveries, got {delivered}")
    return elapsed


async def baseline_round(count: int) -> float:
    """Seconds to run the same no-op ``count`` times as bare asyncio tasks."""
    contexts = [JobContext(job_id="noop", execution_id=f"noop-{i}", attempt=1, payload={"i": i},
                           scheduled_for=VirtualClock().now(), trigger="endpoint")
                for i in range(count)]
    began = time.perf_counter()
    await asyncio.gather(*(asyncio.ensure_future(noop(ctx)) for ctx in contexts))
    return time.perf_counter() - began


def main() -> None:
    args = cli(__doc__ or "")
    count = 1_000 if args.quick else 5_000
    ours = min(asyncio.run(zenjobs_round(count)) for _ in range(ROUNDS))
    bare = min(asyncio.run(baseline_round(count)) for _ in range(ROUNDS))
    rate, bare_rate = count / ours, count / bare
    figure = Figure(
        id="dev_throughput", title=f"dev executor, {count:,} no-op endpoint jobs",
        value=rate, unit="jobs/s", target=f">= {TARGET:,.0f} jobs/s", met=rate >= TARGET,
        baseline=bare_rate, baseline_label="bare asyncio tasks", ratio=rate / bare_rate,
        details={"jobs": count, "rounds": ROUNDS, "seconds_best": ours,
                 "baseline_seconds_best": bare, "per_job_us": ours / count * 1e6},
    )
    publish("4. dev executor throughput", [figure], args.json)


if __name__ == "__main__":
    main()
