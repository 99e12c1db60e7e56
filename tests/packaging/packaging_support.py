"""Shared helpers of the packaging tests: build the artefacts, make fresh virtualenvs.

Every virtualenv is created with ``python -m venv`` in a pytest temporary directory
(outside the repository) and gets zenjobs *and its dependencies* from an ordinary
``pip install`` of the artefact, exactly as a user's service would: nothing of the
repository's ``.venv`` (where zenjobs is an editable install) is visible to it, and
every command runs with a clean environment (no PYTHONPATH, no VIRTUAL_ENV, no
ZENJOBS_* settings) from a working directory outside the repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: The one hand-edited module; ``zenjobs/infra/module`` links to it (docs/install.md).
MODULE_DIR = REPO / "terraform" / "modules" / "zenjobs"
PACKAGE = REPO / "zenjobs"
TIMEOUT = 300  # seconds for one build or install step (they take ~5-20 s here)

#: How long each step took, printed by ``pytest -s`` (and kept for the report).
TIMINGS: dict[str, float] = {}


def package_data() -> dict[str, bytes]:
    """Every non-Python file the installed package needs (path in the wheel → bytes).

    The Terraform module (read from its real directory, so a dangling or missing
    link cannot hide), the gen-infra templates, the dashboard's templates and static
    files, and ``py.typed``.
    """
    files: dict[str, Path] = {"zenjobs/py.typed": PACKAGE / "py.typed"}
    for path in sorted(MODULE_DIR.iterdir()):
        if path.is_file():
            files[f"zenjobs/infra/module/{path.name}"] = path
    for folder, pattern in (("infra/templates", "*.j2"), ("dashboard/templates", "*.html"),
                            ("dashboard/static", "*")):
        for path in sorted((PACKAGE / folder).glob(pattern)):
            if path.is_file():
                files[f"zenjobs/{folder}/{path.name}"] = path
    return {name: path.read_bytes() for name, path in files.items()}


def clean_env(venv: Path | None = None) -> dict[str, str]:
    """The environment without anything pointing back at the repository or its venv."""
    drop = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONSAFEPATH")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("ZENJOBS_")}
    env["PYTHONNOUSERSITE"] = "1"
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv)
    return env


def run(argv: Sequence[str | Path], cwd: Path, venv: Path | None = None,
        label: str | None = None,
        extra_env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; fail the test with its output if it exits non-zero."""
    started = time.perf_counter()
    env = {**clean_env(venv), **(extra_env or {})}
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    if label is not None:
        TIMINGS[label] = time.perf_counter() - started
    if proc.returncode != 0:
        command = " ".join(str(a) for a in argv)
        raise AssertionError(f"`{command}` exited {proc.returncode} in {cwd}:\n"
                             f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc


@dataclass(frozen=True)
class Dists:
    wheel: Path
    sdist: Path
    log: str


def build_dists(out: Path) -> Dists:
    """``python -m build`` (what ``make dist`` runs): the sdist, then the wheel from it."""
    proc = run([sys.executable, "-m", "build", "--outdir", out, REPO], cwd=out.parent,
               label="build sdist+wheel")
    wheels = sorted(out.glob("zenjobs-*.whl"))
    sdists = sorted(out.glob("zenjobs-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return Dists(wheels[0], sdists[0], proc.stdout + proc.stderr)


def fresh_venv(path: Path, requirement: Path, label: str) -> Path:
    """A new virtualenv at ``path`` with ``pip install REQUIREMENT`` (dependencies included)."""
    assert not path.resolve().is_relative_to(REPO), f"{path} is inside the repository"
    run([sys.executable, "-m", "venv", path], cwd=path.parent)
    run([path / "bin" / "python", "-m", "pip", "install", "--quiet", requirement],
        cwd=path.parent, venv=path, label=label)
    return path
