"""Firestore-only promises checked in the store review: run retention (TTL) at every step.

``expire_at`` is what Firestore's TTL policy deletes by. A finished run keeps
``run_retention`` after it finished; a run that is still waiting (pending,
running, retry scheduled, reopened) is never due for deletion before
``run_retention`` after the latest instant it waits for.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from zenjobs.stores.firestore.store import FirestoreJobStore
from zenjobs.stores.records import JobConfig, LeaseOutcome, RunRecord, RunResult, RunStatus, Trigger

if TYPE_CHECKING:
    from google.cloud.firestore import AsyncClient

UTC = timezone.utc
NOW = datetime(2026, 3, 1, 12, 0, 0, 250_001, tzinfo=UTC)
DAY = timedelta(days=1)
RETENTION = timedelta(days=30)


async def stored(raw_client: AsyncClient, execution_id: str) -> dict[str, Any]:
    data = (await raw_client.document(f"jobs/job/runs/{execution_id}").get()).to_dict()
    assert data is not None
    return data


async def test_expire_at_follows_the_run_through_its_life(
        firestore_store: FirestoreJobStore, raw_client: AsyncClient) -> None:
    store = firestore_store
    later = NOW + 20 * DAY  # an endpoint run scheduled weeks ahead
    assert await store.create_run(RunRecord("job", "e", Trigger.ENDPOINT, later, created_at=NOW))
    assert (await stored(raw_client, "e"))["expire_at"] == later + RETENTION

    lease = await store.acquire_lease("job", "e", 1, "h", later, later + 45 * DAY)
    assert lease.outcome is LeaseOutcome.ACQUIRED  # a long lease outlives the schedule
    assert (await stored(raw_client, "e"))["expire_at"] == later + 45 * DAY + RETENTION

    retry_at = later + 60 * DAY
    await store.finish_attempt("job", "e", "h", RunResult(
        RunStatus.RETRY_SCHEDULED, finished_at=later + DAY, next_attempt_at=retry_at))
    assert (await stored(raw_client, "e"))["expire_at"] == retry_at + RETENTION

    await store.acquire_lease("job", "e", 2, "h", retry_at, retry_at + DAY)
    end = retry_at + DAY / 2
    await store.finish_attempt("job", "e", "h", RunResult(RunStatus.DEAD, finished_at=end))
    assert (await stored(raw_client, "e"))["expire_at"] == end + RETENTION

    replay_at = end + 90 * DAY
    reopened = await store.reopen_run("job", "e", replay_at)
    assert reopened is not None and reopened.status is RunStatus.PENDING
    assert (await stored(raw_client, "e"))["expire_at"] == replay_at + RETENTION


async def test_a_skipped_run_expires_after_it_finished(
        firestore_store: FirestoreJobStore, raw_client: AsyncClient) -> None:
    skip_at = NOW + DAY
    assert await firestore_store.create_run(RunRecord("job", "s", Trigger.SCHEDULE, NOW))
    assert await firestore_store.record_skip(RunRecord(
        "job", "s", Trigger.SCHEDULE, NOW, status=RunStatus.SKIPPED_DEPENDENCY_FAILED,
        finished_at=skip_at))
    assert (await stored(raw_client, "s"))["expire_at"] == skip_at + RETENTION


async def test_rewriting_the_config_drops_hand_edited_typos(
        firestore_store: FirestoreJobStore, raw_client: AsyncClient) -> None:
    """``zenjobs sync --reset`` (update_job with a config) restores a flagged document.

    On SQLite the config is one JSON column, so rewriting it drops an unknown
    config field; the Firestore document must be restored alike: fields no
    version of zenjobs writes are removed and ``job_id`` is put right.
    """
    store = firestore_store
    await store.ensure_job("job", JobConfig(max_retries=1), NOW, NOW)
    await raw_client.document("jobs/job").update({
        "enabeld": False, "job_id": "other", "max_retries": "three", "notes.owner": "ops"})
    await raw_client.document("jobs/job").update({"`odd.name`": 1})
    flagged = await store.get_job("job")
    assert flagged is not None and flagged.misconfigured is not None
    assert "enabeld" in flagged.misconfigured and "odd.name" in flagged.misconfigured

    restored = await store.update_job("job", config=JobConfig(max_retries=2), next_run_at=NOW,
                                      misconfigured=None, now=NOW)
    assert restored.misconfigured is None and restored.config.max_retries == 2
    assert await store.get_job("job") == restored
    data = (await raw_client.document("jobs/job").get()).to_dict()
    assert data is not None and data["job_id"] == "job"
    assert not {"enabeld", "notes", "odd.name"} & set(data)


class OneDocument:
    """Stands in for ``firestore.AsyncClient`` holding one job document.

    Each commit answers the next error of ``commit_errors`` (None: the batch is
    applied), so tests can give a compare-and-set the answers production gives
    under contention or an outage, which the emulator never does.
    """

    def __init__(self, data: dict[str, Any], commit_errors: list[Exception | None]) -> None:
        self.data = data
        self.version = 0
        self.commit_errors = commit_errors
        self.commits = 0
        self.pending: list[dict[str, Any]] = []

    def collection(self, _name: str) -> OneDocument:
        return self

    def document(self, _name: str) -> OneDocument:
        return self

    async def get(self, **_options: object) -> Any:
        data, version = dict(self.data), self.version

        class Snapshot:
            exists = True
            update_time = version

            def to_dict(self) -> dict[str, Any]:
                return data

        return Snapshot()

    def write_option(self, **_options: object) -> None:
        return None

    def batch(self) -> OneDocument:
        self.pending = []
        return self

    def update(self, _ref: object, data: dict[str, Any], option: object = None) -> None:
        self.pending.append(data)

    async def commit(self, **_options: object) -> None:
        self.commits += 1
        error = self.commit_errors.pop(0)
        if error is not None:
            raise error
        for data in self.pending:
            self.data.update(data)
        self.version += 1


def one_job_store(commit_errors: list[Exception | None]) -> tuple[FirestoreJobStore, OneDocument]:
    from zenjobs.stores.firestore import codec as codec
    from zenjobs.stores.records import JobRecord

    client = OneDocument(codec.encode_job(JobRecord("job", JobConfig(), next_run_at=NOW)),
                         commit_errors)
    fake: Any = client
    return FirestoreJobStore("zj-fake", client_factory=lambda: fake), client


async def test_a_commit_aborted_by_contention_is_read_and_decided_again() -> None:
    """ABORTED means the batch was not applied: safe to re-read, unlike an unknown outcome."""
    from google.api_core import exceptions as gexc

    store, client = one_job_store([gexc.Aborted("Too much contention"), None])  # type: ignore[no-untyped-call]
    assert await store.claim_slot("job", NOW, NOW + DAY, NOW)
    assert client.commits == 2 and client.data["next_run_at"] == NOW + DAY


async def test_a_commit_with_an_unknown_outcome_is_reported_not_replayed() -> None:
    from google.api_core import exceptions as gexc

    from zenjobs.errors import BackendUnavailableError

    store, client = one_job_store([gexc.DeadlineExceeded("slow"), None])  # type: ignore[no-untyped-call]
    with pytest.raises(BackendUnavailableError, match="claim_slot"):
        await store.claim_slot("job", NOW, NOW + DAY, NOW)
    assert client.commits == 1
