"""Suite-wide plugins: every emulator fixture is defined once, in ``tests/emulators/fixtures.py``.

This root conftest is the one place ``pytest_plugins`` may be set; the fixtures
are then visible to every test directory (tests/gcp, tests/ops, tests/queues,
tests/e2e, ...) without a copy or a re-import in their own conftest.
"""

from __future__ import annotations

pytest_plugins = ["tests.emulators.fixtures"]
