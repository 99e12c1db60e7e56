"""Random operation sequences give identical answers and state on every backend.

The memory store is the reference; each other backend in ``BACKENDS`` replays
the same sequence and must agree on every return value, every raised error
type and the full state after each step. The hand-written contract tests pin
the rules; this catches the combinations nobody thought to write down.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zenjobs.stores.protocol import JobStore
from zenjobs.stores.records import (
    KEEP,
    ConfigEdit,
    JobConfig,
    NextRun,
    RunRecord,
    RunResult,
    RunStatus,
    Trigger,
)

from .conftest import BACKENDS, close_store, make_store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
JOBS = ("a", "b")
EXECS = ("e1", "e2")
HOLDERS = ("h1", "h2")
FINISH_STATUSES = (RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.DEAD,
                   RunStatus.RETRY_SCHEDULED, RunStatus.SKIPPED_DISABLED)

Op = Callable[[JobStore], Awaitable[Any]]


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def maybe_at(minutes: int | None) -> datetime | None:
    return None if minutes is None else at(minutes)


minutes = st.integers(-3, 3)
jobs, execs, holders = st.sampled_from(JOBS), st.sampled_from(EXECS), st.sampled_from(HOLDERS)


@st.composite
def setup(draw: st.DrawFn) -> list[tuple[str, Op]]:
    """Both jobs and both runs of job "a" exist, with ties likely, so that ops bite."""
    ops: list[tuple[str, Op]] = []
    for job in JOBS:
        config = JobConfig(priority=draw(st.sampled_from([0, 0, 1])))
        ops.append(("ensure", ensure_op(job, config, at(draw(st.integers(-1, 0))))))
    for ex in EXECS:
        ops.append(("create", create_op(RunRecord("a", ex, Trigger.SCHEDULE,
                                                  at(draw(st.integers(0, 1)))))))
    return ops


def ensure_op(job: str, config: JobConfig, nxt: datetime | None) -> Op:
    return lambda s: s.ensure_job(job, config, nxt, T0)


def create_op(run: RunRecord) -> Op:
    return lambda s: s.create_run(run)


@st.composite
def operations(draw: st.DrawFn) -> tuple[str, Op]:
    kind = draw(st.sampled_from(["ensure", "update", "edit", "due", "claim", "create", "lease",
                                 "finish", "skip", "reopen", "attempt", "attempt", "attempt",
                                 "overdue", "defer"]))
    job, ex, holder = draw(jobs), draw(execs), draw(holders)
    if kind in ("lease", "finish", "skip", "reopen", "attempt"):
        job = "a"
    if kind == "attempt":
        return kind, attempt_op(ex, holder, draw(st.sampled_from([0, 0, 0, -1, 1])),
                                at(draw(st.integers(0, 8))), draw(st.sampled_from(FINISH_STATUSES)),
                                draw(st.sampled_from([holder, holder, holder, "other"])))
    if kind == "ensure":
        config = JobConfig(enabled=draw(st.booleans()), priority=draw(st.integers(0, 2)))
        return kind, ensure_op(job, config, maybe_at(draw(st.none() | minutes)))
    if kind == "update":
        enabled = draw(st.booleans())
        change: object = draw(st.just(...) | st.none() | minutes.map(at))
        return kind, lambda s: s.update_job(job, config=JobConfig(enabled=enabled),
                                            next_run_at=change, now=T0)
    if kind == "edit":
        return kind, edit_op(job, draw(st.sampled_from(["enabled", "priority"])),
                             draw(st.integers(0, 2)), draw(st.just(KEEP) | st.none() | minutes),
                             at(draw(minutes)))
    if kind == "due":
        now, limit = at(draw(minutes)), draw(st.integers(0, 3))
        return kind, lambda s: s.due_jobs(now, limit)
    if kind == "overdue":
        cutoff, limit = at(draw(st.integers(-3, 12))), draw(st.integers(0, 3))
        return kind, lambda s: s.overdue_runs(cutoff, limit)
    if kind == "defer":
        return kind, defer_op(draw(st.integers(0, 2)), at(draw(st.integers(0, 40))))
    if kind == "claim":
        expected, new = at(draw(minutes)), maybe_at(draw(st.none() | minutes))
        return kind, lambda s: s.claim_slot(job, expected, new, T0)
    if kind == "create":
        return kind, create_op(RunRecord(
            job, ex, Trigger.SCHEDULE, at(draw(minutes)),
            status=draw(st.sampled_from([RunStatus.PENDING, RunStatus.FAILURE])),
            attempt=draw(st.integers(1, 2)), payload={"n": draw(st.integers(0, 9))}))
    if kind == "lease":
        attempt, now = draw(st.integers(1, 3)), at(draw(st.integers(0, 8)))
        until = now + timedelta(minutes=draw(st.integers(1, 4)))
        return kind, lambda s: s.acquire_lease(job, ex, attempt, holder, now, until)
    if kind == "finish":
        result = RunResult(draw(st.sampled_from(FINISH_STATUSES)), at(draw(st.integers(0, 9))),
                           duration_ms=draw(st.integers(0, 10)), error_type="E")
        return kind, lambda s: s.finish_attempt(job, ex, holder, result)
    if kind == "skip":
        skip = RunRecord(job, ex, Trigger.SCHEDULE, T0, status=RunStatus.SKIPPED_ENDED,
                         finished_at=at(draw(minutes)))
        return kind, lambda s: s.record_skip(skip)
    now = at(draw(st.integers(0, 9)))
    return kind, lambda s: s.reopen_run(job, ex, now)


def edit_op(job: str, field: str, value: int, nxt: int | object | None, now: datetime) -> Op:
    """A field-level edit whose plan moves ``next_run_at`` (or keeps it, for KEEP)."""
    change = {field: bool(value) if field == "enabled" else value}
    moved: NextRun = KEEP if nxt is KEEP else maybe_at(nxt if isinstance(nxt, int) else None)
    return lambda s: s.edit_job(job, ConfigEdit(change, "ana", "set", lambda b, c: moved), now)


def defer_op(index: int, until: datetime) -> Op:
    """Defer the ``index``-th overdue run (as read just before), if there is one."""
    async def op(s: JobStore) -> Any:
        found = await s.overdue_runs(at(30), 3)
        return None if index >= len(found) else await s.defer_overdue(found[index], until)

    return op


def attempt_op(ex: str, holder: str, delta: int, now: datetime, status: RunStatus,
               finisher: str) -> Op:
    """One delivery of the record's current attempt (give or take ``delta``): lease, then end."""
    async def op(s: JobStore) -> Any:
        run = await s.get_run("a", ex)
        attempt = (run.attempt if run is not None else 1) + delta
        lease = await s.acquire_lease("a", ex, attempt, holder, now, now + timedelta(minutes=2))
        result = RunResult(status, now + timedelta(minutes=1), duration_ms=1, error_type="E")
        return lease, await s.finish_attempt("a", ex, finisher, result)

    return op


async def outcome(call: Awaitable[Any]) -> Any:
    try:
        return await call
    except Exception as exc:  # the error *type* is part of the contract
        return ("raised", type(exc).__name__)


async def snapshot(store: JobStore) -> Any:
    return (await store.list_jobs(), await store.due_jobs(at(10), 10),
            [await store.list_runs(job, 10) for job in JOBS],
            [await store.list_edits(job, 10) for job in JOBS],
            await store.overdue_runs(at(50), 10))


async def replay(name: str, root: Path, ops: list[tuple[str, Op]]) -> list[Any]:
    store = make_store(name, root / name)
    try:
        trace = []
        for kind, op in ops:
            trace.append((kind, await outcome(op(store)), await snapshot(store)))
        return trace
    finally:
        await close_store(store)


#: Examples per backend. 50 random sequences take a second on SQLite; on the Firestore
#: emulator each costs ~0.3 s, so it gets fewer (the contract tests cover it in depth).
MAX_EXAMPLES = {"firestore": 15}
DEFAULT_MAX_EXAMPLES = 50


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "memory"])
def test_backend_agrees_with_memory_reference(backend: str) -> None:
    @settings(max_examples=MAX_EXAMPLES.get(backend, DEFAULT_MAX_EXAMPLES), deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(prefix=setup(), steps=st.lists(operations(), min_size=1, max_size=25))
    def agrees(prefix: list[tuple[str, Op]], steps: list[tuple[str, Op]]) -> None:
        ops = prefix + steps
        with tempfile.TemporaryDirectory() as tmp:
            reference = asyncio.run(replay("memory", Path(tmp), ops))
            candidate = asyncio.run(replay(backend, Path(tmp), ops))
        for step, (expected, got) in enumerate(zip(reference, candidate, strict=True)):
            assert got == expected, f"step {step} ({expected[0]}) differs"

    agrees()
