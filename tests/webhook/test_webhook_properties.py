"""Property: no body or header a client sends gets a 5xx or runs a handler.

Requests go over real HTTP to uvicorn; the handler double parses bodies with
``decode_envelope`` exactly like the engine, so random bodies exercise the
real parsing and a handler "runs" only if a body decoded.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zenjobs.stores.records import Trigger

from .doubles import RecordingHandler, envelope_json

FIELDS = ["version", "job_id", "execution_id", "attempt", "trigger", "scheduled_for"]
JOB_ID = "send_email"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def broken_envelopes(draw: st.DrawFn) -> bytes:
    """A valid envelope with exactly one thing made wrong (so it must not decode)."""
    data: dict[str, Any] = envelope_json(JOB_ID, payload=draw(json_values))
    field = draw(st.sampled_from(FIELDS))
    how = draw(st.sampled_from(["missing", "wrong"]))
    if how == "missing":
        del data[field]
    elif field == "version":
        data[field] = draw(st.integers().filter(lambda v: v != 1) | st.text(max_size=5) | st.none())
    elif field == "job_id":
        data[field] = draw(st.text(max_size=20).filter(lambda v: v != JOB_ID) | st.integers())
    elif field == "execution_id":
        data[field] = draw(st.just("") | st.text(min_size=401, max_size=402) | st.integers())
    elif field == "attempt":
        data[field] = draw(st.integers(max_value=0) | st.booleans() | st.text(max_size=3))
    elif field == "trigger":
        known = {t.value for t in Trigger}
        data[field] = draw(st.text(max_size=10).filter(lambda v: v not in known) | st.integers())
    else:  # scheduled_for: naive, garbage, or not a string
        data[field] = draw(
            st.just("2026-01-01T00:00:00")
            | st.text(alphabet="abcxyz :", max_size=12)
            | st.integers()
        )
    return json.dumps(data).encode()


bodies = st.one_of(
    st.binary(max_size=512),
    st.text(max_size=256).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    broken_envelopes(),
)

# Printable ASCII without framing-relevant headers: anything else is refused by
# the HTTP client itself, before reaching the server.
header_values = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40)
header_names = st.sampled_from(
    [
        "content-type",
        "authorization",
        "x-cloudtasks-taskname",
        "x-cloudtasks-taskretrycount",
        "x-cloudscheduler-scheduletime",
        "x-custom",
        "accept",
        "user-agent",
    ]
) | st.from_regex(r"\Ax-[a-z0-9]{1,12}\Z")
content_types = (
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "application/cloudevents+json",
            "multipart/form-data; boundary=x",
            "",
        ]
    )
    | header_values
)
headers = st.dictionaries(header_names, header_values, max_size=5)


def test_random_requests_never_5xx_and_never_run(
    served: tuple[RecordingHandler, str], handler: RecordingHandler
) -> None:
    _, base_url = served
    with httpx.Client(base_url=base_url) as http:

        @settings(
            max_examples=200,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(
            body=bodies,
            extra=headers,
            content_type=content_types,
            path=st.sampled_from(["/_zenjobs/run/send_email", "/_zenjobs/master"]),
        )
        def check(body: bytes, extra: dict[str, str], content_type: str, path: str) -> None:
            sent = {**extra, "content-type": content_type}
            response = http.post(path, content=body, headers=sent)
            assert response.status_code < 500, response.text
            assert "Traceback" not in response.text
            if response.status_code >= 400:
                assert "error" in response.json()

        check()
    assert handler.ran == []
