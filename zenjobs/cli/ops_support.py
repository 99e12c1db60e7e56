"""What the operations commands share: settings, the store URL, failures and exit codes.

Settings resolve as for ``gen-infra``, with the environment in between:
command-line option (the command's, else the group's: ``zenjobs --store URL
CMD``), else environment variable, else ``[tool.zenjobs]`` in
``pyproject.toml``, else a default. The store has **no default**: an operations
command never guesses which store it edits, and says which one it used. Store
URLs (``docs/operations.md``):

* ``sqlite:PATH``: the embedded store of ``zenjobs dev``; ``dev`` is short for
  its default file, ``sqlite:.zenjobs/dev.sqlite3``;
* ``memory:``: an empty in-process store (tests of one command only);
* ``firestore`` or ``firestore:COLLECTION``: the production store (collection
  ``jobs`` by default) in the resolved project; ``FIRESTORE_EMULATOR_HOST`` is
  honoured by the client.

Exit codes: 0 done (including "no change"); 1 the request is wrong for this
registry or store (unknown job, invalid cron / time zone / interval, a run that
cannot be replayed, a handler failure reported by ``trigger``); 2 usage error
(including no store named) or registry that cannot load; 3 the store or a
Google API is unreachable (try again); 4 a setting is missing or the deployment
is wrong (no project, master job missing, permission denied, misconfigured
document).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from ..errors import BackendUnavailableError, ConfigurationError, DefinitionError, ZenjobsError
from ..loader import project_settings
from ..stores.protocol import JobStore
from .common import from_group
from .output import DEBUG_ENV as DEBUG_ENV  # re-exported: defined here before
from .output import debug_enabled, state
from .output import fail as fail  # re-exported: defined here before

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_CONFIGURATION = 4

#: The file ``zenjobs dev`` uses; ``--store dev`` names it (never chosen unless named).
DEV_STORE = "sqlite:.zenjobs/dev.sqlite3"
#: Store URL aliases: ``--store dev``.
STORE_ALIASES = {"dev": DEV_STORE}
STORE_ENV = "ZENJOBS_STORE"
NO_STORE = (
    "no store named, and zenjobs never guesses which store to edit: pass --store URL "
    "(sqlite:PATH, firestore, firestore:COLLECTION, or dev for "
    f"{DEV_STORE}), set {STORE_ENV}, or add store = \"URL\" under [tool.zenjobs] in "
    "pyproject.toml")
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
        return self.source(option, env, keys, default)[0]

    def source(self, option: str, env: tuple[str, ...] = (), keys: tuple[str, ...] = (),
               default: str | None = None) -> tuple[str | None, str]:
        """The value and where it came from (``--store``, ``$ZENJOBS_STORE``, ...)."""
        value = self.options.get(option)
        if value:
            return str(value), f"--{option.replace('_', '-')}"
        for name in env:
            if self.environ.get(name):
                return self.environ[name], f"${name}"
        for key in keys:
            found = self.table.get(key)
            if found is None:
                continue
            if not isinstance(found, str):
                fail(f"[tool.zenjobs] {key} must be a string, got {found!r}", EXIT_USAGE,
                     field=key)
            if found:
                return found, f"[tool.zenjobs] {key}"
        return default, "default"

    @property
    def project(self) -> str | None:
        return self.get("project", PROJECT_ENV, ("project",))

    @property
    def location(self) -> str | None:
        return self.get("location", LOCATION_ENV, ("location", "region"))

    @property
    def store_url(self) -> str:
        """The store URL as named (an alias such as ``dev`` expanded), or exit 2 saying how
        to name one: there is no default."""
        return self.store_source[0]

    @property
    def store_source(self) -> tuple[str, str]:
        url, source = self.source("store", (STORE_ENV,), ("store",))
        if not url:
            fail(NO_STORE, EXIT_USAGE, field="--store")
        return STORE_ALIASES.get(url.strip(), url.strip()), source


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
    """``sqlite:PATH`` / ``dev`` / ``memory:`` / ``firestore[:COLLECTION]``, or a usage error."""
    url = STORE_ALIASES.get(url, url)
    kind, _, rest = url.partition(":")
    if kind == "sqlite" and rest:
        return StoreSpec("sqlite", rest, url)
    if kind == "memory" and not rest:
        return StoreSpec("memory", "", url)
    if kind == "firestore" and "/" not in rest:
        return StoreSpec("firestore", rest or "jobs", url)
    fail(f"store {url!r} is not one of sqlite:PATH, dev ({DEV_STORE}), memory:, firestore, "
         "firestore:COLLECTION", EXIT_USAGE, field="--store")


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
        fail(str(exc), EXIT_FAILED, field=exc.field, job=exc.job_id)
    except ZenjobsError as exc:
        fail(str(exc), exit_code_for(exc), job=getattr(exc, "job_id", None),
             field=getattr(exc, "field", None))
    except Exception as exc:
        if _is_missing_credentials(exc):
            fail(f"no usable Google credentials ({type(exc).__name__}: "
                 f"{str(exc).splitlines()[0] if str(exc) else ''}): run `gcloud auth "
                 "application-default login` or set GOOGLE_APPLICATION_CREDENTIALS",
                 EXIT_CONFIGURATION)
        # Not a zenjobs error: a bug, or a store document no parser expected. Still one
        # line (--debug / DEBUG_ENV shows the traceback), never a stack trace for an operator.
        if debug_enabled():
            raise
        fail(f"unexpected {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 or pass --debug for "
             "the traceback)", EXIT_FAILED)


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
    """``--store URL`` and ``--project`` (Firestore stores); else the group's values."""
    fn = click.option("--project", default=None, callback=from_group("project"),
                      help="Google Cloud project of a firestore store (else zenjobs --project, "
                           "$ZENJOBS_PROJECT, $GOOGLE_CLOUD_PROJECT, [tool.zenjobs] "
                           "project).")(fn)
    fn = click.option("--store", "store", metavar="URL", default=None,
                      callback=from_group("store"),
                      help="sqlite:PATH, dev (= sqlite:.zenjobs/dev.sqlite3), memory: or "
                           "firestore[:COLLECTION] (else zenjobs --store, $ZENJOBS_STORE, "
                           "[tool.zenjobs] store; there is no default).")(fn)
    return fn


def resolve_store(settings: Settings) -> StoreSpec:
    """The store the command uses, recorded for its output (``store:`` line, JSON)."""
    url, source = settings.store_source
    spec = parse_store_url(url)
    current = state()
    current.store_url = spec.url
    current.store_project = settings.project if spec.is_production else None
    current.store_from = source
    return spec


def store_line() -> str:
    """``store: firestore:jobs (project acme-prod; from --store)``: the first line of every
    operations command's text output."""
    current = state()
    details = [f"project {current.store_project}"] if current.store_project else []
    details.append(f"from {current.store_from}")
    return f"store: {current.store_url} ({'; '.join(details)})"
