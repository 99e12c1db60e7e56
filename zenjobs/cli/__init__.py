"""The ``zenjobs`` command line: thin click commands over library functions.

Each command module registers its commands on :data:`main`; a command parses
options, calls one library function and prints its result.
"""

from __future__ import annotations

from .common import main
from . import definitions  # noqa: F401  (registers validate, list, next)

__all__ = ["main"]
