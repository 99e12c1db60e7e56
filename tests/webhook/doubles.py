"""A WebhookHandler test double that parses bodies exactly like the real engine."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from zenjobs.runtime.envelope import Envelope, decode_envelope
from zenjobs.runtime.protocol import DeliveryOutcome, Rejection


class RecordingHandler:
    """Records every call; ``fail_with`` makes the next calls raise instead of running.

    A delivery counts as *run* only once its body decoded into a valid envelope,
    which is what the engine does before it touches a handler.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.deliveries: list[tuple[str, bytes, Mapping[str, str]]] = []
        self.ran: list[Envelope] = []
        self.ticks: list[datetime | None] = []
        self.fail_with: Exception | None = None
        self.rejections: list[Rejection] = []

    async def deliver(
        self, job_id: str, body: bytes, headers: Mapping[str, str]
    ) -> DeliveryOutcome:
        self.deliveries.append((job_id, body, dict(headers)))
        if self.fail_with is not None:
            raise self.fail_with
        envelope = decode_envelope(body, job_id)
        self.ran.append(envelope)
        return DeliveryOutcome(200, {"status": "success", "execution_id": envelope.execution_id})

    async def master_tick(self, schedule_time: datetime | None) -> Mapping[str, Any]:
        if self.fail_with is not None:
            raise self.fail_with
        self.ticks.append(schedule_time)
        return {"due": 0, "claimed": 0, "ran": 0, "enqueued": 0, "skipped": 0}

    async def health(self) -> Mapping[str, Any]:
        if self.fail_with is not None:
            raise self.fail_with
        return {"status": "ok"}

    def rejected(self, rejection: Rejection) -> None:
        self.rejections.append(rejection)


def envelope_json(job_id: str = "send_email", **overrides: Any) -> dict[str, Any]:
    """A valid envelope as a JSON object, with fields replaced by ``overrides``."""
    data: dict[str, Any] = {
        "version": 1,
        "job_id": job_id,
        "execution_id": f"{job_id}-k0123456789abcdef01234567",
        "attempt": 1,
        "trigger": "endpoint",
        "scheduled_for": "2026-01-01T00:00:00Z",
        "payload": {"user": 42},
    }
    data.update(overrides)
    return data
