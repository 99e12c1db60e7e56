"""Shared helpers of the benchmark scripts: results, printing, machine facts, subprocesses.

Every benchmark script measures zenjobs *and* its baseline in the same run
(these machines are shared and noisy: absolute times drift, ratios hold),
prints each figure next to its target, and with ``--json PATH`` writes a
:class:`Figure` list that ``benchmarks/run.py`` collects into
``benchmarks/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass
class Figure:
    """One published figure: the measured value, its baseline, the ratio and the target."""

    id: str
    title: str
    value: float
    unit: str
    target: str
    met: bool | None  # None: informational, no target
    baseline: float | None = None
    baseline_label: str = ""
    ratio: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        verdict = {True: "MET", False: "NOT MET", None: "info"}[self.met]
        text = f"  {self.title}: {fmt(self.value)} {self.unit}"
        if self.baseline is not None:
            text += f"  | baseline ({self.baseline_label}): {fmt(self.baseline)} {self.unit}"
        if self.ratio is not None:
            text += f"  | ratio {self.ratio:.3f}"
        return f"{text}  | target {self.target}: {verdict}"


def fmt(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.4f}"


def cli(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    return parser.parse_args()


def publish(name: str, figures: Sequence[Figure], path: Path | None,
            extra: dict[str, Any] | None = None) -> None:
    """Print the figures (value, baseline, ratio, target, verdict) and write them as JSON."""
    print(f"== {name}")
    for figure in figures:
        print(figure.line())
    if path is not None:
        document = {"benchmark": name, "figures": [asdict(f) for f in figures],
                    **(extra or {})}
        path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")


def machine() -> dict[str, Any]:
    """The facts docs/performance.md cites: cores, CPU model, Python, OS."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of unsorted ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Wait until something accepts on 127.0.0.1:``port`` (or the process dies)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def stop(process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Stop a process we started, by its PID: SIGTERM, then SIGKILL."""
    if process.poll() is None:
        try:
            os.kill(process.pid, signal.SIGTERM)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)
        except ProcessLookupError:
            pass


@contextmanager
def started(command: Sequence[str], env: dict[str, str] | None = None, cwd: Path = ROOT,
            log: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` for the duration of the block; stopped by PID afterwards.

    Its output goes to ``log`` (or is discarded), never to a pipe nobody reads.
    """
    sink = open(log, "ab") if log is not None else None  # noqa: SIM115
    try:
        process = subprocess.Popen(list(command), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=sink or subprocess.DEVNULL,
                                   stderr=sink or subprocess.DEVNULL)
        try:
            yield process
        finally:
            stop(process)
    finally:
        if sink is not None:
            sink.close()


def child_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: repo root importable, quiet, no proxies."""
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    # A PYTHONPATH given to the run comes first, so another zenjobs tree can be measured
    # (docs/performance.md's "before" figures); the repo root makes examples/ importable.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), str(ROOT)]))
    env.update(extra)
    return env
