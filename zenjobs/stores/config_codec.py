"""Reading a stored job's fields one by one, collecting problems instead of raising.

Job documents are edited by hand (the Firestore console, ``sqlite3`` on the
dev store), so reading one must never crash the tick: a wrong type or an
unreadable value becomes one line of the record's ``misconfigured`` reason,
naming the field, and the default stands in for it. The runtime skips
misconfigured jobs and reports them; every other job keeps running.

The Firestore and SQLite stores share these readers and :func:`decode_config`
/ :func:`encode_config`; they differ only in how an instant is stored (a native
timestamp, integer microseconds), which they pass in.

Only what cannot be read is flagged here. A readable but invalid value (a cron
that does not parse, an unknown time zone) is kept as stored by both stores and
left to the runtime's re-validation with the registration rules: ``zenjobs
status`` and the master tick name it, and ``zenjobs set`` can fix it in place
(docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar

from .records import JobConfig, RunStatus

T = TypeVar("T")
E = TypeVar("E", bound=Enum)

CONFIG_FIELDS = ("enabled", "cron", "interval_seconds", "timezone", "start_at", "end_at",
                 "skip_dates", "dependencies", "max_retries", "priority")


#: ``error_type`` of a run record that cannot be read: it loads as a final failure.
CORRUPT_RUN = "CorruptRunRecord"


class FieldProblem(ValueError):
    """One field's value cannot be used; the message says what was expected."""


# -- scalar readers: each returns the value or raises FieldProblem -------------------------

def describe(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def read_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise FieldProblem(f"expected a boolean, got {describe(value)}")
    return value


def read_int(value: object) -> int:
    """An integer; a whole float is accepted (the console may store numbers as doubles)."""
    if isinstance(value, bool):
        raise FieldProblem(f"expected an integer, got {describe(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise FieldProblem(f"expected an integer, got {describe(value)}")


def read_str(value: object) -> str:
    if not isinstance(value, str):
        raise FieldProblem(f"expected a string, got {describe(value)}")
    return value


def read_date(value: object) -> date:
    if not isinstance(value, str):
        raise FieldProblem(f"expected a date string YYYY-MM-DD, got {describe(value)}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FieldProblem(f"expected a date string YYYY-MM-DD, got {value!r}") from None


def read_list(item: Callable[[object], T]) -> Callable[[object], tuple[T, ...]]:
    def reader(value: object) -> tuple[T, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise FieldProblem(f"expected an array, got {describe(value)}")
        items = []
        for index, element in enumerate(value):
            try:
                items.append(item(element))
            except FieldProblem as exc:
                raise FieldProblem(f"item {index}: {exc}") from None
        return tuple(items)
    return reader


def optional(reader: Callable[[object], T]) -> Callable[[object], T | None]:
    def read(value: object) -> T | None:
        return None if value is None else reader(value)
    return read


def read_enum(kind: type[E]) -> Callable[[object], E]:
    """A member of ``kind`` given by its value (``"success"``)."""
    def read(value: object) -> E:
        text = read_str(value)
        try:
            return kind(text)
        except ValueError:
            allowed = ", ".join(str(member.value) for member in kind)
            raise FieldProblem(f"expected one of {allowed}, got {text!r}") from None
    return read


def read_completed_status(value: object) -> RunStatus:
    """A job's ``last_status``: only completed outcomes are ever written there."""
    status = read_enum(RunStatus)(value)
    if not status.is_completed:
        raise FieldProblem(f"expected success, failure or dead, got {status.value!r}")
    return status


@dataclass
class FieldReader:
    """Reads fields of one stored document, collecting problems instead of raising.

    ``kind`` names what a field is in the messages (``field 'cron': ...``);
    readers of one record's several parts share one ``problems`` list.
    """

    data: Mapping[str, Any]
    kind: str = "field"
    problems: list[str] = field(default_factory=list)

    def get(self, name: str, reader: Callable[[object], T], default: T) -> T:
        if name not in self.data:
            return default
        try:
            return reader(self.data[name])
        except FieldProblem as exc:
            self.problems.append(f"{self.kind} {name!r}: {exc}")
            return default

    def check(self, name: str, error: str | None) -> None:
        if error:
            self.problems.append(f"{self.kind} {name!r}: {error}")

    def unknown(self, known: frozenset[str]) -> None:
        for name in sorted(set(self.data) - known):
            self.problems.append(f"unknown {self.kind} {name!r}")


# -- the editable config ---------------------------------------------------------------------

def encode_config(config: JobConfig, instant: Callable[[datetime | None], Any]
                  ) -> dict[str, Any]:
    """The config's stored fields; ``instant`` stores ``start_at`` the store's way."""
    return {
        "enabled": config.enabled,
        "cron": config.cron,
        "interval_seconds": config.interval_seconds,
        "timezone": config.timezone,
        "start_at": instant(config.start_at),
        "end_at": None if config.end_at is None else config.end_at.isoformat(),
        "skip_dates": [d.isoformat() for d in config.skip_dates],
        "dependencies": list(config.dependencies),
        "max_retries": config.max_retries,
        "priority": config.priority,
    }


def decode_config(r: FieldReader, read_instant: Callable[[object], datetime]) -> JobConfig:
    """Read the config fields of ``r``: a wrong type is added to ``r.problems``.

    Only types are checked here: a readable but invalid value (a cron that does
    not parse, an unknown time zone) is kept as stored, for the runtime's
    re-validation to report and for an operator to fix in place.
    """
    defaults = JobConfig()
    return JobConfig(
        enabled=r.get("enabled", read_bool, defaults.enabled),
        cron=r.get("cron", optional(read_str), None),
        interval_seconds=r.get("interval_seconds", optional(read_int), None),
        timezone=r.get("timezone", read_str, defaults.timezone),
        start_at=r.get("start_at", optional(read_instant), None),
        end_at=r.get("end_at", optional(read_date), None),
        skip_dates=r.get("skip_dates", read_list(read_date), ()),
        dependencies=r.get("dependencies", read_list(read_str), ()),
        max_retries=r.get("max_retries", read_int, defaults.max_retries),
        priority=r.get("priority", read_int, defaults.priority),
    )
