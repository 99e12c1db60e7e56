"""Run gcloud-tasks-emulator listening on 127.0.0.1 only.

The emulator's own CLI binds its gRPC API to ``[::]`` (every interface) whatever
host it is given; this wrapper replaces that one method so the API listens on
the loopback interface only, then runs the unchanged server. Run it with the
emulator's private interpreter (see ``scripts/tasks-emulator-venv.sh``)::

    .emulators/tasks-venv/bin/python scripts/run_tasks_emulator.py --port 9022 \
        --queue projects/p/locations/l/queues/q --max-retries 3

It prints ``READY <port>`` on stdout once the API accepts connections.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
import warnings
from concurrent import futures

HOST = "127.0.0.1"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--queue", action="append", default=[],
                        help="full queue name projects/P/locations/L/queues/Q (repeatable)")
    parser.add_argument("--max-retries", type=int, default=-1,
                        help="give up a failing task after this many retries (-1: never)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    # Pushes go to local test servers: never through a proxy from the environment.
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "*"
    warnings.simplefilter("ignore", FutureWarning)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR, stream=sys.stderr)

    import grpc  # type: ignore[import-untyped]
    from gcloud_tasks_emulator import server  # type: ignore[import-not-found]
    from gcloud_tasks_emulator.cloudtasks_pb2_grpc import (  # type: ignore[import-not-found]
        add_CloudTasksServicer_to_server,
    )

    class LoopbackAPIThread(server.APIThread):  # type: ignore[misc]
        def run(self) -> None:
            self._httpd = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
            add_CloudTasksServicer_to_server(server.Greeter(self._state), self._httpd)
            if self._httpd.add_insecure_port(f"{HOST}:{self._port}") == 0:
                raise SystemExit(f"cannot bind {HOST}:{self._port}")
            self._httpd.start()

    server.APIThread = LoopbackAPIThread
    emulator = server.create_server(HOST, args.port, HOST, 80, args.queue, args.max_retries)
    emulator.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection((HOST, args.port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                return 1
            time.sleep(0.05)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    print(f"READY {args.port}", flush=True)
    while not stopping.wait(0.2):
        pass
    emulator.stop()
    # The emulator's worker threads are not daemons; leave without waiting on them.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
