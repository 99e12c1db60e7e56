"""The webhook's body limit at its exact boundary, declared or streamed, over real HTTP.

``MAX_REQUEST_BYTES`` bytes are read and handled; one byte more is answered 413
and reaches no handler, whether the size is declared (``Content-Length``) or
only known while reading a chunked body.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from zenjobs.runtime.envelope import MAX_REQUEST_BYTES

from .doubles import RecordingHandler, envelope_json

JSON = {"Content-Type": "application/json"}
PATH = "/_zenjobs/run/send_email"


def body_of(size: int) -> bytes:
    """A valid envelope, padded with JSON whitespace to exactly ``size`` bytes."""
    body = json.dumps(envelope_json()).encode()
    return body + b" " * (size - len(body))


def chunked(body: bytes, chunk: int = 65_536) -> Iterator[bytes]:
    """The body as a stream: httpx sends it chunked, with no Content-Length."""
    for start in range(0, len(body), chunk):
        yield body[start:start + chunk]


@pytest.mark.parametrize("streamed", [False, True], ids=["declared", "streamed"])
def test_a_body_of_exactly_the_limit_is_handled(
        client: httpx.Client, handler: RecordingHandler, streamed: bool) -> None:
    assert MAX_REQUEST_BYTES == 1_048_576
    body = body_of(MAX_REQUEST_BYTES)
    response = client.post(PATH, content=chunked(body) if streamed else body, headers=JSON)
    assert response.status_code == 200, response.text
    assert [len(b) for _, b, _ in handler.deliveries] == [MAX_REQUEST_BYTES]
    assert len(handler.ran) == 1


@pytest.mark.parametrize("streamed", [False, True], ids=["declared", "streamed"])
def test_one_byte_over_the_limit_is_413_and_reaches_no_handler(
        client: httpx.Client, handler: RecordingHandler, streamed: bool) -> None:
    body = body_of(MAX_REQUEST_BYTES + 1)
    response = client.post(PATH, content=chunked(body) if streamed else body, headers=JSON)
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("payload_too_large", "body")
    assert handler.deliveries == []
