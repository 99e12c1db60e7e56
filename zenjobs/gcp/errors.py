"""One mapping from Google API failures to the zenjobs exception tree, for every GCP backend.

Firestore, Cloud Tasks and Cloud Scheduler fail the same way (gRPC status
codes carried by ``google.api_core`` exceptions), so they share one rule:

- a transient code (:data:`TRANSIENT`, or a connection-level :class:`OSError`)
  is :class:`~zenjobs.errors.BackendUnavailableError`: try again later;
- a code the backend gives a hint for (typically ``NOT_FOUND``,
  ``PERMISSION_DENIED``, ``UNAUTHENTICATED``, ``FAILED_PRECONDITION``) means
  the deployment is wrong: :class:`~zenjobs.errors.ConfigurationError`, with
  the hint saying what to do;
- anything else is a plain :class:`~zenjobs.errors.ZenjobsError`.

Every message reads ``<context>: <CODE> <server message> (<hint>)``, where the
caller's context names the resource and the operation (queue, task and job;
the master job; the Firestore operation).

Nothing here imports ``google``: the status code is read off the exception's
attributes, so importing a GCP backend still loads no SDK.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import BackendUnavailableError, ConfigurationError, ZenjobsError

__all__ = ["TRANSIENT", "describe", "require_settings", "status_code", "status_message",
           "translate"]

#: gRPC status names worth retrying: the service was unreachable, slow or overloaded.
TRANSIENT = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "INTERNAL"})

#: The hint of a transient failure when the backend gives none.
TRY_AGAIN = "a transient failure: try again"


def status_code(exc: BaseException | None) -> str:
    """The gRPC status name (``NOT_FOUND``), else the exception's class name."""
    status = getattr(exc, "grpc_status_code", None)
    name = getattr(status, "name", None)
    return str(name) if name else type(exc).__name__


def status_message(exc: BaseException | None) -> str:
    """The server's message without the HTTP code ``str()`` would prefix."""
    return str(getattr(exc, "message", None) or exc)


def describe(exc: BaseException | None) -> str:
    """``CODE message``, e.g. ``NOT_FOUND Queue does not exist``."""
    return f"{status_code(exc)} {status_message(exc)}"


def translate(exc: BaseException, context: str, hints: Mapping[str, str] | None = None, *,
              transient: frozenset[str] = TRANSIENT) -> ZenjobsError:
    """The zenjobs error for ``exc``, raised while doing what ``context`` says.

    ``hints`` maps status codes to what to do about them; a hinted code that
    is not transient is a :class:`ConfigurationError`. A hint for a transient
    code replaces :data:`TRY_AGAIN`.
    """
    hints = hints or {}
    code = status_code(exc)
    detail = f"{context}: {describe(exc)}"
    if code in transient or isinstance(exc, OSError):
        return BackendUnavailableError(f"{detail} ({hints.get(code, TRY_AGAIN)})")
    hint = hints.get(code)
    if hint is not None:
        return ConfigurationError(f"{detail} ({hint})")
    return ZenjobsError(detail)


def require_settings(what: str, **settings: str | None) -> None:
    """Refuse to build ``what`` without every setting, naming all the missing ones at once.

    A deployment missing two settings should learn both from one failed start.
    """
    missing = [name for name, value in settings.items() if not value]
    if missing:
        raise ConfigurationError(f"{what}: missing {', '.join(missing)}")
