"""The job registry: descriptors and their handlers, as pure data.

Registering a job touches no network and imports no cloud SDK; the registry
is what ``zenjobs gen-infra`` reads to write Terraform and what the runtime
reads to run jobs, so both always agree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from .descriptor import JobDescriptor
from .errors import DefinitionError, Problem, RegistryValidationError, UnknownJobError
from .validation import handler_error, registry_problems
from .vocabulary import JobType

AsyncHandler = Callable[["JobContext"], Awaitable[Any]]
SyncHandler = Callable[["JobContext"], Any]
Handler = AsyncHandler | SyncHandler
H = TypeVar("H", bound=Callable[..., Any])


@dataclass(frozen=True)
class JobContext:
    """What a handler is told about the run it performs.

    ``execution_id`` is stable across attempts and duplicate deliveries, so a
    handler can use it as an idempotency key for its own side effects.
    """

    job_id: str
    execution_id: str
    attempt: int
    payload: Any
    scheduled_for: datetime
    trigger: str


class ZenJobs:
    """A registry of job descriptors and handlers.

    >>> jobs = ZenJobs()
    >>> @jobs.job("send_welcome_email", type="endpoint")
    ... async def send(ctx: JobContext) -> None: ...
    """

    def __init__(self) -> None:
        self._descriptors: dict[str, JobDescriptor] = {}
        self._handlers: dict[str, Handler] = {}

    # -- declaring -------------------------------------------------------

    def register(self, descriptor: JobDescriptor) -> JobDescriptor:
        """Add a descriptor; registering an id twice is an error, not an overwrite."""
        if not isinstance(descriptor, JobDescriptor):
            raise TypeError(f"register() takes a JobDescriptor, got {type(descriptor).__name__}")
        if descriptor.id in self._descriptors:
            raise DefinitionError(descriptor.id, "id", "a job with this id is already registered")
        if descriptor.id in self._handlers:
            error = handler_error(descriptor, self._handlers[descriptor.id])
            if error:
                raise DefinitionError(descriptor.id, "handler", error)
        self._descriptors[descriptor.id] = descriptor
        return descriptor

    def register_handler(self, job_id: str, fn: Handler) -> None:
        """Attach ``fn`` as the handler of ``job_id`` (once per job)."""
        if job_id in self._handlers:
            raise DefinitionError(job_id, "handler", "a handler is already registered")
        descriptor = self._descriptors.get(job_id)
        if descriptor is not None:
            error = handler_error(descriptor, fn)
            if error:
                raise DefinitionError(job_id, "handler", error)
        self._handlers[job_id] = fn

    def handler(self, job_id: str) -> Callable[[H], H]:
        """Decorator form of :meth:`register_handler`."""

        def decorate(fn: H) -> H:
            self.register_handler(job_id, fn)
            return fn

        return decorate

    def job(
        self, id: str, *, type: JobType | str = JobType.ENDPOINT, **fields: Any
    ) -> Callable[[H], H]:
        """Declare a descriptor and its handler in one step.

        ``@jobs.job("cleanup", type="periodic", interval=timedelta(hours=1))``
        is sugar for ``register(JobDescriptor(...))`` plus ``handler(...)``.
        """
        descriptor = JobDescriptor(id=id, type=type, **fields)  # type: ignore[arg-type]

        def decorate(fn: H) -> H:
            error = handler_error(descriptor, fn)
            if error:
                raise DefinitionError(id, "handler", error)
            self.register(descriptor)
            self.register_handler(id, fn)
            return fn

        return decorate

    # -- looking up ------------------------------------------------------

    def get(self, job_id: str) -> JobDescriptor:
        """The descriptor of ``job_id``; raises :class:`UnknownJobError`."""
        try:
            return self._descriptors[job_id]
        except KeyError:
            raise UnknownJobError(job_id) from None

    def handler_for(self, job_id: str) -> Handler:
        """The handler of ``job_id``; raises :class:`UnknownJobError`."""
        self.get(job_id)
        try:
            return self._handlers[job_id]
        except KeyError:
            raise DefinitionError(job_id, "handler", "no handler registered") from None

    def has_handler(self, job_id: str) -> bool:
        return job_id in self._handlers

    @property
    def descriptors(self) -> tuple[JobDescriptor, ...]:
        """All descriptors, in registration order."""
        return tuple(self._descriptors.values())

    def __iter__(self) -> Iterator[JobDescriptor]:
        return iter(self.descriptors)

    def __len__(self) -> int:
        return len(self._descriptors)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._descriptors

    # -- checking --------------------------------------------------------

    def problems(self, *, require_handlers: bool = True) -> list[Problem]:
        """Every cross-job problem (dependencies, cycles, handlers)."""
        return registry_problems(
            self._descriptors, self._handlers, require_handlers=require_handlers
        )

    def validate(self, *, require_handlers: bool = True) -> None:
        """Raise :class:`RegistryValidationError` listing every problem, if any.

        The runtime calls this with ``require_handlers=True`` before it starts:
        a descriptor without a handler would otherwise fail only when it fires.
        """
        problems = self.problems(require_handlers=require_handlers)
        if problems:
            raise RegistryValidationError(problems)
