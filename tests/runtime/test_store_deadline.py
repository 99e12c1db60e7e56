"""DeadlineStore: a store call past its deadline is a BackendUnavailableError (HTTP 503),
one delivery's calls share one budget, and the wrapped store stays reachable."""

from __future__ import annotations

import asyncio
import warnings
from datetime import datetime, timezone

import pytest

from zenjobs.errors import BackendUnavailableError
from zenjobs.stores.deadline import DeadlineStore, bounded, store_budget
from zenjobs.stores.memory import MemoryJobStore
from zenjobs.stores.records import JobConfig

T0 = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)


class HangingStore(MemoryJobStore):
    """``get_job`` never answers until ``release`` is set, like a frozen backend."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.cancelled = 0

    async def get_job(self, job_id: str):  # type: ignore[no-untyped-def]
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return await super().get_job(job_id)


class Ticks:
    """A monotonic clock that moves only when told (the budget's own accounting)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.step = 0.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


async def test_a_hung_call_is_cancelled_and_reported_unavailable() -> None:
    inner = HangingStore()
    store = DeadlineStore(inner, deadline=0.05)
    with pytest.raises(BackendUnavailableError, match=r"get_job.*0\.05 s"):
        await store.get_job("mail")
    assert inner.cancelled == 1


async def test_calls_within_the_deadline_answer_as_the_store_does() -> None:
    store = DeadlineStore(MemoryJobStore(), deadline=5)
    record, created = await store.ensure_job("mail", JobConfig(), None, T0)
    assert created and await store.get_job("mail") == record


async def test_one_budget_is_shared_by_the_calls_of_a_block() -> None:
    ticks = Ticks()
    store = DeadlineStore(MemoryJobStore(), deadline=2.0, monotonic=ticks)
    await store.ensure_job("mail", JobConfig(), None, T0)
    ticks.step = 1.5  # each call now "takes" 1.5 s of the budget (start to end)
    with store_budget(2.0):
        await store.get_job("mail")  # spends 1.5 s: 0.5 s left
        await store.get_job("mail")  # starts with 0.5 s left, spends 1.5 s
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the unstarted call is closed, not leaked
            with pytest.raises(BackendUnavailableError, match="request's"):
                await store.get_job("mail")
    assert (await store.get_job("mail")) is not None  # outside the block: per call again


class SlowClaims(MemoryJobStore):
    """``claim_slot`` answers only once ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def claim_slot(self, job_id: str, expected_next_run_at: datetime,  # type: ignore[override]
                         new_next_run_at: datetime | None, now: datetime) -> bool:
        await self.release.wait()
        return await super().claim_slot(job_id, expected_next_run_at, new_next_run_at, now)


async def test_a_slot_claim_is_never_cancelled_so_a_landed_claim_is_never_lost() -> None:
    inner = SlowClaims()
    await inner.ensure_job("mail", JobConfig(), T0, T0)
    store = DeadlineStore(inner, deadline=0.01)
    claim = asyncio.ensure_future(store.claim_slot("mail", T0, None, T0))
    await asyncio.sleep(0.05)  # five deadlines pass: the claim is still waiting, not cancelled
    assert not claim.done()
    inner.release.set()
    assert await claim is True


def test_the_wrapped_store_is_still_reachable_and_wrapping_is_idempotent() -> None:
    inner = MemoryJobStore()
    store = DeadlineStore(inner, deadline=1)
    assert store.inner is inner and store.close == inner.close
    assert bounded(store, 1) is store and bounded(inner, None) is inner
    with pytest.raises(ValueError, match="> 0"):
        DeadlineStore(inner, deadline=0)

