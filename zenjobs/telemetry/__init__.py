"""The telemetry seam: structured events, and the sinks that receive them.

:mod:`.protocol` is the seam (:class:`~zenjobs.telemetry.protocol.TelemetrySink`,
:func:`~zenjobs.telemetry.protocol.emit_safely`). The sinks sit side by side:
:mod:`.cloud_logging` (production default), :mod:`.console` (``zenjobs dev`` and the
CLI), :mod:`.otel` (OpenTelemetry metrics) and :mod:`.memory` (tests). :mod:`.looplag`
watches the event loop and emits ``loop.blocked`` when a handler blocks it.
"""
