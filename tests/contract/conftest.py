"""The ``store`` fixture: every contract test runs once per backend in :data:`BACKENDS`.

Tests see a store only through the :class:`~zenjobs.stores.protocol.JobStore`
protocol, so a new backend joins the suite by adding its name here and a
branch in :func:`make_store`.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from zenjobs.stores.memory import MemoryJobStore
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.sqlite.store import SqliteJobStore

BACKENDS = ["memory", "sqlite", "firestore"]

#: Backends where a store made again from the same ``tmp_path`` sees the same data.
PERSISTENT_BACKENDS = ["sqlite", "firestore"]


def make_store(name: str, tmp_path: Path) -> JobStore:
    """A fresh, empty store of backend ``name`` (persistent ones live under ``tmp_path``)."""
    if name == "memory":
        return MemoryJobStore()
    if name == "sqlite":
        return SqliteJobStore(tmp_path / "zenjobs" / "store.sqlite3")
    if name == "firestore":  # Google's emulator: $FIRESTORE_EMULATOR_HOST or started once
        from tests.emulators.firestore import ensure_emulator, project_for
        from zenjobs.stores.firestore.store import FirestoreJobStore

        ensure_emulator()
        return FirestoreJobStore(project=project_for(str(tmp_path)), rpc_timeout=10.0)
    raise ValueError(f"unknown store backend {name!r}")


async def close_store(store: object) -> None:
    """Close a store whose ``close`` may be sync or async (or absent)."""
    close = getattr(store, "close", None)
    if close is None:
        return
    result = close()
    if inspect.isawaitable(result):
        await result


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[JobStore]:
    instance = make_store(request.param, tmp_path)
    try:
        yield instance
    finally:
        await close_store(instance)
