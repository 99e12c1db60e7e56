"""Broken registry: the attribute exists but is not a ZenJobs registry."""

from __future__ import annotations

jobs = {"cleanup": "every hour"}
