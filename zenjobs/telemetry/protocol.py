"""The telemetry seam: events, sinks, and emission that can never fail a run.

Telemetry is best-effort (DESIGN.md): the runtime emits through
:func:`emit_safely`, which swallows and logs whatever a sink raises, so a
broken exporter can never turn a successful run into a failure. The sinks sit
beside this module: :mod:`.cloud_logging` (production default), :mod:`.console`
(``zenjobs dev``), :mod:`.otel` (OpenTelemetry metrics) and :mod:`.memory` (tests).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger("zenjobs.telemetry")


@dataclass(frozen=True)
class TelemetryEvent:
    name: str  # job.started, job.succeeded, job.failed, job.skipped, ...
    timestamp: datetime
    fields: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class TelemetrySink(Protocol):
    def emit(self, event: TelemetryEvent) -> None: ...


class FanOutTelemetrySink:
    """Sends every event to several sinks; one failing sink does not starve the others."""

    def __init__(self, *sinks: TelemetrySink) -> None:
        self.sinks = sinks

    def emit(self, event: TelemetryEvent) -> None:
        for sink in self.sinks:
            emit_safely(sink, event)


def emit_safely(sink: TelemetrySink | None, event: TelemetryEvent) -> None:
    """Emit ``event``; anything the sink raises is logged and swallowed, never propagated."""
    if sink is None:
        return
    try:
        sink.emit(event)
    except Exception:
        # Even logging the failure must not be able to break a run.
        with contextlib.suppress(Exception):
            log.warning("telemetry sink %r failed on %s", sink, event.name, exc_info=True)
