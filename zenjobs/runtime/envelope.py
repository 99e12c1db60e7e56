"""The task envelope and the deterministic names derived from executions.

Everything a Cloud Task carries is in one versioned JSON envelope, so a newer
revision can refuse (400) a shape it does not know instead of guessing. The
execution id is derived from what caused the run (job + slot, or job +
idempotency key), and the task name from the execution id and attempt, which
is what lets duplicates deduplicate at every layer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import InvalidRequestError, PayloadError
from ..schedule import format_instant, parse_instant
from ..stores.records import Trigger

ENVELOPE_VERSION = 1
#: Cloud Tasks refuses tasks over 1 MB; the envelope must fit with room for headers.
MAX_ENVELOPE_BYTES = 1_000_000
#: Webhook bodies larger than this are refused before parsing.
MAX_REQUEST_BYTES = 1_048_576


@dataclass(frozen=True)
class Envelope:
    """The JSON body of every task zenjobs enqueues."""

    job_id: str
    execution_id: str
    attempt: int
    trigger: Trigger
    scheduled_for: datetime
    payload: Any = None
    version: int = ENVELOPE_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "job_id": self.job_id,
            "execution_id": self.execution_id,
            "attempt": self.attempt,
            "trigger": self.trigger.value,
            "scheduled_for": format_instant(self.scheduled_for),
            "payload": self.payload,
        }


def encode_envelope(envelope: Envelope) -> bytes:
    """Serialise ``envelope``; refuse non-JSON payloads and oversize bodies before sending."""
    try:
        body = json.dumps(
            envelope.to_json(), separators=(",", ":"), sort_keys=True, allow_nan=False
        ).encode()
    except (TypeError, ValueError) as exc:
        raise PayloadError(envelope.job_id, f"must be JSON-serialisable ({exc})") from None
    if len(body) > MAX_ENVELOPE_BYTES:
        raise PayloadError(
            envelope.job_id,
            f"task envelope is {len(body)} bytes, over the Cloud Tasks limit of "
            f"{MAX_ENVELOPE_BYTES} bytes; store large data elsewhere and pass a reference",
        )
    return body


def decode_envelope(body: bytes, path_job_id: str) -> Envelope:
    """Parse and check a webhook body; raise :class:`InvalidRequestError` (HTTP 400)."""
    if len(body) > MAX_REQUEST_BYTES:
        raise InvalidRequestError(f"body is {len(body)} bytes, over {MAX_REQUEST_BYTES}")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequestError(f"body is not valid JSON: {exc.__class__.__name__}") from None
    if not isinstance(data, dict):
        raise InvalidRequestError("body must be a JSON object")
    version = data.get("version")
    if version != ENVELOPE_VERSION or isinstance(version, bool):
        raise InvalidRequestError(
            f"unknown envelope version {version!r}; this service speaks {ENVELOPE_VERSION}"
        )
    job_id = _field(data, "job_id", str)
    if job_id != path_job_id:
        raise InvalidRequestError(f"job_id {job_id!r} does not match the URL ({path_job_id!r})")
    execution_id = _field(data, "execution_id", str)
    if not execution_id or len(execution_id) > 400:
        raise InvalidRequestError("execution_id must be a non-empty string of at most 400 chars")
    attempt = _field(data, "attempt", int)
    if isinstance(attempt, bool) or attempt < 1:
        raise InvalidRequestError("attempt must be an integer >= 1")
    trigger_text = _field(data, "trigger", str)
    try:
        trigger = Trigger(trigger_text)
    except ValueError:
        raise InvalidRequestError(f"unknown trigger {trigger_text!r}") from None
    try:
        scheduled_for = parse_instant(_field(data, "scheduled_for", str))
    except ValueError:
        raise InvalidRequestError("scheduled_for must be an ISO-8601 instant with offset") from None
    return Envelope(
        job_id=job_id,
        execution_id=execution_id,
        attempt=attempt,
        trigger=trigger,
        scheduled_for=scheduled_for,
        payload=data.get("payload"),
        version=ENVELOPE_VERSION,
    )


def _field(data: dict[str, Any], name: str, kind: type) -> Any:
    if name not in data:
        raise InvalidRequestError(f"missing field {name!r}")
    value = data[name]
    if not isinstance(value, kind):
        raise InvalidRequestError(f"field {name!r} must be a {kind.__name__}")
    return value


def _digest(*parts: str, length: int = 16) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]


def slot_execution_id(job_id: str, slot: datetime) -> str:
    """The execution id of a scheduled run: same job and slot, same id, on every instance."""
    return f"{job_id}-{format_instant(slot).replace('-', '').replace(':', '')}"


def key_execution_id(job_id: str, idempotency_key: str) -> str:
    """The execution id of an endpoint run scheduled with an idempotency key."""
    return f"{job_id}-k{_digest(job_id, idempotency_key, length=24)}"


def token_execution_id(job_id: str, token: str) -> str:
    """The execution id of an endpoint run without a key (``token`` is random, from the caller)."""
    return f"{job_id}-r{_digest(job_id, token, length=24)}"


def task_name(execution_id: str, attempt: int) -> str:
    """The Cloud Task name for one attempt of one execution.

    A short hash prefix spreads names across Cloud Tasks' key space (sequential
    names are a documented hot-spotting problem) while staying deterministic.
    """
    return f"{_digest(execution_id, length=8)}-{execution_id}-a{attempt}"
