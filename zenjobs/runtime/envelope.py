"""The task envelope and the deterministic names derived from executions.

Everything a Cloud Task carries is in one versioned JSON envelope, so a newer
revision can refuse (400) a shape it does not know instead of guessing. The
execution id is derived from what caused the run (job + slot, or job +
idempotency key), and the task name from the execution id and attempt, which
is what lets duplicates deduplicate at every layer.

Decoding is one strict msgspec model (see ``docs/webhook.md``, "The envelope"):
msgspec is a well-kept C validator that refuses what ``json.loads`` lets
through (``NaN``, invalid UTF-8, lone surrogates, ``1.0`` for ``1``, ``true``
for an integer) at about half of ``json.loads``' cost, so the strictness costs
the webhook nothing. Encoding refuses up front what decoding would refuse, so
a task zenjobs sends is never one its own webhook turns away.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

import msgspec

from ..errors import InvalidRequestError, PayloadError
from ..schedule import INSTANT_RANGE, format_instant, in_instant_range
from ..stores.records import Trigger
from ..vocabulary import (
    EXECUTION_ID_PATTERN,
    JOB_ID_PATTERN,
    MAX_ATTEMPT,
    MAX_PAYLOAD_DEPTH,
)

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
    """Serialise ``envelope``; refuse what the webhook would refuse, before sending.

    That is: a payload that is not strict JSON (``NaN``, a lone surrogate,
    objects that are not JSON types), nested deeper than ``MAX_PAYLOAD_DEPTH``,
    or an envelope over the Cloud Tasks size limit.
    """
    if _too_deep(envelope.payload):
        raise PayloadError(envelope.job_id,
                           f"nested deeper than {MAX_PAYLOAD_DEPTH} arrays/objects")
    try:
        body = json.dumps(
            envelope.to_json(), separators=(",", ":"), sort_keys=True, allow_nan=False,
            ensure_ascii=False,
        ).encode()
    except UnicodeEncodeError:
        raise PayloadError(envelope.job_id, "a string holds a lone surrogate (not UTF-8)") from None
    except (TypeError, ValueError, RecursionError) as exc:
        raise PayloadError(envelope.job_id, f"must be JSON-serialisable ({exc})") from None
    if len(body) > MAX_ENVELOPE_BYTES:
        raise PayloadError(
            envelope.job_id,
            f"task envelope is {len(body)} bytes, over the Cloud Tasks limit of "
            f"{MAX_ENVELOPE_BYTES} bytes; store large data elsewhere and pass a reference",
        )
    return body


class _Wire(msgspec.Struct):
    """The envelope as it arrives. Unknown fields are ignored, so a later revision may
    add optional ones without a rolling deploy refusing them; a change of meaning
    bumps ``version`` instead."""

    version: Literal[1]
    job_id: Annotated[str, msgspec.Meta(pattern=JOB_ID_PATTERN.pattern)]
    execution_id: Annotated[str, msgspec.Meta(pattern=EXECUTION_ID_PATTERN.pattern)]
    attempt: Annotated[int, msgspec.Meta(ge=1, le=MAX_ATTEMPT)]
    trigger: Trigger
    scheduled_for: Annotated[datetime, msgspec.Meta(tz=True)]
    payload: Any = None


_DECODER = msgspec.json.Decoder(_Wire, strict=True)
_AT_FIELD = re.compile(r"`\$\.(\w+)")
_MISSING_FIELD = re.compile(r"missing required field `(\w+)`")


def decode_envelope(body: bytes, path_job_id: str) -> Envelope:
    """Parse and check a webhook body; raise :class:`InvalidRequestError` (HTTP 400).

    The error's ``field`` names what was wrong (``body`` when it is not JSON at all).
    """
    if len(body) > MAX_REQUEST_BYTES:
        raise InvalidRequestError(f"body is {len(body)} bytes, over {MAX_REQUEST_BYTES}",
                                  field="body")
    try:
        wire = _DECODER.decode(body)
    except msgspec.ValidationError as exc:
        text = str(exc)
        found = _AT_FIELD.search(text) or _MISSING_FIELD.search(text)
        raise InvalidRequestError(text, field=found.group(1) if found else "body") from None
    except msgspec.DecodeError as exc:
        raise InvalidRequestError(f"body is not strict JSON: {exc}", field="body") from None
    except RecursionError:
        raise InvalidRequestError(f"body nests deeper than {MAX_PAYLOAD_DEPTH} levels",
                                  field="payload") from None
    if wire.job_id != path_job_id:
        raise InvalidRequestError(
            f"job_id {wire.job_id!r} does not match the URL ({path_job_id!r})", field="job_id")
    scheduled_for = wire.scheduled_for
    if not in_instant_range(scheduled_for):
        raise InvalidRequestError(f"scheduled_for must lie {INSTANT_RANGE}",
                                  field="scheduled_for")
    if _too_deep(wire.payload):
        raise InvalidRequestError(f"payload nests deeper than {MAX_PAYLOAD_DEPTH} levels",
                                  field="payload")
    return Envelope(
        job_id=wire.job_id,
        execution_id=wire.execution_id,
        attempt=wire.attempt,
        trigger=wire.trigger,
        scheduled_for=scheduled_for.astimezone(timezone.utc),
        payload=wire.payload,
        version=ENVELOPE_VERSION,
    )


def _too_deep(value: Any, limit: int = MAX_PAYLOAD_DEPTH) -> bool:
    """Whether ``value`` nests lists/dicts more than ``limit`` deep (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


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
