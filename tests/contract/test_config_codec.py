"""The config readers shared by the Firestore and SQLite stores (pure functions)."""

from __future__ import annotations

from datetime import datetime, timezone

from zenjobs.stores import config_codec as cc
from zenjobs.stores.firestore import codec as firestore_codec
from zenjobs.stores.records import JobConfig
from zenjobs.stores.sqlite.schema import config_json, read_micros

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
        assert r.problems == [], store


def test_only_types_are_read_registration_rules_are_left_to_the_runtime() -> None:
    data = {"cron": "61 * * * *", "interval_seconds": 10**20, "max_retries": "3",
            "timezone": "Mars/Base"}
    for store, reader in (("firestore", firestore_codec.read_instant), ("sqlite", read_micros)):
        r = cc.FieldReader(data, kind="config field")
        config = cc.decode_config(r, reader)
        assert r.problems == ["config field 'max_retries': expected an integer, got str '3'"]
        assert config.max_retries == JobConfig().max_retries, store
        # Readable but invalid: kept as stored, for status/tick to report and `set` to fix.
        assert (config.cron, config.interval_seconds, config.timezone) == (
            "61 * * * *", 10**20, "Mars/Base"), store
