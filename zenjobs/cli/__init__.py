"""The ``zenjobs`` command line: thin click commands over library functions.

Each command module registers its commands on :data:`main`; a command parses
options, calls one library function and prints its result.
"""

from __future__ import annotations

from . import (  # noqa: F401  (each module registers its commands on main)
    definitions,
    dev,
    infra,
    ops,
)
from .common import main

__all__ = ["main"]
