"""The one exception tree of zenjobs.

Every error zenjobs raises derives from :class:`ZenjobsError`, so callers can
catch the whole family with one clause and tell the kinds apart by subclass.
Errors about a job carry the job id and the field they concern, because a
message like "invalid cron" without saying which job is useless in a registry
of hundreds.

::

    ZenjobsError
    ├── DefinitionError            a job definition is wrong (job_id, field)
    │   └── RegistryValidationError  several problems found at once
    ├── RegistryLoadError          the registry module cannot be imported
    ├── UnknownJobError            no job with that id is registered
    ├── ConfigurationError         a runtime setting is missing or invalid
    ├── PayloadError               a payload is not JSON or is too large
    ├── InvalidRequestError        a webhook request is malformed (HTTP 400)
    ├── BackendUnavailableError    the store or the queue cannot be reached (retryable)
    ├── LeaseHeldError             another holder runs this execution now (retryable)
    ├── AuthenticationError        a webhook request has no valid OIDC token (HTTP 401)
    ├── PermissionDeniedError      a valid token of an identity not allowed (HTTP 403)
    ├── JobTimeoutError            a handler ran past its timeout
    ├── HeavyJobError              a heavy handler failed in its subprocess (unpicklable error)
    └── PermanentError             raised by a handler: do not retry this run
"""

from __future__ import annotations

from dataclasses import dataclass


class ZenjobsError(Exception):
    """Root of every error raised by zenjobs."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field of one job."""

    job_id: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"job {self.job_id!r}, field {self.field!r}: {self.message}"


class DefinitionError(ZenjobsError):
    """A job definition is invalid; names the job and the field."""

    def __init__(self, job_id: str, field: str, message: str) -> None:
        self.problem = Problem(job_id, field, message)
        super().__init__(str(self.problem))

    @property
    def job_id(self) -> str:
        return self.problem.job_id

    @property
    def field(self) -> str:
        return self.problem.field


class RegistryValidationError(DefinitionError):
    """Several problems found while validating a whole registry.

    Raised by :meth:`zenjobs.ZenJobs.validate` so that a user sees every
    mistake at once instead of fixing them one run at a time.
    """

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("RegistryValidationError needs at least one problem")
        self.problems = list(problems)
        first = self.problems[0]
        super().__init__(first.job_id, first.field, first.message)
        self.args = ("\n".join(str(p) for p in self.problems),)

    def __str__(self) -> str:
        return str(self.args[0])


class RegistryLoadError(ZenjobsError):
    """The registry named by ``module:attribute`` cannot be imported or is not a registry."""


class UnknownJobError(ZenjobsError, LookupError):
    """No job with this id is registered (a newer revision may know it)."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"unknown job {job_id!r}")


class ConfigurationError(ZenjobsError):
    """A runtime setting is missing or invalid; the message names each one."""


class PayloadError(ZenjobsError, ValueError):
    """A payload cannot be sent: not JSON-serialisable, or over the size limit."""

    def __init__(self, job_id: str, message: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id!r}, field 'payload': {message}")


class InvalidRequestError(ZenjobsError, ValueError):
    """A webhook request or task envelope is malformed; answered with HTTP 400.

    ``field`` names the envelope field, header or argument at fault (the webhook
    puts it in its JSON error body), or is None when no single field is.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class BackendUnavailableError(ZenjobsError):
    """The store or the task queue is unreachable; the caller should retry later."""


class LeaseHeldError(ZenjobsError):
    """Another holder's lease on this execution is live; retry after it expires."""


class AuthenticationError(ZenjobsError):
    """A webhook request carries no valid OIDC token; answered with HTTP 401, runs nothing."""


class PermissionDeniedError(ZenjobsError):
    """A valid token of an identity that may not call the webhook; HTTP 403, runs nothing."""


class HeavyJobError(ZenjobsError):
    """A heavy handler raised an exception that could not cross the process boundary.

    Carries the original exception's type name (``error_type``) and message, so
    run records read the same as for an in-process failure.
    """

    def __init__(self, error_type: str, message: str) -> None:
        self.error_type = error_type
        self.error_message = message
        super().__init__(f"{error_type}: {message}" if message else error_type)

    def __reduce__(self) -> tuple[type[HeavyJobError], tuple[str, str]]:
        return (type(self), (self.error_type, self.error_message))


class JobTimeoutError(ZenjobsError, TimeoutError):
    """A handler ran longer than its descriptor's ``timeout``; counts as a failure."""


class PermanentError(ZenjobsError):
    """Raise from a handler to fail the run without further retries."""
