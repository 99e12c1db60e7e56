"""The Firestore emulator fixtures of ``tests/gcp``, shared with the operations tests."""

from __future__ import annotations

from tests.gcp.conftest import firestore_emulator, firestore_project, firestore_store, raw_client

__all__ = ["firestore_emulator", "firestore_project", "firestore_store", "raw_client"]
