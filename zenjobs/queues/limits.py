"""Cloud Tasks' own limits: what a task may be, and a queue's rate and retry settings.

Both the simulated queue and the production dispatcher refuse the same tasks
for the same reasons, so a task that works in ``zenjobs dev`` is not refused by
Google later. :class:`QueueSettings` mirrors a queue's ``rateLimits`` and
``retryConfig`` with Cloud Tasks' defaults. Pure code: no SDK or HTTP client
is imported here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from ..errors import ConfigurationError, PayloadError, ZenjobsError
from .protocol import HttpTask

#: Cloud Tasks refuses a task larger than 1 MB (body, URL, headers and name together).
MAX_TASK_BYTES = 1_048_576
#: A task id: letters, digits, hyphens and underscores, at most 500 characters.
TASK_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,500}\Z")
#: A queue id, as Cloud Tasks accepts it.
QUEUE_ID_PATTERN = re.compile(r"^[A-Za-z0-9-]{1,100}\Z")


def job_id_of(task: HttpTask) -> str:
    """The job a task runs: the last path segment of ``/_zenjobs/run/{job_id}``.

    Errors name the job (house rule); a URL of another shape falls back to the task name.
    """
    path = urlsplit(task.url).path.rstrip("/")
    head, _, last = path.rpartition("/")
    return last if head.endswith("/run") and last else task.name


def task_size(task: HttpTask) -> int:
    """Bytes Cloud Tasks counts against its limit (a close, slightly generous estimate)."""
    headers = sum(len(k.encode()) + len(v.encode()) + 4 for k, v in task.headers.items())
    return len(task.body) + len(task.url.encode()) + len(task.name.encode()) + headers


def check_task(task: HttpTask) -> None:
    """Refuse what Cloud Tasks would refuse, with an error naming the queue, task and job."""
    if not QUEUE_ID_PATTERN.match(task.queue):
        raise ZenjobsError(
            f"queue {task.queue!r} (task {task.name!r}): a queue id has 1-100 letters, "
            "digits or hyphens"
        )
    if task.name and not TASK_ID_PATTERN.match(task.name):
        raise ZenjobsError(
            f"task {task.name!r} in queue {task.queue!r}: a task id has 1-500 letters, "
            "digits, hyphens or underscores"
        )
    if not task.url.startswith(("http://", "https://")):
        raise ZenjobsError(
            f"task {task.name!r} in queue {task.queue!r}: url {task.url!r} is not http(s)"
        )
    size = task_size(task)
    if size > MAX_TASK_BYTES:
        raise PayloadError(
            job_id_of(task),
            f"task {task.name!r} for queue {task.queue!r} is {size} bytes, over the Cloud "
            f"Tasks limit of {MAX_TASK_BYTES} bytes; store large data elsewhere and pass a "
            "reference",
        )


@dataclass(frozen=True)
class QueueSettings:
    """A queue's rate limits and RetryConfig; every default is Cloud Tasks' own."""

    max_dispatches_per_second: float = 500.0
    max_burst_size: int = 100
    max_concurrent_dispatches: int = 1000
    max_attempts: int = 100  # -1: unlimited
    min_backoff: timedelta = timedelta(seconds=0.1)
    max_backoff: timedelta = timedelta(seconds=3600)
    max_doublings: int = 16
    max_retry_duration: timedelta = timedelta(0)  # zero: no age limit

    def __post_init__(self) -> None:
        problems = []
        if not self.max_dispatches_per_second > 0:
            problems.append("max_dispatches_per_second must be > 0")
        if self.max_burst_size < 1:
            problems.append("max_burst_size must be >= 1")
        if self.max_concurrent_dispatches < 1:
            problems.append("max_concurrent_dispatches must be >= 1")
        if self.max_attempts < -1 or self.max_attempts == 0:
            problems.append("max_attempts must be -1 (unlimited) or >= 1")
        if self.min_backoff < timedelta(0) or self.max_backoff < self.min_backoff:
            problems.append("backoffs must satisfy 0 <= min_backoff <= max_backoff")
        if self.max_doublings < 0 or self.max_retry_duration < timedelta(0):
            problems.append("max_doublings and max_retry_duration must be >= 0")
        if problems:
            raise ConfigurationError("queue settings: " + "; ".join(problems))

    def backoff(self, retry: int) -> timedelta:
        """Delay before retry number ``retry`` (1 = first retry), as RetryConfig defines it.

        The interval starts at ``min_backoff``, doubles ``max_doublings`` times,
        then grows linearly by its last doubled value, capped at ``max_backoff``
        (min 10s, max 300s, 3 doublings: 10, 20, 40, 80, 160, 240, 300, 300...).
        """
        k = max(retry, 1) - 1
        d = self.max_doublings
        base = self.min_backoff * (1 << min(k, d))
        if k > d:
            base = self.min_backoff * (1 << d) * (k - d + 1)
        return min(base, self.max_backoff)

    def gives_up(self, attempts: int, since_first_attempt: timedelta) -> bool:
        """Both limits are used up (Cloud Tasks stops only when both are satisfied)."""
        attempts_done = self.max_attempts != -1 and attempts >= self.max_attempts
        age_done = not self.max_retry_duration or since_first_attempt >= self.max_retry_duration
        return attempts_done and age_done
