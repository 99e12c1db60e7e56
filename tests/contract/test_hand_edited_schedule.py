"""A hand-edited bad cron loads on every persistent store and ``zenjobs set`` fixes it.

The stores flag only what they cannot read; a readable but invalid value (here
a cron that does not parse) is kept as stored, reported by ``zenjobs status``
naming the field, and fixable in place with ``ops.set_schedule`` (the library
side of ``zenjobs set``), the same on SQLite and Firestore (docs/operations.md).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.ops.ops_registry import jobs
from zenjobs import ops
from zenjobs.stores.protocol import JobStore

from .conftest import PERSISTENT_BACKENDS, close_store, make_store

NOW = datetime(2026, 3, 2, 10, 17, tzinfo=timezone.utc)
BAD_CRON = "61 * * * *"


async def hand_edit_cron(backend: str, store: JobStore, tmp_path: Path, job_id: str,
                         cron: str) -> None:
    """Write ``cron`` into the job's stored config behind the store's back."""
    if backend == "sqlite":
        path = tmp_path / "zenjobs" / "store.sqlite3"
        with sqlite3.connect(path) as raw:
            (text,) = raw.execute("SELECT config FROM jobs WHERE job_id = ?",
                                  (job_id,)).fetchone()
            config = json.loads(text)
            config["cron"] = cron
            raw.execute("UPDATE jobs SET config = ? WHERE job_id = ?",
                        (json.dumps(config), job_id))
        raw.close()
    elif backend == "firestore":
        from zenjobs.stores.firestore.store import FirestoreJobStore

        assert isinstance(store, FirestoreJobStore)
        await store.client().collection(store.collection).document(job_id).update(
            {"cron": cron})
    else:
        raise ValueError(f"no hand edit for backend {backend!r}")


@pytest.mark.parametrize("backend", PERSISTENT_BACKENDS)
async def test_a_bad_cron_loads_is_reported_and_set_fixes_it(backend: str,
                                                             tmp_path: Path) -> None:
    store = make_store(backend, tmp_path)
    try:
        await ops.sync(jobs, store, NOW)
        await hand_edit_cron(backend, store, tmp_path, "nightly", BAD_CRON)
    finally:
        await close_store(store)

    store = make_store(backend, tmp_path)
    try:
        loaded = await store.get_job("nightly")
        [before] = await ops.status(jobs, store, NOW, job="nightly")
        change = await ops.set_schedule(jobs, store, "nightly", NOW, cron="0 5 * * *")
        fixed = await store.get_job("nightly")
        [after] = await ops.status(jobs, store, NOW, job="nightly")
    finally:
        await close_store(store)

    assert loaded is not None and loaded.misconfigured is None
    assert loaded.config.cron == BAD_CRON
    assert "job 'nightly', field 'cron'" in str(before.misconfigured)
    assert change.before == f"cron '{BAD_CRON}' in Europe/Berlin"
    assert change.after == "cron '0 5 * * *' in Europe/Berlin"
    assert fixed is not None and fixed.config.cron == "0 5 * * *"
    assert fixed.next_run_at == datetime(2026, 3, 3, 4, 0, tzinfo=timezone.utc)  # 05:00 CET
    assert after.misconfigured is None
