"""The hand-off between ``zenjobs dev`` and the application it serves.

``zenjobs dev`` imports the user's ASGI app, and that app builds its own
``ZenJobsExecutor.development(jobs)`` at import time, knowing nothing about
the dev server. While a :class:`DevSession` is active (only inside the
``zenjobs dev`` process, set before the app is imported), ``development()``
takes the session's collaborators for every argument left at its default:

* the store path (``--store``),
* the clock (a :class:`~zenjobs.dev.scaled_clock.ScaledClock` for ``--speed``),
* the telemetry sink (the readable console: one line per run outcome, docs/dev.md),
* the task queue (a simulated Cloud Tasks queue pushing real HTTP to the server),
* the service URL (``http://127.0.0.1:PORT``),
* the web dashboard (``/_zenjobs/ui``),

and registers the executor with the session so the dev server can recover
its unfinished runs at start. Arguments the app passes explicitly win. The
master tick and the queue's delivery loop are run by the dev server itself,
over HTTP, the way Cloud Scheduler and Cloud Tasks reach a Cloud Run service.

This is a process-wide setting on purpose: it is what ``zenjobs dev`` *is*
(one process, one service); nothing else activates it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..clocks.protocol import Clock
from ..queues.protocol import TaskQueue
from ..telemetry.protocol import TelemetrySink

_active: DevSession | None = None


@dataclass
class DevSession:
    """What ``zenjobs dev`` lends to development executors built while it runs."""

    store: str
    clock: Clock
    telemetry: TelemetrySink
    queue: TaskQueue
    service_url: str
    #: The dashboard every development executor built in the session serves (or None).
    dashboard: Any = None
    #: Development executors built while the session was active, in order.
    executors: list[Any] = field(default_factory=list)


def active_session() -> DevSession | None:
    """The session of the ``zenjobs dev`` serving this process, if any."""
    return _active


@contextlib.contextmanager
def activated(session: DevSession) -> Iterator[DevSession]:
    """Make ``session`` the active one for the duration of the block (not re-entrant)."""
    global _active
    if _active is not None:
        raise RuntimeError("a zenjobs dev session is already active in this process")
    _active = session
    try:
        yield session
    finally:
        _active = None
