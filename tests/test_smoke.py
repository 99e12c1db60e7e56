"""The example registry loads and validates: the floor everything else stands on."""

from __future__ import annotations

from datetime import datetime, timezone

from zenjobs.schedule import format_instant, next_fire


def test_example_registry_validates_and_fires() -> None:
    from examples.newsletter.jobs import jobs

    jobs.validate()
    report = jobs.get("nightly_report")
    # 02:30 Berlin does not exist on 2026-03-29: it fires at the end of the gap.
    fire = next_fire(report, datetime(2026, 3, 28, 12, 0, tzinfo=timezone.utc))
    assert fire is not None
    assert format_instant(fire) == "2026-03-29T01:00:00Z"
