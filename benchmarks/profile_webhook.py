"""Figure 2 without uvicorn: the benchmark's app called in process, to split our cost from HTTP's.

``python benchmarks/profile_webhook.py [--requests N] [--bare] [--null-telemetry]
[--profile]`` builds the same app as ``_webhook_apps.py`` (SQLite store, OIDC on
with cached certificates, run records created up front, JSON telemetry to a
file), sends it N byte-identical requests from ``_loadgen.request_bytes`` as
direct ASGI calls, one after another, and prints the time per request; with
``--profile``, a pyinstrument tree as well (docs/performance.md, figure 2).
Not a benchmark figure: nothing here is published or compared with a target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bench_webhook
from _loadgen import request_bytes


def asgi_request(raw: bytes) -> tuple[str, list[tuple[bytes, bytes]], bytes]:
    head, body = raw.split(b"\r\n\r\n", 1)
    request_line, *lines = head.split(b"\r\n")
    path = request_line.split(b" ")[1].decode()
    headers = []
    for line in lines:
        name, _, value = line.partition(b":")
        headers.append((name.strip().lower(), value.strip()))
    return path, headers, body


async def drive(app: Any, requests: list[tuple[str, list[tuple[bytes, bytes]], bytes]],
                lifespan: bool, profile: bool) -> None:
    startup: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    started = asyncio.Event()

    async def lifespan_send(message: dict[str, Any]) -> None:
        started.set()

    life = None
    if lifespan:
        await startup.put({"type": "lifespan.startup"})
        life = asyncio.ensure_future(app({"type": "lifespan"}, startup.get, lifespan_send))
        await started.wait()
    statuses: list[int] = []

    async def one(path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "root_path": "", "headers": headers,
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
        pending = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return pending.pop() if pending else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)

    profiler: Any = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0001, async_mode="enabled")
        profiler.start()
    began = time.perf_counter()
    for request in requests:
        await one(*request)
    elapsed = time.perf_counter() - began
    if profiler is not None:
        profiler.stop()
        sys.stderr.write(profiler.output_text(unicode=False, color=False))
    failed = sum(1 for status in statuses if status != 200)
    sys.stderr.write(f"{len(requests)} requests, {elapsed / len(requests) * 1e6:.1f} us each, "
                     f"{failed} not 200\n")
    if life is not None:
        await startup.put({"type": "lifespan.shutdown"})
        await life


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--bare", action="store_true", help="the bare Starlette route instead")
    parser.add_argument("--null-telemetry", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="zenjobs-profile-"))
    certs, token = bench_webhook.mint_key_and_token()
    (workdir / "certs.json").write_text(json.dumps(certs))
    os.environ.update(
        BENCH_CERTS_FILE=str(workdir / "certs.json"), BENCH_AUDIENCE=bench_webhook.AUDIENCE,
        BENCH_INVOKER=bench_webhook.INVOKER,
        BENCH_TELEMETRY="null" if args.null_telemetry else "log",
        BENCH_SQLITE=str(workdir / "store.sqlite3"), BENCH_PRECREATE=f"p:{args.requests}")
    sys.stdout = (workdir / "telemetry.log").open("w")  # the JSON lines, as uvicorn's stdout
    import _webhook_apps as apps

    requests = [asgi_request(request_bytes(n, "p", token)) for n in range(args.requests)]
    app = apps.bare_app if args.bare else apps.zenjobs_app
    asyncio.run(drive(app, requests, lifespan=not args.bare, profile=args.profile))


if __name__ == "__main__":
    main()
