"""Module-level heavy handlers (a subprocess imports them by name)."""

from __future__ import annotations

import hashlib
import os

from zenjobs import JobContext


def crunch(ctx: JobContext) -> str:
    digest = str(ctx.payload).encode()
    for _ in range(1000):
        digest = hashlib.sha256(digest).digest()
    return f"{os.getpid()}:{digest.hex()}"


def explode(ctx: JobContext) -> None:
    raise ValueError(f"bad input for {ctx.execution_id}")
