"""zenjobs: deterministic background and scheduled jobs for serverless Python on Google Cloud.

This module exposes the definition side only: declaring jobs imports no cloud
SDK, jinja2 or click. The runtime entry point :class:`ZenJobsExecutor` is
resolved lazily on first access so that ``import zenjobs`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .descriptor import JobDescriptor
from .errors import (
    AuthenticationError,
    BackendUnavailableError,
    ConfigurationError,
    DefinitionError,
    HeavyJobError,
    InvalidRequestError,
    JobTimeoutError,
    LeaseHeldError,
    PayloadError,
    PermanentError,
    PermissionDeniedError,
    Problem,
    RegistryLoadError,
    RegistryValidationError,
    UnknownJobError,
    ZenjobsError,
)
from .registry import JobContext, ZenJobs
from .vocabulary import MASTER_JOB_ID, BackoffPolicy, DstPolicy, JobType, RateLimit, Weight

if TYPE_CHECKING:
    from .runtime.executor import ZenJobsExecutor

__all__ = [
    "MASTER_JOB_ID",
    "AuthenticationError",
    "BackendUnavailableError",
    "BackoffPolicy",
    "ConfigurationError",
    "DefinitionError",
    "DstPolicy",
    "HeavyJobError",
    "InvalidRequestError",
    "JobContext",
    "JobDescriptor",
    "JobTimeoutError",
    "JobType",
    "LeaseHeldError",
    "PayloadError",
    "PermanentError",
    "PermissionDeniedError",
    "Problem",
    "RateLimit",
    "RegistryLoadError",
    "RegistryValidationError",
    "UnknownJobError",
    "Weight",
    "ZenJobs",
    "ZenJobsExecutor",
    "ZenjobsError",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "ZenJobsExecutor":
        from .runtime.executor import ZenJobsExecutor

        return ZenJobsExecutor
    raise AttributeError(f"module 'zenjobs' has no attribute {name!r}")
