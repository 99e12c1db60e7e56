"""A small, bounded HTTP/1.1 load generator on raw asyncio streams (its own process).

``python _loadgen.py PORT --duration S --warmup S --max-requests N --connections C
[--token T] [--prefix P]`` sends Cloud Tasks-shaped POSTs to
``/_zenjobs/run/noop`` over C keep-alive connections to 127.0.0.1:PORT. Every
request carries a distinct execution id (``{prefix}-{n}``), so the zenjobs
webhook really runs each one; a bare route receives the same bytes. It stops
at the duration or the request bound, whichever comes first, and prints one
JSON object: requests measured after warm-up, requests/s, p50/p99 latency
(ms), non-2xx answers.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time

SCHEDULED_FOR = "2026-03-02T08:00:00.000000Z"


def request_bytes(n: int, prefix: str, token: str | None) -> bytes:
    body = (
        f'{{"attempt":1,"execution_id":"noop-{prefix}-{n}","job_id":"noop","payload":{{"n":{n}}},'
        f'"scheduled_for":"{SCHEDULED_FOR}","trigger":"endpoint","version":1}}'
    ).encode()
    head = [
        "POST /_zenjobs/run/noop HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        "User-Agent: Google-Cloud-Tasks",
        "X-CloudTasks-QueueName: zenjobs-light",
        f"X-CloudTasks-TaskName: noop-{prefix}-{n}-1",
        "X-CloudTasks-TaskRetryCount: 0",
        "X-CloudTasks-TaskExecutionCount: 0",
        f"Content-Length: {len(body)}",
    ]
    if token:
        head.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def run(args: argparse.Namespace) -> dict[str, float | int]:
    counter = itertools.count()
    latencies: list[float] = []
    failures = 0
    began = time.perf_counter()
    measure_from = began + args.warmup
    stop_at = measure_from + args.duration
    measured_first: list[float] = []

    async def worker() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
        try:
            while True:
                n = next(counter)
                if n >= args.max_requests or time.perf_counter() >= stop_at:
                    return
                payload = request_bytes(n, args.prefix, args.token)
                sent = time.perf_counter()
                writer.write(payload)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                done = time.perf_counter()
                if sent >= measure_from:
                    if not measured_first:
                        measured_first.append(sent)
                    latencies.append(done - sent)
                    if not 200 <= status < 300:
                        failures += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(args.connections)))
    ended = time.perf_counter()
    window = ended - (measured_first[0] if measured_first else ended)
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000

    return {"requests": len(latencies), "seconds": window,
            "rps": len(latencies) / window if window > 0 else 0.0,
            "p50_ms": pct(50), "p99_ms": pct(99), "failures": failures,
            "sent_total": min(next(counter), args.max_requests)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--token", default=None)
    parser.add_argument("--prefix", default="bench")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
