"""Figure 3: cold start, and the import cost of the definition side.

a. Process start to the first 200 from the example service
   (``examples.newsletter.app:app``) in production configuration, against a
   bare Starlette app: both under ``python -m uvicorn APP --host 127.0.0.1
   --lifespan off`` and polled with ``GET /`` every 5 ms from the moment the
   process is spawned. Production configuration = ``ZENJOBS_MODE=production``
   with fake-but-valid settings: Firestore and Cloud Tasks clients are created
   on first use, so ``/`` must answer without any cloud client. (Lifespan off:
   the example's startup hook syncs job documents to Firestore, which needs a
   database; ``--lifespan on`` against the emulator is reported as a detail.)
b. ``python -c "import zenjobs"`` against ``python -c pass``: target < 50 ms extra.

Median of several alternating runs.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import PYTHON, ROOT, Figure, child_env, cli, free_port, median, publish, stop

IMPORT_TARGET_MS = 50.0
PRODUCTION_ENV = {
    "ZENJOBS_MODE": "production",
    "ZENJOBS_PROJECT": "bench-project",
    "ZENJOBS_LOCATION": "europe-west1",
    "ZENJOBS_SERVICE_URL": "https://newsletter-abc-ew.a.run.app",
    "ZENJOBS_INVOKER_SA": "zenjobs-invoker@bench-project.iam.gserviceaccount.com",
}
BARE_APP = '''
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def index(request):
    return JSONResponse({"service": "bare"})


app = Starlette(routes=[Route("/", index)])
'''


def first_200(app: str, env: dict[str, str], lifespan: str = "off",
              app_dir: Path = ROOT, timeout: float = 60.0) -> float:
    """Seconds from spawning uvicorn with ``app`` to the first 200 answer to ``GET /``."""
    port = free_port()
    command = [PYTHON, "-m", "uvicorn", app, "--app-dir", str(app_dir), "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning", "--no-access-log",
               "--lifespan", lifespan]
    began = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - began < timeout:
            if process.poll() is not None:
                raise RuntimeError(f"{app} exited with {process.returncode} before answering")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/")
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return time.perf_counter() - began
                raise RuntimeError(f"{app}: GET / answered {status}")
            except (ConnectionRefusedError, ConnectionResetError):
                time.sleep(0.005)
        raise RuntimeError(f"{app} did not answer within {timeout}s")
    finally:
        stop(process)


def run_python(code: str, env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run([PYTHON, "-c", code], env=env, check=True, cwd=ROOT)
    return time.perf_counter() - began


def emulator_lifespan(env: dict[str, str], runs: int) -> list[float]:
    """Lifespan on against the Firestore emulator: startup syncs the job documents."""
    import sys

    sys.path.insert(0, str(ROOT))
    from tests.emulators.firestore import ensure_emulator, stop_started

    try:
        host = ensure_emulator()
        times = []
        for i in range(runs):
            run_env = {**env, "FIRESTORE_EMULATOR_HOST": host,
                       "ZENJOBS_PROJECT": f"bench-cold-{os.getpid()}-{i}"}
            times.append(first_200("examples.newsletter.app:app", run_env, lifespan="on"))
        return times
    finally:
        stop_started()


def main() -> None:
    args = cli(__doc__ or "")
    runs = 3 if args.quick else 7
    env = child_env()
    prod_env = child_env(**PRODUCTION_ENV)
    times: dict[str, list[float]] = {"example": [], "bare": [], "import": [], "pass": []}
    with tempfile.TemporaryDirectory(prefix="zenjobs-bench-") as tmp:
        (Path(tmp) / "bare_cold_app.py").write_text(BARE_APP)
        first_200("bare_cold_app:app", env, app_dir=Path(tmp))  # warm the OS file cache
        first_200("examples.newsletter.app:app", prod_env)
        for i in range(runs):
            pair: list[tuple[str, Any]] = [
                ("bare", lambda: first_200("bare_cold_app:app", env, app_dir=Path(tmp))),
                ("example", lambda: first_200("examples.newsletter.app:app", prod_env)),
            ]
            for name, fn in pair if i % 2 == 0 else list(reversed(pair)):
                times[name].append(fn())
    for _ in range(2):
        run_python("import zenjobs", env)
        run_python("pass", env)
    for i in range(runs * 2):
        order = ("import", "pass") if i % 2 == 0 else ("pass", "import")
        for name in order:
            times[name].append(run_python("import zenjobs" if name == "import" else "pass", env))
    lifespan = [] if args.quick else emulator_lifespan(prod_env, 3)
    example, bare = median(times["example"]), median(times["bare"])
    imp, nothing = median(times["import"]), median(times["pass"])
    extra_ms = (imp - nothing) * 1000
    figures = [
        Figure(id="cold_start", title="cold start to first 200, example service (production "
               "config, lazy clients)", value=example * 1000, unit="ms",
               target="reported (no cloud client before first use)", met=None,
               baseline=bare * 1000, baseline_label="bare Starlette app", ratio=example / bare,
               details={"runs": runs, "example_s": times["example"], "bare_s": times["bare"],
                        "extra_ms": (example - bare) * 1000,
                        "lifespan_on_emulator_ms": [t * 1000 for t in lifespan],
                        "lifespan_on_emulator_median_ms":
                            median(lifespan) * 1000 if lifespan else None}),
        Figure(id="import_cost", title='python -c "import zenjobs"', value=imp * 1000,
               unit="ms", target=f"< {IMPORT_TARGET_MS:.0f} ms extra",
               met=extra_ms < IMPORT_TARGET_MS, baseline=nothing * 1000,
               baseline_label="python -c pass", ratio=imp / nothing,
               details={"extra_ms": extra_ms, "runs": len(times["import"])}),
    ]
    publish("3. cold start", figures, args.json)


if __name__ == "__main__":
    main()
