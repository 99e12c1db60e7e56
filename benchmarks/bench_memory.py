"""Figure 6: memory of the example service, idle and after 10,000 runs (no leak).

In process, each side in a fresh child process (RSS from /proc/self/status):

* zenjobs: the newsletter example (``examples/newsletter/app.py``) in
  development mode, as ``zenjobs dev`` runs it: its own executor, SQLite
  store (in a temporary directory), simulated Cloud Tasks on a virtual clock
  pushing into the app in process, telemetry as JSON lines to /dev/null.
  10,000 distinct ``POST /subscribe`` requests through the app (ASGI, no
  socket), each delivered and run (``send_welcome_email``), in batches of
  1,000 with ``run_until_idle``.
* baseline: a bare Starlette app answering the same 10,000 POSTs.

"Idle" is measured after startup and a warm-up batch of 1,000 runs: first-use
imports, SQLite's page cache (2 MiB) and the allocator's high-water mark of
a batch in flight are not a leak (the RSS before warm-up is reported too, and
so is the RSS after every batch, which shows whether it keeps climbing).
Target: growth from idle to after 10,000 runs < 10 %.
"""

from __future__ import annotations

import asyncio
import gc
import io
import json
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO, cast

from _common import PYTHON, ROOT, Figure, child_env, cli, publish

TARGET = 0.10
BATCH = 1_000
WARMUP = BATCH


class _Discard(io.TextIOBase):
    """A text stream that drops what it is given (the log sink's /dev/null)."""

    def write(self, text: str) -> int:
        return len(text)


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


async def drive(app: Any, runs: int, first: int, deliver: Any,
                curve: list[int] | None = None) -> None:
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        for start in range(first, first + runs, BATCH):
            for n in range(start, min(start + BATCH, first + runs)):
                response = await client.post("/subscribe", json={"user_id": f"user-{n}"})
                if response.status_code not in (200, 202):
                    raise RuntimeError(f"POST /subscribe answered {response.status_code}")
            await deliver()
            if curve is not None:
                gc.collect()
                curve.append(rss_kib())


async def zenjobs_child(runs: int, keep_queue_state: bool = False) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from zenjobs.queues.simulated import AsgiPusher, SimulatedCloudTasks
    from zenjobs.runtime.devsession import DevSession, activated
    from zenjobs.telemetry.cloud_logging import LogTelemetrySink
    from zenjobs.testing import VirtualClock, run_until_idle

    clock = VirtualClock()
    holder: dict[str, Any] = {}

    async def service(scope: Any, receive: Any, send: Any) -> None:
        await holder["app"](scope, receive, send)

    queue = SimulatedCloudTasks(clock, AsgiPusher(service))
    sink = cast(TextIO, _Discard())
    session = DevSession(store=str(Path.cwd() / "dev.sqlite3"), clock=clock,
                         telemetry=LogTelemetrySink(sink), queue=queue,
                         service_url="http://127.0.0.1:8080")
    with activated(session):
        from examples.newsletter import app as example
    holder["app"] = example.app
    executor = example.executor
    status = executor.store.get_run  # the run records are checked at the end

    delivered = 0

    async def deliver() -> None:
        nonlocal delivered
        await run_until_idle(queue, clock=clock, max_steps=1_000_000)
        if not keep_queue_state:
            # The delivery log and the one-hour task-name dedup window are Cloud Tasks'
            # state (Google's, in production): read the log, and let an hour pass.
            delivered += len(queue.deliveries)
            queue.deliveries.clear()
            clock.advance(timedelta(hours=1, seconds=1))

    async with example.app.router.lifespan_context(example.app):
        await deliver()  # the demo email the example schedules at start
        gc.collect()
        cold = rss_kib()
        await drive(example.app, WARMUP, 0, deliver)
        gc.collect()
        idle = rss_kib()
        curve: list[int] = []
        await drive(example.app, runs, WARMUP, deliver, curve)
        gc.collect()
        after = rss_kib()
        from zenjobs.runtime.envelope import key_execution_id

        last = await status("send_welcome_email",
                            key_execution_id("send_welcome_email", f"welcome:user-{runs}"))
    if last is None or last.status.value != "success":
        raise RuntimeError(f"the last run did not succeed: {last}")
    return {"cold_kib": cold, "idle_kib": idle, "after_kib": after,
            "deliveries": delivered + len(queue.deliveries), "curve_kib": curve}


async def bare_child(runs: int) -> dict[str, Any]:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def subscribe(request: Request) -> JSONResponse:
        data = await request.json()
        return JSONResponse({"user_id": data.get("user_id")}, status_code=202)

    app = Starlette(routes=[Route("/subscribe", subscribe, methods=["POST"])])

    async def nothing() -> None:
        return None

    gc.collect()
    cold = rss_kib()
    await drive(app, WARMUP, 0, nothing)
    gc.collect()
    idle = rss_kib()
    await drive(app, runs, WARMUP, nothing)
    gc.collect()
    return {"cold_kib": cold, "idle_kib": idle, "after_kib": rss_kib(), "deliveries": 0}


def run_child(kind: str, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="zenjobs-bench-") as tmp:
        done = subprocess.run([PYTHON, __file__, "--child", kind, "--runs", str(runs)],
                              cwd=tmp, env=child_env(), capture_output=True, text=True,
                              timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    if "--child" in sys.argv:
        kind = sys.argv[sys.argv.index("--child") + 1]
        runs = int(sys.argv[sys.argv.index("--runs") + 1])
        if kind == "bare":
            print(json.dumps(asyncio.run(bare_child(runs))))
        else:
            print(json.dumps(asyncio.run(zenjobs_child(runs, kind == "zenjobs-raw"))))
        return
    args = cli(__doc__ or "")
    runs = 2_000 if args.quick else 10_000
    ours, bare = run_child("zenjobs", runs), run_child("bare", runs)
    raw = run_child("zenjobs-raw", runs)
    growth = ours["after_kib"] / ours["idle_kib"] - 1
    bare_growth = bare["after_kib"] / bare["idle_kib"] - 1
    figures = [
        Figure(id="memory_idle", title="example service RSS, idle (after start + warm-up)",
               value=ours["idle_kib"] / 1024, unit="MiB", target="reported", met=None,
               baseline=bare["idle_kib"] / 1024, baseline_label="bare Starlette app",
               ratio=ours["idle_kib"] / bare["idle_kib"],
               details={"cold_mib": ours["cold_kib"] / 1024,
                        "bare_cold_mib": bare["cold_kib"] / 1024}),
        Figure(id="memory_growth", title=f"example service RSS growth after {runs:,} runs",
               value=growth * 100, unit="%", target=f"< {TARGET * 100:.0f} %",
               met=growth < TARGET, baseline=bare_growth * 100,
               baseline_label="bare Starlette app, same requests", ratio=None,
               details={"after_mib": ours["after_kib"] / 1024, "idle_mib": ours["idle_kib"] / 1024,
                        "bare_after_mib": bare["after_kib"] / 1024,
                        "deliveries": ours["deliveries"], "runs": runs,
                        "rss_after_each_batch_mib": [k / 1024 for k in ours["curve_kib"]],
                        "with_simulated_queue_state_growth_pct":
                            (raw["after_kib"] / raw["idle_kib"] - 1) * 100,
                        "with_simulated_queue_state_after_mib": raw["after_kib"] / 1024}),
    ]
    publish("6. memory", figures, args.json)


if __name__ == "__main__":
    main()
