"""Ctrl-C in a terminal reaches every process of the group, heavy runs included.

``zenjobs dev`` starts the heavy-run forkserver with SIGINT ignored so a heavy
run in flight finishes within the grace period instead of dying of
KeyboardInterrupt. Checked in a fresh interpreter: the forkserver is process-wide.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """
import asyncio, signal, sys
# As in a terminal: Ctrl-C interrupts (a shell's background job would inherit it ignored).
signal.signal(signal.SIGINT, signal.default_int_handler)
from datetime import datetime, timezone
from examples.newsletter.jobs import jobs
from tests.dev.heavy_probe import sigint_disposition
from zenjobs import JobContext, ZenJobs
from zenjobs.dev.server import shield_heavy_runs_from_ctrl_c
from zenjobs.runtime.heavy import run_heavy

shield = sys.argv[1] == "shield"
applied = shield_heavy_runs_from_ctrl_c(jobs) if shield else False
ctx = JobContext(job_id="probe", execution_id="probe-1", attempt=1, payload=None,
                 scheduled_for=datetime(2026, 1, 1, tzinfo=timezone.utc), trigger="manual")
print(applied, asyncio.run(run_heavy(sigint_disposition, ctx, 60.0)),
      shield_heavy_runs_from_ctrl_c(ZenJobs()))
"""


def run(mode: str) -> str:
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_heavy_children_ignore_ctrl_c_under_zenjobs_dev() -> None:
    assert run("shield") == "True ignored False"  # a registry without heavy jobs: not applied


def test_without_the_shield_a_heavy_child_is_interrupted_by_ctrl_c() -> None:
    assert run("plain") == "False interrupts False"
