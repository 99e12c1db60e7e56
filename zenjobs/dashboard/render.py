"""Templates and the filters they use: instants in a zone, in UTC and relative to now.

The pages are server-rendered jinja2 with autoescaping on, readable without
JavaScript; the vendored htmx (``static/``) only adds live refresh and the
schedule preview.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from ..schedule import format_instant, zone
from ..stores.records import RunCursor
from .forms import cursor_text


def relative(instant: datetime | None, now: datetime) -> str:
    """``in 4 min``, ``3 h ago``, ``now``: how far ``instant`` is from ``now``."""
    if instant is None:
        return ""
    seconds = int((instant - now).total_seconds())
    future = seconds > 0
    seconds = abs(seconds)
    if seconds < 5:
        return "now"
    count, unit = seconds, "s"
    for size, name in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            count, unit = round(seconds / size), name
            break
    return f"in {count} {unit}" if future else f"{count} {unit} ago"


def in_zone(instant: datetime | None, tz_name: str) -> str:
    """``2026-03-29 03:00 CEST`` in the job's zone ("" for None)."""
    if instant is None:
        return ""
    try:
        local = instant.astimezone(zone(tz_name))
    except Exception:  # a misconfigured document's zone: show UTC rather than fail the page
        local = instant.astimezone(timezone.utc)
    return local.strftime("%Y-%m-%d %H:%M %Z")


def utc(instant: datetime | None) -> str:
    return "" if instant is None else format_instant(instant)


def shown(value: Any) -> str:
    """A config or edit value as the pages print it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ", ".join(shown(v) for v in value) if value else "—"
    return str(value)


def duration(ms: int | None) -> str:
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms} ms"
    return str(timedelta(seconds=round(ms / 1000))) if ms >= 60_000 else f"{ms / 1000:.1f} s"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def cursor_param(cursor: RunCursor | None) -> str:
    return "" if cursor is None else cursor_text(cursor)


def environment() -> Environment:
    env = Environment(loader=PackageLoader("zenjobs.dashboard", "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters.update(in_zone=in_zone, utc=utc, shown=shown, duration=duration,
                       pretty_json=pretty_json, cursor=cursor_param)
    env.globals["relative"] = relative
    return env
