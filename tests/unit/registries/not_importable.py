"""Broken registry: importing it fails for a reason unrelated to job definitions."""

from __future__ import annotations

import zenjobs_no_such_dependency  # type: ignore[import-not-found]  # noqa: F401

jobs = None
