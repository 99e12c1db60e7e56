"""An in-memory telemetry sink with assertion helpers, for tests (ours and users')."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .format import jsonable, summary_line
from .protocol import TelemetryEvent


class MemoryTelemetrySink:
    """Keeps events in a list; the assertion helpers make tests short and readable."""

    def __init__(self) -> None:
        self.events: list[TelemetryEvent] = []

    def emit(self, event: TelemetryEvent) -> None:
        self.events.append(event)

    def clear(self) -> None:
        self.events.clear()

    def names(self) -> list[str]:
        """Event names in emission order."""
        return [e.name for e in self.events]

    def of(self, name: str, **fields: Any) -> list[TelemetryEvent]:
        """Events called ``name`` whose fields include every ``fields`` item."""
        return [e for e in self.events if e.name == name and _matches(e, fields)]

    def assert_emitted(self, name: str, **fields: Any) -> TelemetryEvent:
        """The last matching event; AssertionError listing what was emitted otherwise."""
        found = self.of(name, **fields)
        if not found:
            seen = "\n  ".join(summary_line(e) for e in self.events) or "(nothing)"
            raise AssertionError(f"no {name} event with {fields}; emitted:\n  {seen}")
        return found[-1]

    def assert_not_emitted(self, name: str, **fields: Any) -> None:
        found = self.of(name, **fields)
        if found:
            raise AssertionError(f"unexpected {name} event(s): "
                                 + "; ".join(summary_line(e) for e in found))


def _matches(event: TelemetryEvent, fields: Mapping[str, Any]) -> bool:
    for key, want in fields.items():
        if key not in event.fields:
            return False
        have = event.fields[key]
        if have != want and jsonable(have) != jsonable(want):
            return False
    return True
