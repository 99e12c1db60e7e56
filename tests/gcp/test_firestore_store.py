"""FirestoreJobStore against Google's Firestore emulator, plus its codec on raw documents.

What is proved here and nowhere else: the document layout (native
timestamps, TTL field), the cost of the due query (reads grow with due jobs,
not registered jobs), hand-edited bad documents loading as misconfigured jobs,
real transactions under contention, and transport errors surfacing as
BackendUnavailableError. Shared semantics are also covered by the store
contract suite (tests/contract) when it runs over Firestore.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from tests.emulators.process import free_port
from zenjobs.errors import BackendUnavailableError, UnknownJobError
from zenjobs.stores.firestore import codec as codec
from zenjobs.stores.firestore.store import FirestoreJobStore
from zenjobs.stores.records import JobConfig, LeaseOutcome, RunRecord, RunResult, RunStatus, Trigger

if TYPE_CHECKING:
    from google.cloud.firestore import AsyncClient

UTC = timezone.utc
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
PERIODIC = JobConfig(interval_seconds=300)


def run_record(job_id: str = "report", execution_id: str = "report-1", **changes: Any) -> RunRecord:
    base = RunRecord(job_id=job_id, execution_id=execution_id, trigger=Trigger.SCHEDULE,
                     scheduled_for=NOW, created_at=NOW)
    return base.evolve(**changes)


async def seed(client: AsyncClient, count: int, *, due: int, now: datetime) -> None:
    """``count`` periodic jobs, the first ``due`` of them due at ``now``, in batches of 500."""
    from zenjobs.stores.records import JobRecord

    jobs = client.collection("jobs")
    for start in range(0, count, 500):
        batch = client.batch()
        for i in range(start, min(count, start + 500)):
            next_run_at = now - MINUTE * (i + 1) if i < due else now + timedelta(hours=1 + i)
            record = JobRecord(job_id=f"job-{i:05d}", config=PERIODIC, next_run_at=next_run_at)
            batch.set(jobs.document(record.job_id), codec.encode_job(record))
        await batch.commit()


# -- import discipline ---------------------------------------------------------------------

def test_importing_the_store_does_not_import_google_cloud() -> None:
    code = ("import sys, zenjobs.stores.firestore.store, zenjobs.gcp.clients, zenjobs.gcp.errors; "
            "loaded = [m for m in sys.modules if m.startswith(('google.cloud', 'grpc'))]; "
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- job documents --------------------------------------------------------------------------

async def test_ensure_job_creates_once_with_native_timestamps(
        firestore_store: FirestoreJobStore, raw_client: AsyncClient) -> None:
    config = JobConfig(cron="0 6 * * *", timezone="Europe/Paris", start_at=NOW,
                       end_at=date(2026, 12, 31), skip_dates=(date(2026, 5, 1),),
                       dependencies=("extract",), max_retries=5, priority=2)
    job, created = await firestore_store.ensure_job("report", config, NOW + MINUTE, NOW)
    assert created and job.config == config and job.next_run_at == NOW + MINUTE

    again, created_again = await firestore_store.ensure_job("report", JobConfig(), None, NOW)
    assert not created_again and again == job  # runtime-edited fields win over defaults

    raw = (await raw_client.collection("jobs").document("report").get()).to_dict()
    assert raw is not None
    assert isinstance(raw["next_run_at"], datetime) and raw["next_run_at"] == NOW + MINUTE
    assert isinstance(raw["start_at"], datetime)
    assert raw["end_at"] == "2026-12-31" and raw["skip_dates"] == ["2026-05-01"]
    assert await firestore_store.get_job("report") == job


async def test_update_job_writes_only_what_it_is_given(
        firestore_store: FirestoreJobStore) -> None:
    await firestore_store.ensure_job("report", PERIODIC, NOW, NOW)
    later = NOW + timedelta(hours=1)
    job = await firestore_store.update_job("report", misconfigured="dependency 'x' missing",
                                           now=later)
    assert job.next_run_at == NOW and job.config == PERIODIC
    assert job.misconfigured == "dependency 'x' missing" and job.updated_at == later
    job = await firestore_store.update_job("report", config=JobConfig(enabled=False),
                                           next_run_at=None, misconfigured=None, now=later)
    assert job.config == JobConfig(enabled=False) and job.next_run_at is None
    assert await firestore_store.get_job("report") == job
    with pytest.raises(UnknownJobError):
        await firestore_store.update_job("nobody", next_run_at=None, now=NOW)


# -- due jobs -------------------------------------------------------------------------------

async def test_due_jobs_filters_and_orders_by_priority_then_time(
        firestore_store: FirestoreJobStore) -> None:
    jobs = {
        "low-old": (JobConfig(interval_seconds=60, priority=0), NOW - 3 * MINUTE),
        "high-new": (JobConfig(interval_seconds=60, priority=5), NOW),
        "high-old": (JobConfig(interval_seconds=60, priority=5), NOW - MINUTE),
        "disabled": (JobConfig(enabled=False, interval_seconds=60, priority=9), NOW - MINUTE),
        "future": (JobConfig(interval_seconds=60, priority=9), NOW + MINUTE),
        "endpoint": (JobConfig(priority=9), None),
    }
    for job_id, (config, next_run_at) in jobs.items():
        await firestore_store.ensure_job(job_id, config, next_run_at, NOW)
    due = await firestore_store.due_jobs(NOW, limit=10)
    assert [j.job_id for j in due] == ["high-old", "high-new", "low-old"]
    # More due than the batch: priority still decides, not age.
    batch = await firestore_store.due_jobs(NOW, limit=2)
    assert [j.job_id for j in batch] == ["high-old", "high-new"]
    assert await firestore_store.due_jobs(NOW, limit=0) == []


@pytest.mark.parametrize("limit", [10, 50])
async def test_due_query_reads_grow_with_due_jobs_not_registered_jobs(
        firestore_emulator: str, limit: int) -> None:
    """10 due among 10 and 10 due among 1,000 cost the same reads per due_jobs call."""
    import uuid

    from google.cloud import firestore

    reads: dict[int, int] = {}
    for registered in (10, 1000):
        project = f"zj-reads-{uuid.uuid4().hex[:8]}"
        client = firestore.AsyncClient(project=project)
        store = FirestoreJobStore(project=project)
        try:
            await seed(client, registered, due=10, now=NOW)
            due = await store.due_jobs(NOW, limit=limit)
            assert len(due) == 10
            reads[registered] = store.reads_by_operation["due_jobs"]
        finally:
            await store.close()
            await client._firestore_api.transport.close()
            from tests.emulators.firestore import reset

            reset(firestore_emulator, project)
    assert reads[10] == reads[1000]
    # One page when it holds every due job; a full page is re-read in priority order.
    assert reads[1000] == (10 if limit > 10 else 20)


# -- claims and leases under contention ----------------------------------------------------

async def test_twenty_concurrent_claims_of_one_slot_have_one_winner(
        firestore_store: FirestoreJobStore, firestore_project: str) -> None:
    await firestore_store.ensure_job("report", PERIODIC, NOW, NOW)
    other = FirestoreJobStore(project=firestore_project)  # a second instance, own channel
    try:
        stores = [firestore_store, other]
        results = await asyncio.gather(*(
            stores[i % 2].claim_slot("report", NOW, NOW + 5 * MINUTE, NOW) for i in range(20)))
    finally:
        await other.close()
    assert results.count(True) == 1
    job = await firestore_store.get_job("report")
    assert job is not None and job.next_run_at == NOW + 5 * MINUTE


async def test_thirty_concurrent_leases_have_one_holder_and_the_rest_held(
        firestore_store: FirestoreJobStore, firestore_project: str) -> None:
    assert await firestore_store.create_run(run_record())
    other = FirestoreJobStore(project=firestore_project)
    try:
        stores = [firestore_store, other]
        results = await asyncio.gather(*(
            stores[i % 2].acquire_lease("report", "report-1", 1, f"holder-{i}", NOW,
                                        NOW + 5 * MINUTE) for i in range(30)))
    finally:
        await other.close()
    outcomes = [r.outcome for r in results]
    assert outcomes.count(LeaseOutcome.ACQUIRED) == 1
    assert outcomes.count(LeaseOutcome.HELD) == 29
    winner = next(r for r in results if r.outcome is LeaseOutcome.ACQUIRED)
    stored = await firestore_store.get_run("report", "report-1")
    assert stored is not None and winner.run is not None
    assert stored.lease_holder == winner.run.lease_holder and stored.status is RunStatus.RUNNING


# -- run lifecycle --------------------------------------------------------------------------

async def test_run_lifecycle_writes_last_status_and_ttl_in_the_same_step(
        firestore_store: FirestoreJobStore, raw_client: AsyncClient) -> None:
    await firestore_store.ensure_job("report", PERIODIC, NOW, NOW)
    assert await firestore_store.create_run(run_record(payload={"rows": [[1, 2], [3]]}))
    assert not await firestore_store.create_run(run_record(payload="other"))

    lease = await firestore_store.acquire_lease("report", "report-1", 1, "a", NOW, NOW + MINUTE)
    assert lease.outcome is LeaseOutcome.ACQUIRED
    retry = RunResult(RunStatus.RETRY_SCHEDULED, finished_at=NOW + MINUTE / 2, duration_ms=30000,
                      error_type="ValueError", error_message="boom", next_attempt=2,
                      next_attempt_at=NOW + 2 * MINUTE)
    retried = await firestore_store.finish_attempt("report", "report-1", "a", retry)
    assert retried is not None and retried.attempt == 2 and retried.lease_holder is None
    job = await firestore_store.get_job("report")
    assert job is not None and job.last_status is None  # retries never write last_status

    # The crashed holder "b" lets its lease expire; "c" takes over at attempt 3.
    later = NOW + 3 * MINUTE
    held = await firestore_store.acquire_lease("report", "report-1", 2, "b", later, later + MINUTE)
    assert held.outcome is LeaseOutcome.ACQUIRED
    taken = await firestore_store.acquire_lease("report", "report-1", 2, "c", later + 2 * MINUTE,
                                                later + 3 * MINUTE)
    assert taken.outcome is LeaseOutcome.ACQUIRED and taken.taken_over
    assert taken.run is not None and taken.run.attempt == 3
    assert await firestore_store.finish_attempt(
        "report", "report-1", "b", RunResult(RunStatus.SUCCESS, finished_at=later)) is None

    finished_at = later + 4 * MINUTE
    done = await firestore_store.finish_attempt(
        "report", "report-1", "c", RunResult(RunStatus.SUCCESS, finished_at=finished_at))
    assert done is not None and done.status is RunStatus.SUCCESS
    assert done.payload == {"rows": [[1, 2], [3]]}
    job = await firestore_store.get_job("report")
    assert job is not None and job.last_status is RunStatus.SUCCESS
    assert job.last_execution_id == "report-1" and job.last_run_at == finished_at
    again = await firestore_store.acquire_lease("report", "report-1", 3, "d", finished_at,
                                                finished_at + MINUTE)
    assert again.outcome is LeaseOutcome.FINISHED

    raw = (await raw_client.document("jobs/report/runs/report-1").get()).to_dict()
    assert raw is not None and raw["expire_at"] == finished_at + timedelta(days=30)


async def test_skips_never_touch_last_status_and_replay_reopens_dead_runs(
        firestore_store: FirestoreJobStore) -> None:
    await firestore_store.ensure_job("report", PERIODIC, NOW, NOW)
    skip = run_record(execution_id="report-skip", status=RunStatus.SKIPPED_DISABLED,
                      finished_at=NOW)
    assert await firestore_store.record_skip(skip)
    assert not await firestore_store.record_skip(skip)  # already final
    job = await firestore_store.get_job("report")
    assert job is not None and job.last_status is None

    assert await firestore_store.create_run(run_record())
    await firestore_store.acquire_lease("report", "report-1", 1, "a", NOW, NOW + MINUTE)
    dead = await firestore_store.finish_attempt(
        "report", "report-1", "a",
        RunResult(RunStatus.DEAD, finished_at=NOW + MINUTE, error_type="E", error_message="x"))
    assert dead is not None
    reopened = await firestore_store.reopen_run("report", "report-1", NOW + 2 * MINUTE)
    assert reopened is not None and reopened.status is RunStatus.PENDING
    assert reopened.attempt == 2
    assert await firestore_store.reopen_run("report", "report-skip", NOW) is None
    runs = await firestore_store.list_runs("report", 10)
    assert {r.execution_id for r in runs} == {"report-1", "report-skip"}


async def test_list_runs_is_most_recent_first(firestore_store: FirestoreJobStore) -> None:
    for i in range(5):
        await firestore_store.create_run(run_record(execution_id=f"report-{i}",
                                                    created_at=NOW + i * MINUTE))
    runs = await firestore_store.list_runs("report", 3)
    assert [r.execution_id for r in runs] == ["report-4", "report-3", "report-2"]


# -- hand-edited documents ------------------------------------------------------------------

BAD_DOCUMENTS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "bad-types": ({"enabled": "yes", "max_retries": "three", "skip_dates": ["soon"]},
                  ["field 'enabled'", "field 'max_retries'", "field 'skip_dates'"]),
    "bad-instant": ({"interval_seconds": 90, "start_at": "2026-01-01T00:00:00Z"},
                    ["field 'start_at'"]),
    "typo": ({"enabeld": False, "interval_seconds": 60}, ["unknown field 'enabeld'"]),
}
#: Readable but invalid: kept as stored (as on SQLite) for status and the tick to report.
INVALID_DOCUMENTS: dict[str, dict[str, Any]] = {
    "bad-cron": {"cron": "61 * * * *"},
    "bad-zone": {"cron": "0 6 * * *", "timezone": "Mars/Olympus"},
}


async def test_hand_edited_bad_documents_load_as_misconfigured_jobs(
        firestore_store: FirestoreJobStore, raw_client: AsyncClient) -> None:
    jobs = raw_client.collection("jobs")
    for job_id, fields in [*((j, f) for j, (f, _) in BAD_DOCUMENTS.items()),
                           *INVALID_DOCUMENTS.items()]:
        await jobs.document(job_id).set({"enabled": True, "next_run_at": NOW, **fields})
    await firestore_store.ensure_job("good", PERIODIC, NOW, NOW)

    for job_id, (_, expected) in BAD_DOCUMENTS.items():
        job = await firestore_store.get_job(job_id)
        assert job is not None and job.misconfigured is not None, job_id
        for fragment in expected:
            assert fragment in job.misconfigured, (job_id, job.misconfigured)
    bad_instant = await firestore_store.get_job("bad-instant")
    assert bad_instant is not None and "interval_seconds" not in str(bad_instant.misconfigured)
    for job_id, fields in INVALID_DOCUMENTS.items():
        job = await firestore_store.get_job(job_id)
        assert job is not None and job.misconfigured is None, job_id
        assert (job.config.cron, job.config.timezone) == (
            fields["cron"], fields.get("timezone", "UTC")), job_id
    listed = {job.job_id: job for job in await firestore_store.list_jobs()}
    assert listed["good"].misconfigured is None and len(listed) == 6
    due = {job.job_id: job.misconfigured for job in await firestore_store.due_jobs(NOW, 50)}
    assert due["good"] is None and due["bad-cron"] is None and "bad-zone" in due
    assert due["typo"] is not None
    assert "bad-types" not in due  # enabled is not the boolean true


async def test_corrupt_run_record_reads_as_a_final_failure(
        firestore_store: FirestoreJobStore, raw_client: AsyncClient) -> None:
    await raw_client.document("jobs/report/runs/report-1").set(
        {"status": "exploded", "attempt": "1", "scheduled_for": NOW, "trigger": "schedule"})
    run = await firestore_store.get_run("report", "report-1")
    assert run is not None and run.status is RunStatus.FAILURE
    assert run.error_type == codec.CORRUPT_RUN and run.error_message is not None
    assert "field 'status'" in run.error_message
    lease = await firestore_store.acquire_lease("report", "report-1", 1, "a", NOW, NOW + MINUTE)
    assert lease.outcome is LeaseOutcome.FINISHED


def test_codec_round_trips_a_job_and_reports_fields_by_name() -> None:
    from zenjobs.stores.records import JobRecord

    job = JobRecord(job_id="report", config=JobConfig(cron="*/5 * * * *", priority=-1),
                    next_run_at=NOW, last_status=RunStatus.DEAD, updated_at=NOW)
    assert codec.decode_job("report", codec.encode_job(job)) == job
    bad = codec.decode_job("report", {**codec.encode_job(job), "last_status": "running",
                                      "job_id": "other", "priority": 1.5})
    assert bad.misconfigured is not None
    for fragment in ("field 'last_status'", "field 'job_id'", "field 'priority'"):
        assert fragment in bad.misconfigured


# -- transport errors -----------------------------------------------------------------------

async def test_unreachable_firestore_is_backend_unavailable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    store = FirestoreJobStore(project="zj-nowhere", rpc_timeout=1.0)
    try:
        with pytest.raises(BackendUnavailableError):
            await store.get_job("report")
        with pytest.raises(BackendUnavailableError):
            await store.claim_slot("report", NOW, None, NOW)
        with pytest.raises(BackendUnavailableError):
            await store.due_jobs(NOW, 10)
    finally:
        await store.close()


# -- the emulator fixture fails loudly --------------------------------------------------------

def test_missing_java_or_jar_is_an_error_not_a_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.emulators.firestore import EmulatorError, find_jar, find_java

    monkeypatch.setenv("FIRESTORE_EMULATOR_JAR", "/nonexistent/cloud-firestore-emulator.jar")
    with pytest.raises(EmulatorError, match="FIRESTORE_EMULATOR_JAR"):
        find_jar()
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EmulatorError, match="Java"):
        find_java()
