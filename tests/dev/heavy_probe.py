"""A module-level heavy handler for test_shield.py (heavy handlers are imported by name)."""

from __future__ import annotations

import signal

from zenjobs import JobContext


def sigint_disposition(ctx: JobContext) -> str:
    """How the heavy child process treats SIGINT (Ctrl-C)."""
    handler = signal.getsignal(signal.SIGINT)
    return "ignored" if handler is signal.SIG_IGN else "interrupts"
