"""The Firestore store: production.

:mod:`.store` is the :class:`FirestoreJobStore` (what the ``JobStore`` protocol asks
of Firestore), :mod:`.documents` the client, counted reads and the compare-and-set
step under it, :mod:`.codec` the document ↔ record mapping, :mod:`.recovery`
the reconciler's collection-group query, and :mod:`.queries` the dashboard's
queries. Importing this package imports no Google SDK: the client is made on
first use.
"""

from __future__ import annotations

from .queries import DEAD_RUNS_INDEX, JOB_DEAD_RUNS_INDEX, RUN_COUNTS_INDEX
from .recovery import OVERDUE_INDEX
from .store import DUE_INDEXES, FirestoreJobStore

#: The indexes the store's queries need, which the Terraform module must declare
#: (tests/infra checks them all): the due query's, the reconciler's, and the
#: dashboard's dead runs (across jobs, of one job) and run counts.
__all__ = ["DEAD_RUNS_INDEX", "DUE_INDEXES", "JOB_DEAD_RUNS_INDEX", "OVERDUE_INDEX",
           "RUN_COUNTS_INDEX", "FirestoreJobStore"]
