"""The store seam: job config, run state, claims and leases.

:mod:`.protocol` is the seam (:class:`~zenjobs.stores.protocol.JobStore`) and
:mod:`.records` what crosses it. The implementations sit side by side:

* :mod:`.memory`: in process, the stub for tests;
* :mod:`.sqlite` (a package: store, schema, edits, recovery): ``zenjobs dev`` and
  single-instance services;
* :mod:`.firestore` (a package: store, documents, codec, recovery): production.

:mod:`.transitions` holds the state changes all three share, :mod:`.config_codec`
the reading of stored config. Importing this package imports no store.
"""
