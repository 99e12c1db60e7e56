"""The emulators the suite runs against, in one place.

- ``process.py``: start a child in a session of its own, wait until it serves,
  stop its process group by PID (tested by ``test_process.py``).
- ``firestore.py``: Google's Firestore emulator (``python -m tests.emulators.firestore``).
- ``cloud_tasks.py``: the gcloud-tasks-emulator (``python -m tests.emulators.cloud_tasks``).
- ``fixtures.py``: every emulator fixture, registered once for the whole suite by
  ``pytest_plugins`` in ``tests/conftest.py``.
"""
