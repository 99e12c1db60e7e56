"""Hostile input against the real engine over real HTTP, on SQLite AND the Firestore emulator.

Every request a client controls is answered below 500; a refused one (4xx)
names the field at fault, emits ``request.rejected``, runs no handler and
writes nothing. Two parts:

* one fixed regression test per case that once answered 500 or ran a handler
  (``REGRESSIONS``), each on both stores;
* a property test sending at least 2,000 generated requests per store
  (envelope fields, headers, raw bytes, master ticks), after which the store
  holds exactly the runs of the deliveries that were accepted, and the
  handler ran exactly for those.

The executor is a development one (simulated queue, no OIDC) so only the store
differs between the two targets; OIDC refusals are covered in ``tests/webhook``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.emulators.firestore import reset
from zenjobs.runtime.executor import ZenJobsExecutor
from zenjobs.stores.firestore.store import FirestoreJobStore
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.sqlite.store import SqliteJobStore
from zenjobs.testing import MemoryTelemetry, VirtualClock, cloud_tasks_request, envelope
from zenjobs.vocabulary import MAX_PAYLOAD_DEPTH

from .conftest import Served, serve_executor
from .support import ENDPOINT_JOBS, Calls, build_registry

UTC = timezone.utc
JOB = "send_email"
JSON_CT = {"Content-Type": "application/json"}
#: Generated requests per store (the issue asks for at least 2,000 in CI).
FUZZ_REQUESTS = 2000


@dataclass
class Target:
    """A served development executor over one store, and how to read that store back."""

    name: str
    served: Served
    calls: Calls
    telemetry: MemoryTelemetry
    open_store: Callable[[], JobStore]  # a fresh store object for the test's own loop
    accepted: set[str] = field(default_factory=set)  # execution ids answered 2xx

    def snapshot(self) -> tuple[list[tuple[Any, ...]], set[str]]:
        """(job documents' config and schedule, execution ids of every run)."""

        async def read() -> tuple[list[tuple[Any, ...]], set[str]]:
            store = self.open_store()
            try:
                jobs = sorted((j.job_id, j.config, j.next_run_at, j.misconfigured)
                              for j in await store.list_jobs())
                runs = {r.execution_id for job in ENDPOINT_JOBS
                        for r in await store.list_runs(job, 10_000)}
                return jobs, runs
            finally:
                closed = store.close()  # type: ignore[attr-defined]  # sync on SQLite
                if asyncio.iscoroutine(closed):
                    await closed

        return asyncio.run(read())

    def rejections(self) -> int:
        return len(self.telemetry.of("request.rejected"))


@pytest.fixture(scope="module", params=["sqlite", "firestore"])
def target(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    calls, telemetry = Calls(), MemoryTelemetry()
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("hostile") / "dev.sqlite3"

        def open_store() -> JobStore:
            return SqliteJobStore(str(path))
        project = None
    else:
        host = request.getfixturevalue("firestore_emulator")
        project = f"zj-hostile-{uuid.uuid4().hex[:10]}"

        def open_store() -> JobStore:
            return FirestoreJobStore(project=project, rpc_timeout=10.0)

    def build(base_url: str) -> ZenJobsExecutor:
        return ZenJobsExecutor.development(
            build_registry(calls), store=open_store(), clock=VirtualClock(),
            telemetry=telemetry, service_url=base_url, loop_lag_threshold=None)

    with serve_executor(build) as served:
        with httpx.Client(base_url=served.base_url, trust_env=False) as http:
            assert http.get("/_zenjobs/health").status_code == 200  # binds the server loop
        asyncio.run(served.on_server(served.executor.start()))
        try:
            yield Target(request.param, served, calls, telemetry, open_store)
        finally:
            asyncio.run(served.on_server(served.executor.shutdown()))
            if project is not None:
                reset(host, project)


@pytest.fixture
def http(target: Target) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=target.served.base_url, trust_env=False) as client:
        yield client


def valid(job_id: str = JOB, **overrides: Any) -> dict[str, Any]:
    _, _, body = cloud_tasks_request(envelope(job_id, {"user": 1}))
    data: dict[str, Any] = json.loads(body)
    data.update(overrides)
    return data


def raw_with(placeholder_field: str, raw: bytes) -> bytes:
    """A valid envelope whose ``placeholder_field`` is replaced by raw JSON bytes."""
    body = json.dumps(valid(**{placeholder_field: "@@RAW@@"})).encode()
    return body.replace(b'"@@RAW@@"', raw)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


#: case -> (body, headers, field the error must name); all sent to POST /_zenjobs/run/send_email.
REGRESSIONS: dict[str, tuple[bytes, dict[str, str], str]] = {
    "attempt 2**63": (json.dumps(valid(attempt=2**63)).encode(), {}, "attempt"),
    "scheduled_for in year 1 with an offset": (
        json.dumps(valid(scheduled_for="0001-01-01T00:30:00+05:00")).encode(), {},
        "scheduled_for"),
    "scheduled_for in year 9999 with an offset": (
        json.dumps(valid(scheduled_for="9999-12-31T23:30:00-05:00")).encode(), {},
        "scheduled_for"),
    "payload NaN": (raw_with("payload", b"NaN"), {}, "body"),
    "payload Infinity": (raw_with("payload", b"[Infinity, -Infinity]"), {}, "body"),
    "payload nested 1000 deep": (raw_with("payload", nested(1000)), {}, "payload"),
    "payload nested one level past the limit": (
        raw_with("payload", nested(MAX_PAYLOAD_DEPTH + 1)), {}, "payload"),
    "execution_id with a lone surrogate": (raw_with("execution_id", b'"x\\udc80"'), {}, "body"),
    "execution_id with invalid UTF-8": (raw_with("execution_id", b'"x\xff"'), {}, "body"),
    "payload with invalid UTF-8": (raw_with("payload", b'{"name": "x\xc3\x28"}'), {}, "body"),
    **{f"execution_id {bad!r}": (json.dumps(valid(execution_id=bad)).encode(), {},
                                 "execution_id")
       for bad in (".", "..", "__x__", "a/b", "a/b/c", "x" * 1600, "abc\n")},
    "version 1.0": (raw_with("version", b"1.0"), {}, "version"),
    "version true": (json.dumps(valid(version=True)).encode(), {}, "version"),
    "task name with a slash": (json.dumps(valid()).encode(),
                               {"X-CloudTasks-TaskName": "a/b"}, "X-CloudTasks-TaskName"),
    "retry count not a number": (json.dumps(valid()).encode(),
                                 {"X-CloudTasks-TaskRetryCount": "-1"},
                                 "X-CloudTasks-TaskRetryCount"),
    "execution count huge": (json.dumps(valid()).encode(),
                             {"X-CloudTasks-TaskExecutionCount": "9" * 30},
                             "X-CloudTasks-TaskExecutionCount"),
    "queue name with spaces": (json.dumps(valid()).encode(),
                               {"X-CloudTasks-QueueName": "my queue"}, "X-CloudTasks-QueueName"),
}


def assert_refused(response: httpx.Response, field_name: str | None) -> None:
    assert response.status_code in (400, 413, 415, 422), response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] and error["message"]
    if field_name is not None:
        assert error.get("field") == field_name, error


@pytest.mark.parametrize("case", sorted(REGRESSIONS))
def test_each_known_bad_request_is_refused_and_changes_nothing(
        target: Target, http: httpx.Client, case: str) -> None:
    body, headers, field_name = REGRESSIONS[case]
    before, calls, rejected = target.snapshot(), target.calls.total(), target.rejections()
    response = http.post(f"/_zenjobs/run/{JOB}", content=body, headers={**JSON_CT, **headers})
    assert_refused(response, field_name)
    assert target.calls.total() == calls, "a handler ran"
    assert target.snapshot() == before, "the store changed"
    assert target.rejections() == rejected + 1
    event = target.telemetry.of("request.rejected")[-1]
    assert event.fields["field"] == field_name and event.fields["job_id"] == JOB


@pytest.mark.parametrize("schedule_time", ["0001-01-01T00:30:00+05:00",
                                           "9999-12-31T23:30:00-05:00",
                                           "2026-01-05T09:00:00+24:00", "2026-02-30T00:00:00Z"])
def test_a_master_tick_at_an_impossible_time_is_refused(
        target: Target, http: httpx.Client, schedule_time: str) -> None:
    before = target.snapshot()
    response = http.post("/_zenjobs/master",
                         headers={"X-CloudScheduler-ScheduleTime": schedule_time})
    assert_refused(response, "X-CloudScheduler-ScheduleTime")
    assert target.snapshot() == before


@pytest.mark.parametrize("body", [b"NaN", b"[1]", b'{"a": NaN}', b'{"x": "\xff"}',
                                  nested(2000)])
def test_a_master_tick_with_a_body_that_is_not_one_strict_json_object_is_refused(
        target: Target, http: httpx.Client, body: bytes) -> None:
    response = http.post("/_zenjobs/master", content=body, headers=JSON_CT)
    assert_refused(response, "body")


def test_a_valid_delivery_still_runs_once(target: Target, http: httpx.Client) -> None:
    execution_id = f"{JOB}-k{uuid.uuid4().hex[:24]}"
    for _ in range(2):  # a duplicate delivery is acknowledged, not run again
        response = http.post(f"/_zenjobs/run/{JOB}", json=valid(execution_id=execution_id),
                             headers={"X-CloudTasks-TaskName": "abc-1",
                                      "X-CloudTasks-TaskRetryCount": "0",
                                      "X-CloudTasks-TaskExecutionCount": "0",
                                      "X-CloudTasks-QueueName":
                                          "projects/p-1/locations/europe-west1/queues/zj-light"})
        assert response.status_code == 200, response.text
    target.accepted.add(execution_id)
    assert [c.execution_id for c in target.calls.contexts].count(execution_id) == 1


# -- property: generated requests -----------------------------------------------------------

_TEXT = st.text(max_size=24)
_HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E),
                       max_size=30)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=10,
)
_VALID_IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,40}", fullmatch=True)
#: Per field, values that are wrong in every way we know of, and some that are right.
_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "version": st.sampled_from([1, 0, 2, "1", True, None, [1]]) | st.integers(),
    "job_id": st.sampled_from([JOB, "flaky", "", "a/b", None, 7]) | _TEXT,
    "execution_id": _VALID_IDS | st.sampled_from([".", "..", "__x__", "a/b", "a/b/c", "",
                                                  "x" * 1600, None, 3]) | _TEXT,
    "attempt": st.integers(min_value=-2, max_value=5) | st.integers()
    | st.sampled_from([2**63, 2**64, 1.0, True, "1", None]),
    "trigger": st.sampled_from(["endpoint", "schedule", "manual", "replay", "cron", "", None]),
    "scheduled_for": st.sampled_from(["2026-01-05T09:00:00Z", "0001-01-01T00:00:00+05:00",
                                      "9999-12-31T23:59:59-05:00", "2026-01-05T09:00:00",
                                      "1969-12-31T23:59:59Z", "3000-01-01T00:00:00Z", "",
                                      None, 0])
    | st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                   timezones=st.just(UTC)).map(lambda d: d.isoformat()),
    "payload": _JSON,
}
#: Raw JSON fragments json.dumps cannot make (or would escape), spliced into the body.
_RAW_PAYLOADS = st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b'"\\ud800"',
                                 b'"\\udc80x"', b'"\xff"', b'"\xc3\x28"', b"1e999",
                                 nested(MAX_PAYLOAD_DEPTH + 1), nested(5000)])


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str]]:
    """(path job id, body, headers) for POST /_zenjobs/run/{job}."""
    data = valid(execution_id=draw(_VALID_IDS))
    for name in draw(st.lists(st.sampled_from(sorted(_FIELD_VALUES)), max_size=3,
                              unique=True)):
        if draw(st.integers(0, 5)) == 0:
            del data[name]
        else:
            data[name] = draw(_FIELD_VALUES[name])
    body = json.dumps(data).encode()  # NaN/inf floats come only from _RAW_PAYLOADS
    kind = draw(st.integers(0, 9))
    if kind == 0:
        body = raw_with("payload", draw(_RAW_PAYLOADS))
    elif kind == 1:
        body = draw(st.binary(max_size=120))
    headers = dict(JSON_CT)
    for name in draw(st.lists(st.sampled_from(["X-CloudTasks-TaskName",
                                               "X-CloudTasks-QueueName",
                                               "X-CloudTasks-TaskRetryCount",
                                               "X-CloudTasks-TaskExecutionCount",
                                               "Authorization", "Content-Type"]),
                              max_size=2, unique=True)):
        headers[name] = draw(_HEADER_TEXT | st.sampled_from(["0", "12", "zenjobs-light",
                                                             "abc-1", "Bearer x.y.z"]))
    path_job = draw(st.sampled_from([JOB, JOB, JOB, "flaky", "nope", "Send"]))
    return path_job, body, headers


@st.composite
def ticks(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    headers: dict[str, str] = {}
    if draw(st.booleans()):
        headers["X-CloudScheduler-ScheduleTime"] = draw(
            _HEADER_TEXT | st.sampled_from(["2026-01-05T09:00:00Z", "0001-01-01T00:00:00+05:00",
                                            "9999-12-31T23:59:59-05:00"]))
    body = draw(st.sampled_from([b"", b"{}", b"[]", b"NaN", b'{"a": 1}']) | st.binary(max_size=40))
    if body:
        headers["Content-Type"] = draw(st.sampled_from(["application/json", "text/plain"]))
    return body, headers


_runs = deliveries().map(lambda d: ("run", *d))
requests = st.one_of(_runs, _runs, _runs, ticks().map(lambda t: ("master", "", *t)))


def test_generated_requests_never_5xx_and_refusals_run_and_write_nothing(
        target: Target, http: httpx.Client) -> None:
    jobs_before, _ = target.snapshot()
    sent = {"total": 0, "refused": 0, "accepted": 0}
    rejections_before = target.rejections()

    @settings(max_examples=FUZZ_REQUESTS, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(request=requests)
    def check(request: tuple[str, str, bytes, dict[str, str]]) -> None:
        route, job_id, body, headers = request
        path = "/_zenjobs/master" if route == "master" else f"/_zenjobs/run/{job_id}"
        calls_before = target.calls.total()
        response = http.post(path, content=body, headers=headers)
        sent["total"] += 1
        assert response.status_code < 500, (path, body[:200], headers, response.text)
        assert "Traceback" not in response.text
        if response.status_code >= 400:
            sent["refused"] += 1
            assert response.json()["error"]["code"]
            assert target.calls.total() == calls_before, ("refused but ran", body[:200])
        elif route == "run":
            sent["accepted"] += 1
            outcome = response.json()
            if outcome["status"] != "missing":  # a schedule/replay task without a record
                target.accepted.add(outcome["execution_id"])

    check()
    assert sent["total"] >= FUZZ_REQUESTS
    assert sent["refused"] > FUZZ_REQUESTS // 4 and sent["accepted"] > 50, sent
    jobs_after, runs = target.snapshot()
    # Refusals wrote nothing: the only runs are those of accepted deliveries, whose
    # handlers ran exactly once each; job config and schedules are untouched. (An
    # accepted "missing" acknowledgement creates and runs nothing: runner.py.)
    assert runs == target.accepted
    ran = [c.execution_id for c in target.calls.contexts]
    assert sorted(ran) == sorted(target.accepted)
    assert jobs_after == jobs_before
    assert target.rejections() - rejections_before == sent["refused"]
    print(f"{target.name}: {sent}")
