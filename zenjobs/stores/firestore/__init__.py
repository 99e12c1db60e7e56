"""The Firestore store: production.

:mod:`.store` is the :class:`FirestoreJobStore` (what the ``JobStore`` protocol asks
of Firestore), :mod:`.documents` the client, counted reads and the compare-and-set
step under it, :mod:`.codec` the document ↔ record mapping, and :mod:`.recovery`
the reconciler's collection-group query. Importing this package imports no Google
SDK: the client is made on first use.
"""

from __future__ import annotations

from .recovery import OVERDUE_INDEX
from .store import DUE_INDEXES, FirestoreJobStore

#: The indexes the store's queries need, which the Terraform module must declare
#: (tests/infra checks both): the due query's and the reconciler's.
__all__ = ["DUE_INDEXES", "OVERDUE_INDEX", "FirestoreJobStore"]
