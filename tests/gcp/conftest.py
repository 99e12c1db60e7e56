"""Fixtures over Google's real Firestore emulator.

``firestore_emulator`` (session): $FIRESTORE_EMULATOR_HOST if set, else an
emulator started for this session and stopped by PID at its end. A missing
Java or emulator jar fails the tests that need it, never skips them.

Isolation: every test gets its own project id (so parallel or leftover data
can never leak between tests) and that project's documents are deleted
afterwards through the emulator's reset endpoint.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

from tests.gcp.emulators import ensure_emulator, reset, stop_started
from zenjobs.stores.firestore import FirestoreJobStore

if TYPE_CHECKING:
    from google.cloud.firestore import AsyncClient


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[str]:
    """The emulator's host:port (FIRESTORE_EMULATOR_HOST is exported while it runs)."""
    host = ensure_emulator()
    try:
        yield host
    finally:
        stop_started()


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
