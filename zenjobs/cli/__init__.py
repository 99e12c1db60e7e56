"""The ``zenjobs`` command line: thin click commands over library functions.

Each command module registers its commands on :data:`main`; a command parses
options, calls one library function and prints its result.
"""

from __future__ import annotations

from . import (
    definitions,  # noqa: F401  (registers validate, list, next)
    dev,  # noqa: F401
    infra,  # noqa: F401
    ops,  # noqa: F401
)
from .common import main

__all__ = ["main"]
