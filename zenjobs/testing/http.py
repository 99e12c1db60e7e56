"""Serve an ASGI app over real HTTP on 127.0.0.1, for tests.

:func:`serve_app` runs a real uvicorn server on a free port in a background
thread (with its own event loop) and yields its base URL, so tests exercise
the same HTTP parsing, streaming and connection handling as production.
Importing this module imports uvicorn; it is a testing aid, not part of the
definition side.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def serve_app(
    app: Any, *, startup_timeout: float = 10.0, log_level: str = "warning"
) -> Iterator[str]:
    """Run ``app`` under uvicorn on ``127.0.0.1:<free port>``; yield ``http://127.0.0.1:<port>``.

    The server binds port 0 itself (so no other process can take the port
    between choosing and binding it) and the chosen port is read back from
    its listening socket. The server is stopped (in-flight requests finished)
    when the block exits.
    """
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level=log_level, lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run()
        except BaseException as exc:  # surfaced to the test thread below
            errors.append(exc)

    thread = threading.Thread(target=run, name="zenjobs-test-uvicorn", daemon=True)
    thread.start()
    try:
        # The only wall-clock use: waiting for a real server to come up.
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if errors or not thread.is_alive():
                raise RuntimeError(f"uvicorn failed to start: {errors[:1]!r}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start within {startup_timeout}s")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=startup_timeout)
