"""Module-level heavy handlers for tests/runtime/test_heavy.py (imported by name in children)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

from zenjobs import JobContext, PermanentError


def _announce(ctx: JobContext) -> None:
    """Write this process's pid where the test can see the child is running."""
    pidfile = ctx.payload.get("pidfile") if isinstance(ctx.payload, dict) else None
    if pidfile:
        tmp = Path(f"{pidfile}.tmp")
        tmp.write_text(str(os.getpid()))
        tmp.rename(pidfile)


def burn(ctx: JobContext) -> dict[str, Any]:
    """CPU-bound and synchronous: spin for ``payload["seconds"]``."""
    _announce(ctx)
    end = time.monotonic() + float(ctx.payload["seconds"])
    spins = 0
    while time.monotonic() < end:
        spins += 1
    return {"pid": os.getpid(), "spins": spins}


def burn_until_told(ctx: JobContext) -> dict[str, Any]:
    """CPU-bound and synchronous: spin until the file ``payload["stop"]`` exists."""
    _announce(ctx)
    stop = Path(ctx.payload["stop"])
    spins = 0
    while not stop.exists():
        for _ in range(10_000):
            spins += 1
    return {"pid": os.getpid(), "spins": spins}


def forever(ctx: JobContext) -> None:
    _announce(ctx)
    while True:
        time.sleep(0.01)


def stubborn(ctx: JobContext) -> None:
    """Ignores SIGTERM, so stopping it needs SIGKILL."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _announce(ctx)
    while True:
        time.sleep(0.01)


async def async_double(ctx: JobContext) -> int:
    await asyncio.sleep(0)
    return int(ctx.payload["n"]) * 2


def echo_context(ctx: JobContext) -> tuple[int, str, str, int]:
    return os.getpid(), ctx.job_id, ctx.execution_id, ctx.attempt


def fail_value(ctx: JobContext) -> None:
    raise ValueError(f"bad input {ctx.payload['n']}")


def fail_permanent(ctx: JobContext) -> None:
    raise PermanentError("recipient does not exist")


class LockedError(Exception):
    """An exception that cannot be pickled (it holds a lock)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


def fail_unpicklable(ctx: JobContext) -> None:
    raise LockedError("holding a lock")


def return_unpicklable(ctx: JobContext) -> Any:
    return threading.Lock()


def die(ctx: JobContext) -> None:
    os._exit(3)
