"""The operations on the Firestore store, against Google's Firestore emulator.

A hand-edited document with wrong types and an unknown time zone must show up
as misconfigured in ``zenjobs status`` (item 6 of the production issue), sync
must leave it alone, and ``sync --reset`` must repair it. The store flags only
the ill-typed field; the unknown time zone is readable, so (as on SQLite)
status names it once the type is fixed, and ``zenjobs set`` can fix it in place.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from click.testing import CliRunner

from tests.ops.ops_registry import jobs
from zenjobs import ops
from zenjobs.cli import main
from zenjobs.stores.firestore.store import FirestoreJobStore

if TYPE_CHECKING:
    from google.cloud.firestore import AsyncClient

NOW = datetime(2026, 3, 2, 10, 17, tzinfo=timezone.utc)
REGISTRY = "tests.ops.ops_registry:jobs"


async def test_a_hand_edited_document_is_reported_kept_by_sync_and_repaired_by_reset(
        firestore_store: FirestoreJobStore, raw_client: AsyncClient) -> None:
    await ops.sync(jobs, firestore_store, NOW)
    await raw_client.collection("jobs").document("nightly").update(
        {"timezone": "Mars/Base", "max_retries": "three"})

    statuses = {s.job_id: s for s in await ops.status(jobs, firestore_store, NOW)}
    kept = await ops.sync(jobs, firestore_store, NOW)
    still = await ops.status(jobs, firestore_store, NOW, job="nightly")
    repaired = await ops.sync(jobs, firestore_store, NOW, reset=["nightly"])
    after = await ops.status(jobs, firestore_store, NOW, job="nightly")

    reason = str(statuses["nightly"].misconfigured)
    assert "'max_retries'" in reason and "'timezone'" not in reason  # the store's reason
    assert [s.job_id for s in statuses.values() if s.misconfigured] == ["nightly"]
    assert kept.created == () and "nightly" in kept.unchanged
    assert still[0].misconfigured == statuses["nightly"].misconfigured
    assert repaired.reset == ("nightly",)
    assert after[0].misconfigured is None and after[0].config.timezone == "Europe/Berlin"


async def test_a_readable_but_invalid_zone_is_reported_by_status_and_fixed_by_set(
        firestore_store: FirestoreJobStore, raw_client: AsyncClient) -> None:
    await ops.sync(jobs, firestore_store, NOW)
    await raw_client.collection("jobs").document("nightly").update({"timezone": "Mars/Base"})

    record = await firestore_store.get_job("nightly")
    [before] = await ops.status(jobs, firestore_store, NOW, job="nightly")
    change = await ops.set_schedule(jobs, firestore_store, "nightly", NOW,
                                    timezone="Europe/Berlin")
    [after] = await ops.status(jobs, firestore_store, NOW, job="nightly")

    assert record is not None and record.misconfigured is None
    assert record.config.timezone == "Mars/Base"
    assert "job 'nightly', field 'timezone'" in str(before.misconfigured)
    assert change.changed and change.after == "cron '30 2 * * *' in Europe/Berlin"
    assert after.misconfigured is None and after.next_run_at is not None


def test_cli_on_a_firestore_store(firestore_emulator: str, firestore_project: str) -> None:
    env = {"FIRESTORE_EMULATOR_HOST": firestore_emulator, "ZENJOBS_STORE": None,
           "ZENJOBS_PROJECT": None, "GOOGLE_CLOUD_PROJECT": None}
    where = ["--registry", REGISTRY, "--store", "firestore:ops", "--project", firestore_project]

    def zj(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, [*args, *where], env=env)
        return result.exit_code, result.stdout + result.stderr

    synced = zj("sync")
    disabled = zj("disable", "hourly")
    bad = zj("set", "nightly", "--timezone", "Mars/Base")
    code, text = zj("status", "hourly", "--json")

    assert synced[0] == 0 and "sync: 6 created" in synced[1]
    assert synced[1].rstrip().endswith("in firestore:ops")
    assert disabled == (0, f"store: firestore:ops (project {firestore_project}; from --store)\n"
                           "disabled hourly (was enabled)\n")
    assert bad[0] == 1 and bad[1].startswith("error: job 'nightly', field 'timezone'")
    assert code == 0
    data = json.loads(text)
    assert (data["store"], data["project"]) == ("firestore:ops", firestore_project)
    [hourly] = data["jobs"]
    assert hourly["config"]["enabled"] is False and hourly["misconfigured"] is None
