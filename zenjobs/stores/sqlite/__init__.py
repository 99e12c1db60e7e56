"""The SQLite store: ``zenjobs dev`` and single-instance services.

:mod:`.store` is the :class:`SqliteJobStore` (connection, locking, transactions),
:mod:`.schema` its tables, the due query and the row ↔ record mapping,
:mod:`.edits` field-level config edits and their history, :mod:`.recovery`
the overdue-run query of the reconciler, and :mod:`.queries` the read-only
queries a dashboard pages through.
"""

from __future__ import annotations

from .store import SqliteJobStore

__all__ = ["SqliteJobStore"]
