"""A bounded wait on any store: an outage answers 503 in seconds, not after 30.

:class:`DeadlineStore` wraps the store the runtime uses on its request path.
Each call may take at most ``deadline`` seconds; inside a :func:`store_budget`
block (the engine opens one per delivery) all the calls of the block share one
budget of that size, so a delivery spends at most ``deadline`` seconds in total
waiting on the store, whatever the handler's own run time. Past it the call is
cancelled and :class:`~zenjobs.errors.BackendUnavailableError` raised, which the
webhook answers 503 with ``Retry-After``; Cloud Tasks delivers again later.

Nothing is half written by a cancelled call: every state change of every store
is one atomic step (a transaction or compare-and-set). A write cancelled while
in flight either landed whole or not at all, and the next delivery reads either
outcome correctly: a landed lease is held until it expires and is then taken
over, a landed run record or outcome is found. The one write whose unknown
outcome would lose work, a tick's slot claim, is left unbounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from ..errors import BackendUnavailableError
from .protocol import JobStore
from .records import (
    ConfigEdit,
    EditRecord,
    EditResult,
    JobConfig,
    JobRecord,
    LeaseResult,
    OverdueRun,
    RunCursor,
    RunRecord,
    RunResult,
)

__all__ = ["DEFAULT_STORE_DEADLINE", "DeadlineStore", "bounded", "store_budget"]

#: ``asyncio.timeout`` where there is one: ``wait_for`` wraps every call in a new task,
#: which cost the webhook about a fifth of its throughput (benchmarks/bench_webhook.py).
_timeout: Callable[[float], Any] | None = getattr(asyncio, "timeout", None)

T = TypeVar("T")

#: The default deadline, in seconds, of the store calls of one request.
DEFAULT_STORE_DEADLINE = 2.0


@dataclass
class _Budget:
    remaining: float


_budget: ContextVar[_Budget | None] = ContextVar("zenjobs_store_budget", default=None)


@contextlib.contextmanager
def store_budget(seconds: float) -> Iterator[None]:
    """Let the :class:`DeadlineStore` calls of this block share ``seconds`` in total."""
    token = _budget.set(_Budget(seconds))
    try:
        yield
    finally:
        _budget.reset(token)


class DeadlineStore:
    """Any :class:`JobStore`, with every call bounded (see the module docstring)."""

    def __init__(self, inner: JobStore, deadline: float = DEFAULT_STORE_DEADLINE, *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if not deadline > 0:
            raise ValueError(f"store deadline must be > 0 seconds, got {deadline!r}")
        self.inner = inner
        self.deadline = deadline
        self._monotonic = monotonic

    async def _bounded(self, what: str, call: Coroutine[Any, Any, T]) -> T:
        budget = _budget.get()
        limit = self.deadline if budget is None else min(self.deadline, budget.remaining)
        started = self._monotonic()
        try:
            if limit <= 0:
                call.close()
                raise asyncio.TimeoutError
            if _timeout is not None:  # 3.11+: a timer on this task, no task per call
                async with _timeout(limit):
                    return await call
            return await asyncio.wait_for(call, limit)
        except asyncio.TimeoutError:
            spent = "the request's" if budget is not None else "its"
            raise BackendUnavailableError(
                f"the job store did not answer {what} within {spent} {self.deadline:g} s "
                "deadline") from None
        finally:
            if budget is not None:
                budget.remaining -= self._monotonic() - started

    def __getattr__(self, name: str) -> Any:
        # Anything beyond the protocol (close, counters, the Firestore client) is the
        # wrapped store's own; only the protocol's calls are on the request path.
        return getattr(self.inner, name)

    async def ensure_job(self, job_id: str, config: JobConfig, next_run_at: datetime | None,
                         now: datetime) -> tuple[JobRecord, bool]:
        return await self._bounded("ensure_job", self.inner.ensure_job(job_id, config,
                                                                       next_run_at, now))

    async def get_job(self, job_id: str) -> JobRecord | None:
        return await self._bounded("get_job", self.inner.get_job(job_id))

    async def get_jobs(self, job_ids: Sequence[str]) -> dict[str, JobRecord]:
        return await self._bounded("get_jobs", self.inner.get_jobs(job_ids))

    async def list_jobs(self) -> list[JobRecord]:
        return await self._bounded("list_jobs", self.inner.list_jobs())

    async def update_job(self, job_id: str, *, config: JobConfig | None = None,
                         next_run_at: datetime | object | None = ...,
                         misconfigured: str | object | None = ..., now: datetime) -> JobRecord:
        return await self._bounded("update_job", self.inner.update_job(
            job_id, config=config, next_run_at=next_run_at, misconfigured=misconfigured,
            now=now))

    async def edit_job(self, job_id: str, edit: ConfigEdit, now: datetime) -> EditResult:
        return await self._bounded("edit_job", self.inner.edit_job(job_id, edit, now))

    async def list_edits(self, job_id: str, limit: int) -> list[EditRecord]:
        return await self._bounded("list_edits", self.inner.list_edits(job_id, limit))

    async def due_jobs(self, now: datetime, limit: int) -> list[JobRecord]:
        return await self._bounded("due_jobs", self.inner.due_jobs(now, limit))

    async def claim_slot(self, job_id: str, expected_next_run_at: datetime,
                         new_next_run_at: datetime | None, now: datetime) -> bool:
        # Not bounded, on purpose: a claim cancelled in flight may still land, and a
        # landed claim whose winner never learns it has no run: the slot would be
        # lost. The tick's due query before it is bounded, so a store that is down
        # still answers 503 in seconds; one that fails mid-tick costs the client's
        # own RPC timeout. Every other cancelled step is safe (see the docstring).
        return await self.inner.claim_slot(job_id, expected_next_run_at, new_next_run_at, now)

    async def create_run(self, run: RunRecord) -> bool:
        return await self._bounded("create_run", self.inner.create_run(run))

    async def get_run(self, job_id: str, execution_id: str) -> RunRecord | None:
        return await self._bounded("get_run", self.inner.get_run(job_id, execution_id))

    async def list_runs(self, job_id: str, limit: int, *,
                        before: RunCursor | None = None) -> list[RunRecord]:
        # Without a cursor the call is the one the runtime always made.
        call = (self.inner.list_runs(job_id, limit) if before is None
                else self.inner.list_runs(job_id, limit, before=before))
        return await self._bounded("list_runs", call)

    async def dead_runs(self, limit: int, *, job_id: str | None = None,
                        before: RunCursor | None = None) -> list[RunRecord]:
        return await self._bounded("dead_runs", self.inner.dead_runs(limit, job_id=job_id,
                                                                     before=before))

    async def run_counts(self, job_ids: Sequence[str],
                         since: datetime) -> dict[str, dict[str, int]]:
        return await self._bounded("run_counts", self.inner.run_counts(job_ids, since))

    async def acquire_lease(self, job_id: str, execution_id: str, attempt: int, holder: str,
                            now: datetime, lease_until: datetime) -> LeaseResult:
        return await self._bounded("acquire_lease", self.inner.acquire_lease(
            job_id, execution_id, attempt, holder, now, lease_until))

    async def finish_attempt(self, job_id: str, execution_id: str, holder: str,
                             result: RunResult) -> RunRecord | None:
        return await self._bounded("finish_attempt", self.inner.finish_attempt(
            job_id, execution_id, holder, result))

    async def record_skip(self, run: RunRecord) -> bool:
        return await self._bounded("record_skip", self.inner.record_skip(run))

    async def reopen_run(self, job_id: str, execution_id: str, now: datetime) -> RunRecord | None:
        return await self._bounded("reopen_run", self.inner.reopen_run(job_id, execution_id, now))

    async def overdue_runs(self, cutoff: datetime, limit: int) -> list[OverdueRun]:
        return await self._bounded("overdue_runs", self.inner.overdue_runs(cutoff, limit))

    async def defer_overdue(self, seen: OverdueRun, until: datetime) -> bool:
        return await self._bounded("defer_overdue", self.inner.defer_overdue(seen, until))


def bounded(store: JobStore, deadline: float | None) -> JobStore:
    """``store`` behind a :class:`DeadlineStore`, or as it is when ``deadline`` is None."""
    if deadline is None or isinstance(store, DeadlineStore):
        return store
    return DeadlineStore(store, deadline)

