"""The webhook over real HTTP (uvicorn on 127.0.0.1): status codes and JSON errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from zenjobs.errors import BackendUnavailableError, LeaseHeldError, UnknownJobError
from zenjobs.runtime.envelope import MAX_REQUEST_BYTES
from zenjobs.runtime.webhook import create_app, parse_rfc3339
from zenjobs.testing.http import serve_app

from .doubles import RecordingHandler, envelope_json

JSON = {"Content-Type": "application/json"}


def post_envelope(
    client: httpx.Client, job_id: str = "send_email", **fields: object
) -> httpx.Response:
    return client.post(f"/_zenjobs/run/{job_id}", json=envelope_json(job_id, **fields))


def assert_json_error(response: httpx.Response, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in response.text
    return dict(error)


def test_valid_delivery_runs_and_passes_lowercased_headers(
    client: httpx.Client, handler: RecordingHandler
) -> None:
    response = client.post(
        "/_zenjobs/run/send_email",
        json=envelope_json(),
        headers={"X-CloudTasks-TaskName": "abc-send_email-a1", "X-CloudTasks-TaskRetryCount": "0"},
    )
    assert response.status_code == 200
    assert response.json()["status"] == "success"
    assert [e.execution_id for e in handler.ran] == [envelope_json()["execution_id"]]
    _, _, headers = handler.deliveries[0]
    assert headers["x-cloudtasks-taskname"] == "abc-send_email-a1"
    assert all(name == name.lower() for name in headers)


def test_invalid_json_is_400(client: httpx.Client, handler: RecordingHandler) -> None:
    response = client.post("/_zenjobs/run/send_email", content=b"{not json", headers=JSON)
    assert_json_error(response, 400, "invalid_request")
    assert handler.ran == []


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_is_415_and_not_delivered(
    client: httpx.Client, handler: RecordingHandler, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps(envelope_json()).encode()
    response = client.post("/_zenjobs/run/send_email", content=body, headers=headers)
    assert_json_error(response, 415, "unsupported_media_type")
    assert handler.deliveries == []


def test_json_with_charset_is_accepted(client: httpx.Client, handler: RecordingHandler) -> None:
    body = json.dumps(envelope_json()).encode()
    response = client.post(
        "/_zenjobs/run/send_email",
        content=body,
        headers={"Content-Type": "Application/JSON; charset=utf-8"},
    )
    assert response.status_code == 200
    assert len(handler.ran) == 1


@pytest.mark.parametrize(
    "missing", ["execution_id", "attempt", "trigger", "scheduled_for", "job_id"]
)
def test_missing_field_is_400(
    client: httpx.Client, handler: RecordingHandler, missing: str
) -> None:
    data = envelope_json()
    del data[missing]
    response = client.post("/_zenjobs/run/send_email", json=data)
    error = assert_json_error(response, 400, "invalid_request")
    assert missing in error["message"]
    assert handler.ran == []


def test_unknown_envelope_version_is_400(client: httpx.Client, handler: RecordingHandler) -> None:
    error = assert_json_error(post_envelope(client, version=2), 400, "invalid_request")
    assert "version" in error["message"]
    assert handler.ran == []


def test_job_id_mismatch_is_400(client: httpx.Client, handler: RecordingHandler) -> None:
    data = envelope_json("other_job")
    response = client.post("/_zenjobs/run/send_email", json=data)
    assert_json_error(response, 400, "invalid_request")
    assert handler.ran == []


@pytest.mark.parametrize("job_id", ["Bad", "9lives", "a" * 64, "x%20y", "%2e%2e"])
def test_invalid_job_id_in_path_is_400_and_not_delivered(
    client: httpx.Client, handler: RecordingHandler, job_id: str
) -> None:
    response = client.post(f"/_zenjobs/run/{job_id}", json=envelope_json())
    assert_json_error(response, 400, "invalid_request")
    assert handler.deliveries == []


def test_unknown_job_is_404(client: httpx.Client, handler: RecordingHandler) -> None:
    handler.fail_with = UnknownJobError("ghost")
    error = assert_json_error(post_envelope(client, "ghost"), 404, "unknown_job")
    assert "ghost" in error["message"]


def test_store_outage_is_503_with_retry_after_and_no_details(
    client: httpx.Client, handler: RecordingHandler
) -> None:
    handler.fail_with = BackendUnavailableError("firestore at 10.0.0.7:8080: deadline exceeded")
    response = post_envelope(client)
    assert_json_error(response, 503, "backend_unavailable")
    assert "10.0.0.7" not in response.text
    assert int(response.headers["retry-after"]) > 0


def test_lease_held_is_503(client: httpx.Client, handler: RecordingHandler) -> None:
    handler.fail_with = LeaseHeldError("execution send_email-k1 is leased by instance-2")
    response = post_envelope(client)
    assert_json_error(response, 503, "lease_held")
    assert "retry-after" in response.headers


def test_body_over_limit_is_413_from_content_length(
    client: httpx.Client, handler: RecordingHandler
) -> None:
    body = b'{"pad": "' + b"x" * MAX_REQUEST_BYTES + b'"}'
    response = client.post("/_zenjobs/run/send_email", content=body, headers=JSON)
    assert_json_error(response, 413, "payload_too_large")
    assert handler.deliveries == []


def test_streamed_body_over_limit_is_413_without_content_length(
    client: httpx.Client, handler: RecordingHandler
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):  # 40 x 64 KiB = 2.5 MiB, sent chunked
            yield b" " * 65_536

    response = client.post("/_zenjobs/run/send_email", content=chunks(), headers=JSON)
    assert_json_error(response, 413, "payload_too_large")
    assert handler.deliveries == []


def test_body_at_the_limit_reaches_the_handler(
    client: httpx.Client, handler: RecordingHandler
) -> None:
    body = json.dumps(envelope_json()).encode()
    body = body + b" " * (MAX_REQUEST_BYTES - len(body))
    response = client.post("/_zenjobs/run/send_email", content=body, headers=JSON)
    assert response.status_code == 200
    assert len(handler.ran) == 1


def test_master_tick_parses_schedule_time(client: httpx.Client, handler: RecordingHandler) -> None:
    response = client.post(
        "/_zenjobs/master",
        headers={"X-CloudScheduler-ScheduleTime": "2026-03-29T01:00:00.123+02:00"},
    )
    assert response.status_code == 200
    assert response.json()["due"] == 0
    assert handler.ticks == [datetime(2026, 3, 28, 23, 0, 0, 123000, tzinfo=timezone.utc)]


def test_master_tick_without_header_passes_none(
    client: httpx.Client, handler: RecordingHandler
) -> None:
    response = client.post("/_zenjobs/master", json={})
    assert response.status_code == 200
    assert handler.ticks == [None]


@pytest.mark.parametrize("value", ["yesterday", "2026-03-29T01:00:00", "2026-13-01T00:00:00Z", ""])
def test_master_tick_malformed_schedule_time_is_400(
    client: httpx.Client, handler: RecordingHandler, value: str
) -> None:
    response = client.post("/_zenjobs/master", headers={"X-CloudScheduler-ScheduleTime": value})
    assert_json_error(response, 400, "invalid_request")
    assert handler.ticks == []


def test_master_tick_with_non_json_body_is_415(
    client: httpx.Client, handler: RecordingHandler
) -> None:
    response = client.post(
        "/_zenjobs/master", content=b"tick", headers={"Content-Type": "text/plain"}
    )
    assert_json_error(response, 415, "unsupported_media_type")
    assert handler.ticks == []


def test_health(client: httpx.Client) -> None:
    response = client.get("/_zenjobs/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_wrong_method_is_405_json(client: httpx.Client, handler: RecordingHandler) -> None:
    assert_json_error(client.get("/_zenjobs/run/send_email"), 405, "method_not_allowed")
    assert_json_error(client.delete("/_zenjobs/master"), 405, "method_not_allowed")
    assert_json_error(client.post("/_zenjobs/health"), 405, "method_not_allowed")
    assert handler.deliveries == [] and handler.ticks == []


def test_unknown_path_is_404_json(client: httpx.Client) -> None:
    assert_json_error(client.get("/_zenjobs/nothing"), 404, "not_found")
    assert_json_error(client.post("/elsewhere"), 404, "not_found")


def test_unexpected_exception_is_generic_500_without_trace(
    client: httpx.Client, handler: RecordingHandler, caplog: pytest.LogCaptureFixture
) -> None:
    handler.fail_with = RuntimeError("secret connection string postgres://u:p@db")
    with caplog.at_level(logging.ERROR, logger="zenjobs.runtime.webhook"):
        response = post_envelope(client)
    assert_json_error(response, 500, "internal")
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert any("unexpected error" in r.getMessage() for r in caplog.records)


def test_mounted_under_a_host_app_with_empty_prefix(handler: RecordingHandler) -> None:
    host = Starlette(routes=[Mount("/_zenjobs", app=create_app(handler, prefix=""))])
    with serve_app(host) as base_url, httpx.Client(base_url=base_url) as http:
        assert http.get("/_zenjobs/health").json() == {"status": "ok"}
        assert post_envelope(http).status_code == 200
        assert_json_error(http.get("/_zenjobs/run/send_email"), 405, "method_not_allowed")
    assert len(handler.ran) == 1


def test_mounted_under_fastapi(handler: RecordingHandler) -> None:
    from fastapi import FastAPI

    host = FastAPI()

    @host.get("/")
    async def home() -> dict[str, str]:
        return {"app": "host"}

    host.mount("/", create_app(handler))
    with serve_app(host) as base_url, httpx.Client(base_url=base_url) as http:
        assert http.get("/").json() == {"app": "host"}
        assert post_envelope(http).status_code == 200
    assert len(handler.ran) == 1


def test_parse_rfc3339_accepts_fractions_and_offsets() -> None:
    assert parse_rfc3339("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert parse_rfc3339("2026-01-01t05:30:00.5+05:30") == datetime(
        2026, 1, 1, 0, 0, 0, 500000, tzinfo=timezone.utc
    )
    for bad in (
        "2026-01-01",
        "2026-01-01T00:00Z",
        "2026-01-01T00:00:00+2400",
        "2026-02-30T00:00:00Z",
    ):
        with pytest.raises(ValueError):
            parse_rfc3339(bad)
