"""The 1 MB envelope boundary, through ``executor.schedule``: exactly at the limit it is
sent, one byte over it is refused before anything is written or enqueued.

The payload is padded so that the encoded envelope has an exact size; the size
of everything around the pad is measured on a first, empty-padded envelope with
an idempotency key of the same length (execution ids derived from keys all have
one length), so the test holds whatever the envelope's field layout.
"""

from __future__ import annotations

import pytest

from zenjobs import JobContext, ZenJobs, ZenJobsExecutor
from zenjobs.errors import PayloadError
from zenjobs.runtime.envelope import MAX_ENVELOPE_BYTES
from zenjobs.stores.memory import MemoryJobStore
from zenjobs.testing import MemoryTelemetry, VirtualClock

from .conftest import T0, RecordingQueue


def endpoint_jobs() -> ZenJobs:
    jobs = ZenJobs()

    @jobs.job("ep", type="endpoint")
    async def ep(ctx: JobContext) -> None:
        return None

    return jobs


@pytest.mark.parametrize("pad_char", ["x", "é"])  # one byte, and more than one
async def test_an_envelope_of_exactly_the_limit_is_sent_and_one_byte_more_is_refused(
        pad_char: str) -> None:
    assert MAX_ENVELOPE_BYTES == 1_000_000  # the documented limit (docs/runtime.md)
    store, queue = MemoryJobStore(), RecordingQueue()
    executor = ZenJobsExecutor.development(
        endpoint_jobs(), store=store, queue=queue, clock=VirtualClock(T0),
        telemetry=MemoryTelemetry(), loop_lag_threshold=None)

    async def sent_size(payload: dict[str, str], key: str) -> int:
        await executor.schedule("ep", payload, idempotency_key=key)
        return len(queue.tasks[-1].body)

    around = await sent_size({"pad": "", "fill": ""}, "size-0")
    per_char = await sent_size({"pad": pad_char, "fill": ""}, "size-1") - around
    # The pad in the chosen character, topped up with ASCII to land on an exact byte count.
    chars, rest = divmod(MAX_ENVELOPE_BYTES - around, per_char)
    at_limit = {"pad": pad_char * chars, "fill": "x" * rest}
    over_limit = {"pad": pad_char * chars, "fill": "x" * (rest + 1)}

    execution_id = await executor.schedule("ep", at_limit, idempotency_key="size-2")
    assert len(queue.tasks[-1].body) == MAX_ENVELOPE_BYTES
    [sent] = [e for e in queue.envelopes() if e.execution_id == execution_id]
    assert sent.payload == at_limit  # and it decodes back as the webhook will read it
    run = await store.get_run("ep", execution_id)
    assert run is not None and run.payload == at_limit

    tasks, runs = len(queue.tasks), len(await store.list_runs("ep", 10))
    with pytest.raises(PayloadError, match=f"{MAX_ENVELOPE_BYTES + 1} bytes") as refused:
        await executor.schedule("ep", over_limit, idempotency_key="size-3")
    assert refused.value.job_id == "ep"
    assert str(refused.value).startswith("job 'ep', field 'payload': ")
    assert "over the Cloud Tasks limit" in str(refused.value)
    assert len(queue.tasks) == tasks and len(await store.list_runs("ep", 10)) == runs
