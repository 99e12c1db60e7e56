"""The envelope's rules hold on both sides: ids zenjobs makes always pass them, and
``encode_envelope`` refuses up front whatever ``decode_envelope`` would refuse."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zenjobs.errors import InvalidRequestError, PayloadError
from zenjobs.queues.limits import TASK_ID_PATTERN
from zenjobs.runtime.envelope import (
    Envelope,
    decode_envelope,
    encode_envelope,
    key_execution_id,
    slot_execution_id,
    task_name,
    token_execution_id,
)
from zenjobs.stores.records import Trigger
from zenjobs.vocabulary import (
    EARLIEST_INSTANT,
    EXECUTION_ID_PATTERN,
    LATEST_INSTANT,
    MAX_ATTEMPT,
    MAX_PAYLOAD_DEPTH,
)

job_ids = st.from_regex(r"[a-z][a-z0-9_-]{0,62}", fullmatch=True)
instants = st.datetimes(min_value=EARLIEST_INSTANT.replace(tzinfo=None),
                        max_value=LATEST_INSTANT.replace(tzinfo=None),
                        timezones=st.just(timezone.utc))


@settings(max_examples=300)
@given(job_id=job_ids, slot=instants, key=st.text(min_size=1, max_size=50),
       attempt=st.integers(1, MAX_ATTEMPT))
def test_every_id_zenjobs_makes_is_one_every_store_and_cloud_tasks_accept(
        job_id: str, slot: datetime, key: str, attempt: int) -> None:
    for execution_id in (slot_execution_id(job_id, slot), key_execution_id(job_id, key),
                         token_execution_id(job_id, key)):
        assert EXECUTION_ID_PATTERN.fullmatch(execution_id), execution_id
        assert TASK_ID_PATTERN.fullmatch(task_name(execution_id, attempt))


json_payloads = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=15,
)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _envelope(payload: Any) -> Envelope:
    return Envelope(job_id="mail", execution_id="mail-kabc", attempt=2,
                    trigger=Trigger.ENDPOINT,
                    scheduled_for=datetime(2026, 1, 5, 9, tzinfo=timezone.utc), payload=payload)


@settings(max_examples=400)
@given(payload=json_payloads)
def test_what_encode_sends_decode_accepts_unchanged(payload: Any) -> None:
    try:
        body = encode_envelope(_envelope(payload))
    except PayloadError:
        return  # refused before sending: fine (NaN, infinity, lone surrogate)
    decoded = decode_envelope(body, "mail")
    assert _same(payload, decoded.payload)


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("payload", [float("nan"), [float("inf")], {"k": "x\udc80"},
                                     _deep(MAX_PAYLOAD_DEPTH + 1), _deep(5000)])
def test_encode_refuses_what_the_webhook_would_refuse(payload: Any) -> None:
    with pytest.raises(PayloadError, match="'payload'"):
        encode_envelope(_envelope(payload))


def test_the_payload_depth_limit_is_inclusive() -> None:
    body = encode_envelope(_envelope(_deep(MAX_PAYLOAD_DEPTH)))
    assert decode_envelope(body, "mail").payload == _deep(MAX_PAYLOAD_DEPTH)


@pytest.mark.parametrize(("body", "field"), [
    (b'{"version": 1}', "job_id"),
    (b"[]", "body"),
    (b"not json", "body"),
])
def test_decode_names_the_field(body: bytes, field: str) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        decode_envelope(body, "mail")
    assert raised.value.field == field
