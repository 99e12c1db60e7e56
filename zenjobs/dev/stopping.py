"""Stopping ``zenjobs dev`` cleanly: Ctrl-C stops our loops first, then the server.

A first signal asks the dev loops to stop and lets the pushes in flight finish
within the grace period; a second one exits at once. Heavy runs (child
processes) are shielded from the terminal's Ctrl-C so they finish instead of
burning an attempt, and uvicorn's report of a request we cancelled on purpose
is not logged as an error.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from types import FrameType

import uvicorn

from ..registry import ZenJobs
from ..vocabulary import Weight


def shield_heavy_runs_from_ctrl_c(jobs: ZenJobs) -> bool:
    """Start the heavy-run forkserver with SIGINT ignored, if the registry has heavy jobs.

    Ctrl-C in a terminal signals the whole foreground process group, and a
    heavy run is a child process: without this it would die of
    KeyboardInterrupt and burn an attempt instead of finishing within the grace
    period. Children forked by the forkserver inherit its ignored SIGINT (the
    runtime still stops them on timeout with SIGTERM/SIGKILL). Returns whether
    it applied (it needs the ``forkserver`` start method; call from the main thread).
    """
    if not any(desc.weight is Weight.HEAVY for desc in jobs):
        return False
    from multiprocessing import forkserver

    from ..runtime.heavy import default_context

    if default_context().get_start_method() != "forkserver":
        return False
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)
    return True


class QuietCancellation(logging.Filter):
    """Drop uvicorn's error records for requests *we* cancelled after the grace period.

    uvicorn logs a cancelled request as "Exception in ASGI application" with a
    traceback; here it is the documented outcome of a stop, already announced
    on the console (the run keeps its lease), not an error.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            return False
        return "timeout graceful shutdown exceeded" not in record.getMessage()


class DevServer(uvicorn.Server):
    """uvicorn, except that the first Ctrl-C asks the dev loops to stop first.

    Our own loops push requests into this server, so they must stop before it
    stops accepting connections; the server exits when :meth:`finish` is called.
    A second signal exits at once. Signals are not re-raised after a clean
    shutdown, so the process exits 0.
    """

    def __init__(self, config: uvicorn.Config, on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_stop = on_stop
        self.stopping = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.stopping or not self.started:
            self.should_exit = True
            self.force_exit = self.stopping
            self.stopping = True
            return
        self.stopping = True
        self._on_stop()

    def finish(self) -> None:
        self.should_exit = True
