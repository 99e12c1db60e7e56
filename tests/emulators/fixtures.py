"""Every emulator fixture of the suite, defined once (a plugin of ``tests/conftest.py``).

Session fixtures, each started at most once per test session and stopped by the
PID we started at its end; a missing Java, emulator jar or emulator venv FAILS
the tests that need it, never skips them:

- ``firestore_emulator``: Google's Firestore emulator's host:port
  ($FIRESTORE_EMULATOR_HOST if set, else one started by
  :func:`tests.emulators.firestore.ensure_emulator`, which exports the variable
  while it runs).
- ``tasks_emulator``: the gcloud-tasks-emulator
  (:func:`tests.emulators.cloud_tasks.start_tasks_emulator`), as a
  :class:`~tests.emulators.cloud_tasks.RunningTasksEmulator`.

Per-test fixtures over the Firestore emulator: every test gets its own project
id (so parallel or leftover data can never leak between tests), and that
project's documents are deleted afterwards through the emulator's reset
endpoint: ``firestore_project``, ``firestore_store`` and ``raw_client``.
The cloud SDKs are imported by the fixtures that use them, so suites that need
no emulator never load them through this plugin.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

import pytest

from tests.emulators.cloud_tasks import RunningTasksEmulator, start_tasks_emulator
from tests.emulators.firestore import ensure_emulator, reset, stop_started

if TYPE_CHECKING:
    from google.cloud.firestore import AsyncClient

    from zenjobs.stores.firestore.store import FirestoreJobStore

T = TypeVar("T")


def _for_the_session(start: Callable[[], T], stop: Callable[[T], None]) -> Iterator[T]:
    """The body of a session fixture: start (an error, never a skip), yield, stop by PID."""
    running = start()
    try:
        yield running
    finally:
        stop(running)


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[str]:
    """The emulator's host:port (FIRESTORE_EMULATOR_HOST is exported while it runs)."""
    yield from _for_the_session(ensure_emulator, lambda _host: stop_started())


@pytest.fixture(scope="session")
def tasks_emulator() -> Iterator[RunningTasksEmulator]:
    """The gcloud-tasks-emulator on 127.0.0.1 for the whole session (host: ``.host``)."""
    yield from _for_the_session(start_tasks_emulator, RunningTasksEmulator.stop)


@pytest.fixture
def firestore_project(firestore_emulator: str) -> Iterator[str]:
    """A project id no other test uses; its documents are deleted after the test."""
    project = f"zj-{uuid.uuid4().hex[:12]}"
    try:
        yield project
    finally:
        reset(firestore_emulator, project)


@pytest.fixture
async def firestore_store(firestore_project: str) -> AsyncIterator[FirestoreJobStore]:
    """A FirestoreJobStore on the test's project."""
    from zenjobs.stores.firestore.store import FirestoreJobStore

    store = FirestoreJobStore(project=firestore_project, rpc_timeout=10.0)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def raw_client(firestore_project: str) -> AsyncIterator[AsyncClient]:
    """A plain client on the test's project, for writing documents by hand."""
    from google.cloud import firestore

    client = firestore.AsyncClient(project=firestore_project)
    try:
        yield client
    finally:
        await client._firestore_api.transport.close()
