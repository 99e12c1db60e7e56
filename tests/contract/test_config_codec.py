"""The config readers shared by the Firestore and SQLite stores (pure functions)."""

from __future__ import annotations

from datetime import datetime, timezone

from zenjobs.backends import config_codec as cc
from zenjobs.backends.base import JobConfig
from zenjobs.backends.gcp import firestore_codec
from zenjobs.backends.sqlite_schema import config_json, read_micros

START = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
CONFIG = JobConfig(cron="0 3 * * *", timezone="Europe/Berlin", start_at=START, max_retries=1,
                   dependencies=("a",), priority=-2)


def test_both_encodings_round_trip_through_the_shared_reader() -> None:
    import json

    stored = {"firestore": firestore_codec.encode_config(CONFIG),
              "sqlite": json.loads(config_json(CONFIG))}
    readers = {"firestore": firestore_codec.read_instant, "sqlite": read_micros}
    for store, data in stored.items():
        r = cc.FieldReader(data)
        assert cc.decode_config(r, readers[store]) == CONFIG, store
        cc.check_config_rules(r, CONFIG)
        assert r.problems == [], store


def test_types_are_read_apart_from_the_registration_rules() -> None:
    data = {"cron": "61 * * * *", "interval_seconds": 10**20, "max_retries": "3"}
    r = cc.FieldReader(data, kind="config field")
    config = cc.decode_config(r, read_micros)
    assert r.problems == ["config field 'max_retries': expected an integer, got str '3'"]
    assert config.cron == "61 * * * *" and config.max_retries == JobConfig().max_retries

    cc.check_config_rules(r, config)
    assert r.problems[1].startswith("config field 'cron': '61 * * * *' does not parse")
    assert r.problems[2] == f"config field 'interval_seconds': out of range: {10**20}s"
    assert r.problems[3] == "config field 'interval_seconds': a job takes a cron or an " \
                            "interval, not both"
