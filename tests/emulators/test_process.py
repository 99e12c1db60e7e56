"""The shared emulator process handling: failures are loud, stops reap what they stop."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.emulators.process import EmulatorError, _group_alive, launch, stop_group

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def never_ready(_process: subprocess.Popen[bytes], _left: float) -> bool:
    return False


def test_a_command_that_exits_early_is_an_error_naming_it() -> None:
    with pytest.raises(EmulatorError,
                       match=r"the fake emulator exited with code 3 .*SystemExit\(3\)"):
        launch("the fake emulator", [sys.executable, "-c", "raise SystemExit(3)"], never_ready,
               timeout=30)


def test_a_command_never_ready_is_stopped_and_reaped(tmp_path: Path) -> None:
    class Custom(EmulatorError):
        pass

    seen: list[subprocess.Popen[bytes]] = []

    def remember(process: subprocess.Popen[bytes], left: float) -> bool:
        seen.append(process)
        return False

    with pytest.raises(Custom, match=r"the sleeper was not ready within 0\.2s"):
        launch("the sleeper", SLEEPER, remember, timeout=0.2, error=Custom,
               log_path=tmp_path / "log")
    process = seen[0]
    assert process.returncode is not None  # reaped: no zombie left behind
    assert not _group_alive(process.pid)


def test_stop_group_reaps_our_child_and_ends_its_whole_group() -> None:
    process = launch("the sleeper", SLEEPER, lambda _p, _left: True, timeout=5)
    assert _group_alive(process.pid)
    stop_group(process.pid, process)
    assert process.returncode is not None
    assert not _group_alive(process.pid)


def test_stop_group_by_pid_alone_counts_a_zombie_as_stopped() -> None:
    # Not reaped by us (no Popen given): the group's leader is a zombie once it exits.
    process = subprocess.Popen(SLEEPER, start_new_session=True)
    try:
        stop_group(process.pid)
        assert not _group_alive(process.pid)
    finally:
        process.wait(timeout=10)
