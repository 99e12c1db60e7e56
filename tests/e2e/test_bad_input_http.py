"""Bad input against the REAL engine over real HTTP: always 4xx JSON, nothing runs or is written.

The development executor (SQLite store in a temp dir) is served by uvicorn on
127.0.0.1; its registry has only endpoint jobs, so a master tick has nothing
to run, and every handler counts its calls. After each test the handlers were
never called and the store holds no run record.
"""

from __future__ import annotations

import asyncio
import json
import string
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zenjobs.runtime.envelope import MAX_REQUEST_BYTES
from zenjobs.testing import cloud_scheduler_request, cloud_tasks_request, envelope

from .conftest import Served
from .support import ENDPOINT_JOBS, Calls, runs_of

UTC = timezone.utc
JSON_CT = {"Content-Type": "application/json"}


def valid_envelope(job_id: str = "send_email") -> dict[str, Any]:
    _, _, body = cloud_tasks_request(envelope(job_id, {"user": 1}))
    data: dict[str, Any] = json.loads(body)
    return data


@pytest.fixture
def http(module_dev: tuple[Served, Calls]) -> Iterator[httpx.Client]:
    served, calls = module_dev
    with httpx.Client(base_url=served.base_url, trust_env=False) as client:
        yield client
    assert calls.total() == 0, "a handler ran"
    assert asyncio.run(runs_of(served.store, ENDPOINT_JOBS)) == [], "a run record was written"


def assert_json_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    assert "Traceback" not in response.text


def post_run(http: httpx.Client, job_id: str, data: Any, **headers: str) -> httpx.Response:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return http.post(f"/_zenjobs/run/{job_id}", content=body, headers={**JSON_CT, **headers})


def without(data: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != field}


BAD_ENVELOPES: dict[str, tuple[Any, int, str]] = {
    "invalid JSON": (b"{not json", 400, "invalid_request"),
    "not UTF-8": (b"\xff\xfe{}", 400, "invalid_request"),
    "JSON array": ([valid_envelope()], 400, "invalid_request"),
    "empty body": (b"", 400, "invalid_request"),
    "version 2": ({**valid_envelope(), "version": 2}, 400, "invalid_request"),
    "version as string": ({**valid_envelope(), "version": "1"}, 400, "invalid_request"),
    "version true": ({**valid_envelope(), "version": True}, 400, "invalid_request"),
    "no version": (without(valid_envelope(), "version"), 400, "invalid_request"),
    "job_id of another job": ({**valid_envelope(), "job_id": "flaky"}, 400, "invalid_request"),
    "attempt 0": ({**valid_envelope(), "attempt": 0}, 400, "invalid_request"),
    "attempt as bool": ({**valid_envelope(), "attempt": True}, 400, "invalid_request"),
    "unknown trigger": ({**valid_envelope(), "trigger": "cron"}, 400, "invalid_request"),
    "naive scheduled_for": (
        {**valid_envelope(), "scheduled_for": "2026-01-01T00:00:00"}, 400, "invalid_request"),
    "empty execution_id": ({**valid_envelope(), "execution_id": ""}, 400, "invalid_request"),
    **{f"missing {field}": (without(valid_envelope(), field), 400, "invalid_request")
       for field in ("job_id", "execution_id", "attempt", "trigger", "scheduled_for")},
}


@pytest.mark.parametrize("case", sorted(BAD_ENVELOPES))
def test_bad_envelope_is_400_and_runs_nothing(http: httpx.Client, case: str) -> None:
    data, status, code = BAD_ENVELOPES[case]
    assert_json_error(post_run(http, "send_email", data), status, code)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/xml",
                                          "multipart/form-data; boundary=x"])
def test_wrong_content_type_is_415(http: httpx.Client, content_type: str | None) -> None:
    path, headers, body = cloud_tasks_request(envelope("send_email"))
    del headers["Content-Type"]
    if content_type is not None:
        headers["Content-Type"] = content_type
    assert_json_error(http.post(path, content=body, headers=headers), 415,
                      "unsupported_media_type")


def test_unknown_job_is_404(http: httpx.Client) -> None:
    path, headers, body = cloud_tasks_request(envelope("not_registered"))
    assert_json_error(http.post(path, content=body, headers=headers), 404, "unknown_job")


def test_invalid_job_id_in_path_is_400(http: httpx.Client) -> None:
    assert_json_error(post_run(http, "Send-Email!", valid_envelope()), 400, "invalid_request")


def test_body_over_the_limit_is_413_declared_or_streamed(http: httpx.Client) -> None:
    data = valid_envelope()
    data["payload"] = "x" * MAX_REQUEST_BYTES
    body = json.dumps(data).encode()
    assert_json_error(post_run(http, "send_email", body), 413, "payload_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused while streaming
        for start in range(0, len(body), 65_536):
            yield body[start:start + 65_536]

    streamed = http.post("/_zenjobs/run/send_email", content=chunks(), headers=JSON_CT)
    assert_json_error(streamed, 413, "payload_too_large")


def test_wrong_method_and_path_are_json_errors(http: httpx.Client) -> None:
    assert_json_error(http.get("/_zenjobs/run/send_email"), 405, "method_not_allowed")
    assert_json_error(http.get("/_zenjobs/master"), 405, "method_not_allowed")
    assert_json_error(http.post("/_zenjobs/nowhere", json={}), 404, "not_found")


def test_master_with_bad_schedule_time_or_body_is_4xx(http: httpx.Client) -> None:
    path, headers, _ = cloud_scheduler_request(datetime(2026, 1, 5, 9, 1, tzinfo=UTC))
    bad_time = {**headers, "X-CloudScheduler-ScheduleTime": "yesterday at noon"}
    assert_json_error(http.post(path, headers=bad_time), 400, "invalid_request")
    text_body = {**headers, "Content-Type": "text/plain"}
    assert_json_error(http.post(path, content=b"tick", headers=text_body), 415,
                      "unsupported_media_type")
    huge = http.post(path, content=b"{" + b" " * MAX_REQUEST_BYTES + b"}",
                     headers={**headers, **JSON_CT})
    assert_json_error(huge, 413, "payload_too_large")


def test_a_legit_tick_over_endpoint_jobs_runs_nothing(http: httpx.Client) -> None:
    path, headers, body = cloud_scheduler_request(datetime(2026, 1, 5, 9, 1, tzinfo=UTC))
    response = http.post(path, headers=headers, content=body)
    assert response.status_code == 200, response.text
    assert response.json()["claimed"] == 0 and response.json()["ran"] == 0


# -- property: random bodies and headers never get a 5xx and never run anything ---------

_PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
_HEADER_VALUE = _PRINTABLE.map(str.strip)  # HTTP clients refuse surrounding whitespace
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)
# Values that make each envelope field invalid (never a valid replacement).
_BREAKERS: dict[str, st.SearchStrategy[Any]] = {
    "version": st.sampled_from([0, 2, "1", None, True, [], {}]) | st.integers(min_value=2),
    "job_id": st.sampled_from([None, 7, "", "other_job", ["send_email"]]),
    "execution_id": st.sampled_from(["", None, 12, "x" * 401, {}]),
    "attempt": st.sampled_from([0, -1, "1", None, True, 1.5]) | st.integers(max_value=0),
    "trigger": st.sampled_from(["", "cron", None, 1, "ENDPOINT"]),
    "scheduled_for": st.sampled_from(["", "2026-01-01T00:00:00", "tomorrow", None, 0,
                                      "2026-13-01T00:00:00Z"]),
}


@st.composite
def broken_envelopes(draw: st.DrawFn) -> bytes:
    data = valid_envelope(draw(st.sampled_from(ENDPOINT_JOBS)))
    for field in draw(st.lists(st.sampled_from(sorted(_BREAKERS)), min_size=1, max_size=3,
                               unique=True)):
        if draw(st.booleans()):
            del data[field]
        else:
            data[field] = draw(_BREAKERS[field])
    data["payload"] = draw(_JSON_VALUES)
    return json.dumps(data).encode()


bodies = st.one_of(
    st.binary(max_size=200),
    _JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    broken_envelopes(),
)
_JSON_TYPES = ["application/json", "application/json; charset=utf-8",
               "application/cloudevents+json"]
content_types = st.one_of(  # mostly JSON, so bodies get past the media-type check
    st.sampled_from(_JSON_TYPES),
    st.sampled_from(_JSON_TYPES),
    st.sampled_from([None, "text/plain", "", "application/jsonx"]),
    _HEADER_VALUE,
)
schedule_times = st.one_of(
    st.none(),
    _HEADER_VALUE,
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1),
                 timezones=st.just(UTC)).map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
)
extra_headers = st.dictionaries(
    st.sampled_from(["Authorization", "X-CloudTasks-TaskRetryCount", "X-CloudTasks-TaskName",
                     "X-CloudTasks-QueueName", "X-Zen", "Accept", "Content-Encoding"]),
    _HEADER_VALUE, max_size=4,
)
path_jobs = st.one_of(
    st.sampled_from(ENDPOINT_JOBS),
    st.sampled_from(["zen_master_scheduler", "unknown_job", "a"]),
    st.from_regex(r"[a-z][a-z0-9_-]{0,62}", fullmatch=True),
    st.text(alphabet=string.ascii_letters + string.digits + "_-.~", min_size=1, max_size=70),
    st.text(min_size=1, max_size=20).map(lambda s: quote(s, safe="")),
)


def test_random_requests_never_5xx_and_never_run_a_handler(
        module_dev: tuple[Served, Calls], http: httpx.Client) -> None:
    _, calls = module_dev
    seen: set[int] = set()

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
              derandomize=True)
    @given(to_master=st.booleans(), job_id=path_jobs, body=bodies, content_type=content_types,
           schedule_time=schedule_times, headers=extra_headers)
    def check(to_master: bool, job_id: str, body: bytes, content_type: str | None,
              schedule_time: str | None, headers: dict[str, str]) -> None:
        sent = dict(headers)
        if content_type is not None:  # None: no Content-Type header at all
            sent["Content-Type"] = content_type
        if schedule_time is not None:
            sent["X-CloudScheduler-ScheduleTime"] = schedule_time
        path = "/_zenjobs/master" if to_master else f"/_zenjobs/run/{job_id}"
        response = http.post(path, content=body, headers=sent)
        seen.add(response.status_code)
        assert response.status_code < 500, (path, body[:200], sent, response.text)
        assert "Traceback" not in response.text
        if response.status_code >= 400:
            assert response.json()["error"]["code"]
        else:
            assert to_master, "a delivery was accepted"
            assert response.json()["claimed"] == 0
        assert calls.total() == 0

    check()
    assert any(400 <= status < 500 for status in seen)
