"""Backoff: capped exponential growth with deterministic jitter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zenjobs import BackoffPolicy
from zenjobs.runtime.retry import backoff_delay, base_delay, jitter_unit


def test_exponential_then_capped_without_jitter() -> None:
    policy = BackoffPolicy(initial=timedelta(seconds=10), maximum=timedelta(seconds=60),
                           multiplier=2.0, jitter=0.0)
    delays = [backoff_delay(policy, n, "x").total_seconds() for n in range(1, 7)]
    assert delays == [10, 20, 40, 60, 60, 60]


def test_jitter_is_the_same_on_every_call_and_differs_between_executions() -> None:
    policy = BackoffPolicy()
    first = [backoff_delay(policy, n, "job-1") for n in range(1, 5)]
    assert first == [backoff_delay(policy, n, "job-1") for n in range(1, 5)]
    assert first != [backoff_delay(policy, n, "job-2") for n in range(1, 5)]
    assert backoff_delay(policy, 1, "job-1") == timedelta(seconds=10.191)  # pinned


def test_huge_attempts_do_not_overflow() -> None:
    policy = BackoffPolicy(multiplier=1000.0, jitter=0.0)
    assert backoff_delay(policy, 10_000, "x") == policy.maximum
    with pytest.raises(ValueError):
        base_delay(policy, 0)


@given(attempt=st.integers(1, 50), execution_id=st.text(max_size=40),
       jitter=st.floats(0, 1))
def test_delay_stays_within_the_jitter_band(attempt: int, execution_id: str,
                                            jitter: float) -> None:
    policy = BackoffPolicy(jitter=jitter)
    base = base_delay(policy, attempt).total_seconds()
    delay = backoff_delay(policy, attempt, execution_id).total_seconds()
    assert base * (1 - jitter) - 0.001 <= delay <= base * (1 + jitter) + 0.001
    assert -1.0 <= jitter_unit(execution_id, attempt) < 1.0
