"""What the operations commands share: settings, the store URL, failures and exit codes.

Settings resolve as for ``gen-infra``, with the environment in between:
command-line option, else environment variable, else ``[tool.zenjobs]`` in
``pyproject.toml``, else a default. Store URLs (``docs/operations.md``):

* ``sqlite:PATH``: the embedded store of ``zenjobs dev`` (default
  ``sqlite:.zenjobs/dev.sqlite3``);
* ``memory:``: an empty in-process store (tests of one command only);
* ``firestore`` or ``firestore:COLLECTION``: the production store (collection
  ``jobs`` by default) in the resolved project; ``FIRESTORE_EMULATOR_HOST`` is
  honoured by the client.

Exit codes: 0 done (including "no change"); 1 the request is wrong for this
registry or store (unknown job, invalid cron / time zone / interval, a run that
cannot be replayed, a handler failure reported by ``trigger``); 2 usage error
or registry that cannot load; 3 the store or a Google API is unreachable (try
again); 4 a setting is missing or the deployment is wrong (no project, master
job missing, permission denied, misconfigured document).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import click

from ..errors import BackendUnavailableError, ConfigurationError, DefinitionError, ZenjobsError
from ..loader import project_settings
from ..stores.protocol import JobStore

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_CONFIGURATION = 4

DEFAULT_STORE = "sqlite:.zenjobs/dev.sqlite3"
STORE_ENV = "ZENJOBS_STORE"
DEBUG_ENV = "ZENJOBS_DEBUG"
PROJECT_ENV = ("ZENJOBS_PROJECT", "GOOGLE_CLOUD_PROJECT")
LOCATION_ENV = ("ZENJOBS_LOCATION",)
ACTOR_ENV = "ZENJOBS_ACTOR"  # the same name as zenjobs.ops.ACTOR_ENV


@dataclass(frozen=True)
class Settings:
    """One command's view of options, environment and ``[tool.zenjobs]``."""

    options: Mapping[str, Any]
    environ: Mapping[str, str]
    table: Mapping[str, Any]

    @classmethod
    def load(cls, options: Mapping[str, Any]) -> Settings:
        try:
            table = project_settings()
        except ZenjobsError as exc:
            fail(str(exc), EXIT_USAGE)
        return cls(options, os.environ, table)

    def get(self, option: str, env: tuple[str, ...] = (), keys: tuple[str, ...] = (),
            default: str | None = None) -> str | None:
        value = self.options.get(option)
        if value:
            return str(value)
        for name in env:
            if self.environ.get(name):
                return self.environ[name]
        for key in keys:
            found = self.table.get(key)
            if found is None:
                continue
            if not isinstance(found, str):
                fail(f"[tool.zenjobs] {key} must be a string, got {found!r}", EXIT_USAGE)
            if found:
                return found
        return default

    @property
    def project(self) -> str | None:
        return self.get("project", PROJECT_ENV, ("project",))

    @property
    def location(self) -> str | None:
        return self.get("location", LOCATION_ENV, ("location", "region"))

    @property
    def store_url(self) -> str:
        return self.get("store", (STORE_ENV,), ("store",), DEFAULT_STORE) or DEFAULT_STORE


@dataclass(frozen=True)
class StoreSpec:
    """A parsed store URL."""

    kind: str  # sqlite, memory, firestore
    target: str  # path or collection ("" for memory)
    url: str

    @property
    def is_production(self) -> bool:
        return self.kind == "firestore"


def parse_store_url(url: str) -> StoreSpec:
    """``sqlite:PATH`` / ``memory:`` / ``firestore[:COLLECTION]``, or a usage error."""
    kind, _, rest = url.partition(":")
    if kind == "sqlite" and rest:
        return StoreSpec("sqlite", rest, url)
    if kind == "memory" and not rest:
        return StoreSpec("memory", "", url)
    if kind == "firestore" and "/" not in rest:
        return StoreSpec("firestore", rest or "jobs", url)
    fail(f"store {url!r} is not one of sqlite:PATH, memory:, firestore, firestore:COLLECTION",
         EXIT_USAGE)


def open_store(spec: StoreSpec, project: str | None) -> JobStore:
    """The store ``spec`` names (nothing is contacted until the first call)."""
    if spec.kind == "memory":
        from ..stores.memory import MemoryJobStore

        return MemoryJobStore()
    if spec.kind == "sqlite":
        from ..stores.sqlite.store import SqliteJobStore

        return SqliteJobStore(spec.target)
    if not project:
        raise ConfigurationError(
            f"store {spec.url!r} needs a Google Cloud project: pass --project, set "
            f"{' or '.join(PROJECT_ENV)}, or add project under [tool.zenjobs]")
    from ..stores.firestore.store import FirestoreJobStore

    return FirestoreJobStore(project, collection=spec.target)


async def close_quietly(resource: object) -> None:
    """Close a store/queue/control whose ``close`` may be sync or async."""
    close = getattr(resource, "close", None)
    if close is None:
        return
    # Closing must never hide the command's own outcome.
    with contextlib.suppress(Exception):
        result = close()
        if inspect.isawaitable(result):
            await result


def fail(message: str, code: int) -> NoReturn:
    """Print ``error: message`` (each line) on stderr and exit with ``code``."""
    for line in message.splitlines() or [""]:
        click.echo(f"error: {line}", err=True)
    raise SystemExit(code)


def exit_code_for(exc: ZenjobsError) -> int:
    if isinstance(exc, BackendUnavailableError):
        return EXIT_UNAVAILABLE
    if isinstance(exc, ConfigurationError):
        return EXIT_CONFIGURATION
    return EXIT_FAILED


def run_async(work: Callable[[], Awaitable[T]]) -> T:
    """Run one command's coroutine; a zenjobs error becomes a one-line message and exit code."""
    try:
        return asyncio.run(_awaited(work))
    except DefinitionError as exc:
        fail(str(exc), EXIT_FAILED)
    except ZenjobsError as exc:
        fail(str(exc), exit_code_for(exc))
    except Exception as exc:
        if _is_missing_credentials(exc):
            fail(f"no usable Google credentials ({type(exc).__name__}: "
                 f"{str(exc).splitlines()[0] if str(exc) else ''}): run `gcloud auth "
                 "application-default login` or set GOOGLE_APPLICATION_CREDENTIALS",
                 EXIT_CONFIGURATION)
        # Not a zenjobs error: a bug, or a store document no parser expected. Still one
        # line (DEBUG_ENV shows the traceback), never a stack trace for an operator.
        if os.environ.get(DEBUG_ENV):
            raise
        fail(f"unexpected {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the traceback)",
             EXIT_FAILED)


def _is_missing_credentials(exc: BaseException) -> bool:
    """google-auth found no (or only unusable) credentials: a deployment setting, exit 4.

    Checked through ``sys.modules`` so the CLI never imports google-auth itself: the
    exception can only exist if a Google client already loaded that module.
    """
    module = sys.modules.get("google.auth.exceptions")
    if module is None:
        return False
    kinds = tuple(getattr(module, name) for name in ("DefaultCredentialsError", "RefreshError")
                  if hasattr(module, name))
    return isinstance(exc, kinds)


async def _awaited(work: Callable[[], Awaitable[T]]) -> T:
    return await work()


def _actor_value(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    from ..ops import resolve_actor

    try:
        return resolve_actor(value or None)
    except ConfigurationError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def actor_option(fn: F) -> F:
    """``--actor``: who the recorded edit names (else $ZENJOBS_ACTOR, else user@host)."""
    return click.option(
        "--actor", envvar=ACTOR_ENV, default=None, metavar="NAME", callback=_actor_value,
        help=f"Who makes this edit, recorded in the job's history (else ${ACTOR_ENV}, else "
             "USER@HOST); 1 to 128 printable characters.")(fn)


def store_options(fn: F) -> F:
    """``--store URL`` and ``--project`` (Firestore stores)."""
    fn = click.option("--project", default=None,
                      help="Google Cloud project of a firestore store (else $ZENJOBS_PROJECT, "
                           "$GOOGLE_CLOUD_PROJECT, [tool.zenjobs] project).")(fn)
    fn = click.option("--store", "store", metavar="URL", default=None,
                      help="sqlite:PATH, memory: or firestore[:COLLECTION] (else $ZENJOBS_STORE, "
                           f"[tool.zenjobs] store, {DEFAULT_STORE}).")(fn)
    return fn
