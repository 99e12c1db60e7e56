"""The store seam: job config, run state, claims and leases.

:mod:`.protocol` is the seam (:class:`~zenjobs.stores.protocol.JobStore`) and
:mod:`.records` what crosses it. The implementations sit side by side:

* :mod:`.memory`: in process, the stub for tests;
* :mod:`.sqlite` (with :mod:`.sqlite_schema`, :mod:`.sqlite_edits` and
  :mod:`.sqlite_recovery`): ``zenjobs dev`` and single-instance services;
* :mod:`.firestore` (with :mod:`.firestore_codec`, :mod:`.firestore_io` and
  :mod:`.firestore_recovery`): production.

:mod:`.transitions` holds the state changes all three share, :mod:`.config_codec`
the reading of stored config. Importing this package imports no store.
"""
