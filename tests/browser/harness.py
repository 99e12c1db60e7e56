"""What the browser fixtures hand to tests (see ``conftest.py``), importable for annotations:
``from tests.browser.harness import ExampleService, Screenshots, ZenjobsCli``."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page

#: ``zenjobs_cli(*args)``: runs ``zenjobs ARGS...`` in the repository root and returns the
#: finished process (``returncode``, ``stdout``, ``stderr`` as text); never raises on failure.
ZenjobsCli = Callable[..., "subprocess.CompletedProcess[str]"]


@dataclass
class ExampleService:
    """A running ``zenjobs dev`` for the newsletter example."""

    url: str  # http://127.0.0.1:PORT, no trailing slash
    store: Path  # its SQLite file: ``zenjobs status --store sqlite:{store}``
    pid: int
    output: list[str] = field(default_factory=list)  # every line printed so far

    def printed(self) -> str:
        """The output so far, for failure messages."""
        return "\n".join(self.output)


class Screenshots:
    """Full-page screenshots for the docs: pick from ``tests/browser/.screenshots``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def save(self, page: Page, name: str) -> Path:
        """Write ``<directory>/<name>.png`` (the whole page, not just the viewport)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{name}.png"
        path.write_bytes(page.screenshot(full_page=True))
        return path
