"""Retry delays: exponential, capped, with jitter that is the same on every run.

Jitter spreads retries of many executions that failed together (a provider
outage) so they do not come back as one burst. Deriving it from a hash of the
execution id and attempt instead of a random generator keeps it reproducible:
a test, a replayed log and every instance compute the same delay.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from ..vocabulary import BackoffPolicy


def jitter_unit(execution_id: str, attempt: int) -> float:
    """A number in [-1, 1), fixed for one (execution id, attempt)."""
    digest = hashlib.sha256(f"{execution_id}\x1f{attempt}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return 2.0 * fraction - 1.0


def base_delay(policy: BackoffPolicy, attempt: int) -> timedelta:
    """``min(initial * multiplier**(attempt-1), maximum)`` for the attempt that failed."""
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    initial = policy.initial.total_seconds()
    maximum = policy.maximum.total_seconds()
    try:
        seconds = initial * float(policy.multiplier) ** (attempt - 1)
    except OverflowError:
        seconds = maximum
    return timedelta(seconds=min(seconds, maximum))


def backoff_delay(policy: BackoffPolicy, attempt: int, execution_id: str) -> timedelta:
    """How long to wait after ``attempt`` failed before the next attempt runs.

    The capped exponential delay is scaled by ``1 ± jitter`` (deterministic,
    see :func:`jitter_unit`) and rounded to whole milliseconds.
    """
    base = base_delay(policy, attempt).total_seconds()
    seconds = base * (1.0 + float(policy.jitter) * jitter_unit(execution_id, attempt))
    return timedelta(milliseconds=round(max(seconds, 0.0) * 1000))
